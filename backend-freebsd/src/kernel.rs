//! The kernel layer: every FreeBSD operation the apply sequence makes, behind one narrow
//! trait.
//!
//! [`Kernel`] names each operation with typed, FreeBSD-free arguments (plan types, paths,
//! [`Jid`], [`IpNet`]) so that the trait, the apply sequence over it and a recording fake
//! compile and run on any OS: `apply` and its undo are unit-tested on Linux, and only the
//! real implementation (`sys`, FreeBSD only) makes system calls.
//!
//! # Contract
//! - **All or nothing.** A call that fails has made nothing: the apply sequence records
//!   each object *before* making it (see `stockade_core::state::Entry::record`) and
//!   forgets the record when the call fails, so the record always lists what may exist.
//!   Calls that take several system calls (creating and renaming an epair) clean up their
//!   own partial work before they return an error.
//! - **Gone is visible.** An undo call on an object that does not exist fails with an
//!   error for which [`KernelError::is_gone`] is true, so `delete --force` can tolerate it
//!   and plain `delete` can report it.
//! - **No hidden state.** Calls are independent; the jail is addressed by its [`Jid`],
//!   found again by name ([`Kernel::find_jail`]) by every later command.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Serialize;
use stockade_core::spec::Protocol;

use crate::plan::mount::Nmount;
use crate::plan::net::EpairNames;

/// A jail id (jid), as jail_set(2) returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Jid(pub i32);

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The value of one jail_set(2) parameter, as the kernel reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum JailArg {
    /// A NUL-terminated string (`host.hostname`).
    Str(String),
    /// A C `int`: numbers, and the jailsys keywords (`vnet`, `sysvmsg`, `ip4`, ...)
    /// as `JAIL_SYS_DISABLE` 0, `JAIL_SYS_NEW` 1, `JAIL_SYS_INHERIT` 2.
    Int(i32),
    /// A boolean parameter: the kernel sets the flag when the name is present
    /// (`allow.raw_sockets`) and clears it for the `no` name (`allow.noraw_sockets`),
    /// whatever value accompanies it (vfs_flagopt(9) in kern_jail_set()).
    Flag,
}

/// Everything jail_set(2) with `JAIL_CREATE` gets. `persist` is always set: the jail
/// must outlive its processes until `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JailParams {
    /// The jail's name.
    pub name: String,
    /// Its root on the host.
    pub path: PathBuf,
    /// Every other parameter, in plan order.
    pub args: Vec<(String, JailArg)>,
}

impl fmt::Display for JailArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JailArg::Str(s) => write!(f, "{s:?}"),
            JailArg::Int(n) => write!(f, "{n}"),
            JailArg::Flag => f.write_str("(flag)"),
        }
    }
}

/// Which network stack an interface operation runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Netns {
    /// The host's.
    Host,
    /// The vnet of this jail (the operation runs in a process attached to it).
    Jail(Jid),
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Host => f.write_str("host"),
            Netns::Jail(jid) => write!(f, "jail {jid}"),
        }
    }
}

/// A signal sent to every process of a jail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JailSignal {
    /// SIGTERM: please exit.
    Term,
    /// SIGKILL.
    Kill,
    /// Signal 0: only asks whether any process is left.
    Probe,
}

impl fmt::Display for JailSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JailSignal::Term => "SIGTERM",
            JailSignal::Kill => "SIGKILL",
            JailSignal::Probe => "0",
        })
    }
}

/// Resource usage of a jail as racct reports it (`rctl -u jail:NAME`): resource name to
/// amount (bytes, counts, percent), e.g. `memoryuse`, `maxproc`, `pcpu`, `openfiles`.
pub type Usage = BTreeMap<String, u64>;

/// What a path in a root is, reached without following a symbolic link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FileKind {
    /// A regular file.
    Regular,
    /// Nothing (ENOENT at the last component).
    Missing,
    /// A symbolic link, a folder or another kind of file, or a symbolic link on the way.
    Other(&'static str),
}

// errno values that mean "that object does not exist" to an undo call. They are the
// historical Unix numbers, identical on FreeBSD and Linux, so the fake can use them too.
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const ENXIO: i32 = 6;
const EBUSY: i32 = 16;
const EINVAL: i32 = 22;
/// EROFS: the file system is read-only (identical on FreeBSD and Linux).
pub const EROFS: i32 = 30;

