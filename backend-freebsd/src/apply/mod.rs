//! Applying a [`FreebsdPlan`]: the ordered kernel operations that make a jail
//! environment, their exact undo, and stopping and measuring it.
//!
//! Pure orchestration over the [`Kernel`] trait: it compiles and is tested everywhere with
//! a recording fake; the FreeBSD runtime runs it over the real kernel.
//!
//! # Create
//! [`create`] first checks the host (racct for rules, VIMAGE for a vnet) and converts the
//! jail parameters, and binds each published host port for a moment (through the
//! [`Kernel`], so the fake can hold one), so a host that cannot run the plan, or a port a
//! host process holds, fails with nothing made. Then:
//! 1. mounts: `mkdir` the jail path, then each `nmount` (and the folders inside our own
//!    tmpfs, the `RequireDir` checks and read-only remounts) in plan order; then the
//!    jail's resolv.conf (`crate::plan::resolv`): mounted over the root's, or written
//!    where it has none (recorded as a mount, or as a file);
//! 2. rctl rules (on the jail's name, which need not exist yet);
//! 3. the jail (jail_set(2), `persist`), then its CPU set (`cpuset -j`) when planned;
//! 4. the network: epair, move into the vnet, addresses, up, default route.
//!
//! Each object that undo must remove is recorded ([`Record`]) *before* the call that
//! makes it; when the call fails the record is dropped again (a failed call makes
//! nothing: see the [`Kernel`] contract). On any failure, everything recorded so far is
//! undone, newest first, and the error says what failed.
//!
//! Folders made inside stockade's own tmpfs, remounts, `RequireDir` checks and the
//! addresses, routes and link state of interfaces are not recorded: they vanish with the
//! file system or interface that holds them. The writable layer's folders of a
//! copy-on-write root (`EnsureDir`) are not recorded either: they go with the state
//! folder, or are the kept `root.changes`. Its ZFS snapshot and clone are recorded.
//!
//! # Undo
//! [`undo`] walks the record backwards: pf anchor (flushed) → interface → jail (SIGKILL
//! every process, then jail_remove(2)) → rctl rules → the resolv.conf (unmounted, or the
//! written file removed) → unmounts → ZFS clone and snapshot → the jail path folder. This is the plan's
//! [`FreebsdPlan::undo`] exactly. Each undone object leaves the record at once, so an
//! interrupted delete resumes where it stopped. [`UndoMode::Strict`] (plain `delete`)
//! stops at the first error and treats an object that is already gone as one;
//! [`UndoMode::Force`] (`delete --force`, and cleaning up a failed create) tolerates gone
//! objects and carries on past errors, reporting them all at the end; a file system still
//! busy after the retries ([`BusyRetry`]) is then unmounted with `MNT_FORCE`.

mod dirs;
mod jail;
mod stats;
mod stop;

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use stockade_core::backend::HostInfo;
use stockade_core::spec::Publish;
use stockade_core::state::{Entry, Resource, StateError};

use crate::kernel::{FileKind, JailSignal, Jid, Kernel, KernelError, Netns, EROFS};
use crate::plan::mount::MountStep;
use crate::plan::net::{NetStep, Side};
use crate::plan::pf::RFC6204W3;
use crate::plan::resolv::{ResolvPlan, HOST_SOURCES};
use crate::plan::{FreebsdPlan, HostError};

pub use dirs::require_dir_below;
pub use jail::{no_name, params as jail_params, ParamError, JAILSYS};
pub use stats::{stats, Stats};
pub use stop::{stop, StopOutcome, StopTiming};

/// Where the apply sequence records what it makes (the environment's state entry).
pub trait Record {
    /// Appends an object and saves the record, before the object is made.
    fn record(&mut self, resource: Resource) -> Result<(), StateError>;
    /// The objects recorded, oldest first.
    fn resources(&self) -> &[Resource];
    /// Drops the object at `index` (undone, or never made) and saves.
    fn forget(&mut self, index: usize) -> Result<(), StateError>;
}

impl Record for Entry {
    fn record(&mut self, resource: Resource) -> Result<(), StateError> {
        Entry::record(self, resource)
    }

    fn resources(&self) -> &[Resource] {
        &self.state.resources
    }

    fn forget(&mut self, index: usize) -> Result<(), StateError> {
        if index < self.state.resources.len() {
            self.state.resources.remove(index);
        }
        self.save()
    }
}

/// An in-memory record (tests, dry runs).
impl Record for Vec<Resource> {
    fn record(&mut self, resource: Resource) -> Result<(), StateError> {
        self.push(resource);
        Ok(())
    }

