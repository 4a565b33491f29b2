//! A spec as an OCI runtime bundle's `config.json` (opencontainers/runtime-spec, the
//! Linux section), so that runc, crun, youki or anything driven by containerd can run it.
//!
//! Built from the Linux planner's own output ([`crate::plan`]), so the container gets what
//! `stockade run` would make: the same namespaces, capability sets, no_new_privs, rlimits,
//! cgroup limits and device rules, seccomp filter, masked and read-only `/proc` paths, and
//! the same mounts in the same order (the plan's bind-then-remount pairs become one OCI
//! bind mount with its options; the `/dev` nodes the plan binds are the OCI runtime's
//! default devices, so they are left to it). Pure: compiled and tested on every OS.
//!
//! The result is typed with the `oci-spec` crate's model ([`oci_spec::runtime::Spec`]):
//! the JSON is assembled here, then read into that model, which refuses any field of the
//! wrong name or type. What `config.json` cannot say is returned as notes.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use stockade_core::backend::{CgroupVersion, PlanContext};
use stockade_core::spec::{NetworkMode, RootSource, Spec, User};

use crate::plan::cgroup::{self, DeviceType, CGROUP_PARENT, CPU_PERIOD_US};
use crate::plan::mount::{Mount, MountFlag, MountStep, DEV_NODES};
use crate::plan::ns::Namespace;
use crate::plan::seccomp::{SeccompAction, SeccompPlan};
use crate::plan::{plan_with, LinuxPlanOptions, PlanError};

/// The runtime-spec version the config follows.
pub const OCI_VERSION: &str = "1.2.0";

/// Where a `root.host` environment's (empty) root folder is, relative to the bundle.
pub const HOST_VIEW_ROOTFS: &str = "rootfs";

/// A spec as an OCI bundle configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct OciExport {
    /// The configuration, in the `oci-spec` crate's typed model.
    pub config: oci_spec::runtime::Spec,
    /// What `config.json` cannot say, and what to do about it.
    pub notes: Vec<String>,
    /// `root.host`: the links the bundle's `rootfs/` needs at its top (`bin` →
    /// `usr/bin`, ...), relative to it, which the plan makes on its tmpfs root and
    /// config.json cannot say (`stockade export --out` makes them). Empty otherwise.
    pub host_links: Vec<(PathBuf, PathBuf)>,
}

impl OciExport {
    /// `config.json` as written into a bundle: pretty JSON with a final newline.
    pub fn to_json(&self) -> Result<String, OciError> {
        let mut text = serde_json::to_string_pretty(&self.config).map_err(OciError::Model)?;
        text.push('\n');
        Ok(text)
    }
}

/// Why a spec has no OCI configuration.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The Linux planner refuses the spec.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// OCI's `process.user` takes numeric ids only.
    #[error(
        "process.user {user:?} is a name, but an OCI config.json takes numeric ids: \
         set process.user = \"UID:GID\" (look the ids up in the root's /etc/passwd)"
    )]
    NamedUser {
        /// The user as the spec names it.
        user: String,
    },
    /// The seccomp plan fails syscalls with an errno this export does not know the number of.
    #[error("the seccomp plan uses errno {0}, which has no number here (a bug: add it)")]
    Errno(String),
    /// The assembled JSON does not fit the OCI model (a bug in this module).
    #[error("the generated config.json does not fit the OCI runtime model (a bug): {0}")]
    Model(#[source] serde_json::Error),
    /// A limit has no cgroup value.
    #[error(transparent)]
    Cgroup(#[from] cgroup::CgroupPlanError),
    /// `limits.visible` has no OCI form: its /proc views are files stockade's own runtime
    /// makes and binds in.
    #[error(
        "limits.visible has no OCI form: the /proc/meminfo, /proc/cpuinfo and /proc/stat \
         views are made by stockade's runtime, not by an OCI runtime (lxcfs does this for \
         runc); remove it, or use `stockade run`"
    )]
    Visible,
    /// A copy-on-write root has no OCI form: the bundle's root would be the base itself.
    #[error(
        "root.overlay has no OCI form: runc or crun would write straight into the base \
         folder; mount the overlay yourself and give its mount point as root.path"
    )]
    Overlay,
}

