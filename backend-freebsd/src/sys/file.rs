//! Files in a root stockade does not own (the jail's `/etc/resolv.conf`), reached from the
//! jail path one component at a time with openat(2) `O_NOFOLLOW | O_DIRECTORY`, so a
//! symbolic link in the root (`etc -> /etc`) can never make stockade read, write or
//! remove a file of the host's own tree. The final component is never followed either:
//! fstatat(2) with `AT_SYMLINK_NOFOLLOW`, open(2) with `O_CREAT | O_EXCL | O_NOFOLLOW`,
//! unlinkat(2) (which does not follow a link).

use std::ffi::OsStr;
use std::fs;
use std::io::{self, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstatat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::kernel::FileKind;

/// The folder holding `path` (below `root`), opened without following a link, and the
/// file's name in it.
fn parent_below<'a>(path: &'a Path, root: &Path) -> io::Result<(OwnedFd, &'a OsStr)> {
    let rel = path.strip_prefix(root).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not below {}", path.display(), root.display()),
        )
    })?;
    let mut names = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(name) => names.push(name),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} has a `..` or `.` component", path.display()),
                ))
            }
        }
    }
    let Some(file) = names.pop() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names the root itself", path.display()),
        ));
    };
    // The jail path is stockade's own folder: opening it normally is fine.
    let mut dir: OwnedFd = fs::File::open(root)?.into();
    for name in names {
        dir = openat(
            &dir,
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
    }
    Ok((dir, file))
}

/// What `path` is, reached from `root` without following a link.
pub fn kind_below(path: &Path, root: &Path) -> io::Result<FileKind> {
    let (dir, name) = match parent_below(path, root) {
        Ok(found) => found,
        // O_NOFOLLOW on a link is ELOOP (FreeBSD: EMLINK as well), O_DIRECTORY on a file
        // ENOTDIR: something on the way is not a real folder.
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ELOOP | libc::EMLINK | libc::ENOTDIR)
            ) =>
        {
            return Ok(FileKind::Other(
                "reached through a symbolic link or a non-folder",
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(FileKind::Missing),
        Err(e) => return Err(e),
    };
    let stat = match fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => stat,
        Err(Errno::ENOENT) => return Ok(FileKind::Missing),
        Err(e) => return Err(e.into()),
    };
    let kind = SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits());
    Ok(if kind == SFlag::S_IFREG {
        FileKind::Regular
    } else if kind == SFlag::S_IFLNK {
        FileKind::Other("a symbolic link")
    } else if kind == SFlag::S_IFDIR {
        FileKind::Other("a folder")
    } else {
        FileKind::Other("not a regular file")
    })
}

/// Creates `path` below `root` with `text`, mode 0644; removes it again if writing fails.
pub fn create_below(path: &Path, root: &Path, text: &str) -> io::Result<()> {
    let (dir, name) = parent_below(path, root)?;
    let fd = openat(
        &dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )?;
    let mut file = fs::File::from(fd);
    if let Err(e) = file.write_all(text.as_bytes()) {
        // All or nothing (the Kernel contract): the half-written file goes.
        let _ = unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    Ok(())
}

/// Removes the file `path` below `root`.
pub fn remove_below(path: &Path, root: &Path) -> io::Result<()> {
    let (dir, name) = parent_below(path, root)?;
    unlinkat(&dir, name, UnlinkatFlags::NoRemoveDir)?;
    Ok(())
}

/// Writes a new file in a folder stockade owns (O_CREAT|O_EXCL|O_NOFOLLOW, 0644).
pub fn write_new(path: &Path, text: &str) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    if let Err(e) = file.write_all(text.as_bytes()) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}
