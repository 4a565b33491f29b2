//! A minimal PID 1 (`process.init = true`): forks the command, forwards the signals a
//! supervisor sends (SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2) to it, reaps every
//! zombie re-parented to it, and exits with the command's status (128+N when signal N
//! killed it) — what tini and dumb-init do. sigprocmask(2), sigwait(3), waitpid(2).
//!
//! PID 1 of a PID namespace ignores signals it has no handler for, so without a reaper a
//! shell run as PID 1 would ignore `stockade kill NAME TERM`; the reaper blocks the signals
//! and receives them synchronously with sigwait, so it needs no handler at all.

use std::os::fd::OwnedFd;

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::process::{self, ProcessConfig, EXIT_STOCKADE};
use super::sys::{self, Forked};

/// Signals forwarded to the command.
pub const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// Runs as PID 1 of the environment (already with the final identity and privileges,
/// except the seccomp filter, which the command loads): never returns.
pub fn run(cfg: &ProcessConfig, env: &[(String, String)], report: Option<&OwnedFd>) -> ! {
    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(*s);
    }
    set.add(Signal::SIGCHLD);
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None) {
        process::fail(report, EXIT_STOCKADE, &format!("init: sigprocmask: {e}"));
    }
    let child = match sys::fork() {
        Ok(Forked::Child) => {
            // The mask survives execve: give the command the default one.
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
            process::exec(cfg, &cfg.argv, env, report)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => process::fail(report, EXIT_STOCKADE, &format!("init: fork: {e}")),
    };
    loop {
        let Ok(signal) = set.wait() else { continue };
        if signal != Signal::SIGCHLD {
            let _ = kill(child, signal);
            continue;
        }
        // Reap everything that exited; leave when the command itself has.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => sys::exit_now(code),
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == child => {
                    sys::exit_now(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
