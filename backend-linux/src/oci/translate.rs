//! An OCI bundle's `config.json` as a [`LinuxPlan`]: the one place where the runtime-spec
//! (opencontainers/runtime-spec `config.md`, `config-linux.md`) meets stockade's planner
//! output, so `stockade oci create` applies the same kind of plan `stockade create` does.
//!
//! Pure: it reads the typed model of the `oci-spec` crate and builds data; nothing is
//! looked up on the host. Every key stockade cannot honour exactly is refused with a
//! [`TranslateError`] that names it (`linux.resources.blockIO`, `mounts[3].options`),
//! never dropped. Keys that only matter to other platforms (`windows`, `solaris`, `vm`)
//! are refused too when present.
//!
//! What runc does beyond the file and stockade does the same way:
//! - the default devices (`/dev/null`, `zero`, `full`, `random`, `urandom`, `tty`) are
//!   bound from the host into a `/dev` the config mounts, with the usual links, and are
//!   allowed in the device cgroup after the config's own rules;
//! - `linux.devices` entries are bound from the host's node of the same path and allowed;
//! - a `cgroup` mount shows the host's cgroup tree read-only (as runc on cgroup v2 without
//!   a cgroup namespace); masked paths get an empty read-only tmpfs when they are folders
//!   and `/dev/null` when they are files, decided when the root is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Linux, LinuxResources, Mount as OciMount, Process, Spec as OciSpec};
use serde_json::Value;
use stockade_core::backend::CgroupVersion;
use stockade_core::spec::{NetworkMode, User};

use crate::plan::caps::CapabilityPlan;
use crate::plan::cgroup::{
    CgroupCopy, CgroupPlan, CgroupWrite, DevicePolicy, DeviceRule, DeviceType,
};
use crate::plan::extra::{Hook, JoinNamespace, PlanExtras};
use crate::plan::mount::{Mount, MountFlag, MountFlags, MountPlan, MountStep, DEV_NODES};
use crate::plan::net::{NetStep, Netns, NetworkPlan};
use crate::plan::ns::{Namespace, NamespacePlan};
use crate::plan::process::ProcessPlan;
use crate::plan::rlimit::Rlimit;
use crate::plan::seccomp::SeccompPlan;
use crate::plan::seccomp_profile::{
    ArgCondition, ArgOp, ProfileAction, ProfileRule, SeccompProfile,
};
use crate::plan::userns::{IdMap, MapWriter, UserNsPlan};
use crate::plan::LinuxPlan;

/// The cgroup parent of containers whose config has no `linux.cgroupsPath`.
pub const OCI_CGROUP_PARENT: &str = "stockade-oci";

use stockade_core::oci::refuse;
pub use stockade_core::oci::TranslateError;

/// Facts about the run the translation needs beyond the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateContext {
    /// The container id (the environment's name).
    pub id: String,
    /// The bundle folder (a relative `root.path` is relative to it).
    pub bundle: PathBuf,
    /// The host's cgroup hierarchy.
    pub cgroup: CgroupVersion,
    /// `--systemd-cgroup`: `linux.cgroupsPath` is `slice:prefix:name`.
    pub systemd_cgroup: bool,
}

/// What the runtime needs besides the plan: the parts of config.json used outside the
/// environment's own setup.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The plan.
    pub plan: LinuxPlan,
    /// `process.terminal`: the process wants a terminal (from `--console-socket`).
    pub terminal: bool,
    /// `hooks.poststart`: run by `start` once the command was released.
    pub poststart: Vec<Hook>,
    /// `hooks.poststop`: run by `delete` once everything is removed.
    pub poststop: Vec<Hook>,
}

