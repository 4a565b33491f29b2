//! config.json → Linux plan (`stockade_linux::oci::translate`): pure, so it runs on every
//! OS. The fixture `podman-busybox.json` is the config podman 4 wrote for
//! `podman run --rm busybox echo hi` on a cgroupfs host (its seccomp profile included).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stockade_core::backend::CgroupVersion;
use stockade_core::spec::User;
use stockade_linux::oci::translate::{translate, TranslateContext, TranslateError, Translated};
use stockade_linux::plan::mount::{MountFlag, MountStep};
use stockade_linux::plan::ns::Namespace;
use stockade_linux::plan::seccomp::SeccompPlan;
use stockade_linux::plan::seccomp_profile::{ArgOp, ProfileAction};

fn podman() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oci/podman-busybox.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn ctx(version: CgroupVersion) -> TranslateContext {
    TranslateContext {
        id: "c1".into(),
        bundle: PathBuf::from("/bundles/c1"),
        cgroup: version,
        systemd_cgroup: false,
    }
}

fn run(config: &Value, version: CgroupVersion) -> Result<Translated, TranslateError> {
    let spec: oci_spec::runtime::Spec = serde_json::from_value(config.clone()).unwrap();
    translate(&spec, &ctx(version))
}

fn refused(config: &Value) -> TranslateError {
    run(config, CgroupVersion::V2).expect_err("refused")
}

/// The smallest config stockade runs: a root, a process, a mount namespace.
fn minimal() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs" },
        "process": { "user": { "uid": 0, "gid": 0 }, "args": ["/bin/true"], "cwd": "/" },
        "linux": { "namespaces": [ { "type": "mount" } ] }
    })
}

#[test]
fn podman_config_translates_whole() {
    let t = run(&podman(), CgroupVersion::V2).unwrap();
    let p = &t.plan;
    assert!(!t.terminal);
    assert_eq!(p.name, "c1");
    assert_eq!(
        p.namespaces.create,
        [
            Namespace::Pid,
            Namespace::Ipc,
            Namespace::Uts,
            Namespace::Mount
        ]
    );
    assert_eq!(p.extra.join.len(), 1);
    assert_eq!(p.extra.join[0].namespace, Namespace::Net);
    assert!(p.extra.join[0].path.starts_with("/run/netns"));
    assert!(
        p.network.steps.is_empty(),
        "a joined netns is wired by podman"
    );
    assert_eq!(p.extra.umask, Some(0o22));
    assert_eq!(
        p.extra
            .sysctl
            .get("net.ipv4.ping_group_range")
            .map(String::as_str),
        Some("0 0")
    );
    assert_eq!(p.process.argv, ["echo", "hi"]);
    assert_eq!(p.process.user, User::Id { uid: 0, gid: 0 });
    assert_eq!(
        p.process.env.get("container").map(String::as_str),
        Some("podman")
    );
    assert_eq!(p.capabilities.bounding.len(), 11);
    assert!(p.capabilities.bounding.contains(&"CAP_CHOWN".to_string()));
    assert!(p.capabilities.ambient.is_empty());
    assert!(!p.capabilities.no_new_privs);
    let rl: Vec<(&str, u64, u64)> = p
        .rlimits
        .iter()
        .map(|r| (r.resource.as_str(), r.soft, r.hard))
        .collect();
    assert_eq!(
        rl,
        [("RLIMIT_NOFILE", 1024, 1024), ("RLIMIT_NPROC", 1024, 1024)]
    );
    assert!(p.cgroup.path.starts_with("libpod_parent"));
    assert!(p
        .cgroup
        .writes
        .iter()
        .any(|w| w.file == "pids.max" && w.value == "2048"));
    // podman's deny-all, then the default devices runc allows.
    assert!(!p.cgroup.devices.rules[0].allow);
    assert!(p.cgroup.devices.rules[1..].iter().all(|r| r.allow));
    assert!(p
        .cgroup
        .devices
        .rules
        .iter()
        .any(|r| r.major == Some(1) && r.minor == Some(3)));
}

