//! Plans pinned for concrete specs, through the public API only: what `stockade plan`
//! prints and what apply will execute. Values are exact, so any change in the kernel
//! operations shows up here.

use std::path::Path;

use serde_json::{json, Value};
use stockade_core::backend::{Backend, CgroupVersion, PlanContext};
use stockade_core::Spec;
use stockade_linux::plan::cgroup::CgroupWrite;
use stockade_linux::plan::mount::{MountFlag, MountStep};
use stockade_linux::plan::net::{NetStep, Netns};
use stockade_linux::plan::seccomp::SeccompPlan;
use stockade_linux::{
    plan, HostDir, LinuxBackend, LinuxPlan, LinuxPlanOptions, DEFAULT_CAPABILITIES,
};

fn spec(text: &str) -> Spec {
    Spec::from_toml(text, Some(Path::new("/etc/stockade/x.toml")))
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `x` (the file's stem) on a prepared root, plus `extra`.
fn spec_with(extra: &str) -> Spec {
    spec(&format!(
        "[root]\npath = \"/srv/roots/x\"\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
    ))
}

fn plan_on(spec: &Spec, version: CgroupVersion) -> LinuxPlan {
    plan(
        spec,
        &PlanContext::new("/run/stockade", &spec.name, version),
    )
    .unwrap()
}

fn write<'a>(plan: &'a LinuxPlan, file: &str) -> &'a CgroupWrite {
    plan.cgroup
        .writes
        .iter()
        .find(|w| w.file == file)
        .unwrap_or_else(|| panic!("no write to {file} in {:#?}", plan.cgroup.writes))
}

fn files(plan: &LinuxPlan) -> Vec<(&str, &str)> {
    plan.cgroup
        .writes
        .iter()
        .filter(|w| w.controller.as_deref() != Some("devices"))
        .map(|w| (w.file.as_str(), w.value.as_str()))
        .collect()
}

const LIMITS: &str = "\
[limits]
memory = \"256M\"
cpus = 1.5
processes = 64
open_files = 1024
";

#[test]
fn limits_on_cgroup_v2() {
    let s = spec_with(LIMITS);
    assert_eq!(s.name, "x");
    let p = plan_on(&s, CgroupVersion::V2);
    assert_eq!(p.cgroup.path, Path::new("stockade/x"));
    assert_eq!(
        files(&p),
        [
            ("memory.max", "268435456"),
            ("memory.swap.max", "0"),
            ("pids.max", "64"),
            ("cpu.max", "150000 100000"),
        ]
    );
    assert!(p.cgroup.writes.iter().all(|w| w.controller.is_none()));
    assert!(!write(&p, "memory.swap.max").required);
    assert!(write(&p, "memory.max").required);
    assert_eq!(p.controllers(), ["cpu", "memory", "pids"]);
}

#[test]
fn limits_on_cgroup_v1() {
    let p = plan_on(&spec_with(LIMITS), CgroupVersion::V1);
    assert_eq!(
        files(&p),
        [
            ("memory.limit_in_bytes", "268435456"),
            ("memory.memsw.limit_in_bytes", "268435456"),
            ("pids.max", "64"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "150000"),
        ]
    );
    assert_eq!(write(&p, "pids.max").controller.as_deref(), Some("pids"));
    assert_eq!(
        write(&p, "cpu.cfs_quota_us").controller.as_deref(),
        Some("cpu")
    );
    assert!(!write(&p, "memory.memsw.limit_in_bytes").required);
    assert_eq!(write(&p, "devices.deny").value, "a");
    assert_eq!(p.controllers(), ["cpu", "devices", "memory", "pids"]);
}

#[test]
fn open_files_is_an_rlimit() {
    let p = plan_on(&spec_with(LIMITS), CgroupVersion::V2);
    assert_eq!(p.rlimits.len(), 1);
    assert_eq!(p.rlimits[0].resource, "RLIMIT_NOFILE");
    assert_eq!((p.rlimits[0].soft, p.rlimits[0].hard), (1024, 1024));
}

#[test]
fn private_network() {
    let p = plan_on(
        &spec_with(
            "[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\ngateway = \"10.77.0.1\"\n",
        ),
        CgroupVersion::V2,
    );
    let host = p.network.host_interface().unwrap().to_string();
    assert!(host.starts_with("sk-x-") && host.len() == 12, "{host}");
    let env = |ifname: &str| ifname.to_string();
    assert_eq!(
        p.network.steps,
        [
            NetStep::CreateVeth {
                host: host.clone(),
                inside: env("eth0")
            },
            NetStep::AddAddress {
                netns: Netns::Environment,
                ifname: env("eth0"),
                address: "10.77.0.2/24".parse().unwrap()
            },
            NetStep::LinkUp {
                netns: Netns::Environment,
                ifname: env("eth0")
            },
            NetStep::AddDefaultRoute {
                netns: Netns::Environment,
                gateway: "10.77.0.1".parse().unwrap(),
                ifname: env("eth0")
            },
            NetStep::AddAddress {
                netns: Netns::Host,
                ifname: host.clone(),
                address: "10.77.0.1/24".parse().unwrap()
            },
            NetStep::LinkUp {
                netns: Netns::Host,
                ifname: host
            },
            NetStep::LinkUp {
                netns: Netns::Environment,
                ifname: env("lo")
            },
        ]
    );
    assert!(p
        .namespaces
        .create
        .iter()
        .any(|n| n.clone_flag() == "CLONE_NEWNET"));
}