    fn resources(&self) -> &[Resource] {
        self
    }

    fn forget(&mut self, index: usize) -> Result<(), StateError> {
        if index < self.len() {
            self.remove(index);
        }
        Ok(())
    }
}

/// What can go wrong while applying or undoing a plan.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The host cannot run this plan (racct off, no VIMAGE); nothing was done.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A planned jail parameter has no jail_set(2) form; nothing was done.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// A kernel operation failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The record could not be saved.
    #[error(transparent)]
    State(#[from] StateError),
    /// A published host port is held by a process on the host; nothing was made.
    #[error(
        "network.publish \"{publish}\": host port {port}/{protocol} is in use by a process on \
         the host (sockstat -l shows it); choose another host port or stop that process"
    )]
    PortInUse {
        /// The entry.
        publish: Publish,
        /// The port.
        port: u16,
        /// tcp or udp.
        protocol: &'static str,
    },
    /// Another environment publishes the same host port; nothing was made.
    #[error(
        "network.publish: host port {port} is already published by stockade environment \
         {by:?} (its pf anchor stockade/{by}); choose another host port"
    )]
    PortTaken {
        /// `tcp/8080`.
        port: String,
        /// The other environment.
        by: String,
    },
    /// The spec chose the jail's resolver, but its root has no place for it.
    #[error(
        "network.dns / network.search: the jail's /etc/resolv.conf ({}) is {what}, so \
         stockade can neither mount the environment's resolver over it nor write one \
         there: make it a regular file in the root, or remove network.dns and \
         network.search to keep the root's own",
        .target.display()
    )]
    Resolver {
        /// The host path of the jail's /etc/resolv.conf.
        target: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// Plain `delete` found an object already gone.
    #[error(
        "{what} is already gone, so this environment was not made completely or was \
         changed behind stockade's back: `stockade delete --force` removes the rest"
    )]
    Gone {
        /// The object, as the record names it.
        what: String,
    },
    /// Undo could not remove everything; what is left stays recorded.
    #[error("{}", list(.0))]
    Undo(Vec<ApplyError>),
    /// A create step failed, and undoing the steps before it failed too.
    #[error(
        "{cause}; undoing what was made also failed ({}): `stockade delete --force` \
         retries",
        list(.undo)
    )]
    Incomplete {
        /// Why create failed.
        cause: Box<ApplyError>,
        /// Why undo failed.
        undo: Vec<ApplyError>,
    },
}

fn list(errors: &[ApplyError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// How [`undo`] treats errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoMode {
    /// `delete`: stop at the first error; an object already gone is an error.
    Strict,
    /// `delete --force` and a failed create: tolerate gone objects, carry on past errors.
    Force,
}

/// How long undo waits for a file system that a dying jail still holds (EBUSY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyRetry {
    /// Attempts after the first.
    pub retries: u32,
    /// Pause between attempts.
    pub pause: Duration,
}

impl BusyRetry {
    /// For real hosts: up to 5 s, while sockets of a dying jail drain.
    pub const HOST: BusyRetry = BusyRetry {
        retries: 50,
        pause: Duration::from_millis(100),
    };
    /// No retries (tests).
    pub const NONE: BusyRetry = BusyRetry {
        retries: 0,
        pause: Duration::ZERO,
    };
}

/// Makes everything `plan` describes, recording each object before making it; on failure
/// undoes what was made. Returns the jail's id.
pub fn create<K: Kernel + ?Sized>(
    plan: &FreebsdPlan,
    host: &HostInfo,
    kernel: &mut K,
    record: &mut dyn Record,
    busy: BusyRetry,
) -> Result<Jid, ApplyError> {
    // Everything that can be known before touching the kernel is checked first.
    plan.check_host(host)?;
    let params = jail::params(plan)?;
    check_ports(plan, kernel)?;
    match build(plan, &params, kernel, record) {
        Ok(jid) => Ok(jid),
        Err(cause) => match undo(kernel, record, UndoMode::Force, busy) {
            Ok(()) => Err(cause),
            Err(ApplyError::Undo(undo)) => Err(ApplyError::Incomplete {
                cause: Box::new(cause),
                undo,
            }),
            Err(other) => Err(ApplyError::Incomplete {
                cause: Box::new(cause),
                undo: vec![other],
            }),
        },
    }
}