/// Translates a parsed config.json.
pub fn translate(spec: &OciSpec, ctx: &TranslateContext) -> Result<Translated, TranslateError> {
    for (key, present) in [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
        (
            "domainname",
            spec.domainname().as_deref().is_some_and(|d| !d.is_empty()),
        ),
    ] {
        if present {
            return Err(refuse(key, "not supported by stockade on Linux: remove it"));
        }
    }
    if spec.uid_mappings().is_some() || spec.gid_mappings().is_some() {
        return Err(refuse(
            "uidMappings",
            "top-level mappings are not part of the Linux runtime-spec: use linux.uidMappings",
        ));
    }
    let default_linux = Linux::default();
    let linux = spec.linux().as_ref().unwrap_or(&default_linux);
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| refuse("process", "missing: the container needs a process to run"))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| refuse("root", "missing: set root.path to the root file system"))?;

    let (namespaces, join) = namespaces(linux)?;
    let has = |ns: Namespace| namespaces.has(ns) || join.iter().any(|j| j.namespace == ns);
    if !namespaces.has(Namespace::Mount) {
        return Err(refuse(
            "linux.namespaces",
            "stockade builds the root in a new mount namespace: add {\"type\": \"mount\"} \
             (without a path)",
        ));
    }
    let hostname = spec.hostname().clone().unwrap_or_default();
    if !hostname.is_empty() && !namespaces.has(Namespace::Uts) {
        return Err(refuse(
            "hostname",
            "setting a host name needs a new UTS namespace: add {\"type\": \"uts\"} to \
             linux.namespaces",
        ));
    }
    let network = if namespaces.has(Namespace::Net) {
        NetworkPlan {
            mode: NetworkMode::None,
            steps: vec![NetStep::LinkUp {
                netns: Netns::Environment,
                ifname: "lo".into(),
            }],
            firewall: None,
            resolver: None,
        }
    } else {
        // The host's, or a namespace someone else wired (podman's netavark, CNI).
        NetworkPlan {
            mode: NetworkMode::Host,
            steps: Vec::new(),
            firewall: None,
            resolver: None,
        }
    };

    let rootfs = if root.path().is_absolute() {
        root.path().clone()
    } else {
        ctx.bundle.join(root.path())
    };
    let mounts = mounts(
        spec,
        linux,
        &rootfs,
        root.readonly().unwrap_or(false),
        has(Namespace::Pid),
    )?;
    let cgroup = cgroup(linux, ctx)?;
    let (process_plan, capabilities, rlimits, umask) = process_part(process, hostname)?;
    let seccomp = match linux.seccomp() {
        None => SeccompPlan::Unconfined,
        Some(s) => SeccompPlan::Profile(seccomp(s)?),
    };

    let mut sysctl = BTreeMap::new();
    for (k, v) in linux.sysctl().iter().flatten() {
        if k.contains("..") || k.starts_with('/') || k.starts_with('.') {
            return Err(refuse(format!("linux.sysctl.{k}"), "not a sysctl name"));
        }
        sysctl.insert(k.clone(), v.clone());
    }
    let userns = user_namespace(linux, namespaces.has(Namespace::User), process)?;
    for (key, present) in [
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.personality", linux.personality().is_some()),
        ("linux.timeOffsets", linux.time_offsets().is_some()),
        ("linux.netDevices", linux.net_devices().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        (
            "linux.mountLabel",
            linux
                .mount_label()
                .as_deref()
                .is_some_and(|l| !l.is_empty()),
        ),
    ] {
        if present {
            return Err(refuse(
                key,
                "not supported by stockade's OCI runtime yet: remove it, or use runc",
            ));
        }
    }
    if let Some(p) = linux.rootfs_propagation().as_deref() {
        if !matches!(p, "" | "private" | "rprivate") {
            return Err(refuse(
                "linux.rootfsPropagation",
                format!("{p:?}: stockade makes every mount private; only \"private\" and \"rprivate\" can be honoured"),
            ));
        }
    }
    let mut create_hooks = Vec::new();
    let mut poststart = Vec::new();
    let mut poststop = Vec::new();
    if let Some(hooks) = spec.hooks() {
        for (key, list) in [
            ("hooks.createContainer", hooks.create_container()),
            ("hooks.startContainer", hooks.start_container()),
        ] {
            if list.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(refuse(
                    key,
                    "hooks that run inside the container's mount namespace are not \
                     supported by stockade yet: use createRuntime/poststart, or runc",
                ));
            }
        }
        for (key, list, which) in [
            ("hooks.prestart", hooks.prestart(), 0),
            ("hooks.createRuntime", hooks.create_runtime(), 0),
            ("hooks.poststart", hooks.poststart(), 1),
            ("hooks.poststop", hooks.poststop(), 2),
        ] {
            let out = match which {
                0 => &mut create_hooks,
                1 => &mut poststart,
                _ => &mut poststop,
            };
            for (i, h) in list.iter().flatten().enumerate() {
                if !h.path().is_absolute() {
                    return Err(refuse(
                        format!("{key}[{i}].path"),
                        "must be an absolute path",
                    ));
                }
                let timeout = match h.timeout() {
                    None => None,
                    Some(t) if t > 0 => Some(t as u64),
                    Some(t) => {
                        return Err(refuse(
                            format!("{key}[{i}].timeout"),
                            format!("{t}: must be more than 0 seconds"),
                        ))
                    }
                };
                out.push(Hook {
                    path: h.path().clone(),
                    args: h.args().clone().unwrap_or_default(),
                    env: h.env().clone().unwrap_or_default(),
                    timeout,
                });
            }
        }
    }

    let plan = LinuxPlan {
        name: ctx.id.clone(),
        cgroup,
        namespaces,
        network,
        mounts,
        rlimits,
        capabilities,
        seccomp,
        process: process_plan,
        userns,
        visible: None,
        extra: PlanExtras {
            join,
            sysctl,
            oom_score_adj: process.oom_score_adj(),
            umask,
            create_hooks,
        },
    };
    Ok(Translated {
        plan,
        terminal: process.terminal().unwrap_or(false),
        poststart,
        poststop,
    })
}

