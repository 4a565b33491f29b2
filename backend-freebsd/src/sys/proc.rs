//! Processes: fork(2), closing inherited descriptors, execve(2)/fexecve(2) with argument
//! arrays built before the fork, a process's start time (sysctl `kern.proc.pid`), and
//! running a short task inside a jail (jail_attach(2) in a child).
//!
//! A forked child must only make system calls until it execs or exits: every
//! allocation (C strings, pointer arrays) happens in the parent, before fork(2).

use std::ffi::CString;
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::ret;

/// Which side of fork(2) this is.
pub enum Forked {
    /// The child.
    Child,
    /// The parent, with the child's pid.
    Parent(libc::pid_t),
}

/// fork(2).
///
/// The caller's child side must make only async-signal-safe calls until it execs or
/// `_exit`s, unless the process is single-threaded (the stockade CLI is; FreeBSD's libthr
/// also keeps malloc usable in the child of a threaded process).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: fork(2) has no memory-safety preconditions; what the child may do
    // afterwards is the caller's contract, stated above.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// _exit(2): ends a forked child without running the parent's atexit handlers or
/// flushing its stdio buffers.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit(2) never returns and touches no memory of this process.
    unsafe { libc::_exit(code) }
}

/// Closes every descriptor from 3 up, except those in `keep`: the state folder's lock
/// above all, whose flock(2) would otherwise outlive the command that took it.
pub fn close_all_but(keep: &[RawFd]) {
    let top = keep.iter().copied().max().unwrap_or(2).max(2);
    for fd in 3..top {
        if !keep.contains(&fd) {
            // SAFETY: closing a descriptor number this process may not own is harmless
            // (EBADF); none of the kept ones is closed.
            unsafe { libc::close(fd) };
        }
    }
    closefrom(top + 1);
}

/// closefrom(2).
pub fn closefrom(lowfd: RawFd) {
    // SAFETY: closefrom(2) only closes descriptors; it cannot fail.
    unsafe { libc::closefrom(lowfd) }
}

/// dup2(2).
pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2(2) takes two descriptor numbers; no memory is involved.
    ret(unsafe { libc::dup2(from, to) })
}

