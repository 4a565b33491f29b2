//! A recording fake of the [`Kernel`]: it keeps a small model of what exists (folders,
//! the mount stack, rules, jails, interfaces), records every call in order, and fails
//! the call with a chosen index, to test each step's undo.
//!
//! The model is strict where the real kernel is: unmounting a file system with another
//! mounted below it is EBUSY, removing a folder something is mounted on is EBUSY, a jail
//! name is unique, an interface is in one stack at a time, and destroying one end of an
//! epair destroys both. An undo in the wrong order therefore fails here as it would on
//! FreeBSD.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use stockade_core::spec::Protocol;

use crate::kernel::{
    FileKind, JailParams, JailSignal, Jid, KResult, Kernel, KernelError, Netns, Usage, EROFS,
};
use crate::plan::mount::Nmount;
use crate::plan::net::EpairNames;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mkdir(PathBuf, u32),
    Rmdir(PathBuf),
    RequireDir(PathBuf),
    Nmount {
        fstype: &'static str,
        fspath: PathBuf,
        ro: bool,
        update: bool,
    },
    Unmount(PathBuf, bool),
    RctlAdd(String),
    RctlRemove(String),
    RacctUsage(String),
    JailCreate(String),
    JailCpuset(Jid, String),
    FindJail(String),
    JailRemove(Jid),
    SignalJail(Jid, JailSignal),
    EpairCreate(String, String),
    IfVnet(String, Jid),
    IfAddr(Netns, String, IpNet),
    IfUp(Netns, String),
    RouteDefault(Netns, IpAddr),
    IfDestroy(String),
    EnsureDir(PathBuf, u32),
    ZfsSnapshot(String),
    ZfsClone(String, String),
    ZfsDestroy(String),
    DefaultRouteIface(bool),
    SysctlSet(String, i32),
    PfLoad(String, Vec<(String, String)>, Vec<String>),
    PfFlush(String),
    SysctlGet(String),
    PortInUse(SocketAddr, Protocol),
    HostFile(PathBuf),
    HostAddresses,
    WriteFile(PathBuf, String),
    FileBelow(PathBuf),
    CreateFileBelow(PathBuf),
    RemoveFileBelow(PathBuf),
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Mkdir(p, mode) => write!(f, "mkdir {} {mode:04o}", p.display()),
            Call::Rmdir(p) => write!(f, "rmdir {}", p.display()),
            Call::RequireDir(p) => write!(f, "require_dir {}", p.display()),
            Call::Nmount {
                fstype,
                fspath,
                ro,
                update,
            } => write!(
                f,
                "nmount {}{fstype} {}{}",
                if *update { "MNT_UPDATE " } else { "" },
                fspath.display(),
                if *ro { " ro" } else { "" }
            ),
            Call::Unmount(p, false) => write!(f, "unmount {}", p.display()),
            Call::Unmount(p, true) => write!(f, "unmount -f {}", p.display()),
            Call::RctlAdd(r) => write!(f, "rctl_add {r}"),
            Call::RctlRemove(r) => write!(f, "rctl_remove {r}"),
            Call::RacctUsage(j) => write!(f, "racct_usage {j}"),
            Call::JailCreate(n) => write!(f, "jail_create {n}"),
            Call::JailCpuset(j, l) => write!(f, "jail_cpuset {j} {l}"),
            Call::FindJail(n) => write!(f, "find_jail {n}"),
            Call::JailRemove(j) => write!(f, "jail_remove {j}"),
            Call::SignalJail(j, s) => write!(f, "signal_jail {j} {s}"),
            Call::EpairCreate(a, b) => write!(f, "epair_create {a} {b}"),
            Call::IfVnet(i, j) => write!(f, "if_vnet {i} {j}"),
            Call::IfAddr(ns, i, a) => write!(f, "if_addr {ns} {i} {a}"),
            Call::IfUp(ns, i) => write!(f, "if_up {ns} {i}"),
            Call::RouteDefault(ns, g) => write!(f, "route_default {ns} {g}"),
            Call::IfDestroy(i) => write!(f, "if_destroy {i}"),
            Call::EnsureDir(p, mode) => write!(f, "ensure_dir {} {mode:04o}", p.display()),
            Call::ZfsSnapshot(s) => write!(f, "zfs_snapshot {s}"),
            Call::ZfsClone(s, c) => write!(f, "zfs_clone {s} {c}"),
            Call::ZfsDestroy(d) => write!(f, "zfs_destroy {d}"),
            Call::DefaultRouteIface(v6) => {
                write!(f, "default_route_iface{}", if *v6 { " inet6" } else { "" })
            }
            Call::SysctlSet(n, v) => write!(f, "sysctl_set {n}={v}"),
            Call::PfLoad(a, macros, rules) => {
                write!(f, "pf_load {a}")?;
                for (k, v) in macros {
                    write!(f, " -D {k}={v}")?;
                }
                write!(f, " <<{}", rules.join("; "))
            }
            Call::PfFlush(a) => write!(f, "pf_flush {a}"),
            Call::SysctlGet(n) => write!(f, "sysctl_get {n}"),
            Call::PortInUse(at, p) => write!(f, "port_in_use {}/{at}", p.name()),
            Call::HostFile(p) => write!(f, "host_file {}", p.display()),
            Call::HostAddresses => f.write_str("host_addresses"),
            Call::WriteFile(p, text) => {
                write!(
                    f,
                    "write_file {} <<{}",
                    p.display(),
                    text.replace('\n', "; ")
                )
            }
            Call::FileBelow(p) => write!(f, "file_below {}", p.display()),
            Call::CreateFileBelow(p) => write!(f, "create_file_below {}", p.display()),
            Call::RemoveFileBelow(p) => write!(f, "remove_file_below {}", p.display()),
        }
    }
}

