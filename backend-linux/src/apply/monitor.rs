//! The detached environment's monitor, as the `stockade-monitor` program runs it (see
//! `stockade_term::launch` for how it gets there): keep the process's output (the log in
//! the state folder and, for a terminal, the attach socket), wait(2) for the process — a
//! child of the monitor since it made it with clone3(2) before its execve — and record its
//! exit in state.json. Cleanup stays with `delete` (cgroups, interfaces, firewall rules),
//! as the record lists them.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use stockade_core::logs::{LogWriter, DEFAULT_CAP};
use stockade_core::state::{StateStore, Status};
use stockade_term::launch::Handoff;
use stockade_term::monitor::{LogSink, Sources};

use super::spawn::{attach_socket, exit_of, read_report};
use super::sys;

/// Serves the hand-off until the process has exited and its exit is recorded; never
/// returns.
pub fn main(h: Handoff) -> ! {
    // It holds the pty master and the log: nobody but root-with-ptrace may read its fds
    // or memory through /proc.
    let _ = nix::sys::prctl::set_dumpable(false);
    let _ = nix::unistd::chdir("/");
    let Handoff {
        root,
        name,
        pid,
        report,
        out,
        err,
        terminal,
    } = h;
    let pid = Pid::from_raw(pid);
    let store = StateStore::new(root);
    let dir = store.dir(&name);
    keep_output(pid, (out, err, terminal), &dir);
    let status = loop {
        match waitpid(pid, None) {
            Ok(s) => break Some(s),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break None,
        }
    };
    let reason = report.and_then(read_report);
    let exit = status.and_then(|s| exit_of(s, reason));
    if let Ok(mut entry) = store.open(&name, true) {
        if entry.state.pid == Some(pid.as_raw()) {
            let folders = super::runtime::cgroup_folders(&entry.state);
            let exit = exit.map(|e| super::cgroup::usage::annotate(e, &folders));
            entry.state.status = Status::Stopped;
            entry.state.exit = exit;
            let _ = entry.save();
        }
    }
    sys::exit_now(0)
}

/// Logs the output until the process ends; for a terminal, serves `attach` meanwhile.
fn keep_output(pid: Pid, output: (Option<OwnedFd>, Option<OwnedFd>, Option<OwnedFd>), dir: &Path) {
    let mut sources = Sources {
        exited: sys::pidfd_open(pid).ok(),
        ..Sources::default()
    };
    match output {
        (Some(out), Some(err), _) => {
            sources.out = Some(out);
            sources.err = Some(err);
        }
        (_, _, Some(sock)) => {
            let mut tag = [0u8; 1];
            // EOF: the process died before it had a terminal.
            let Ok(Some((master, _))) = stockade_term::fdpass::recv(sock.as_fd(), &mut tag) else {
                return;
            };
            drop(sock);
            let path = attach_socket(dir);
            let _ = fs::remove_file(&path);
            sources.listener = std::os::unix::net::UnixListener::bind(&path).ok();
            sources.master = Some(master);
        }
        _ => return,
    }
    let mut sink = LogSink(LogWriter::open(dir, DEFAULT_CAP).ok());
    stockade_term::monitor::serve(sources, &mut sink);
    let _ = fs::remove_file(attach_socket(dir));
}
