//! The host side of a copy-on-write root (overlayfs, Documentation/filesystems/overlayfs.rst):
//! checks, and the upper and work folders, made before the environment's process starts.
//!
//! The overlay mount itself is a step of the mount plan and happens inside the
//! environment's mount namespace (see `rootfs`), so it vanishes with the namespace and
//! the host has nothing to unmount. Its upper and work folders are plain folders on the
//! host, in the state folder (removed with it on delete) or in `root.changes` (kept), so
//! that `stockade diff` can read the upper from the host at any time.
//!
//! Before anything is made, [`prepare`] fails with what to do when:
//! - the kernel has no overlayfs (`/proc/filesystems`);
//! - a lower folder is, or lies in, the upper or work folder of an overlay in use: one of
//!   the host's own overlay mounts (`/proc/self/mountinfo`), or the layer of another live
//!   stockade environment (whose overlay lives in that environment's namespace, invisible
//!   to the host's mount table). overlayfs only warns about this with `index=off`, and
//!   then "accessing files from both mounts will result in undefined behavior";
//! - `root.changes` is the layer of another live environment, or on a file system that
//!   cannot hold an overlayfs upper.
//!
//! When the state folder's file system cannot hold an upper (overlayfs itself — a state
//! folder inside a container —, NFS, FUSE, FAT, ...), the layer goes to a tmpfs mounted
//! on `<state>/layer` on the host instead, recorded before it is made and unmounted on
//! delete, and [`prepare`] says so on stderr and in the state's notes: the changes then
//! live in memory.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use stockade_core::state::{Entry, Resource, StateError, StateStore};

use super::{proc, sys};
use crate::diff::{Change, DiffError, LayerInfo, LAYER_INFO_FILE};
use crate::plan::mount::LayerPlan;

/// What stops a copy-on-write root from being made.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The kernel has no overlayfs.
    #[error(
        "this kernel has no overlayfs (\"overlay\" is not in /proc/filesystems), which \
         root.overlay needs: load it with `modprobe overlay` (CONFIG_OVERLAY_FS), or remove \
         root.overlay"
    )]
    NoOverlayfs,
    /// A lower folder is an upper or work folder of an overlay in use.
    #[error(
        "the lower folder {} of the copy-on-write root is in use as the writable layer {} \
         of {user}: a layer still being written cannot be a read-only one; stop that \
         first, or use a copy of the folder",
        lower.display(),
        upper.display()
    )]
    LowerInUse {
        /// The lower folder.
        lower: PathBuf,
        /// The upper (or work) folder it is or lies in.
        upper: PathBuf,
        /// Whose: `environment "web"` or `the overlay mounted on /x`.
        user: String,
    },
    /// `root.changes` is the writable layer of another live environment.
    #[error(
        "root.changes {} is the writable layer of environment {env:?}, which is still \
         running: one environment at a time may write a layer; `stockade delete {env}` first",
        dir.display()
    )]
    ChangesInUse {
        /// The folder.
        dir: PathBuf,
        /// The environment using it.
        env: String,
    },
    /// `root.changes` is on a file system overlayfs cannot write its upper to.
    #[error(
        "root.changes {} is on {fs}, which cannot hold an overlayfs upper layer: choose a \
         folder on a local file system (ext4, xfs, btrfs, tmpfs)",
        dir.display()
    )]
    ChangesFs {
        /// The folder.
        dir: PathBuf,
        /// The file system's name.
        fs: &'static str,
    },
    /// Recording the tmpfs mount failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A file operation or system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause, with errno.
        source: io::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> LayerError {
    let what = what.into();
    move |source| LayerError::Io { what, source }
}

