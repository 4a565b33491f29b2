//! Unpacking one layer (a tar stream) into a folder of its own, safely.
//!
//! A layer is untrusted input: its entry names may climb out (`../../etc/passwd`), it may
//! make a symlink to `/` and then write "through" it, whiteout `..`, or hard-link a host
//! file such as `/etc/shadow`. The rules, which together keep every write inside the
//! destination folder:
//! - names are normalised lexically: a leading `/` and `.` are dropped, any `..` is
//!   refused (OCI image-spec, "Changeset over filesystem");
//! - every write is made relative to a directory fd reached from the destination by
//!   opening one component at a time with `O_NOFOLLOW | O_DIRECTORY`, so a symlink (or
//!   a file) on the way is refused, never followed; the last component is made with
//!   `*at` calls that do not follow it either (`O_EXCL`, `AT_SYMLINK_NOFOLLOW`);
//! - a hard link must point at a file this same layer made earlier (the link target is
//!   resolved inside the layer the same way), never at anything else;
//! - character and block devices are skipped with a note: an environment's `/dev` is
//!   made by stockade, and a device file in a root is a way around its device rules.
//!
//! Whiteouts (`.wh.NAME`, and `.wh..wh..opq` for an opaque folder) are kept in overlayfs'
//! own form when the folder becomes an overlayfs lower ([`Whiteouts::Overlay`]: a 0:0
//! character device, the `trusted.overlay.opaque` xattr), or applied by deleting what
//! they hide when layers are flattened into one tree ([`Whiteouts::Apply`], for FreeBSD's
//! unionfs, which has no whiteout format of its own to import).
//!
//! Folder modes and times are set last, so a read-only folder can still be filled and
//! its mtime is not disturbed by the entries written into it.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::digest::{Digest, HashingReader};

/// The prefix of a whiteout name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The name that makes its folder opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";

/// How whiteouts are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// As overlayfs writes them (the folder is an overlayfs lower).
    Overlay,
    /// Applied: what a whiteout names is deleted (the folder is one flattened tree).
    Apply,
}

/// Why a layer cannot be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// An entry would write outside the layer's folder.
    #[error(
        "layer entry {entry:?} {why}: refused, the layer is hostile or broken (nothing was \
         written outside the store)"
    )]
    Escapes {
        /// The entry's name as the tar holds it.
        entry: String,
        /// How it escapes.
        why: String,
    },
    /// An entry of a kind a root cannot hold.
    #[error("layer entry {entry:?} is a {kind}, which stockade does not unpack")]
    Unsupported {
        /// The entry's name.
        entry: String,
        /// Its tar type.
        kind: String,
    },
    /// The tar stream itself is broken.
    #[error("the layer is not a readable tar stream: {0}")]
    Tar(#[source] io::Error),
    /// A file system call failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path inside the layer.
        path: PathBuf,
        /// The cause, with errno.
        source: io::Error,
    },
}

/// What unpacking found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// sha256 of the uncompressed tar stream: the layer's `diff_id`.
    pub diff_id: Option<Digest>,
    /// Entries skipped on purpose (device nodes), one sentence each.
    pub notes: Vec<String>,
}

trait At<T> {
    fn at(self, path: &Path) -> Result<T, UnpackError>;
}

impl<T> At<T> for Result<T, Errno> {
    fn at(self, path: &Path) -> Result<T, UnpackError> {
        self.map_err(|e| UnpackError::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })
    }
}