/// Refuses a published host port that another environment publishes, from the records
/// of the others (name, resources): pf would let the first anchor's `rdr` win silently.
/// The runtime runs it before the state folder exists; Linux makes the same check
/// atomic with nftables set elements, pf has no such claim, so two creates racing for
/// one port can both pass.
pub fn check_published_elsewhere(
    plan: &FreebsdPlan,
    others: &[(String, Vec<Resource>)],
) -> Result<(), ApplyError> {
    let Some(pf) = &plan.pf else {
        return Ok(());
    };
    for (name, resources) in others {
        if *name == plan.name {
            continue;
        }
        for r in resources {
            if let Resource::Firewall { ports, .. } = r {
                if let Some(port) = pf.ports.iter().find(|p| ports.contains(p)) {
                    return Err(ApplyError::PortTaken {
                        port: port.clone(),
                        by: name.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Refuses a published host port that a host process holds: pf's rdr would hide that
/// listener from other machines. Another environment's ports are the runtime's check
/// (they are in its state store, not in the kernel).
fn check_ports<K: Kernel + ?Sized>(plan: &FreebsdPlan, kernel: &mut K) -> Result<(), ApplyError> {
    let Some(pf) = &plan.pf else {
        return Ok(());
    };
    for (publish, at, protocol) in pf.probes() {
        if kernel.port_in_use(at, protocol)? {
            return Err(ApplyError::PortInUse {
                publish,
                port: publish.host_port,
                protocol: protocol.name(),
            });
        }
    }
    Ok(())
}

/// Records `resource`, runs `op`; forgets the record when `op` fails (it made nothing).
fn made<K: Kernel + ?Sized, T>(
    kernel: &mut K,
    record: &mut dyn Record,
    resource: Option<Resource>,
    op: impl FnOnce(&mut K) -> Result<T, KernelError>,
) -> Result<T, ApplyError> {
    let recorded = resource.is_some();
    if let Some(r) = resource {
        record.record(r)?;
    }
    match op(kernel) {
        Ok(t) => Ok(t),
        Err(e) => {
            if recorded {
                let last = record.resources().len().saturating_sub(1);
                record.forget(last)?;
            }
            Err(e.into())
        }
    }
}

fn build<K: Kernel + ?Sized>(
    plan: &FreebsdPlan,
    params: &crate::kernel::JailParams,
    kernel: &mut K,
    record: &mut dyn Record,
) -> Result<Jid, ApplyError> {
    for step in &plan.mounts {
        match step {
            MountStep::Mkdir { path, mode } => {
                // Only the jail path is a folder of its own; the others live in our tmpfs.
                let resource =
                    (*path == plan.jail_path).then(|| Resource::Dir { path: path.clone() });
                made(kernel, record, resource, |k| k.mkdir(path, *mode))?;
            }
            MountStep::RequireDir { path } => {
                made(kernel, record, None, |k| {
                    k.require_dir(path, &plan.jail_path)
                })?;
            }
            MountStep::Mount(m) => {
                let resource = Resource::Mount {
                    path: m.fspath.clone(),
                };
                made(kernel, record, Some(resource), |k| k.nmount(m, false))?;
            }
            MountStep::Remount(m) => made(kernel, record, None, |k| k.nmount(m, true))?,
            MountStep::EnsureDir { path, mode } => {
                made(kernel, record, None, |k| k.ensure_dir(path, *mode))?;
            }
            MountStep::ZfsSnapshot { snapshot } => {
                let resource = Resource::Dataset {
                    name: snapshot.clone(),
                };
                made(kernel, record, Some(resource), |k| k.zfs_snapshot(snapshot))?;
            }
            MountStep::ZfsClone { snapshot, clone } => {
                let resource = Resource::Dataset {
                    name: clone.clone(),
                };
                made(kernel, record, Some(resource), |k| {
                    k.zfs_clone(snapshot, clone)
                })?;
            }
        }
    }
    if let Some(resolver) = &plan.resolver {
        place_resolver(resolver, kernel, record)?;
    }
    for rule in &plan.rctl {
        let text = rule.rule();
        let resource = Resource::RctlRule { rule: text.clone() };
        made(kernel, record, Some(resource), |k| k.rctl_add(&text))?;
    }
    let resource = Resource::Jail {
        name: params.name.clone(),
    };
    let jid = made(kernel, record, Some(resource), |k| k.jail_create(params))?;
    if let Some(set) = &plan.cpuset {
        // Not recorded: the set goes with the jail.
        made(kernel, record, None, |k| k.jail_cpuset(jid, set.cpus()))?;
    }
    let ns = |side: Side| match side {
        Side::Host => Netns::Host,
        Side::Jail => Netns::Jail(jid),
    };
    for step in &plan.network {
        match step {
            NetStep::CreateEpair(names) => {
                let resource = Resource::Interface {
                    name: names.host.clone(),
                };
                made(kernel, record, Some(resource), |k| k.epair_create(names))?;
            }
            NetStep::MoveToJail { iface, .. } => {
                made(kernel, record, None, |k| k.if_vnet(iface, jid))?;
            }
            NetStep::AddAddress {
                side,
                iface,
                address,
            } => made(kernel, record, None, |k| {
                k.if_addr(ns(*side), iface, *address)
            })?,
            NetStep::Up { side, iface } => {
                made(kernel, record, None, |k| k.if_up(ns(*side), iface))?;
            }
            NetStep::DefaultRoute { side, gateway } => {
                made(kernel, record, None, |k| {
                    k.route_default(ns(*side), *gateway)
                })?;
            }
        }
    }
    if let Some(pf) = &plan.pf {
        load_pf(pf, kernel, record)?;
    }
    Ok(jid)
}

/// The jail's resolv.conf (see `crate::plan::resolv`): rendered from the host's files,
/// written into the state folder, then mounted over the root's file, or written into the
/// root where it has none.
fn place_resolver<K: Kernel + ?Sized>(
    plan: &ResolvPlan,
    kernel: &mut K,
    record: &mut dyn Record,
) -> Result<(), ApplyError> {
    let resolver = &plan.resolver;
    let mut lists = Vec::new();
    let mut host: Vec<IpAddr> = Vec::new();
    if resolver.nameservers.is_none() {
        for source in HOST_SOURCES {
            let path = Path::new(source.path());
            if let Some(text) = made(kernel, record, None, |k| k.host_file(path))? {
                lists.push(source.servers(&text));
            }
        }
        if !resolver.nat {
            host = made(kernel, record, None, |k| k.host_addresses())?;
        }
    }
    let text = resolver.render(&lists, &|ip| host.contains(&ip));
    made(kernel, record, None, |k| k.write_file(&plan.file, &text))?;
    let cannot = |what: &str| -> Result<(), ApplyError> {
        if resolver.is_explicit() {
            Err(ApplyError::Resolver {
                target: plan.target.clone(),
                what: what.to_string(),
            })
        } else {
            // The default resolver is a convenience: the root's own file stays.
            Ok(())
        }
    };
    match made(kernel, record, None, |k| {
        k.file_below(&plan.target, &plan.jail_path)
    })? {
        FileKind::Regular => {
            let resource = Resource::Mount {
                path: plan.mount.fspath.clone(),
            };
            made(kernel, record, Some(resource), |k| {
                k.nmount(&plan.mount, false)
            })
        }
        FileKind::Missing => {
            let resource = Resource::File {
                path: plan.target.clone(),
                root: plan.jail_path.clone(),
            };
            match made(kernel, record, Some(resource), |k| {
                k.create_file_below(&plan.target, &plan.jail_path, &text)
            }) {
                Err(ApplyError::Kernel(e)) if e.errno() == Some(EROFS) => {
                    cannot("missing on a read-only root")
                }
                other => other,
            }
        }
        FileKind::Other(what) => cannot(what),
    }
}

/// NAT and published ports, once the jail's network is up: forwarding on (not recorded:
/// the host's forwarding is shared with its other jails and the administrator, so delete
/// leaves it on), `$ext_if` read from the default route, then the anchor, recorded first.
fn load_pf<K: Kernel + ?Sized>(
    pf: &crate::plan::pf::PfPlan,
    kernel: &mut K,
    record: &mut dyn Record,
) -> Result<(), ApplyError> {
    if pf.forwarding {
        if pf.ipv6 {
            // Turning IPv6 forwarding on makes the host drop the router advertisements
            // that may give it its own default route; rfc6204w3 keeps accepting them. Only
            // when stockade turns forwarding on: a host that already forwards is a router
            // its administrator configured.
            let on = made(kernel, record, None, |k| {
                k.sysctl_get(pf.forwarding_sysctl())
            })?;
            if on == 0 {
                made(kernel, record, None, |k| k.sysctl_set(RFC6204W3, 1))?;
            }
        }
        made(kernel, record, None, |k| {
            k.sysctl_set(pf.forwarding_sysctl(), 1)
        })?;
    }
    let mut macros = Vec::new();
    if pf.uses_ext_if() {
        let ext_if = made(kernel, record, None, |k| k.default_route_iface(pf.ipv6))?;
        macros.push(("ext_if".to_string(), ext_if));
    }
    let resource = Resource::Firewall {
        owner: pf.anchor.clone(),
        ports: pf.ports.clone(),
    };
    made(kernel, record, Some(resource), |k| {
        k.pf_load(&pf.anchor, &macros, &pf.rules)
    })
}

/// How the record names an object, for errors.
pub struct Named<'a>(pub &'a Resource);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Resource::Dir { path } => write!(f, "folder {}", path.display()),
            Resource::Mount { path } => write!(f, "mount {}", path.display()),
            Resource::File { path, .. } => write!(f, "file {}", path.display()),
            Resource::Cgroup { path } => write!(f, "cgroup {}", path.display()),
            Resource::Interface { name } => write!(f, "interface {name}"),
            Resource::Jail { name } => write!(f, "jail {name}"),
            Resource::RctlRule { rule } => write!(f, "rctl rule {rule}"),
            Resource::Dataset { name } => write!(f, "ZFS dataset {name}"),
            Resource::Process { pid, .. } => write!(f, "process {pid}"),
            Resource::Firewall { owner, .. } => write!(f, "pf anchor {owner}"),
        }
    }
}

/// Removes every recorded object, newest first (see the module documentation).
pub fn undo<K: Kernel + ?Sized>(
    kernel: &mut K,
    record: &mut dyn Record,
    mode: UndoMode,
    busy: BusyRetry,
) -> Result<(), ApplyError> {
    let mut errors = Vec::new();
    for index in (0..record.resources().len()).rev() {
        let resource = record.resources()[index].clone();
        match undo_one(kernel, &resource, busy, mode) {
            Ok(Undone::Done) => record.forget(index)?,
            Ok(Undone::Gone) if mode == UndoMode::Force => record.forget(index)?,
            Ok(Undone::Gone) => {
                return Err(ApplyError::Gone {
                    what: Named(&resource).to_string(),
                })
            }
            Err(e) if mode == UndoMode::Strict => return Err(e.into()),
            Err(e) => errors.push(e.into()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Undo(errors))
    }
}

/// What undoing one object found.
enum Undone {
    /// It existed and is removed.
    Done,
    /// It did not exist (never made, or removed behind stockade's back).
    Gone,
}

fn undo_one<K: Kernel + ?Sized>(
    kernel: &mut K,
    resource: &Resource,
    busy: BusyRetry,
    mode: UndoMode,
) -> Result<Undone, KernelError> {
    let result = match resource {
        Resource::Dir { path } => kernel.rmdir(path),
        Resource::Mount { path } => unmount(kernel, path, busy, mode == UndoMode::Force),
        Resource::RctlRule { rule } => kernel.rctl_remove(rule),
        Resource::File { path, root } => kernel.remove_file_below(path, root),
        Resource::Dataset { name } => kernel.zfs_destroy(name),
        Resource::Jail { name } => match kernel.find_jail(name)? {
            // jail_remove(2) kills the processes too; signalling first keeps the order
            // of the plan's undo, and of `stop`.
            Some(jid) => kernel
                .signal_jail(jid, JailSignal::Kill)
                .and_then(|_| kernel.jail_remove(jid)),
            None => return Ok(Undone::Gone),
        },
        Resource::Interface { name } => kernel.if_destroy(name),
        Resource::Firewall { owner, .. } => kernel.pf_flush(owner),
        // The environment's processes live in the jail and die with it; a process that
        // never reached jail_attach(2) exits when its creator's pipe closes.
        Resource::Process { .. } => Ok(()),
        // Never recorded by this backend.
        Resource::Cgroup { .. } => Ok(()),
    };
    match result {
        Ok(()) => Ok(Undone::Done),
        Err(e) if e.is_gone() => Ok(Undone::Gone),
        Err(e) => Err(e),
    }
}

/// unmount(2), retried while the file system is busy (a dying jail still holds its
/// root until its last socket is gone); with `force`, a last attempt with `MNT_FORCE`.
fn unmount<K: Kernel + ?Sized>(
    kernel: &mut K,
    path: &std::path::Path,
    busy: BusyRetry,
    force: bool,
) -> Result<(), KernelError> {
    let mut attempt = 0;
    loop {
        match kernel.unmount(path, false) {
            Err(e) if e.is_busy() && attempt < busy.retries => {
                attempt += 1;
                thread::sleep(busy.pause);
            }
            Err(e) if e.is_busy() && force => return kernel.unmount(path, true),
            other => return other,
        }
    }
}