/// The serde name of an `oci-spec` enum value (`SCMP_ACT_ERRNO`, `c`, `RLIMIT_NOFILE`).
fn name_of<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn namespaces(linux: &Linux) -> Result<(NamespacePlan, Vec<JoinNamespace>), TranslateError> {
    let mut create = Vec::new();
    let mut join = Vec::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let key = format!("linux.namespaces[{i}]");
        let kind = name_of(&ns.typ());
        let namespace = match kind.as_str() {
            "pid" => Namespace::Pid,
            "mount" => Namespace::Mount,
            "uts" => Namespace::Uts,
            "ipc" => Namespace::Ipc,
            "network" => Namespace::Net,
            "cgroup" => Namespace::Cgroup,
            "user" => Namespace::User,
            other => {
                return Err(refuse(
                    format!("{key}.type"),
                    format!(
                        "{other:?} namespaces are not supported by stockade's OCI runtime yet \
                         (time namespaces): remove it, or use runc"
                    ),
                ))
            }
        };
        if create.contains(&namespace)
            || join
                .iter()
                .any(|j: &JoinNamespace| j.namespace == namespace)
        {
            return Err(refuse(
                format!("{key}.type"),
                format!("{kind:?} is listed twice"),
            ));
        }
        match ns.path() {
            None => create.push(namespace),
            Some(path) => {
                if namespace == Namespace::Mount {
                    return Err(refuse(
                        format!("{key}.path"),
                        "joining an existing mount namespace is not supported: the root is \
                         built in a new one; remove the path",
                    ));
                }
                if namespace == Namespace::User {
                    return Err(refuse(
                        format!("{key}.path"),
                        "joining an existing user namespace is not supported: give \
                         linux.uidMappings and linux.gidMappings for a new one instead",
                    ));
                }
                if !path.is_absolute() {
                    return Err(refuse(format!("{key}.path"), "must be an absolute path"));
                }
                join.push(JoinNamespace {
                    namespace,
                    path: path.clone(),
                });
            }
        }
    }
    // The user namespace first, as the planner orders it: the others are owned by it.
    create.sort_by_key(|ns| *ns != Namespace::User);
    Ok((NamespacePlan { create }, join))
}

/// The kernel's limit of lines in one uid_map or gid_map (user_namespaces(7)).
const MAX_MAP_LINES: usize = 340;

/// `linux.uidMappings` and `linux.gidMappings` for a new user namespace: the maps root
/// writes from outside once the process exists (as rootless mode's are, see
/// [`crate::plan::userns`]), before it builds anything. Both or neither, and only with a
/// `user` namespace; `process.user` must be mapped.
fn user_namespace(
    linux: &Linux,
    new_userns: bool,
    process: &Process,
) -> Result<Option<UserNsPlan>, TranslateError> {
    let uid = linux.uid_mappings().as_deref().unwrap_or_default();
    let gid = linux.gid_mappings().as_deref().unwrap_or_default();
    if !new_userns {
        for (key, maps) in [("linux.uidMappings", uid), ("linux.gidMappings", gid)] {
            if !maps.is_empty() {
                return Err(refuse(
                    key,
                    "id mappings need a new user namespace: add {\"type\": \"user\"} to \
                     linux.namespaces, or remove the mappings",
                ));
            }
        }
        return Ok(None);
    }
    let lines = |key: &str, maps: &[oci_spec::runtime::LinuxIdMapping]| {
        if maps.is_empty() {
            return Err(refuse(
                key,
                "a new user namespace needs both linux.uidMappings and linux.gidMappings \
                 (stockade does not guess a mapping)",
            ));
        }
        if maps.len() > MAX_MAP_LINES {
            return Err(refuse(
                key,
                format!(
                    "{} entries: the kernel takes at most {MAX_MAP_LINES}",
                    maps.len()
                ),
            ));
        }
        let mut out: Vec<IdMap> = Vec::new();
        for (i, m) in maps.iter().enumerate() {
            let map = IdMap {
                inside: m.container_id(),
                outside: m.host_id(),
                count: m.size(),
            };
            let end = |start: u32| u64::from(start) + u64::from(map.count);
            if map.count == 0
                || end(map.inside) > u64::from(u32::MAX)
                || end(map.outside) > u64::from(u32::MAX)
            {
                return Err(refuse(
                    format!("{key}[{i}].size"),
                    format!(
                        "{}: must be at least 1 and keep both ranges below 2^32 - 1",
                        map.count
                    ),
                ));
            }
            // The kernel refuses overlapping ranges inside or outside with a bare EINVAL:
            // say which entries.
            if let Some(j) = out.iter().position(|o| {
                let overlap = |a: u32, b: u32| {
                    u64::from(a) < u64::from(b) + u64::from(map.count)
                        && u64::from(b) < u64::from(a) + u64::from(o.count)
                };
                overlap(o.inside, map.inside) || overlap(o.outside, map.outside)
            }) {
                return Err(refuse(
                    format!("{key}[{i}]"),
                    format!("overlaps {key}[{j}]: the kernel takes no overlapping ranges"),
                ));
            }
            out.push(map);
        }
        Ok(out)
    };
    let uid_map = lines("linux.uidMappings", uid)?;
    let gid_map = lines("linux.gidMappings", gid)?;
    let mapped = |maps: &[IdMap], id: u32| {
        maps.iter()
            .any(|m| id >= m.inside && u64::from(id) < u64::from(m.inside) + u64::from(m.count))
    };
    // The container is set up as root inside (mounts, devpts' gid): as runc, id 0 must be
    // mapped.
    for (key, maps) in [
        ("linux.uidMappings", &uid_map),
        ("linux.gidMappings", &gid_map),
    ] {
        if !mapped(maps, 0) {
            return Err(refuse(
                key,
                "container id 0 is not mapped: stockade builds the container as root inside \
                 its user namespace, as runc does; map 0",
            ));
        }
    }
    let user = process.user();
    for (key, maps, id) in [
        ("process.user.uid", &uid_map, user.uid()),
        ("process.user.gid", &gid_map, user.gid()),
    ] {
        if !mapped(maps, id) {
            return Err(refuse(
                key,
                format!("{id} is not mapped by the user namespace's mappings: map it, or run as a mapped id"),
            ));
        }
    }
    for (i, g) in user.additional_gids().iter().flatten().enumerate() {
        if !mapped(&gid_map, *g) {
            return Err(refuse(
                format!("process.user.additionalGids[{i}]"),
                format!("{g} is not mapped by linux.gidMappings"),
            ));
        }
    }
    Ok(Some(UserNsPlan {
        uid_map,
        uid_writer: MapWriter::Root,
        gid_map,
        gid_writer: MapWriter::Root,
    }))
}

