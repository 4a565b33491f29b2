//! Mounts: the ordered `mount(2)` calls, symlinks and `pivot_root(2)` that build the
//! environment's file system view inside its new mount namespace (mount_namespaces(7)).
//!
//! # Why this order
//! 1. **Make every mount private, recursively**, so nothing done below propagates back to
//!    the host (on systemd hosts `/` is shared).
//! 2. **The root.** `pivot_root` needs the new root to be a mount point:
//!    - `root.path`: the folder is bind-mounted (recursively) onto itself. That is the
//!      simplest correct way to make it a mount point: no second folder to create or clean
//!      up, and the bind lives only in the environment's private mount namespace, so it
//!      disappears with it and there is nothing to undo on the host. It then gets `nodev`
//!      (device nodes in a prepared root must not open host devices); setuid binaries keep
//!      their bit (no_new_privs makes them inert anyway, as on FreeBSD with securelevel).
//!    - `root.host`: a fresh tmpfs (mode 0755, `nodev`) at `<state_dir>/root`, with
//!      read-only recursive binds of the host's `/bin /sbin /lib* /usr /etc` that exist.
//!      Folders that are symlinks on the host (merged /usr: `/bin -> usr/bin`) are
//!      recreated as the same symlink, so the view has the host's layout.
//!    - `root.overlay` (copy-on-write, see [`LayerPlan`]): an overlayfs mounted on
//!      `<state_dir>/root`, whose lower folders are `root.layers` (top first) above
//!      `root.path`, and whose upper and work folders are plain folders on the host (in
//!      the state folder, or `root.changes`). With `root.host`, each host folder is an
//!      overlay of its own instead of a read-only bind, with `upper/<folder>` as its
//!      upper. Only the overlay mount is in the environment's namespace, so there is
//!      nothing to unmount on the host; the upper stays readable from the host, which is
//!      what `stockade diff` reads.
//! 3. **Implicit `/proc` and `/dev`.** A process expects both (runc always mounts them), so
//!    unless the spec mounts something at `/proc` (or `/dev`) itself, a proc mount at
//!    `/proc` and a minimal `dev` at `/dev` are added. They come before the spec's mounts
//!    so that a spec mount below them (say a bind at `/dev/fuse`) lands on top.
//! 4. **The spec's `[[mount]]` entries**, in file order (a parent before its children is
//!    the file author's responsibility, as with runc and fstab).
//! 5. **Read-only root**, when `root.readonly`: a remount of the root mount alone, after
//!    every mount point below it has been created.
//! 6. **`pivot_root` and detaching the old root**: `pivot_root(".", ".")` with the new root
//!    as working directory stacks the old root on top of it, and `umount2(".",
//!    MNT_DETACH)` removes it; no `put_old` folder is needed, so a read-only root works.
//! 7. **Masked and read-only kernel paths**, on every proc mount (and `/sys`, should the
//!    spec bind one in): the lists runc and Docker use by default (see [`MASKED_PATHS`],
//!    [`READONLY_PROC_PATHS`]). They run after the pivot, so their paths are the
//!    environment's own: masks bind its `/dev/null` over files.
//!
//! # Paths
//! `target` is always a path *inside the new root*. Before [`MountStep::PivotRoot`], apply
//! resolves it below [`MountPlan::rootfs`] without following symlinks out of it (openat2
//! `RESOLVE_IN_ROOT`), creating a missing mount point (a folder, or an empty file when the
//! source is a file); after the pivot, it resolves from the new `/`. A bind `source` is a
//! host path before the pivot and a path inside the environment after it.
//!
//! # Flags
//! A bind mount ignores every flag but `MS_REC`, so read-only, `nosuid`, `nodev` and
//! `noexec` on a bind take a second step with [`MountFlag::Remount`]. A remount *adds*
//! the listed attributes and keeps the ones the mount already has (`mount_setattr(2)`
//! with `attr_set`, recursively with [`MountFlag::Recursive`]; or, on kernels before 5.12,
//! `MS_REMOUNT | MS_BIND` with the current `statfs` flags OR-ed in, on each submount): a
//! remount never makes a mount less restricted.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::backend::PlanContext;
use stockade_core::spec::{MountKind, RootSource, Spec};

/// One `mount(2)` flag, by its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountFlag {
    /// `MS_BIND`: make a file or folder visible at another place.
    Bind,
    /// `MS_REC`: include the submounts (a bind), or apply to them too (a remount).
    Recursive,
    /// `MS_REMOUNT`: change the attributes of an existing mount (adds them, see the module).
    Remount,
    /// `MS_RDONLY`.
    Readonly,
    /// `MS_NOSUID`: setuid and setgid bits and file capabilities are ignored.
    Nosuid,
    /// `MS_NODEV`: device nodes cannot be opened.
    Nodev,
    /// `MS_NOEXEC`: nothing can be executed.
    Noexec,
    /// `MS_STRICTATIME`: update access times on every access (new mounts only).
    Strictatime,
    /// `MS_NOATIME`: never update access times (new mounts only).
    Noatime,
    /// `MS_NODIRATIME`: never update folders' access times (new mounts only).
    Nodiratime,
}

impl MountFlag {
    /// The kernel constant.
    pub fn ms_name(self) -> &'static str {
        match self {
            MountFlag::Bind => "MS_BIND",
            MountFlag::Recursive => "MS_REC",
            MountFlag::Remount => "MS_REMOUNT",
            MountFlag::Readonly => "MS_RDONLY",
            MountFlag::Nosuid => "MS_NOSUID",
            MountFlag::Nodev => "MS_NODEV",
            MountFlag::Noexec => "MS_NOEXEC",
            MountFlag::Strictatime => "MS_STRICTATIME",
            MountFlag::Noatime => "MS_NOATIME",
            MountFlag::Nodiratime => "MS_NODIRATIME",
        }
    }

    /// The short name mount(8) prints.
    pub fn short_name(self) -> &'static str {
        match self {
            MountFlag::Bind => "bind",
            MountFlag::Recursive => "rec",
            MountFlag::Remount => "remount",
            MountFlag::Readonly => "ro",
            MountFlag::Nosuid => "nosuid",
            MountFlag::Nodev => "nodev",
            MountFlag::Noexec => "noexec",
            MountFlag::Strictatime => "strictatime",
            MountFlag::Noatime => "noatime",
            MountFlag::Nodiratime => "nodiratime",
        }
    }
}

