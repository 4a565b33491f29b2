//! What a copy-on-write environment changed relative to its base, read from its overlayfs
//! upper folder (`stockade diff`; overlayfs is documented in the kernel's
//! Documentation/filesystems/overlayfs.rst).
//!
//! The upper folder holds exactly the environment's changes, in the form overlayfs writes
//! them:
//! - a new or changed file, link or folder is there as itself (a changed file is copied up
//!   whole: the plan mounts with `metacopy=off`);
//! - a deleted file or folder is a **whiteout**: a character device with device number
//!   0:0 under the same name;
//! - a folder that was deleted and made again is **opaque** (`trusted.overlay.opaque` is
//!   `y`): nothing below it in the lower folders shows through any more.
//!
//! The walk compares each entry with what the lower folders show at the same path (the
//! first lower that has it, top first, honouring whiteouts and opaque folders in the
//! lowers themselves, so a kept `root.changes` folder can serve as a layer of another
//! environment) and reports:
//! - `added`: not in any lower;
//! - `modified`: a file, link or special file that is also in a lower (overlayfs copies a
//!   file up only to change it), a folder whose mode or owner changed, or an opaque folder
//!   that replaced a lower folder;
//! - `deleted`: a whiteout of something a lower has, and every entry of a lower folder
//!   that an opaque folder hides.
//!
//! Folders overlayfs only copied up to hold a change below them are not reported: their
//! own change is the one below. The walk reads files' metadata and folder listings, never
//! contents. Whether a folder is opaque is asked of a function the caller passes (the
//! Linux runtime reads the xattr), so the walk itself is plain file-system code, tested
//! with fixture folders.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::os::fd::{AsFd as _, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

use serde::{Deserialize, Serialize};

/// The kind of one change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The path is new.
    Added,
    /// The path existed in the base and was changed.
    Modified,
    /// The path existed in the base and is gone inside the environment.
    Deleted,
}

impl ChangeKind {
    /// The one-letter code printed by `stockade diff`: `A`, `M` or `D`.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Modified => 'M',
            ChangeKind::Deleted => 'D',
        }
    }
}

/// One changed path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Change {
    /// The path inside the environment, absolute (`/etc/motd`).
    pub path: PathBuf,
    /// What happened to it.
    pub kind: ChangeKind,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.letter(), self.path.display())
    }
}

/// Where an environment's writable layer is and what it lies on: written to the state
/// folder at create (`layer.json`) so that `diff` needs neither the spec nor a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerInfo {
    /// The overlayfs upper folder.
    pub upper: PathBuf,
    /// The overlayfs work folder.
    pub work: PathBuf,
    /// The lower folders, top first (`/` for a `root.host` view).
    pub lowers: Vec<PathBuf>,
    /// True when the layer is `root.changes` and survives delete.
    pub kept: bool,
    /// Mount points on the overlay (see `LayerPlan::mount_points`): made by stockade, not
    /// changes of the environment's own.
    #[serde(default)]
    pub mount_points: Vec<PathBuf>,
}

/// The file holding [`LayerInfo`] in an environment's state folder.
pub const LAYER_INFO_FILE: &str = "layer.json";

/// Why the changes cannot be listed.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The environment has no writable layer.
    #[error(
        "environment {0:?} has no copy-on-write root, so nothing records its changes: set \
         root.overlay = true in its spec"
    )]
    NoLayer(String),
    /// The environment's state could not be read (no such environment, say).
    #[error(transparent)]
    State(#[from] stockade_core::state::StateError),
    /// The platform keeps its layer in a form `diff` cannot read.
    #[error("{0}")]
    Unsupported(String),
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause, with errno.
        source: io::Error,
    },
    /// `layer.json` is not what create wrote.
    #[error("{}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

trait WithPath<T> {
    fn at(self, path: &Path) -> Result<T, DiffError>;
}