/// One mount option's meaning.
enum Opt {
    Flag(MountFlag),
    /// A default that changes nothing (`rw`, `suid`, `relatime`, `private`, ...).
    Same,
    /// A bind (`rbind` is recursive).
    Bind {
        recursive: bool,
    },
    /// File-system data (`mode=755`, `newinstance`).
    Data,
}

fn option(o: &str) -> Result<Opt, String> {
    Ok(match o {
        "ro" => Opt::Flag(MountFlag::Readonly),
        "nosuid" => Opt::Flag(MountFlag::Nosuid),
        "nodev" => Opt::Flag(MountFlag::Nodev),
        "noexec" => Opt::Flag(MountFlag::Noexec),
        "strictatime" => Opt::Flag(MountFlag::Strictatime),
        "noatime" => Opt::Flag(MountFlag::Noatime),
        "nodiratime" => Opt::Flag(MountFlag::Nodiratime),
        "bind" => Opt::Bind { recursive: false },
        "rbind" => Opt::Bind { recursive: true },
        // The defaults of a new mount; the whole tree is made private at the start.
        "rw" | "suid" | "dev" | "exec" | "async" | "relatime" | "defaults" | "private"
        | "rprivate" => Opt::Same,
        "nostrictatime" | "atime" | "diratime" | "norelatime" | "sync" | "dirsync" | "mand"
        | "nomand" | "remount" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
        | "runbindable" | "idmap" | "ridmap" | "tmpcopyup" | "recursive" | "rro" | "rrw"
        | "rnosuid" | "rnodev" | "rnoexec" => {
            return Err(format!(
                "option {o:?} is not supported by stockade's OCI runtime yet: remove it"
            ))
        }
        _ => Opt::Data,
    })
}

fn flagset(list: &[MountFlag]) -> MountFlags {
    list.iter().copied().collect()
}

/// The config's mounts, the default devices, the root's attributes, the pivot, masked and
/// read-only paths.
fn mounts(
    spec: &OciSpec,
    linux: &Linux,
    rootfs: &Path,
    readonly_root: bool,
    pid_ns: bool,
) -> Result<MountPlan, TranslateError> {
    let mut steps = vec![
        MountStep::MakePrivate,
        MountStep::Mount(Mount {
            source: Some(rootfs.to_path_buf()),
            target: "/".into(),
            fstype: None,
            flags: flagset(&[MountFlag::Bind, MountFlag::Recursive]),
            data: None,
            optional: false,
        }),
    ];
    let mut dev_mounted = false;
    let mut pts_mounted = false;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let key = format!("mounts[{i}]");
        let target = m.destination();
        if !target.is_absolute()
            || target
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(refuse(
                format!("{key}.destination"),
                format!(
                    "{}: must be an absolute path without \"..\"",
                    target.display()
                ),
            ));
        }
        if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
            return Err(refuse(
                format!("{key}.uidMappings"),
                "id-mapped mounts are not supported by stockade's OCI runtime yet",
            ));
        }
        if target == Path::new("/dev") {
            dev_mounted = true;
        }
        if target == Path::new("/dev/pts") {
            pts_mounted = true;
        }
        mount(&mut steps, m, &key)?;
    }
    if dev_mounted {
        let listed: Vec<PathBuf> = linux
            .devices()
            .iter()
            .flatten()
            .map(|d| d.path().clone())
            .collect();
        for node in DEV_NODES {
            let path = Path::new("/dev").join(node);
            if !listed.contains(&path) {
                steps.push(MountStep::Mount(bind(&path, &path, false)));
            }
        }
        for (path, to) in [
            ("/dev/fd", "/proc/self/fd"),
            ("/dev/stdin", "/proc/self/fd/0"),
            ("/dev/stdout", "/proc/self/fd/1"),
            ("/dev/stderr", "/proc/self/fd/2"),
        ] {
            steps.push(MountStep::Symlink {
                path: path.into(),
                to: to.into(),
            });
        }
        if pts_mounted {
            steps.push(MountStep::Symlink {
                path: "/dev/ptmx".into(),
                to: "pts/ptmx".into(),
            });
        }
        if !pid_ns {
            // Nothing to add: /proc/self works in any PID namespace.
        }
    }
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let path = d.path();
        if !path.starts_with("/dev")
            || path
                .components()
                .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(refuse(
                format!("linux.devices[{i}].path"),
                format!("{}: device nodes go below /dev", path.display()),
            ));
        }
        if !dev_mounted {
            return Err(refuse(
                format!("linux.devices[{i}]"),
                "stockade binds the host's node into the container's /dev: mount a tmpfs on \
                 /dev in mounts",
            ));
        }
        steps.push(MountStep::Mount(bind(path, path, false)));
    }
    if readonly_root {
        steps.push(MountStep::Mount(Mount {
            source: None,
            target: "/".into(),
            fstype: None,
            flags: flagset(&[MountFlag::Remount, MountFlag::Bind, MountFlag::Readonly]),
            data: None,
            optional: false,
        }));
    }
    steps.push(MountStep::PivotRoot {
        new_root: rootfs.to_path_buf(),
    });
    steps.push(MountStep::DetachOldRoot);
    for (i, p) in linux.masked_paths().iter().flatten().enumerate() {
        let path = checked_path(p, &format!("linux.maskedPaths[{i}]"))?;
        steps.push(MountStep::Mask { path });
    }
    for (i, p) in linux.readonly_paths().iter().flatten().enumerate() {
        let path = checked_path(p, &format!("linux.readonlyPaths[{i}]"))?;
        let mut b = bind(&path, &path, true);
        b.optional = true;
        steps.push(MountStep::Mount(b));
        steps.push(MountStep::Mount(Mount {
            source: None,
            target: path,
            fstype: None,
            flags: flagset(&[
                MountFlag::Remount,
                MountFlag::Bind,
                MountFlag::Recursive,
                MountFlag::Readonly,
            ]),
            data: None,
            optional: true,
        }));
    }
    Ok(MountPlan {
        rootfs: rootfs.to_path_buf(),
        layer: None,
        steps,
    })
}

