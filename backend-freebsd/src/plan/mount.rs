//! The file systems under the jail path, as nmount(2) calls made from the host.
//!
//! A jail has no mount namespace: everything the environment sees is mounted by the host
//! below the jail's `path` before the jail exists (nmount(2); the file systems are
//! nullfs(5), tmpfs(5), devfs(5) and procfs(5)). Each mount is planned as the exact
//! name/value list nmount(2) takes, so that `stockade plan` shows what `apply` passes.
//!
//! # The jail path
//! The jail path is always `<state_dir>/root`, never the user's folder itself:
//! - `root.path`: a nullfs mount of the folder at `<state_dir>/root` (`ro` when
//!   `root.readonly`). Our mounts then stack on the nullfs mount, not on the folder: the
//!   folder's own mount table entries stay untouched, other users of the folder never see
//!   our mounts, and unmounting `<state_dir>/root` last takes everything away.
//! - `root.host`: a tmpfs at `<state_dir>/root` holding read-only nullfs views of the host's
//!   `/bin /sbin /lib /libexec /usr /etc` (the portability table's list).
//! - `root.overlay` (copy-on-write, see [`super::layer`]): either a nullfs of the writable
//!   layer's folder at `<state_dir>/root` with `root.layers` and `root.path` union-mounted
//!   below it (with `root.host`: the same per host folder), or a ZFS clone of the base
//!   mounted there. The writable folder is made first ([`MountStep::EnsureDir`]: never
//!   removed by undo; it goes with the state folder, or stays as `root.changes`), the
//!   snapshot and clone before their mount ([`MountStep::ZfsSnapshot`],
//!   [`MountStep::ZfsClone`]; destroyed by undo after the unmounts).
//!
//! # Mount points
//! A mount point must exist before nmount(2). Inside a tmpfs that stockade made, the
//! planner creates it ([`MountStep::Mkdir`], right after that tmpfs is mounted). Anywhere
//! else (the user's root folder, a bind source, devfs, procfs) creating it would write
//! into a file system that is not ours, so the plan only requires it
//! ([`MountStep::RequireDir`]) and `apply` fails with the path when it is missing.
//! `apply` must check every `RequireDir` without following symbolic links: a link in a
//! prepared root could otherwise point a mount at the host's own tree.
//!
//! # Order and undo
//! Mounts run in plan order: the root, the host views, a default `/dev`, then the spec's
//! `[[mount]]` entries in file order. A `/dev` devfs (ruleset 4, `devfsrules_jail`) is added
//! when the spec mounts no `dev` at `/dev`, because programs expect `/dev/null`; procfs is
//! never added (FreeBSD jails normally run without it). Undo unmounts in exactly the
//! reverse order: [`undo_order`].

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::spec::{ImageRoot, MountKind, RootSource, Spec};

use super::layer::Cow;

/// The devfs ruleset jails use: `devfsrules_jail` from /etc/defaults/devfs.rules.
pub const JAIL_DEVFS_RULESET: u32 = 4;

/// The host folders a `root.host` environment sees, read-only, in mount order.
pub const HOST_VIEW_DIRS: &[&str] = &["/bin", "/sbin", "/lib", "/libexec", "/usr", "/etc"];

/// Mode of the tmpfs that holds a `root.host` environment: like a system's `/`.
pub const HOST_ROOT_MODE: u32 = 0o755;

/// Mode of a `[[mount]] kind = "tmpfs"`: Linux tmpfs's default (sticky, world-writable),
/// set explicitly because FreeBSD's tmpfs would copy the mode of the mount point instead.
pub const TMPFS_MODE: u32 = 0o1777;

/// Mode of the folders stockade creates for mount points.
pub const MKDIR_MODE: u32 = 0o755;

/// A file system type, as nmount(2)'s `fstype` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    /// nullfs(5): a second view of a host folder (Linux: bind mount).
    Nullfs,
    /// tmpfs(5): memory file system.
    Tmpfs,
    /// devfs(5): device nodes filtered by a ruleset.
    Devfs,
    /// procfs(5): per-process folders.
    Procfs,
    /// unionfs(5): a folder shown below (or above) what is mounted already.
    Unionfs,
    /// A ZFS dataset (here: a clone of the base's snapshot).
    Zfs,
    /// linprocfs(5): a Linux `/proc` (Linux roots).
    Linprocfs,
    /// linsysfs(5): a Linux `/sys` (Linux roots).
    Linsysfs,
    /// fdescfs(5): `/dev/fd` (with `linrdlnk` for Linux roots).
    Fdescfs,
}

