//! An OCI bundle's `config.json` as a [`FreebsdPlan`]: the subset ocijail (podman's
//! FreeBSD runtime) honours, turned into the same plan the spec planner makes, so the
//! same apply sequence and undo run it.
//!
//! Pure: it reads the JSON and the typed model of the `oci-spec` crate and builds data.
//! Accepted: `root.path` (+ `readonly`), `mounts` (nullfs/bind with `ro`, tmpfs with
//! `size`/`mode`, devfs with `ruleset`, fdescfs, procfs), `process` (`args`, `env`,
//! `cwd`, `user.uid`/`gid`/`additionalGids`, `terminal`), `hostname` and ocijail's
//! annotation `org.freebsd.jail.vnet` (`new`: own network stack with a loopback;
//! `inherit`, the default: the host's). Every other key is refused with a
//! [`TranslateError`] naming it (`linux.namespaces`, `mounts[2].options[1]`), never
//! dropped. The runtime-spec's `freebsd` section (config-freebsd.md) is not modelled by
//! `oci-spec` 0.10, so it is refused too.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount as OciMount, Process, Spec as OciSpec};
use serde_json::Value;
use stockade_core::spec::{Network, NetworkMode};

use crate::plan::exec::{EnvValue, EnvVar, ExecStep, Id, CLOSE_FROM};
use crate::plan::jail::{self, JailParam, JailValue, KERNEL_DEFAULT_ALLOW, SECURELEVEL};
use crate::plan::mount::{
    host_path, FsType, IovValue, MountOrigin, MountStep, Nmount, JAIL_DEVFS_RULESET, MKDIR_MODE,
};
use crate::plan::{net, FreebsdPlan, JAIL_ROOT_DIR};

/// ocijail's annotation choosing the jail's network stack: `new` or `inherit`.
pub const VNET_ANNOTATION: &str = "org.freebsd.jail.vnet";

/// Top-level keys of config.json this translation reads (others are refused).
const TOP_LEVEL: &[&str] = &[
    "ociVersion",
    "root",
    "mounts",
    "process",
    "hostname",
    "annotations",
    "linux",
    "hooks",
];

use stockade_core::oci::refuse;
pub use stockade_core::oci::TranslateError;

/// Facts about the run the translation needs beyond the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateContext {
    /// The container id: the jail's name.
    pub id: String,
    /// The bundle folder (a relative `root.path` is relative to it).
    pub bundle: PathBuf,
    /// The container's state folder; the jail path is `<state_dir>/root`.
    pub state_dir: PathBuf,
}

/// Translates the text of a config.json.
pub fn translate_json(text: &str, ctx: &TranslateContext) -> Result<FreebsdPlan, TranslateError> {
    let raw: Value =
        serde_json::from_str(text).map_err(|e| refuse("(file)", format!("not valid JSON: {e}")))?;
    let Some(object) = raw.as_object() else {
        return Err(refuse("(file)", "must be a JSON object"));
    };
    for key in object.keys() {
        if !TOP_LEVEL.contains(&key.as_str()) {
            return Err(refuse(
                key.as_str(),
                "not supported by stockade on FreeBSD: remove it",
            ));
        }
    }
    // The linux section may be present but empty: none of its keys means anything to a
    // jail.
    if let Some((key, _)) = object
        .get("linux")
        .and_then(Value::as_object)
        .and_then(|l| l.iter().next())
    {
        return Err(refuse(
            format!("linux.{key}"),
            "a Linux setting with no FreeBSD meaning: remove it",
        ));
    }
    if let Some((key, _)) = object
        .get("hooks")
        .and_then(Value::as_object)
        .and_then(|h| {
            h.iter()
                .find(|(_, v)| v.as_array().is_some_and(|a| !a.is_empty()))
        })
    {
        return Err(refuse(
            format!("hooks.{key}"),
            "hooks are not run by stockade on FreeBSD: remove them",
        ));
    }
    let spec: OciSpec = serde_json::from_value(raw)
        .map_err(|e| refuse("(file)", format!("not a runtime-spec config: {e}")))?;
    translate(&spec, ctx)
}