fn checked_path(p: &str, key: &str) -> Result<PathBuf, TranslateError> {
    let path = PathBuf::from(p);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(refuse(
            key,
            format!("{p:?}: must be an absolute path without \"..\""),
        ));
    }
    Ok(path)
}

fn bind(source: &Path, target: &Path, recursive: bool) -> Mount {
    let mut flags = flagset(&[MountFlag::Bind]);
    if recursive {
        flags.insert(MountFlag::Recursive);
    }
    Mount {
        source: Some(source.to_path_buf()),
        target: target.to_path_buf(),
        fstype: None,
        flags,
        data: None,
        optional: false,
    }
}

fn mount(steps: &mut Vec<MountStep>, m: &OciMount, key: &str) -> Result<(), TranslateError> {
    let mut attrs: Vec<MountFlag> = Vec::new();
    let mut bind_kind: Option<bool> = None;
    let mut data: Vec<String> = Vec::new();
    for (j, o) in m.options().iter().flatten().enumerate() {
        match option(o).map_err(|msg| refuse(format!("{key}.options[{j}]"), msg))? {
            Opt::Flag(f) => attrs.push(f),
            Opt::Same => {}
            Opt::Bind { recursive } => bind_kind = Some(bind_kind.unwrap_or(false) || recursive),
            Opt::Data => data.push(o.clone()),
        }
    }
    let fstype = m.typ().clone().unwrap_or_default();
    let target = m.destination().clone();
    if fstype == "bind" && bind_kind.is_none() {
        bind_kind = Some(false);
    }
    if fstype == "cgroup" || fstype == "cgroup2" {
        // The host's cgroup tree, read-only unless asked otherwise (see the module).
        let source = PathBuf::from("/sys/fs/cgroup");
        return push_bind(steps, &source, target, true, attrs, data, key);
    }
    if let Some(recursive) = bind_kind {
        let source = m
            .source()
            .clone()
            .ok_or_else(|| refuse(format!("{key}.source"), "a bind mount needs a source path"))?;
        if !source.is_absolute() {
            return Err(refuse(
                format!("{key}.source"),
                format!(
                    "{}: a bind source must be an absolute host path",
                    source.display()
                ),
            ));
        }
        return push_bind(steps, &source, target, recursive, attrs, data, key);
    }
    if fstype.is_empty() {
        return Err(refuse(
            format!("{key}.type"),
            "missing: name the file system (tmpfs, proc, ...)",
        ));
    }
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&fstype));
    steps.push(MountStep::Mount(Mount {
        source: Some(source),
        target,
        fstype: Some(fstype),
        flags: flagset(&attrs),
        data: (!data.is_empty()).then(|| data.join(",")),
        optional: false,
    }));
    Ok(())
}

fn push_bind(
    steps: &mut Vec<MountStep>,
    source: &Path,
    target: PathBuf,
    recursive: bool,
    attrs: Vec<MountFlag>,
    data: Vec<String>,
    key: &str,
) -> Result<(), TranslateError> {
    if let Some(d) = data.first() {
        return Err(refuse(
            format!("{key}.options"),
            format!("{d:?} means nothing to a bind mount: remove it"),
        ));
    }
    let atime = [
        MountFlag::Strictatime,
        MountFlag::Noatime,
        MountFlag::Nodiratime,
    ];
    if let Some(f) = attrs.iter().find(|f| atime.contains(f)) {
        return Err(refuse(
            format!("{key}.options"),
            format!(
                "{:?} on a bind mount is not supported by stockade yet: remove it",
                f.short_name()
            ),
        ));
    }
    steps.push(MountStep::Mount(bind(source, &target, recursive)));
    if !attrs.is_empty() {
        let mut flags = flagset(&[MountFlag::Remount, MountFlag::Bind]);
        if recursive {
            flags.insert(MountFlag::Recursive);
        }
        flags.extend(attrs);
        steps.push(MountStep::Mount(Mount {
            source: None,
            target,
            fstype: None,
            flags,
            data: None,
            optional: false,
        }));
    }
    Ok(())
}