/// A set of mount flags, in a fixed order.
pub type MountFlags = BTreeSet<MountFlag>;

fn flags(list: &[MountFlag]) -> MountFlags {
    list.iter().copied().collect()
}

/// One `mount(2)` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// What to mount: a path for a bind, the file system's name for a pseudo file system
    /// (`tmpfs`, `proc`, `devpts`), nothing for a remount.
    pub source: Option<PathBuf>,
    /// Where, inside the new root (see the module's "Paths").
    pub target: PathBuf,
    /// The file system type; none for binds and remounts.
    pub fstype: Option<String>,
    /// `MS_*` flags.
    pub flags: MountFlags,
    /// File-system-specific options (`size=`, `mode=`, devpts options).
    pub data: Option<String>,
    /// Skip without error when the target does not exist: kernel paths that only some
    /// kernels have (masked and read-only paths). Every other mount must succeed.
    pub optional: bool,
}

impl Mount {
    fn bind(source: impl Into<PathBuf>, target: impl Into<PathBuf>, recursive: bool) -> Mount {
        let mut f = flags(&[MountFlag::Bind]);
        if recursive {
            f.insert(MountFlag::Recursive);
        }
        Mount {
            source: Some(source.into()),
            target: target.into(),
            fstype: None,
            flags: f,
            data: None,
            optional: false,
        }
    }

    fn remount(target: impl Into<PathBuf>, recursive: bool, attrs: &[MountFlag]) -> Mount {
        let mut f = flags(&[MountFlag::Remount, MountFlag::Bind]);
        if recursive {
            f.insert(MountFlag::Recursive);
        }
        f.extend(attrs.iter().copied());
        Mount {
            source: None,
            target: target.into(),
            fstype: None,
            flags: f,
            data: None,
            optional: false,
        }
    }

    fn fs(
        fstype: &str,
        source: &str,
        target: impl Into<PathBuf>,
        attrs: &[MountFlag],
        data: Option<String>,
    ) -> Mount {
        Mount {
            source: Some(source.into()),
            target: target.into(),
            fstype: Some(fstype.into()),
            flags: flags(attrs),
            data,
            optional: false,
        }
    }

    fn optional(mut self) -> Mount {
        self.optional = true;
        self
    }

    /// True for a remount (attributes of an existing mount).
    pub fn is_remount(&self) -> bool {
        self.flags.contains(&MountFlag::Remount)
    }
}

impl fmt::Display for Mount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A remount says so in words; the flag list shows what it sets.
        let names: Vec<&str> = self
            .flags
            .iter()
            .filter(|x| **x != MountFlag::Remount)
            .map(|x| x.short_name())
            .collect();
        if self.is_remount() {
            write!(f, "remount {} ({})", self.target.display(), names.join(","))?;
        } else {
            let source = self
                .source
                .as_deref()
                .map_or_else(|| "none".into(), |s| s.display().to_string());
            write!(f, "mount {source} on {}", self.target.display())?;
            if let Some(t) = &self.fstype {
                write!(f, " type {t}")?;
            }
            write!(f, " ({})", names.join(","))?;
        }
        if let Some(d) = &self.data {
            write!(f, " {d}")?;
        }
        if self.optional {
            f.write_str(" [skipped if absent]")?;
        }
        Ok(())
    }
}

/// One step of building the environment's file system view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MountStep {
    /// `mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)` on the whole tree the new mount
    /// namespace inherited: nothing below propagates to the host.
    MakePrivate,
    /// One `mount(2)` call.
    Mount(Mount),
    /// `symlink(to, path)`, `path` inside the new root.
    Symlink {
        /// The link, inside the new root.
        path: PathBuf,
        /// What it points to, verbatim.
        to: PathBuf,
    },
    /// `chdir(new_root)`, `pivot_root(".", ".")`: the new root becomes `/`.
    PivotRoot {
        /// The host path of the new root (the plan's `rootfs`).
        new_root: PathBuf,
    },
    /// `umount2(".", MNT_DETACH)`, then `chdir("/")`: the old root, stacked on the new one
    /// by the pivot, is gone from the environment's view.
    DetachOldRoot,
    /// Hide a kernel path (an OCI `linux.maskedPaths` entry): an empty read-only tmpfs
    /// over it when it is a folder, `/dev/null` bound over it otherwise, nothing when it
    /// is absent. Which one is known only once the root is built.
    Mask {
        /// The path, inside the new root.
        path: PathBuf,
    },
}

impl MountStep {
    /// The `mount(2)` call of this step, if it is one.
    pub fn as_mount(&self) -> Option<&Mount> {
        match self {
            MountStep::Mount(m) => Some(m),
            _ => None,
        }
    }
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountStep::MakePrivate => {
                f.write_str("make every mount private, recursively (mount / MS_REC|MS_PRIVATE)")
            }
            MountStep::Mount(m) => m.fmt(f),
            MountStep::Symlink { path, to } => {
                write!(f, "symlink {} -> {}", path.display(), to.display())
            }
            MountStep::PivotRoot { new_root } => {
                write!(f, "pivot_root into {}", new_root.display())
            }
            MountStep::DetachOldRoot => f.write_str("detach the old root (umount2 MNT_DETACH)"),
            MountStep::Mask { path } => write!(
                f,
                "mask {} (read-only tmpfs if a folder, /dev/null if a file) [skipped if absent]",
                path.display()
            ),
        }
    }
}

/// A host system folder offered to a `root.host` view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HostDir {
    /// A real folder: bound read-only at the same path.
    Dir {
        /// Absolute host path, e.g. `/usr`.
        path: PathBuf,
    },
    /// A symbolic link (merged /usr): recreated as the same link.
    Symlink {
        /// Absolute host path, e.g. `/bin`.
        path: PathBuf,
        /// The link's content, verbatim, e.g. `usr/bin`.
        to: PathBuf,
    },
}

