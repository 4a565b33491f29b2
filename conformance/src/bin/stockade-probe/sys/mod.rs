//! Every system call the probe makes that std does not wrap: the one place in the probe
//! allowed to use `unsafe`. Each function is one libc call (or a short fixed sequence),
//! checks its return code, and hands back `io::Error` with the errno intact, so the
//! probe can name it (`EPERM`, `EMFILE`...).
//!
//! The calls common to Linux and FreeBSD live here; `linux.rs` and `freebsd.rs` hold the
//! ones whose signature or mechanism differs (mount, sethostname, ptrace, file flags,
//! process and mount listings), behind the same function names.
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use libc::c_int;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod os;

#[cfg(target_os = "freebsd")]
#[path = "freebsd.rs"]
mod os;

pub use os::*;

/// -1 means failure with errno set; anything else is success.
fn cvt(ret: c_int) -> io::Result<c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A path as a NUL-terminated string (a path with a NUL byte is invalid input).
pub fn cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Who and where the probe is.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
}

pub fn ids() -> Ids {
    // SAFETY: these six calls take no arguments, touch no memory and cannot fail.
    unsafe {
        Ids {
            pid: libc::getpid(),
            ppid: libc::getppid(),
            uid: libc::getuid(),
            gid: libc::getgid(),
            euid: libc::geteuid(),
            egid: libc::getegid(),
        }
    }
}

/// The supplementary group list.
pub fn groups() -> io::Result<Vec<u32>> {
    // SAFETY: a zero size with a null pointer only asks for the count.
    let n = cvt(unsafe { libc::getgroups(0, std::ptr::null_mut()) })?;
    let mut buf: Vec<libc::gid_t> = vec![0; usize::try_from(n).unwrap_or(0) + 1];
    let cap = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
    // SAFETY: `buf` holds `cap` writable gid_t slots for the duration of the call.
    let got = cvt(unsafe { libc::getgroups(cap, buf.as_mut_ptr()) })?;
    buf.truncate(usize::try_from(got).unwrap_or(0));
    Ok(buf)
}

pub fn hostname() -> io::Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is 256 writable bytes; we pass one less so the result stays
    // NUL-terminated even when the kernel truncates.
    cvt(unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) })?;
    let cstr =
        CStr::from_bytes_until_nul(&buf).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok(cstr.to_string_lossy().into_owned())
}

/// A resource limit value; `None` is RLIM_INFINITY.
pub type Limit = Option<u64>;

// rlim_t is u64 on Linux and i64 on FreeBSD: the casts are needed on one of them.
#[allow(clippy::unnecessary_cast)]
fn limit(v: libc::rlim_t) -> Limit {
    if v == libc::RLIM_INFINITY {
        None
    } else {
        Some(v as u64)
    }
}

macro_rules! rlimit_fns {
    ($get:ident, $set_soft:ident, $res:expr) => {
        /// (soft, hard).
        pub fn $get() -> io::Result<(Limit, Limit)> {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `rl` is a valid, writable rlimit for the call.
            cvt(unsafe { libc::getrlimit($res, &mut rl) })?;
            Ok((limit(rl.rlim_cur), limit(rl.rlim_max)))
        }

        /// Lowers (or raises, up to the hard limit) the soft limit.
        #[allow(dead_code, clippy::unnecessary_cast)]
        pub fn $set_soft(soft: u64) -> io::Result<()> {
            let mut rl = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: `rl` is a valid, writable rlimit for the call.
            cvt(unsafe { libc::getrlimit($res, &mut rl) })?;
            rl.rlim_cur = soft as libc::rlim_t;
            // SAFETY: `rl` is a valid rlimit, read by the call.
            cvt(unsafe { libc::setrlimit($res, &rl) })?;
            Ok(())
        }
    };
}

rlimit_fns!(rlimit_nofile, set_nofile_soft, libc::RLIMIT_NOFILE);
rlimit_fns!(rlimit_nproc, set_nproc_soft, libc::RLIMIT_NPROC);
rlimit_fns!(rlimit_memlock, set_memlock_soft, libc::RLIMIT_MEMLOCK);

/// Which side of a fork we are on.
pub enum Fork {
    Child,
    Parent(i32),
}