fn cgroup(linux: &Linux, ctx: &TranslateContext) -> Result<CgroupPlan, TranslateError> {
    let path = cgroup_path(linux.cgroups_path().as_deref(), ctx)?;
    let v2 = ctx.cgroup == CgroupVersion::V2;
    let mut writes: Vec<CgroupWrite> = Vec::new();
    let write = |controller: &str, file: &str, value: String| CgroupWrite {
        controller: (!v2).then(|| controller.to_string()),
        file: file.into(),
        value,
        required: true,
    };
    let default_resources = LinuxResources::default();
    let r = linux.resources().as_ref().unwrap_or(&default_resources);
    for (key, present) in [
        ("linux.resources.blockIO", r.block_io().is_some()),
        (
            "linux.resources.hugepageLimits",
            r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
        ),
        ("linux.resources.network", r.network().is_some()),
        (
            "linux.resources.rdma",
            r.rdma().as_ref().is_some_and(|v| !v.is_empty()),
        ),
    ] {
        if present {
            return Err(refuse(
                key,
                "not supported by stockade's OCI runtime yet: remove it",
            ));
        }
    }
    if let Some(m) = r.memory() {
        for (key, present) in [
            ("kernel", m.kernel().is_some()),
            ("kernelTCP", m.kernel_tcp().is_some()),
            ("swappiness", m.swappiness().is_some() && v2),
            ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
        ] {
            if present {
                return Err(refuse(
                    format!("linux.resources.memory.{key}"),
                    "not supported by stockade's OCI runtime: remove it",
                ));
            }
        }
        let limit = m.limit().filter(|l| *l > 0);
        if let Some(l) = limit {
            writes.push(write(
                "memory",
                if v2 {
                    "memory.max"
                } else {
                    "memory.limit_in_bytes"
                },
                l.to_string(),
            ));
        }
        if let Some(swap) = m.swap().filter(|s| *s != 0) {
            if v2 {
                let value = match (swap, limit) {
                    (-1, _) => "max".to_string(),
                    (s, Some(l)) if s >= l => (s - l).to_string(),
                    (s, _) => {
                        return Err(refuse(
                            "linux.resources.memory.swap",
                            format!("{s} is memory plus swap and must be at least memory.limit"),
                        ))
                    }
                };
                writes.push(write("memory", "memory.swap.max", value));
            } else {
                writes.push(write(
                    "memory",
                    "memory.memsw.limit_in_bytes",
                    swap.to_string(),
                ));
            }
        }
        if let Some(res) = m.reservation().filter(|r| *r > 0) {
            writes.push(write(
                "memory",
                if v2 {
                    "memory.low"
                } else {
                    "memory.soft_limit_in_bytes"
                },
                res.to_string(),
            ));
        }
        if let (Some(s), false) = (m.swappiness(), v2) {
            writes.push(write("memory", "memory.swappiness", s.to_string()));
        }
    }
    if let Some(p) = r.pids() {
        let value = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        writes.push(write("pids", "pids.max", value));
    }
    if let Some(c) = r.cpu() {
        for (key, present) in [
            ("realtimeRuntime", c.realtime_runtime().is_some()),
            ("realtimePeriod", c.realtime_period().is_some()),
            ("idle", c.idle().is_some_and(|i| i != 0)),
            ("burst", c.burst().is_some()),
        ] {
            if present {
                return Err(refuse(
                    format!("linux.resources.cpu.{key}"),
                    "not supported by stockade's OCI runtime yet: remove it",
                ));
            }
        }
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            if v2 {
                // runc's conversion of cgroup v1 shares [2, 262144] to v2 weight [1, 10000].
                let weight = 1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142;
                writes.push(write("cpu", "cpu.weight", weight.to_string()));
            } else {
                writes.push(write("cpu", "cpu.shares", shares.to_string()));
            }
        }
        let quota = c.quota().filter(|q| *q != 0);
        if quota.is_some() || c.period().is_some() {
            let period = c.period().unwrap_or(100_000);
            let quota_text = match quota {
                Some(q) if q > 0 => q.to_string(),
                _ => {
                    if v2 {
                        "max".into()
                    } else {
                        "-1".into()
                    }
                }
            };
            if v2 {
                writes.push(write("cpu", "cpu.max", format!("{quota_text} {period}")));
            } else {
                writes.push(write("cpu", "cpu.cfs_period_us", period.to_string()));
                writes.push(write("cpu", "cpu.cfs_quota_us", quota_text));
            }
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            writes.push(write("cpuset", "cpuset.cpus", cpus.to_string()));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            writes.push(write("cpuset", "cpuset.mems", mems.to_string()));
        }
    }
    for (k, v) in r.unified().iter().flatten() {
        if !v2 {
            return Err(refuse(
                format!("linux.resources.unified.{k}"),
                "unified cgroup files need cgroup v2; this host runs v1",
            ));
        }
        if k.contains('/') || !k.contains('.') {
            return Err(refuse(
                format!("linux.resources.unified.{k}"),
                "not a cgroup file name",
            ));
        }
        writes.push(write(k.split('.').next().unwrap_or(k), k, v.clone()));
    }

    // Devices: the config's rules, then the defaults runc allows, then linux.devices.
    let mut rules = Vec::new();
    for (i, d) in r.devices().iter().flatten().enumerate() {
        let kind = match d.typ().map(|t| name_of(&t)).as_deref() {
            None | Some("a") => DeviceType::All,
            Some("c") => DeviceType::Char,
            Some("b") => DeviceType::Block,
            Some(other) => {
                return Err(refuse(
                    format!("linux.resources.devices[{i}].type"),
                    format!("{other:?}: use a, c or b"),
                ))
            }
        };
        let num = |n: Option<i64>, what: &str| -> Result<Option<u32>, TranslateError> {
            match n {
                None | Some(-1) => Ok(None),
                Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                    refuse(
                        format!("linux.resources.devices[{i}].{what}"),
                        format!("{n} is not a device number"),
                    )
                }),
            }
        };
        rules.push(DeviceRule {
            allow: d.allow(),
            kind,
            major: num(d.major(), "major")?,
            minor: num(d.minor(), "minor")?,
            access: d.access().clone().unwrap_or_else(|| "rwm".into()),
        });
    }
    rules.extend(
        DevicePolicy::standard()
            .rules
            .into_iter()
            .filter(|r| r.allow),
    );
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let kind = match name_of(&d.typ()).as_str() {
            "c" | "u" => DeviceType::Char,
            "b" => DeviceType::Block,
            other => {
                return Err(refuse(
                    format!("linux.devices[{i}].type"),
                    format!("{other:?}: stockade binds character and block devices only"),
                ))
            }
        };
        let n = |v: i64| u32::try_from(v).ok();
        rules.push(DeviceRule {
            allow: true,
            kind,
            major: n(d.major()),
            minor: n(d.minor()),
            access: "rwm".into(),
        });
    }
    let devices = DevicePolicy { rules };
    if !v2 {
        writes.extend(devices.v1_writes());
    }
    let mut controllers: Vec<String> = writes
        .iter()
        .map(|w| w.needs_controller().to_string())
        .collect();
    if !v2 {
        // pause/resume: v1's freezer is a controller of its own (v2's is built in).
        controllers.push("freezer".into());
    }
    controllers.sort();
    controllers.dedup();
    // A cpuset cgroup runs nothing until it has CPUs and memory nodes: what the config
    // leaves out is copied from the parent, as the planner does (and runc on v1); on v1
    // both files, into stockade's own folder too.
    let mut copies = Vec::new();
    let sets = |file: &str| writes.iter().any(|w| w.file == file);
    if sets("cpuset.cpus") || sets("cpuset.mems") {
        if v2 {
            if !sets("cpuset.mems") {
                copies.push(CgroupCopy {
                    controller: None,
                    file: "cpuset.mems".into(),
                    from: "cpuset.mems.effective".into(),
                });
            }
        } else {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                copies.push(CgroupCopy {
                    controller: Some("cpuset".into()),
                    file: file.into(),
                    from: file.into(),
                });
            }
        }
    }
    Ok(CgroupPlan {
        copies,
        version: ctx.cgroup,
        path,
        controllers,
        writes,
        devices,
    })
}