/// The host folders a `root.host` view may contain, in the order they are set up.
pub const HOST_DIR_CANDIDATES: &[&str] = &[
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/usr", "/etc",
];

/// How a masked path is hidden, which depends on what the kernel has there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    /// A file: the environment's `/dev/null` is bound over it (reads are empty).
    File,
    /// A folder: an empty read-only tmpfs is mounted over it.
    Dir,
}

/// Kernel paths hidden from the environment: runc's defaults plus Docker's powercap mask.
/// Paths under `/proc` are relative to each proc mount; the others are absolute.
///
/// They leak host information (`kcore`, `keys`, `timer_list`, `sched_debug`), or expose
/// hardware interfaces (ACPI, sound, SCSI, firmware, TPM) and power meters (powercap's
/// energy counters allowed the PLATYPUS side channel).
pub const MASKED_PATHS: &[(&str, MaskKind)] = &[
    ("/proc/acpi", MaskKind::Dir),
    ("/proc/asound", MaskKind::Dir),
    ("/proc/kcore", MaskKind::File),
    ("/proc/keys", MaskKind::File),
    ("/proc/latency_stats", MaskKind::File),
    ("/proc/timer_list", MaskKind::File),
    ("/proc/timer_stats", MaskKind::File),
    ("/proc/sched_debug", MaskKind::File),
    ("/proc/scsi", MaskKind::Dir),
    ("/sys/firmware", MaskKind::Dir),
    ("/sys/devices/virtual/powercap", MaskKind::Dir),
    ("/sys/devices/virtual/tpm", MaskKind::Dir),
];

/// Host secrets hidden when the root is a view of the host (`root.host`): root inside
/// would otherwise read the host's password hashes and SSH host keys.
pub const HOST_SECRETS: &[(&str, MaskKind)] = &[
    ("/etc/shadow", MaskKind::File),
    ("/etc/shadow-", MaskKind::File),
    ("/etc/gshadow", MaskKind::File),
    ("/etc/gshadow-", MaskKind::File),
    ("/etc/ssh", MaskKind::Dir),
];

/// `/proc` paths made read-only (relative to each proc mount): writing them would change
/// the host kernel (`sys` is sysctl; `sysrq-trigger` can reboot the host).
pub const READONLY_PROC_PATHS: &[&str] = &["bus", "fs", "irq", "sys", "sysrq-trigger"];

/// Device nodes of a minimal `/dev`, bound from the host's `/dev`.
pub const DEV_NODES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// The options of the `/dev` tmpfs: like runc's, with a size cap because the folder only
/// holds mount points and links.
pub const DEV_TMPFS_DATA: &str = "mode=755,size=65536k";

/// The devpts options: a private instance (`newinstance`), so the environment sees its own
/// terminals only; anyone may open `ptmx`, new terminals are owner read-write, group write.
pub const DEVPTS_DATA: &str = "newinstance,ptmxmode=0666,mode=0620";

/// The folder below the state folder that holds the writable layer of a copy-on-write
/// root (`upper/` and `work/`), unless `root.changes` names another.
pub const LAYER_DIR: &str = "layer";

/// overlayfs options every copy-on-write root gets, after the folders:
/// - `index=off`: no inode index, so a kept `root.changes` folder can be reused over
///   lowers that changed since, and stockade, not the kernel's index, checks that no
///   folder is an upper and a lower at once (see `apply::layer`);
/// - `redirect_dir=off`: renaming a folder of the base fails with EXDEV (tools then copy),
///   instead of leaving a redirect that only overlayfs understands: the upper stays a
///   plain tree of files and whiteouts that `stockade diff` can read;
/// - `metacopy=off`: a changed file is copied up whole, for the same reason.
pub const OVERLAY_OPTIONS: &str = "index=off,redirect_dir=off,metacopy=off";

/// The largest mount(2) data the kernel copies: one page, with its NUL.
const MAX_MOUNT_DATA: usize = 4095;

/// The writable layer of a copy-on-write root (`root.overlay = true`), on the host.
///
/// `upper` and `work` are plain folders on one file system (overlayfs needs both on the
/// same one): apply makes them before the environment's process starts, and only the
/// overlay mount itself happens in the environment's mount namespace. `upper` holds
/// exactly what the environment changed: new and modified files, and deletions as
/// whiteouts (character devices 0:0) and opaque folders (`trusted.overlay.opaque`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerPlan {
    /// The folder holding `upper` and `work`: `<state_dir>/layer`, removed with the state
    /// folder on delete, or `root.changes`, kept.
    pub dir: PathBuf,
    /// overlayfs `upperdir`: the environment's changes.
    pub upper: PathBuf,
    /// overlayfs `workdir`: the kernel's scratch folder.
    pub work: PathBuf,
    /// The read-only folders the changes apply to, top first: `root.layers` then
    /// `root.path`; `/` for `root.host` (whose upper holds `usr/`, `etc/`, ...).
    pub lowers: Vec<PathBuf>,
    /// True for `root.changes`: the layer survives delete and is reused by the next
    /// create.
    pub kept: bool,
    /// Every folder apply makes on the host before the process starts, parents first.
    pub folders: Vec<PathBuf>,
    /// The targets mounted on the overlay before the pivot (`/proc`, `/dev`, the spec's
    /// mounts). A missing mount point is created in the layer by the mount step, not by
    /// the environment, so `stockade diff` does not list it as a change.
    pub mount_points: Vec<PathBuf>,
}

impl LayerPlan {
    fn new(ctx: &PlanContext, changes: Option<&Path>, lowers: Vec<PathBuf>) -> LayerPlan {
        let dir = changes.map_or_else(|| ctx.state_dir.join(LAYER_DIR), Path::to_path_buf);
        let upper = dir.join("upper");
        let work = dir.join("work");
        LayerPlan {
            folders: vec![dir.clone(), upper.clone(), work.clone()],
            dir,
            upper,
            work,
            lowers,
            kept: changes.is_some(),
            mount_points: Vec::new(),
        }
    }