#[test]
fn podman_mounts_in_order_then_devices_pivot_and_masks() {
    let t = run(&podman(), CgroupVersion::V2).unwrap();
    let steps = &t.plan.mounts.steps;
    assert_eq!(steps[0], MountStep::MakePrivate);
    assert_eq!(
        t.plan.mounts.rootfs,
        PathBuf::from(podman()["root"]["path"].as_str().unwrap())
    );
    let targets: Vec<String> = steps
        .iter()
        .filter_map(|s| s.as_mount())
        .map(|m| m.target.display().to_string())
        .collect();
    let pos = |t: &str| {
        targets
            .iter()
            .position(|x| x == t)
            .unwrap_or_else(|| panic!("{t}"))
    };
    assert!(pos("/proc") < pos("/dev") && pos("/dev") < pos("/dev/pts"));
    assert!(
        pos("/dev/pts") < pos("/dev/null"),
        "default devices after the config's /dev"
    );
    let dev = steps
        .iter()
        .filter_map(|s| s.as_mount())
        .find(|m| m.target == Path::new("/dev"))
        .unwrap();
    assert_eq!(dev.fstype.as_deref(), Some("tmpfs"));
    assert_eq!(dev.data.as_deref(), Some("mode=755,size=65536k"));
    assert!(dev.flags.contains(&MountFlag::Strictatime));
    assert!(dev.flags.contains(&MountFlag::Noexec));
    // /dev/shm is a bind with attributes: a bind, then a remount.
    let shm: Vec<_> = steps
        .iter()
        .filter_map(|s| s.as_mount())
        .filter(|m| m.target == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 2);
    assert!(shm[0].flags.contains(&MountFlag::Bind));
    assert!(shm[1].is_remount() && shm[1].flags.contains(&MountFlag::Nodev));
    // The cgroup mount: the host tree, read-only.
    let cg: Vec<_> = steps
        .iter()
        .filter_map(|s| s.as_mount())
        .filter(|m| m.target == Path::new("/sys/fs/cgroup"))
        .collect();
    assert_eq!(cg[0].source.as_deref(), Some(Path::new("/sys/fs/cgroup")));
    assert!(cg[1].flags.contains(&MountFlag::Readonly));
    let pivot = steps
        .iter()
        .position(|s| matches!(s, MountStep::PivotRoot { .. }))
        .unwrap();
    assert!(steps[pivot + 1..].iter().any(|s| *s
        == MountStep::Mask {
            path: "/proc/kcore".into()
        }));
    assert!(steps[pivot + 1..]
        .iter()
        .filter_map(|s| s.as_mount())
        .any(|m| {
            m.target == Path::new("/proc/sys")
                && m.is_remount()
                && m.flags.contains(&MountFlag::Readonly)
        }));
    assert!(steps.contains(&MountStep::Symlink {
        path: "/dev/ptmx".into(),
        to: "pts/ptmx".into()
    }));
}

