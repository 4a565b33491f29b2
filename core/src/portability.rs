//! Portability as data: every spec feature's support level on every target.
//!
//! One table drives `stockade check`, the generated `docs/portability.md`, the privilege
//! mapping the backends apply, and the conformance suite's expected outcomes, so the
//! answer to "does this behave the same on FreeBSD?" is written once.

mod rootless;

use std::fmt::{self, Write as _};

use serde::Serialize;

use crate::spec::{MountKind, NetworkMode, Privilege, RootSource, Seccomp, Spec};

/// An OS (and, on Linux, cgroup hierarchy) that an environment can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Linux with the unified cgroup v2 hierarchy.
    LinuxCgroupV2,
    /// Linux with cgroup v1 controllers (including hybrid hosts).
    LinuxCgroupV1,
    /// FreeBSD 13 or later.
    Freebsd,
    /// Linux without root: a user namespace, cgroups only where delegated (cgroup v2
    /// otherwise). Not in [`Target::ALL`]: `check --target linux-rootless` asks for it.
    LinuxRootless,
}

impl Target {
    /// Every target that runs as root, in table order (`check --target all`).
    pub const ALL: [Target; 3] = [
        Target::LinuxCgroupV2,
        Target::LinuxCgroupV1,
        Target::Freebsd,
    ];

    /// Human name, as printed by `stockade check`.
    pub fn label(self) -> &'static str {
        match self {
            Target::LinuxCgroupV2 => "linux (cgroup v2)",
            Target::LinuxCgroupV1 => "linux (cgroup v1)",
            Target::Freebsd => "freebsd",
            Target::LinuxRootless => "linux (rootless)",
        }
    }

    /// True for both Linux targets.
    pub fn is_linux(self) -> bool {
        self != Target::Freebsd
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// How well a target provides a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "level", content = "why", rename_all = "snake_case")]
pub enum Support {
    /// Same observable behaviour.
    Exact,
    /// Works, with the stated difference.
    Approximate(&'static str),
    /// Cannot be provided; the reason.
    Unsupported(&'static str),
}

impl Support {
    /// True unless unsupported.
    pub fn is_usable(self) -> bool {
        !matches!(self, Support::Unsupported(_))
    }

    /// `exact`, `approximate` or `unsupported`.
    pub fn level(self) -> &'static str {
        match self {
            Support::Exact => "exact",
            Support::Approximate(_) => "approximate",
            Support::Unsupported(_) => "unsupported",
        }
    }

    /// The stated difference or reason, if any.
    pub fn why(self) -> Option<&'static str> {
        match self {
            Support::Exact => None,
            Support::Approximate(why) | Support::Unsupported(why) => Some(why),
        }
    }
}

/// A spec feature with its own row in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Every environment: its own process space.
    ProcessIsolation,
    /// Every environment: its own System V IPC objects.
    IpcIsolation,
    /// `root.path`.
    RootPath,
    /// `root.host = true`.
    RootHost,
    /// `root.image`: an image from the local store.
    RootImage,
    /// `root.readonly = true`.
    ReadonlyRoot,
    /// `root.overlay = true`: a copy-on-write root.
    OverlayRoot,
    /// `root.layers`: read-only folders stacked above `root.path`.
    RootLayers,
    /// `root.changes`: the writable layer kept across delete.
    KeptChanges,
    /// `hostname`.
    Hostname,
    /// `process.user` other than root.
    User,
    /// `process.init = true`.
    Init,
    /// `process.terminal = true` (also `run -t`, `exec -t`).
    Terminal,
    /// `[[mount]] kind = "bind"`.
    BindMount,
    /// `[[mount]] kind = "tmpfs"`.
    TmpfsMount,
    /// `[[mount]] kind = "proc"`.
    ProcMount,
    /// `[[mount]] kind = "dev"`.
    DevMount,
    /// `network.mode = "none"`.
    NetworkNone,
    /// `network.mode = "host"`.
    NetworkHost,
    /// `network.mode = "private"`.
    NetworkPrivate,
    /// `network.nat = true`: outbound masquerade.
    NetworkNat,
    /// `network.publish`: host ports forwarded to the environment.
    NetworkPublish,
    /// `network.dns` / `network.search`: the environment's resolv.conf.
    NetworkDns,
    /// `limits.memory`.
    MemoryLimit,
    /// `limits.processes`.
    ProcessLimit,
    /// `limits.cpus`.
    CpuLimit,
    /// `limits.open_files`.
    OpenFilesLimit,
    /// `limits.cpuset`: exactly these CPUs.
    CpuSet,
    /// `limits.visible = true`: the limits as seen from inside.
    VisibleLimits,
    /// `root.abi = "linux"`: a Linux userland.
    LinuxRoot,
    /// `root.abi = "freebsd"`: a FreeBSD userland.
    FreebsdRoot,
    /// `stockade checkpoint` / `stockade restore` (a command, not a spec key).
    Checkpoint,
    /// `privileges.seccomp = "default"` (implicit).
    SyscallFilter,
    /// `privileges.seccomp = "unconfined"`.
    SyscallFilterOff,
    /// One entry of `privileges.allow`.
    Privilege(Privilege),
}