const EIO: i32 = 5;
const ESRCH: i32 = 3;
const ENXIO: i32 = 6;
const EBUSY: i32 = 16;
const EEXIST: i32 = 17;
const EINVAL: i32 = 22;
const ENOENT: i32 = 2;

fn os(call: &Call, errno: i32) -> KernelError {
    KernelError::os(call.to_string(), io::Error::from_raw_os_error(errno))
}

/// The fake kernel.
#[derive(Debug, Default)]
pub struct Fake {
    /// Every call, in order (the failing one included).
    pub calls: Vec<Call>,
    /// The index in `calls` of the call that fails with EIO, making nothing.
    pub fail_at: Option<usize>,
    /// Whether racct is on (rctl calls fail with ENOSYS otherwise).
    pub racct: bool,
    /// Processes per jail, for `stop`.
    pub procs: BTreeMap<Jid, u32>,
    /// Processes ignore SIGTERM.
    pub ignore_term: bool,
    /// What racct reports for every jail.
    pub usage: Usage,
    dirs: BTreeSet<PathBuf>,
    mounts: Vec<PathBuf>,
    rules: Vec<String>,
    /// Jid → (name, path).
    jails: BTreeMap<Jid, (String, PathBuf)>,
    next_jid: i32,
    /// Interface name → the jail whose vnet holds it (`None`: the host).
    ifaces: BTreeMap<String, Option<Jid>>,
    /// Folders of writable layers: never removed by undo, so not leftovers.
    pub kept_dirs: BTreeSet<PathBuf>,
    /// ZFS datasets and snapshots that exist (`zfs_*` calls need one in the model).
    pub datasets: BTreeSet<String>,
    /// Clone → the snapshot it was made from.
    clones: BTreeMap<String, String>,
    /// Mount point → the ZFS dataset mounted there.
    zfs_mounts: BTreeMap<PathBuf, String>,
    /// pf anchor → its loaded rules (an anchor with none is not kept).
    pub anchors: BTreeMap<String, Vec<String>>,
    /// sysctl values (read as 0 when never set).
    pub sysctls: BTreeMap<String, i32>,
    /// Host ports a host process holds.
    pub taken_ports: BTreeSet<(Protocol, u16)>,
    /// The host's configuration files, by path.
    pub host_files: BTreeMap<PathBuf, String>,
    /// The host's own addresses.
    pub host_addrs: Vec<IpAddr>,
    /// Files written into the state folder (they go with it, so are not leftovers).
    pub state_files: BTreeMap<PathBuf, String>,
    /// What paths in roots are (anything not here is missing).
    pub root_files: BTreeMap<PathBuf, FileKind>,
    /// Files stockade created in roots, with their text.
    pub written: BTreeMap<PathBuf, String>,
    /// Roots are read-only: creating a file in one fails with EROFS.
    pub readonly_roots: bool,
}