impl<T> WithPath<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, DiffError> {
        self.map_err(|source| DiffError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

impl LayerInfo {
    /// Reads the record of environment `name` from its state folder `state_dir`.
    pub fn read(state_dir: &Path, name: &str) -> Result<LayerInfo, DiffError> {
        let path = state_dir.join(LAYER_INFO_FILE);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DiffError::NoLayer(name.to_string()))
            }
            Err(e) => return Err(e).at(&path),
        };
        serde_json::from_slice(&text).map_err(|source| DiffError::Corrupt { path, source })
    }

    /// The changes recorded in this layer (see [`walk`]).
    pub fn changes(&self, opaque: OpaqueFn<'_>) -> Result<Vec<Change>, DiffError> {
        walk(&self.upper, &self.lowers, &self.mount_points, opaque)
    }
}

/// True for an overlayfs whiteout: a character device numbered 0:0.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Asks whether a folder is opaque (`trusted.overlay.opaque` = `y`): given its path (for
/// messages) and the folder itself, opened without following a symlink (read this, not
/// the path, which the environment may have replaced meanwhile).
pub type OpaqueFn<'a> = &'a dyn Fn(&Path, BorrowedFd<'_>) -> io::Result<bool>;

/// Lists what the upper folder `upper` changed relative to `lowers` (top first), sorted
/// by path. `opaque` tells whether a folder (in the upper or a lower) is opaque. New
/// entries at `mount_points` (paths inside the environment), and new folders on the way
/// to them, are stockade's mount points, not changes, and are left out.
///
/// The upper folder is written by the environment, possibly while this runs: each folder
/// is opened once and everything below it is reached from a descriptor, never following
/// a symlink ([`crate::beneath`]). A symlink is reported as the entry it is (added or
/// modified) and never followed; an entry replaced by a symlink during the walk fails it
/// (`ELOOP` or `ENOTDIR`) rather than lead it elsewhere.
pub fn walk(
    upper: &Path,
    lowers: &[PathBuf],
    mount_points: &[PathBuf],
    opaque: OpaqueFn<'_>,
) -> Result<Vec<Change>, DiffError> {
    let lowers = lowers
        .iter()
        .map(|l| Tree::open(l))
        .collect::<Result<Vec<_>, _>>()?;
    let mut w = Walker {
        upper: Tree::open(upper)?,
        lowers,
        mount_points,
        opaque,
        changes: Vec::new(),
    };
    w.dir(Path::new(""), false)?;
    w.changes.sort();
    Ok(w.changes)
}

/// A folder tree held open; every path below it is resolved from its descriptor without
/// following symlinks.
struct Tree<'a> {
    path: &'a Path,
    fd: OwnedFd,
}

/// What the walk needs to know of an entry (fstatat(2) with `AT_SYMLINK_NOFOLLOW`).
#[derive(Debug, Clone, Copy)]
struct Stat {
    mode: libc::mode_t,
    rdev: libc::dev_t,
    uid: libc::uid_t,
    gid: libc::gid_t,
}

impl Stat {
    fn kind(&self) -> SFlag {
        SFlag::from_bits_truncate(self.mode & SFlag::S_IFMT.bits())
    }

    fn is_dir(&self) -> bool {
        self.kind() == SFlag::S_IFDIR
    }

    /// An overlayfs whiteout: a character device numbered 0:0.
    fn is_whiteout(&self) -> bool {
        self.kind() == SFlag::S_IFCHR && self.rdev == 0
    }

    fn same_owner_and_mode(&self, other: &Stat) -> bool {
        self.mode == other.mode && self.uid == other.uid && self.gid == other.gid
    }
}

impl<'a> Tree<'a> {
    fn open(path: &'a Path) -> Result<Tree<'a>, DiffError> {
        // The folder itself is named by stockade (the layer) or the admin (a base): its
        // own path is trusted; what lies below it is not.
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)
        .at(path)?;
        Ok(Tree { path, fd })
    }

    fn shown(&self, rel: &Path) -> PathBuf {
        self.path.join(rel)
    }