/// fork(2). Called only while the probe has a single thread (the thread attempt joins its
/// threads before returning), so the child may use the allocator.
pub fn fork() -> io::Result<Fork> {
    // SAFETY: the probe is single-threaded whenever it forks (see above), so the child
    // inherits no lock held by another thread.
    let pid = cvt(unsafe { libc::fork() })?;
    Ok(if pid == 0 {
        Fork::Child
    } else {
        Fork::Parent(pid)
    })
}

/// Ends the process at once, without running destructors or flushing stdio (a forked
/// child must not flush the parent's buffered output twice).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(i32),
}

pub fn wait(pid: i32) -> io::Result<Status> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: `status` is a valid, writable int for the call.
        match cvt(unsafe { libc::waitpid(pid, &mut status, 0) }) {
            Ok(_) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(if libc::WIFSIGNALED(status) {
        Status::Signaled(libc::WTERMSIG(status))
    } else {
        Status::Exited(libc::WEXITSTATUS(status))
    })
}

pub fn kill(pid: i32, sig: c_int) -> io::Result<()> {
    // SAFETY: kill takes plain integers.
    cvt(unsafe { libc::kill(pid, sig) })?;
    Ok(())
}

/// True while a process exists, zombies included (kill with signal 0).
pub fn exists(pid: i32) -> bool {
    match kill(pid, 0) {
        Ok(()) => true,
        Err(e) => e.raw_os_error() != Some(libc::ESRCH),
    }
}

/// An anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: *mut libc::c_void,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Maps `bytes` of anonymous memory and writes to every page, so it is really resident.
pub fn touch_anonymous(bytes: usize) -> io::Result<()> {
    let map = Mapping::new(bytes)?;
    let base = map.ptr.cast::<u8>();
    let mut off = 0;
    while off < bytes {
        // SAFETY: `off < bytes`, the mapping's length, and the mapping is writable.
        unsafe { base.add(off).write_volatile(1) };
        off += 4096;
    }
    Ok(())
}

/// Maps `bytes` and locks them in memory (mlock(2)), then unlocks and unmaps.
pub fn mlock_anonymous(bytes: usize) -> io::Result<()> {
    let map = Mapping::new(bytes)?;
    // SAFETY: the range is exactly the live mapping.
    cvt(unsafe { libc::mlock(map.ptr, map.len) })?;
    // SAFETY: same range, locked just above.
    unsafe { libc::munlock(map.ptr, map.len) };
    Ok(())
}

/// socket(AF_INET, SOCK_RAW, IPPROTO_ICMP): what ping needs.
pub fn raw_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket takes plain integers.
    let fd = cvt(unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) })?;
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mknod(2) of a character device node.
pub fn mknod_char(path: &Path, major: u32, minor: u32) -> io::Result<()> {
    let c = cstring(path)?;
    let dev = libc::makedev(major, minor);
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    cvt(unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, dev) })?;
    Ok(())
}

/// shmget(key, 0, 0): does a System V shared memory segment with this key exist?
pub fn shm_lookup(key: i32) -> io::Result<i32> {
    // SAFETY: shmget takes plain integers.
    cvt(unsafe { libc::shmget(key as libc::key_t, 0, 0) })
}

/// Creates a segment with this key (mode 0600) that outlives the probe.
pub fn shm_create(key: i32) -> io::Result<i32> {
    // SAFETY: shmget takes plain integers.
    cvt(unsafe { libc::shmget(key as libc::key_t, 4096, libc::IPC_CREAT | 0o600) })
}

/// Removes the segment with this key.
pub fn shm_remove(key: i32) -> io::Result<()> {
    let id = shm_lookup(key)?;
    // SAFETY: IPC_RMID ignores the buffer argument, so null is allowed.
    cvt(unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) })?;
    Ok(())
}

/// Creates a private segment with mode 000 and attaches it: only a process that may
/// bypass SysV IPC permission checks can (Linux CAP_IPC_OWNER).
pub fn shm_attach_mode_000() -> io::Result<()> {
    // SAFETY: shmget takes plain integers.
    let id = cvt(unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT) })?;
    // SAFETY: attaching at an address of the kernel's choosing touches no existing memory.
    let addr = unsafe { libc::shmat(id, std::ptr::null(), 0) };
    let attached = if addr as isize == -1 {
        Err(io::Error::last_os_error())
    } else {
        // SAFETY: `addr` was returned by shmat just above and is detached once.
        unsafe { libc::shmdt(addr) };
        Ok(())
    };
    // SAFETY: IPC_RMID ignores the buffer argument, so null is allowed.
    unsafe { libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()) };
    attached
}