/// Exports a spec as an OCI `config.json`, planning with `options` (the host's system
/// folder layout, used by `root.host`).
pub fn export(spec: &Spec, options: &LinuxPlanOptions) -> Result<OciExport, OciError> {
    if spec.root.overlay.is_some() {
        return Err(OciError::Overlay);
    }
    if spec.limits.visible {
        return Err(OciError::Visible);
    }
    let ctx = PlanContext::new("/run/stockade", &spec.name, CgroupVersion::V2);
    let plan = plan_with(spec, &ctx, options)?;
    let mut notes = Vec::new();

    // process
    let p = &plan.process;
    let (uid, gid) = match &p.user {
        User::Id { uid, gid } => (*uid, *gid),
        named @ User::Name { .. } => {
            return Err(OciError::NamedUser {
                user: named.to_string(),
            })
        }
    };
    let env: Vec<String> = p.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let caps = &plan.capabilities;
    let rlimits: Vec<Value> = plan
        .rlimits
        .iter()
        .map(|r| json!({ "type": r.resource, "soft": r.soft, "hard": r.hard }))
        .collect();
    let mut user = json!({ "uid": uid, "gid": gid });
    if !p.groups.is_empty() {
        user["additionalGids"] = json!(p.groups);
    }
    let process = json!({
        // A terminal from the engine: `--console-socket` receives its master.
        "terminal": p.terminal,
        "user": user,
        "args": p.argv,
        "env": env,
        "cwd": p.cwd,
        "capabilities": {
            "bounding": caps.bounding,
            "effective": caps.effective,
            "permitted": caps.permitted,
            "inheritable": caps.inheritable,
            "ambient": caps.ambient,
        },
        "rlimits": rlimits,
        "noNewPrivileges": caps.no_new_privs,
    });
    if p.init {
        notes.push(
            "process.init: OCI has no reaper option; run the container with the runtime's \
             own init (e.g. `docker run --init`, containerd's shim) or put one in the root"
                .to_string(),
        );
    }

    // root
    let root = match &spec.root.source {
        RootSource::Path(path) => json!({ "path": path, "readonly": spec.root.readonly }),
        // An image root is copy-on-write, refused above.
        RootSource::Image(image) => json!({ "path": image.name, "readonly": true }),
        // The bundle's rootfs/ with `host_links` in it (the caller makes them; `stockade
        // export --out` does), where the plan has a fresh tmpfs: runc refuses a mount at
        // "/", so the root is that folder, and what the environment writes to / stays in
        // it.
        RootSource::Host => {
            notes.push(format!(
                "root.host: the root is the bundle's {HOST_VIEW_ROOTFS}/ folder, not a fresh \
                 tmpfs (runc refuses a mount at /): what the environment writes to / stays \
                 there; set root.readonly = true to refuse writes"
            ));
            json!({ "path": HOST_VIEW_ROOTFS, "readonly": spec.root.readonly })
        }
    };
    let host_links = match &spec.root.source {
        RootSource::Host => host_links(&plan.mounts.steps),
        _ => Vec::new(),
    };

    // mounts, masked and read-only paths
    let (mounts, masked, readonly) = mounts(&plan.mounts.steps);

    // namespaces
    let namespaces: Vec<Value> = plan
        .namespaces
        .create
        .iter()
        .map(|ns| json!({ "type": namespace_type(*ns) }))
        .collect();

    // cgroup resources
    let resources = resources(spec, &plan)?;

    let mut linux = Map::new();
    linux.insert("namespaces".into(), json!(namespaces));
    linux.insert("resources".into(), resources);
    linux.insert(
        "cgroupsPath".into(),
        json!(format!("/{CGROUP_PARENT}/{}", spec.name)),
    );
    linux.insert("maskedPaths".into(), json!(masked));
    linux.insert("readonlyPaths".into(), json!(readonly));
    linux.insert("rootfsPropagation".into(), json!("private"));
    if let Some(seccomp) = seccomp(&plan.seccomp)? {
        linux.insert("seccomp".into(), seccomp);
    }

    // network: the namespace is in the list above; its wiring is the caller's
    let mut annotations = Map::new();
    annotations.insert("org.stockade.name".into(), json!(spec.name));
    annotations.insert(
        "org.stockade.network.mode".into(),
        json!(spec.network.mode.name()),
    );
    if spec.network.mode == NetworkMode::Private {
        if let Some(a) = spec.network.address {
            annotations.insert("org.stockade.network.address".into(), json!(a.to_string()));
        }
        if let Some(g) = spec.network.gateway {
            annotations.insert("org.stockade.network.gateway".into(), json!(g.to_string()));
        }
        notes.push(
            "network.mode = \"private\": config.json gives the container its own network \
             namespace; the veth pair, addresses and route are the caller's to make (a CNI \
             plugin, or a createRuntime hook); the wanted address and gateway are in the \
             org.stockade.network.* annotations"
                .to_string(),
        );
    }
    if p.home_from_passwd {
        notes.push(
            "process.env: stockade sets HOME from the root's /etc/passwd for a named user; \
             OCI runtimes do not, so set HOME in process.env"
                .to_string(),
        );
    }

    let config = json!({
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": root,
        "hostname": p.hostname,
        "mounts": mounts,
        "annotations": annotations,
        "linux": linux,
    });
    let config: oci_spec::runtime::Spec =
        serde_json::from_value(config).map_err(OciError::Model)?;
    Ok(OciExport {
        config,
        notes,
        host_links,
    })
}