impl Feature {
    /// Human name, as in the docs and `stockade check`.
    pub fn label(self) -> String {
        let text = match self {
            Feature::ProcessIsolation => "process isolation",
            Feature::IpcIsolation => "IPC isolation",
            Feature::RootPath => "root from a folder",
            Feature::RootHost => "root as a view of the host",
            Feature::RootImage => "root from an image",
            Feature::ReadonlyRoot => "read-only root",
            Feature::OverlayRoot => "copy-on-write root",
            Feature::RootLayers => "layers above the base",
            Feature::KeptChanges => "changes kept across delete",
            Feature::Hostname => "hostname",
            Feature::User => "run as a user",
            Feature::Init => "init (reaper as PID 1)",
            Feature::Terminal => "terminal",
            Feature::BindMount => "bind mount",
            Feature::TmpfsMount => "tmpfs mount",
            Feature::ProcMount => "proc mount",
            Feature::DevMount => "dev mount",
            Feature::NetworkNone => "network none",
            Feature::NetworkHost => "network host",
            Feature::NetworkPrivate => "network private",
            Feature::NetworkNat => "network NAT",
            Feature::NetworkPublish => "published ports",
            Feature::NetworkDns => "resolver (dns, search)",
            Feature::MemoryLimit => "memory limit",
            Feature::ProcessLimit => "process limit",
            Feature::CpuLimit => "CPU limit",
            Feature::OpenFilesLimit => "open files limit",
            Feature::CpuSet => "pinned CPUs",
            Feature::VisibleLimits => "limits visible inside",
            Feature::LinuxRoot => "Linux userland",
            Feature::FreebsdRoot => "FreeBSD userland",
            Feature::Checkpoint => "checkpoint / restore",
            Feature::SyscallFilter => "syscall filter",
            Feature::SyscallFilterOff => "syscall filter off",
            Feature::Privilege(p) => return format!("privilege {}", p.name()),
        };
        text.to_string()
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The feature.
    pub feature: Feature,
    /// The spec key that asks for it.
    pub key: &'static str,
    /// How Linux provides it (both cgroup versions, unless `linux_v1` differs).
    pub linux: Mechanism,
    /// How Linux with cgroup v1 provides it, when different from `linux`.
    pub linux_v1: Option<Mechanism>,
    /// How FreeBSD provides it.
    pub freebsd: Mechanism,
}

/// A kernel mechanism and its support level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mechanism {
    /// What the backend uses, e.g. "memory.max" or "rctl memoryuse:deny".
    pub how: &'static str,
    /// The support level.
    pub support: Support,
}

impl Row {
    /// The mechanism used on one target.
    pub fn on(&self, target: Target) -> Mechanism {
        match target {
            Target::LinuxCgroupV2 => self.linux,
            Target::LinuxCgroupV1 => self.linux_v1.unwrap_or(self.linux),
            Target::Freebsd => self.freebsd,
            Target::LinuxRootless => rootless::differs(self.feature).unwrap_or(self.linux),
        }
    }
}

const fn exact(how: &'static str) -> Mechanism {
    Mechanism {
        how,
        support: Support::Exact,
    }
}