    /// One overlay mount of `lowers` with `upper`/`work` (sub-folders of the layer's for
    /// `root.host`), after checking that the options can carry the paths.
    fn mount(
        &mut self,
        target: &Path,
        lowers: &[&Path],
        sub: Option<&Path>,
    ) -> Result<Mount, LayerPlanError> {
        let (upper, work) = match sub {
            Some(rel) => {
                let rel = rel.strip_prefix("/").unwrap_or(rel);
                let pair = (self.upper.join(rel), self.work.join(rel));
                self.folders.push(pair.0.clone());
                self.folders.push(pair.1.clone());
                pair
            }
            None => (self.upper.clone(), self.work.clone()),
        };
        for (key, p) in lowers.iter().map(|l| ("a lower folder", *l)).chain([
            ("the upper folder", upper.as_path()),
            ("the work folder", work.as_path()),
        ]) {
            let text = p.to_string_lossy();
            if let Some(bad) = text.chars().find(|c| matches!(c, ',' | ':' | '\\' | '\n')) {
                return Err(LayerPlanError::Unrepresentable {
                    what: key,
                    path: p.to_path_buf(),
                    bad,
                });
            }
        }
        let lowerdir: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
        let data = format!(
            "lowerdir={},upperdir={},workdir={},{OVERLAY_OPTIONS}",
            lowerdir.join(":"),
            upper.display(),
            work.display()
        );
        if data.len() > MAX_MOUNT_DATA {
            return Err(LayerPlanError::TooLong {
                len: data.len(),
                layers: lowers.len(),
            });
        }
        Ok(Mount::fs(
            "overlay",
            "overlay",
            target,
            &[MountFlag::Nodev],
            Some(data),
        ))
    }
}

/// Why a copy-on-write root cannot be expressed as overlayfs mount options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerPlanError {
    /// `root.image` names an image the store has not resolved into layer folders.
    #[error(
        "root.image {0:?} is not resolved to layer folders: the image store resolves it          before planning (`stockade plan` and `run` do)"
    )]
    UnresolvedImage(String),
    /// A path holds a character the overlayfs option string uses as a separator.
    #[error(
        "{what} of the copy-on-write root, {}, contains {bad:?}, which overlayfs mount \
         options cannot carry: rename or move the folder (or bind it to a plain path)",
        path.display()
    )]
    Unrepresentable {
        /// Which folder (a lower, the upper, the work folder).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The character.
        bad: char,
    },
    /// The options exceed one page.
    #[error(
        "the overlayfs options for {layers} lower folders are {len} bytes, more than the \
         {MAX_MOUNT_DATA} mount(2) accepts: use fewer root.layers or shorter paths"
    )]
    TooLong {
        /// Their length.
        len: usize,
        /// How many lower folders.
        layers: usize,
    },
}

/// The mount sequence of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountPlan {
    /// The host folder that becomes `/`: `root.path` itself, or `<state_dir>/root` for
    /// `root.host` and copy-on-write roots (apply creates that folder; it goes with the
    /// state folder).
    pub rootfs: PathBuf,
    /// The writable layer of a copy-on-write root: folders apply makes on the host
    /// before the process starts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<LayerPlan>,
    /// The steps, in order.
    pub steps: Vec<MountStep>,
}

impl MountPlan {
    /// The `mount(2)` calls alone, in order.
    pub fn mounts(&self) -> impl Iterator<Item = &Mount> {
        self.steps.iter().filter_map(MountStep::as_mount)
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(layer) = &self.layer {
            lines.push(format!(
                "on the host: mkdir {} (upper and work of the writable layer{}; a tmpfs is \
                 mounted at {} first when its file system cannot hold an overlayfs upper)",
                layer.folders[1..]
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                if layer.kept {
                    ", kept on delete"
                } else {
                    ", removed on delete"
                },
                layer.dir.display(),
            ));
        }
        lines.extend(self.steps.iter().map(ToString::to_string));
        lines
    }
}

