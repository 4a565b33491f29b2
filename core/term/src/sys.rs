//! The three calls rustix leaves unsafe or out: fork(2), _exit(2) and resetting signal
//! dispositions (sigaction(2)). The only module of this crate allowed `unsafe`.
#![allow(unsafe_code)]

use std::io;

use rustix::process::Pid;

/// Which side of a fork this is.
pub enum Forked {
    /// The new process.
    Child,
    /// The caller, with the child's pid.
    Parent(Pid),
}

/// fork(2). The child must only run async-signal-safe-ish code of this crate and end with
/// [`exit_now`].
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork has no memory-safety preconditions of its own; the callers' children
    // run a poll/read/write loop and leave through `exit_now`, never returning into code
    // that expects the parent's other threads.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid).ok_or_else(|| {
            io::Error::other("fork returned an invalid pid")
        })?)),
    }
}

/// _exit(2): leaves without running the parent's atexit handlers or destructors.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes a plain integer and never returns.
    unsafe { libc::_exit(code) }
}

/// Puts `signals` back to their default action (a forked relay must not run the parent's
/// handlers, which write to the parent's pipes).
pub fn default_signals(signals: &[libc::c_int]) {
    for &sig in signals {
        // SAFETY: SIG_DFL is a valid disposition for any catchable signal; no handler
        // function pointer is installed.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
}

/// Ignores `signals` (the relay outlives a hang-up of stockade's session to put the
/// caller's modes back).
pub fn ignore_signals(signals: &[libc::c_int]) {
    for &sig in signals {
        // SAFETY: SIG_IGN is a valid disposition for any catchable signal.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
}