/// Translates a parsed config.json (whose top-level keys [`translate_json`] checked).
pub fn translate(spec: &OciSpec, ctx: &TranslateContext) -> Result<FreebsdPlan, TranslateError> {
    jail::check_name(&ctx.id).map_err(|e| refuse("(container id)", e.to_string()))?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| refuse("process", "missing: the container needs a process to run"))?;
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| refuse("root", "missing: set root.path to the root file system"))?;
    let jail_path = ctx.state_dir.join(JAIL_ROOT_DIR);
    let root_source = if root.path().is_absolute() {
        root.path().clone()
    } else {
        ctx.bundle.join(root.path())
    };
    let hostname = spec.hostname().clone().unwrap_or_else(|| ctx.id.clone());
    let vnet = vnet(spec)?;

    let mut mounts = vec![MountStep::Mkdir {
        path: jail_path.clone(),
        mode: MKDIR_MODE,
    }];
    let mut root_mount = Nmount::new(FsType::Nullfs, jail_path.clone(), MountOrigin::Root);
    root_mount.push("target", IovValue::Path(root_source));
    if root.readonly() == Some(true) {
        root_mount.push("ro", IovValue::Flag);
    }
    mounts.push(MountStep::Mount(root_mount));
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let key = format!("mounts[{i}]");
        let inside = checked_destination(m.destination(), &key)?;
        let step = mount(m, &jail_path, &inside, i, &key)?;
        // The root is the bundle's, not stockade's: mount points must already be there.
        mounts.push(MountStep::RequireDir {
            path: host_path(&jail_path, &inside),
        });
        mounts.push(MountStep::Mount(step));
    }

    let network = if vnet {
        net::plan(
            &ctx.id,
            &Network {
                mode: NetworkMode::None,
                ..Network::default()
            },
        )
        .map_err(|e| refuse(format!("annotations.\"{VNET_ANNOTATION}\""), e.to_string()))?
    } else {
        Vec::new()
    };

    Ok(FreebsdPlan {
        name: ctx.id.clone(),
        mounts,
        rctl: Vec::new(),
        jail: jail_params(&ctx.id, &jail_path, &hostname, vnet),
        linux: None,
        copy_on_write: None,
        cpuset: None,
        network,
        pf: None,
        resolver: None,
        exec: exec(process, &ctx.id)?,
        notes: Vec::new(),
        jail_path,
    })
}

/// ocijail's vnet annotation: `new` gives the jail its own network stack.
fn vnet(spec: &OciSpec) -> Result<bool, TranslateError> {
    let annotations = spec.annotations().clone().unwrap_or_default();
    for key in annotations.keys() {
        if key.starts_with("org.freebsd.") && key != VNET_ANNOTATION {
            return Err(refuse(
                format!("annotations.\"{key}\""),
                format!("stockade on FreeBSD knows only \"{VNET_ANNOTATION}\": remove it"),
            ));
        }
    }
    match annotations.get(VNET_ANNOTATION).map(String::as_str) {
        None | Some("inherit") => Ok(false),
        Some("new") => Ok(true),
        Some(other) => Err(refuse(
            format!("annotations.\"{VNET_ANNOTATION}\""),
            format!("\"{other}\": expected \"new\" or \"inherit\""),
        )),
    }
}

/// The jail_set(2) parameters, as the spec planner sets them for a jail granted no
/// privileges.
fn jail_params(id: &str, jail_path: &Path, hostname: &str, vnet: bool) -> Vec<JailParam> {
    let s = |v: &str| JailValue::Str(v.to_string());
    let mut params = vec![
        JailParam::new("name", s(id)),
        JailParam::new("path", s(&jail_path.display().to_string())),
        JailParam::new("host.hostname", s(hostname)),
        JailParam::new("persist", JailValue::Bool(true)),
        JailParam::new("enforce_statfs", JailValue::Int(2)),
        JailParam::new("securelevel", JailValue::Int(SECURELEVEL)),
        JailParam::new("children.max", JailValue::Int(0)),
        JailParam::new("sysvmsg", s("new")),
        JailParam::new("sysvsem", s("new")),
        JailParam::new("sysvshm", s("new")),
        JailParam::new(
            "devfs_ruleset",
            JailValue::Int(i64::from(JAIL_DEVFS_RULESET)),
        ),
    ];
    if vnet {
        params.push(JailParam::new("vnet", s("new")));
    } else {
        params.push(JailParam::new("ip4", s("inherit")));
        params.push(JailParam::new("ip6", s("inherit")));
    }
    params.extend(
        KERNEL_DEFAULT_ALLOW
            .iter()
            .map(|&name| JailParam::new(name, JailValue::Bool(false))),
    );
    params
}

/// An absolute destination without `..`, so it stays under the jail path.
fn checked_destination(p: &Path, key: &str) -> Result<PathBuf, TranslateError> {
    let bad = !p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir));
    if bad {
        return Err(refuse(
            format!("{key}.destination"),
            format!("{}: must be absolute, without ..", p.display()),
        ));
    }
    Ok(p.to_path_buf())
}