/// Where the environment's resolver configuration is mounted (`private` networks).
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// Plans the mounts of a spec. `host_dirs` is what `root.host` offers (unused otherwise).
pub fn plan(
    spec: &Spec,
    ctx: &PlanContext,
    host_dirs: &[HostDir],
) -> Result<MountPlan, LayerPlanError> {
    let mut steps = vec![MountStep::MakePrivate];
    let mount = |steps: &mut Vec<MountStep>, m: Mount| steps.push(MountStep::Mount(m));
    let overlay = spec.root.overlay.as_ref();
    let mut layer = None;

    let rootfs = match &spec.root.source {
        RootSource::Image(image) if !image.is_resolved() => {
            return Err(LayerPlanError::UnresolvedImage(image.name.clone()))
        }
        RootSource::Path(_) | RootSource::Image(_) if overlay.is_some() => {
            let lowers: Vec<PathBuf> = spec.root.lowers().iter().map(|p| p.to_path_buf()).collect();
            let mut l = LayerPlan::new(
                ctx,
                overlay.and_then(|o| o.changes.as_deref()),
                lowers.clone(),
            );
            let refs: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
            mount(&mut steps, l.mount(Path::new("/"), &refs, None)?);
            layer = Some(l);
            ctx.state_dir.join("root")
        }
        RootSource::Image(_) => return Err(LayerPlanError::UnresolvedImage(String::new())),
        RootSource::Path(path) => {
            mount(&mut steps, Mount::bind(path, "/", true));
            mount(&mut steps, Mount::remount("/", true, &[MountFlag::Nodev]));
            path.clone()
        }
        RootSource::Host => {
            mount(
                &mut steps,
                Mount::fs(
                    "tmpfs",
                    "tmpfs",
                    "/",
                    &[MountFlag::Nodev],
                    Some("mode=0755".into()),
                ),
            );
            let mut host_layer = overlay
                .map(|o| LayerPlan::new(ctx, o.changes.as_deref(), vec![PathBuf::from("/")]));
            for dir in host_dirs {
                match dir {
                    HostDir::Dir { path } if host_layer.is_some() => {
                        if let Some(l) = host_layer.as_mut() {
                            mount(&mut steps, l.mount(path, &[path.as_path()], Some(path))?);
                        }
                    }
                    HostDir::Dir { path } => {
                        mount(&mut steps, Mount::bind(path, path, true));
                        mount(
                            &mut steps,
                            Mount::remount(path, true, &[MountFlag::Readonly, MountFlag::Nodev]),
                        );
                    }
                    HostDir::Symlink { path, to } => steps.push(MountStep::Symlink {
                        path: path.clone(),
                        to: to.clone(),
                    }),
                }
            }
            layer = host_layer;
            ctx.state_dir.join("root")
        }
    };

    let mounts_at = |p: &str| spec.mounts.iter().any(|m| m.target == Path::new(p));
    let mut proc_targets = Vec::new();
    if !mounts_at("/proc") {
        proc(&mut steps, Path::new("/proc"), false);
        proc_targets.push(PathBuf::from("/proc"));
    }
    if !mounts_at("/dev") {
        dev(&mut steps, Path::new("/dev"), false);
    }

    for m in &spec.mounts {
        let target = m.target.as_path();
        match &m.kind {
            MountKind::Bind { source } => {
                mount(&mut steps, Mount::bind(source, target, true));
                let mut attrs = vec![MountFlag::Nosuid, MountFlag::Nodev];
                if m.readonly {
                    attrs.push(MountFlag::Readonly);
                }
                mount(&mut steps, Mount::remount(target, true, &attrs));
            }
            MountKind::Tmpfs { size } => {
                let mut attrs = vec![MountFlag::Nosuid, MountFlag::Nodev];
                if m.readonly {
                    attrs.push(MountFlag::Readonly);
                }
                let data = match size {
                    Some(n) => format!("size={n},mode=755"),
                    None => "mode=755".to_string(),
                };
                mount(
                    &mut steps,
                    Mount::fs("tmpfs", "tmpfs", target, &attrs, Some(data)),
                );
            }
            MountKind::Proc => {
                proc(&mut steps, target, m.readonly);
                proc_targets.push(target.to_path_buf());
            }
            MountKind::Dev => dev(&mut steps, target, m.readonly),
        }
    }

    if spec.network.mode == stockade_core::spec::NetworkMode::Private {
        // The environment's own resolver configuration (`network.dns`), written by apply
        // into the state folder; skipped when the root has no /etc/resolv.conf to cover.
        let target = Path::new(RESOLV_CONF);
        mount(
            &mut steps,
            Mount::bind(ctx.state_dir.join("resolv.conf"), target, false).optional(),
        );
        let attrs = [
            MountFlag::Readonly,
            MountFlag::Nosuid,
            MountFlag::Nodev,
            MountFlag::Noexec,
        ];
        mount(&mut steps, Mount::remount(target, false, &attrs).optional());
    }

    if spec.root.readonly {
        mount(
            &mut steps,
            Mount::remount("/", false, &[MountFlag::Readonly, MountFlag::Nodev]),
        );
    }

    if let Some(l) = layer.as_mut() {
        for m in steps.iter().filter_map(MountStep::as_mount) {
            if m.target != Path::new("/") && !l.mount_points.contains(&m.target) {
                l.mount_points.push(m.target.clone());
            }
        }
    }
    steps.push(MountStep::PivotRoot {
        new_root: rootfs.clone(),
    });
    steps.push(MountStep::DetachOldRoot);

    let secrets = match spec.root.source {
        RootSource::Host => HOST_SECRETS,
        RootSource::Path(_) | RootSource::Image(_) => &[],
    };
    for (path, kind) in MASKED_PATHS.iter().chain(secrets) {
        let targets: Vec<PathBuf> = match path.strip_prefix("/proc/") {
            Some(rel) => proc_targets.iter().map(|p| p.join(rel)).collect(),
            None => vec![PathBuf::from(path)],
        };
        for target in targets {
            let m = match kind {
                MaskKind::File => Mount::bind("/dev/null", target, false),
                MaskKind::Dir => Mount::fs(
                    "tmpfs",
                    "tmpfs",
                    target,
                    &[
                        MountFlag::Readonly,
                        MountFlag::Nosuid,
                        MountFlag::Nodev,
                        MountFlag::Noexec,
                    ],
                    None,
                ),
            };
            mount(&mut steps, m.optional());
        }
    }
    for proc_target in &proc_targets {
        for rel in READONLY_PROC_PATHS {
            let p = proc_target.join(rel);
            mount(&mut steps, Mount::bind(&p, &p, true).optional());
            mount(
                &mut steps,
                Mount::remount(
                    &p,
                    true,
                    &[
                        MountFlag::Readonly,
                        MountFlag::Nosuid,
                        MountFlag::Nodev,
                        MountFlag::Noexec,
                    ],
                )
                .optional(),
            );
        }
    }

    Ok(MountPlan {
        rootfs,
        layer,
        steps,
    })
}

/// A proc file system of the environment's PID namespace.
fn proc(steps: &mut Vec<MountStep>, target: &Path, readonly: bool) {
    let mut attrs = vec![MountFlag::Nosuid, MountFlag::Nodev, MountFlag::Noexec];
    if readonly {
        attrs.push(MountFlag::Readonly);
    }
    steps.push(MountStep::Mount(Mount::fs(
        "proc", "proc", target, &attrs, None,
    )));
}