fn namespace_type(ns: Namespace) -> &'static str {
    match ns {
        Namespace::Pid => "pid",
        Namespace::Mount => "mount",
        Namespace::Uts => "uts",
        Namespace::Ipc => "ipc",
        Namespace::Net => "network",
        Namespace::Cgroup => "cgroup",
        Namespace::User => "user",
    }
}

/// The links a `root.host` view makes at its top (`bin` → `usr/bin`, ...), relative to
/// the root; the /dev links are the OCI runtime's own defaults.
fn host_links(steps: &[MountStep]) -> Vec<(PathBuf, PathBuf)> {
    steps
        .iter()
        .take_while(|s| !matches!(s, MountStep::PivotRoot { .. }))
        .filter_map(|s| match s {
            MountStep::Symlink { path, to } => {
                let inside = path.strip_prefix("/").ok()?;
                (!inside.starts_with("dev")).then(|| (inside.to_path_buf(), to.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The plan's mount steps as OCI mounts, plus the masked and read-only paths.
fn mounts(steps: &[MountStep]) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let mut out: Vec<(PathBuf, Value)> = Vec::new();
    let mut masked: Vec<String> = Vec::new();
    let mut readonly: Vec<String> = Vec::new();
    let mut after_pivot = false;
    // Targets of the /dev trees the plan builds: their device-node binds are the OCI
    // runtime's default devices.
    let mut dev_dirs: Vec<PathBuf> = Vec::new();
    for step in steps {
        let m = match step {
            MountStep::PivotRoot { .. } => {
                after_pivot = true;
                continue;
            }
            MountStep::Mount(m) => m,
            _ => continue,
        };
        let target = m.target.display().to_string();
        if after_pivot {
            // Masks (/dev/null or an empty read-only tmpfs over a path) and read-only
            // /proc paths (bound over themselves, then remounted read-only).
            let is_mask = m.source.as_deref() == Some(Path::new("/dev/null"))
                || m.fstype.as_deref() == Some("tmpfs");
            let is_self_bind = m.source.as_deref() == Some(m.target.as_path());
            if is_mask && !masked.contains(&target) {
                masked.push(target);
            } else if (is_self_bind || m.flags.contains(&MountFlag::Remount))
                && !is_mask
                && !readonly.contains(&target)
            {
                readonly.push(target);
            }
            continue;
        }
        if m.target == Path::new("/") {
            continue; // the root: `root.path` and `root.readonly`
        }
        if m.flags.contains(&MountFlag::Remount) {
            // The second half of a bind: its attributes become the bind's options.
            if let Some((_, v)) = out.iter_mut().rev().find(|(t, _)| *t == m.target) {
                let mut options: Vec<String> = v["options"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|o| o.as_str().map(str::to_string))
                            .filter(|o| o == "bind" || o == "rbind")
                            .collect()
                    })
                    .unwrap_or_default();
                options.extend(flag_options(m));
                v["options"] = json!(options);
            }
            continue;
        }
        if m.flags.contains(&MountFlag::Bind) {
            let source = m.source.clone().unwrap_or_default();
            let is_dev_node = source.parent() == Some(Path::new("/dev"))
                && DEV_NODES
                    .iter()
                    .any(|n| source.file_name() == Some(n.as_ref()))
                && dev_dirs
                    .iter()
                    .any(|d| m.target.parent() == Some(d.as_path()));
            if is_dev_node {
                continue;
            }
            let kind = if m.flags.contains(&MountFlag::Recursive) {
                "rbind"
            } else {
                "bind"
            };
            let mut options = vec![kind.to_string()];
            options.push("rw".into());
            out.push((
                m.target.clone(),
                json!({ "destination": target, "type": "bind", "source": source, "options": options }),
            ));
            continue;
        }
        let fstype = m.fstype.clone().unwrap_or_else(|| "none".into());
        if fstype == "tmpfs"
            && m.data
                .as_deref()
                .is_some_and(|d| d == crate::plan::mount::DEV_TMPFS_DATA)
        {
            dev_dirs.push(m.target.clone());
        }
        let mut options = flag_options(m);
        if let Some(data) = &m.data {
            options.extend(data.split(',').map(str::to_string));
        }
        let source = m
            .source
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_else(|| fstype.clone());
        out.push((
            m.target.clone(),
            json!({ "destination": target, "type": fstype, "source": source, "options": options }),
        ));
    }
    (out.into_iter().map(|(_, v)| v).collect(), masked, readonly)
}

/// The mount(8) option names of a plan mount's flags (`ro` or `rw` first).
fn flag_options(m: &Mount) -> Vec<String> {
    let mut o = vec![if m.flags.contains(&MountFlag::Readonly) {
        "ro"
    } else {
        "rw"
    }
    .to_string()];
    for (flag, name) in [
        (MountFlag::Nosuid, "nosuid"),
        (MountFlag::Nodev, "nodev"),
        (MountFlag::Noexec, "noexec"),
    ] {
        if m.flags.contains(&flag) {
            o.push(name.into());
        }
    }
    o
}

/// `linux.resources`: the spec's limits in OCI's (cgroup-version neutral) units, and the
/// plan's device rules.
fn resources(spec: &Spec, plan: &crate::plan::LinuxPlan) -> Result<Value, OciError> {
    let mut r = Map::new();
    let l = &spec.limits;
    if let Some(m) = l.memory {
        // The plan forbids swap from stretching the limit; OCI says that with
        // swap (memory + swap) equal to the limit.
        r.insert("memory".into(), json!({ "limit": m, "swap": m }));
    }
    let mut cpu = Map::new();
    if let Some(c) = l.cpus {
        cpu.insert("quota".into(), json!(cgroup::cpu_quota_us(c)?));
        cpu.insert("period".into(), json!(CPU_PERIOD_US));
    }
    if let Some(set) = &l.cpuset {
        // cpuset.cpus; the memory nodes stay the host's (runtimes copy the parent's).
        cpu.insert("cpus".into(), json!(set.to_string()));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(n) = l.processes {
        r.insert("pids".into(), json!({ "limit": n }));
    }
    let devices: Vec<Value> = plan
        .cgroup
        .devices
        .rules
        .iter()
        .map(|d| {
            let mut v = json!({
                "allow": d.allow,
                "type": match d.kind {
                    DeviceType::All => "a",
                    DeviceType::Char => "c",
                    DeviceType::Block => "b",
                },
                "access": d.access,
            });
            if let Some(major) = d.major {
                v["major"] = json!(major);
            }
            if let Some(minor) = d.minor {
                v["minor"] = json!(minor);
            }
            v
        })
        .collect();
    r.insert("devices".into(), json!(devices));
    Ok(Value::Object(r))
}

/// `linux.seccomp` from the plan's deny list.
fn seccomp(plan: &SeccompPlan) -> Result<Option<Value>, OciError> {
    let Some(policy) = plan.policy() else {
        return Ok(None);
    };
    let action = |a: &SeccompAction| -> Result<(&'static str, Option<u32>), OciError> {
        match a {
            SeccompAction::Allow => Ok(("SCMP_ACT_ALLOW", None)),
            SeccompAction::Errno { errno } => Ok(("SCMP_ACT_ERRNO", Some(errno_number(errno)?))),
        }
    };
    let (default_action, default_errno) = action(&policy.default_action)?;
    let (deny_action, deny_errno) = action(&policy.deny_action)?;
    let mut rule = json!({ "names": policy.denied, "action": deny_action });
    if let Some(e) = deny_errno {
        rule["errnoRet"] = json!(e);
    }
    let mut v = json!({ "defaultAction": default_action, "syscalls": [rule] });
    if let Some(e) = default_errno {
        v["defaultErrnoRet"] = json!(e);
    }
    Ok(Some(v))
}

/// The Linux errno numbers the seccomp plan can use (asm-generic/errno-base.h, errno.h).
fn errno_number(name: &str) -> Result<u32, OciError> {
    Ok(match name {
        "EPERM" => 1,
        "ENOENT" => 2,
        "EACCES" => 13,
        "EINVAL" => 22,
        "ENOSYS" => 38,
        other => return Err(OciError::Errno(other.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Spec {
        Spec::from_toml(text, Some(Path::new("/etc/stockade/web.toml"))).unwrap()
    }

    #[test]
    fn a_named_user_is_refused_with_the_fix() {
        let s = spec("name = \"w\"\n[root]\npath = \"/r\"\n[process]\ncommand = [\"/bin/sh\"]\nuser = \"www\"\n");
        let e = export(&s, &LinuxPlanOptions::default()).unwrap_err();
        assert!(e.to_string().contains("UID:GID"), "{e}");
    }

    #[test]
    fn a_copy_on_write_root_is_refused() {
        let s = spec("name = \"w\"\n[root]\npath = \"/r\"\noverlay = true\n[process]\ncommand = [\"/bin/sh\"]\n");
        let e = export(&s, &LinuxPlanOptions::default()).unwrap_err();
        assert!(matches!(e, OciError::Overlay), "{e}");
    }

    #[test]
    fn visible_limits_are_refused_and_a_cpuset_is_exported() {
        let s = spec("name = \"w\"\n[root]\npath = \"/r\"\n[process]\ncommand = [\"/bin/sh\"]\n[limits]\nmemory = \"64M\"\nvisible = true\n");
        let e = export(&s, &LinuxPlanOptions::default()).unwrap_err();
        assert!(matches!(e, OciError::Visible), "{e}");
        let s = spec("name = \"w\"\n[root]\npath = \"/r\"\n[process]\ncommand = [\"/bin/sh\"]\n[limits]\ncpuset = \"0-1,3\"\ncpus = 1\n");
        let config =
            serde_json::to_value(export(&s, &LinuxPlanOptions::default()).unwrap().config).unwrap();
        let cpu = &config["linux"]["resources"]["cpu"];
        assert_eq!(cpu["cpus"], "0-1,3");
        assert_eq!(cpu["quota"], CPU_PERIOD_US);
    }

    #[test]
    fn a_host_view_is_the_bundles_rootfs_with_the_views_links() {
        let s = spec("name = \"w\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n");
        let e = export(&s, &LinuxPlanOptions::default()).unwrap();
        let config = serde_json::to_value(&e.config).unwrap();
        assert_eq!(config["root"]["path"], HOST_VIEW_ROOTFS);
        // No mount at / (runc refuses one); the difference is noted.
        let mounts = config["mounts"].as_array().unwrap();
        assert!(mounts.iter().all(|m| m["destination"] != "/"));
        assert!(e.notes.iter().any(|n| n.contains("not a fresh tmpfs")));
        for (path, _) in &e.host_links {
            assert!(path.is_relative() && !path.starts_with("dev"), "{path:?}");
        }
    }

    #[test]
    fn errno_names_have_numbers() {
        assert_eq!(errno_number("EPERM").unwrap(), 1);
        assert!(errno_number("EWHAT").is_err());
    }
}
