//! The environment spec, schema v1: the validated model of one TOML file.
//!
//! [`Spec::from_toml`] and [`Spec::load`] parse strictly (unknown keys, wrong types and
//! inconsistent values are errors naming file, line, column and key), so a `Spec` value is
//! always complete and consistent: planners never re-validate.

mod abi;
mod cpuset;
mod error;
mod image;
pub use image::{check_image_name, ImageRoot, ProcessKeys};
mod load;
mod netload;
mod publish;
pub use load::{check_hostname, check_name};
pub use publish::{Protocol, Publish};
mod reader;
pub mod schema;
mod size;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;

pub use abi::{Abi, LinuxAbi};
pub use cpuset::CpuSet;
pub use error::{Diagnostic, SpecError};
pub use size::{format_size, parse_size};

/// A validated environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// Unique name on the host (`name`); `[a-zA-Z0-9][a-zA-Z0-9_-]*`, not all digits, at
    /// most 64 bytes.
    pub name: String,
    /// Host name seen inside (`hostname`); defaults to `name`.
    pub hostname: String,
    /// The root file system (`[root]`).
    pub root: Root,
    /// The process to run (`[process]`).
    pub process: Process,
    /// Extra mounts in file order (`[[mount]]`).
    pub mounts: Vec<Mount>,
    /// Resource limits (`[limits]`).
    pub limits: Limits,
    /// Networking (`[network]`).
    pub network: Network,
    /// Extra privileges and the syscall filter (`[privileges]`).
    pub privileges: Privileges,
    /// The file this spec was read from, when it came from a file.
    pub source: Option<PathBuf>,
}

/// Where the root file system comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RootSource {
    /// A prepared directory on the host (`root.path`), absolute after loading.
    Path(PathBuf),
    /// A fresh tmpfs holding read-only views of the host's system directories (`root.host`).
    Host,
    /// An image from the local store (`root.image`): its layers are the lowers of a
    /// copy-on-write root.
    Image(ImageRoot),
}

/// The `[root]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Root {
    /// Where the root comes from.
    pub source: RootSource,
    /// Mount the root read-only (`root.readonly`, default false). With `host`, the host's
    /// folders are read-only either way; this makes the tmpfs around them read-only too.
    pub readonly: bool,
    /// Copy-on-write (`root.overlay = true`): the base is never written; the environment's
    /// writes land in a layer of its own. `None` when off (the default).
    pub overlay: Option<Overlay>,
    /// Which kernel ABI the root's binaries use (`root.abi`); `None` when not given
    /// (the host's own, or detected by a planner from the root's ELF interpreter).
    pub abi: Option<Abi>,
}

impl Root {
    /// The read-only folders of a copy-on-write root, top first: `root.layers`, then
    /// `root.path`. Empty for `root.host` (each host folder is its own lower) and when
    /// `overlay` is off.
    pub fn lowers(&self) -> Vec<&Path> {
        let Some(overlay) = &self.overlay else {
            return Vec::new();
        };
        let mut lowers: Vec<&Path> = overlay.layers.iter().map(PathBuf::as_path).collect();
        match &self.source {
            RootSource::Path(base) => lowers.push(base),
            RootSource::Image(image) => lowers.extend(image.layers.iter().map(PathBuf::as_path)),
            RootSource::Host => {}
        }
        lowers
    }
}

/// A copy-on-write root (`root.overlay = true`), with its optional keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// Read-only folders stacked *above* `root.path`, top first (`root.layers`), absolute
    /// after loading: a shared base in `path` plus per-role additions here. Only with
    /// `path`.
    pub layers: Vec<PathBuf>,
    /// Where the writable layer lives when it must survive `delete` (`root.changes`),
    /// absolute; the next create with the same folder sees it again. `None`: the layer
    /// is kept in the environment's state folder and removed on `delete`.
    pub changes: Option<PathBuf>,
}

/// A user and group to run as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum User {
    /// Numeric ids (`"1000:1000"`, or `"1000"` meaning gid = uid).
    Id {
        /// User id.
        uid: u32,
        /// Group id.
        gid: u32,
    },
    /// A name resolved in the root's /etc/passwd (and /etc/group) at start time.
    Name {
        /// User name.
        user: String,
        /// Group name, when given as `user:group`.
        group: Option<String>,
    },
}

impl User {
    /// root:root, the default.
    pub const ROOT: User = User::Id { uid: 0, gid: 0 };
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            User::Id { uid, gid } => write!(f, "{uid}:{gid}"),
            User::Name { user, group: None } => f.write_str(user),
            User::Name {
                user,
                group: Some(g),
            } => write!(f, "{user}:{g}"),
        }
    }
}

/// The `[process]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// argv; never empty; `command[0]` is looked up in the root's PATH when not absolute.
    pub command: Vec<String>,
    /// Working directory inside the root (absolute, default `/`).
    pub cwd: PathBuf,
    /// Environment: exactly these variables, plus `PATH` and `HOME` when not given (no
    /// `TERM` unless given: the host's terminal type may not exist in the root).
    pub env: BTreeMap<String, String>,
    /// Who to run as (default root:root).
    pub user: User,
    /// Run a minimal reaper as PID 1 (Linux); default false.
    pub init: bool,
    /// Give the process a pseudo-terminal (`process.terminal`, default false): `run`
    /// relays the caller's terminal to it, `create`/`run -d` let `attach` reach it.
    pub terminal: bool,
    /// Which of the keys above the file set: with `root.image`, the others come from
    /// the image's config.
    #[serde(skip)]
    pub given: ProcessKeys,
}