impl Fake {
    /// A fake with racct on.
    pub fn new() -> Fake {
        Fake {
            racct: true,
            next_jid: 1,
            ..Fake::default()
        }
    }

    /// A fake whose call number `index` fails.
    pub fn failing_at(index: usize) -> Fake {
        Fake {
            fail_at: Some(index),
            ..Fake::new()
        }
    }

    /// The calls, as text.
    pub fn lines(&self) -> Vec<String> {
        self.calls.iter().map(ToString::to_string).collect()
    }

    /// What still exists: empty when everything made was undone.
    pub fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = Vec::new();
        left.extend(self.dirs.iter().map(|d| format!("dir {}", d.display())));
        left.extend(self.mounts.iter().map(|m| format!("mount {}", m.display())));
        left.extend(self.rules.iter().map(|r| format!("rule {r}")));
        left.extend(self.jails.values().map(|(j, _)| format!("jail {j}")));
        left.extend(self.ifaces.keys().map(|i| format!("interface {i}")));
        left.extend(self.anchors.keys().map(|a| format!("pf anchor {a}")));
        left.extend(self.written.keys().map(|f| format!("file {}", f.display())));
        left.extend(
            self.datasets
                .iter()
                .filter(|d| d.contains("stockade-"))
                .map(|d| format!("dataset {d}")),
        );
        left
    }

    /// Records a call; fails it when it is the chosen one.
    fn call(&mut self, call: Call) -> KResult<Call> {
        let index = self.calls.len();
        self.calls.push(call.clone());
        if self.fail_at == Some(index) {
            return Err(os(&call, EIO));
        }
        Ok(call)
    }

    fn in_ns(&self, ns: Netns, iface: &str) -> bool {
        match ns {
            Netns::Host => self.ifaces.get(iface) == Some(&None),
            Netns::Jail(jid) => {
                self.jails.contains_key(&jid)
                    && (iface == "lo0" || self.ifaces.get(iface) == Some(&Some(jid)))
            }
        }
    }
}

fn peer(iface: &str) -> String {
    let mut s = iface.to_string();
    match s.pop() {
        Some('a') => s.push('b'),
        Some('b') => s.push('a'),
        Some(c) => s.push(c),
        None => {}
    }
    s
}

impl Kernel for Fake {
    fn mkdir(&mut self, path: &Path, mode: u32) -> KResult<()> {
        let c = self.call(Call::Mkdir(path.into(), mode))?;
        if !self.dirs.insert(path.into()) {
            return Err(os(&c, EEXIST));
        }
        Ok(())
    }

    fn rmdir(&mut self, path: &Path) -> KResult<()> {
        let c = self.call(Call::Rmdir(path.into()))?;
        if !self.dirs.contains(path) {
            return Err(os(&c, ENOENT));
        }
        if self.mounts.iter().any(|m| m.starts_with(path)) {
            return Err(os(&c, EBUSY));
        }
        if self.dirs.iter().any(|d| d != path && d.starts_with(path)) {
            return Err(KernelError::os(
                c.to_string(),
                io::Error::new(io::ErrorKind::DirectoryNotEmpty, "not empty"),
            ));
        }
        self.dirs.remove(path);
        Ok(())
    }

    fn require_dir(&mut self, path: &Path, root: &Path) -> KResult<()> {
        let c = self.call(Call::RequireDir(path.into()))?;
        if !path.starts_with(root) {
            return Err(os(&c, EINVAL));
        }
        Ok(())
    }

    fn nmount(&mut self, mount: &Nmount, update: bool) -> KResult<()> {
        let c = self.call(Call::Nmount {
            fstype: mount.fstype.as_str(),
            fspath: mount.fspath.clone(),
            ro: mount.is_readonly(),
            update,
        })?;
        if update {
            if !self.mounts.contains(&mount.fspath) {
                return Err(os(&c, EINVAL));
            }
        } else {
            if mount.fstype == crate::plan::mount::FsType::Zfs {
                let from = match mount.option("from") {
                    Some(crate::plan::mount::IovValue::Str(d)) => d.clone(),
                    _ => return Err(os(&c, EINVAL)),
                };
                if !self.datasets.contains(&from) {
                    return Err(os(&c, ENOENT));
                }
                self.zfs_mounts.insert(mount.fspath.clone(), from);
            }
            self.mounts.push(mount.fspath.clone());
        }
        Ok(())
    }