    fn folder(&self, rel: &Path) -> io::Result<OwnedFd> {
        crate::beneath::open(self.fd.as_fd(), rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
    }

    /// The entry at `rel`, not following a symlink there or on the way.
    fn stat(&self, rel: &Path) -> io::Result<Stat> {
        let st = match (rel.parent(), rel.file_name()) {
            (Some(parent), Some(name)) => {
                let dir = self.folder(parent)?;
                nix::sys::stat::fstatat(&dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?
            }
            _ => nix::sys::stat::fstat(&self.fd)?,
        };
        Ok(Stat {
            mode: st.st_mode,
            rdev: st.st_rdev,
            uid: st.st_uid,
            gid: st.st_gid,
        })
    }

    /// The names in folder `rel`, sorted, so the walk and its output are deterministic.
    fn names(&self, rel: &Path) -> io::Result<BTreeSet<OsString>> {
        let mut dir = nix::dir::Dir::from_fd(self.folder(rel)?)?;
        let mut names = BTreeSet::new();
        for entry in dir.iter() {
            let name = entry?.file_name().to_bytes().to_vec();
            if name != b"." && name != b".." {
                names.insert(OsString::from_vec(name));
            }
        }
        Ok(names)
    }

    fn opaque(&self, rel: &Path, opaque: OpaqueFn<'_>) -> io::Result<bool> {
        let dir = self.folder(rel)?;
        opaque(&self.shown(rel), dir.as_fd())
    }
}

struct Walker<'a> {
    upper: Tree<'a>,
    lowers: Vec<Tree<'a>>,
    mount_points: &'a [PathBuf],
    opaque: OpaqueFn<'a>,
    changes: Vec<Change>,
}

impl Walker<'_> {
    fn push(&mut self, rel: &Path, kind: ChangeKind) {
        let path = Path::new("/").join(rel);
        if kind == ChangeKind::Added && self.mount_points.iter().any(|m| m.starts_with(&path)) {
            return;
        }
        self.changes.push(Change { path, kind });
    }

    /// Walks the upper folder at `rel`; `fresh` when nothing below shows through (a new
    /// or opaque folder), so every entry is new.
    fn dir(&mut self, rel: &Path, fresh: bool) -> Result<(), DiffError> {
        let names = self.upper.names(rel).at(&self.upper.shown(rel))?;
        for name in names {
            let rel = rel.join(&name);
            let meta = self.upper.stat(&rel).at(&self.upper.shown(&rel))?;
            let lower = if fresh { None } else { self.lower(&rel)? };
            if meta.is_whiteout() {
                // A whiteout over nothing is redundant: the kernel leaves one only where
                // a lower had the name, but a lower may have changed since.
                if lower.is_some() {
                    self.push(&rel, ChangeKind::Deleted);
                }
                continue;
            }
            if !meta.is_dir() {
                // Files, symlinks (never followed) and special files alike.
                let kind = if lower.is_some() {
                    ChangeKind::Modified
                } else {
                    ChangeKind::Added
                };
                self.push(&rel, kind);
                continue;
            }
            match lower {
                Some((_, ref lmeta)) if lmeta.is_dir() => {
                    let shown = self.upper.shown(&rel);
                    if self.upper.opaque(&rel, self.opaque).at(&shown)? {
                        self.push(&rel, ChangeKind::Modified);
                        let kept = self.upper.names(&rel).at(&shown)?;
                        for gone in self.lower_names(&rel)? {
                            if !kept.contains(&gone) {
                                self.push(&rel.join(gone), ChangeKind::Deleted);
                            }
                        }
                        self.dir(&rel, true)?;
                    } else {
                        if !meta.same_owner_and_mode(lmeta) {
                            self.push(&rel, ChangeKind::Modified);
                        }
                        self.dir(&rel, false)?;
                    }
                }
                Some(_) => {
                    // A file of the base replaced by a folder.
                    self.push(&rel, ChangeKind::Modified);
                    self.dir(&rel, true)?;
                }
                None => {
                    self.push(&rel, ChangeKind::Added);
                    self.dir(&rel, true)?;
                }
            }
        }
        Ok(())
    }