/// `linux.cgroupsPath` as a path below the hierarchy root. With `--systemd-cgroup` it is
/// `slice:prefix:name`, placed as systemd would: `slice/prefix-name.scope`.
fn cgroup_path(given: Option<&Path>, ctx: &TranslateContext) -> Result<PathBuf, TranslateError> {
    let Some(given) = given.filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(PathBuf::from(OCI_CGROUP_PARENT).join(&ctx.id));
    };
    let text = given.to_string_lossy();
    if ctx.systemd_cgroup {
        let parts: Vec<&str> = text.split(':').collect();
        let [slice, prefix, name] = parts.as_slice() else {
            return Err(refuse(
                "linux.cgroupsPath",
                format!("{text:?}: with --systemd-cgroup it must be slice:prefix:name"),
            ));
        };
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        return Ok(PathBuf::from(slice).join(format!("{prefix}-{name}.scope")));
    }
    let rel: PathBuf = given
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .collect();
    if given
        .components()
        .any(|c| c == std::path::Component::ParentDir)
        || rel.as_os_str().is_empty()
    {
        return Err(refuse(
            "linux.cgroupsPath",
            format!("{text:?}: not a cgroup path"),
        ));
    }
    Ok(rel)
}

/// A process's plan, capability sets, rlimits and umask.
pub type ProcessPart = (ProcessPlan, CapabilityPlan, Vec<Rlimit>, Option<u32>);

