//! Process identity from procfs (proc(5)): a PID's start time in `/proc/PID/stat`, so that
//! a PID recorded in state.json is never confused with a later process that reuses it; and
//! the first process's sysctl writes, kept below `/proc/sys`.

use std::fs;
use std::io;
use std::path::Path;

/// The start time of `pid` (field 22 of `/proc/PID/stat`, clock ticks since boot), read
/// under `proc_root` (`/proc` on a host). `Ok(None)` when no such process exists.
pub fn start_time_in(proc_root: &Path, pid: i32) -> io::Result<Option<u64>> {
    let path = proc_root.join(pid.to_string()).join("stat");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(parse_start_time(&text))
}

/// The start time of `pid` on this host.
pub fn start_time(pid: i32) -> io::Result<Option<u64>> {
    start_time_in(Path::new("/proc"), pid)
}

/// The parent PID of `pid` (field 4 of its stat line), `None` when it is gone.
pub fn parent(pid: i32) -> Option<i32> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_parent(&text)
}

fn parse_parent(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Field 22 of a stat line. The command name (field 2) is in parentheses and may hold
/// spaces and ')', so fields are counted from the last ')'.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ')' come field 3 (state) onwards: field 22 is the 20th of these.
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        // A zombie or dead process is no longer running anything.
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// True when `pid` is a live process that started at `start_time` (not a zombie, not a
/// recycled PID).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    matches!(self::start_time(pid), Ok(Some(t)) if t == start_time)
}

/// Writes a sysctl file below `/proc/sys` (CVE-2025-52881: a key is the owner's text, so
/// `..` or a symlink must not carry the write to another procfs file such as
/// `/proc/sysrq-trigger`): opened with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`
/// from `/proc/sys`, and written only if the file is on a procfs.
pub fn write_sysctl(path: &Path, value: &str) -> io::Result<()> {
    use std::io::Write as _;
    use std::os::fd::AsFd as _;
    let rel = path
        .strip_prefix("/proc/sys")
        .map_err(|_| io::Error::other("the key names a file outside /proc/sys: refused"))?;
    let base = nix::fcntl::open(
        "/proc/sys",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let how = nix::fcntl::OpenHow::new()
        .flags(nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC)
        .resolve(
            nix::fcntl::ResolveFlag::RESOLVE_BENEATH | nix::fcntl::ResolveFlag::RESOLVE_NO_SYMLINKS,
        );
    let fd = nix::fcntl::openat2(base.as_fd(), rel, how).map_err(|e| {
        if e == nix::errno::Errno::EXDEV || e == nix::errno::Errno::ELOOP {
            io::Error::other("the key leads outside /proc/sys (.. or a symbolic link): refused")
        } else {
            io::Error::from(e)
        }
    })?;
    if nix::sys::statfs::fstatfs(&fd)?.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(io::Error::other("not a procfs file: refused"));
    }
    std::fs::File::from(fd).write_all(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time_after_odd_comm() {
        let line = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(parse_start_time(line), Some(987654));
        let zombie = "42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 0 0";
        assert_eq!(parse_start_time(zombie), None);
        assert_eq!(parse_parent(line), Some(1));
        assert_eq!(parse_parent("42 (sh) S 17 42 42 0"), Some(17));
        assert_eq!(parse_parent("42 (sh)"), None);
    }

    #[test]
    fn this_process_is_alive() {
        let me = std::process::id() as i32;
        let t = start_time(me).unwrap().unwrap();
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
    }

    #[test]
    fn fixture_root() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("7")).unwrap();
        fs::write(
            tmp.path().join("7/stat"),
            "7 (sh) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0\n",
        )
        .unwrap();
        assert_eq!(start_time_in(tmp.path(), 7).unwrap(), Some(555));
        assert_eq!(start_time_in(tmp.path(), 8).unwrap(), None);
    }
}