/// A failed kernel operation, with what was being done and why.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A system call failed; `source` carries the errno.
    #[error("{op}: {source}")]
    Os {
        /// The operation, with its arguments (`nmount tmpfs /run/stockade/web/root`).
        op: String,
        /// The cause.
        source: io::Error,
    },
    /// jail_set(2) or jail_get(2) failed with the kernel's own message (its `errmsg`
    /// parameter; the jail crate keeps that text instead of the errno).
    #[error("{op}: {message}")]
    Jail {
        /// The operation.
        op: String,
        /// The kernel's message, e.g. `jail "web" already exists`.
        message: String,
    },
    /// A base-system tool (ifconfig(8), route(8)) exited unsuccessfully.
    #[error("{op}: {tool} {status}: {stderr}")]
    Tool {
        /// The operation.
        op: String,
        /// The tool's path.
        tool: String,
        /// How it ended (`exited with 1`, `killed by signal 9`).
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

impl KernelError {
    /// An [`KernelError::Os`] error.
    pub fn os(op: impl Into<String>, source: io::Error) -> KernelError {
        KernelError::Os {
            op: op.into(),
            source,
        }
    }

    /// The errno, when a system call failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            KernelError::Os { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// True when an undo call failed because its object does not exist (any more):
    /// ENOENT (no such path), EINVAL (not a mount point; no such jail for
    /// jail_remove(2)), ESRCH (no such rule or process), ENXIO (no such interface).
    pub fn is_gone(&self) -> bool {
        matches!(self.errno(), Some(ENOENT | EINVAL | ESRCH | ENXIO))
    }

    /// True when the object is still in use (EBUSY): an unmount while a dying jail
    /// still holds the file system, worth retrying.
    pub fn is_busy(&self) -> bool {
        self.errno() == Some(EBUSY)
    }
}

/// Result of a kernel operation.
pub type KResult<T> = Result<T, KernelError>;

/// Every FreeBSD operation of creating, stopping and deleting a jail environment.
///
/// Implemented by `sys::SysKernel` on FreeBSD and by a recording fake in tests. The
/// process-side calls (fork, jail_attach(2) of the calling process, credentials, execve)
/// are not here: they act on the calling process and live in the FreeBSD-only runtime.
pub trait Kernel {
    /// mkdir(2) with these permission bits (not changed by the umask).
    fn mkdir(&mut self, path: &Path, mode: u32) -> KResult<()>;
    /// rmdir(2).
    fn rmdir(&mut self, path: &Path) -> KResult<()>;
    /// Checks that `path` is a folder below `root`, reached from `root` without following
    /// a symbolic link (the planner's `RequireDir`).
    fn require_dir(&mut self, path: &Path, root: &Path) -> KResult<()>;
    /// nmount(2) with the name/value list of `mount`; `update` adds `MNT_UPDATE`.
    fn nmount(&mut self, mount: &Nmount, update: bool) -> KResult<()>;
    /// unmount(2); `force` adds `MNT_FORCE`.
    fn unmount(&mut self, path: &Path, force: bool) -> KResult<()>;
    /// rctl_add_rule(2) with this rule (`jail:web:maxproc:deny=64`).
    fn rctl_add(&mut self, rule: &str) -> KResult<()>;
    /// rctl_remove_rule(2) with this filter.
    fn rctl_remove(&mut self, filter: &str) -> KResult<()>;
    /// rctl_get_racct(2) for `jail:<name>`.
    fn racct_usage(&mut self, jail: &str) -> KResult<Usage>;
    /// jail_set(2) with `JAIL_CREATE`; returns the new jail's id.
    fn jail_create(&mut self, params: &JailParams) -> KResult<Jid>;
    /// cpuset_setaffinity(2) of the jail's root set (`CPU_LEVEL_CPUSET`,
    /// `CPU_WHICH_JAIL`, as `cpuset -j JID -l LIST`): its processes run on these CPUs.
    fn jail_cpuset(&mut self, jid: Jid, cpus: &[u32]) -> KResult<()>;
    /// The id of the live jail with this name, if there is one.
    fn find_jail(&mut self, name: &str) -> KResult<Option<Jid>>;
    /// jail_remove(2): kills the jail's processes and removes it.
    fn jail_remove(&mut self, jid: Jid) -> KResult<()>;
    /// Sends a signal to every process in the jail; true when at least one got it.
    fn signal_jail(&mut self, jid: Jid, signal: JailSignal) -> KResult<bool>;
    /// Creates an epair(4) and names its ends `names.host` and `names.jail`.
    fn epair_create(&mut self, names: &EpairNames) -> KResult<()>;
    /// Moves a host interface into the jail's vnet (`SIOCSIFVNET`).
    fn if_vnet(&mut self, iface: &str, jid: Jid) -> KResult<()>;
    /// Adds an address with its prefix length to an interface.
    fn if_addr(&mut self, ns: Netns, iface: &str, address: IpNet) -> KResult<()>;
    /// Sets `IFF_UP` on an interface.
    fn if_up(&mut self, ns: Netns, iface: &str) -> KResult<()>;
    /// Adds the default route via `gateway`.
    fn route_default(&mut self, ns: Netns, gateway: IpAddr) -> KResult<()>;
    /// Destroys a host interface (and an epair's peer, wherever it is).
    fn if_destroy(&mut self, iface: &str) -> KResult<()>;
    /// mkdir(2) of `path` and its missing parents with these permission bits; a folder
    /// that exists is fine. For the writable layer of a copy-on-write root, which undo
    /// never removes.
    fn ensure_dir(&mut self, path: &Path, mode: u32) -> KResult<()>;
    /// `zfs snapshot` (`dataset@name`).
    fn zfs_snapshot(&mut self, snapshot: &str) -> KResult<()>;
    /// `zfs clone -o mountpoint=legacy snapshot clone`: mounted by nmount(2) only.
    fn zfs_clone(&mut self, snapshot: &str, clone: &str) -> KResult<()>;
    /// `zfs destroy` of a clone or snapshot; a dataset that does not exist is ENOENT.
    fn zfs_destroy(&mut self, name: &str) -> KResult<()>;
    /// The interface of the host's default route (`route -n get [-inet6] default`), the
    /// `ext_if` macro of the pf rules.
    fn default_route_iface(&mut self, ipv6: bool) -> KResult<String>;
    /// sysctlbyname(3) of an integer (`net.inet.ip.forwarding` = 1).
    fn sysctl_set(&mut self, name: &str, value: i32) -> KResult<()>;
    /// `pfctl -a ANCHOR [-D NAME=VALUE]... -f -` with `rules` on stdin: replaces the
    /// anchor's rules in one transaction (a rule pfctl rejects loads nothing).
    fn pf_load(
        &mut self,
        anchor: &str,
        macros: &[(String, String)],
        rules: &[String],
    ) -> KResult<()>;
    /// `pfctl -a ANCHOR -F all`: flushes the anchor's rules, states and tables. An empty
    /// anchor flushes fine, so a flush is never "gone".
    fn pf_flush(&mut self, anchor: &str) -> KResult<()>;
    /// sysctlbyname(3) reading an integer (`net.inet6.ip6.forwarding`).
    fn sysctl_get(&mut self, name: &str) -> KResult<i32>;
    /// Whether a host port is taken: bind(2) of `address` with `protocol` for a moment
    /// (`SO_REUSEADDR`, so a connection in TIME_WAIT does not count); true on EADDRINUSE.
    fn port_in_use(&mut self, address: SocketAddr, protocol: Protocol) -> KResult<bool>;
    /// The text of a host configuration file (`/etc/resolv.conf`); `None` when it does
    /// not exist.
    fn host_file(&mut self, path: &Path) -> KResult<Option<String>>;
    /// The host's own addresses (getifaddrs(3)).
    fn host_addresses(&mut self) -> KResult<Vec<IpAddr>>;
    /// Writes a new file, mode 0644, in a folder stockade owns (the state folder):
    /// O_CREAT|O_EXCL|O_NOFOLLOW.
    fn write_file(&mut self, path: &Path, text: &str) -> KResult<()>;
    /// What `path` is, reached from `root` without following a symbolic link.
    fn file_below(&mut self, path: &Path, root: &Path) -> KResult<FileKind>;
    /// Creates the file `path` below `root` with `text`, mode 0644: every folder on the way
    /// opened with O_NOFOLLOW from `root`, the file with O_CREAT|O_EXCL|O_NOFOLLOW.
    fn create_file_below(&mut self, path: &Path, root: &Path, text: &str) -> KResult<()>;
    /// Removes the file `path` below `root` (unlinkat(2) in its folder, reached as by
    /// [`Kernel::create_file_below`]); a missing file is ENOENT.
    fn remove_file_below(&mut self, path: &Path, root: &Path) -> KResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gone_and_busy_follow_the_errno() {
        let e = |n| KernelError::os("op", io::Error::from_raw_os_error(n));
        for gone in [ENOENT, ESRCH, ENXIO, EINVAL] {
            assert!(e(gone).is_gone(), "{gone}");
        }
        assert!(!e(EBUSY).is_gone());
        assert!(e(EBUSY).is_busy());
        assert!(!e(1).is_gone());
        let jail = KernelError::Jail {
            op: "jail_set".into(),
            message: "jail \"web\" already exists".into(),
        };
        assert!(!jail.is_gone());
        assert_eq!(jail.to_string(), "jail_set: jail \"web\" already exists");
    }

    #[test]
    fn errno_is_kept_in_the_message() {
        let e = KernelError::os("unmount /x", io::Error::from_raw_os_error(EBUSY));
        assert!(e.to_string().starts_with("unmount /x: "), "{e}");
        assert_eq!(e.errno(), Some(EBUSY));
    }
}