/// What kind of file system a `[[mount]]` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MountKind {
    /// A host directory or file (Linux bind mount, FreeBSD nullfs). Absolute after loading.
    Bind {
        /// Host path; relative paths in the file are relative to the file's folder.
        source: PathBuf,
    },
    /// A fresh memory file system.
    Tmpfs {
        /// Size limit in bytes (`size`), when given.
        size: Option<u64>,
    },
    /// The process file system.
    Proc,
    /// A minimal device tree (null, zero, full, random, urandom, tty, pts, shm).
    Dev,
}

impl MountKind {
    /// The spec's spelling of this kind.
    pub fn name(&self) -> &'static str {
        match self {
            MountKind::Bind { .. } => "bind",
            MountKind::Tmpfs { .. } => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Dev => "dev",
        }
    }
}

/// One `[[mount]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// The file system and its source.
    #[serde(flatten)]
    pub kind: MountKind,
    /// Absolute, normalised path inside the root (no `.` or `..` components).
    pub target: PathBuf,
    /// Mount read-only.
    pub readonly: bool,
}

/// The `[limits]` table; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    /// Memory in bytes (`memory`).
    pub memory: Option<u64>,
    /// Number of processes (tasks on Linux) (`processes`).
    pub processes: Option<u64>,
    /// CPU time as a number of cores, e.g. 1.5 (`cpus`).
    pub cpus: Option<f64>,
    /// Open file descriptors (`open_files`).
    pub open_files: Option<u64>,
    /// Exactly these CPUs (`cpuset`, e.g. `"0-1,4"`).
    pub cpuset: Option<CpuSet>,
    /// Make the limits visible inside (`visible`, default false): the CPU count
    /// (affinity) and, on Linux, /proc/meminfo, /proc/cpuinfo and /proc/stat.
    pub visible: bool,
}

impl Limits {
    /// True when no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Limits::default()
    }
}

/// Network modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// Own network stack with loopback only (the default).
    #[default]
    None,
    /// The host's network stack.
    Host,
    /// Own network stack joined to the host by a point-to-point link.
    Private,
}

impl NetworkMode {
    /// The spec's spelling.
    pub fn name(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Private => "private",
        }
    }
}

/// The `[network]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Network {
    /// The mode.
    pub mode: NetworkMode,
    /// The environment's address with prefix length (`private` only, required there).
    pub address: Option<IpNet>,
    /// The host side's address, used as default route inside (`private` only).
    pub gateway: Option<IpAddr>,
    /// Outbound traffic masqueraded behind the host's address (`private` only, default
    /// true there).
    pub nat: bool,
    /// Host ports forwarded to the environment (`private` only).
    pub publish: Vec<Publish>,
    /// Name servers written to the environment's own resolv.conf; `None`: the host's,
    /// those the environment can reach (`private` only).
    pub dns: Option<Vec<IpAddr>>,
    /// Search domains written to that resolv.conf (`private` only).
    pub search: Vec<String>,
}

/// The syscall filter on Linux (`privileges.seccomp`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Seccomp {
    /// stockade's default deny list (Docker's default profile's denials).
    #[default]
    Default,
    /// No filter.
    Unconfined,
}

/// The `[privileges]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Privileges {
    /// Extra privileges beyond the safe default, deduplicated, in file order.
    pub allow: Vec<Privilege>,
    /// The syscall filter.
    pub seccomp: Seccomp,
}

macro_rules! privileges {
    ($($variant:ident = $name:literal: $doc:literal,)*) => {
        /// A portable privilege name, mapped per OS by the backends and the portability table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Privilege {
            $(#[doc = $doc] $variant,)*
        }

        impl Privilege {
            /// Every privilege, in documentation order.
            pub const ALL: &'static [Privilege] = &[$(Privilege::$variant,)*];

            /// The spec's spelling.
            pub fn name(self) -> &'static str {
                match self { $(Privilege::$variant => $name,)* }
            }

            /// What it lets the environment do, in one line.
            pub fn description(self) -> &'static str {
                match self { $(Privilege::$variant => $doc,)* }
            }
        }
    };
}

privileges! {
    RawSockets = "raw_sockets": "open raw and packet sockets (ping, packet capture)",
    Chown = "chown": "change the owner of any file",
    NetBindService = "net_bind_service": "bind TCP/UDP ports below 1024",
    Mount = "mount": "mount file systems inside the environment",
    Sysvipc = "sysvipc": "bypass permission checks on System V IPC objects",
    Mlock = "mlock": "lock memory (mlock, mlockall, huge pages)",
    SetHostname = "set_hostname": "change the environment's host name",
    Chflags = "chflags": "set immutable and append-only file flags",
    Mknod = "mknod": "create device nodes",
    Ptrace = "ptrace": "trace and inspect any process in the environment",
    SysNice = "sys_nice": "raise priorities and set real-time scheduling",
}

impl Privilege {
    /// Looks a privilege up by its spec spelling.
    pub fn from_name(name: &str) -> Option<Privilege> {
        Privilege::ALL.iter().copied().find(|p| p.name() == name)
    }
}

impl Spec {
    /// Reads and validates a spec file. Relative paths inside resolve against its folder.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        load::load_file(path, None)
    }

    /// Like [`Spec::load`], with `name` (from `--name`) replacing the file's `name`; a
    /// file without `name` is then valid whatever its file name.
    pub fn load_as(path: &Path, name: Option<&str>) -> Result<Spec, SpecError> {
        load::load_file(path, name)
    }

    /// Parses and validates spec text. `origin` names the file in errors and is the base of
    /// relative paths (its parent folder); `None` means "<input>" and the current folder.
    pub fn from_toml(text: &str, origin: Option<&Path>) -> Result<Spec, SpecError> {
        load::parse(text, origin, None)
    }
}