#[test]
fn podman_seccomp_profile_is_kept_whole() {
    let t = run(&podman(), CgroupVersion::V2).unwrap();
    let SeccompPlan::Profile(p) = &t.plan.seccomp else {
        panic!("a profile")
    };
    assert_eq!(p.default_action, ProfileAction::Errno(38));
    assert_eq!(
        p.architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    assert_eq!(p.rules.len(), 22);
    assert_eq!(p.rules[0].action, ProfileAction::Errno(1));
    assert!(p.rules[1].names.iter().any(|n| n == "read"));
    let personality = &p.rules[2];
    assert_eq!(personality.args[0].op, ArgOp::Eq);
    assert_eq!(personality.args[0].value, 0);
    let ne = p
        .rules
        .iter()
        .flat_map(|r| &r.args)
        .any(|a| a.op == ArgOp::Ne);
    assert!(ne);
    // The stack: the default filter, then one per other action.
    assert!(p.filters().len() >= 2);
}

#[test]
fn runc_spec_template_translates() {
    let t = run(
        &serde_json::from_str(&stockade_linux::oci::template()).unwrap(),
        CgroupVersion::V1,
    )
    .unwrap();
    assert!(!t.terminal);
    assert_eq!(t.plan.mounts.rootfs, PathBuf::from("/bundles/c1/rootfs"));
    assert!(t.plan.namespaces.has(Namespace::Net));
    assert_eq!(t.plan.network.steps.len(), 1, "a new netns gets lo up");
    assert!(t.plan.capabilities.no_new_privs);
    assert_eq!(t.plan.seccomp, SeccompPlan::Unconfined);
    assert!(t.plan.cgroup.controllers.contains(&"freezer".to_string()));
    assert!(t.plan.mounts.steps.iter().any(|s| matches!(
        s.as_mount(),
        Some(m) if m.target == Path::new("/") && m.flags.contains(&MountFlag::Readonly)
    )));
    assert_eq!(t.plan.cgroup.path, PathBuf::from("stockade-oci/c1"));
}

#[test]
fn refusals_name_the_key() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}]}}),
            "linux.uidMappings",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}, {"type": "mount"}]}}),
            "linux.namespaces[0].path",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}, {"containerID": 5, "hostID": 300000, "size": 1}]}}),
            "linux.gidMappings[1]",
        ),
        (
            json!({"process": {"user": {"uid": 70000, "gid": 0}, "args": ["x"], "cwd": "/"},
                "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}}),
            "process.user.uid",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 0}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 1}]}}),
            "linux.uidMappings[0].size",
        ),
        (
            json!({"process": {"user": {"uid": 1000, "gid": 1000}, "args": ["x"], "cwd": "/"},
                "linux": {"namespaces": [{"type": "user"}, {"type": "mount"}],
                "uidMappings": [{"containerID": 1000, "hostID": 100000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}}),
            "linux.uidMappings",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "pid"}]}}),
            "linux.namespaces",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}]}}),
            "linux.namespaces[0].path",
        ),
        (json!({"hostname": "h"}), "hostname"),
        (
            json!({"hooks": {"createContainer": [{"path": "/bin/true"}]}}),
            "hooks.createContainer",
        ),
        (
            json!({"hooks": {"poststart": [{"path": "true"}]}}),
            "hooks.poststart[0].path",
        ),
        (
            json!({"mounts": [{"destination": "/x", "type": "tmpfs", "source": "tmpfs", "options": ["rshared"]}]}),
            "mounts[0].options[0]",
        ),
        (
            json!({"mounts": [{"destination": "x", "type": "tmpfs"}]}),
            "mounts[0].destination",
        ),
        (
            json!({"mounts": [{"destination": "/x", "type": "bind", "source": "/s", "options": ["bind", "noatime"]}]}),
            "mounts[0].options",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "mount"}], "resources": {"blockIO": {"weight": 10}}}}),
            "linux.resources.blockIO",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "mount"}], "seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}}),
            "linux.seccomp.defaultAction",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "mount"}], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}}),
            "linux.uidMappings",
        ),
        (
            json!({"process": {"user": {"uid": 0, "gid": 0}, "args": [], "cwd": "/"}}),
            "process.args",
        ),
        (
            json!({"process": {"user": {"uid": 0, "gid": 0}, "args": ["x"], "cwd": "/", "env": ["NOEQUALS"]}}),
            "process.env[0]",
        ),
        (
            json!({"process": {"user": {"uid": 0, "gid": 0}, "args": ["x"], "cwd": "/", "apparmorProfile": "p"}}),
            "process.apparmorProfile",
        ),
        (
            json!({"linux": {"namespaces": [{"type": "mount"}], "rootfsPropagation": "shared"}}),
            "linux.rootfsPropagation",
        ),
    ];
    for (patch, key) in cases {
        let mut config = minimal();
        merge(&mut config, &patch);
        let err = refused(&config);
        assert_eq!(err.key, key, "{patch}: {err}");
        assert!(
            err.to_string()
                .starts_with(&format!("config.json: {key}: ")),
            "{err}"
        );
    }
}

#[test]
fn resources_map_to_each_cgroup_version() {
    let mut config = minimal();
    merge(
        &mut config,
        &json!({"linux": {"resources": {
            "memory": {"limit": 268435456, "swap": 536870912},
            "pids": {"limit": 64},
            "cpu": {"quota": 150000, "period": 100000, "shares": 1024, "cpus": "0", "mems": "0"}
        }}}),
    );
    let writes = |v| {
        run(&config, v)
            .unwrap()
            .plan
            .cgroup
            .writes
            .iter()
            .filter(|w| !w.file.starts_with("devices."))
            .map(|w| format!("{}={}", w.file, w.value))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        writes(CgroupVersion::V2),
        [
            "memory.max=268435456",
            "memory.swap.max=268435456",
            "pids.max=64",
            "cpu.weight=39",
            "cpu.max=150000 100000",
            "cpuset.cpus=0",
            "cpuset.mems=0"
        ]
    );
    assert_eq!(
        writes(CgroupVersion::V1),
        [
            "memory.limit_in_bytes=268435456",
            "memory.memsw.limit_in_bytes=536870912",
            "pids.max=64",
            "cpu.shares=1024",
            "cpu.cfs_period_us=100000",
            "cpu.cfs_quota_us=150000",
            "cpuset.cpus=0",
            "cpuset.mems=0"
        ]
    );
}

