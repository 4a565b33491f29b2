//! The raw system calls the apply side needs and nix does not wrap safely: `fork(2)`,
//! `clone3(2)`, `close_range(2)`, the `SIOCSIFFLAGS` `ioctl(2)` of netdevice(7),
//! `sigaction(2)` for the foreground signal relay, `bpf(2)` (`BPF_PROG_LOAD`,
//! `BPF_PROG_ATTACH`) for the v2 device policy, and `getxattr(2)` for systemd's delegation
//! mark.
//!
//! This is the only module of the crate that may use `unsafe`. Each function is one system
//! call with its return code turned into an [`io::Error`] that keeps errno; the SAFETY
//! comment of each block states the invariant the call relies on.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::unistd::Pid;

/// Turns a `-1`-on-error return code into an `io::Result`, keeping errno.
fn ret(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `CLONE_INTO_CGROUP` (linux/sched.h, Linux 5.7) as the u64 clone3 takes.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of a fork-like call this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The original process; the new one has this PID.
    Parent(Pid),
    /// The new process.
    Child,
}

/// `fork(2)` through glibc, whose atfork handlers leave malloc usable in the child even
/// when the parent has other threads (the test harness does).
pub fn fork() -> io::Result<Forked> {
    // SAFETY: the child only runs stockade's own code, which never takes a lock another
    // thread of the parent could hold except malloc's (reset by glibc's fork handlers), and
    // always ends in `_exit` or `execve`: it never returns into the caller's frames that
    // other threads share state with.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// `clone3(2)` without a new stack: returns twice like `fork`, with the child in new
/// namespaces (`flags` are `CLONE_NEW*` bits), optionally born inside the cgroup v2
/// folder `cgroup` (`CLONE_INTO_CGROUP`) and optionally a sibling of the caller
/// (`CLONE_PARENT`: the caller's parent waits for it).
///
/// Must only be called from a single-threaded process (a process stockade just forked, or
/// one [`single_threaded`] vouches for): a raw clone skips glibc's fork handlers.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>, sibling: bool) -> io::Result<Forked> {
    let mut flags = flags;
    if cgroup.is_some() {
        flags |= CLONE_INTO_CGROUP;
    }
    if sibling {
        flags |= libc::CLONE_PARENT as u64;
    }
    // SAFETY: `clone_args` is plain old data; all-zero is its documented default.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = flags;
    // With CLONE_PARENT the kernel requires 0 and uses the caller's own exit signal
    // (SIGCHLD: the caller was forked).
    args.exit_signal = if sibling { 0 } else { libc::SIGCHLD as u64 };
    args.cgroup = cgroup.map_or(0, |fd| fd.as_raw_fd() as u64);
    // SAFETY: `args` lives across the call and its size is passed; with `stack == 0` the
    // kernel duplicates the caller's stack like fork(2), so both returns continue here.
    // The caller is single-threaded, so no lock is held by a thread the child lacks.
    let rc = ret(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    })?;
    Ok(if rc == 0 {
        Forked::Child
    } else {
        Forked::Parent(Pid::from_raw(rc as i32))
    })
}

/// Whether this process has exactly one thread (`Threads:` of /proc/self/status); `false`
/// when that cannot be read. A process that starts no thread of its own stays so.
pub fn single_threaded() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .is_some_and(|n| n.trim() == "1")
    })
}

/// Marks every fd from `first` up close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`), so none but the ones below `first` reach the next program.
pub fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: close_range only changes fd flags; no memory is passed.
    ret(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

/// Ends the process at once with `code`, running no destructors or atexit handlers (the
/// only correct way out of a forked child that shares its parent's buffers).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no user-space state.
    unsafe { libc::_exit(code) }
}