/// A minimal device tree at `target`: a tmpfs holding the host's standard character
/// devices (bound, since the environment cannot mknod), a private devpts, a shm tmpfs and
/// the usual links. `readonly` makes the tmpfs itself read-only once populated; pts and
/// shm stay writable, as terminals and shared memory need.
fn dev(steps: &mut Vec<MountStep>, target: &Path, readonly: bool) {
    let push = |steps: &mut Vec<MountStep>, m: Mount| steps.push(MountStep::Mount(m));
    push(
        steps,
        Mount::fs(
            "tmpfs",
            "tmpfs",
            target,
            &[MountFlag::Nosuid, MountFlag::Noexec],
            Some(DEV_TMPFS_DATA.into()),
        ),
    );
    for node in DEV_NODES {
        push(
            steps,
            Mount::bind(Path::new("/dev").join(node), target.join(node), false),
        );
    }
    push(
        steps,
        Mount::fs(
            "devpts",
            "devpts",
            target.join("pts"),
            &[MountFlag::Nosuid, MountFlag::Noexec],
            Some(DEVPTS_DATA.into()),
        ),
    );
    steps.push(MountStep::Symlink {
        path: target.join("ptmx"),
        to: "pts/ptmx".into(),
    });
    push(
        steps,
        Mount::fs(
            "tmpfs",
            "shm",
            target.join("shm"),
            &[MountFlag::Nosuid, MountFlag::Nodev],
            Some("mode=1777".into()),
        ),
    );
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        steps.push(MountStep::Symlink {
            path: target.join(link),
            to: to.into(),
        });
    }
    if readonly {
        push(
            steps,
            Mount::remount(
                target,
                false,
                &[MountFlag::Readonly, MountFlag::Nosuid, MountFlag::Noexec],
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{ctx, spec, spec_toml};
    use crate::plan::LinuxPlanOptions;
    use stockade_core::backend::CgroupVersion;
    use MountFlag::*;

    fn plan_of(spec: &Spec) -> MountPlan {
        plan(
            spec,
            &ctx(CgroupVersion::V2),
            &LinuxPlanOptions::default().host_dirs,
        )
        .unwrap()
    }

    fn texts(plan: &MountPlan) -> Vec<String> {
        plan.describe()
    }

    fn position(plan: &MountPlan, text: &str) -> usize {
        texts(plan)
            .iter()
            .position(|t| t == text)
            .unwrap_or_else(|| panic!("no step {text:?} in {:#?}", texts(plan)))
    }

    #[test]
    fn root_path_is_bound_onto_itself_then_pivoted_into() {
        let plan = plan_of(&spec(""));
        assert_eq!(plan.rootfs, Path::new("/srv/roots/web"));
        let t = texts(&plan);
        assert_eq!(
            t[0],
            "make every mount private, recursively (mount / MS_REC|MS_PRIVATE)"
        );
        assert_eq!(t[1], "mount /srv/roots/web on / (bind,rec)");
        assert_eq!(t[2], "remount / (bind,rec,nodev)");
        assert_eq!(t[3], "mount proc on /proc type proc (nosuid,nodev,noexec)");
        assert_eq!(
            t[4],
            "mount tmpfs on /dev type tmpfs (nosuid,noexec) mode=755,size=65536k"
        );
        let pivot = position(&plan, "pivot_root into /srv/roots/web");
        assert_eq!(t[pivot + 1], "detach the old root (umount2 MNT_DETACH)");
        // Nothing makes the root read-only unless asked.
        assert!(!t
            .iter()
            .any(|s| s.starts_with("remount / (") && s.contains(",ro")));
    }

    #[test]
    fn implicit_dev_is_complete() {
        let plan = plan_of(&spec(""));
        let t = texts(&plan);
        let start = position(
            &plan,
            "mount tmpfs on /dev type tmpfs (nosuid,noexec) mode=755,size=65536k",
        );
        assert_eq!(
            t[start + 1..start + 18],
            [
                "mount /dev/null on /dev/null (bind)",
                "mount /dev/zero on /dev/zero (bind)",
                "mount /dev/full on /dev/full (bind)",
                "mount /dev/random on /dev/random (bind)",
                "mount /dev/urandom on /dev/urandom (bind)",
                "mount /dev/tty on /dev/tty (bind)",
                "mount devpts on /dev/pts type devpts (nosuid,noexec) newinstance,ptmxmode=0666,mode=0620",
                "symlink /dev/ptmx -> pts/ptmx",
                "mount shm on /dev/shm type tmpfs (nosuid,nodev) mode=1777",
                "symlink /dev/fd -> /proc/self/fd",
                "symlink /dev/stdin -> /proc/self/fd/0",
                "symlink /dev/stdout -> /proc/self/fd/1",
                "symlink /dev/stderr -> /proc/self/fd/2",
                "pivot_root into /srv/roots/web",
                "detach the old root (umount2 MNT_DETACH)",
                "mount tmpfs on /proc/acpi type tmpfs (ro,nosuid,nodev,noexec) [skipped if absent]",
                "mount tmpfs on /proc/asound type tmpfs (ro,nosuid,nodev,noexec) [skipped if absent]",
            ]
        );
    }

    #[test]
    fn root_host_is_a_tmpfs_with_readonly_host_folders_and_symlinks() {
        let s =
            spec_toml("name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n");
        let plan = plan_of(&s);
        assert_eq!(plan.rootfs, Path::new("/run/stockade/web/root"));
        assert_eq!(
            texts(&plan)[..10],
            [
                "make every mount private, recursively (mount / MS_REC|MS_PRIVATE)",
                "mount tmpfs on / type tmpfs (nodev) mode=0755",
                "symlink /bin -> usr/bin",
                "symlink /sbin -> usr/sbin",
                "symlink /lib -> usr/lib",
                "symlink /lib64 -> usr/lib64",
                "mount /usr on /usr (bind,rec)",
                "remount /usr (bind,rec,ro,nodev)",
                "mount /etc on /etc (bind,rec)",
                "remount /etc (bind,rec,ro,nodev)",
            ]
        );
        assert!(texts(&plan).contains(&"pivot_root into /run/stockade/web/root".to_string()));
    }

    #[test]
    fn root_host_follows_the_given_layout() {
        let s =
            spec_toml("name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n");
        let dirs = [
            HostDir::Dir {
                path: "/bin".into(),
            },
            HostDir::Dir {
                path: "/lib32".into(),
            },
        ];
        let plan = plan(&s, &ctx(CgroupVersion::V1), &dirs).unwrap();
        assert_eq!(
            texts(&plan)[2..6],
            [
                "mount /bin on /bin (bind,rec)",
                "remount /bin (bind,rec,ro,nodev)",
                "mount /lib32 on /lib32 (bind,rec)",
                "remount /lib32 (bind,rec,ro,nodev)",
            ]
        );
        assert!(!texts(&plan).iter().any(|t| t.contains("/usr")));
    }

    #[test]
    fn readonly_bind_is_bound_then_remounted_readonly() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"bind\"\nsource = \"./site\"\ntarget = \"/var/www\"\nreadonly = true\n",
        ));
        let at = position(&plan, "mount /etc/stockade/site on /var/www (bind,rec)");
        assert_eq!(
            texts(&plan)[at + 1],
            "remount /var/www (bind,rec,ro,nosuid,nodev)"
        );
        let remount = plan.steps[at + 1].as_mount().unwrap();
        assert_eq!(remount.source, None);
        assert_eq!(
            remount.flags,
            flags(&[Bind, Recursive, Remount, Readonly, Nosuid, Nodev])
        );
    }

    #[test]
    fn writable_bind_still_gets_nosuid_nodev() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"bind\"\nsource = \"/data\"\ntarget = \"/data\"\n",
        ));
        let at = position(&plan, "mount /data on /data (bind,rec)");
        assert_eq!(
            texts(&plan)[at + 1],
            "remount /data (bind,rec,nosuid,nodev)"
        );
    }

    #[test]
    fn tmpfs_gets_size_and_mode() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\nsize = \"64M\"\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/run\"\nreadonly = true\n",
        ));
        position(
            &plan,
            "mount tmpfs on /tmp type tmpfs (nosuid,nodev) size=67108864,mode=755",
        );
        position(
            &plan,
            "mount tmpfs on /run type tmpfs (ro,nosuid,nodev) mode=755",
        );
    }

    #[test]
    fn spec_proc_and_dev_replace_the_implicit_ones() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"dev\"\ntarget = \"/dev\"\nreadonly = true\n[[mount]]\nkind = \"proc\"\ntarget = \"/proc\"\n",
        ));
        let t = texts(&plan);
        let count = |s: &str| t.iter().filter(|x| x.as_str() == s).count();
        assert_eq!(
            count("mount proc on /proc type proc (nosuid,nodev,noexec)"),
            1
        );
        assert_eq!(
            count("mount tmpfs on /dev type tmpfs (nosuid,noexec) mode=755,size=65536k"),
            1
        );
        // The spec order holds: dev first, then proc.
        assert!(
            position(
                &plan,
                "mount tmpfs on /dev type tmpfs (nosuid,noexec) mode=755,size=65536k"
            ) < position(&plan, "mount proc on /proc type proc (nosuid,nodev,noexec)")
        );
        position(&plan, "remount /dev (bind,ro,nosuid,noexec)");
    }

    #[test]
    fn implicit_mounts_come_before_spec_mounts_below_them() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"bind\"\nsource = \"/dev/fuse\"\ntarget = \"/dev/fuse\"\n",
        ));
        assert!(
            position(
                &plan,
                "mount tmpfs on /dev type tmpfs (nosuid,noexec) mode=755,size=65536k"
            ) < position(&plan, "mount /dev/fuse on /dev/fuse (bind,rec)")
        );
    }

    #[test]
    fn readonly_root_is_remounted_after_the_mounts_and_before_the_pivot() {
        let plan = plan_of(&spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/roots/web\"\nreadonly = true\n[process]\ncommand = [\"/bin/sh\"]\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n",
        ));
        let ro = position(&plan, "remount / (bind,ro,nodev)");
        assert!(
            ro > position(
                &plan,
                "mount tmpfs on /tmp type tmpfs (nosuid,nodev) mode=755"
            )
        );
        assert_eq!(ro + 1, position(&plan, "pivot_root into /srv/roots/web"));
    }

    #[test]
    fn host_view_hides_the_host_secrets() {
        let host = plan_of(&spec_toml(
            "name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n",
        ));
        let texts = texts(&host);
        assert!(texts
            .contains(&"mount /dev/null on /etc/shadow (bind) [skipped if absent]".to_string()));
        assert!(texts.contains(
            &"mount tmpfs on /etc/ssh type tmpfs (ro,nosuid,nodev,noexec) [skipped if absent]"
                .to_string()
        ));
        let own = plan_of(&spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/web\"\n[process]\ncommand = [\"/bin/sh\"]\n",
        ));
        assert!(
            !own.describe().iter().any(|t| t.contains("/etc/shadow")),
            "a root of its own keeps its files"
        );
    }

    #[test]
    fn masks_and_readonly_paths_follow_the_pivot() {
        let plan = plan_of(&spec(""));
        let detach = position(&plan, "detach the old root (umount2 MNT_DETACH)");
        let after: Vec<String> = texts(&plan)[detach + 1..].to_vec();
        assert_eq!(
            after.len(),
            MASKED_PATHS.len() + 2 * READONLY_PROC_PATHS.len()
        );
        assert!(after
            .contains(&"mount /dev/null on /proc/kcore (bind) [skipped if absent]".to_string()));
        assert!(after.contains(
            &"mount tmpfs on /sys/firmware type tmpfs (ro,nosuid,nodev,noexec) [skipped if absent]"
                .to_string()
        ));
        assert_eq!(
            after[after.len() - 2..],
            [
                "mount /proc/sysrq-trigger on /proc/sysrq-trigger (bind,rec) [skipped if absent]",
                "remount /proc/sysrq-trigger (bind,rec,ro,nosuid,nodev,noexec) [skipped if absent]",
            ]
        );
        assert!(plan
            .mounts()
            .skip_while(|m| m.target != Path::new("/proc/acpi"))
            .all(|m| m.optional));
    }

    #[test]
    fn masks_follow_a_proc_mounted_elsewhere() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"proc\"\ntarget = \"/host-proc\"\n",
        ));
        position(
            &plan,
            "mount /dev/null on /proc/keys (bind) [skipped if absent]",
        );
        position(
            &plan,
            "mount /dev/null on /host-proc/keys (bind) [skipped if absent]",
        );
        position(
            &plan,
            "remount /host-proc/sys (bind,rec,ro,nosuid,nodev,noexec) [skipped if absent]",
        );
    }

    #[test]
    fn every_mount_but_dev_gets_nodev() {
        let plan = plan_of(&spec(
            "[[mount]]\nkind = \"bind\"\nsource = \"/data\"\ntarget = \"/data\"\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n",
        ));
        for m in plan.mounts() {
            let is_dev = m.target == Path::new("/dev")
                || m.target.parent() == Some(Path::new("/dev"))
                    && m.target != Path::new("/dev/shm");
            let is_bind_only = m.flags == flags(&[Bind]) || m.flags == flags(&[Bind, Recursive]);
            if is_dev || is_bind_only {
                continue; // binds get nodev from the remount that follows
            }
            assert!(m.flags.contains(&Nodev), "{m}");
        }
    }

    #[test]
    fn overlay_root_mounts_layers_above_the_base_on_the_state_folder() {
        let plan = plan_of(&spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/base\"\noverlay = true\nlayers = [\"/srv/roles/web\", \"/srv/common\"]\n[process]\ncommand = [\"/bin/sh\"]\n",
        ));
        assert_eq!(plan.rootfs, Path::new("/run/stockade/web/root"));
        let t = texts(&plan);
        assert_eq!(
            t[2],
            "mount overlay on / type overlay (nodev) lowerdir=/srv/roles/web:/srv/common:/srv/base,\
             upperdir=/run/stockade/web/layer/upper,workdir=/run/stockade/web/layer/work,\
             index=off,redirect_dir=off,metacopy=off"
        );
        assert_eq!(t[3], "mount proc on /proc type proc (nosuid,nodev,noexec)");
        position(&plan, "pivot_root into /run/stockade/web/root");
        let layer = plan.layer.as_ref().unwrap();
        assert_eq!(layer.upper, Path::new("/run/stockade/web/layer/upper"));
        assert_eq!(layer.work, Path::new("/run/stockade/web/layer/work"));
        assert!(!layer.kept);
        assert_eq!(
            layer.lowers,
            [
                Path::new("/srv/roles/web"),
                Path::new("/srv/common"),
                Path::new("/srv/base")
            ]
        );
        assert_eq!(
            layer.folders,
            [
                Path::new("/run/stockade/web/layer"),
                Path::new("/run/stockade/web/layer/upper"),
                Path::new("/run/stockade/web/layer/work"),
            ]
        );
        // The base is never bound or remounted: the overlay is the root.
        assert!(!t.iter().any(|s| s.contains("/srv/base on")), "{t:#?}");
        assert!(plan.describe()[0].starts_with("on the host: mkdir /run/stockade/web/layer/upper /run/stockade/web/layer/work (upper and work of the writable layer, removed on delete;"));
    }

    #[test]
    fn kept_changes_hold_upper_and_work() {
        let plan = plan_of(&spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/base\"\noverlay = true\nchanges = \"/var/keep/web\"\n[process]\ncommand = [\"/bin/sh\"]\n",
        ));
        let layer = plan.layer.as_ref().unwrap();
        assert!(layer.kept);
        assert_eq!(layer.upper, Path::new("/var/keep/web/upper"));
        position(
            &plan,
            "mount overlay on / type overlay (nodev) lowerdir=/srv/base,upperdir=/var/keep/web/upper,workdir=/var/keep/web/work,index=off,redirect_dir=off,metacopy=off",
        );
        assert!(plan.describe()[0].contains(", kept on delete;"));
    }

    #[test]
    fn overlay_host_view_makes_each_host_folder_an_overlay() {
        let plan = plan_of(&spec_toml(
            "name = \"web\"\n[root]\nhost = true\noverlay = true\n[process]\ncommand = [\"/bin/sh\"]\n",
        ));
        assert_eq!(
            texts(&plan)[1..9],
            [
                "make every mount private, recursively (mount / MS_REC|MS_PRIVATE)",
                "mount tmpfs on / type tmpfs (nodev) mode=0755",
                "symlink /bin -> usr/bin",
                "symlink /sbin -> usr/sbin",
                "symlink /lib -> usr/lib",
                "symlink /lib64 -> usr/lib64",
                "mount overlay on /usr type overlay (nodev) lowerdir=/usr,upperdir=/run/stockade/web/layer/upper/usr,workdir=/run/stockade/web/layer/work/usr,index=off,redirect_dir=off,metacopy=off",
                "mount overlay on /etc type overlay (nodev) lowerdir=/etc,upperdir=/run/stockade/web/layer/upper/etc,workdir=/run/stockade/web/layer/work/etc,index=off,redirect_dir=off,metacopy=off",
            ]
        );
        let layer = plan.layer.as_ref().unwrap();
        assert_eq!(layer.lowers, [Path::new("/")]);
        assert_eq!(layer.folders.len(), 3 + 4);
        assert_eq!(
            layer.folders[3],
            Path::new("/run/stockade/web/layer/upper/usr")
        );
        // The host secrets stay hidden on the writable /etc.
        position(
            &plan,
            "mount /dev/null on /etc/shadow (bind) [skipped if absent]",
        );
    }

    #[test]
    fn paths_overlayfs_options_cannot_carry_are_refused() {
        let s = spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/a,b\"\noverlay = true\n[process]\ncommand = [\"/bin/sh\"]\n",
        );
        let err = plan(&s, &ctx(CgroupVersion::V2), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a lower folder of the copy-on-write root, /srv/a,b, contains ',', which overlayfs \
             mount options cannot carry: rename or move the folder (or bind it to a plain path)"
        );
        let many: Vec<String> = (0..200)
            .map(|i| format!("\"/srv/layers/number-{i:04}\""))
            .collect();
        let s = spec_toml(&format!(
            "name = \"web\"\n[root]\npath = \"/srv/base\"\noverlay = true\nlayers = [{}]\n[process]\ncommand = [\"/bin/sh\"]\n",
            many.join(", ")
        ));
        let err = plan(&s, &ctx(CgroupVersion::V2), &[]).unwrap_err();
        assert!(
            matches!(err, LayerPlanError::TooLong { layers: 201, .. }),
            "{err}"
        );
    }
}