    fn unmount(&mut self, path: &Path, force: bool) -> KResult<()> {
        let c = self.call(Call::Unmount(path.into(), force))?;
        let Some(at) = self.mounts.iter().rposition(|m| m == path) else {
            return Err(os(&c, EINVAL));
        };
        // Anything mounted later at or below it keeps it busy.
        if self.mounts[at + 1..].iter().any(|m| m.starts_with(path)) {
            return Err(os(&c, EBUSY));
        }
        // A live jail holds its root (MNT_FORCE or not: the fake has no dying jails).
        if self.jails.values().any(|(_, root)| root == path) {
            return Err(os(&c, EBUSY));
        }
        self.mounts.remove(at);
        if !self.mounts.contains(&path.to_path_buf()) {
            self.zfs_mounts.remove(path);
        }
        // Folders made inside the file system go with it.
        self.dirs.retain(|d| d == path || !d.starts_with(path));
        Ok(())
    }

    fn rctl_add(&mut self, rule: &str) -> KResult<()> {
        let c = self.call(Call::RctlAdd(rule.into()))?;
        if !self.racct {
            return Err(KernelError::os(
                c.to_string(),
                io::Error::new(io::ErrorKind::Unsupported, "racct is off"),
            ));
        }
        self.rules.push(rule.into());
        Ok(())
    }

    fn rctl_remove(&mut self, filter: &str) -> KResult<()> {
        let c = self.call(Call::RctlRemove(filter.into()))?;
        let before = self.rules.len();
        self.rules.retain(|r| r != filter);
        if self.rules.len() == before {
            return Err(os(&c, ESRCH));
        }
        Ok(())
    }

    fn racct_usage(&mut self, jail: &str) -> KResult<Usage> {
        let c = self.call(Call::RacctUsage(jail.into()))?;
        if !self.racct {
            return Err(KernelError::os(
                c.to_string(),
                io::Error::new(io::ErrorKind::Unsupported, "racct is off"),
            ));
        }
        Ok(self.usage.clone())
    }

    fn jail_create(&mut self, params: &JailParams) -> KResult<Jid> {
        let c = self.call(Call::JailCreate(params.name.clone()))?;
        if self.jails.values().any(|(n, _)| *n == params.name) {
            return Err(KernelError::Jail {
                op: c.to_string(),
                message: format!("jail \"{}\" already exists", params.name),
            });
        }
        if !self.dirs.contains(&params.path) {
            return Err(os(&c, ENOENT));
        }
        let jid = Jid(self.next_jid);
        self.next_jid += 1;
        self.jails
            .insert(jid, (params.name.clone(), params.path.clone()));
        Ok(jid)
    }

    fn jail_cpuset(&mut self, jid: Jid, cpus: &[u32]) -> KResult<()> {
        let list = stockade_core::spec::CpuSet::from_cpus(cpus.to_vec())
            .map_or_else(String::new, |s| s.to_string());
        let c = self.call(Call::JailCpuset(jid, list))?;
        if cpus.is_empty() {
            return Err(os(&c, EINVAL));
        }
        if !self.jails.contains_key(&jid) {
            return Err(os(&c, ESRCH));
        }
        Ok(())
    }

    fn find_jail(&mut self, name: &str) -> KResult<Option<Jid>> {
        self.call(Call::FindJail(name.into()))?;
        Ok(self
            .jails
            .iter()
            .find(|(_, (n, _))| *n == name)
            .map(|(jid, _)| *jid))
    }

    fn jail_remove(&mut self, jid: Jid) -> KResult<()> {
        let c = self.call(Call::JailRemove(jid))?;
        if self.jails.remove(&jid).is_none() {
            return Err(os(&c, EINVAL));
        }
        self.procs.remove(&jid);
        // A removed vnet hands its interfaces back to the host.
        for loc in self.ifaces.values_mut() {
            if *loc == Some(jid) {
                *loc = None;
            }
        }
        Ok(())
    }