impl FsType {
    /// The `fstype` value.
    pub fn as_str(self) -> &'static str {
        match self {
            FsType::Nullfs => "nullfs",
            FsType::Tmpfs => "tmpfs",
            FsType::Devfs => "devfs",
            FsType::Procfs => "procfs",
            FsType::Unionfs => "unionfs",
            FsType::Zfs => "zfs",
            FsType::Linprocfs => "linprocfs",
            FsType::Linsysfs => "linsysfs",
            FsType::Fdescfs => "fdescfs",
        }
    }
}

impl fmt::Display for FsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The value half of one nmount(2) name/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IovValue {
    /// No value (length 0): a flag option such as `ro`.
    Flag,
    /// A string value, NUL-terminated when passed.
    Str(String),
    /// A path value, NUL-terminated when passed.
    Path(PathBuf),
}

/// One nmount(2) name/value pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IovPair {
    /// The option name (`fstype`, `fspath`, `target`, `ro`, `size`, ...).
    pub name: &'static str,
    /// Its value.
    pub value: IovValue,
}

impl fmt::Display for IovPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            IovValue::Flag => f.write_str(self.name),
            IovValue::Str(s) => write!(f, "{}={s}", self.name),
            IovValue::Path(p) => write!(f, "{}={}", self.name, p.display()),
        }
    }
}

/// Why a mount is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "from", content = "index", rename_all = "snake_case")]
pub enum MountOrigin {
    /// The jail path itself (`[root]`).
    Root,
    /// One of the host's folders in a `root.host` environment.
    HostView,
    /// A `root.layers` folder with this 1-based index, union-mounted below.
    RootLayer(usize),
    /// `root.path` union-mounted below the writable layer.
    RootBase,
    /// The `/dev` every jail gets when the spec mounts no `dev` there.
    DefaultDev,
    /// The spec's `[[mount]]` entry with this 1-based index (`mount[N]` in errors).
    Spec(usize),
    /// What a Linux root needs (`root.abi = "linux"`, or a detected Linux root).
    LinuxAbi,
    /// The jail's own resolv.conf, a file mounted over the root's (`network.dns`).
    Resolver,
}

impl fmt::Display for MountOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountOrigin::Root => f.write_str("root"),
            MountOrigin::HostView => f.write_str("root.host"),
            MountOrigin::RootLayer(i) => write!(f, "root.layers[{i}]"),
            MountOrigin::RootBase => f.write_str("root.path"),
            MountOrigin::DefaultDev => f.write_str("default /dev"),
            MountOrigin::Spec(i) => write!(f, "mount[{i}]"),
            MountOrigin::LinuxAbi => f.write_str("root.abi linux"),
            MountOrigin::Resolver => f.write_str("network.dns"),
        }
    }
}

/// One nmount(2) call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nmount {
    /// The file system type (also the first pair of `iov`).
    pub fstype: FsType,
    /// The host path mounted on (also the second pair of `iov`); undo unmounts it.
    pub fspath: PathBuf,
    /// The complete name/value list passed to nmount(2), in order.
    pub iov: Vec<IovPair>,
    /// Why this mount exists.
    pub origin: MountOrigin,
}

impl Nmount {
    /// An nmount(2) call of `fstype` on `fspath`, before its options.
    pub(crate) fn new(fstype: FsType, fspath: PathBuf, origin: MountOrigin) -> Nmount {
        Nmount {
            fstype,
            iov: vec![
                IovPair {
                    name: "fstype",
                    value: IovValue::Str(fstype.as_str().to_string()),
                },
                IovPair {
                    name: "fspath",
                    value: IovValue::Path(fspath.clone()),
                },
            ],
            fspath,
            origin,
        }
    }

    /// Appends one name/value pair to the list.
    pub(crate) fn push(&mut self, name: &'static str, value: IovValue) {
        self.iov.push(IovPair { name, value });
    }

    fn push_str(&mut self, name: &'static str, value: impl Into<String>) {
        self.push(name, IovValue::Str(value.into()));
    }

    /// The value of an option, if the list has it.
    pub fn option(&self, name: &str) -> Option<&IovValue> {
        self.iov.iter().find(|p| p.name == name).map(|p| &p.value)
    }

    /// True when the list carries `ro` (nmount(2) turns it into `MNT_RDONLY`).
    pub fn is_readonly(&self) -> bool {
        self.option("ro").is_some()
    }
}

impl fmt::Display for Nmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nmount")?;
        for pair in &self.iov {
            write!(f, " {pair}")?;
        }
        write!(f, "  ({})", self.origin)
    }
}