    /// What the lower folders show at `rel`: the first lower (top first) that has it,
    /// unless a whiteout hides it or an opaque folder on the way stops the search.
    fn lower(&self, rel: &Path) -> Result<Option<(usize, Stat)>, DiffError> {
        for (i, lower) in self.lowers.iter().enumerate() {
            match lower.stat(rel) {
                Ok(m) if m.is_whiteout() => return Ok(None),
                Ok(m) => return Ok(Some((i, m))),
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(e).at(&lower.shown(rel)),
            }
            if self.stops_at(lower, rel)? {
                return Ok(None);
            }
        }
        Ok(None)
    }

    /// True when a folder on the way to `rel` in `lower` is opaque or a whiteout, or is
    /// not a folder at all (a file, a symlink): lowers below it do not show through there.
    fn stops_at(&self, lower: &Tree<'_>, rel: &Path) -> Result<bool, DiffError> {
        for ancestor in rel.ancestors().skip(1) {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            match lower.stat(ancestor) {
                Ok(m) if m.is_whiteout() => return Ok(true),
                Ok(m) if m.is_dir() => {
                    if lower
                        .opaque(ancestor, self.opaque)
                        .at(&lower.shown(ancestor))?
                    {
                        return Ok(true);
                    }
                }
                Ok(_) => return Ok(true),
                Err(_) => {}
            }
        }
        Ok(false)
    }

    /// The names the lowers show in folder `rel`, merged as overlayfs merges them.
    fn lower_names(&self, rel: &Path) -> Result<BTreeSet<OsString>, DiffError> {
        let mut seen = BTreeSet::new();
        let mut hidden = BTreeSet::new();
        for lower in &self.lowers {
            let meta = match lower.stat(rel) {
                Ok(m) => m,
                Err(_) => {
                    if self.stops_at(lower, rel)? {
                        break;
                    }
                    continue;
                }
            };
            if !meta.is_dir() {
                break;
            }
            let path = lower.shown(rel);
            for name in lower.names(rel).at(&path)? {
                if seen.contains(&name) || hidden.contains(&name) {
                    continue;
                }
                let m = lower.stat(&rel.join(&name)).at(&path.join(&name))?;
                if m.is_whiteout() {
                    hidden.insert(name);
                } else {
                    seen.insert(name);
                }
            }
            if lower.opaque(rel, self.opaque).at(&path)? {
                break;
            }
        }
        Ok(seen)
    }
}

