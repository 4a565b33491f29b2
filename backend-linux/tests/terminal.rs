//! Terminals and logs of the Linux runtime: a pty opened inside the environment and its
//! master handed to the caller (what an OCI `--console-socket` needs), the monitor's log
//! of a detached environment, and the attach socket of a detached terminal. Needs root.

#![cfg(target_os = "linux")]

mod common;

use std::io::Read as _;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use common::World;
use stockade_core::backend::{CreateOptions, Runtime, Stdio};
use stockade_core::logs::{LogReader, Stream};
use stockade_core::state::Status;

fn wait_stopped(w: &World, name: &str) -> stockade_core::state::State {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = w.backend.state(&w.store, name).unwrap();
        if s.status == Status::Stopped && s.exit.is_some() {
            return s;
        }
        assert!(Instant::now() < deadline, "{name} never stopped: {s:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the master until EIO (every slave closed) or `limit`.
fn read_master(master: std::os::fd::OwnedFd, limit: Duration) -> String {
    let mut f = std::fs::File::from(master);
    let mut text = Vec::new();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[test]
#[ignore = "needs root"]
fn create_hands_the_callers_the_master_of_a_terminal_opened_inside() {
    let w = World::new();
    let spec = w.spec(
        "term-handover",
        "tty; stty size; test -t 0 && test -t 2 && echo all-terminals; ls -l /proc/self/fd/1",
        "",
    );
    let opts = CreateOptions {
        stdio: Stdio::Terminal,
        start: false,
    };
    let made = w.backend.create_made(&spec, &w.store, &opts).unwrap();
    let master = made.terminal.expect("a master for the caller");
    assert_eq!(made.state.status, Status::Created);
    stockade_term::pty::set_size(
        master.as_fd(),
        stockade_term::pty::Size { rows: 31, cols: 97 },
    )
    .unwrap();
    w.backend.start(&w.store, "term-handover").unwrap();
    let out = read_master(master, Duration::from_secs(10));
    // The environment's own devpts: its first terminal, a name it can resolve.
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("31 97\r\n"), "{out:?}");
    assert!(out.contains("all-terminals"), "{out:?}");
    let s = wait_stopped(&w, "term-handover");
    assert_eq!(s.exit.map(|e| e.code), Some(0));
    w.backend.delete(&w.store, "term-handover", false).unwrap();
}

#[test]
#[ignore = "needs root"]
fn detached_output_goes_to_the_log_not_the_caller_and_delete_removes_it() {
    let w = World::new();
    let spec = w.spec("logged", "echo out; echo err >&2; printf 'no newline'", "");
    let opts = CreateOptions {
        stdio: Stdio::Log,
        start: true,
    };
    w.backend.create(&spec, &w.store, &opts).unwrap();
    wait_stopped(&w, "logged");
    let dir = w.store.dir("logged");
    let (_, chunks) = LogReader::new(&dir).unwrap();
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.bytes.clone()).collect();
    assert_eq!(
        String::from_utf8_lossy(&all).replace("err\n", ""),
        "out\nno newline"
    );
    assert!(chunks
        .iter()
        .any(|c| c.stream == Stream::Err && c.bytes == b"err\n"));
    w.backend.delete(&w.store, "logged", false).unwrap();
    assert!(!dir.join("output.log").exists());
    assert!(!dir.exists());
}