/// An argv or envp array for execve(2), built before fork(2).
pub struct CArray {
    _strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArray {
    /// The strings and their NULL-terminated pointer array.
    pub fn new(strings: Vec<CString>) -> CArray {
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArray {
            _strings: strings,
            ptrs,
        }
    }

    /// From Rust strings; fails on a NUL byte.
    pub fn from_strs<S: AsRef<str>>(items: &[S]) -> io::Result<CArray> {
        let strings = items
            .iter()
            .map(|s| {
                CString::new(s.as_ref()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
            })
            .collect::<io::Result<Vec<_>>>()?;
        Ok(CArray::new(strings))
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

/// execve(2); returns only on failure.
pub fn execve(path: &CString, argv: &CArray, envp: &CArray) -> io::Error {
    // SAFETY: `path` is NUL-terminated; `argv` and `envp` are NULL-terminated arrays of
    // pointers into NUL-terminated strings that `CArray` keeps alive.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// fexecve(2); returns only on failure.
pub fn fexecve(fd: &OwnedFd, argv: &CArray, envp: &CArray) -> io::Error {
    // SAFETY: `fd` is an open descriptor; `argv` and `envp` are NULL-terminated arrays of
    // pointers into NUL-terminated strings that `CArray` keeps alive.
    unsafe { libc::fexecve(fd.as_raw_fd(), argv.as_ptr(), envp.as_ptr()) };
    io::Error::last_os_error()
}

/// open(2) with `O_EXEC | O_CLOEXEC`: a binary to fexecve(2) after jail_attach(2),
/// when its path no longer resolves on the host.
pub fn open_exec(path: &str) -> io::Result<OwnedFd> {
    let c = CString::new(path).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is NUL-terminated and outlives the call.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_EXEC | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: open(2) just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pipe2(2) with `O_CLOEXEC`: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2(2) writes.
    ret(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2(2) just returned these two descriptors; nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// write(2) of a whole small buffer from a forked child (no allocation).
pub fn write_all(fd: RawFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n <= 0 {
            return;
        }
        buf = &buf[usize::try_from(n).unwrap_or(buf.len())..];
    }
}

/// The errno of the last failed call, in a forked child.
pub fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// waitpid(2) for a child, retried on EINTR; the raw status.
pub fn wait(pid: libc::pid_t) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int for waitpid(2) to write.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc == pid {
            return Ok(status);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}

/// How a raw wait status ended: `(exit code, signal)`.
pub fn decode(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    }
}

/// The start time of a process, in microseconds since the epoch (`ki_start` of
/// sysctl `kern.proc.pid.<pid>`); `None` when there is no such process.
pub fn start_time(pid: libc::pid_t) -> io::Result<Option<u64>> {
    let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PID, pid];
    // SAFETY: kinfo_proc is a plain C struct for which all-zero bytes are valid.
    let mut info: libc::kinfo_proc = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::kinfo_proc>();
    // SAFETY: `mib` holds 4 ints; `info` has room for `len` bytes, which sysctl(3)
    // writes at most and updates to what it wrote; no new value is set.
    let rc = unsafe {
        libc::sysctl(
            mib.as_ptr(),
            4,
            (&mut info as *mut libc::kinfo_proc).cast(),
            &mut len,
            std::ptr::null(),
            0,
        )
    };
    match rc {
        0 if len == 0 => Ok(None),
        0 => {
            let t = info.ki_start;
            let secs = u64::try_from(t.tv_sec).unwrap_or(0);
            let usecs = u64::try_from(t.tv_usec).unwrap_or(0);
            Ok(Some(secs * 1_000_000 + usecs))
        }
        _ => {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::ESRCH) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// True when `pid` is alive and started at `start` (not a recycled pid).
pub fn is_alive(pid: i32, start: u64) -> bool {
    matches!(start_time(pid), Ok(Some(t)) if t == start)
}

/// kill(2).
pub fn kill(pid: libc::pid_t, sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers; no memory is involved.
    ret(unsafe { libc::kill(pid, sig) })
}

/// jail_attach(2) of the calling process, through the jail crate.
pub fn jail_attach(jid: i32) -> io::Result<()> {
    jail::RunningJail::from_jid_unchecked(jid)
        .attach()
        .map_err(|e| match e {
            jail::JailError::JailAttachError(e) => e,
            other => io::Error::other(other),
        })
}

/// What a task run in a jail reported.
pub struct TaskEnd {
    /// Raw wait status.
    pub status: i32,
    /// What it wrote on stderr.
    pub stderr: String,
}

/// Runs `exe` (opened before, so it need not exist inside the jail) with `argv` in a
/// child attached to jail `jid`; stdout goes to /dev/null, stderr is collected.
pub fn run_in_jail(jid: i32, exe: &OwnedFd, argv: &CArray) -> io::Result<TaskEnd> {
    let env = CArray::new(Vec::new());
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    let (err_r, err_w) = pipe()?;
    match fork()? {
        Forked::Child => {
            let ok = dup2(err_w.as_raw_fd(), 2).is_ok() && dup2(devnull.as_raw_fd(), 1).is_ok();
            if !ok {
                exit_child(125);
            }
            if jail_attach(jid).is_err() {
                write_all(2, b"jail_attach failed\n");
                exit_child(125);
            }
            let _ = fexecve(exe, argv, &env);
            write_all(2, b"fexecve failed\n");
            exit_child(126)
        }
        Forked::Parent(pid) => {
            drop(err_w);
            let mut stderr = String::new();
            let read = std::fs::File::from(err_r).read_to_string(&mut stderr);
            let status = wait(pid)?;
            read?;
            Ok(TaskEnd { status, stderr })
        }
    }
}

/// Sends `sig` (0 only probes) to every process in jail `jid`: kill(2) with pid -1 from a
/// child attached to the jail reaches every process there but the child itself, as
/// jail(8) does when it stops a jail. True when at least one process was there.
pub fn signal_jail(jid: i32, sig: i32) -> io::Result<bool> {
    // The child's exit code: 0 signalled, 1 none left, 64 + errno of jail_attach(2),
    // 128 + errno of kill(2). errno values are below 100 on FreeBSD.
    match fork()? {
        Forked::Child => {
            if jail_attach(jid).is_err() {
                exit_child(64 + errno().min(63));
            }
            // SAFETY: kill(2) takes two integers; no memory is involved.
            let rc = unsafe { libc::kill(-1, sig) };
            if rc == 0 {
                exit_child(0);
            }
            let e = errno();
            exit_child(if e == libc::ESRCH {
                1
            } else {
                128 + e.min(127)
            })
        }
        Forked::Parent(pid) => {
            let status = wait(pid)?;
            match decode(status) {
                (Some(0), _) => Ok(true),
                (Some(1), _) => Ok(false),
                (Some(c), _) if (64..128).contains(&c) => Err(io::Error::from_raw_os_error(c - 64)),
                (Some(c), _) if c >= 128 => Err(io::Error::from_raw_os_error(c - 128)),
                _ => Err(io::Error::other(format!(
                    "signal helper ended with status {status}"
                ))),
            }
        }
    }
}

/// Sleeps (between looks while stopping).
pub fn sleep(d: Duration) {
    std::thread::sleep(d);
}