const fn approx(how: &'static str, why: &'static str) -> Mechanism {
    Mechanism {
        how,
        support: Support::Approximate(why),
    }
}

const fn row(feature: Feature, key: &'static str, linux: Mechanism, freebsd: Mechanism) -> Row {
    Row {
        feature,
        key,
        linux,
        linux_v1: None,
        freebsd,
    }
}

const fn row_v1(
    feature: Feature,
    key: &'static str,
    linux: Mechanism,
    linux_v1: Mechanism,
    freebsd: Mechanism,
) -> Row {
    Row {
        feature,
        key,
        linux,
        linux_v1: Some(linux_v1),
        freebsd,
    }
}

/// The table, except privileges (see [`PRIVILEGES`]).
pub const FEATURES: &[Row] = &[
    row(Feature::ProcessIsolation, "(always)",
        exact("PID namespace; the command is PID 1 or the child of a reaper"),
        approx("the jail",
            "processes in the jail see only each other, but PIDs stay host-global and there is no PID 1 inside")),
    row(Feature::IpcIsolation, "(always)",
        exact("IPC namespace"),
        exact("sysvmsg=new, sysvsem=new, sysvshm=new")),
    row(Feature::RootPath, "root.path",
        exact("mount namespace, bind mount of the root, pivot_root"),
        exact("jail path (a nullfs view of the folder)")),
    row(Feature::RootHost, "root.host",
        exact("tmpfs root with the host's /bin /sbin /lib* /usr /etc bind-mounted read-only; /etc/shadow, /etc/gshadow, /etc/ssh hidden"),
        approx("tmpfs root with the host's /bin /sbin /lib /libexec /usr /etc nullfs-mounted read-only",
            "nullfs cannot hide single files, so jail root can read the host's /etc/master.passwd and /etc/spwd.db (Linux hides shadow files and SSH keys)")),
    row(Feature::RootImage, "root.image",
        exact("overlayfs: lowerdir = the image's layers, each unpacked once in the store and shared by every environment; Entrypoint/Cmd, Env, WorkingDir and User are the process defaults"),
        approx("the image's layers flattened once into one tree in the store, under a unionfs writable layer (or a ZFS clone when that tree is a dataset); same process defaults",
            "layers are not shared file by file between images (each image has one flattened tree), and an image's Linux xattrs are not kept")),
    row(Feature::ReadonlyRoot, "root.readonly",
        exact("read-only remount of the root"),
        exact("read-only nullfs (or tmpfs) at the jail path")),
    row(Feature::OverlayRoot, "root.overlay",
        exact("overlayfs: lower = root.path (one overlay per host folder with root.host), upper and work in the state folder, on a tmpfs there when its file system cannot hold them"),
        approx("unionfs (below) of the base under a nullfs view of the writable layer folder, or a ZFS clone of a snapshot when root.path is a ZFS dataset",
            "unionfs also puts an empty shadow copy of every folder looked into in the writable layer, and a ZFS clone shares blocks rather than files, so `stockade diff` cannot list its changes")),
    row(Feature::RootLayers, "root.layers",
        exact("overlayfs lowerdir = the layers, top first, then root.path"),
        approx("one unionfs (below) per layer, top first, then root.path",
            "each layer is a union mount of its own, so every lookup walks the stack one layer at a time")),
    row(Feature::KeptChanges, "root.changes",
        exact("overlayfs upper and work folders in the given folder, left in place on delete"),
        exact("the given folder is the unionfs writable layer, left in place on delete (never a ZFS clone)")),
    row(Feature::Hostname, "hostname",
        exact("UTS namespace + sethostname"),
        exact("host.hostname")),
    row(Feature::User, "process.user",
        exact("setgroups([]), setgid, setuid before exec"),
        exact("setgroups, setgid, setuid after jail_attach")),
    row(Feature::Init, "process.init",
        exact("a minimal reaper as PID 1 that forwards signals"),
        approx("none needed",
            "a jail has no PID 1: orphans are reaped by the host's init, so no reaper runs")),
    row(Feature::Terminal, "process.terminal",
        exact("a pty opened from the environment's own devpts (/dev/ptmx), made controlling with setsid + TIOCSCTTY"),
        exact("a pty opened from the jail's devfs (/dev/ptmx), made controlling with setsid + TIOCSCTTY")),
    row(Feature::BindMount, "mount.kind = \"bind\"",
        exact("bind mount (+ read-only remount)"),
        exact("nullfs (ro when readonly)")),
    row(Feature::TmpfsMount, "mount.kind = \"tmpfs\"",
        exact("tmpfs (size=)"),
        exact("tmpfs (size=)")),
    row(Feature::ProcMount, "mount.kind = \"proc\"",
        exact("procfs of the environment's PID namespace"),
        approx("procfs",
            "FreeBSD's procfs has per-process folders only: no /proc/meminfo, /proc/mounts or /proc/self/status")),
    row(Feature::DevMount, "mount.kind = \"dev\"",
        exact("tmpfs with null zero full random urandom tty, devpts, shm"),
        approx("devfs with ruleset 4 (devfsrules_jail)",
            "the jail ruleset shows a similar standard set (null, zero, random, urandom, ptmx, pts, fd), not the same list")),
    row(Feature::NetworkNone, "network.mode = \"none\"",
        exact("network namespace with lo only"),
        exact("vnet jail with lo0 only (needs a VIMAGE kernel)")),
    row(Feature::NetworkHost, "network.mode = \"host\"",
        exact("the host's network namespace"),
        approx("ip4=inherit, ip6=inherit",
            "the jail uses the host's addresses but cannot change interfaces, routes or firewall rules")),
    row(Feature::NetworkPrivate, "network.mode = \"private\"",
        exact("network namespace + veth pair, addressed, default route via gateway"),
        approx("vnet jail + epair(4), addressed, default route via gateway (needs VIMAGE)",
            "the jail's interface is named sk<name>b, not eth0: a unique name cannot collide when the kernel returns it to the host")),
    row(Feature::NetworkNat, "network.nat",
        exact("nftables masquerade (table inet stockade, the environment's chains); IPv4 forwarding per interface; IPv6 forwarding host-wide (net.ipv6.conf.all.forwarding, with accept_ra = 2 on the IPv6 uplinks so the host keeps its router advertisements, and a warning), restored when the last environment goes"),
        approx("pf nat in anchor stockade/NAME (pfctl -a, after the jail's network is up; flushed on delete), net.inet.ip.forwarding or net.inet6.ip6.forwarding (with net.inet6.ip6.rfc6204w3 = 1 when stockade turns IPv6 forwarding on)",
            "pf.conf must hold the nat-anchor/rdr-anchor \"stockade/*\" lines (docs/freebsd.md); forwarding is turned on and left on at delete, as the host's other jails may need it")),
    row(Feature::NetworkPublish, "network.publish",
        exact("nftables dnat in prerouting and output (localhost too, via route_localnet on the host end)"),
        approx("pf rdr pass in anchor stockade/NAME (loaded with the nat rules, flushed on delete)",
            "pf does not redirect the host's own connections: a published port answers other machines, not the host itself; a port a host process holds or another environment publishes is refused before create, but two creates racing for one port are not serialised (Linux claims ports in an nftables set)")),
    row(Feature::NetworkDns, "network.dns",
        exact("the environment's own resolv.conf, mounted over /etc/resolv.conf"),
        approx("the jail's own resolv.conf, nullfs-mounted over the root's /etc/resolv.conf (a file mount, FreeBSD 13.0 and later; with root.host it covers the host's shared /etc for this jail only), or written into a root that has none (no symbolic link followed; removed on delete)",
            "the root's /etc/resolv.conf is never followed when it is a symbolic link (Linux resolves it inside the root): the jail then keeps it, and network.dns or network.search is refused; default servers behind the host's local_unbound come from /var/unbound/forward.conf")),
    row_v1(Feature::MemoryLimit, "limits.memory",
        exact("memory.max; the OOM killer ends the environment's processes"),
        exact("memory.limit_in_bytes; the OOM killer ends the environment's processes"),
        approx("rctl memoryuse:deny",
            "counts resident memory, not page cache, and makes allocations fail instead of OOM-killing")),
    row(Feature::ProcessLimit, "limits.processes",
        exact("pids.max"),
        approx("rctl maxproc:deny",
            "counts processes, while Linux pids.max counts threads as well")),
    row_v1(Feature::CpuLimit, "limits.cpus",
        exact("cpu.max quota/period"),
        exact("cpu.cfs_quota_us / cpu.cfs_period_us"),
        approx("rctl pcpu:deny (100 per core)",
            "caps %CPU as racct averages it, not a hard quota per scheduling period")),
    row(Feature::OpenFilesLimit, "limits.open_files",
        exact("RLIMIT_NOFILE, soft and hard"),
        approx("rctl openfiles:deny + RLIMIT_NOFILE",
            "openfiles also counts descriptors across the whole jail, not only per process")),
    row_v1(Feature::CpuSet, "limits.cpuset",
        exact("cpuset.cpus, with cpuset.mems copied from the parent"),
        exact("cpuset.cpus and cpuset.mems (copied from the parent, also into stockade/)"),
        exact("cpuset -j: cpuset_setaffinity(CPU_LEVEL_CPUSET, CPU_WHICH_JAIL) on the jail")),
    row(Feature::VisibleLimits, "limits.visible",
        approx("affinity of ceil(limits.cpus) CPUs without a cpuset; read-only binds over /proc/meminfo, /proc/cpuinfo, /proc/stat (lxcfs's live files when lxcfs runs, else files generated at create)",
            "without lxcfs the files are a snapshot taken at create: MemTotal and the CPU list follow the limits, but free memory and CPU times do not move, and /proc/uptime stays the host's"),
        approx("the jail's cpuset is CPUs 0..ceil(limits.cpus)-1 without a cpuset",
            "nproc and sched_getaffinity match the limit, but sysctl hw.ncpu and hw.physmem (what top and free show) stay the host's")),
    row(Feature::LinuxRoot, "root.abi = \"linux\"",
        exact("native"),
        approx("FreeBSD's Linux ABI (linux64.ko): linprocfs on /proc, linsysfs on /sys, fdescfs on /dev/fd, tmpfs on /dev/shm, linux.osname/linux.osrelease",
            "Linux binaries run on emulated syscalls: no cgroups, namespaces or seccomp inside, /proc and /sys are partial, and newer syscalls (io_uring, pidfd_*) are missing")),
    row(Feature::FreebsdRoot, "root.abi = \"freebsd\"",
        Mechanism { how: "-", support: Support::Unsupported("Linux has no FreeBSD ABI: FreeBSD binaries cannot run on a Linux kernel") },
        exact("native")),
    row(Feature::Checkpoint, "(stockade checkpoint / restore)",
        approx("CRIU over its RPC (criu swrk): processes, memory, descriptors, mounts (binds as external mounts) and cgroup limits",
            "needs a criu that works on the running kernel (`criu check`; 6.x kernels need criu 4.x, Debian 12's 3.17 fails there); copy-on-write roots and terminals (run -t) are refused; a private network's host link and published ports are not carried, and restore under a new name needs the old one gone"),
        Mechanism { how: "-", support: Support::Unsupported("FreeBSD has no facility to save and restore a running process tree (CRIU is Linux-only)") }),
    row(Feature::SyscallFilter, "privileges.seccomp = \"default\"",
        exact("seccomp filter denying Docker's default-denied syscalls"),
        approx("none",
            "FreeBSD has no syscall filter; the jail's own restrictions (no kld, no mknod, no raw devices) apply instead")),
    row(Feature::SyscallFilterOff, "privileges.seccomp = \"unconfined\"",
        exact("no seccomp filter"),
        approx("none",
            "Linux-only key: FreeBSD has no syscall filter to turn off, so it changes nothing there")),
];

