//! Shared helpers of the runtime tests: a static-busybox root in a temporary folder, a
//! state store beside it, and a spec whose process writes what it observes into a
//! bind-mounted host folder (`/out` inside).
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use stockade_core::state::StateStore;
use stockade_core::Spec;
use stockade_linux::LinuxBackend;

/// One test's world: a root, a store, an output folder, all in one temporary folder.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub out: PathBuf,
    pub store: StateStore,
    pub backend: LinuxBackend,
}

/// The monitor program detached environments execute (`stockade_term::launch::locate`
/// finds it beside this test's executable, or in the folder above cargo's `deps/`): built
/// with the same cargo, profile and target folder when it is missing, as
/// conformance/tests/suite.rs builds `stockade`. In the v2 guest (.ci/vm-tests) it is
/// copied beside the test binaries.
pub fn monitor_program() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let here = exe.parent().unwrap().to_path_buf();
            let beside = here.join("stockade-monitor");
            if beside.is_file() {
                return beside;
            }
            // target[/<triple>]/<profile>/deps/<test>
            let profile_dir = here.parent().unwrap().to_path_buf();
            let bin = profile_dir.join("stockade-monitor");
            if bin.is_file() {
                return bin;
            }
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut build = Command::new(cargo);
            build.current_dir(env!("CARGO_MANIFEST_DIR")).args([
                "build",
                "-p",
                "stockade",
                "--bin",
                "stockade-monitor",
            ]);
            if profile_dir.file_name().is_some_and(|p| p == "release") {
                build.arg("--release");
            }
            let mut target = profile_dir.parent().unwrap().to_path_buf();
            let triple = target.file_name().unwrap().to_string_lossy().into_owned();
            if triple.contains("-unknown-") {
                build.args(["--target", &triple]);
                target = target.parent().unwrap().to_path_buf();
            }
            build.env("CARGO_TARGET_DIR", &target);
            let status = build
                .status()
                .expect("cannot run cargo to build stockade-monitor");
            assert!(
                status.success(),
                "`cargo build -p stockade --bin stockade-monitor` failed"
            );
            assert!(
                bin.is_file(),
                "{} is missing after the build",
                bin.display()
            );
            bin
        })
        .clone()
}

impl World {
    pub fn new() -> World {
        monitor_program();
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("rootfs");
        make_busybox_root(&root);
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
        let store = StateStore::new(tmp.path().join("run"));
        let backend = LinuxBackend::for_this_host().unwrap();
        World {
            tmp,
            root,
            out,
            store,
            backend,
        }
    }

    /// A spec named `name` on the busybox root running `sh -c script`, with `/out` bound
    /// read-write to the output folder, plus `extra` TOML appended (tables only).
    pub fn spec(&self, name: &str, script: &str, extra: &str) -> Spec {
        self.spec_with(name, script, "", extra)
    }

    /// Like [`spec`](Self::spec) with extra keys in `[process]` (`process_keys`).
    pub fn spec_with(&self, name: &str, script: &str, process_keys: &str, extra: &str) -> Spec {
        let toml = format!(
            "name = {name:?}\n\
             [root]\npath = {root:?}\n\
             [process]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n{process_keys}\n\
             [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n\
             {extra}\n",
            root = self.root.display().to_string(),
            out = self.out.display().to_string(),
        );
        Spec::from_toml(&toml, Some(&self.tmp.path().join("env.toml")))
            .unwrap_or_else(|e| panic!("{e}\n{toml}"))
    }

    /// The content of a file the process wrote to `/out`.
    pub fn read(&self, file: &str) -> String {
        fs::read_to_string(self.out.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .trim()
            .to_string()
    }
}

/// Builds a minimal root: static busybox and a symlink per applet (what
/// shared/tools/peers/mkrootfs.sh does, without chroot).
pub fn make_busybox_root(dir: &Path) {
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "static busybox missing: apt-get install busybox-static"
    );
    for d in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "dev", "sys", "tmp", "etc", "root", "run",
        "var",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(bb, dir.join("bin/busybox")).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    let list = Command::new(bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", &link).unwrap();
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
}

/// Lines of /proc/self/mountinfo that mention `needle`.
pub fn mounts_mentioning(needle: &Path) -> Vec<String> {
    let needle = needle.display().to_string();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&needle))
        .map(str::to_string)
        .collect()
}

/// Every cgroup folder named `name` below /sys/fs/cgroup (any hierarchy).
pub fn cgroups_named(name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(top) = fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    let mut dirs: Vec<PathBuf> = top.filter_map(Result::ok).map(|e| e.path()).collect();
    dirs.push("/sys/fs/cgroup".into());
    // `stockade/<name>`, or `stockade/<name>.<hash>` under a state root other than the
    // default (the tests' temporary roots).
    let ours = |file: &str| {
        file == name
            || file
                .strip_prefix(name)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()))
    };
    for d in dirs {
        let Ok(entries) = fs::read_dir(d.join("stockade")) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            if ours(&e.file_name().to_string_lossy()) && e.path().is_dir() {
                found.push(e.path());
            }
        }
    }
    found
}