    fn signal_jail(&mut self, jid: Jid, signal: JailSignal) -> KResult<bool> {
        let c = self.call(Call::SignalJail(jid, signal))?;
        if !self.jails.contains_key(&jid) {
            return Err(os(&c, EINVAL));
        }
        let n = self.procs.entry(jid).or_default();
        let any = *n > 0;
        match signal {
            JailSignal::Term if !self.ignore_term => *n = 0,
            JailSignal::Kill => *n = 0,
            _ => {}
        }
        Ok(any)
    }

    fn epair_create(&mut self, names: &EpairNames) -> KResult<()> {
        let c = self.call(Call::EpairCreate(names.host.clone(), names.jail.clone()))?;
        if self.ifaces.contains_key(&names.host) || self.ifaces.contains_key(&names.jail) {
            return Err(os(&c, EEXIST));
        }
        self.ifaces.insert(names.host.clone(), None);
        self.ifaces.insert(names.jail.clone(), None);
        Ok(())
    }

    fn if_vnet(&mut self, iface: &str, jid: Jid) -> KResult<()> {
        let c = self.call(Call::IfVnet(iface.into(), jid))?;
        if !self.jails.contains_key(&jid) {
            return Err(os(&c, ENOENT));
        }
        match self.ifaces.get_mut(iface) {
            Some(loc @ None) => {
                *loc = Some(jid);
                Ok(())
            }
            _ => Err(os(&c, ENXIO)),
        }
    }

    fn if_addr(&mut self, ns: Netns, iface: &str, address: IpNet) -> KResult<()> {
        let c = self.call(Call::IfAddr(ns, iface.into(), address))?;
        if !self.in_ns(ns, iface) {
            return Err(os(&c, ENXIO));
        }
        Ok(())
    }

    fn if_up(&mut self, ns: Netns, iface: &str) -> KResult<()> {
        let c = self.call(Call::IfUp(ns, iface.into()))?;
        if !self.in_ns(ns, iface) {
            return Err(os(&c, ENXIO));
        }
        Ok(())
    }

    fn route_default(&mut self, ns: Netns, gateway: IpAddr) -> KResult<()> {
        let c = self.call(Call::RouteDefault(ns, gateway))?;
        if let Netns::Jail(jid) = ns {
            if !self.jails.contains_key(&jid) {
                return Err(os(&c, EINVAL));
            }
        }
        Ok(())
    }

    fn if_destroy(&mut self, iface: &str) -> KResult<()> {
        let c = self.call(Call::IfDestroy(iface.into()))?;
        if self.ifaces.get(iface) != Some(&None) {
            return Err(os(&c, ENXIO));
        }
        self.ifaces.remove(iface);
        self.ifaces.remove(&peer(iface));
        Ok(())
    }

    fn ensure_dir(&mut self, path: &Path, mode: u32) -> KResult<()> {
        self.call(Call::EnsureDir(path.into(), mode))?;
        self.kept_dirs.insert(path.into());
        Ok(())
    }

    fn zfs_snapshot(&mut self, snapshot: &str) -> KResult<()> {
        let c = self.call(Call::ZfsSnapshot(snapshot.into()))?;
        let Some((dataset, _)) = snapshot.split_once('@') else {
            return Err(os(&c, EINVAL));
        };
        if !self.datasets.contains(dataset) {
            return Err(os(&c, ENOENT));
        }
        if !self.datasets.insert(snapshot.into()) {
            return Err(os(&c, EEXIST));
        }
        Ok(())
    }

    fn zfs_clone(&mut self, snapshot: &str, clone: &str) -> KResult<()> {
        let c = self.call(Call::ZfsClone(snapshot.into(), clone.into()))?;
        if !self.datasets.contains(snapshot) {
            return Err(os(&c, ENOENT));
        }
        if !self.datasets.insert(clone.into()) {
            return Err(os(&c, EEXIST));
        }
        self.clones.insert(clone.into(), snapshot.into());
        Ok(())
    }