/// One step of building the jail's file system tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum MountStep {
    /// mkdir(2) a folder stockade owns (the jail path, or inside a tmpfs it mounted).
    Mkdir {
        /// Host path.
        path: PathBuf,
        /// Permission bits.
        mode: u32,
    },
    /// A mount point in a file system stockade does not own: it must already be a folder,
    /// reached without following symbolic links. Nothing is created.
    RequireDir {
        /// Host path.
        path: PathBuf,
    },
    /// nmount(2) with flags 0.
    Mount(Nmount),
    /// nmount(2) with `MNT_UPDATE`: turns a tmpfs read-only once its mount points exist.
    /// Not undone on its own: unmounting the file system covers it.
    Remount(Nmount),
    /// mkdir(2) of a writable layer folder and its missing parents, unless it exists. Not
    /// undone: it goes with the state folder on delete, or is the kept `root.changes`.
    EnsureDir {
        /// Host path.
        path: PathBuf,
        /// Permission bits of the folders made.
        mode: u32,
    },
    /// `zfs snapshot` of the base's dataset (destroyed on undo).
    ZfsSnapshot {
        /// `dataset@name`.
        snapshot: String,
    },
    /// `zfs clone -o mountpoint=legacy` of the snapshot (destroyed on undo); mounted at
    /// the jail path by the next step.
    ZfsClone {
        /// The snapshot.
        snapshot: String,
        /// The new dataset.
        clone: String,
    },
}

impl fmt::Display for MountStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MountStep::Mkdir { path, mode } => {
                write!(f, "mkdir {} mode={mode:04o}", path.display())
            }
            MountStep::RequireDir { path } => write!(
                f,
                "require folder {} (must exist; not created, no symlinks followed)",
                path.display()
            ),
            MountStep::Mount(m) => write!(f, "{m}"),
            MountStep::Remount(m) => write!(f, "MNT_UPDATE {m}"),
            MountStep::EnsureDir { path, mode } => write!(
                f,
                "mkdir -p {} mode={mode:04o} (the writable layer; not removed by undo)",
                path.display()
            ),
            MountStep::ZfsSnapshot { snapshot } => write!(f, "zfs snapshot {snapshot}"),
            MountStep::ZfsClone { snapshot, clone } => {
                write!(f, "zfs clone -o mountpoint=legacy {snapshot} {clone}")
            }
        }
    }
}

/// The host path of a path inside the jail.
pub fn host_path(jail_path: &Path, inside: &Path) -> PathBuf {
    match inside.strip_prefix("/") {
        Ok(rel) if rel.as_os_str().is_empty() => jail_path.to_path_buf(),
        Ok(rel) => jail_path.join(rel),
        Err(_) => jail_path.join(inside),
    }
}

/// One mount before its folder steps are known.
struct Entry {
    /// Where it appears inside the jail.
    inside: PathBuf,
    mount: Nmount,
    /// A tmpfs stockade made: mount points below it may be created.
    ours: bool,
    readonly: bool,
}

/// The folder steps one entry needs.
#[derive(Default)]
struct Dirs {
    /// Folders to create inside this entry's file system, right after mounting it.
    create: Vec<PathBuf>,
    /// This entry's mount point, which must already exist.
    require: Option<PathBuf>,
}

/// Plans every mount for a spec whose jail path is `jail_path`; `cow` is the
/// copy-on-write mechanism when `root.overlay` is set. A Linux root is taken from
/// `root.abi` alone (see [`plan_abi`]).
pub fn plan(spec: &Spec, jail_path: &Path, cow: Option<&Cow>) -> Vec<MountStep> {
    let linux = matches!(spec.root.abi, Some(stockade_core::spec::Abi::Linux(_)));
    plan_abi(spec, jail_path, cow, linux)
}