/// One mount entry as an nmount(2) call.
fn mount(
    m: &OciMount,
    jail_path: &Path,
    inside: &Path,
    index: usize,
    key: &str,
) -> Result<Nmount, TranslateError> {
    let options = m.options().clone().unwrap_or_default();
    let bind = options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = match (m.typ().as_deref(), bind) {
        (Some("nullfs" | "bind") | None, _) | (_, true) => FsType::Nullfs,
        (Some("tmpfs"), _) => FsType::Tmpfs,
        (Some("devfs"), _) => FsType::Devfs,
        (Some("fdescfs"), _) => FsType::Fdescfs,
        (Some("procfs"), _) => FsType::Procfs,
        (Some(other), _) => {
            return Err(refuse(
                format!("{key}.type"),
                format!(
                    "\"{other}\": stockade on FreeBSD mounts nullfs (bind), tmpfs, devfs, \
                     fdescfs and procfs"
                ),
            ))
        }
    };
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(refuse(
            format!("{key}.uidMappings"),
            "id-mapped mounts do not exist on FreeBSD: remove them",
        ));
    }
    let mut n = Nmount::new(
        kind,
        host_path(jail_path, inside),
        MountOrigin::Spec(index + 1),
    );
    match kind {
        FsType::Nullfs => {
            let source = m
                .source()
                .as_ref()
                .filter(|s| s.is_absolute())
                .ok_or_else(|| {
                    refuse(
                        format!("{key}.source"),
                        "a nullfs (bind) mount needs an absolute host folder",
                    )
                })?;
            n.push("target", IovValue::Path(source.clone()));
        }
        other => n.push("from", IovValue::Str(other.as_str().to_string())),
    }
    let mut readonly = false;
    let mut ruleset = None;
    for (j, o) in options.iter().enumerate() {
        let okey = format!("{key}.options[{j}]");
        let (name, value) = match o.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (o.as_str(), None),
        };
        match (name, value, kind) {
            ("ro", None, _) => readonly = true,
            ("rw", None, _) => readonly = false,
            ("bind" | "rbind", None, FsType::Nullfs) => {}
            ("nosuid", None, _) => n.push("nosuid", IovValue::Flag),
            ("noexec", None, _) => n.push("noexec", IovValue::Flag),
            // FreeBSD has no mount propagation: every mount is private already.
            ("private" | "rprivate", None, _) => {}
            // The tmpfs starts empty, which is what podman's notmpcopyup asks for.
            ("notmpcopyup", None, FsType::Tmpfs) => {}
            // FreeBSD honours device nodes only on devfs: nodev holds everywhere else.
            ("nodev", None, kind) if kind != FsType::Devfs => {}
            ("size", Some(v), FsType::Tmpfs) if valid_size(v) => {
                n.push("size", IovValue::Str(v.to_string()))
            }
            ("mode", Some(v), FsType::Tmpfs)
                if !v.is_empty() && u32::from_str_radix(v, 8).is_ok_and(|m| m <= 0o7777) =>
            {
                n.push("mode", IovValue::Str(v.to_string()))
            }
            ("ruleset", Some(v), FsType::Devfs) if v.parse::<u32>().is_ok() => {
                ruleset = Some(v.to_string())
            }
            _ => {
                return Err(refuse(
                    okey,
                    format!(
                        "\"{o}\" is not supported on a {} mount (accepted: ro, rw, nosuid, \
                         noexec, private, rprivate; nodev except on devfs; bind for nullfs; \
                         size=, mode= (octal), notmpcopyup for tmpfs; ruleset= for devfs)",
                        kind.as_str()
                    ),
                ))
            }
        }
    }
    if kind == FsType::Devfs {
        let ruleset = ruleset.unwrap_or_else(|| JAIL_DEVFS_RULESET.to_string());
        n.push("ruleset", IovValue::Str(ruleset));
    }
    if readonly {
        n.push("ro", IovValue::Flag);
    }
    Ok(n)
}

/// A tmpfs size as tmpfs(5) reads it: bytes, or a number with k, m, g or t.
fn valid_size(v: &str) -> bool {
    let digits = v.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T']);
    !digits.is_empty() && v.len() - digits.len() <= 1 && digits.parse::<u64>().is_ok()
}