/// How each portable privilege maps to Linux capabilities and FreeBSD jail parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrivilegeMapping {
    /// The portable name.
    pub privilege: Privilege,
    /// Linux capabilities it adds (names as in capabilities(7)).
    pub capabilities: &'static [&'static str],
    /// Syscalls the default seccomp filter lets through once it is granted.
    pub syscalls: &'static [&'static str],
    /// Linux support level.
    pub linux: Support,
    /// FreeBSD jail parameters it sets to true (names as jail(8) spells them).
    pub jail_params: &'static [&'static str],
    /// FreeBSD support level.
    pub freebsd: Support,
}

const fn privilege(
    privilege: Privilege,
    capabilities: &'static [&'static str],
    syscalls: &'static [&'static str],
    linux: Support,
    jail_params: &'static [&'static str],
    freebsd: Support,
) -> PrivilegeMapping {
    PrivilegeMapping {
        privilege,
        capabilities,
        syscalls,
        linux,
        jail_params,
        freebsd,
    }
}

/// The privilege table, one entry per [`Privilege`], in [`Privilege::ALL`] order.
pub const PRIVILEGES: &[PrivilegeMapping] = &[
    privilege(Privilege::RawSockets, &["CAP_NET_RAW"], &[], Support::Exact,
        &["allow.raw_sockets"], Support::Exact),
    privilege(Privilege::Chown, &["CAP_CHOWN"], &[], Support::Exact,
        &[], Support::Exact),
    privilege(Privilege::NetBindService, &["CAP_NET_BIND_SERVICE"], &[], Support::Exact,
        &["allow.reserved_ports"], Support::Exact),
    privilege(Privilege::Mount, &["CAP_SYS_ADMIN"], &["mount", "umount", "umount2", "fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree"],
        Support::Approximate("needs CAP_SYS_ADMIN, which grants much more than mounting"),
        &["allow.mount", "allow.mount.tmpfs", "allow.mount.nullfs", "allow.mount.procfs", "allow.mount.devfs"],
        Support::Approximate("only jail-safe file systems (tmpfs, nullfs, procfs, devfs) can be mounted, and enforce_statfs drops to 1")),
    privilege(Privilege::Sysvipc, &["CAP_IPC_OWNER"], &[], Support::Exact,
        &[], Support::Approximate("jail root already owns every object in the jail's own SysV namespace (sysv*=new)")),
    privilege(Privilege::Mlock, &["CAP_IPC_LOCK"], &[], Support::Exact,
        &["allow.mlock"], Support::Exact),
    privilege(Privilege::SetHostname, &["CAP_SYS_ADMIN"], &[],
        Support::Approximate("sethostname needs CAP_SYS_ADMIN, which grants much more"),
        &["allow.set_hostname"], Support::Exact),
    privilege(Privilege::Chflags, &["CAP_LINUX_IMMUTABLE"], &[], Support::Exact,
        &["allow.chflags"], Support::Exact),
    privilege(Privilege::Mknod, &["CAP_MKNOD"], &[],
        Support::Approximate("nodes can be made, but the device controller still denies opening any but the standard devices"),
        &[], Support::Unsupported("jails cannot create device nodes; devfs rulesets decide which devices appear")),
    privilege(Privilege::Ptrace, &["CAP_SYS_PTRACE"], &["ptrace", "process_vm_readv", "process_vm_writev"], Support::Exact,
        &[], Support::Approximate("jail root may always debug processes in its own jail; it cannot be withheld")),
    privilege(Privilege::SysNice, &["CAP_SYS_NICE"], &[], Support::Exact,
        &[], Support::Unsupported("no jail parameter lets jail root raise priorities or use real-time scheduling")),
];