#[test]
fn systemd_cgroups_path_is_slice_prefix_name() {
    let mut config = minimal();
    merge(
        &mut config,
        &json!({"linux": {"cgroupsPath": "machine.slice:libpod:abc"}}),
    );
    let spec: oci_spec::runtime::Spec = serde_json::from_value(config).unwrap();
    let mut c = ctx(CgroupVersion::V2);
    c.systemd_cgroup = true;
    let t = translate(&spec, &c).unwrap();
    assert_eq!(
        t.plan.cgroup.path,
        PathBuf::from("machine.slice/libpod-abc.scope")
    );
}

#[test]
fn hooks_are_planned_in_order() {
    let mut config = minimal();
    merge(
        &mut config,
        &json!({"hooks": {
            "prestart": [{"path": "/a"}],
            "createRuntime": [{"path": "/b", "args": ["b", "x"], "env": ["K=v"], "timeout": 3}],
            "poststart": [{"path": "/c"}],
            "poststop": [{"path": "/d"}]}}),
    );
    let t = run(&config, CgroupVersion::V2).unwrap();
    let paths: Vec<_> = t
        .plan
        .extra
        .create_hooks
        .iter()
        .map(|h| h.path.clone())
        .collect();
    assert_eq!(paths, [PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(t.plan.extra.create_hooks[1].args, ["b", "x"]);
    assert_eq!(t.plan.extra.create_hooks[1].timeout, Some(3));
    assert_eq!(t.poststart[0].path, PathBuf::from("/c"));
    assert_eq!(t.poststop[0].path, PathBuf::from("/d"));
}

#[test]
fn process_details_are_kept() {
    let mut config = minimal();
    merge(
        &mut config,
        &json!({"process": {"user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6], "umask": 63},
            "args": ["sh"], "cwd": "/home", "oomScoreAdj": 500, "noNewPrivileges": true}}),
    );
    let t = run(&config, CgroupVersion::V2).unwrap();
    assert_eq!(
        t.plan.process.user,
        User::Id {
            uid: 1000,
            gid: 100
        }
    );
    assert_eq!(t.plan.process.groups, [5, 6]);
    assert_eq!(t.plan.extra.umask, Some(0o77));
    assert_eq!(t.plan.extra.oom_score_adj, Some(500));
    assert!(t.plan.capabilities.no_new_privs);
    assert_eq!(t.plan.process.cwd, PathBuf::from("/home"));
    let shown = t.plan.to_string();
    assert!(shown.contains("== from config.json =="), "{shown}");
    assert!(shown.contains("oom_score_adj 500"), "{shown}");
}

/// Merges `patch` into `base` (objects recursively, anything else replaced).
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

#[test]
fn id_mappings_with_a_user_namespace_become_maps_root_writes() {
    use stockade_linux::plan::userns::{IdMap, MapWriter};
    let mut config = minimal();
    config["linux"] = json!({
        "namespaces": [{"type": "mount"}, {"type": "pid"}, {"type": "user"}],
        "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": 200000, "size": 65536}],
    });
    let t = run(&config, CgroupVersion::V2).unwrap();
    assert_eq!(
        t.plan.namespaces.create[0],
        Namespace::User,
        "owns the others"
    );
    let u = t.plan.userns.expect("a user namespace plan");
    assert_eq!(
        u.uid_map,
        [IdMap {
            inside: 0,
            outside: 100000,
            count: 65536
        }]
    );
    assert_eq!(
        u.gid_map,
        [IdMap {
            inside: 0,
            outside: 200000,
            count: 65536
        }]
    );
    assert_eq!(
        (u.uid_writer, u.gid_writer),
        (MapWriter::Root, MapWriter::Root)
    );
    assert!(
        !u.rootless(),
        "root's maps keep the cgroups and device policy"
    );
    assert!(!u.denies_setgroups());
}

#[test]
fn a_cpuset_without_memory_nodes_copies_the_parents() {
    let mut config = minimal();
    merge(
        &mut config,
        &json!({"linux": {"resources": {"cpu": {"cpus": "0"}}}}),
    );
    let copies = |v| {
        run(&config, v)
            .unwrap()
            .plan
            .cgroup
            .copies
            .iter()
            .map(|c| format!("{}<-{}", c.file, c.from))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        copies(CgroupVersion::V2),
        ["cpuset.mems<-cpuset.mems.effective"]
    );
    assert_eq!(
        copies(CgroupVersion::V1),
        ["cpuset.cpus<-cpuset.cpus", "cpuset.mems<-cpuset.mems"]
    );
}
