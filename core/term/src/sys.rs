//! The calls rustix leaves unsafe or out: fork(2), _exit(2), resetting signal
//! dispositions (sigaction(2)), and what handing descriptors across execve(2) to the
//! monitor program needs (fcntl(2), dup2(2), close_range(2), fexecve(3)). The only module
//! of this crate allowed `unsafe`.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd, RawFd};

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

/// Whether `fd` is an open descriptor of this process (fcntl(2) `F_GETFD`).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD reads the descriptor's flags; an unused number only yields EBADF.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Takes ownership of descriptor `fd`, which the caller checked is open and that nothing
/// else in this process owns (a descriptor inherited across execve(2) by number), and
/// marks it close-on-exec.
pub fn adopt(fd: RawFd) -> io::Result<OwnedFd> {
    if !is_open(fd) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: `fd` is open (checked above) and, by this function's contract, owned by
    // nothing else in the process: the OwnedFd becomes its only owner and closes it once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
    Ok(owned)
}

/// Closes descriptor number `fd` if it is open and owned by no value of this process
/// (a leftover inherited across execve(2)).
pub fn close_unowned(fd: RawFd) {
    // SAFETY: callers pass only numbers that no OwnedFd of this process holds; closing
    // an unused number is harmless (EBADF).
    unsafe { libc::close(fd) };
}

/// Closes every descriptor from `low` up (close_range(2) on Linux, closefrom(2) on
/// FreeBSD); on a Linux kernel older than 5.9, each one listed in /proc/self/fd.
pub fn close_from(low: RawFd) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: close_range takes two descriptor numbers and flags; it touches no memory.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                low as libc::c_uint,
                libc::c_uint::MAX,
                0,
            )
        };
        if r == 0 {
            return;
        }
        let open: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        for fd in open.into_iter().filter(|&fd| fd >= low) {
            close_unowned(fd);
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: closefrom(2) only closes descriptors; it cannot fail.
        unsafe { libc::closefrom(low) }
    }
}

/// dup2(2) of `from` onto the number `to`; the copy is not close-on-exec.
pub fn dup_onto(from: BorrowedFd<'_>, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes two descriptor numbers; `to` is a slot the caller reserved (it
    // owns no value there, or the value is dropped without closing, see `launch`).
    match unsafe { libc::dup2(from.as_raw_fd(), to) } {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// fexecve(3): executes the program open at `exe` (a descriptor opened by path before
/// any namespace was joined, so no path is resolved now). Returns only on failure.
pub fn fexecve(exe: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = envp.iter().map(|a| a.as_ptr()).collect();
    env.push(std::ptr::null());
    // SAFETY: `args` and `env` are NULL-terminated arrays of pointers to NUL-terminated
    // strings owned by `argv` and `envp`, which outlive the call; on success the call
    // does not return, on failure it changes nothing.
    unsafe { libc::fexecve(exe.as_raw_fd(), args.as_ptr(), env.as_ptr()) };
    io::Error::last_os_error()
}