/// setpriority(PRIO_PROCESS, 0, prio).
pub fn set_priority(prio: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers.
    cvt(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, prio) })?;
    Ok(())
}

/// access(W_OK): false on a read-only file system or without permission.
pub fn writable(path: &Path) -> bool {
    let Ok(c) = cstring(path) else { return false };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK) == 0 }
}

/// Whether the file system holding `path` is mounted read-only (statvfs ST_RDONLY).
pub fn readonly_fs(path: &Path) -> io::Result<bool> {
    let c = cstring(path)?;
    // SAFETY: an all-zero statvfs is a valid value of a plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` writable, both for the call.
    cvt(unsafe { libc::statvfs(c.as_ptr(), &mut st) })?;
    Ok(st.f_flag & libc::ST_RDONLY != 0)
}

/// User plus system CPU time of this process, in seconds.
pub fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value of a plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is writable for the call.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// One entry of getifaddrs(3).
#[derive(Debug, Clone)]
pub struct IfAddr {
    pub name: String,
    pub up: bool,
    pub loopback: bool,
    /// The address and its prefix length, for IPv4 and IPv6 entries.
    pub addr: Option<(IpAddr, u32)>,
}

/// Reads a sockaddr as an IP address, when it is IPv4 or IPv6.
///
/// # Safety
/// `sa` is null or points to a sockaddr whose family field tells its real size.
unsafe fn ip_of(sa: *const libc::sockaddr) -> Option<IpAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null and a sockaddr by the caller's contract.
    let family = c_int::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: the family says this is a sockaddr_in.
            let sin = unsafe { &*sa.cast::<libc::sockaddr_in>() };
            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this is a sockaddr_in6.
            let sin6 = unsafe { &*sa.cast::<libc::sockaddr_in6>() };
            Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    }
}

/// Every interface address (getifaddrs(3)): names, flags and IP addresses.
pub fn interfaces() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: `head` is a writable pointer; on success it owns a list freed below.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, not yet freed.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let flags = ifa.ifa_flags as c_int;
        // SAFETY: ifa_addr and ifa_netmask are null or sockaddrs owned by the list.
        let addr = unsafe { ip_of(ifa.ifa_addr) };
        // SAFETY: as above.
        let mask = unsafe { ip_of(ifa.ifa_netmask) };
        let prefix = match mask {
            Some(IpAddr::V4(m)) => u32::from(m).count_ones(),
            Some(IpAddr::V6(m)) => u128::from(m).count_ones(),
            None => match addr {
                Some(IpAddr::V4(_)) => 32,
                _ => 128,
            },
        };
        out.push(IfAddr {
            name,
            up: flags & libc::IFF_UP != 0,
            loopback: flags & libc::IFF_LOOPBACK != 0,
            addr: addr.map(|a| (a, prefix)),
        });
        cur = ifa.ifa_next;
    }
    // SAFETY: `head` came from getifaddrs and is freed once; nothing borrows it now.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

/// What a trapped signal does.
#[derive(Debug, Clone, Copy)]
pub enum Trap {
    /// Ignore it (SIG_IGN).
    Ignore,
    /// Exit with this status from the handler.
    Exit(i32),
}

static TRAP_EXIT: [AtomicI32; 65] = [const { AtomicI32::new(0) }; 65];

extern "C" fn exit_handler(sig: c_int) {
    let code = usize::try_from(sig)
        .ok()
        .and_then(|i| TRAP_EXIT.get(i))
        .map_or(0, |a| a.load(Ordering::Relaxed));
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// Installs a disposition for a signal.
pub fn trap(sig: c_int, action: Trap) -> io::Result<()> {
    let handler = match action {
        Trap::Ignore => libc::SIG_IGN,
        Trap::Exit(code) => {
            let slot = usize::try_from(sig)
                .ok()
                .and_then(|i| TRAP_EXIT.get(i))
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            slot.store(code, Ordering::Relaxed);
            exit_handler as extern "C" fn(c_int) as libc::sighandler_t
        }
    };
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = handler;
    // SAFETY: `sa` is a valid sigaction read by the call; the old action is not wanted.
    cvt(unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) })?;
    Ok(())
}