/// The mapping of one privilege.
pub fn privilege_mapping(p: Privilege) -> &'static PrivilegeMapping {
    PRIVILEGES
        .iter()
        .find(|m| m.privilege == p)
        .expect("every Privilege has a row in PRIVILEGES (checked by a test)")
}

/// The support level of a feature on a target.
pub fn support(feature: Feature, target: Target) -> Support {
    mechanism(feature, target).support
}

/// The mechanism and support level of a feature on a target.
pub fn mechanism(feature: Feature, target: Target) -> Mechanism {
    if let Feature::Privilege(p) = feature {
        let m = privilege_mapping(p);
        if target == Target::LinuxRootless {
            if let Some(r) = rootless::differs(feature) {
                return r;
            }
        }
        return if target.is_linux() {
            Mechanism {
                how: m.capabilities.first().copied().unwrap_or("-"),
                support: m.linux,
            }
        } else {
            Mechanism {
                how: m.jail_params.first().copied().unwrap_or("-"),
                support: m.freebsd,
            }
        };
    }
    let row = FEATURES
        .iter()
        .find(|r| r.feature == feature)
        .expect("every non-privilege Feature has a row in FEATURES (checked by a test)");
    row.on(target)
}

/// One feature a spec uses, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeatureUse {
    /// The feature.
    pub feature: Feature,
    /// The spec key that uses it, e.g. `mount[2].kind` or `limits.memory`.
    pub key: String,
}

