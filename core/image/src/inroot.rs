//! Opening a file of an image layout or an extracted archive without leaving it: the
//! layout is input too, and a symlink in it (`blobs/sha256/x -> /etc/shadow`) must not
//! pull a host file into the store.

use std::fs::File;
use std::io;
use std::path::Path;

use rustix::fs::{Mode, OFlags};

/// Opens `rel` (a path inside `root`, as the layout names it) for reading.
#[cfg(target_os = "linux")]
pub fn open(root: &Path, rel: &str) -> io::Result<File> {
    use rustix::fs::ResolveFlags;
    let dir = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // RESOLVE_IN_ROOT: symlinks and `..` resolve as if `root` were `/` (docker-save
    // archives link shared layers to each other this way), never outside it.
    let fd = rustix::fs::openat2(
        &dir,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    )?;
    Ok(File::from(fd))
}

/// Opens `rel` (a path inside `root`) for reading, refusing any symlink on the way.
#[cfg(not(target_os = "linux"))]
pub fn open(root: &Path, rel: &str) -> io::Result<File> {
    let mut cur = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let parts: Vec<&str> = rel
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{rel:?} climbs out with `..`"),
            ));
        }
        let last = i + 1 == parts.len();
        let flags = if last {
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        } else {
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
        };
        cur = rustix::fs::openat(&cur, *part, flags, Mode::empty())?;
    }
    Ok(File::from(cur))
}