impl<T> At<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, UnpackError> {
        self.map_err(|source| UnpackError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Unpacks the uncompressed tar stream `tar` into `dest`, an empty folder the caller
/// made. Returns the stream's digest and the notes.
pub fn unpack(tar: impl Read, dest: &Path, whiteouts: Whiteouts) -> Result<Unpacked, UnpackError> {
    let root = rfs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .at(dest)?;
    let mut hashing = HashingReader::new(tar);
    let mut layer = Layer {
        root,
        whiteouts,
        made: HashSet::new(),
        dirs: Vec::new(),
        notes: Vec::new(),
        as_root: rustix::process::geteuid().is_root(),
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(UnpackError::Tar)? {
            let mut entry = entry.map_err(UnpackError::Tar)?;
            layer.entry(&mut entry)?;
        }
    }
    // The digest covers the whole stream, including the zero blocks after the last entry.
    io::copy(&mut hashing, &mut io::sink()).map_err(UnpackError::Tar)?;
    layer.finish_dirs()?;
    Ok(Unpacked {
        diff_id: Some(hashing.digest()),
        notes: layer.notes,
    })
}

/// A folder's mode, owner and times, applied after every entry is written.
struct DirMeta {
    path: PathBuf,
    mode: u32,
    owner: Option<(u32, u32)>,
    mtime: u64,
}

struct Layer {
    root: OwnedFd,
    whiteouts: Whiteouts,
    /// Paths this layer made (relative): hard-link targets must be among them, and an
    /// opaque folder in [`Whiteouts::Apply`] keeps only them.
    made: HashSet<PathBuf>,
    dirs: Vec<DirMeta>,
    notes: Vec<String>,
    as_root: bool,
}

/// `name` normalised inside the layer: no root, no `.`, and `..` refused.
pub fn inside(name: &Path, entry: &str) -> Result<PathBuf, UnpackError> {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(part) => out.push(part),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(UnpackError::Escapes {
                    entry: entry.to_string(),
                    why: "climbs out with `..`".into(),
                })
            }
        }
    }
    Ok(out)
}

fn errno_io(e: Errno) -> io::Error {
    e.into()
}