    fn zfs_destroy(&mut self, name: &str) -> KResult<()> {
        let c = self.call(Call::ZfsDestroy(name.into()))?;
        if !self.datasets.contains(name) {
            return Err(os(&c, ENOENT));
        }
        // A snapshot with a clone, or a clone still mounted, is busy.
        if self.clones.values().any(|s| s == name) {
            return Err(os(&c, EBUSY));
        }
        if self.zfs_mounts.values().any(|d| d == name) {
            return Err(os(&c, EBUSY));
        }
        self.datasets.remove(name);
        self.clones.remove(name);
        Ok(())
    }

    fn default_route_iface(&mut self, ipv6: bool) -> KResult<String> {
        self.call(Call::DefaultRouteIface(ipv6))?;
        Ok("vtnet0".into())
    }

    fn sysctl_set(&mut self, name: &str, value: i32) -> KResult<()> {
        self.call(Call::SysctlSet(name.into(), value))?;
        self.sysctls.insert(name.into(), value);
        Ok(())
    }

    fn pf_load(
        &mut self,
        anchor: &str,
        macros: &[(String, String)],
        rules: &[String],
    ) -> KResult<()> {
        let c = self.call(Call::PfLoad(anchor.into(), macros.to_vec(), rules.to_vec()))?;
        // pfctl rejects a rule naming a macro it was not given.
        let undefined = rules
            .iter()
            .any(|r| r.contains("$ext_if") && !macros.iter().any(|(k, _)| k == "ext_if"));
        if undefined {
            return Err(os(&c, EINVAL));
        }
        self.anchors.insert(anchor.into(), rules.to_vec());
        Ok(())
    }

    fn pf_flush(&mut self, anchor: &str) -> KResult<()> {
        self.call(Call::PfFlush(anchor.into()))?;
        self.anchors.remove(anchor);
        Ok(())
    }

    fn sysctl_get(&mut self, name: &str) -> KResult<i32> {
        self.call(Call::SysctlGet(name.into()))?;
        Ok(self.sysctls.get(name).copied().unwrap_or(0))
    }

    fn port_in_use(&mut self, address: SocketAddr, protocol: Protocol) -> KResult<bool> {
        self.call(Call::PortInUse(address, protocol))?;
        Ok(self.taken_ports.contains(&(protocol, address.port())))
    }

    fn host_file(&mut self, path: &Path) -> KResult<Option<String>> {
        self.call(Call::HostFile(path.into()))?;
        Ok(self.host_files.get(path).cloned())
    }

    fn host_addresses(&mut self) -> KResult<Vec<IpAddr>> {
        self.call(Call::HostAddresses)?;
        Ok(self.host_addrs.clone())
    }

    fn write_file(&mut self, path: &Path, text: &str) -> KResult<()> {
        let c = self.call(Call::WriteFile(path.into(), text.into()))?;
        if self.state_files.contains_key(path) {
            return Err(os(&c, EEXIST));
        }
        self.state_files.insert(path.into(), text.into());
        Ok(())
    }

    fn file_below(&mut self, path: &Path, root: &Path) -> KResult<FileKind> {
        let c = self.call(Call::FileBelow(path.into()))?;
        if !path.starts_with(root) || !self.mounts.contains(&root.to_path_buf()) {
            return Err(os(&c, ENOENT));
        }
        if self.written.contains_key(path) {
            return Ok(FileKind::Regular);
        }
        Ok(self
            .root_files
            .get(path)
            .copied()
            .unwrap_or(FileKind::Missing))
    }

    fn create_file_below(&mut self, path: &Path, root: &Path, text: &str) -> KResult<()> {
        let c = self.call(Call::CreateFileBelow(path.into()))?;
        if !path.starts_with(root) || !self.mounts.contains(&root.to_path_buf()) {
            return Err(os(&c, ENOENT));
        }
        if self.root_files.contains_key(path) || self.written.contains_key(path) {
            return Err(os(&c, EEXIST));
        }
        if self.readonly_roots {
            return Err(os(&c, EROFS));
        }
        self.written.insert(path.into(), text.into());
        Ok(())
    }

    fn remove_file_below(&mut self, path: &Path, root: &Path) -> KResult<()> {
        let c = self.call(Call::RemoveFileBelow(path.into()))?;
        // The root must still be mounted: removing it after the unmount would miss it.
        if !self.mounts.contains(&root.to_path_buf()) || self.written.remove(path).is_none() {
            return Err(os(&c, ENOENT));
        }
        Ok(())
    }
}