#[test]
fn root_host_mount_steps() {
    let s = spec("[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n");
    let options = LinuxPlanOptions {
        host_dirs: vec![
            HostDir::Symlink {
                path: "/bin".into(),
                to: "usr/bin".into(),
            },
            HostDir::Dir {
                path: "/usr".into(),
            },
        ],
        rootless: None,
    };
    let ctx = PlanContext::new("/run/stockade", "x", CgroupVersion::V2);
    let p = LinuxBackend::new(options).plan(&s, &ctx).unwrap();
    assert_eq!(p.mounts.rootfs, Path::new("/run/stockade/x/root"));
    let steps: Vec<String> = p.mounts.steps.iter().map(ToString::to_string).collect();
    assert_eq!(
        steps[..6],
        [
            "make every mount private, recursively (mount / MS_REC|MS_PRIVATE)",
            "mount tmpfs on / type tmpfs (nodev) mode=0755",
            "symlink /bin -> usr/bin",
            "mount /usr on /usr (bind,rec)",
            "remount /usr (bind,rec,ro,nodev)",
            "mount proc on /proc type proc (nosuid,nodev,noexec)",
        ]
    );
    let usr_ro = p.mounts.steps[4].as_mount().unwrap();
    assert!(usr_ro.flags.contains(&MountFlag::Readonly));
    assert!(usr_ro.flags.contains(&MountFlag::Remount));
    assert!(p.mounts.steps.contains(&MountStep::PivotRoot {
        new_root: "/run/stockade/x/root".into()
    }));
}

#[test]
fn readonly_bind_mount_is_bound_then_remounted() {
    let p = plan_on(
        &spec_with("[[mount]]\nkind = \"bind\"\nsource = \"./site\"\ntarget = \"/var/www\"\nreadonly = true\n"),
        CgroupVersion::V2,
    );
    let at_www: Vec<_> = p
        .mounts
        .mounts()
        .filter(|m| m.target == Path::new("/var/www"))
        .collect();
    assert_eq!(at_www.len(), 2);
    assert_eq!(
        at_www[0].source.as_deref(),
        Some(Path::new("/etc/stockade/site"))
    );
    assert_eq!(
        at_www[0].flags.iter().copied().collect::<Vec<_>>(),
        [MountFlag::Bind, MountFlag::Recursive]
    );
    assert_eq!(at_www[1].source, None);
    assert_eq!(
        at_www[1].flags.iter().copied().collect::<Vec<_>>(),
        [
            MountFlag::Bind,
            MountFlag::Recursive,
            MountFlag::Remount,
            MountFlag::Readonly,
            MountFlag::Nosuid,
            MountFlag::Nodev
        ]
    );
}

#[test]
fn capabilities_default_and_with_privileges() {
    let p = plan_on(&spec_with(""), CgroupVersion::V2);
    assert_eq!(p.capabilities.bounding, DEFAULT_CAPABILITIES);
    assert_eq!(p.capabilities.effective, DEFAULT_CAPABILITIES);
    assert!(p.capabilities.no_new_privs);

    let p = plan_on(
        &spec_with("[privileges]\nallow = [\"raw_sockets\", \"mount\"]\n"),
        CgroupVersion::V2,
    );
    assert_eq!(
        p.capabilities.bounding,
        [
            "CAP_AUDIT_WRITE",
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_NET_RAW",
            "CAP_SETFCAP",
            "CAP_SETGID",
            "CAP_SETPCAP",
            "CAP_SETUID",
            "CAP_SYS_ADMIN",
            "CAP_SYS_CHROOT",
        ]
    );
    assert_eq!(p.capabilities.permitted, p.capabilities.bounding);
    assert!(p.capabilities.inheritable.is_empty());
    assert!(p.capabilities.ambient.is_empty());
}

#[test]
fn seccomp_default_mount_privilege_and_unconfined() {
    let denied = |p: &LinuxPlan, s: &str| p.seccomp.policy().unwrap().denied.iter().any(|d| d == s);
    let p = plan_on(&spec_with(""), CgroupVersion::V2);
    assert!(denied(&p, "keyctl"));
    assert!(denied(&p, "mount"));

    let p = plan_on(
        &spec_with("[privileges]\nallow = [\"mount\"]\n"),
        CgroupVersion::V2,
    );
    assert!(!denied(&p, "mount"));
    assert!(denied(&p, "keyctl"));

    let p = plan_on(
        &spec_with("[privileges]\nseccomp = \"unconfined\"\n"),
        CgroupVersion::V2,
    );
    assert_eq!(p.seccomp, SeccompPlan::Unconfined);
}