/// Checks the host and makes the writable layer's folders (see the module). `entry` is
/// the environment being created; a tmpfs mount is recorded in it before it is made.
pub fn prepare(layer: &LayerPlan, entry: &mut Entry, store: &StateStore) -> Result<(), LayerError> {
    let filesystems =
        fs::read_to_string("/proc/filesystems").map_err(io_err("read /proc/filesystems"))?;
    if !overlay_supported(&filesystems) {
        return Err(LayerError::NoOverlayfs);
    }
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").map_err(io_err("read /proc/self/mountinfo"))?;
    let mut in_use = host_overlay_layers(&mountinfo);
    in_use.extend(live_layers(store, &entry.state.name));
    check(layer, &in_use)?;

    if layer.kept {
        fs::create_dir_all(&layer.dir).map_err(io_err(format!("mkdir {}", layer.dir.display())))?;
        if let Some(fs) = unfit_fs(&layer.dir)? {
            return Err(LayerError::ChangesFs {
                dir: layer.dir.clone(),
                fs,
            });
        }
    } else {
        fs::create_dir_all(&layer.dir).map_err(io_err(format!("mkdir {}", layer.dir.display())))?;
        if let Some(fs) = unfit_fs(&layer.dir)? {
            entry.record(Resource::Mount {
                path: layer.dir.clone(),
            })?;
            nix::mount::mount(
                Some("tmpfs"),
                &layer.dir,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("mode=0700"),
            )
            .map_err(|e| LayerError::Io {
                what: format!("mount tmpfs on {}", layer.dir.display()),
                source: e.into(),
            })?;
            let note = format!(
                "root.overlay: the state folder {} is on {fs}, which cannot hold an \
                 overlayfs upper layer, so the changes go to a tmpfs at {} instead (they \
                 use memory, and go on delete as usual)",
                entry.dir().display(),
                layer.dir.display()
            );
            eprintln!("stockade: warning: {note}");
            entry.state.notes.push(note);
            entry.save()?;
        }
    }
    fs::set_permissions(&layer.dir, fs::Permissions::from_mode(0o700))
        .map_err(io_err(format!("chmod {}", layer.dir.display())))?;

    // Folders after `dir`: upper and work, then (root.host) upper/<f> and work/<f>. A new
    // upper folder takes the mode and owner of the lower folder it covers, because the
    // merged folder shows the upper's: `/` must not turn into root's 0700.
    let top = layer.lowers.first().map(PathBuf::as_path);
    for folder in layer.folders.iter().skip(1) {
        let made = match fs::create_dir(folder) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io_err(format!("mkdir {}", folder.display()))(e)),
        };
        let covers = match (folder.strip_prefix(&layer.upper), top) {
            (Ok(rel), Some(top)) if made => Some(top.join(rel)),
            _ => None,
        };
        if let Some(lower) = covers {
            copy_owner_and_mode(&lower, folder)?;
        }
    }

    let info = LayerInfo {
        upper: layer.upper.clone(),
        work: layer.work.clone(),
        lowers: layer.lowers.clone(),
        kept: layer.kept,
        mount_points: layer.mount_points.clone(),
    };
    let path = entry.dir().join(LAYER_INFO_FILE);
    let json = serde_json::to_vec_pretty(&info).map_err(|e| LayerError::Io {
        what: format!("serialise {}", path.display()),
        source: io::Error::other(e),
    })?;
    fs::write(&path, json).map_err(io_err(format!("write {}", path.display())))
}

fn copy_owner_and_mode(from: &Path, to: &Path) -> Result<(), LayerError> {
    let meta = match fs::metadata(from) {
        Ok(m) => m,
        // The lower has nothing there (a host folder that vanished): keep the default.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(format!("stat {}", from.display()))(e)),
    };
    std::os::unix::fs::chown(to, Some(meta.uid()), Some(meta.gid()))
        .map_err(io_err(format!("chown {}", to.display())))?;
    fs::set_permissions(to, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err(format!("chmod {}", to.display())))
}

/// True when `/proc/filesystems` lists overlayfs.
pub fn overlay_supported(filesystems: &str) -> bool {
    filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"))
}

/// A writable layer in use: its upper or work folder, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUse {
    /// The upper or work folder.
    pub dir: PathBuf,
    /// `environment "web"`, or `the overlay mounted on /x`.
    pub user: String,
    /// The environment's name, when it is a stockade environment.
    pub env: Option<String>,
}

