//! Opening a path below a folder without following any symlink, for trees the
//! environment's owner writes (the upper layer `diff` walks): openat2(2) with
//! `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` on Linux 5.6 and later, otherwise (an older
//! kernel, FreeBSD) a walk one component at a time with openat(2) and `O_NOFOLLOW`, which
//! refuses a symlink at every step just the same. `..` is refused by both (openat2 with
//! `EXDEV` when it would climb out, the walk always), so a path can never leave the
//! folder, whatever is renamed or replaced while it is being resolved: every step is
//! relative to a descriptor already held, never to a path looked up again.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Opens `rel` (relative; empty means `base` itself) below `base` with `flags`
/// (`O_CLOEXEC` and `O_NOFOLLOW` are added), following no symlink on the way or at the
/// end: a symlink anywhere gives `ELOOP`, a path leaving `base` `EXDEV`.
pub fn open(base: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let flags = flags | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    match openat2(base, rel, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => walk(base, rel, flags),
        other => other,
    }
}

#[cfg(target_os = "linux")]
fn openat2(base: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    use nix::fcntl::{OpenHow, ResolveFlag};
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
    nix::fcntl::openat2(base, rel, how).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn openat2(_: BorrowedFd<'_>, _: &Path, _: OFlag) -> io::Result<OwnedFd> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// The fallback: each folder on the way opened with `O_DIRECTORY | O_NOFOLLOW` from the
/// previous one, the last component with `flags`.
fn walk(base: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> io::Result<OwnedFd> {
    let mut names: Vec<&OsStr> = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => names.push(n),
            Component::CurDir => {}
            _ => return Err(io::Error::from_raw_os_error(libc::EXDEV)),
        }
    }
    let Some((last, folders)) = names.split_last() else {
        return nix::fcntl::openat(base, ".", flags, Mode::empty()).map_err(io::Error::from);
    };
    let mut here: Option<OwnedFd> = None;
    for name in folders {
        let from = here.as_ref().map_or(base, |f| f.as_fd());
        let next = nix::fcntl::openat(
            from,
            *name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        here = Some(next);
    }
    let from = here.as_ref().map_or(base, |f| f.as_fd());
    nix::fcntl::openat(from, *last, flags, Mode::empty()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    fn dir_fd(path: &Path) -> OwnedFd {
        nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap()
    }

    #[test]
    fn symlinks_and_dotdot_are_refused_on_both_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        fs::create_dir_all(base.join("a/b")).unwrap();
        fs::write(base.join("a/b/f"), "x").unwrap();
        symlink("/etc", base.join("a/etc")).unwrap();
        symlink("b", base.join("a/alias")).unwrap();
        let fd = dir_fd(&base);
        let ro = OFlag::O_RDONLY;
        fn fallback(b: BorrowedFd<'_>, r: &Path, f: OFlag) -> io::Result<OwnedFd> {
            walk(b, r, f | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC)
        }
        type Opener = fn(BorrowedFd<'_>, &Path, OFlag) -> io::Result<OwnedFd>;
        let openers: [Opener; 2] = [open, fallback];
        for opener in openers {
            assert!(opener(fd.as_fd(), Path::new("a/b/f"), ro).is_ok());
            assert!(opener(fd.as_fd(), Path::new(""), ro).is_ok());
            for bad in ["a/etc", "a/etc/passwd", "a/alias/f", "../base/a/b/f"] {
                let e = opener(fd.as_fd(), Path::new(bad), ro).unwrap_err();
                assert!(
                    matches!(
                        e.raw_os_error(),
                        Some(libc::ELOOP | libc::EXDEV | libc::ENOTDIR)
                    ),
                    "{bad}: {e}"
                );
            }
        }
    }
}
