//! Rootless mode on a real kernel: the test (root) makes an unprivileged user — a uid
//! with no passwd entry, no /etc/subuid range, so the single mapping — and runs
//! environments as that user in a forked child (setresuid changes the whole process, so
//! never in the test process itself). What the process observes inside, what the host
//! sees outside, a memory limit refused without a delegated cgroup and enforced in one.
//! Runs on the cgroup v1 hybrid host and in the pure v2 guest (`.ci/vm-tests`).

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::World;
use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;
use stockade_linux::LinuxBackend;

/// A world an unprivileged `uid` can use: everything readable, `/out` and the state root
/// its own.
fn world_for(uid: u32) -> (World, StateStore) {
    // The pure v2 guest's initramfs root is 0700 (made by mktemp -d): an unprivileged
    // user could not resolve any absolute path there. Any real host's / is 0755 already.
    let top = fs::metadata("/").unwrap().permissions().mode();
    if top & 0o001 == 0 {
        fs::set_permissions("/", fs::Permissions::from_mode(top | 0o055)).unwrap();
    }
    let w = World::new();
    fs::set_permissions(w.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    chown(&w.out, Some(uid), Some(uid)).unwrap();
    // A rootless user runs a root folder of its own (unpacked by itself).
    let status = std::process::Command::new("chown")
        .args(["-hR", &format!("{uid}:{uid}")])
        .arg(&w.root)
        .status()
        .unwrap();
    assert!(status.success());
    let run = w.tmp.path().join("user-run");
    fs::create_dir(&run).unwrap();
    chown(&run, Some(uid), Some(uid)).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).unwrap();
    let store = StateStore::new(run.join("stockade"));
    (w, store)
}

/// Runs `body` in a forked child that first joins `cgroup_procs` (as root: the admin's
/// delegation) and then becomes `uid`:`uid` with no groups; returns its exit code and
/// what it wrote to the pipe it is given.
fn as_user(
    uid: u32,
    cgroup_procs: &[PathBuf],
    body: impl FnOnce() -> Result<String, String>,
) -> (i32, String) {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only runs the body and _exits; it never returns into the test
    // harness.
    match unsafe { nix::unistd::fork() }.unwrap() {
        nix::unistd::ForkResult::Child => {
            drop(r);
            let mut out = fs::File::from(w);
            let result = (|| {
                for procs in cgroup_procs {
                    fs::write(procs, "0").map_err(|e| format!("{}: {e}", procs.display()))?;
                }
                let id = nix::unistd::Gid::from_raw(uid);
                nix::unistd::setgroups(&[]).map_err(|e| e.to_string())?;
                nix::unistd::setresgid(id, id, id).map_err(|e| e.to_string())?;
                let id = nix::unistd::Uid::from_raw(uid);
                nix::unistd::setresuid(id, id, id).map_err(|e| e.to_string())?;
                // As after an exec of stockade by the user: changing ids without an exec
                // leaves the process non-dumpable, its /proc/self files root's.
                nix::sys::prctl::set_dumpable(true).map_err(|e| e.to_string())?;
                body()
            })();
            use std::io::Write as _;
            let code = match result {
                Ok(text) => {
                    let _ = out.write_all(text.as_bytes());
                    0
                }
                Err(text) => {
                    let _ = out.write_all(text.as_bytes());
                    1
                }
            };
            // SAFETY: _exit ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(w);
            let mut text = String::new();
            fs::File::from(r).read_to_string(&mut text).unwrap();
            let status = nix::sys::wait::waitpid(child, None).unwrap();
            let code = match status {
                nix::sys::wait::WaitStatus::Exited(_, c) => c,
                other => panic!("the user's process ended with {other:?}: {text}"),
            };
            (code, text)
        }
    }
}

/// Runs `spec` as the user; Ok(exit code) or the error's text.
fn run_as(
    uid: u32,
    cgroups: &[PathBuf],
    store: &StateStore,
    spec: &stockade_core::Spec,
) -> (i32, String) {
    as_user(uid, cgroups, || {
        let exit = LinuxBackend::default()
            .run(spec, store)
            .map_err(|e| e.to_string())?;
        Ok(format!("{} {:?} {:?}", exit.code, exit.signal, exit.reason))
    })
}

#[test]
#[ignore = "needs root"]
fn rootless_run_is_root_inside_and_the_caller_outside() {
    let uid = 61401;
    let (w, store) = world_for(uid);
    let mut spec = w.spec(
        "rl-obs",
        "hostname > /out/hostname; echo $$ > /out/pid; id -u > /out/uid; \
         cat /proc/self/uid_map > /out/uid_map; cat /proc/self/gid_map > /out/gid_map; \
         touch /out/made; sleep 0.2 & echo $! > /out/child; wait",
        "",
    );
    spec.hostname = "rootless-inside".into();
    let (code, text) = run_as(uid, &[], &store, &spec);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("0 None"), "{text}");
    assert_eq!(w.read("hostname"), "rootless-inside");
    assert_eq!(w.read("pid"), "1");
    assert_eq!(w.read("uid"), "0");
    let map: Vec<String> = w
        .read("uid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(map, ["0", &uid.to_string(), "1"]);
    let map: Vec<String> = w
        .read("gid_map")
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(map, ["0", &uid.to_string(), "1"]);
    // uid 0 inside made the file: on the host it belongs to the caller.
    let made = fs::metadata(w.out.join("made")).unwrap();
    assert_eq!((made.uid(), made.gid()), (uid, uid));
    // Nothing left: the state folder is gone, no host hostname change.
    assert!(!store.dir("rl-obs").exists());
    assert_ne!(nix::unistd::gethostname().unwrap(), "rootless-inside");
}