/// The upper and work folders of the overlay mounts in a mountinfo text (proc(5)).
pub fn host_overlay_layers(mountinfo: &str) -> Vec<InUse> {
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mut right = right.split(' ');
        if right.next() != Some("overlay") {
            continue;
        }
        let options = right.nth(1).unwrap_or("");
        let target = left.split(' ').nth(4).map(unescape).unwrap_or_default();
        for option in split_options(options) {
            for key in ["upperdir=", "workdir="] {
                if let Some(dir) = option.strip_prefix(key) {
                    found.push(InUse {
                        dir: PathBuf::from(dir),
                        user: format!("the overlay mounted on {target}"),
                        env: None,
                    });
                }
            }
        }
    }
    found
}

/// Mount options split at commas, escapes resolved: the kernel shows a comma, space,
/// tab, newline or backslash inside an option as an octal escape (`\054` for ','), so
/// every raw comma separates options.
fn split_options(options: &str) -> Vec<String> {
    options.split(',').map(unescape).collect()
}

/// Resolves mountinfo's octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let Some(d) = octal {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The layers of the other environments in `store` whose process is alive.
fn live_layers(store: &StateStore, me: &str) -> Vec<InUse> {
    let mut found = Vec::new();
    for name in store.names().unwrap_or_default() {
        if name == me {
            continue;
        }
        let Ok(state) = store.peek(&name) else {
            continue;
        };
        let alive = match (state.pid, state.pid_start_time) {
            (Some(pid), Some(t)) => proc::is_alive(pid, t),
            _ => false,
        };
        let Ok(info) = LayerInfo::read(&store.dir(&name), &name) else {
            continue;
        };
        if !alive {
            continue;
        }
        for dir in [info.upper, info.work] {
            found.push(InUse {
                dir,
                user: format!("environment {name:?}"),
                env: Some(name.clone()),
            });
        }
    }
    found
}

/// Refuses a layer whose lowers are in use as writable layers, or whose kept upper is
/// another live environment's.
pub fn check(layer: &LayerPlan, in_use: &[InUse]) -> Result<(), LayerError> {
    for used in in_use {
        if layer.kept && (used.dir == layer.upper || used.dir == layer.work) {
            if let Some(env) = &used.env {
                return Err(LayerError::ChangesInUse {
                    dir: layer.dir.clone(),
                    env: env.clone(),
                });
            }
        }
        for lower in &layer.lowers {
            // `/` stands for the host folders of a root.host view, each checked by the
            // kernel's own layer checks; every upper lies below `/`.
            let overlaps = lower.starts_with(&used.dir)
                || (lower != Path::new("/") && used.dir.starts_with(lower));
            if overlaps {
                return Err(LayerError::LowerInUse {
                    lower: lower.clone(),
                    upper: used.dir.clone(),
                    user: used.user.clone(),
                });
            }
        }
    }
    Ok(())
}

/// File systems that cannot be an overlayfs upper (no `trusted.*` xattrs, no whiteouts, or
/// overlayfs itself), by statfs(2) magic number.
const UNFIT_FS: &[(i64, &str)] = &[
    (0x794c_7630, "overlayfs"),
    (0x6969, "NFS"),
    (0xff53_4d42, "CIFS"),
    (0xfe53_4d42, "SMB2"),
    (0x6573_5546, "FUSE"),
    (0x4d44, "FAT"),
    (0x2011_bab0, "exFAT"),
    (0x0102_1997, "9p"),
    (0x5346_544e, "NTFS"),
    (0xf15f, "eCryptfs"),
];

/// The name of the file system at `dir` when it cannot hold an overlayfs upper.
fn unfit_fs(dir: &Path) -> Result<Option<&'static str>, LayerError> {
    let st = nix::sys::statfs::statfs(dir).map_err(|e| LayerError::Io {
        what: format!("statfs {}", dir.display()),
        source: e.into(),
    })?;
    #[allow(clippy::unnecessary_cast)] // fs_type_t is i64 or u32 depending on the libc
    let magic = st.filesystem_type().0 as i64;
    Ok(unfit_name(magic))
}

fn unfit_name(magic: i64) -> Option<&'static str> {
    UNFIT_FS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// `trusted.overlay.opaque` = `y`: the folder hides what the lowers have at its path.