/// [`plan`], with `linux` saying whether the root is a Linux userland (given or
/// detected): it then also gets the Linux ABI's file systems after `/dev`.
pub fn plan_abi(spec: &Spec, jail_path: &Path, cow: Option<&Cow>, linux: bool) -> Vec<MountStep> {
    let mut entries = entries(spec, jail_path, cow);
    if linux {
        let at = entries
            .iter()
            .position(|e| e.mount.origin == MountOrigin::DefaultDev)
            .map_or(entries.len(), |i| i + 1);
        let added = linux_entries(spec, jail_path);
        entries.splice(at..at, added);
    }
    let dirs = folders(&entries);

    let mut steps = vec![MountStep::Mkdir {
        path: jail_path.to_path_buf(),
        mode: MKDIR_MODE,
    }];
    match cow {
        Some(Cow::Unionfs { upper, .. }) => {
            steps.push(MountStep::EnsureDir {
                path: upper.clone(),
                mode: MKDIR_MODE,
            });
            if spec.root.source == RootSource::Host {
                steps.extend(HOST_VIEW_DIRS.iter().map(|d| MountStep::EnsureDir {
                    path: host_path(upper, Path::new(d)),
                    mode: MKDIR_MODE,
                }));
            }
        }
        Some(Cow::ZfsClone {
            snapshot, clone, ..
        }) => {
            steps.push(MountStep::ZfsSnapshot {
                snapshot: snapshot.clone(),
            });
            steps.push(MountStep::ZfsClone {
                snapshot: snapshot.clone(),
                clone: clone.clone(),
            });
        }
        None => {}
    }
    for (entry, dirs) in entries.into_iter().zip(dirs) {
        if let Some(path) = dirs.require {
            steps.push(MountStep::RequireDir {
                path: host_path(jail_path, &path),
            });
        }
        let mut mount = entry.mount;
        // A read-only tmpfs that needs mount points is made writable, filled, then
        // remounted read-only: nmount(2) cannot create folders on a read-only mount.
        let remount = entry.readonly && entry.ours && !dirs.create.is_empty();
        if entry.readonly && !remount {
            mount.push("ro", IovValue::Flag);
        }
        let update = remount.then(|| {
            let mut m = Nmount::new(mount.fstype, mount.fspath.clone(), mount.origin);
            m.push("ro", IovValue::Flag);
            m
        });
        steps.push(MountStep::Mount(mount));
        steps.extend(dirs.create.into_iter().map(|p| MountStep::Mkdir {
            path: host_path(jail_path, &p),
            mode: MKDIR_MODE,
        }));
        if let Some(m) = update {
            steps.push(MountStep::Remount(m));
        }
    }
    steps
}

/// A nullfs mount of the single file `file` over the file `fspath` (FreeBSD 13.0 and
/// later mount non-folders with nullfs).
pub fn file_mount(file: &Path, fspath: PathBuf) -> Nmount {
    let mut m = Nmount::new(FsType::Nullfs, fspath, MountOrigin::Resolver);
    m.push("target", IovValue::Path(file.to_path_buf()));
    m
}

/// A unionfs mount of `lower` below what `fspath` shows now.
fn below(fspath: PathBuf, lower: &Path, origin: MountOrigin) -> Nmount {
    let mut m = Nmount::new(FsType::Unionfs, fspath, origin);
    m.push("target", IovValue::Path(lower.to_path_buf()));
    m.push("below", IovValue::Flag);
    m
}