/// Sends a signal to this process.
pub fn raise(sig: c_int) -> io::Result<()> {
    // SAFETY: raise takes a plain integer.
    cvt(unsafe { libc::raise(sig) })?;
    Ok(())
}

const SIGNALS: &[(c_int, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGILL, "ILL"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGABRT, "ABRT"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGSYS, "SYS"),
];

/// A signal by name (`TERM`, `SIGTERM`) or number.
pub fn signal_number(name: &str) -> Option<c_int> {
    if let Ok(n) = name.parse::<c_int>() {
        return Some(n);
    }
    let bare = name.strip_prefix("SIG").unwrap_or(name);
    SIGNALS.iter().find(|(_, n)| *n == bare).map(|(s, _)| *s)
}

/// `SIGTERM`, or `signal N` for one not in the table.
pub fn signal_name(sig: c_int) -> String {
    SIGNALS
        .iter()
        .find(|(s, _)| *s == sig)
        .map_or_else(|| format!("signal {sig}"), |(_, n)| format!("SIG{n}"))
}

const ERRNOS: &[(c_int, &str)] = &[
    (libc::EPERM, "EPERM"),
    (libc::ENOENT, "ENOENT"),
    (libc::ESRCH, "ESRCH"),
    (libc::EINTR, "EINTR"),
    (libc::EIO, "EIO"),
    (libc::ENXIO, "ENXIO"),
    (libc::E2BIG, "E2BIG"),
    (libc::ENOEXEC, "ENOEXEC"),
    (libc::EBADF, "EBADF"),
    (libc::ECHILD, "ECHILD"),
    (libc::EAGAIN, "EAGAIN"),
    (libc::ENOMEM, "ENOMEM"),
    (libc::EACCES, "EACCES"),
    (libc::EFAULT, "EFAULT"),
    (libc::EBUSY, "EBUSY"),
    (libc::EEXIST, "EEXIST"),
    (libc::EXDEV, "EXDEV"),
    (libc::ENODEV, "ENODEV"),
    (libc::ENOTDIR, "ENOTDIR"),
    (libc::EISDIR, "EISDIR"),
    (libc::EINVAL, "EINVAL"),
    (libc::ENFILE, "ENFILE"),
    (libc::EMFILE, "EMFILE"),
    (libc::ENOTTY, "ENOTTY"),
    (libc::ETXTBSY, "ETXTBSY"),
    (libc::EFBIG, "EFBIG"),
    (libc::ENOSPC, "ENOSPC"),
    (libc::EROFS, "EROFS"),
    (libc::EMLINK, "EMLINK"),
    (libc::EPIPE, "EPIPE"),
    (libc::ERANGE, "ERANGE"),
    (libc::EDEADLK, "EDEADLK"),
    (libc::ENAMETOOLONG, "ENAMETOOLONG"),
    (libc::ENOSYS, "ENOSYS"),
    (libc::ENOTEMPTY, "ENOTEMPTY"),
    (libc::ELOOP, "ELOOP"),
    (libc::ENOTSOCK, "ENOTSOCK"),
    (libc::EPROTONOSUPPORT, "EPROTONOSUPPORT"),
    (libc::EOPNOTSUPP, "EOPNOTSUPP"),
    (libc::EAFNOSUPPORT, "EAFNOSUPPORT"),
    (libc::EADDRINUSE, "EADDRINUSE"),
    (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
    (libc::ENETDOWN, "ENETDOWN"),
    (libc::ENETUNREACH, "ENETUNREACH"),
    (libc::ECONNABORTED, "ECONNABORTED"),
    (libc::ECONNRESET, "ECONNRESET"),
    (libc::ENOTCONN, "ENOTCONN"),
    (libc::ETIMEDOUT, "ETIMEDOUT"),
    (libc::ECONNREFUSED, "ECONNREFUSED"),
    (libc::EHOSTUNREACH, "EHOSTUNREACH"),
    (libc::EALREADY, "EALREADY"),
    (libc::EINPROGRESS, "EINPROGRESS"),
    (libc::ENOTSUP, "ENOTSUP"),
];

/// The symbolic name of an errno value (`EPERM`), or `errno N`.
pub fn errno_name(errno: i32) -> String {
    ERRNOS
        .iter()
        .find(|(e, _)| *e == errno)
        .map_or_else(|| format!("errno {errno}"), |(_, n)| (*n).to_string())
}
