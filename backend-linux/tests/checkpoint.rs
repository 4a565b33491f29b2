//! `stockade checkpoint` / `restore` through CRIU on a real kernel: a counter loop is
//! dumped, the environment is gone, and after restore the counter goes on from where it
//! was, in cgroups with the same limits, watched by a monitor that records its exit like
//! any detached environment's. Needs root and a criu that works on the running kernel
//! (`.ci/criu` builds one; Debian 12's 3.17 fails on 6.x kernels).
//!
//! When `criu check` fails (CRIU cannot work on this kernel at all), each test prints
//! CRIU's own words and stops there — the only reason it skips. Any other failure,
//! CRIU's dump or restore included, fails the test.

#![cfg(target_os = "linux")]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::{Resource, State, Status};
use stockade_core::Spec;
use stockade_linux::apply::checkpoint;

/// CRIU's own account of why it cannot run here, when `criu check` fails; the test
/// prints it and ends. A missing criu is not such a reason: it fails.
fn criu_cannot_run() -> Option<String> {
    let criu = checkpoint::criu_binary();
    let out = std::process::Command::new(&criu)
        .arg("check")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (install criu: .ci/criu)", criu.display()));
    if out.status.success() {
        return None;
    }
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "SKIPPED: this host's CRIU ({}) cannot run on this kernel; `criu check` says:\n{text}",
        criu.display()
    );
    Some(text)
}