/// Every feature a spec uses, in spec order.
pub fn features_used(spec: &Spec) -> Vec<FeatureUse> {
    let mut uses = Vec::new();
    let mut add = |feature, key: &str| {
        uses.push(FeatureUse {
            feature,
            key: key.to_string(),
        })
    };
    add(Feature::ProcessIsolation, "(always)");
    add(Feature::IpcIsolation, "(always)");
    add(Feature::Hostname, "hostname");
    match spec.root.source {
        RootSource::Path(_) => add(Feature::RootPath, "root.path"),
        RootSource::Host => add(Feature::RootHost, "root.host"),
        RootSource::Image(_) => add(Feature::RootImage, "root.image"),
    }
    if spec.root.readonly {
        add(Feature::ReadonlyRoot, "root.readonly");
    }
    if let Some(overlay) = &spec.root.overlay {
        add(Feature::OverlayRoot, "root.overlay");
        if !overlay.layers.is_empty() {
            add(Feature::RootLayers, "root.layers");
        }
        if overlay.changes.is_some() {
            add(Feature::KeptChanges, "root.changes");
        }
    }
    match spec.root.abi {
        Some(crate::spec::Abi::Linux(_)) => add(Feature::LinuxRoot, "root.abi"),
        Some(crate::spec::Abi::Freebsd) => add(Feature::FreebsdRoot, "root.abi"),
        None => {}
    }
    if spec.process.user != crate::spec::User::ROOT {
        add(Feature::User, "process.user");
    }
    if spec.process.init {
        add(Feature::Init, "process.init");
    }
    if spec.process.terminal {
        add(Feature::Terminal, "process.terminal");
    }
    for (i, m) in spec.mounts.iter().enumerate() {
        let feature = match m.kind {
            MountKind::Bind { .. } => Feature::BindMount,
            MountKind::Tmpfs { .. } => Feature::TmpfsMount,
            MountKind::Proc => Feature::ProcMount,
            MountKind::Dev => Feature::DevMount,
        };
        add(
            feature,
            &format!("mount[{}] ({})", i + 1, m.target.display()),
        );
    }
    match spec.network.mode {
        NetworkMode::None => add(Feature::NetworkNone, "network.mode"),
        NetworkMode::Host => add(Feature::NetworkHost, "network.mode"),
        NetworkMode::Private => add(Feature::NetworkPrivate, "network.mode"),
    }
    if spec.network.nat {
        add(Feature::NetworkNat, "network.nat");
    }
    if !spec.network.publish.is_empty() {
        add(Feature::NetworkPublish, "network.publish");
    }
    if spec.network.dns.is_some() || !spec.network.search.is_empty() {
        add(Feature::NetworkDns, "network.dns");
    }
    let limits = &spec.limits;
    if limits.memory.is_some() {
        add(Feature::MemoryLimit, "limits.memory");
    }
    if limits.processes.is_some() {
        add(Feature::ProcessLimit, "limits.processes");
    }
    if limits.cpus.is_some() {
        add(Feature::CpuLimit, "limits.cpus");
    }
    if limits.open_files.is_some() {
        add(Feature::OpenFilesLimit, "limits.open_files");
    }
    if limits.cpuset.is_some() {
        add(Feature::CpuSet, "limits.cpuset");
    }
    if limits.visible {
        add(Feature::VisibleLimits, "limits.visible");
    }
    match spec.privileges.seccomp {
        Seccomp::Default => add(Feature::SyscallFilter, "privileges.seccomp"),
        Seccomp::Unconfined => add(Feature::SyscallFilterOff, "privileges.seccomp"),
    }
    for p in &spec.privileges.allow {
        add(
            Feature::Privilege(*p),
            &format!("privileges.allow \"{}\"", p.name()),
        );
    }
    uses
}