#[test]
#[ignore = "needs root"]
fn rootless_refuses_limits_without_a_delegated_cgroup_and_private_network() {
    let uid = 61402;
    let (w, store) = world_for(uid);
    let spec = w.spec("rl-mem", "true", "[limits]\nmemory = \"32M\"\n");
    let (code, text) = run_as(uid, &[], &store, &spec);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("need a cgroup"), "{text}");
    assert!(text.contains("Delegate=yes"), "{text}");
    assert!(text.contains("chown"), "{text}");
    assert!(!store.dir("rl-mem").exists(), "state left behind");
    assert!(common::cgroups_named("rl-mem").is_empty());

    let spec = w.spec(
        "rl-net",
        "true",
        "[network]\nmode = \"private\"\naddress = \"10.77.9.2/24\"\n",
    );
    let (code, text) = run_as(uid, &[], &store, &spec);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("needs root"), "{text}");

    // host networking works without root.
    let spec = w.spec(
        "rl-host",
        "cat /proc/net/dev > /out/dev",
        "[network]\nmode = \"host\"\n",
    );
    let (code, text) = run_as(uid, &[], &store, &spec);
    assert_eq!(code, 0, "{text}");
    assert!(text.starts_with("0 None"), "{text}");
    let host_dev = fs::read_to_string("/proc/net/dev").unwrap();
    assert_eq!(
        w.read("dev").lines().count(),
        host_dev.trim().lines().count()
    );
}

/// The cgroup an administrator delegates to `uid`, per hierarchy the plan uses: made,
/// chowned, the caller to be moved in. Removed on drop.
struct Delegated {
    dirs: Vec<PathBuf>,
}

impl Delegated {
    fn new(uid: u32, name: &str) -> Delegated {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let unified = mountinfo
            .lines()
            .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 "));
        let mounts: Vec<PathBuf> = if unified {
            vec!["/sys/fs/cgroup".into()]
        } else {
            ["memory", "cpuacct", "pids"]
                .iter()
                .map(|c| Path::new("/sys/fs/cgroup").join(c))
                .filter(|p| p.join("cgroup.procs").exists())
                .collect()
        };
        let mut dirs = Vec::new();
        for m in mounts {
            let dir = m.join(name);
            let _ = fs::create_dir(&dir);
            chown(&dir, Some(uid), Some(uid)).unwrap();
            for f in [
                "cgroup.procs",
                "cgroup.subtree_control",
                "cgroup.threads",
                "tasks",
            ] {
                if dir.join(f).exists() {
                    chown(dir.join(f), Some(uid), Some(uid)).unwrap();
                }
            }
            dirs.push(dir);
        }
        Delegated { dirs }
    }

    fn procs(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }
}

impl Drop for Delegated {
    fn drop(&mut self) {
        for d in &self.dirs {
            for sub in ["stockade-supervisor", "stockade"] {
                let _ = fs::remove_dir(d.join(sub));
            }
            let _ = fs::remove_dir(d);
        }
    }
}

#[test]
#[ignore = "needs root"]
fn rootless_memory_limit_is_enforced_in_a_delegated_cgroup() {
    let uid = 61403;
    let (w, store) = world_for(uid);
    let delegated = Delegated::new(uid, &format!("stockade-test-deleg-{}", std::process::id()));
    // 16 MiB limit; tail keeps all of its newline-free input in memory.
    let spec = w.spec(
        "rl-oom",
        "cat /proc/self/cgroup > /out/cgroup; exec tail /dev/zero",
        "[limits]\nmemory = \"16M\"\n",
    );
    let (code, text) = run_as(uid, &delegated.procs(), &store, &spec);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text, "137 Some(9) Some(\"out of memory\")");
    // It sat below the delegated cgroup (the cgroup namespace shows its own root as /).
    let cgroup = w.read("cgroup");
    assert!(cgroup.lines().any(|l| l.ends_with(":/")), "{cgroup}");
    // Deleted with the environment: only the administrator's folders remain.
    for d in &delegated.dirs {
        let left: Vec<_> = fs::read_dir(d.join("stockade"))
            .map(|r| {
                r.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default();
        assert!(left.is_empty(), "cgroups left behind: {left:?}");
    }
    assert!(!store.dir("rl-oom").exists());
}