/// The numbers the loop appended to /out/log, in order.
fn log(w: &World) -> Vec<u64> {
    fs::read_to_string(w.out.join("log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A counter loop in `name` that appends 1, 2, 3, … to /out/log (and prints `tick N`) and
/// exits with 7 once /out/stop exists; 64M of memory, 16 processes; output to the log.
fn counter(w: &World, name: &str) -> PathBuf {
    let file = w.tmp.path().join(format!("{name}.toml"));
    let text = format!(
        "name = {name:?}\n[root]\npath = {root:?}\n[process]\ncommand = [\"/bin/sh\", \"-c\", \
         \"i=0; while [ ! -e /out/stop ]; do i=$((i+1)); echo $i >> /out/log; echo tick $i; sleep 0.05; done; exit 7\"]\n\
         [[mount]]\nkind = \"bind\"\nsource = {out:?}\ntarget = \"/out\"\n\
         [limits]\nmemory = \"64M\"\nprocesses = 16\n",
        root = w.root.display().to_string(),
        out = w.out.display().to_string(),
    );
    fs::write(&file, &text).unwrap();
    let spec = Spec::load(&file).unwrap();
    let opts = CreateOptions {
        stdio: Stdio::Log,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    wait_for("the counter to start", || log(w).len() >= 3);
    file
}

/// Deletes the environment when the test ends, passed or not, so that a failure leaves
/// no counter running in a removed folder.
struct Cleanup<'a>(&'a World, &'static str);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.backend.delete(&self.0.store, self.1, true);
    }
}

fn folders(state: &State) -> Vec<PathBuf> {
    state
        .resources
        .iter()
        .filter_map(|r| match r {
            Resource::Cgroup { path } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

fn read(folder: &Path, file: &str) -> Option<String> {
    fs::read_to_string(folder.join(file))
        .ok()
        .map(|t| t.trim().to_string())
}

/// The restored first process sits in every recorded cgroup folder, and those hold the
/// spec's memory and process limits (v1 or v2 file names).
fn assert_limits(state: &State) {
    let pid = state.pid.expect("a restored environment has a PID");
    let folders = folders(state);
    assert!(!folders.is_empty());
    for f in &folders {
        let procs = read(f, "cgroup.procs").unwrap_or_default();
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "{pid} is not in {}: {procs}",
            f.display()
        );
    }
    let memory = folders
        .iter()
        .find_map(|f| read(f, "memory.max").or_else(|| read(f, "memory.limit_in_bytes")));
    assert_eq!(memory.as_deref(), Some("67108864"), "{folders:?}");
    let pids = folders.iter().find_map(|f| read(f, "pids.max"));
    assert_eq!(pids.as_deref(), Some("16"), "{folders:?}");
}

/// Checkpoints `name` (which is then gone) and restores it; returns the restored state.
fn checkpoint_and_restore(w: &World, name: &str) -> State {
    let n = fs::read_dir(w.tmp.path()).unwrap().count();
    let images = w.tmp.path().join(format!("images-{name}-{n}"));
    checkpoint::checkpoint_named(&w.backend, &w.store, name, &images, false)
        .unwrap_or_else(|e| panic!("checkpoint: {e}"));
    // Dumped and gone: the environment is deleted and the counter stands still.
    assert!(w.backend.state(&w.store, name).is_err());
    assert!(common::cgroups_named(name).is_empty());
    let at_dump = log(w).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(log(w).len(), at_dump, "the counter ran on after the dump");
    let restored = checkpoint::restore_dir(&w.backend, &w.store, &images, None)
        .unwrap_or_else(|e| panic!("restore: {e}"));
    assert_eq!(restored.name, name);
    wait_for("the counter to go on", || log(w).len() > at_dump + 3);
    restored
}

fn wait_stopped(w: &World, name: &str) -> State {
    let mut last = None;
    wait_for(&format!("{name} to stop with its exit recorded"), || {
        let s = w.backend.state(&w.store, name).unwrap();
        let done = s.status == Status::Stopped && s.exit.is_some();
        last = Some(s);
        done
    });
    last.expect("polled at least once")
}

#[test]
#[ignore = "needs root"]
fn a_counter_continues_after_checkpoint_and_restore_and_its_exit_is_recorded() {
    if criu_cannot_run().is_some() {
        return;
    }
    let w = World::new();
    let _cleanup = Cleanup(&w, "ckpt");
    counter(&w, "ckpt");
    let restored = checkpoint_and_restore(&w, "ckpt");
    // Every number once, in order, from 1: the loop went on from where it was, it did
    // not start again.
    let seen = log(&w);
    let expected: Vec<u64> = (1..=seen.len() as u64).collect();
    assert_eq!(seen, expected);

    let state = w.backend.state(&w.store, "ckpt").unwrap();
    assert_eq!(state.status, Status::Running);
    assert_eq!(state.pid, restored.pid);
    assert_limits(&state);
    // Its output is logged again, by the new monitor.
    let last = *log(&w).last().unwrap();
    let logged = || fs::read_to_string(w.store.dir("ckpt").join("output.log")).unwrap_or_default();
    wait_for("the restored output in the log", || {
        logged().contains(&format!("tick {}\n", last + 1))
    });
    let listed = w.store.names().unwrap();
    assert!(listed.iter().any(|n| n == "ckpt"), "{listed:?}");

    // Its own exit, recorded by the restoring monitor.
    fs::write(w.out.join("stop"), "").unwrap();
    let stopped = wait_stopped(&w, "ckpt");
    let exit = stopped.exit.unwrap();
    assert_eq!((exit.code, exit.signal), (7, None), "{exit:?}");
    w.backend.delete(&w.store, "ckpt", false).unwrap();
    assert!(common::cgroups_named("ckpt").is_empty());
}

#[test]
#[ignore = "needs root"]
fn a_restored_environment_can_be_killed_stopped_and_deleted() {
    if criu_cannot_run().is_some() {
        return;
    }
    let w = World::new();
    let _cleanup = Cleanup(&w, "ckpt-kill");
    counter(&w, "ckpt-kill");
    checkpoint_and_restore(&w, "ckpt-kill");
    w.backend.signal(&w.store, "ckpt-kill", "KILL").unwrap();
    let exit = wait_stopped(&w, "ckpt-kill").exit.unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)), "{exit:?}");
    // A running one refuses a plain delete; stop ends it with its exit on record.
    w.backend.delete(&w.store, "ckpt-kill", false).unwrap();
    fs::remove_file(w.out.join("log")).unwrap();
    counter(&w, "ckpt-kill");
    checkpoint_and_restore(&w, "ckpt-kill");
    assert!(w.backend.delete(&w.store, "ckpt-kill", false).is_err());
    w.backend
        .stop(&w.store, "ckpt-kill", Duration::from_millis(200))
        .unwrap();
    let state = w.backend.state(&w.store, "ckpt-kill").unwrap();
    assert_eq!(state.status, Status::Stopped);
    assert!(state.exit.is_some(), "{state:?}");
    w.backend.delete(&w.store, "ckpt-kill", false).unwrap();
    assert!(common::cgroups_named("ckpt-kill").is_empty());
}

/// `--leave-running`: the environment runs on after the dump; once it is deleted, restore
/// brings back the snapshot, whose counter goes on from the dump's number, not from where
/// the original had got to.
#[test]
#[ignore = "needs root"]
fn leave_running_keeps_the_environment_and_restore_resumes_the_snapshot() {
    if criu_cannot_run().is_some() {
        return;
    }
    let w = World::new();
    let _cleanup = Cleanup(&w, "ckpt-live");
    counter(&w, "ckpt-live");
    let images = w.tmp.path().join("images-live");
    checkpoint::checkpoint_named(&w.backend, &w.store, "ckpt-live", &images, true)
        .unwrap_or_else(|e| panic!("checkpoint: {e}"));
    let at_dump = log(&w).len();
    let state = w.backend.state(&w.store, "ckpt-live").unwrap();
    assert_eq!(state.status, Status::Running);
    wait_for("the original to run on", || log(&w).len() > at_dump + 5);
    w.backend.delete(&w.store, "ckpt-live", true).unwrap();
    let ran_to = log(&w).len();
    checkpoint::restore_dir(&w.backend, &w.store, &images, None)
        .unwrap_or_else(|e| panic!("restore: {e}"));
    wait_for("the snapshot to go on", || log(&w).len() > ran_to + 3);
    let seen = log(&w);
    let resumed = &seen[ran_to..];
    assert!(
        resumed[0] > 1 && resumed[0] as usize <= at_dump + 1,
        "resumed at {} (dumped at {at_dump}, the original ran to {ran_to})",
        resumed[0]
    );
    assert!(resumed.windows(2).all(|p| p[1] == p[0] + 1), "{resumed:?}");
    assert_limits(&w.backend.state(&w.store, "ckpt-live").unwrap());
}

#[test]
#[ignore = "needs root"]
fn checkpoint_refuses_what_is_not_running_and_a_used_folder() {
    let w = World::new();
    let err = checkpoint::checkpoint_named(
        &w.backend,
        &w.store,
        "absent",
        &w.tmp.path().join("x"),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    let err = checkpoint::restore_dir(&w.backend, &w.store, w.tmp.path(), None).unwrap_err();
    assert!(
        err.to_string().contains("not a stockade checkpoint"),
        "{err}"
    );
    // A copy-on-write root is refused before CRIU runs, and the environment runs on.
    let file = w.tmp.path().join("cow.toml");
    let text = format!(
        "name = \"ckpt-cow\"\n[root]\npath = {root:?}\noverlay = true\n\
         [process]\ncommand = [\"/bin/sh\", \"-c\", \"sleep 600\"]\n",
        root = w.root.display().to_string(),
    );
    fs::write(&file, text).unwrap();
    let _cleanup = Cleanup(&w, "ckpt-cow");
    let opts = CreateOptions {
        stdio: Stdio::Log,
        start: true,
    };
    w.backend
        .create(&Spec::load(&file).unwrap(), &w.store, &opts)
        .unwrap();
    let out = w.tmp.path().join("cow-images");
    let err =
        checkpoint::checkpoint_named(&w.backend, &w.store, "ckpt-cow", &out, false).unwrap_err();
    assert!(err.to_string().contains("copy-on-write"), "{err}");
    assert!(!out.exists());
    let state = w.backend.state(&w.store, "ckpt-cow").unwrap();
    assert_eq!(state.status, Status::Running);
    // So is a process on a terminal (its restore would fail after the dump killed it).
    let _cleanup = Cleanup(&w, "ckpt-tty");
    let file = w.tmp.path().join("tty.toml");
    let text = format!(
        "name = \"ckpt-tty\"\n[root]\npath = {root:?}\n\
         [process]\ncommand = [\"/bin/sh\", \"-c\", \"sleep 600\"]\n",
        root = w.root.display().to_string(),
    );
    fs::write(&file, text).unwrap();
    let spec = Spec::load(&file).unwrap();
    let opts = CreateOptions {
        stdio: Stdio::LogTerminal,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    let out = w.tmp.path().join("tty-images");
    let err =
        checkpoint::checkpoint_named(&w.backend, &w.store, "ckpt-tty", &out, false).unwrap_err();
    assert!(err.to_string().contains("terminal"), "{err}");
    assert!(!out.exists());
    let state = w.backend.state(&w.store, "ckpt-tty").unwrap();
    assert_eq!(state.status, Status::Running);
}