/// Read from the folder `dir` as the walk opened it (fgetxattr(2)), not from its path.
pub fn is_opaque(_path: &Path, dir: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    Ok(sys::fgetxattr(dir, c"trusted.overlay.opaque")?.as_deref() == Some(b"y"))
}

/// What environment `name` changed relative to its base (`stockade diff`).
pub fn changes(store: &StateStore, name: &str) -> Result<Vec<Change>, DiffError> {
    // Refuses a name that is no environment before looking for its layer.
    store.peek(name)?;
    LayerInfo::read(&store.dir(name), name)?.changes(&is_opaque)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(lowers: &[&str], kept: bool) -> LayerPlan {
        let dir = PathBuf::from(if kept {
            "/keep/web"
        } else {
            "/run/stockade/web/layer"
        });
        LayerPlan {
            upper: dir.join("upper"),
            work: dir.join("work"),
            folders: vec![dir.clone()],
            dir,
            lowers: lowers.iter().map(PathBuf::from).collect(),
            kept,
            mount_points: Vec::new(),
        }
    }

    #[test]
    fn overlayfs_is_found_in_proc_filesystems() {
        assert!(overlay_supported("nodev\tsysfs\nnodev\toverlay\n\text4\n"));
        assert!(!overlay_supported(
            "nodev\tsysfs\n\text4\nnodev\toverlayish\n"
        ));
    }

    #[test]
    fn host_overlays_upper_and_work_are_read_from_mountinfo() {
        let mountinfo = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
310 22 0:52 / /var/lib/docker/overlay2/abc/merged rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/l/A:/var/lib/docker/l/B,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work,index=off
311 22 0:53 / /mnt/with\\040space rw - overlay overlay rw,lowerdir=/a,upperdir=/srv/up\\054per,workdir=/srv/work
";
        let found = host_overlay_layers(mountinfo);
        let dirs: Vec<&Path> = found.iter().map(|u| u.dir.as_path()).collect();
        assert_eq!(
            dirs,
            [
                Path::new("/var/lib/docker/overlay2/abc/diff"),
                Path::new("/var/lib/docker/overlay2/abc/work"),
                Path::new("/srv/up,per"),
                Path::new("/srv/work"),
            ]
        );
        assert_eq!(found[2].user, "the overlay mounted on /mnt/with space");
    }

    #[test]
    fn a_lower_that_is_a_live_upper_is_refused() {
        let in_use = [InUse {
            dir: "/keep/db/upper".into(),
            user: "environment \"db\"".into(),
            env: Some("db".into()),
        }];
        let err = check(&layer(&["/keep/db/upper", "/srv/base"], false), &in_use).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the lower folder /keep/db/upper of the copy-on-write root is in use as the \
             writable layer /keep/db/upper of environment \"db\": a layer still being \
             written cannot be a read-only one; stop that first, or use a copy of the folder"
        );
        assert!(check(&layer(&["/keep/db/upper/etc"], false), &in_use).is_err());
        assert!(check(&layer(&["/keep"], false), &in_use).is_err());
        assert!(check(&layer(&["/srv/base"], false), &in_use).is_ok());
        // A host view's "/" contains every upper; its folders are the kernel's to check.
        assert!(check(&layer(&["/"], false), &in_use).is_ok());
    }

    #[test]
    fn kept_changes_of_a_live_environment_are_refused() {
        let in_use = [InUse {
            dir: "/keep/web/upper".into(),
            user: "environment \"web-old\"".into(),
            env: Some("web-old".into()),
        }];
        let err = check(&layer(&["/srv/base"], true), &in_use).unwrap_err();
        assert!(
            matches!(err, LayerError::ChangesInUse { ref env, .. } if env == "web-old"),
            "{err}"
        );
        assert!(
            err.to_string().contains("`stockade delete web-old` first"),
            "{err}"
        );
    }

    #[test]
    fn unfit_file_systems_are_named() {
        assert_eq!(unfit_name(0x794c_7630), Some("overlayfs"));
        assert_eq!(unfit_name(0x6969), Some("NFS"));
        assert_eq!(unfit_name(0xef53), None, "ext4 holds an upper");
        assert_eq!(unfit_name(0x0102_1994), None, "tmpfs holds an upper");
    }
}
