//! create/start/state/kill/stop/exec/delete across calls, the monitor, cleanup and forced
//! delete after a creator killed at each step. Needs root.

#![cfg(target_os = "linux")]

mod common;

use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::state::Status;

fn detached() -> CreateOptions {
    CreateOptions {
        stdio: Stdio::Detached,
        start: false,
    }
}

fn wait_status(w: &World, name: &str, want: Status) -> stockade_core::state::State {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = w.backend.state(&w.store, name).unwrap();
        if s.status == want && (want != Status::Stopped || s.exit.is_some()) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never reached {want:?}: {s:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_gone(w: &World, name: &str) {
    assert!(!w.store.dir(name).exists(), "state folder left");
    assert!(
        common::cgroups_named(name).is_empty(),
        "cgroup left: {:?}",
        common::cgroups_named(name)
    );
    let mounts = common::mounts_mentioning(&w.root);
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
    let mounts = common::mounts_mentioning(&w.store.dir(name));
    assert!(mounts.is_empty(), "mounts left: {mounts:?}");
}

#[test]
#[ignore = "needs root"]
fn create_start_monitor_records_exit_then_delete_leaves_nothing() {
    let w = World::new();
    let spec = w.spec("cs", "echo started > /out/started; exit 3", "");
    let state = w.backend.create(&spec, &w.store, &detached()).unwrap();
    assert_eq!(state.status, Status::Created);
    std::thread::sleep(Duration::from_millis(100));
    assert!(!w.out.join("started").exists(), "ran before start");
    assert!(!common::cgroups_named("cs").is_empty());
    // A second create of a live name fails clearly.
    let err = w.backend.create(&spec, &w.store, &detached()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    w.backend.start(&w.store, "cs").unwrap();
    let s = wait_status(&w, "cs", Status::Stopped);
    assert_eq!(s.exit.as_ref().map(|e| e.code), Some(3), "{s:?}");
    assert_eq!(w.read("started"), "started");
    w.backend.delete(&w.store, "cs", false).unwrap();
    assert_gone(&w, "cs");
}

#[test]
#[ignore = "needs root"]
fn kill_by_name_records_the_signal() {
    let w = World::new();
    let spec = w.spec("k", "sleep 100", "");
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    let s = w.backend.create(&spec, &w.store, &opts).unwrap();
    assert_eq!(s.status, Status::Running);
    // PID 1 ignores TERM without a handler; KILL from outside always works.
    w.backend.signal(&w.store, "k", "SIGKILL").unwrap();
    let s = wait_status(&w, "k", Status::Stopped);
    let exit = s.exit.unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
    assert!(w.backend.signal(&w.store, "k", "NOPE").is_err());
    w.backend.delete(&w.store, "k", false).unwrap();
    assert_gone(&w, "k");
}

#[test]
#[ignore = "needs root"]
fn stop_escalates_to_sigkill_after_grace() {
    let w = World::new();
    let spec = w.spec_with(
        "stopme",
        "trap 'echo term >> /out/trapped' TERM; while true; do sleep 0.1; done",
        "init = true",
        "",
    );
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    w.backend
        .stop(&w.store, "stopme", Duration::from_secs(1))
        .unwrap();
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "stopped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    let s = wait_status(&w, "stopme", Status::Stopped);
    assert_eq!(s.exit.unwrap().signal, Some(9));
    assert_eq!(w.read("trapped"), "term", "TERM was not forwarded by init");
    w.backend.delete(&w.store, "stopme", false).unwrap();
    assert_gone(&w, "stopme");
}

#[test]
#[ignore = "needs root"]
fn exec_joins_the_pid_namespace() {
    let w = World::new();
    let spec = w.spec("ex", "echo $$ > /out/first; sleep 100", "");
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !w.out.join("first").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let cmd: Vec<String> = ["/bin/sh", "-c", "ps -o pid,comm > /out/ps; hostname > /out/exechost; ls /proc/self/fd > /out/execfds; exit 4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let exit = w.backend.exec(&w.store, "ex", &cmd).unwrap();
    assert_eq!(exit.code, 4, "{exit:?}");
    let ps = w.read("ps");
    assert!(
        ps.lines().any(|l| l.split_whitespace().next() == Some("1")),
        "{ps}"
    );
    assert!(
        ps.contains("sleep"),
        "exec does not see the environment's processes: {ps}"
    );
    assert_eq!(w.read("exechost"), "ex");
    assert_eq!(w.read("execfds").lines().count(), 4);
    let missing = vec!["/nope".to_string()];
    assert_eq!(w.backend.exec(&w.store, "ex", &missing).unwrap().code, 127);
    w.backend.delete(&w.store, "ex", true).unwrap();
    assert_gone(&w, "ex");
}

/// The parent of a process, from /proc/PID/stat.
fn ppid(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = stat.rsplit_once(')').unwrap().1;
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
#[ignore = "needs root"]
fn the_monitor_is_the_small_program_and_holds_only_its_descriptors() {
    let w = World::new();
    let spec = w.spec("mon", "echo out; echo err >&2; exec sleep 30", "");
    let opts = CreateOptions {
        stdio: Stdio::Log,
        start: true,
    };
    let state = w.backend.create(&spec, &w.store, &opts).unwrap();
    let monitor = ppid(state.pid.unwrap());
    let exe = std::fs::read_link(format!("/proc/{monitor}/exe")).unwrap();
    let expected = std::fs::canonicalize(common::monitor_program()).unwrap();
    assert_eq!(exe, expected, "the monitor runs {}", exe.display());
    // Give it a moment to open the log (it does so before it idles).
    let log = w.store.dir("mon").join("output.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fds: Vec<(i32, String)>;
    loop {
        fds = std::fs::read_dir(format!("/proc/{monitor}/fd"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| {
                let n: i32 = e.file_name().to_str().unwrap().parse().unwrap();
                let target = std::fs::read_link(e.path()).unwrap();
                (n, target.display().to_string())
            })
            .collect();
        if fds.iter().any(|(_, t)| *t == log.display().to_string()) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    fds.sort();
    let kinds: Vec<String> = fds
        .iter()
        .map(|(n, t)| match t.as_str() {
            "/dev/null" if *n <= 2 => "null".to_string(),
            t if t.starts_with("pipe:") => "pipe".to_string(),
            "anon_inode:[pidfd]" => "pidfd".to_string(),
            t if t == w.store.dir("mon").display().to_string() => "folder".to_string(),
            t => t
                .strip_prefix(&format!("{}/", w.store.dir("mon").display()))
                .map_or_else(|| format!("unexpected {n} -> {t}"), str::to_string),
        })
        .collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    // stdin/out/err on /dev/null; the report, stdout and stderr pipes; the pidfd it polls;
    // the state folder (the log's files are opened and rotated relative to it), the log
    // and its index. Nothing of the creator's (the state lock above all).
    assert_eq!(
        sorted,
        [
            "folder",
            "null",
            "null",
            "null",
            "output.idx",
            "output.log",
            "pidfd",
            "pipe",
            "pipe",
            "pipe"
        ],
        "{fds:?}"
    );
    w.backend.delete(&w.store, "mon", true).unwrap();
    assert_gone(&w, "mon");
}

#[test]
#[ignore = "needs root"]
fn proc_self_exe_of_stockade_processes_is_closed_to_the_environment() {
    // CVE-2019-5736: while an init reaper (stockade code) is PID 1, the command — root in
    // the environment — must not be able to open /proc/1/exe.
    let w = World::new();
    let spec = w.spec_with(
        "exe",
        "cat /proc/1/exe > /dev/null 2>&1 && echo readable > /out/exe || echo denied > /out/exe; \
         ls -l /proc/1/exe > /out/exelink 2>&1; echo done",
        "init = true",
        "",
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    assert_eq!(w.read("exe"), "denied", "{}", w.read("exelink"));
}

#[test]
#[ignore = "needs root"]
fn delete_force_undoes_a_creator_killed_at_each_step() {
    for step in [
        "state",
        "cgroup",
        "cgroup-made",
        "process",
        "released",
        "ready",
    ] {
        let w = World::new();
        let name = format!("crash-{step}");
        let spec = w.spec(&name, "sleep 100", "");
        // The creator runs in a child process that SIGKILLs itself at `step`.
        // SAFETY: the child only sets a variable, calls the library and exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                // Not std::env::set_var: it takes std's environment lock for writing, and
                // a test thread reading the environment at the fork (tempdir, the crash
                // hook itself) leaves that lock held forever in this copy of the process.
                let value = std::ffi::CString::new(step).unwrap();
                // SAFETY: this forked child has one thread; both strings are NUL-terminated
                // and live across the call.
                unsafe { libc::setenv(c"STOCKADE_TEST_CRASH_AT".as_ptr(), value.as_ptr(), 1) };
                let _ = w.backend.create(&spec, &w.store, &detached());
                // Reached only if the hook did not fire.
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert!(
                    matches!(
                        status,
                        nix::sys::wait::WaitStatus::Signaled(
                            _,
                            nix::sys::signal::Signal::SIGKILL,
                            _
                        )
                    ),
                    "{step}: creator was not killed: {status:?}"
                );
            }
        }
        assert!(w.store.dir(&name).exists(), "{step}: nothing recorded");
        w.backend
            .delete(&w.store, &name, true)
            .unwrap_or_else(|e| panic!("{step}: {e}"));
        assert_gone(&w, &name);
    }
}