/// The steps that start `process` in the jail.
fn exec(p: &Process, jail: &str) -> Result<Vec<ExecStep>, TranslateError> {
    for (key, present) in [
        ("process.capabilities", p.capabilities().is_some()),
        ("process.rlimits", p.rlimits().is_some()),
        ("process.apparmorProfile", p.apparmor_profile().is_some()),
        ("process.selinuxLabel", p.selinux_label().is_some()),
        ("process.oomScoreAdj", p.oom_score_adj().is_some()),
        (
            "process.noNewPrivileges",
            p.no_new_privileges() == Some(true),
        ),
        ("process.scheduler", p.scheduler().is_some()),
        ("process.ioPriority", p.io_priority().is_some()),
        ("process.execCPUAffinity", p.exec_cpu_affinity().is_some()),
        ("process.consoleSize", p.console_size().is_some()),
        ("process.user.umask", p.user().umask().is_some()),
        ("process.user.username", p.user().username().is_some()),
    ] {
        if present {
            return Err(refuse(
                key,
                "not supported by stockade on FreeBSD: remove it",
            ));
        }
    }
    let argv = p.args().clone().unwrap_or_default();
    if argv.is_empty() || argv[0].is_empty() {
        return Err(refuse("process.args", "missing: the command to run"));
    }
    if !p.cwd().is_absolute() {
        return Err(refuse(
            "process.cwd",
            format!("{}: must be absolute", p.cwd().display()),
        ));
    }
    let mut env = Vec::new();
    for (i, e) in p.env().iter().flatten().enumerate() {
        let Some((name, value)) = e.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            return Err(refuse(
                format!("process.env[{i}]"),
                format!("\"{e}\": expected NAME=VALUE"),
            ));
        };
        if env.iter().any(|v: &EnvVar| v.name == name) {
            return Err(refuse(
                format!("process.env[{i}]"),
                format!("{name} is set twice: keep one"),
            ));
        }
        env.push(EnvVar {
            name: name.to_string(),
            value: EnvValue::Set(value.to_string()),
        });
    }
    env.sort_by(|a, b| a.name.cmp(&b.name));
    let user = p.user();
    let gid = Id::Num(user.gid());
    let mut groups = vec![gid.clone()];
    groups.extend(user.additional_gids().iter().flatten().map(|&g| Id::Num(g)));
    let mut steps = vec![
        ExecStep::JailAttach {
            jail: jail.to_string(),
        },
        ExecStep::SetGroups { groups },
        ExecStep::SetGid { gid },
        ExecStep::SetUid {
            uid: Id::Num(user.uid()),
        },
        ExecStep::Chdir {
            path: p.cwd().clone(),
        },
    ];
    if p.terminal() == Some(true) {
        steps.push(ExecStep::Terminal);
    }
    steps.extend([
        ExecStep::CloseFrom { fd: CLOSE_FROM },
        ExecStep::Exec {
            search_path: !argv[0].contains('/'),
            argv,
            env,
        },
    ]);
    Ok(steps)
}

/// The runtime-spec status word of a record's status (refreshed from the kernel): a
/// jail has no freezer, so never `paused`.
pub fn oci_status(s: stockade_core::state::Status) -> &'static str {
    use stockade_core::state::Status;
    match s {
        Status::Created => "created",
        Status::Running => "running",
        _ => "stopped",
    }
}

/// The jail-wide signal `kill --all SIG` sends (every process in the jail), if any:
/// SIGTERM and SIGKILL.
pub fn jail_signal(sig: i32) -> Option<crate::kernel::JailSignal> {
    use crate::kernel::JailSignal;
    // FreeBSD's numbers (signal(3)); this module compiles on every OS.
    const SIGKILL: i32 = 9;
    const SIGTERM: i32 = 15;
    match sig {
        SIGTERM => Some(JailSignal::Term),
        SIGKILL => Some(JailSignal::Kill),
        _ => None,
    }
}

/// A terminal needs `--console-socket`, and the socket a terminal (runc's rule).
pub fn check_console(terminal: bool, socket: bool) -> Result<(), &'static str> {
    match (terminal, socket) {
        (true, false) => {
            Err("process.terminal is true: pass --console-socket to receive the terminal")
        }
        (false, true) => Err("--console-socket needs process.terminal = true in config.json"),
        _ => Ok(()),
    }
}

/// The runtime-spec features document (`stockade oci features` on FreeBSD): this
/// translation's subset.
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": [],
        "mountOptions": ["bind", "nodev", "noexec", "nosuid", "notmpcopyup", "private",
                         "ro", "rprivate", "rw"],
        "annotations": {
            "org.stockade.runtime": "stockade",
            VNET_ANNOTATION: "new|inherit",
        },
    })
}

/// A template config.json that this translation accepts (`stockade oci spec` on
/// FreeBSD, as `runc spec` writes one): `rootfs/`, `sh`, the jail's devfs, the host's
/// network stack.
pub fn template() -> String {
    let config = serde_json::json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs", "readonly": false },
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["sh"],
            "env": ["PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin", "TERM=xterm"],
            "cwd": "/",
        },
        "hostname": "stockade",
        "mounts": [
            { "destination": "/dev", "type": "devfs", "source": "devfs", "options": ["ruleset=4"] },
        ],
        "annotations": { VNET_ANNOTATION: "inherit" },
    });
    let mut text = serde_json::to_string_pretty(&config).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests;