/// The mounts in plan order, without folder steps.
fn entries(spec: &Spec, jail_path: &Path, cow: Option<&Cow>) -> Vec<Entry> {
    let mut entries = Vec::new();
    let root = Path::new("/");
    let at_root = |mount: Nmount| Entry {
        inside: root.to_path_buf(),
        mount,
        ours: false,
        readonly: false,
    };
    let union_upper = match cow {
        Some(Cow::Unionfs { upper, .. }) => Some(upper),
        _ => None,
    };
    match (&spec.root.source, cow) {
        (RootSource::Path(_) | RootSource::Image(_), Some(Cow::ZfsClone { clone, .. })) => {
            let mut m = Nmount::new(FsType::Zfs, jail_path.to_path_buf(), MountOrigin::Root);
            m.push_str("from", clone.clone());
            entries.push(at_root(m));
        }
        (RootSource::Path(_) | RootSource::Image(_), Some(Cow::Unionfs { upper, lowers, .. })) => {
            let mut m = Nmount::new(FsType::Nullfs, jail_path.to_path_buf(), MountOrigin::Root);
            m.push("target", IovValue::Path(upper.clone()));
            entries.push(at_root(m));
            for (i, lower) in lowers.iter().enumerate() {
                let origin = if i + 1 == lowers.len() {
                    MountOrigin::RootBase
                } else {
                    MountOrigin::RootLayer(i + 1)
                };
                entries.push(at_root(below(jail_path.to_path_buf(), lower, origin)));
            }
        }
        // An image root is always copy-on-write (the loader turns overlay on).
        (RootSource::Path(folder), _)
        | (
            RootSource::Image(ImageRoot {
                flat: Some(folder), ..
            }),
            _,
        ) => {
            let mut m = Nmount::new(FsType::Nullfs, jail_path.to_path_buf(), MountOrigin::Root);
            // "target" rather than "from": every nullfs since FreeBSD 5 reads "target";
            // "from" is only a newer alias.
            m.push("target", IovValue::Path(folder.clone()));
            entries.push(Entry {
                inside: root.to_path_buf(),
                mount: m,
                ours: false,
                readonly: spec.root.readonly,
            });
        }
        (RootSource::Host | RootSource::Image(_), _) => {
            let mut m = Nmount::new(FsType::Tmpfs, jail_path.to_path_buf(), MountOrigin::Root);
            m.push_str("from", "tmpfs");
            m.push_str("mode", format!("{HOST_ROOT_MODE:o}"));
            entries.push(Entry {
                inside: root.to_path_buf(),
                mount: m,
                ours: true,
                readonly: spec.root.readonly,
            });
            for dir in HOST_VIEW_DIRS {
                let inside = PathBuf::from(dir);
                if let Some(upper) = union_upper {
                    let fspath = host_path(jail_path, &inside);
                    let mut m = Nmount::new(FsType::Nullfs, fspath.clone(), MountOrigin::HostView);
                    m.push("target", IovValue::Path(host_path(upper, &inside)));
                    for mount in [m, below(fspath, &inside, MountOrigin::HostView)] {
                        entries.push(Entry {
                            inside: inside.clone(),
                            mount,
                            ours: false,
                            readonly: false,
                        });
                    }
                    continue;
                }
                let mut m = Nmount::new(
                    FsType::Nullfs,
                    host_path(jail_path, &inside),
                    MountOrigin::HostView,
                );
                m.push("target", IovValue::Path(inside.clone()));
                entries.push(Entry {
                    inside,
                    mount: m,
                    ours: false,
                    readonly: true,
                });
            }
        }
    }

    let dev = Path::new("/dev");
    let has_dev = spec
        .mounts
        .iter()
        .any(|m| m.kind == MountKind::Dev && m.target == dev);
    if !has_dev {
        // Before the spec's mounts, so that a spec mount at or below /dev stays on top.
        entries.push(devfs(jail_path, dev, false, MountOrigin::DefaultDev));
    }

    for (i, m) in spec.mounts.iter().enumerate() {
        let origin = MountOrigin::Spec(i + 1);
        let fspath = host_path(jail_path, &m.target);
        let entry = match &m.kind {
            MountKind::Bind { source } => {
                let mut n = Nmount::new(FsType::Nullfs, fspath, origin);
                n.push("target", IovValue::Path(source.clone()));
                Entry {
                    inside: m.target.clone(),
                    mount: n,
                    ours: false,
                    readonly: m.readonly,
                }
            }
            MountKind::Tmpfs { size } => {
                let mut n = Nmount::new(FsType::Tmpfs, fspath, origin);
                n.push_str("from", "tmpfs");
                if let Some(size) = size {
                    n.push_str("size", size.to_string());
                }
                n.push_str("mode", format!("{TMPFS_MODE:o}"));
                Entry {
                    inside: m.target.clone(),
                    mount: n,
                    ours: true,
                    readonly: m.readonly,
                }
            }
            MountKind::Proc => {
                let mut n = Nmount::new(FsType::Procfs, fspath, origin);
                n.push_str("from", "procfs");
                Entry {
                    inside: m.target.clone(),
                    mount: n,
                    ours: false,
                    readonly: m.readonly,
                }
            }
            MountKind::Dev => devfs(jail_path, &m.target, m.readonly, origin),
        };
        entries.push(entry);
    }
    entries
}