#[test]
fn json_has_stable_field_names_and_round_trips() {
    let s = spec_with(&format!(
        "{LIMITS}[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n[privileges]\nallow = [\"mount\"]\n"
    ));
    let p = plan_on(&s, CgroupVersion::V2);
    let value = serde_json::to_value(&p).unwrap();
    let text = serde_json::to_string(&value).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, value);
    assert_eq!(serde_json::to_value(&p).unwrap(), value, "deterministic");

    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&value),
        [
            "capabilities",
            "cgroup",
            "mounts",
            "name",
            "namespaces",
            "network",
            "process",
            "rlimits",
            "seccomp"
        ]
    );
    assert_eq!(value["name"], "x");
    assert_eq!(
        value["namespaces"],
        json!({"create": ["pid", "mount", "uts", "ipc", "net", "cgroup"]})
    );
    assert_eq!(
        keys(&value["cgroup"]),
        ["controllers", "devices", "path", "version", "writes"]
    );
    assert_eq!(value["cgroup"]["version"], "v2");
    assert_eq!(value["cgroup"]["path"], "stockade/x");
    assert_eq!(
        value["cgroup"]["writes"][3],
        json!({"controller": null, "file": "cpu.max", "value": "150000 100000", "required": true})
    );
    assert_eq!(
        value["cgroup"]["devices"]["rules"][8],
        json!({"allow": true, "type": "char", "major": 136, "minor": null, "access": "rwm"})
    );
    assert_eq!(value["mounts"]["rootfs"], "/srv/roots/x");
    assert_eq!(value["mounts"]["steps"][0], json!({"op": "make_private"}));
    assert_eq!(
        value["mounts"]["steps"][1],
        json!({"op": "mount", "source": "/srv/roots/x", "target": "/", "fstype": null,
               "flags": ["bind", "recursive"], "data": null, "optional": false})
    );
    let steps = value["mounts"]["steps"].as_array().unwrap();
    assert!(steps.contains(&json!({"op": "pivot_root", "new_root": "/srv/roots/x"})));
    assert!(steps.contains(&json!({"op": "detach_old_root"})));
    assert!(steps.contains(&json!({"op": "symlink", "path": "/dev/ptmx", "to": "pts/ptmx"})));
    assert_eq!(value["network"]["mode"], "private");
    assert_eq!(value["network"]["steps"][0]["op"], "create_veth");
    assert_eq!(value["network"]["steps"][0]["inside"], "eth0");
    assert_eq!(
        value["network"]["steps"][1],
        json!({"op": "add_address", "netns": "environment", "ifname": "eth0", "address": "10.77.0.2/24"})
    );
    assert_eq!(
        value["rlimits"],
        json!([{"resource": "RLIMIT_NOFILE", "soft": 1024, "hard": 1024}])
    );
    assert_eq!(
        keys(&value["capabilities"]),
        [
            "ambient",
            "bounding",
            "effective",
            "inheritable",
            "no_new_privs",
            "permitted"
        ]
    );
    assert_eq!(value["capabilities"]["no_new_privs"], true);
    assert_eq!(value["seccomp"]["mode"], "filter");
    assert_eq!(
        value["seccomp"]["default_action"],
        json!({"action": "allow"})
    );
    assert_eq!(
        value["seccomp"]["deny_action"],
        json!({"action": "errno", "errno": "EPERM"})
    );
    assert_eq!(value["seccomp"]["denied"].as_array().unwrap().len(), 46);
    assert_eq!(
        value["process"],
        json!({
            "hostname": "x",
            "user": {"id": {"uid": 0, "gid": 0}},
            "groups": [],
            "cwd": "/",
            "env": {"HOME": "/root", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            "home_from_passwd": false,
            "close_fds_from": 3,
            "init": false,
            "argv": ["/bin/sh"],
        })
    );
}

#[test]
fn display_lists_operations_by_section() {
    let p = plan_on(&spec_with(LIMITS), CgroupVersion::V2);
    let text = p.to_string();
    assert!(text.contains("\n== cgroup v2 stockade/x ==\n"), "{text}");
    assert!(
        text.contains("   2. write memory.max = 268435456\n"),
        "{text}"
    );
    assert!(
        text.contains("   5. write cpu.max = 150000 100000\n"),
        "{text}"
    );
    assert!(
        text.contains("\n== rlimits ==\n   1. setrlimit RLIMIT_NOFILE soft=1024 hard=1024\n"),
        "{text}"
    );
    assert!(
        text.contains("   2. mount /srv/roots/x on / (bind,rec)\n"),
        "{text}"
    );
}
