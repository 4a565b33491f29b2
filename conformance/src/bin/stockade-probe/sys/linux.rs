//! Linux: mount(2), sethostname(2), ptrace(2), `FS_IOC_SETFLAGS`, statfs(2) magic
//! numbers, and what /proc tells (mountinfo, process list, capability and seccomp status).

use std::fs;
use std::io;
use std::path::Path;

use libc::c_int;

use super::{cstring, cvt};

pub const FD_DIR: &str = "/proc/self/fd";

pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
    cvt(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) })?;
    Ok(())
}

/// mount -t tmpfs tmpfs DIR.
pub fn mount_tmpfs(dir: &Path) -> io::Result<()> {
    let target = cstring(dir)?;
    // SAFETY: every string is NUL-terminated and outlives the call; data may be null.
    cvt(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    })?;
    Ok(())
}

pub fn unmount(dir: &Path) -> io::Result<()> {
    let target = cstring(dir)?;
    // SAFETY: `target` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })?;
    Ok(())
}

/// PTRACE_ATTACH to `pid`, wait for it to stop, PTRACE_DETACH.
pub fn ptrace_attach(pid: i32) -> io::Result<()> {
    // SAFETY: PTRACE_ATTACH reads no memory; addr and data are ignored.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_ATTACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    let mut status: c_int = 0;
    // SAFETY: `status` is writable for the call.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // SAFETY: PTRACE_DETACH with a null signal reads no memory.
    unsafe {
        libc::ptrace(
            libc::PTRACE_DETACH,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    Ok(())
}

/// FS_IMMUTABLE_FL from linux/fs.h (libc does not export it).
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

/// Sets or clears the immutable flag (chattr +i) through FS_IOC_SETFLAGS.
pub fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    let file = fs::File::open(path)?;
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut flags: libc::c_long = 0;
    // SAFETY: `fd` is open for the call (`file` lives to the end of this function) and
    // `flags` is a writable long, the argument FS_IOC_GETFLAGS expects.
    cvt(unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) })?;
    if on {
        flags |= FS_IMMUTABLE_FL;
    } else {
        flags &= !FS_IMMUTABLE_FL;
    }
    // SAFETY: as above; FS_IOC_SETFLAGS reads the long.
    cvt(unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags) })?;
    Ok(())
}

const FS_MAGIC: &[(i64, &str)] = &[
    (0x0102_1994, "tmpfs"),
    (0x9fa0, "proc"),
    (0x1cd1, "devpts"),
    (0x6265_6572, "sysfs"),
    (0x794c_7630, "overlay"),
    (0xef53, "ext4"),
    (0x5846_5342, "xfs"),
    (0x9123_683e, "btrfs"),
    (0x8584_58f6, "ramfs"),
    (0x7371_7368, "squashfs"),
    (0x6367_7270, "cgroup2"),
    (0x0027_e0eb, "cgroup"),
    (0x6969, "nfs"),
    (0x0102_1997, "9p"),
    (0xe0f5_e1e2, "erofs"),
    (0x6573_5546, "fuse"),
    (0x1373, "devtmpfs"),
];

/// The type of the file system holding `path`, from statfs's magic number.
pub fn fstype(path: &Path) -> io::Result<String> {
    let c = cstring(path)?;
    // SAFETY: an all-zero statfs is a valid value of a plain C struct.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` writable, both for the call.
    cvt(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    Ok(FS_MAGIC
        .iter()
        .find(|(m, _)| *m == magic)
        .map_or_else(|| format!("0x{magic:x}"), |(_, n)| (*n).to_string()))
}

/// One mount as the process sees it.
#[derive(Debug, Clone)]
pub struct MountEntry {
    pub target: String,
    pub fstype: String,
    pub readonly: bool,
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            let v = d.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's mounts, from /proc/self/mountinfo (None without /proc).
pub fn mounts() -> Option<Vec<MountEntry>> {
    let text = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if fields.len() < 6 || sep + 1 >= fields.len() {
            continue;
        }
        out.push(MountEntry {
            target: unescape(fields[4]),
            fstype: fields[sep + 1].to_string(),
            readonly: fields[5].split(',').any(|o| o == "ro"),
        });
    }
    Some(out)
}

/// The numeric folders of /proc: the processes this process can see.
pub fn processes() -> Option<Vec<i32>> {
    let entries = fs::read_dir("/proc").ok()?;
    let mut pids: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    Some(pids)
}

/// Capability sets and the no_new_privs and seccomp fields of /proc/self/status.
#[derive(Debug, Clone, Default)]
pub struct ProcStatus {
    pub cap_eff: Option<u64>,
    pub cap_prm: Option<u64>,
    pub cap_bnd: Option<u64>,
    pub no_new_privs: Option<u64>,
    pub seccomp: Option<u64>,
}

pub fn proc_status() -> Option<ProcStatus> {
    let text = fs::read_to_string("/proc/self/status").ok()?;
    let mut st = ProcStatus::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let hex = || u64::from_str_radix(value, 16).ok();
        match key {
            "CapEff" => st.cap_eff = hex(),
            "CapPrm" => st.cap_prm = hex(),
            "CapBnd" => st.cap_bnd = hex(),
            "NoNewPrivs" => st.no_new_privs = value.parse().ok(),
            "Seccomp" => st.seccomp = value.parse().ok(),
            _ => {}
        }
    }
    Some(st)
}
