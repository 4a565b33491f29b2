//! runc's container escapes, reproduced in stockade's terms, and shown to hold (needs
//! root). Each test builds the attack's precondition — a root or a bound folder that the
//! environment's owner controls — runs the environment, and checks both that the attack
//! did not work and that nothing was left behind. The defences are described where they
//! live: `apply/runtime.rs` (CVE-2019-5736), `apply/process.rs` `enter_cwd` and
//! close_range (CVE-2024-21626), `apply/rootfs.rs` (the 2025 races).

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt};

use common::World;
use stockade_core::backend::Runtime;

fn core_pattern() -> String {
    fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
}

/// The error of a run that must be refused, after checking that it left nothing.
fn refused(w: &World, spec: &stockade_core::Spec) -> String {
    let err = match w.backend.run(spec, &w.store) {
        Ok(exit) => panic!("{}: ran ({exit:?}) instead of being refused", spec.name),
        Err(e) => e.to_string(),
    };
    assert!(!w.store.dir(&spec.name).exists(), "state left: {err}");
    assert!(
        common::mounts_mentioning(&w.root).is_empty(),
        "mounts left: {err}"
    );
    err
}

/// CVE-2019-5736: a process in the environment opens `/proc/<pid>/exe` of a process
/// running the runtime's code (here the `init` reaper, PID 1, which runs stockade code
/// for its whole life) and writes through it to replace the runtime on the host.
#[test]
#[ignore = "needs root"]
fn cve_2019_5736_runtime_binary_cannot_be_opened_through_proc_exe() {
    let w = World::new();
    let exe = std::env::current_exe().unwrap();
    let before = fs::metadata(&exe).unwrap();
    let spec = w.spec_with(
        "cve5736",
        "echo pwned >> /proc/1/exe 2>/dev/null; echo $? > /out/write; \
         cat /proc/1/exe > /dev/null 2>&1; echo $? > /out/read; \
         readlink /proc/1/exe > /out/link 2>&1; echo $? > /out/readlink",
        "init = true",
        "",
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_ne!(w.read("write"), "0", "/proc/1/exe was writable");
    assert_ne!(w.read("read"), "0", "/proc/1/exe was readable");
    assert_ne!(w.read("readlink"), "0", "/proc/1/exe could be followed");
    let after = fs::metadata(&exe).unwrap();
    assert_eq!(
        (before.len(), before.mtime(), before.ino()),
        (after.len(), after.mtime(), after.ino())
    );
}

/// CVE-2024-21626: a working directory reached through a leaked fd of the runtime
/// (`/proc/self/fd/N`) put the process outside the root, with the host's file system under
/// its cwd. stockade resolves `process.cwd` inside the root without magic links, and the
/// process holds no fd but its stdio at exec.
#[test]
#[ignore = "needs root"]
fn cve_2024_21626_cwd_never_leaves_the_root_and_no_fd_leaks() {
    let w = World::new();
    for fd in 3..9 {
        let spec = w.spec_with(
            &format!("cve21626-{fd}"),
            "pwd > /out/pwd",
            &format!("cwd = \"/proc/self/fd/{fd}\""),
            "",
        );
        let err = refused(&w, &spec);
        assert!(err.contains(&format!("/proc/self/fd/{fd}")), "{err}");
    }
    // `..` cannot climb out either: the spec refuses it before anything runs.
    let text = format!(
        "name = \"dots\"\n[root]\npath = {:?}\n[process]\ncommand = [\"/bin/true\"]\ncwd = \"/../../..\"\n",
        w.root.display().to_string()
    );
    let err = stockade_core::Spec::from_toml(&text, None).unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
    // What PID 1 holds at exec: ls, exec'd with stdout moved to a file, lists its fds:
    // stdio and the folder it reads (the lowest free number, 3 when nothing leaked).
    let spec = w.spec(
        "cve21626-fds",
        "exec 1>/out/fds 2>/dev/null; exec ls /proc/self/fd",
        "",
    );
    assert_eq!(w.backend.run(&spec, &w.store).unwrap().code, 0);
    let fds = w.read("fds");
    let numbers: Vec<u32> = fds.split_whitespace().map(|n| n.parse().unwrap()).collect();
    assert!(
        numbers.contains(&3) && numbers.iter().all(|n| *n <= 3),
        "descriptors beyond stdio: {fds}"
    );
}

/// A folder for `/dev` that the environment's owner prepared: its `null` is `null_kind`.
fn owner_dev(w: &World, name: &str) -> std::path::PathBuf {
    let dev = w.tmp.path().join(name);
    fs::create_dir(&dev).unwrap();
    dev
}

/// CVE-2025-31133: masked files are hidden by binding the environment's own `/dev/null`
/// over them; a `/dev/null` replaced by a symlink (to `/proc/sys/kernel/core_pattern`) or
/// by a plain file turned the mask into a way to expose, writable, what it should hide.
/// stockade opens `/dev/null` without following symlinks, checks it is the null device
/// and mounts that very fd.
#[test]
#[ignore = "needs root"]
fn cve_2025_31133_mask_source_must_be_the_null_device() {
    let w = World::new();
    let pattern = core_pattern();
    let dev = owner_dev(&w, "dev-symlink");
    symlink("/proc/sys/kernel/core_pattern", dev.join("null")).unwrap();
    let bind_dev = |dev: &std::path::Path| {
        format!(
            "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/dev\"\n",
            dev.display().to_string()
        )
    };
    let spec = w.spec(
        "cve31133-link",
        "cat /proc/kcore > /out/kcore",
        &bind_dev(&dev),
    );
    let err = refused(&w, &spec);
    assert!(
        err.contains("/dev/null") && err.contains("symbolic link"),
        "{err}"
    );

    let dev = owner_dev(&w, "dev-file");
    fs::write(dev.join("null"), "not a device").unwrap();
    let spec = w.spec("cve31133-file", "true", &bind_dev(&dev));
    let err = refused(&w, &spec);
    assert!(err.contains("is not the null device"), "{err}");
    assert_eq!(
        fs::read_to_string(dev.join("null")).unwrap(),
        "not a device"
    );

    // The real null device in the owner's folder is accepted: masks work through it.
    let dev = owner_dev(&w, "dev-real");
    nix::sys::stat::mknod(
        &dev.join("null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let spec = w.spec(
        "cve31133-ok",
        "cat /proc/keys > /out/keys 2>/dev/null; true",
        &bind_dev(&dev),
    );
    assert_eq!(w.backend.run(&spec, &w.store).unwrap().code, 0);
    assert_eq!(w.read("keys"), "", "/proc/keys not masked");
    assert_eq!(core_pattern(), pattern);
}

/// CVE-2025-52565: runc bound the terminal over `/dev/console`, and a `/dev/console`
/// symlink into `/proc/sys` carried the bind onto a kernel file. stockade binds nothing
/// over `/dev/console`, and no mount it makes outside a proc mount may land on procfs or
/// sysfs: a root whose `/dev` (or a spec mount's target) points into `/proc/sys` is
/// refused.
#[test]
#[ignore = "needs root"]
fn cve_2025_52565_mount_targets_are_not_carried_into_procfs() {
    let w = World::new();
    let pattern = core_pattern();
    fs::remove_dir(w.root.join("dev")).unwrap();
    symlink("/proc/sys/kernel", w.root.join("dev")).unwrap();
    let spec = w.spec("cve52565-dev", "true", "");
    let err = refused(&w, &spec);
    assert!(err.contains("kernel file system"), "{err}");
    fs::remove_file(w.root.join("dev")).unwrap();
    fs::create_dir(w.root.join("dev")).unwrap();

    // A spec target through a symlink in the root, into /proc/sys.
    symlink("/proc/sys/kernel/core_pattern", w.root.join("console")).unwrap();
    let spec = w.spec(
        "cve52565-console",
        "true",
        &format!(
            "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/console\"\n",
            w.out.display().to_string()
        ),
    );
    let err = refused(&w, &spec);
    assert!(err.contains("kernel file system"), "{err}");
    assert_eq!(core_pattern(), pattern);
}

/// CVE-2025-52881: runc's writes to procfs files (LSM labels, sysctls) were redirected
/// by a replaced `/proc` to other files, `/proc/sysrq-trigger` among them. stockade makes
/// no procfs write from inside the environment; it masks and remounts through `/proc`
/// only when `/proc` is a real procfs root reached without a symlink. A root whose
/// `/proc` is a symlink is refused; a spec that binds a decoy folder at `/proc` runs
/// without anything of stockade's written there.
#[test]
#[ignore = "needs root"]
fn cve_2025_52881_no_write_goes_through_a_redirected_proc() {
    let w = World::new();
    let decoy = w.root.join("decoy");
    for d in ["sys/kernel", "self/attr"] {
        fs::create_dir_all(decoy.join(d)).unwrap();
    }
    let files = [
        "sys/kernel/core_pattern",
        "sysrq-trigger",
        "self/attr/exec",
        "kcore",
    ];
    for f in files {
        fs::write(decoy.join(f), "decoy").unwrap();
    }
    fs::remove_dir(w.root.join("proc")).unwrap();
    symlink("/decoy", w.root.join("proc")).unwrap();
    let spec = w.spec("cve52881-link", "true", "");
    let err = refused(&w, &spec);
    assert!(err.contains("/proc"), "{err}");
    fs::remove_file(w.root.join("proc")).unwrap();
    fs::create_dir(w.root.join("proc")).unwrap();

    let spec = w.spec(
        "cve52881-bind",
        "cat /proc/kcore > /out/kcore",
        &format!(
            "[[mount]]\nkind = \"bind\"\nsource = {:?}\ntarget = \"/proc\"\n",
            decoy.display().to_string()
        ),
    );
    assert_eq!(w.backend.run(&spec, &w.store).unwrap().code, 0);
    assert_eq!(w.read("kcore"), "decoy");
    for f in files {
        assert_eq!(
            fs::read_to_string(decoy.join(f)).unwrap(),
            "decoy",
            "{f} written"
        );
    }
}

/// CVE-2025-52881, the write stockade does make: an OCI config's `linux.sysctl` is
/// written below `/proc/sys` by the first process. A key naming another procfs file (an
/// absolute one; here the process's own `comm`, a harmless stand-in for
/// `/proc/sysrq-trigger`, which the same key form reached before) is refused, not written.
#[test]
#[ignore = "needs root"]
fn cve_2025_52881_sysctl_keys_cannot_leave_proc_sys() {
    use stockade_core::backend::{CgroupVersion, CreateOptions, PlanContext, Stdio};
    let w = World::new();
    let spec = w.spec("cve52881-sysctl", "true", "");
    let ctx = PlanContext::new(w.store.root(), &spec.name, CgroupVersion::V1);
    let host = stockade_linux::probe::probe_root(std::path::Path::new("/")).unwrap();
    let ctx = PlanContext {
        cgroup: host.cgroup.unwrap_or(ctx.cgroup),
        ..ctx
    };
    let mut plan = stockade_linux::plan_with(&spec, &ctx, w.backend.options()).unwrap();
    plan.extra
        .sysctl
        .insert("/proc/self/comm".into(), "pwned".into());
    let state = stockade_core::state::State::new(
        spec.name.clone(),
        None,
        serde_json::to_value(&spec).unwrap(),
    );
    let opts = CreateOptions {
        stdio: Stdio::Inherit,
        start: true,
    };
    let err =
        match stockade_linux::apply::runtime::create_planned(&plan, state, &w.store, &opts, true) {
            Ok(_) => panic!("a sysctl key with .. was written"),
            Err(e) => e.to_string(),
        };
    assert!(err.contains("outside /proc/sys"), "{err}");
    assert!(!w.store.dir(&spec.name).exists(), "state left: {err}");
}