/// The file systems FreeBSD's Linux ABI expects, in mount order (rc.d/linux mounts the
/// same for /compat/linux): linprocfs on `/proc` and linsysfs on `/sys` (unless the spec
/// mounts something there), fdescfs with `linrdlnk` on `/dev/fd` (Linux programs read
/// `/dev/fd/N` links), and a tmpfs on `/dev/shm` for POSIX shared memory (glibc's
/// `shm_open` uses it). The `/dev` ones lie in devfs, so their folders must exist.
fn linux_entries(spec: &Spec, jail_path: &Path) -> Vec<Entry> {
    let spec_mounts_at = |p: &str| spec.mounts.iter().any(|m| m.target == Path::new(p));
    let mut out = Vec::new();
    let mut add = |fstype: FsType, inside: &str, options: &[(&'static str, Option<&str>)]| {
        let mut n = Nmount::new(
            fstype,
            host_path(jail_path, Path::new(inside)),
            MountOrigin::LinuxAbi,
        );
        for (name, value) in options {
            match value {
                Some(v) => n.push_str(name, *v),
                None => n.push(name, IovValue::Flag),
            }
        }
        out.push(Entry {
            inside: PathBuf::from(inside),
            mount: n,
            ours: fstype == FsType::Tmpfs,
            readonly: false,
        });
    };
    if !spec_mounts_at("/proc") {
        add(FsType::Linprocfs, "/proc", &[("from", Some("linprocfs"))]);
    }
    if !spec_mounts_at("/sys") {
        add(FsType::Linsysfs, "/sys", &[("from", Some("linsysfs"))]);
    }
    if !spec_mounts_at("/dev/fd") {
        add(
            FsType::Fdescfs,
            "/dev/fd",
            &[("from", Some("fdescfs")), ("linrdlnk", None)],
        );
    }
    if !spec_mounts_at("/dev/shm") {
        let mode = format!("{TMPFS_MODE:o}");
        add(
            FsType::Tmpfs,
            "/dev/shm",
            &[("from", Some("tmpfs")), ("mode", Some(&mode))],
        );
    }
    out
}

/// A devfs with the jail ruleset. The ruleset is a mount option (devfs(5) `ruleset=N`,
/// FreeBSD 10 and later), so the mount is filtered from its first moment and no
/// DEVFSIO_SAPPLY ioctl has to follow it.
fn devfs(jail_path: &Path, inside: &Path, readonly: bool, origin: MountOrigin) -> Entry {
    let mut n = Nmount::new(FsType::Devfs, host_path(jail_path, inside), origin);
    n.push_str("from", "devfs");
    n.push_str("ruleset", JAIL_DEVFS_RULESET.to_string());
    Entry {
        inside: inside.to_path_buf(),
        mount: n,
        ours: false,
        readonly,
    }
}

/// For every entry: the folders to create in it, and whether its own mount point must
/// pre-exist. The file system a mount point lies in is the latest earlier mount at or
/// above it (a later mount at an ancestor hides an earlier, deeper one).
fn folders(entries: &[Entry]) -> Vec<Dirs> {
    let mut dirs: Vec<Dirs> = entries.iter().map(|_| Dirs::default()).collect();
    for (i, entry) in entries.iter().enumerate().skip(1) {
        let target = &entry.inside;
        let Some(cover) = (0..i)
            .rev()
            .find(|&j| target.starts_with(&entries[j].inside))
        else {
            continue; // unreachable: entry 0 is the root, an ancestor of every target
        };
        if entries[cover].inside == *target {
            continue; // stacked on an earlier mount point, which exists
        }
        if entries[cover].ours {
            let mut missing: Vec<PathBuf> = target
                .ancestors()
                .take_while(|a| *a != entries[cover].inside)
                .map(Path::to_path_buf)
                .collect();
            missing.reverse();
            for p in missing {
                if !dirs[cover].create.contains(&p) {
                    dirs[cover].create.push(p);
                }
            }
        } else {
            dirs[i].require = Some(target.clone());
        }
    }
    dirs
}

/// The ZFS datasets the steps make (snapshot, then clone), in the order made; undo
/// destroys them newest first, after the unmounts.
pub fn datasets(steps: &[MountStep]) -> Vec<&str> {
    steps
        .iter()
        .filter_map(|s| match s {
            MountStep::ZfsSnapshot { snapshot } => Some(snapshot.as_str()),
            MountStep::ZfsClone { clone, .. } => Some(clone.as_str()),
            _ => None,
        })
        .collect()
}

/// The mount points to unmount on undo: every [`MountStep::Mount`], in reverse order.
pub fn undo_order(steps: &[MountStep]) -> Vec<&Path> {
    steps
        .iter()
        .rev()
        .filter_map(|s| match s {
            MountStep::Mount(m) => Some(m.fspath.as_path()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAIL: &str = "/run/stockade/t/root";

    fn spec(extra: &str) -> Spec {
        let text = format!("name = \"t\"\n[process]\ncommand = [\"/bin/sh\"]\n{extra}");
        Spec::from_toml(&text, Some(Path::new("/etc/stockade/t.toml"))).expect("valid spec")
    }

    fn lines(steps: &[MountStep]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn path_root_is_a_nullfs_view_and_gets_a_default_dev() {
        let s = spec("[root]\npath = \"/srv/roots/t\"\nreadonly = true\n");
        let steps = plan(&s, Path::new(JAIL), None);
        assert_eq!(
            lines(&steps),
            [
                "mkdir /run/stockade/t/root mode=0755",
                "nmount fstype=nullfs fspath=/run/stockade/t/root target=/srv/roots/t ro  (root)",
                "require folder /run/stockade/t/root/dev (must exist; not created, no symlinks followed)",
                "nmount fstype=devfs fspath=/run/stockade/t/root/dev from=devfs ruleset=4  (default /dev)",
            ]
        );
    }

    #[test]
    fn host_root_creates_its_mount_points_then_goes_read_only() {
        let s = spec(
            "[root]\nhost = true\nreadonly = true\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n",
        );
        let steps = plan(&s, Path::new(JAIL), None);
        let got = lines(&steps);
        let expected = [
            "mkdir /run/stockade/t/root mode=0755",
            "nmount fstype=tmpfs fspath=/run/stockade/t/root from=tmpfs mode=755  (root)",
            "mkdir /run/stockade/t/root/bin mode=0755",
            "mkdir /run/stockade/t/root/sbin mode=0755",
            "mkdir /run/stockade/t/root/lib mode=0755",
            "mkdir /run/stockade/t/root/libexec mode=0755",
            "mkdir /run/stockade/t/root/usr mode=0755",
            "mkdir /run/stockade/t/root/etc mode=0755",
            "mkdir /run/stockade/t/root/dev mode=0755",
            "mkdir /run/stockade/t/root/tmp mode=0755",
            "MNT_UPDATE nmount fstype=tmpfs fspath=/run/stockade/t/root ro  (root)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/bin target=/bin ro  (root.host)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/sbin target=/sbin ro  (root.host)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/lib target=/lib ro  (root.host)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/libexec target=/libexec ro  (root.host)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/usr target=/usr ro  (root.host)",
            "nmount fstype=nullfs fspath=/run/stockade/t/root/etc target=/etc ro  (root.host)",
            "nmount fstype=devfs fspath=/run/stockade/t/root/dev from=devfs ruleset=4  (default /dev)",
            "nmount fstype=tmpfs fspath=/run/stockade/t/root/tmp from=tmpfs mode=1777  (mount[1])",
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn writable_host_root_needs_no_remount() {
        let s = spec("[root]\nhost = true\n");
        let steps = plan(&s, Path::new(JAIL), None);
        assert!(!steps.iter().any(|s| matches!(s, MountStep::Remount(_))));
        let MountStep::Mount(root) = &steps[1] else {
            panic!("step 2 is the root mount: {:?}", steps[1]);
        };
        assert!(!root.is_readonly());
    }

    #[test]
    fn spec_mounts_follow_file_order_with_their_options() {
        let s = spec(
            "[root]\npath = \"/srv/r\"\n\
             [[mount]]\nkind = \"bind\"\nsource = \"./site\"\ntarget = \"/var/www\"\nreadonly = true\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\nsize = \"64M\"\n\
             [[mount]]\nkind = \"proc\"\ntarget = \"/proc\"\n\
             [[mount]]\nkind = \"dev\"\ntarget = \"/dev\"\nreadonly = true\n",
        );
        let steps = plan(&s, Path::new(JAIL), None);
        let mounts: Vec<&Nmount> = steps
            .iter()
            .filter_map(|s| match s {
                MountStep::Mount(m) => Some(m),
                _ => None,
            })
            .collect();
        // No default /dev: the spec mounts dev at /dev itself.
        let origins: Vec<MountOrigin> = mounts.iter().map(|m| m.origin).collect();
        assert_eq!(
            origins,
            [
                MountOrigin::Root,
                MountOrigin::Spec(1),
                MountOrigin::Spec(2),
                MountOrigin::Spec(3),
                MountOrigin::Spec(4),
            ]
        );
        let iov = |m: &Nmount| m.iov.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert_eq!(
            iov(mounts[1]),
            [
                "fstype=nullfs",
                "fspath=/run/stockade/t/root/var/www",
                "target=/etc/stockade/site",
                "ro"
            ]
        );
        assert_eq!(
            iov(mounts[2]),
            [
                "fstype=tmpfs",
                "fspath=/run/stockade/t/root/tmp",
                "from=tmpfs",
                "size=67108864",
                "mode=1777"
            ]
        );
        assert_eq!(
            iov(mounts[3]),
            [
                "fstype=procfs",
                "fspath=/run/stockade/t/root/proc",
                "from=procfs"
            ]
        );
        assert_eq!(
            iov(mounts[4]),
            [
                "fstype=devfs",
                "fspath=/run/stockade/t/root/dev",
                "from=devfs",
                "ruleset=4",
                "ro"
            ]
        );
        // Every mount point lies in the user's folder: required, never created.
        let required: Vec<String> = steps
            .iter()
            .filter_map(|s| match s {
                MountStep::RequireDir { path } => Some(path.display().to_string()),
                MountStep::Mkdir { .. } if s != &steps[0] => Some("mkdir!".into()),
                _ => None,
            })
            .collect();
        assert_eq!(
            required,
            [
                "/run/stockade/t/root/var/www",
                "/run/stockade/t/root/tmp",
                "/run/stockade/t/root/proc",
                "/run/stockade/t/root/dev",
            ]
        );
    }

    #[test]
    fn nested_mount_points_are_created_in_our_tmpfs_only() {
        let s = spec(
            "[root]\npath = \"/srv/r\"\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/data\"\nreadonly = true\n\
             [[mount]]\nkind = \"bind\"\nsource = \"/srv/a\"\ntarget = \"/data/a/b\"\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/data/a/b/c\"\n",
        );
        let got = lines(&plan(&s, Path::new(JAIL), None));
        assert_eq!(
            &got[4..],
            [
                "require folder /run/stockade/t/root/data (must exist; not created, no symlinks followed)",
                "nmount fstype=tmpfs fspath=/run/stockade/t/root/data from=tmpfs mode=1777  (mount[1])",
                "mkdir /run/stockade/t/root/data/a mode=0755",
                "mkdir /run/stockade/t/root/data/a/b mode=0755",
                "MNT_UPDATE nmount fstype=tmpfs fspath=/run/stockade/t/root/data ro  (mount[1])",
                "nmount fstype=nullfs fspath=/run/stockade/t/root/data/a/b target=/srv/a  (mount[2])",
                "require folder /run/stockade/t/root/data/a/b/c (must exist; not created, no symlinks followed)",
                "nmount fstype=tmpfs fspath=/run/stockade/t/root/data/a/b/c from=tmpfs mode=1777  (mount[3])",
            ]
        );
    }

    #[test]
    fn a_later_mount_above_hides_an_earlier_deeper_one() {
        let s = spec(
            "[root]\npath = \"/srv/r\"\n\
             [[mount]]\nkind = \"bind\"\nsource = \"/srv/a\"\ntarget = \"/x/y\"\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/x\"\n\
             [[mount]]\nkind = \"tmpfs\"\ntarget = \"/x/y/z\"\n",
        );
        let got = lines(&plan(&s, Path::new(JAIL), None));
        // /x/y/z lies in the tmpfs at /x (mounted after /x/y, so on top of it).
        assert!(got.contains(&"mkdir /run/stockade/t/root/x/y mode=0755".to_string()));
        assert!(got.contains(&"mkdir /run/stockade/t/root/x/y/z mode=0755".to_string()));
    }

    #[test]
    fn readonly_tmpfs_without_mount_points_mounts_ro_directly() {
        let s = spec(
            "[root]\npath = \"/srv/r\"\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/ro\"\nreadonly = true\n",
        );
        let steps = plan(&s, Path::new(JAIL), None);
        let last = steps.last().expect("steps");
        assert_eq!(
            last.to_string(),
            "nmount fstype=tmpfs fspath=/run/stockade/t/root/ro from=tmpfs mode=1777 ro  (mount[1])"
        );
        assert!(!steps.iter().any(|s| matches!(s, MountStep::Remount(_))));
    }

    #[test]
    fn undo_unmounts_in_reverse() {
        let s = spec("[root]\nhost = true\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n");
        let steps = plan(&s, Path::new(JAIL), None);
        let mounted: Vec<&Path> = steps
            .iter()
            .filter_map(|s| match s {
                MountStep::Mount(m) => Some(m.fspath.as_path()),
                _ => None,
            })
            .collect();
        let mut reversed = mounted.clone();
        reversed.reverse();
        assert_eq!(undo_order(&steps), reversed);
        assert_eq!(
            undo_order(&steps).first(),
            Some(&Path::new("/run/stockade/t/root/tmp"))
        );
        assert_eq!(undo_order(&steps).last(), Some(&Path::new(JAIL)));
    }

    #[test]
    fn host_path_joins_below_the_jail() {
        assert_eq!(host_path(Path::new(JAIL), Path::new("/")), Path::new(JAIL));
        assert_eq!(
            host_path(Path::new(JAIL), Path::new("/a/b")),
            Path::new("/run/stockade/t/root/a/b")
        );
    }
}