/// The verdict for one feature use on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where the spec uses it.
    #[serde(flatten)]
    pub used: FeatureUse,
    /// What the target uses for it.
    pub how: &'static str,
    /// The support level.
    pub support: Support,
}

/// A spec's portability to one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetReport {
    /// The target.
    pub target: Target,
    /// One finding per feature use.
    pub findings: Vec<Finding>,
}

impl TargetReport {
    /// True when nothing is unsupported.
    pub fn is_usable(&self) -> bool {
        self.findings.iter().all(|f| f.support.is_usable())
    }
}

/// Checks a spec against targets.
pub fn check(spec: &Spec, targets: &[Target]) -> Vec<TargetReport> {
    let uses = features_used(spec);
    targets
        .iter()
        .map(|&target| TargetReport {
            target,
            findings: uses
                .iter()
                .map(|u| {
                    let m = mechanism(u.feature, target);
                    Finding {
                        used: u.clone(),
                        how: m.how,
                        support: m.support,
                    }
                })
                .collect(),
        })
        .collect()
}

fn cell(how: &str, support: Support) -> String {
    let text = match support {
        Support::Exact => format!("exact: {how}"),
        Support::Approximate(why) => format!("approximate: {how} — {why}"),
        Support::Unsupported(why) => format!("unsupported — {why}"),
    };
    text.replace('|', "\\|")
}