impl Layer {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let raw = entry.path().map_err(UnpackError::Tar)?.into_owned();
        let shown = raw.display().to_string();
        let rel = inside(&raw, &shown)?;
        let header = entry.header();
        let kind = header.entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let Some(name) = rel.file_name().map(OsStr::to_os_string) else {
            // The layer's own root ("./"): its folder is the destination.
            return Ok(());
        };
        let parent_rel = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let text = name.to_string_lossy();
        if let Some(hidden) = text.strip_prefix(WHITEOUT_PREFIX) {
            let parent = self.open_dir(&parent_rel, &shown, true)?;
            if text == OPAQUE_MARKER {
                return self.opaque(&parent, &parent_rel);
            }
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(UnpackError::Escapes {
                    entry: shown,
                    why: format!("whites out {hidden:?}, which is not a name in its folder"),
                });
            }
            return self.whiteout(&parent, &parent_rel, OsStr::new(hidden));
        }

        let mode = header.mode().map_err(UnpackError::Tar)? & 0o7777;
        let owner = match (header.uid(), header.gid()) {
            (Ok(u), Ok(g)) => u32::try_from(u).ok().zip(u32::try_from(g).ok()),
            _ => None,
        };
        let mtime = header.mtime().unwrap_or(0);
        let xattrs = pax_xattrs(entry)?;
        let parent = self.open_dir(&parent_rel, &shown, true)?;
        match kind {
            tar::EntryType::Directory => {
                match rfs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        remove(&parent, &name, &rel)?;
                        rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)).at(&rel)?;
                    }
                    Err(Errno::NOENT) => {
                        rfs::mkdirat(&parent, &name, Mode::from_raw_mode(0o700)).at(&rel)?
                    }
                    Err(e) => return Err(e).at(&rel),
                }
                let dir = open_nofollow_dir(&parent, &name).at(&rel)?;
                set_xattrs(&dir, &xattrs, &rel)?;
                self.dirs.push(DirMeta {
                    path: rel.clone(),
                    mode,
                    owner,
                    mtime,
                });
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                replace(&parent, &name, &rel)?;
                let fd = rfs::openat(
                    &parent,
                    &name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .at(&rel)?;
                let mut file = File::from(fd);
                io::copy(entry, &mut file).at(&rel)?;
                set_xattrs(&file, &xattrs, &rel)?;
                self.finish(&file, mode, owner, mtime, &rel)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(UnpackError::Tar)?
                    .ok_or_else(|| UnpackError::Escapes {
                        entry: shown.clone(),
                        why: "is a symlink without a target".into(),
                    })?
                    .into_owned();
                replace(&parent, &name, &rel)?;
                // The target is stored as written: it is only ever resolved inside the
                // environment, whose root it cannot leave; this code never follows it.
                rfs::symlinkat(&target, &parent, &name).at(&rel)?;
                self.chown_entry(&parent, &name, owner, &rel)?;
                rfs::utimensat(&parent, &name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .at(&rel)?;
            }
            tar::EntryType::Link => {
                let target_raw = entry
                    .link_name()
                    .map_err(UnpackError::Tar)?
                    .ok_or_else(|| UnpackError::Escapes {
                        entry: shown.clone(),
                        why: "is a hard link without a target".into(),
                    })?
                    .into_owned();
                let target = inside(&target_raw, &shown)?;
                if !self.made.contains(&target) {
                    return Err(UnpackError::Escapes {
                        entry: shown,
                        why: format!(
                            "hard-links {:?}, which this layer did not make",
                            target_raw.display().to_string()
                        ),
                    });
                }
                let tparent_rel = target.parent().unwrap_or(Path::new(""));
                let tname = target.file_name().unwrap_or_default();
                let tparent = self.open_dir(tparent_rel, &shown, false)?;
                let st = rfs::statat(&tparent, tname, AtFlags::SYMLINK_NOFOLLOW).at(&target)?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(UnpackError::Escapes {
                        entry: shown,
                        why: "hard-links a folder".into(),
                    });
                }
                replace(&parent, &name, &rel)?;
                rfs::linkat(&tparent, tname, &parent, &name, AtFlags::empty()).at(&rel)?;
            }
            tar::EntryType::Fifo => {
                replace(&parent, &name, &rel)?;
                rfs::mknodat(
                    &parent,
                    &name,
                    FileType::Fifo,
                    Mode::from_raw_mode(0o600),
                    0,
                )
                .at(&rel)?;
                // The FIFO was just made under this name (mknodat fails on an existing
                // one), so these *at calls name it and nothing else.
                self.chown_entry(&parent, &name, owner, &rel)?;
                rfs::chmodat(&parent, &name, file_mode(mode), AtFlags::empty()).at(&rel)?;
                rfs::utimensat(&parent, &name, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .at(&rel)?;
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                self.notes.push(format!(
                    "skipped device node /{}: an environment's /dev is made by stockade",
                    rel.display()
                ));
                return Ok(());
            }
            other => {
                return Err(UnpackError::Unsupported {
                    entry: shown,
                    kind: format!("{other:?}"),
                })
            }
        }
        self.made.insert(rel);
        Ok(())
    }

    /// Mode, owner and mtime of a file just written.
    fn finish(
        &self,
        fd: &impl AsFd,
        mode: u32,
        owner: Option<(u32, u32)>,
        mtime: u64,
        rel: &Path,
    ) -> Result<(), UnpackError> {
        // Owner first: chown clears setuid and setgid bits, so the mode comes after.
        if self.as_root {
            if let Some((u, g)) = owner {
                rfs::fchown(fd, Some(rfs::Uid::from_raw(u)), Some(rfs::Gid::from_raw(g)))
                    .at(rel)?;
            }
        }
        rfs::fchmod(fd, file_mode(mode)).at(rel)?;
        rfs::futimens(fd, &times(mtime)).at(rel)
    }

    /// Gives entry `name` of folder `parent` (just made by this layer, so the name is it)
    /// its owner, never following it; only when unpacking as root.
    fn chown_entry(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        owner: Option<(u32, u32)>,
        rel: &Path,
    ) -> Result<(), UnpackError> {
        let (true, Some((u, g))) = (self.as_root, owner) else {
            return Ok(());
        };
        rfs::chownat(
            parent,
            name,
            Some(rfs::Uid::from_raw(u)),
            Some(rfs::Gid::from_raw(g)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .at(rel)
    }

    /// Opens folder `rel` of the layer, one component at a time without following
    /// anything; with `create`, missing folders are made (mode 0755, as tar does).
    fn open_dir(&self, rel: &Path, entry: &str, create: bool) -> Result<OwnedFd, UnpackError> {
        let mut cur = rfs::openat(
            &self.root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .at(Path::new("."))?;
        let mut walked = PathBuf::new();
        for part in rel.components() {
            let Component::Normal(part) = part else {
                continue;
            };
            walked.push(part);
            let next = match open_nofollow_dir(&cur, part) {
                Err(Errno::NOENT) if create => {
                    rfs::mkdirat(&cur, part, Mode::from_raw_mode(0o755)).at(&walked)?;
                    open_nofollow_dir(&cur, part)
                }
                other => other,
            };
            cur = match next {
                Ok(fd) => fd,
                Err(Errno::LOOP | Errno::NOTDIR | Errno::MLINK) => {
                    return Err(UnpackError::Escapes {
                        entry: entry.to_string(),
                        why: format!(
                            "goes through /{}, which is a symlink or a file in the layer, \
                             not a folder",
                            walked.display()
                        ),
                    })
                }
                Err(e) => return Err(e).at(&walked),
            };
        }
        Ok(cur)
    }

    fn whiteout(
        &mut self,
        parent: &OwnedFd,
        parent_rel: &Path,
        hidden: &OsStr,
    ) -> Result<(), UnpackError> {
        let rel = parent_rel.join(hidden);
        match self.whiteouts {
            Whiteouts::Overlay => {
                replace(parent, hidden, &rel)?;
                rfs::mknodat(
                    parent,
                    hidden,
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rfs::makedev(0, 0),
                )
                .map_err(|e| UnpackError::Io {
                    path: rel.clone(),
                    source: io::Error::new(
                        errno_io(e).kind(),
                        format!(
                            "cannot make the overlayfs whiteout (a 0:0 device): {e}; \
                             importing images needs root"
                        ),
                    ),
                })?;
                self.made.insert(rel);
            }
            Whiteouts::Apply => {
                remove_tree(parent, hidden, &rel)?;
                self.made.retain(|p| !p.starts_with(&rel));
            }
        }
        Ok(())
    }

    fn opaque(&mut self, dir: &OwnedFd, rel: &Path) -> Result<(), UnpackError> {
        match self.whiteouts {
            Whiteouts::Overlay => set_opaque(dir, rel),
            Whiteouts::Apply => {
                // Everything in the folder that this layer did not make came from below.
                let names = list(dir, rel)?;
                for name in names {
                    let child = rel.join(&name);
                    if !self.made.contains(&child) {
                        remove_tree(dir, &name, &child)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        // Deepest first, so setting a parent's mtime is the last change below it.
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.path.components().count()));
        for d in dirs {
            let parent = self.open_dir(d.path.parent().unwrap_or(Path::new("")), "", false);
            let Ok(parent) = parent else { continue };
            let name = d.path.file_name().unwrap_or_default();
            // A later whiteout may have removed it.
            let fd = match open_nofollow_dir(&parent, name) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e).at(&d.path),
            };
            self.finish(&fd, d.mode, d.owner, d.mtime, &d.path)?;
        }
        Ok(())
    }
}

fn open_nofollow_dir(dir: &impl AsFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    rfs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A tar mode's permission bits as the OS's `mode_t` (u16 on FreeBSD).
#[allow(clippy::unnecessary_cast)]
fn file_mode(mode: u32) -> Mode {
    Mode::from_raw_mode((mode & 0o7777) as rfs::RawMode)
}

fn times(mtime: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(mtime).unwrap_or(0),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Makes room for a new non-folder entry: a file of the same name goes (a later entry
/// replaces an earlier one, as tar does); a folder is an error.
fn replace(parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), UnpackError> {
    match rfs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) => remove_tree(parent, name, rel),
        Err(e) => Err(e).at(rel),
    }
}

fn remove(parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), UnpackError> {
    replace(parent, name, rel)
}

/// Removes `name` below `parent`, folders recursively, without following symlinks.
fn remove_tree(parent: &OwnedFd, name: &OsStr, rel: &Path) -> Result<(), UnpackError> {
    match rfs::unlinkat(parent, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => return Ok(()),
        Err(Errno::ISDIR) => {}
        Err(e) => return Err(e).at(rel),
    }
    let dir = open_nofollow_dir(parent, name).at(rel)?;
    for child in list(&dir, rel)? {
        remove_tree(&dir, &child, &rel.join(&child))?;
    }
    drop(dir);
    rfs::unlinkat(parent, name, AtFlags::REMOVEDIR).at(rel)
}

fn list(dir: &OwnedFd, rel: &Path) -> Result<Vec<OsString>, UnpackError> {
    let mut names = Vec::new();
    for e in rfs::Dir::read_from(dir).at(rel)? {
        let e = e.at(rel)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(OsStr::from_bytes(n).to_os_string());
        }
    }
    Ok(names)
}

/// The `SCHILY.xattr.*` PAX records of an entry (how tar carries xattrs).
fn pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<Vec<(String, Vec<u8>)>, UnpackError> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(UnpackError::Tar)? {
        for ext in exts {
            let ext = ext.map_err(UnpackError::Tar)?;
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(target_os = "linux")]
fn set_xattrs(fd: &impl AsFd, xattrs: &[(String, Vec<u8>)], rel: &Path) -> Result<(), UnpackError> {
    for (name, value) in xattrs {
        // overlayfs' own xattrs in a layer would change how the stack is read: a layer
        // speaks through whiteout entries, never through them.
        if name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.") {
            continue;
        }
        match rfs::fsetxattr(fd, name.as_str(), value, rfs::XattrFlags::empty()) {
            // A file system without that namespace (or a non-root importer for
            // trusted.*) loses the attribute, as tar does.
            Ok(()) | Err(Errno::NOTSUP | Errno::PERM) => {}
            Err(e) => return Err(e).at(rel),
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_xattrs(
    _fd: &impl AsFd,
    _xattrs: &[(String, Vec<u8>)],
    _rel: &Path,
) -> Result<(), UnpackError> {
    // FreeBSD names extended attributes by namespace (extattr(2)), not by Linux's
    // prefixes; image layers carry Linux names, which have no meaning there.
    Ok(())
}

#[cfg(target_os = "linux")]
fn set_opaque(dir: &OwnedFd, rel: &Path) -> Result<(), UnpackError> {
    rfs::fsetxattr(
        dir,
        "trusted.overlay.opaque",
        b"y",
        rfs::XattrFlags::empty(),
    )
    .map_err(|e| UnpackError::Io {
        path: rel.to_path_buf(),
        source: io::Error::new(
            errno_io(e).kind(),
            format!(
                "cannot mark the folder opaque for overlayfs: {e}; importing images needs root"
            ),
        ),
    })
}

#[cfg(not(target_os = "linux"))]
fn set_opaque(_dir: &OwnedFd, _rel: &Path) -> Result<(), UnpackError> {
    unreachable_overlay()
}

#[cfg(not(target_os = "linux"))]
fn unreachable_overlay() -> Result<(), UnpackError> {
    Err(UnpackError::Unsupported {
        entry: OPAQUE_MARKER.into(),
        kind: "overlayfs opaque marker (overlayfs is Linux's; FreeBSD flattens layers)".into(),
    })
}