/// Brings an interface up (`SIOCSIFFLAGS` with `IFF_UP`), as `ip link set lo up` does.
pub fn interface_up(name: &CStr) -> io::Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    // SAFETY: ifreq is plain old data; zeroed is a valid empty request.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    let bytes = name.to_bytes();
    if bytes.len() >= req.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // The request number's type differs between glibc (c_ulong) and musl (c_int).
    // SAFETY: `req` is a valid ifreq naming the interface, alive across the call; `sock`
    // is an open socket.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut req) };
    ret(rc as libc::c_long)?;
    // SAFETY: after SIOCGIFFLAGS the union holds the flags.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; the request now carries the new flags.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS as _, &req) };
    ret(rc as libc::c_long).map(drop)
}

/// Opens a pidfd for `pid` (`pidfd_open(2)`): readable once the process exits, and never
/// confused with a later process that reuses the PID.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers; on success it returns a new fd we own.
    let fd = ret(unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) })?;
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Write ends of the pipes the relay handler wakes (one per foreground `run`/`exec` in
/// this process; 0 = free slot).
static RELAY_PIPES: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];

extern "C" fn relay_handler(signal: libc::c_int) {
    let byte = signal as u8;
    for slot in &RELAY_PIPES {
        let fd = slot.load(Ordering::Relaxed);
        if fd > 0 {
            // SAFETY: write(2) is async-signal-safe; `byte` lives across the call; a stale
            // fd at worst fails with EBADF, which is ignored.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
    }
}

/// Registers a pipe's write end to be woken with the signal number of every `signals`
/// delivered to this process, installing the relay handler for them.
pub fn relay_signals(write_end: BorrowedFd<'_>, signals: &[libc::c_int]) -> io::Result<usize> {
    let raw = write_end.as_raw_fd();
    let slot = RELAY_PIPES
        .iter()
        .position(|s| {
            s.compare_exchange(0, raw, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBUSY))?;
    for &signal in signals {
        // SAFETY: sigaction is plain old data; zeroed means empty mask and no flags.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = relay_handler as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is a valid sigaction alive across the call; the handler only
        // does async-signal-safe writes.
        ret(unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } as libc::c_long)?;
    }
    Ok(slot)
}

/// Unregisters a relay slot from [`relay_signals`]. The handler stays installed (other
/// runs may share it); with no slot left it just drops the signal, which is what a
/// foreground stockade that is already returning wants.
pub fn unrelay_signals(slot: usize) {
    if let Some(s) = RELAY_PIPES.get(slot) {
        s.store(0, Ordering::SeqCst);
    }
}

/// Restores `SIGPIPE` to its default action. Rust's runtime ignores it in stockade, and
/// an ignored signal stays ignored across execve(2): without this every command in an
/// environment would get EPIPE instead of dying quietly (`yes | head`).
pub fn default_sigpipe() -> io::Result<()> {
    // SAFETY: SIG_DFL installs no handler, so no code runs in signal context; the call
    // only changes this process's disposition of SIGPIPE.
    unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigDfl,
        )
    }
    .map(drop)
    .map_err(io::Error::from)
}

/// `MOUNT_ATTR_*` bits of `mount_setattr(2)` (linux/mount.h; not in the libc crate).
pub mod mount_attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// Ignore setuid/setgid bits.
    pub const NOSUID: u64 = 0x2;
    /// No device access.
    pub const NODEV: u64 = 0x4;
    /// No execution.
    pub const NOEXEC: u64 = 0x8;
}

/// The `struct mount_attr` of linux/mount.h, first version (32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Adds `attr_set` ([`mount_attr`] bits) to the mount `fd` is the root of (an `O_PATH` fd
/// opened after the mount was made), and to every mount below it when `recursive`
/// (`mount_setattr(2)` with `AT_EMPTY_PATH`, Linux 5.12). Attributes already set stay set.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr_set: u64) -> io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: the path is a static NUL-terminated empty string, `attr` lives across the
    // call and its size is passed; `fd` is a valid open fd for the call's duration.
    ret(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// Makes standard stream `target` (0, 1 or 2) a copy of `fd` (`dup2(2)`).
pub fn dup_onto_stdio(fd: BorrowedFd<'_>, target: i32) -> io::Result<()> {
    if !(0..3).contains(&target) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: `fd` is open for the call; `target` is a standard stream number, which every
    // process owns by convention, so replacing it invalidates no Rust-owned fd.
    ret(unsafe { libc::dup2(fd.as_raw_fd(), target) } as libc::c_long).map(drop)
}

/// One eBPF instruction (`struct bpf_insn`, linux/bpf.h): opcode, destination and source
/// registers (4 bits each, destination low), a signed offset and a signed immediate.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    /// The opcode.
    pub code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    pub regs: u8,
    /// Jump offset or memory offset.
    pub off: i16,
    /// Immediate value.
    pub imm: i32,
}