fn support_cell(names: &[&str], s: Support) -> String {
    let how = if names.is_empty() {
        "(nothing to set)".to_string()
    } else {
        names.join(", ")
    };
    cell(&how, s)
}

/// `docs/portability.md`, generated from the table (a test keeps the file in step).
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str("# Portability\n\n");
    out.push_str(
        "<!-- Generated from the portability table in core/src/portability.rs by `stockade portability`; a test fails when this file is stale. Do not edit. -->\n\n",
    );
    out.push_str(
        "Every spec feature, per target: **exact** (the same observable behaviour), \
         **approximate** (works, with the difference stated) or **unsupported** (with the \
         reason). `stockade check FILE --target all` applies this table to one file. \
         Host prerequisites (cgroup controllers, racct, VIMAGE) are checked at run time, \
         not here; [freebsd.md](freebsd.md) explains the FreeBSD side and why it differs. \
         **linux (rootless)** is Linux run without root, in a user namespace that maps the \
         caller to root inside (`stockade check FILE --target linux-rootless`; \
         [rootless.md](rootless.md)); FreeBSD has no rootless mode: jails need root.\n\n",
    );
    out.push_str("## Features\n\n| feature | key | linux (cgroup v2) | linux (cgroup v1) | freebsd | linux (rootless) |\n|---|---|---|---|---|---|\n");
    for r in FEATURES {
        let on = |t| {
            let m = r.on(t);
            cell(m.how, m.support)
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} |",
            r.feature.label(),
            r.key.replace('|', "\\|"),
            on(Target::LinuxCgroupV2),
            on(Target::LinuxCgroupV1),
            on(Target::Freebsd),
            on(Target::LinuxRootless),
        );
    }
    out.push_str("\n## Privileges (`privileges.allow`)\n\n");
    out.push_str(
        "Without `allow`, Linux keeps CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, \
         CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, CAP_SETFCAP, CAP_SYS_CHROOT and \
         CAP_AUDIT_WRITE (Docker's default set less CAP_NET_RAW, CAP_MKNOD and \
         CAP_NET_BIND_SERVICE, which FreeBSD jails also withhold by default); FreeBSD sets \
         `allow.set_hostname=false` and `allow.reserved_ports=false` explicitly (the kernel \
         turns both on for every new jail) and no other allow.* parameter. On both OSes \
         the privileges apply to root inside the environment only: a process running as \
         another user has none (Linux keeps the inheritable and ambient sets empty).\n\n",
    );
    out.push_str("| name | grants | linux | freebsd | linux (rootless) |\n|---|---|---|---|---|\n");
    for m in PRIVILEGES {
        let rootless = mechanism(Feature::Privilege(m.privilege), Target::LinuxRootless);
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            m.privilege.name(),
            m.privilege.description(),
            support_cell(m.capabilities, m.linux),
            support_cell(m.jail_params, m.freebsd),
            cell(rootless.how, rootless.support),
        );
    }
    out
}