/// The `process` object of config.json (or of `exec --process`), translated.
pub fn process_part(p: &Process, hostname: String) -> Result<ProcessPart, TranslateError> {
    let argv = p.args().clone().unwrap_or_default();
    if argv.is_empty() {
        return Err(refuse("process.args", "empty: name the program to run"));
    }
    if p.command_line().is_some() {
        return Err(refuse(
            "process.commandLine",
            "Windows only: use process.args",
        ));
    }
    for (key, present) in [
        (
            "process.apparmorProfile",
            p.apparmor_profile()
                .as_deref()
                .is_some_and(|s| !s.is_empty()),
        ),
        (
            "process.selinuxLabel",
            p.selinux_label().as_deref().is_some_and(|s| !s.is_empty()),
        ),
        ("process.ioPriority", p.io_priority().is_some()),
        ("process.scheduler", p.scheduler().is_some()),
        ("process.execCPUAffinity", p.exec_cpu_affinity().is_some()),
    ] {
        if present {
            return Err(refuse(
                key,
                "not supported by stockade's OCI runtime yet: remove it, or use runc",
            ));
        }
    }
    let mut env = BTreeMap::new();
    for (i, e) in p.env().iter().flatten().enumerate() {
        let (k, v) = e.split_once('=').ok_or_else(|| {
            refuse(
                format!("process.env[{i}]"),
                format!("{e:?} is not NAME=value"),
            )
        })?;
        env.insert(k.to_string(), v.to_string());
    }
    if !p.cwd().is_absolute() {
        return Err(refuse("process.cwd", "must be an absolute path"));
    }
    let user = p.user();
    let caps = p.capabilities().as_ref();
    let set = |s: Option<&oci_spec::runtime::Capabilities>| -> Vec<String> {
        let mut v: Vec<String> = s.into_iter().flatten().map(name_of).collect();
        v.sort();
        v
    };
    let capabilities = CapabilityPlan {
        bounding: set(caps.and_then(|c| c.bounding().as_ref())),
        effective: set(caps.and_then(|c| c.effective().as_ref())),
        permitted: set(caps.and_then(|c| c.permitted().as_ref())),
        inheritable: set(caps.and_then(|c| c.inheritable().as_ref())),
        ambient: set(caps.and_then(|c| c.ambient().as_ref())),
        no_new_privs: p.no_new_privileges().unwrap_or(false),
    };
    let mut rlimits = Vec::new();
    for (i, r) in p.rlimits().iter().flatten().enumerate() {
        let resource = name_of(&r.typ());
        if rlimits.iter().any(|x: &Rlimit| x.resource == resource) {
            return Err(refuse(
                format!("process.rlimits[{i}].type"),
                format!("{resource} is listed twice"),
            ));
        }
        rlimits.push(Rlimit {
            resource,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    let plan = ProcessPlan {
        hostname,
        user: User::Id {
            uid: user.uid(),
            gid: user.gid(),
        },
        groups: user.additional_gids().clone().unwrap_or_default(),
        cwd: p.cwd().clone(),
        env,
        home_from_passwd: false,
        close_fds_from: crate::plan::process::FIRST_CLOSED_FD,
        init: false,
        terminal: p.terminal().unwrap_or(false),
        argv,
    };
    Ok((plan, capabilities, rlimits, user.umask()))
}

fn seccomp(s: &oci_spec::runtime::LinuxSeccomp) -> Result<SeccompProfile, TranslateError> {
    if s.listener_path().is_some() {
        return Err(refuse(
            "linux.seccomp.listenerPath",
            "seccomp user notification is not supported by stockade: remove it",
        ));
    }
    if s.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(refuse(
            "linux.seccomp.flags",
            "seccomp filter flags are not supported by stockade's OCI runtime yet: remove them",
        ));
    }
    let default_errno = s.default_errno_ret().unwrap_or(libc_eperm());
    let default_action = action(
        &name_of(&s.default_action()),
        default_errno,
        "linux.seccomp.defaultAction",
    )?;
    let architectures: Vec<String> = s.architectures().iter().flatten().map(name_of).collect();
    let mut rules = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let key = format!("linux.seccomp.syscalls[{i}]");
        let errno = sc.errno_ret().unwrap_or(libc_eperm());
        let action = action(&name_of(&sc.action()), errno, &format!("{key}.action"))?;
        let mut args = Vec::new();
        for (j, a) in sc.args().iter().flatten().enumerate() {
            let index = u8::try_from(a.index())
                .ok()
                .filter(|i| *i < 6)
                .ok_or_else(|| refuse(format!("{key}.args[{j}].index"), "must be 0 to 5"))?;
            let op = match name_of(&a.op()).as_str() {
                "SCMP_CMP_EQ" => ArgOp::Eq,
                "SCMP_CMP_NE" => ArgOp::Ne,
                "SCMP_CMP_LT" => ArgOp::Lt,
                "SCMP_CMP_LE" => ArgOp::Le,
                "SCMP_CMP_GT" => ArgOp::Gt,
                "SCMP_CMP_GE" => ArgOp::Ge,
                "SCMP_CMP_MASKED_EQ" => ArgOp::MaskedEq,
                other => {
                    return Err(refuse(
                        format!("{key}.args[{j}].op"),
                        format!("{other:?} is not an operator"),
                    ))
                }
            };
            args.push(ArgCondition {
                index,
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
                op,
            });
        }
        rules.push(ProfileRule {
            names: sc.names().clone(),
            action,
            args,
        });
    }
    Ok(SeccompProfile {
        default_action,
        architectures,
        rules,
    })
}

fn libc_eperm() -> u32 {
    1
}

fn action(name: &str, errno: u32, key: &str) -> Result<ProfileAction, TranslateError> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => ProfileAction::Allow,
        "SCMP_ACT_ERRNO" => ProfileAction::Errno(errno),
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => ProfileAction::KillThread,
        "SCMP_ACT_KILL_PROCESS" => ProfileAction::KillProcess,
        "SCMP_ACT_TRAP" => ProfileAction::Trap,
        "SCMP_ACT_TRACE" => ProfileAction::Trace(errno),
        "SCMP_ACT_LOG" => ProfileAction::Log,
        other => {
            return Err(refuse(
                key,
                format!(
                    "{other:?} is not supported by stockade (user notification needs a listener)"
                ),
            ))
        }
    })
}
