//! FreeBSD: nmount(2), sethostname(3), ptrace(2) `PT_ATTACH`, chflags(2), statfs(2)
//! type names, getmntinfo(3), and the `kern.proc.proc` sysctl for the process list.

use std::ffi::CStr;
use std::io;
use std::path::Path;

use libc::c_int;

use super::{cstring, cvt};

pub const FD_DIR: &str = "/dev/fd";

pub fn sethostname(name: &str) -> io::Result<()> {
    let len =
        c_int::try_from(name.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), len) })?;
    Ok(())
}

/// nmount(2) with fstype=tmpfs at DIR.
pub fn mount_tmpfs(dir: &Path) -> io::Result<()> {
    let target = cstring(dir)?;
    let pairs: [&CStr; 4] = [c"fstype", c"tmpfs", c"fspath", target.as_c_str()];
    let mut iov: Vec<libc::iovec> = pairs
        .iter()
        .map(|s| libc::iovec {
            iov_base: s.as_ptr().cast_mut().cast(),
            iov_len: s.to_bytes_with_nul().len(),
        })
        .collect();
    let n = libc::c_uint::try_from(iov.len()).unwrap_or(0);
    // SAFETY: each iovec points at a NUL-terminated string that outlives the call;
    // nmount only reads them.
    cvt(unsafe { libc::nmount(iov.as_mut_ptr(), n, 0) })?;
    Ok(())
}

pub fn unmount(dir: &Path) -> io::Result<()> {
    let target = cstring(dir)?;
    // SAFETY: `target` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::unmount(target.as_ptr(), libc::MNT_FORCE) })?;
    Ok(())
}

/// PT_ATTACH to `pid`, wait for it to stop, PT_DETACH.
pub fn ptrace_attach(pid: i32) -> io::Result<()> {
    // SAFETY: PT_ATTACH reads no memory; addr and data are ignored.
    cvt(unsafe { libc::ptrace(libc::PT_ATTACH, pid, std::ptr::null_mut(), 0) })?;
    let mut status: c_int = 0;
    // SAFETY: `status` is writable for the call.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // SAFETY: PT_DETACH with addr 1 ("continue where stopped") and no signal.
    unsafe {
        libc::ptrace(
            libc::PT_DETACH,
            pid,
            std::ptr::without_provenance_mut::<libc::c_char>(1),
            0,
        )
    };
    Ok(())
}

/// Sets or clears the system immutable flag (chflags schg).
pub fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    let c = cstring(path)?;
    let flags = if on { libc::SF_IMMUTABLE } else { 0 };
    // SAFETY: `c` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::chflags(c.as_ptr(), flags) })?;
    Ok(())
}

fn statfs(path: &Path) -> io::Result<libc::statfs> {
    let c = cstring(path)?;
    // SAFETY: an all-zero statfs is a valid value of a plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` writable, both for the call.
    cvt(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    Ok(st)
}

fn c_chars(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The type of the file system holding `path` (statfs f_fstypename).
pub fn fstype(path: &Path) -> io::Result<String> {
    Ok(c_chars(&statfs(path)?.f_fstypename))
}

/// One mount as the process sees it.
#[derive(Debug, Clone)]
pub struct MountEntry {
    pub target: String,
    pub fstype: String,
    pub readonly: bool,
}

/// getmntinfo(3): the mounts a jailed process may see.
pub fn mounts() -> Option<Vec<MountEntry>> {
    let mut buf: *mut libc::statfs = std::ptr::null_mut();
    // SAFETY: `buf` is a writable pointer; getmntinfo points it at a buffer it owns.
    let n = unsafe { libc::getmntinfo(&mut buf, libc::MNT_NOWAIT) };
    if n <= 0 || buf.is_null() {
        return None;
    }
    let len = usize::try_from(n).ok()?;
    // SAFETY: getmntinfo returned `n` statfs entries at `buf`, valid until its next call.
    let entries = unsafe { std::slice::from_raw_parts(buf, len) };
    Some(
        entries
            .iter()
            .map(|st| MountEntry {
                target: c_chars(&st.f_mntonname),
                fstype: c_chars(&st.f_fstypename),
                readonly: st.f_flags & (libc::MNT_RDONLY as u64) != 0,
            })
            .collect(),
    )
}

/// The PIDs of every process this process can see (a jail sees only its own).
pub fn processes() -> Option<Vec<i32>> {
    let mib = [libc::CTL_KERN, libc::KERN_PROC, libc::KERN_PROC_PROC, 0];
    let mut size: libc::size_t = 0;
    // SAFETY: a null buffer asks for the size only; `mib` and `size` outlive the call.
    let ret = unsafe {
        libc::sysctl(
            mib.as_ptr(),
            3,
            std::ptr::null_mut(),
            &mut size,
            std::ptr::null(),
            0,
        )
    };
    if ret != 0 {
        return None;
    }
    // Room for processes started between the two calls.
    size += size / 4 + 4096;
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` holds `size` writable bytes; the kernel writes at most `size`.
    let ret = unsafe {
        libc::sysctl(
            mib.as_ptr(),
            3,
            buf.as_mut_ptr().cast(),
            &mut size,
            std::ptr::null(),
            0,
        )
    };
    if ret != 0 {
        return None;
    }
    buf.truncate(size);
    let pid_at = std::mem::offset_of!(libc::kinfo_proc, ki_pid);
    let mut pids = Vec::new();
    let mut off = 0;
    // Each record starts with its own size (ki_structsize), so the stride is read, not
    // assumed: the struct grew between FreeBSD releases.
    while off + pid_at + 4 <= buf.len() {
        let word = |at: usize| i32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let stride = usize::try_from(word(off)).unwrap_or(0);
        if stride == 0 {
            break;
        }
        pids.push(word(off + pid_at));
        off += stride;
    }
    pids.sort_unstable();
    Some(pids)
}

/// Linux's /proc/self/status fields; FreeBSD has none of them.
#[derive(Debug, Clone, Default)]
pub struct ProcStatus {
    pub cap_eff: Option<u64>,
    pub cap_prm: Option<u64>,
    pub cap_bnd: Option<u64>,
    pub no_new_privs: Option<u64>,
    pub seccomp: Option<u64>,
}

pub fn proc_status() -> Option<ProcStatus> {
    None
}