/// ENOENT or ENOTDIR: nothing at that path; ELOOP: a symlink on the way, which overlayfs
/// does not merge through either.
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || e.raw_os_error() == Some(libc::ELOOP)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, PermissionsExt as _};
    use std::process::Command;

    use super::*;

    fn file(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    fn dir(path: &Path) {
        fs::create_dir_all(path).unwrap();
    }

    /// A whiteout as overlayfs makes it: `mknod c 0 0` (needs CAP_MKNOD).
    fn whiteout(path: &Path) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let ok = Command::new("mknod")
            .arg(path)
            .args(["c", "0", "0"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "mknod {} c 0 0", path.display());
    }

    fn opaque_set(paths: &[PathBuf]) -> impl Fn(&Path, BorrowedFd<'_>) -> io::Result<bool> + '_ {
        move |p: &Path, _| Ok(paths.iter().any(|o| o == p))
    }

    fn lines(changes: &[Change]) -> Vec<String> {
        changes.iter().map(ToString::to_string).collect()
    }

    /// A base like a small root: /etc, /bin, /var/log, /opt.
    fn base(root: &Path) {
        file(&root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
        file(&root.join("etc/hosts"), "127.0.0.1 localhost\n");
        file(&root.join("bin/busybox"), "elf");
        symlink("busybox", root.join("bin/sh")).unwrap();
        symlink("busybox", root.join("bin/vi")).unwrap();
        file(&root.join("var/log/a"), "");
        file(&root.join("var/log/b"), "");
        file(&root.join("home/u/notes"), "");
        dir(&root.join("opt"));
    }

    #[test]
    fn files_folders_and_opaque_folders_are_classified() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        base(&lower);
        // What overlayfs leaves after: editing /etc/passwd, creating /etc/new.conf,
        // `rm -r /var/log; mkdir /var/log; touch /var/log/c`, `mkdir -p /srv/www`,
        // `chmod 700 /opt`, replacing the /bin/sh link.
        file(&upper.join("etc/passwd"), "root:x:0:0::/root:/bin/ash\n");
        file(&upper.join("etc/new.conf"), "x=1\n");
        file(&upper.join("var/log/c"), "");
        file(&upper.join("srv/www/index.html"), "<p>hi</p>");
        dir(&upper.join("opt"));
        fs::set_permissions(upper.join("opt"), fs::Permissions::from_mode(0o700)).unwrap();
        dir(&upper.join("bin"));
        symlink("/usr/bin/dash", upper.join("bin/sh")).unwrap();
        let opaque = [upper.join("var/log")];
        // Mount points stockade made: /out (new), /data/in (new, in a new folder).
        dir(&upper.join("out"));
        dir(&upper.join("data/in"));
        let mounts = [PathBuf::from("/out"), PathBuf::from("/data/in")];
        let changes = walk(&upper, &[lower], &mounts, &opaque_set(&opaque)).unwrap();
        assert_eq!(
            lines(&changes),
            [
                "M /bin/sh",
                "A /etc/new.conf",
                "M /etc/passwd",
                "M /opt",
                "A /srv",
                "A /srv/www",
                "A /srv/www/index.html",
                "M /var/log",
                "D /var/log/a",
                "D /var/log/b",
                "A /var/log/c",
            ]
        );
        // Copied-up parents (/etc, /bin, /var) are not changes of their own.
        assert!(!changes.iter().any(|c| c.path == Path::new("/etc")));
    }

    #[test]
    fn symlinks_planted_in_the_upper_are_reported_as_links_and_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        base(&lower);
        // Outside both trees, standing for the host's /etc.
        let host = tmp.path().join("host-etc");
        file(&host.join("shadow"), "secret");
        file(&host.join("sub/deep"), "secret");
        // A new link to the host folder; a lower folder replaced by a link to it; a link
        // where a lower folder with content was (the walk must not list through it).
        dir(&upper.join("var"));
        symlink(&host, upper.join("escape")).unwrap();
        symlink(&host, upper.join("home")).unwrap();
        symlink("/etc", upper.join("var/log")).unwrap();
        let changes = walk(&upper, &[lower], &[], &opaque_set(&[])).unwrap();
        assert_eq!(lines(&changes), ["A /escape", "M /home", "M /var/log"]);
        assert!(
            !changes
                .iter()
                .any(|c| c.path.ends_with("shadow") || c.path.ends_with("deep")),
            "{changes:?}"
        );
    }

    #[test]
    fn a_folder_of_the_upper_swapped_for_a_symlink_is_not_walked_through() {
        // What a racing environment could do between the walk's listing and its descent:
        // every lookup below the upper goes through the held descriptor, and a symlink on
        // the way fails it instead of leading it out.
        let tmp = tempfile::tempdir().unwrap();
        let upper = tmp.path().join("upper");
        let host = tmp.path().join("host-etc");
        file(&host.join("shadow"), "secret");
        dir(&upper);
        symlink(&host, upper.join("d")).unwrap();
        let tree = Tree::open(&upper).unwrap();
        // (O_DIRECTORY | O_NOFOLLOW on the link itself: ENOTDIR or ELOOP by kernel path.)
        let e = tree.names(Path::new("d")).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{e}"
        );
        let e = tree.stat(Path::new("d/shadow")).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{e}"
        );
        // The link itself is seen as what it is.
        let st = tree.stat(Path::new("d")).unwrap();
        assert!(!st.is_dir() && !st.is_whiteout());
        assert_eq!(st.kind(), SFlag::S_IFLNK);
    }

    #[test]
    fn an_empty_upper_has_no_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        base(&lower);
        dir(&upper);
        assert!(walk(&upper, &[lower], &[], &opaque_set(&[]))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn the_top_lower_that_has_a_path_decides() {
        let tmp = tempfile::tempdir().unwrap();
        let (top, base_dir, upper) = (
            tmp.path().join("top"),
            tmp.path().join("base"),
            tmp.path().join("upper"),
        );
        base(&base_dir);
        file(&top.join("etc/role"), "web\n");
        file(&top.join("var/log/only-in-top"), "");
        file(&upper.join("etc/role"), "db\n");
        file(&upper.join("etc/hosts"), "::1 localhost\n");
        file(&upper.join("var/log/x"), "");
        // /var/log is opaque in the top layer: the base's a and b do not show through.
        let opaque = [upper.join("var/log"), top.join("var/log")];
        let changes = walk(&upper, &[top, base_dir], &[], &opaque_set(&opaque)).unwrap();
        assert_eq!(
            lines(&changes),
            [
                "M /etc/hosts",
                "M /etc/role",
                "M /var/log",
                "D /var/log/only-in-top",
                "A /var/log/x",
            ]
        );
    }

    #[test]
    #[ignore = "needs root (mknod of whiteouts)"]
    fn whiteouts_are_deletions_of_what_a_lower_has() {
        let tmp = tempfile::tempdir().unwrap();
        let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
        base(&lower);
        whiteout(&upper.join("bin/vi"));
        whiteout(&upper.join("home"));
        whiteout(&upper.join("etc/never-was"));
        let changes = walk(&upper, &[lower], &[], &opaque_set(&[])).unwrap();
        assert_eq!(lines(&changes), ["D /bin/vi", "D /home"]);
    }

    #[test]
    #[ignore = "needs root (mknod of whiteouts)"]
    fn a_whiteout_in_a_lower_hides_the_lowers_below() {
        let tmp = tempfile::tempdir().unwrap();
        let (top, base_dir, upper) = (
            tmp.path().join("top"),
            tmp.path().join("base"),
            tmp.path().join("upper"),
        );
        base(&base_dir);
        whiteout(&top.join("etc/hosts"));
        whiteout(&top.join("home"));
        // Made again after the top layer deleted it: new, not modified.
        file(&upper.join("etc/hosts"), "10.0.0.1 gw\n");
        file(&upper.join("home/v/notes"), "");
        let changes = walk(&upper, &[top, base_dir], &[], &opaque_set(&[])).unwrap();
        assert_eq!(
            lines(&changes),
            ["A /etc/hosts", "A /home", "A /home/v", "A /home/v/notes"]
        );
    }

    #[test]
    fn layer_info_round_trips_and_its_absence_is_explained() {
        let tmp = tempfile::tempdir().unwrap();
        let err = LayerInfo::read(tmp.path(), "web").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment \"web\" has no copy-on-write root, so nothing records its changes: \
             set root.overlay = true in its spec"
        );
        let info = LayerInfo {
            upper: "/run/stockade/web/layer/upper".into(),
            work: "/run/stockade/web/layer/work".into(),
            lowers: vec!["/srv/base".into()],
            kept: false,
            mount_points: vec!["/proc".into(), "/dev".into()],
        };
        fs::write(
            tmp.path().join(LAYER_INFO_FILE),
            serde_json::to_vec(&info).unwrap(),
        )
        .unwrap();
        assert_eq!(LayerInfo::read(tmp.path(), "web").unwrap(), info);
        let json = serde_json::to_value(Change {
            path: "/etc/motd".into(),
            kind: ChangeKind::Deleted,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"path": "/etc/motd", "kind": "deleted"})
        );
    }
}