/// `BPF_PROG_LOAD` (linux/bpf.h `enum bpf_cmd`).
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_ATTACH`.
const BPF_PROG_ATTACH: libc::c_long = 8;

/// The `BPF_PROG_LOAD` member of `union bpf_attr`, up to `expected_attach_type` (72
/// bytes, no implicit padding); the kernel zero-fills the rest of its newer versions.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` member of `union bpf_attr`.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Loads an eBPF program (`bpf(2)` `BPF_PROG_LOAD`) of `prog_type` expecting
/// `attach_type`. With `log` non-empty the verifier writes its log there (NUL-terminated);
/// a log too small for it makes the load fail with `ENOSPC`.
pub fn bpf_prog_load(
    prog_type: u32,
    attach_type: u32,
    insns: &[BpfInsn],
    license: &CStr,
    name: &str,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let mut prog_name = [0u8; 16];
    for (dst, src) in prog_name.iter_mut().take(15).zip(name.bytes()) {
        *dst = src;
    }
    let attr = ProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: u32::try_from(log.len()).unwrap_or(u32::MAX),
        log_buf: if log.is_empty() {
            0
        } else {
            log.as_mut_ptr() as u64
        },
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: attach_type,
    };
    // SAFETY: `attr` lives across the call and its size is passed; the pointers in it
    // (`insns`, `license` — NUL-terminated —, `log`) are valid for the lengths given for
    // the call's duration, and the kernel writes only within `log`'s `log_size` bytes.
    let fd = ret(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    })?;
    // SAFETY: on success BPF_PROG_LOAD returns a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a loaded program to the cgroup `target` (`bpf(2)` `BPF_PROG_ATTACH`).
pub fn bpf_prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
) -> io::Result<()> {
    let attr = ProgAttachAttr {
        target_fd: target.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    // SAFETY: `attr` lives across the call and its size is passed; both fds are open for
    // the call's duration (borrowed).
    ret(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    })
    .map(drop)
}

/// The value of extended attribute `name` of the open file `fd` (fgetxattr(2)), `None`
/// as [`getxattr`] gives it.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let mut buf = vec![0u8; 256];
    // SAFETY: `fd` is a live descriptor borrowed for the call; `name` is NUL-terminated
    // and lives across it; `buf` is valid for `buf.len()` bytes, the most the kernel
    // writes.
    let rc = unsafe {
        libc::fgetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    xattr_value(rc, buf)
}

/// What a getxattr call that filled `buf` returned (`rc`): the value, or `None` for no
/// such attribute (`ENODATA`) or none on that file system (`ENOTSUP`).
fn xattr_value(rc: libc::ssize_t, mut buf: Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    match ret(rc as libc::c_long) {
        Ok(n) => {
            buf.truncate(n as usize);
            Ok(Some(buf))
        }
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENODATA | libc::ENOTSUP)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The value of extended attribute `name` of `path` (`getxattr(2)`), `None` when the file
/// has no such attribute (`ENODATA`) or its file system none at all (`ENOTSUP`).
pub fn getxattr(path: &std::path::Path, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; 256];
    // SAFETY: `path` and `name` are NUL-terminated and live across the call; `buf` is
    // valid for `buf.len()` bytes, the most the kernel writes.
    let rc = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    xattr_value(rc, buf)
}
