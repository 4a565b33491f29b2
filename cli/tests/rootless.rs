//! The binary run by an unprivileged user: rootless mode chosen by itself, state in
//! `$XDG_RUNTIME_DIR/stockade`, the subordinate ranges useradd gives a new user in
//! /etc/subuid and /etc/subgid used through newuidmap/newgidmap (package uidmap), and
//! `check --target linux-rootless`. The test (root) makes the user with useradd and
//! removes it; needs root, useradd and newuidmap.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn stockade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stockade"))
}

/// A user made for one test by useradd (with the subordinate ranges useradd assigns),
/// deleted on drop.
struct TestUser {
    name: String,
    uid: u32,
}

impl TestUser {
    fn new(tag: &str) -> TestUser {
        let name = format!("stk{tag}{}", std::process::id() % 100000);
        let status = Command::new("useradd")
            .args([
                "--no-create-home",
                "--shell",
                "/bin/sh",
                "--user-group",
                &name,
            ])
            .status()
            .expect("useradd (package passwd)");
        assert!(status.success(), "useradd {name}");
        let out = Command::new("id").args(["-u", &name]).output().unwrap();
        let uid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        TestUser { name, uid }
    }

    /// Its range in `file` (/etc/subuid or /etc/subgid): (start, count).
    fn range(&self, file: &str) -> (u32, u32) {
        let text = fs::read_to_string(file).unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{}:", self.name)))
            .unwrap_or_else(|| panic!("useradd gave {} no range in {file}", self.name));
        let parts: Vec<u32> = line
            .split(':')
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        (parts[0], parts[1])
    }

    /// `stockade ARGS` as this user, with `$XDG_RUNTIME_DIR` = `runtime`.
    fn stockade(&self, runtime: &Path, args: &[&str]) -> (i32, String, String) {
        let out = stockade()
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("XDG_RUNTIME_DIR", runtime)
            .uid(self.uid)
            .gid(self.uid)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// A busybox root owned by `uid`, an output folder, a runtime folder, in one readable
/// temporary folder.
fn world(uid: u32) -> (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let root = tmp.path().join("rootfs");
    for d in ["bin", "proc", "dev", "sys", "tmp", "etc", "out"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::copy("/bin/busybox", root.join("bin/busybox")).expect("static busybox");
    for applet in ["sh", "id", "hostname", "cat", "touch", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    let out = tmp.path().join("out");
    let runtime = tmp.path().join("runtime");
    for d in [&out, &runtime] {
        fs::create_dir(d).unwrap();
        fs::set_permissions(d, fs::Permissions::from_mode(0o777)).unwrap();
    }
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).unwrap();
    let status = Command::new("chown")
        .args(["-hR", &format!("{uid}:{uid}")])
        .arg(&root)
        .arg(&runtime)
        .status()
        .unwrap();
    assert!(status.success());
    chown(&out, Some(uid), Some(uid)).unwrap();
    (tmp, root, out, runtime)
}

#[test]
#[ignore = "needs root"]
fn a_new_user_runs_as_root_inside_with_its_subordinate_ids() {
    assert!(
        Path::new("/usr/bin/newuidmap").exists(),
        "newuidmap missing: apt-get install uidmap"
    );
    let user = TestUser::new("rl");
    let (tmp, root, out, runtime) = world(user.uid);
    let spec = tmp.path().join("env.toml");
    fs::write(
        &spec,
        format!(
            "name = \"rl-cli\"\nhostname = \"rl-inside\"\n[root]\npath = {root:?}\n\
             [process]\ncommand = [\"/bin/sh\", \"-c\", \"hostname; echo $$; id -u; \
             touch /out/as-root; cat /proc/self/uid_map > /out/uid_map; \
             echo $$ > /out/pid\"]\n\
             [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n",
        ),
    )
    .unwrap();
    fs::set_permissions(&spec, fs::Permissions::from_mode(0o644)).unwrap();
    let spec_s = spec.to_str().unwrap();

    let (code, stdout, stderr) = user.stockade(&runtime, &["run", spec_s]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(stdout, "rl-inside\n1\n0\n", "{stderr}");
    let made = fs::metadata(out.join("as-root")).unwrap();
    assert_eq!(made.uid(), user.uid, "uid 0 inside is the caller outside");
    // Both lines of the mapping: the caller, then its /etc/subuid range through newuidmap.
    let (start, count) = user.range("/etc/subuid");
    let map: Vec<Vec<String>> = fs::read_to_string(out.join("uid_map"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(
        map,
        [
            vec!["0".to_string(), user.uid.to_string(), "1".into()],
            vec!["1".to_string(), start.to_string(), count.to_string()],
        ]
    );
    // State lived in $XDG_RUNTIME_DIR/stockade, and is gone after the run.
    let state_root = runtime.join("stockade");
    assert!(state_root.is_dir(), "no state root in XDG_RUNTIME_DIR");
    assert_eq!(fs::read_dir(&state_root).unwrap().count(), 0);

    // process.user = 1000:1000 is a subordinate id: host uid start+999.
    let text = fs::read_to_string(&spec)
        .unwrap()
        .replace("[process]\n", "[process]\nuser = \"1000:1000\"\n")
        .replace("touch /out/as-root", "touch /out/as-user")
        .replace("/out/uid_map", "/out/uid_map.user")
        .replace("/out/pid", "/out/pid.user");
    fs::write(&spec, text).unwrap();
    let (code, stdout, stderr) = user.stockade(&runtime, &["run", spec_s]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.ends_with("1000\n"), "{stdout}");
    let made = fs::metadata(out.join("as-user")).unwrap();
    let (gstart, _) = user.range("/etc/subgid");
    assert_eq!((made.uid(), made.gid()), (start + 999, gstart + 999));
}

#[test]
#[ignore = "needs root"]
fn rootless_refusals_are_clear_and_check_has_a_rootless_target() {
    let user = TestUser::new("rr");
    let (tmp, root, _out, runtime) = world(user.uid);
    let spec = tmp.path().join("mem.toml");
    fs::write(
        &spec,
        format!(
            "name = \"rl-mem\"\n[root]\npath = {root:?}\n[process]\ncommand = [\"/bin/true\"]\n\
             [limits]\nmemory = \"64M\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&spec, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = user.stockade(&runtime, &["run", spec.to_str().unwrap()]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("need a cgroup"), "{stderr}");
    assert!(
        stderr.contains("systemd-run --user --scope -p Delegate=yes"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(runtime.join("stockade")).unwrap().count(), 0);

    let net = tmp.path().join("net.toml");
    fs::write(
        &net,
        format!(
            "name = \"rl-net\"\n[root]\npath = {root:?}\n[process]\ncommand = [\"/bin/true\"]\n\
             [network]\nmode = \"private\"\naddress = \"10.77.8.2/24\"\n"
        ),
    )
    .unwrap();
    fs::set_permissions(&net, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, stderr) = user.stockade(&runtime, &["run", net.to_str().unwrap()]);
    assert_eq!(code, 125, "{stderr}");
    assert!(stderr.contains("needs root"), "{stderr}");

    let out = stockade()
        .args(["check", "--target", "linux-rootless"])
        .arg(&net)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("linux (rootless)"), "{text}");
    assert!(text.contains("unsupported"), "{text}");
    let out = stockade()
        .args(["check", "--target", "linux-rootless"])
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
}
