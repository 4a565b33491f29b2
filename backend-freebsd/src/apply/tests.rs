//! The apply sequence over the recording fake: the exact operations of each example, the
//! exact undo after a failure at every step, delete, host checks, stop and stats.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stockade_core::backend::{CgroupVersion, HostInfo, PlanContext};
use stockade_core::state::Resource;
use stockade_core::Spec;

use super::fake::{Call, Fake};
use super::*;
use crate::kernel::{FileKind, JailSignal};
use crate::plan::layer::ZfsProbe;
use crate::plan::undo::UndoStep;

const ROOT: &str = "/var/run/stockade";

fn example(name: &str) -> FreebsdPlan {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.toml"));
    let spec = Spec::load(&path).expect("example parses");
    crate::plan::plan(
        &spec,
        &PlanContext::new(ROOT, &spec.name, CgroupVersion::V2),
    )
    .expect("example plans")
}

fn host() -> HostInfo {
    HostInfo {
        os: "freebsd".into(),
        racct: Some(true),
        vimage: Some(true),
        linux_abi: Some(true),
        ..HostInfo::default()
    }
}

const EXAMPLES: &[&str] = &["hello", "limits", "bind", "network"];

/// A copy-on-write spec named `name` with `root` as its `[root]` table, planned for a host
/// whose ZFS probe says `zfs`.
fn cow_plan(name: &str, root: &str, zfs: ZfsProbe) -> FreebsdPlan {
    let text = format!(
        "name = \"{name}\"\n[root]\n{root}\n[process]\ncommand = [\"/bin/sh\"]\n\
         [[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n"
    );
    let spec = Spec::from_toml(&text, Some(Path::new("/etc/stockade/x.toml"))).expect("spec");
    crate::plan::plan_with(
        &spec,
        &PlanContext::new(ROOT, &spec.name, CgroupVersion::V2),
        &crate::plan::FreebsdPlanOptions { zfs, abi: None },
    )
    .expect("plans")
}

/// A spec named `name` on `/jails/base` with `extra` tables, planned with defaults.
fn spec_plan(name: &str, extra: &str) -> FreebsdPlan {
    let text = format!(
        "name = \"{name}\"\n[root]\npath = \"/jails/base\"\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
    );
    let spec = Spec::from_toml(&text, Some(Path::new("/etc/stockade/x.toml"))).expect("spec");
    crate::plan::plan(
        &spec,
        &PlanContext::new(ROOT, &spec.name, CgroupVersion::V2),
    )
    .expect("plans")
}

/// Like [`spec_plan`] with `root_extra` keys in `[root]`.
fn spec_plan_root(name: &str, root_extra: &str, extra: &str) -> FreebsdPlan {
    let text = format!(
        "name = \"{name}\"\n[root]\npath = \"/jails/base\"\n{root_extra}[process]\ncommand = [\"/bin/sh\"]\n{extra}"
    );
    let spec = Spec::from_toml(&text, Some(Path::new("/etc/stockade/x.toml"))).expect("spec");
    crate::plan::plan(
        &spec,
        &PlanContext::new(ROOT, &spec.name, CgroupVersion::V2),
    )
    .expect("plans")
}

/// The examples, plus copy-on-write roots: a union with layers, a kept union on a host
/// view, a ZFS clone.
fn cases() -> Vec<(String, FreebsdPlan)> {
    let mut all: Vec<(String, FreebsdPlan)> = EXAMPLES
        .iter()
        .map(|n| (n.to_string(), example(n)))
        .collect();
    all.push((
        "union".into(),
        cow_plan(
            "union",
            "path = \"/jails/base\"\noverlay = true\nlayers = [\"/jails/web\"]",
            ZfsProbe::NotADataset,
        ),
    ));
    all.push((
        "hostunion".into(),
        cow_plan(
            "hostunion",
            "host = true\noverlay = true\nchanges = \"/keep/h\"",
            ZfsProbe::NotProbed,
        ),
    ));
    all.push((
        "linux".into(),
        spec_plan_root(
            "linux",
            "abi = \"linux\"\nlinux_osrelease = \"5.15.0\"\n",
            "",
        ),
    ));
    all.push(("natpub".into(), natpub_plan()));
    all.push((
        "pinned".into(),
        spec_plan("pinned", "[limits]\ncpuset = \"0-1,4\"\n"),
    ));
    all.push((
        "clone".into(),
        cow_plan(
            "clone",
            "path = \"/jails/base\"\noverlay = true",
            ZfsProbe::Dataset("zroot/jails/base".into()),
        ),
    ));
    all
}

/// A fake whose ZFS holds the dataset a clone plan starts from, and whose host has a
/// resolv.conf (which a `root.host` jail sees in its /etc).
fn fake_for(plan: &FreebsdPlan, fail_at: Option<usize>) -> Fake {
    let mut fake = Fake::new();
    fake.fail_at = fail_at;
    if let Some(r) = plan.resolver.as_ref().filter(|r| r.host_etc) {
        fake.root_files.insert(r.target.clone(), FileKind::Regular);
    }
    if let Some(crate::plan::layer::Cow::ZfsClone { dataset, .. }) = &plan.copy_on_write {
        fake.datasets.insert(dataset.clone());
    }
    fake
}

/// Creates `plan` on a fresh fake; returns the fake, the record and the outcome.
fn run_create(
    plan: &FreebsdPlan,
    mut fake: Fake,
) -> (Fake, Vec<Resource>, Result<Jid, ApplyError>) {
    let mut record = Vec::new();
    let result = create(plan, &host(), &mut fake, &mut record, BusyRetry::NONE);
    (fake, record, result)
}

fn lines(calls: &[Call]) -> Vec<String> {
    calls.iter().map(ToString::to_string).collect()
}

/// The undo calls of one successful create call (the jail is always jid 1 here).
fn inverse(call: &Call, jail_path: &Path) -> Vec<Call> {
    match call {
        Call::Mkdir(p, _) if p == jail_path => vec![Call::Rmdir(p.clone())],
        Call::Nmount {
            fspath,
            update: false,
            ..
        } => vec![Call::Unmount(fspath.clone(), false)],
        Call::RctlAdd(r) => vec![Call::RctlRemove(r.clone())],
        Call::JailCreate(n) => vec![
            Call::FindJail(n.clone()),
            Call::SignalJail(Jid(1), JailSignal::Kill),
            Call::JailRemove(Jid(1)),
        ],
        Call::EpairCreate(host, _) => vec![Call::IfDestroy(host.clone())],
        Call::ZfsSnapshot(s) => vec![Call::ZfsDestroy(s.clone())],
        Call::ZfsClone(_, c) => vec![Call::ZfsDestroy(c.clone())],
        Call::PfLoad(anchor, ..) => vec![Call::PfFlush(anchor.clone())],
        Call::CreateFileBelow(path) => vec![Call::RemoveFileBelow(path.clone())],
        _ => Vec::new(),
    }
}

/// The exact undo of these successful calls: their inverses, newest first.
fn expected_undo(done: &[Call], jail_path: &Path) -> Vec<Call> {
    done.iter()
        .rev()
        .flat_map(|c| inverse(c, jail_path))
        .collect()
}

#[test]
fn hello_creates_exactly_these_operations() {
    let (fake, record, result) = run_create(&example("hello"), fake_for(&example("hello"), None));
    assert_eq!(result.expect("create"), Jid(1));
    let r = "/var/run/stockade/hello/root";
    let want: Vec<String> = [
        format!("mkdir {r} 0755"),
        format!("nmount tmpfs {r}"),
        format!("mkdir {r}/bin 0755"),
        format!("mkdir {r}/sbin 0755"),
        format!("mkdir {r}/lib 0755"),
        format!("mkdir {r}/libexec 0755"),
        format!("mkdir {r}/usr 0755"),
        format!("mkdir {r}/etc 0755"),
        format!("mkdir {r}/dev 0755"),
        format!("nmount MNT_UPDATE tmpfs {r} ro"),
        format!("nmount nullfs {r}/bin ro"),
        format!("nmount nullfs {r}/sbin ro"),
        format!("nmount nullfs {r}/lib ro"),
        format!("nmount nullfs {r}/libexec ro"),
        format!("nmount nullfs {r}/usr ro"),
        format!("nmount nullfs {r}/etc ro"),
        format!("nmount devfs {r}/dev"),
        "jail_create hello".into(),
        "if_addr jail 1 lo0 127.0.0.1/8".into(),
        "if_up jail 1 lo0".into(),
    ]
    .into();
    assert_eq!(fake.lines(), want);
    let kinds: Vec<&str> = record
        .iter()
        .map(|r| match r {
            Resource::Dir { .. } => "dir",
            Resource::Mount { .. } => "mount",
            Resource::Jail { .. } => "jail",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["dir", "mount", "mount", "mount", "mount", "mount", "mount", "mount", "mount", "jail"]
    );
}

#[test]
fn a_linux_root_mounts_the_linux_file_systems_after_dev() {
    let plan = spec_plan_root("lx", "abi = \"linux\"\nlinux_osrelease = \"5.15.0\"\n", "");
    let (fake, record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let r = "/var/run/stockade/lx/root";
    let mounts: Vec<String> = fake
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("nmount") || l.starts_with("require_dir"))
        .collect();
    assert_eq!(
        mounts,
        [
            format!("nmount nullfs {r}"),
            format!("require_dir {r}/dev"),
            format!("nmount devfs {r}/dev"),
            format!("require_dir {r}/proc"),
            format!("nmount linprocfs {r}/proc"),
            format!("require_dir {r}/sys"),
            format!("nmount linsysfs {r}/sys"),
            format!("require_dir {r}/dev/fd"),
            format!("nmount fdescfs {r}/dev/fd"),
            format!("require_dir {r}/dev/shm"),
            format!("nmount tmpfs {r}/dev/shm"),
        ]
    );
    assert_eq!(
        plan.jail_param("linux.osrelease").map(ToString::to_string),
        Some("5.15.0".to_string())
    );
    let params = jail_params(&plan).unwrap();
    assert!(params.args.contains(&(
        "linux.osrelease".to_string(),
        crate::kernel::JailArg::Str("5.15.0".into())
    )));
    // Every mount is recorded for undo.
    let mounted = record
        .iter()
        .filter(|r| matches!(r, Resource::Mount { .. }))
        .count();
    assert_eq!(mounted, 6);
}

#[test]
fn a_linux_root_without_linux64_fails_before_any_operation() {
    let plan = spec_plan_root("lx", "abi = \"linux\"\n", "");
    let mut fake = Fake::new();
    let mut record = Vec::new();
    let host = HostInfo {
        linux_abi: Some(false),
        ..host()
    };
    let err = create(&plan, &host, &mut fake, &mut record, BusyRetry::NONE).unwrap_err();
    assert!(fake.calls.is_empty(), "{:?}", fake.lines());
    let text = err.to_string();
    assert!(
        text.contains("(root.abi = \"linux\")") && text.contains("run `kldload linux64`"),
        "{text}"
    );
}

#[test]
fn the_cpuset_is_set_on_the_new_jail() {
    let (fake, _, result) = run_create(
        &spec_plan("pinned", "[limits]\ncpuset = \"4,0-1\"\n"),
        Fake::new(),
    );
    result.expect("create");
    let got = fake.lines();
    let jail = got.iter().position(|l| l == "jail_create pinned").unwrap();
    assert_eq!(got[jail + 1], "jail_cpuset 1 0-1,4");
    // With visible and only a CPU share: CPUs 0..ceil(cpus).
    let plan = spec_plan("vis", "[limits]\ncpus = 1.5\nvisible = true\n");
    let (fake, _, result) = run_create(&plan, Fake::new());
    result.expect("create");
    assert!(fake.lines().contains(&"jail_cpuset 1 0-1".to_string()));
    let (fake, _, _) = run_create(&spec_plan("plain", "[limits]\ncpus = 1.5\n"), Fake::new());
    assert!(!fake.lines().iter().any(|l| l.starts_with("jail_cpuset")));
}

#[test]
fn limits_adds_its_rules_before_the_jail() {
    let (fake, _, result) = run_create(&example("limits"), Fake::new());
    result.expect("create");
    let got = fake.lines();
    let r = "/var/run/stockade/limits/root";
    assert_eq!(
        got[..2],
        [format!("mkdir {r} 0755"), format!("nmount tmpfs {r}")]
    );
    assert_eq!(
        got[16..],
        [
            "rctl_add jail:limits:memoryuse:deny=268435456",
            "rctl_add jail:limits:maxproc:deny=8",
            "rctl_add jail:limits:pcpu:deny=50",
            "rctl_add jail:limits:openfiles:deny=256",
            "jail_create limits",
            "if_addr jail 1 lo0 127.0.0.1/8",
            "if_up jail 1 lo0",
        ]
    );
    // A writable host root: no read-only remount.
    assert!(!got.iter().any(|l| l.contains("MNT_UPDATE")), "{got:#?}");
}

#[test]
fn bind_mounts_its_site_and_scratch_after_the_default_dev() {
    let (fake, _, result) = run_create(&example("bind"), Fake::new());
    result.expect("create");
    let r = "/var/run/stockade/bind/root";
    let got = fake.lines();
    assert_eq!(
        got[2..11],
        [
            format!("mkdir {r}/bin 0755"),
            format!("mkdir {r}/sbin 0755"),
            format!("mkdir {r}/lib 0755"),
            format!("mkdir {r}/libexec 0755"),
            format!("mkdir {r}/usr 0755"),
            format!("mkdir {r}/etc 0755"),
            format!("mkdir {r}/dev 0755"),
            format!("mkdir {r}/srv 0755"),
            format!("mkdir {r}/srv/site 0755"),
        ]
    );
    assert_eq!(
        got[11..],
        [
            format!("mkdir {r}/scratch 0755"),
            format!("nmount nullfs {r}/bin ro"),
            format!("nmount nullfs {r}/sbin ro"),
            format!("nmount nullfs {r}/lib ro"),
            format!("nmount nullfs {r}/libexec ro"),
            format!("nmount nullfs {r}/usr ro"),
            format!("nmount nullfs {r}/etc ro"),
            format!("nmount devfs {r}/dev"),
            format!("nmount nullfs {r}/srv/site ro"),
            format!("nmount tmpfs {r}/scratch"),
            "jail_create bind".to_string(),
            "if_addr jail 1 lo0 127.0.0.1/8".to_string(),
            "if_up jail 1 lo0".to_string(),
        ]
    );
}

#[test]
fn network_makes_the_epair_after_the_jail() {
    let (fake, record, result) = run_create(&example("network"), Fake::new());
    result.expect("create");
    let got = fake.lines();
    let jail_at = got
        .iter()
        .position(|l| l == "jail_create net")
        .expect("jail_create");
    assert_eq!(
        got[jail_at..],
        [
            "jail_create net",
            "epair_create skneta sknetb",
            "if_vnet sknetb 1",
            "if_addr host skneta 10.77.0.1/30",
            "if_up host skneta",
            "if_addr jail 1 lo0 127.0.0.1/8",
            "if_up jail 1 lo0",
            "if_addr jail 1 sknetb 10.77.0.2/30",
            "if_up jail 1 sknetb",
            "route_default jail 1 10.77.0.1",
            "sysctl_set net.inet.ip.forwarding=1",
            "default_route_iface",
            "pf_load stockade/net -D ext_if=vtnet0 \
             <<nat on $ext_if inet from 10.77.0.2 to any -> ($ext_if:0)",
        ]
    );
    assert_eq!(
        record[record.len() - 2..],
        [
            Resource::Interface {
                name: "skneta".into()
            },
            Resource::Firewall {
                owner: "stockade/net".into(),
                ports: vec![],
            }
        ]
    );
}

/// NAT and two published ports, one on every address, one on loopback.
fn natpub_plan() -> FreebsdPlan {
    spec_plan(
        "natpub",
        "[network]\nmode = \"private\"\naddress = \"10.78.0.2/30\"\n\
         publish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"]\n",
    )
}

#[test]
fn nat_and_published_ports_load_the_anchor_after_the_network_and_flush_it_first() {
    let plan = natpub_plan();
    let (mut fake, mut record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let got = fake.lines();
    let route = got
        .iter()
        .position(|l| l.starts_with("route_default jail"))
        .expect("route");
    assert_eq!(
        got[route + 1..],
        [
            "sysctl_set net.inet.ip.forwarding=1",
            "default_route_iface",
            "pf_load stockade/natpub -D ext_if=vtnet0 \
             <<nat on $ext_if inet from 10.78.0.2 to any -> ($ext_if:0); \
             rdr pass on $ext_if inet proto tcp from any to ($ext_if) port 8080 -> 10.78.0.2 port 80; \
             rdr pass inet proto udp from any to 127.0.0.1 port 5353 -> 10.78.0.2 port 53",
        ]
    );
    assert_eq!(
        record.last(),
        Some(&Resource::Firewall {
            owner: "stockade/natpub".into(),
            ports: vec!["tcp/8080".into(), "udp/5353".into()],
        })
    );
    assert_eq!(
        fake.anchors.get("stockade/natpub").map(Vec::len),
        Some(3),
        "{:?}",
        fake.anchors
    );
    let made = fake.calls.len();
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("delete");
    assert_eq!(fake.lines()[made], "pf_flush stockade/natpub");
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn published_ports_on_loopback_alone_need_no_ext_if_and_no_forwarding() {
    let plan = spec_plan(
        "lo",
        "[network]\nmode = \"private\"\naddress = \"10.79.0.2/30\"\nnat = false\n\
         publish = [\"127.0.0.1:8080:80\"]\n",
    );
    let (fake, _, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let got = fake.lines();
    assert_eq!(
        got.last().map(String::as_str),
        Some("pf_load stockade/lo <<rdr pass inet proto tcp from any to 127.0.0.1 port 8080 -> 10.79.0.2 port 80")
    );
    assert!(!got
        .iter()
        .any(|l| l.starts_with("sysctl_set") || l.starts_with("default_route")));
}

#[test]
fn a_failure_at_any_step_undoes_exactly_the_steps_before_it() {
    for (name, plan) in cases() {
        let (clean, _, result) = run_create(&plan, fake_for(&plan, None));
        result.expect("create without failures");
        let steps = clean.calls.len();
        assert!(steps > 5, "{name}: {steps} steps");
        for k in 0..steps {
            let (fake, record, result) = run_create(&plan, fake_for(&plan, Some(k)));
            let err = result.expect_err("the injected failure");
            assert!(
                matches!(err, ApplyError::Kernel(_)),
                "{name} step {k}: undo failed too: {err}"
            );
            assert_eq!(fake.calls[..=k], clean.calls[..=k], "{name} step {k}");
            let undo = &fake.calls[k + 1..];
            assert_eq!(
                lines(undo),
                lines(&expected_undo(&clean.calls[..k], &plan.jail_path)),
                "{name}: failure at step {k} ({})",
                clean.calls[k]
            );
            assert_eq!(fake.leftovers(), Vec::<String>::new(), "{name} step {k}");
            assert!(record.is_empty(), "{name} step {k}: {record:?}");
        }
    }
}

#[test]
fn delete_after_create_removes_everything_in_the_plans_undo_order() {
    for (name, plan) in cases() {
        let (mut fake, mut record, result) = run_create(&plan, fake_for(&plan, None));
        result.expect("create");
        let made = fake.calls.len();
        undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("delete");
        assert_eq!(fake.leftovers(), Vec::<String>::new(), "{name}");
        assert!(record.is_empty(), "{name}");
        let done = fake.calls[made..].to_vec();
        assert_eq!(
            lines(&done),
            lines(&expected_undo(&fake.calls[..made], &plan.jail_path)),
            "{name}"
        );
        // The planner's undo, which `stockade plan` prints, is what happened.
        let wrote = |target: &Path| {
            fake.calls[..made]
                .iter()
                .any(|c| *c == Call::CreateFileBelow(target.to_path_buf()))
        };
        let from_plan: Vec<Call> = plan
            .undo()
            .into_iter()
            .flat_map(|s| match s {
                UndoStep::ResolvConf { target } if wrote(&target) => {
                    vec![Call::RemoveFileBelow(target)]
                }
                UndoStep::ResolvConf { target } => vec![Call::Unmount(target, false)],
                UndoStep::PfFlush { anchor } => vec![Call::PfFlush(anchor)],
                UndoStep::DestroyInterface { iface } => vec![Call::IfDestroy(iface)],
                UndoStep::SignalAll { jail, .. } => vec![
                    Call::FindJail(jail),
                    Call::SignalJail(Jid(1), JailSignal::Kill),
                ],
                UndoStep::JailRemove { .. } => vec![Call::JailRemove(Jid(1))],
                UndoStep::RctlRemove { filter } => vec![Call::RctlRemove(filter)],
                UndoStep::Unmount { fspath } => vec![Call::Unmount(fspath, false)],
                UndoStep::ZfsDestroy { name } => vec![Call::ZfsDestroy(name)],
                UndoStep::RemoveDir { path } => vec![Call::Rmdir(path)],
            })
            .collect();
        assert_eq!(lines(&done), lines(&from_plan), "{name}");
    }
}

#[test]
fn racct_off_with_limits_fails_before_any_operation() {
    let plan = example("limits");
    let mut fake = Fake::new();
    fake.racct = false;
    let mut record = Vec::new();
    let off = HostInfo {
        racct: Some(false),
        ..host()
    };
    let err = create(&plan, &off, &mut fake, &mut record, BusyRetry::NONE).expect_err("racct off");
    assert!(
        matches!(err, ApplyError::Host(HostError::RacctOff)),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("set kern.racct.enable=1 in /boot/loader.conf and reboot"),
        "{err}"
    );
    assert!(fake.calls.is_empty(), "{:?}", fake.lines());
    assert!(record.is_empty());
    // Without limits the same host is fine.
    let (_, _, result) = run_create(&example("hello"), Fake::new());
    result.expect("no rules, no racct needed");
}

#[test]
fn no_vimage_fails_before_any_operation() {
    let mut fake = Fake::new();
    let mut record = Vec::new();
    let no_vnet = HostInfo {
        vimage: Some(false),
        ..host()
    };
    let err = create(
        &example("network"),
        &no_vnet,
        &mut fake,
        &mut record,
        BusyRetry::NONE,
    )
    .expect_err("no VIMAGE");
    assert!(
        matches!(
            err,
            ApplyError::Host(HostError::NoVimage { mode: "private" })
        ),
        "{err}"
    );
    assert!(fake.calls.is_empty());
}

#[test]
fn plain_delete_stops_at_an_object_already_gone_and_force_goes_on() {
    let plan = example("limits");
    let (mut fake, mut record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    // Someone removed a rule behind stockade's back.
    let rule = "jail:limits:pcpu:deny=50";
    fake.rctl_remove(rule).expect("remove");
    let err =
        undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect_err("strict delete");
    assert!(
        matches!(&err, ApplyError::Gone { what } if what == "rctl rule jail:limits:pcpu:deny=50"),
        "{err}"
    );
    assert!(err.to_string().contains("delete --force"), "{err}");
    // What was undone before left the record; the rest is still there.
    assert!(!record.iter().any(|r| matches!(r, Resource::Jail { .. })));
    assert!(record.contains(&Resource::RctlRule { rule: rule.into() }));
    undo(&mut fake, &mut record, UndoMode::Force, BusyRetry::NONE).expect("forced delete");
    assert!(record.is_empty());
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn forced_delete_undoes_a_create_that_crashed_after_recording() {
    // A creator killed between recording the jail and making it leaves this record.
    let plan = example("hello");
    let (mut fake, mut record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let jail_at = record
        .iter()
        .position(|r| matches!(r, Resource::Jail { .. }))
        .expect("jail recorded");
    let jid = fake.find_jail("hello").expect("find").expect("jail");
    fake.signal_jail(jid, JailSignal::Kill).expect("kill");
    fake.jail_remove(jid).expect("remove");
    record.truncate(jail_at + 1);
    let err = undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE)
        .expect_err("the jail is gone");
    assert!(matches!(err, ApplyError::Gone { .. }), "{err}");
    undo(&mut fake, &mut record, UndoMode::Force, BusyRetry::NONE).expect("forced");
    assert!(record.is_empty());
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn forced_undo_reports_every_error_and_keeps_what_it_could_not_remove() {
    let plan = example("hello");
    let (mut fake, mut record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let before = fake.calls.len();
    // Unmounting /dev fails: the file systems below... none; the root stays busy.
    fake.fail_at = Some(before + 3); // find, kill, remove, then the first unmount
    let err =
        undo(&mut fake, &mut record, UndoMode::Force, BusyRetry::NONE).expect_err("one failed");
    let ApplyError::Undo(errors) = &err else {
        panic!("{err}");
    };
    assert_eq!(errors.len(), 3, "{err}"); // /dev, then root (busy), then rmdir (busy)
    assert!(
        err.to_string()
            .contains("unmount /var/run/stockade/hello/root/dev"),
        "{err}"
    );
    // Force mode tries MNT_FORCE on what stays busy.
    assert!(
        fake.lines()
            .contains(&"unmount -f /var/run/stockade/hello/root".to_string()),
        "{:#?}",
        fake.lines()
    );
    assert_eq!(
        record,
        [
            Resource::Dir {
                path: PathBuf::from("/var/run/stockade/hello/root")
            },
            Resource::Mount {
                path: PathBuf::from("/var/run/stockade/hello/root")
            },
            Resource::Mount {
                path: PathBuf::from("/var/run/stockade/hello/root/dev")
            },
        ]
    );
    fake.fail_at = None;
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("retry");
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn a_jail_name_in_use_fails_and_undoes_the_mounts() {
    let plan = example("hello");
    let (mut fake, _, result) = run_create(&plan, Fake::new());
    result.expect("first");
    let before = fake.calls.len();
    let mut record = Vec::new();
    // Same name, another root: the mounts succeed, jail_set refuses the name.
    let mut other = plan.clone();
    let moved = |p: &Path| PathBuf::from("/elsewhere").join(p.strip_prefix("/").unwrap_or(p));
    other.jail_path = moved(&other.jail_path);
    for step in &mut other.mounts {
        match step {
            MountStep::Mkdir { path, .. } | MountStep::RequireDir { path } => *path = moved(path),
            MountStep::Mount(m) | MountStep::Remount(m) => m.fspath = moved(&m.fspath),
            MountStep::EnsureDir { path, .. } => *path = moved(path),
            MountStep::ZfsSnapshot { .. } | MountStep::ZfsClone { .. } => {}
        }
    }
    for p in &mut other.jail {
        if p.name == "path" {
            p.value = crate::plan::jail::JailValue::Str(other.jail_path.display().to_string());
        }
    }
    let err =
        create(&other, &host(), &mut fake, &mut record, BusyRetry::NONE).expect_err("name taken");
    assert!(
        err.to_string().contains("jail \"hello\" already exists"),
        "{err}"
    );
    assert!(record.is_empty());
    let after: Vec<String> = fake.lines()[before..].to_vec();
    assert_eq!(
        after.last().map(String::as_str),
        Some("rmdir /elsewhere/var/run/stockade/hello/root")
    );
}

#[test]
fn stop_terms_then_kills_what_is_left() {
    let plan = example("hello");
    let (mut fake, _, result) = run_create(&plan, Fake::new());
    let jid = result.expect("create");
    let timing = StopTiming {
        grace: Duration::from_millis(100),
        kill_wait: Duration::from_millis(100),
        poll: Duration::from_millis(50),
    };
    let slept = std::cell::Cell::new(Duration::ZERO);
    let mut sleep = |d: Duration| slept.set(slept.get() + d);

    fake.procs.insert(jid, 3);
    let start = fake.calls.len();
    assert_eq!(
        stop(&mut fake, "hello", timing, &mut sleep).expect("stop"),
        StopOutcome::Exited
    );
    assert_eq!(
        fake.lines()[start..],
        [
            "find_jail hello",
            "signal_jail 1 SIGTERM",
            "signal_jail 1 0"
        ]
    );

    fake.procs.insert(jid, 2);
    fake.ignore_term = true;
    let start = fake.calls.len();
    assert_eq!(
        stop(&mut fake, "hello", timing, &mut sleep).expect("stop"),
        StopOutcome::Killed
    );
    assert_eq!(
        fake.lines()[start..],
        [
            "find_jail hello",
            "signal_jail 1 SIGTERM",
            "signal_jail 1 0",
            "signal_jail 1 0",
            "signal_jail 1 0",
            "signal_jail 1 SIGKILL",
            "signal_jail 1 0",
        ]
    );
    assert_eq!(slept.get(), Duration::from_millis(100));

    assert_eq!(
        stop(&mut fake, "nope", timing, &mut sleep).expect("stop"),
        StopOutcome::NoJail
    );
}

#[test]
fn stats_come_from_racct_usage() {
    let mut fake = Fake::new();
    fake.usage = [
        ("memoryuse", 12_345_678),
        ("maxproc", 3),
        ("pcpu", 42),
        ("openfiles", 17),
        ("wallclock", 9),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let s = stats(&mut fake, "web").expect("stats");
    assert_eq!(s.memory_bytes, Some(12_345_678));
    assert_eq!(s.processes, Some(3));
    assert_eq!(s.cpu_percent, Some(42));
    assert_eq!(s.open_files, Some(17));
    assert_eq!(s.usage.get("wallclock"), Some(&9));
    assert_eq!(fake.lines(), ["racct_usage web"]);
    fake.racct = false;
    assert!(stats(&mut fake, "web").is_err());
}

#[test]
fn the_state_entry_is_the_record_saved_at_every_step() {
    use stockade_core::state::{State, StateStore};
    let tmp = tempfile::tempdir().expect("tmp");
    let store = StateStore::new(tmp.path());
    let plan = example("network");
    let mut entry = store
        .create(State::new("net".into(), None, serde_json::Value::Null))
        .expect("entry");
    let mut fake = Fake::new();
    create(&plan, &host(), &mut fake, &mut entry, BusyRetry::NONE).expect("create");
    let saved = store.peek("net").expect("peek").resources;
    assert_eq!(saved, entry.state.resources);
    assert_eq!(
        saved.first(),
        Some(&Resource::Dir {
            path: plan.jail_path.clone()
        })
    );
    assert_eq!(
        saved.last(),
        Some(&Resource::Firewall {
            owner: "stockade/net".into(),
            ports: vec![],
        })
    );
    undo(&mut fake, &mut entry, UndoMode::Strict, BusyRetry::NONE).expect("delete");
    assert!(store.peek("net").expect("peek").resources.is_empty());
    entry.remove().expect("remove");
    assert_eq!(fake.leftovers(), Vec::<String>::new());

    // A failed create leaves an empty, saved record.
    let mut entry = store
        .create(State::new("net".into(), None, serde_json::Value::Null))
        .expect("entry");
    let mut fake = Fake::failing_at(25);
    create(&plan, &host(), &mut fake, &mut entry, BusyRetry::NONE).expect_err("fails");
    assert!(store.peek("net").expect("peek").resources.is_empty());
}

#[test]
fn a_union_root_mounts_its_layers_below_the_writable_folder() {
    let plan = cow_plan(
        "union",
        "path = \"/jails/base\"\noverlay = true\nlayers = [\"/jails/web\"]",
        ZfsProbe::NotADataset,
    );
    let (fake, record, result) = run_create(&plan, fake_for(&plan, None));
    result.expect("create");
    let r = "/var/run/stockade/union/root";
    assert_eq!(
        fake.lines()[..8],
        [
            format!("mkdir {r} 0755"),
            "ensure_dir /var/run/stockade/union/layer/upper 0755".to_string(),
            format!("nmount nullfs {r}"),
            format!("nmount unionfs {r}"),
            format!("nmount unionfs {r}"),
            format!("require_dir {r}/dev"),
            format!("nmount devfs {r}/dev"),
            format!("require_dir {r}/tmp"),
        ]
    );
    // The writable folder is not recorded: it goes with the state folder.
    assert!(!record
        .iter()
        .any(|r| matches!(r, Resource::Dir { path } if path.ends_with("upper"))));
    assert!(fake
        .kept_dirs
        .contains(Path::new("/var/run/stockade/union/layer/upper")));
    let text = plan.to_string();
    assert!(
        text.contains(
            "copy-on-write root: unionfs below a nullfs of the writable layer \
             /var/run/stockade/union/layer/upper (removed on delete), because root.layers \
             stacks folders, which a clone of one dataset cannot\n"
        ),
        "{text}"
    );
    assert!(text.contains(
        "nmount fstype=unionfs fspath=/var/run/stockade/union/root target=/jails/web below  (root.layers[1])"
    ), "{text}");
    assert!(text.contains(
        "nmount fstype=unionfs fspath=/var/run/stockade/union/root target=/jails/base below  (root.path)"
    ), "{text}");
}

#[test]
fn a_zfs_base_is_cloned_and_the_clone_destroyed_on_delete() {
    let plan = cow_plan(
        "clone",
        "path = \"/jails/base\"\noverlay = true",
        ZfsProbe::Dataset("zroot/jails/base".into()),
    );
    let (mut fake, mut record, result) = run_create(&plan, fake_for(&plan, None));
    result.expect("create");
    let r = "/var/run/stockade/clone/root";
    assert_eq!(
        fake.lines()[..4],
        [
            format!("mkdir {r} 0755"),
            "zfs_snapshot zroot/jails/base@stockade-clone".to_string(),
            "zfs_clone zroot/jails/base@stockade-clone zroot/jails/stockade-clone".to_string(),
            format!("nmount zfs {r}"),
        ]
    );
    assert_eq!(
        record[..3],
        [
            Resource::Dir { path: r.into() },
            Resource::Dataset {
                name: "zroot/jails/base@stockade-clone".into()
            },
            Resource::Dataset {
                name: "zroot/jails/stockade-clone".into()
            },
        ]
    );
    let made = fake.calls.len();
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("delete");
    let done = lines(&fake.calls[made..]);
    assert_eq!(
        done[done.len() - 4..],
        [
            format!("unmount {r}"),
            "zfs_destroy zroot/jails/stockade-clone".to_string(),
            "zfs_destroy zroot/jails/base@stockade-clone".to_string(),
            format!("rmdir {r}"),
        ]
    );
    assert_eq!(fake.leftovers(), Vec::<String>::new());
    assert!(
        fake.datasets.contains("zroot/jails/base"),
        "the base went too"
    );
    assert!(plan.to_string().contains(
        "copy-on-write root: ZFS clone zroot/jails/stockade-clone of snapshot \
         zroot/jails/base@stockade-clone (both destroyed on delete), because root.path \
         /jails/base is the mount point of ZFS dataset zroot/jails/base"
    ));
}

#[test]
fn a_host_view_union_gives_each_host_folder_its_writable_folder() {
    let plan = cow_plan(
        "hostunion",
        "host = true\noverlay = true\nchanges = \"/keep/h\"",
        ZfsProbe::NotProbed,
    );
    let (fake, _, result) = run_create(&plan, fake_for(&plan, None));
    result.expect("create");
    let got = fake.lines();
    let r = "/var/run/stockade/hostunion/root";
    assert_eq!(got[1], "ensure_dir /keep/h/upper 0755");
    assert_eq!(got[2], "ensure_dir /keep/h/upper/bin 0755");
    let usr = got
        .iter()
        .position(|l| *l == format!("nmount nullfs {r}/usr"))
        .expect("usr nullfs");
    assert_eq!(got[usr + 1], format!("nmount unionfs {r}/usr"));
    let text = plan.to_string();
    assert!(
        text.contains(&format!(
            "nmount fstype=nullfs fspath={r}/usr target=/keep/h/upper/usr  (root.host)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "nmount fstype=unionfs fspath={r}/usr target=/usr below  (root.host)"
        )),
        "{text}"
    );
}

/// The calls between the last mount of the root and the jail: the resolver's.
fn resolver_calls(fake: &Fake, name: &str) -> Vec<String> {
    let got = fake.lines();
    let first = got
        .iter()
        .position(|l| l.starts_with("host_file") || l.starts_with("write_file"))
        .expect("the resolver's calls");
    let jail = got
        .iter()
        .position(|l| *l == format!("jail_create {name}"))
        .expect("jail");
    got[first..jail].to_vec()
}

#[test]
fn a_host_roots_resolver_is_a_file_mounted_over_the_shared_etc() {
    let plan = example("network");
    let mut fake = fake_for(&plan, None);
    // local_unbound: the host's file names its loopback stub, the upstreams are elsewhere.
    fake.host_files.insert(
        "/etc/resolv.conf".into(),
        "search lan\nnameserver 127.0.0.1\n".into(),
    );
    fake.host_files.insert(
        "/var/unbound/forward.conf".into(),
        "forward-zone:\n  name: .\n  forward-addr: 192.0.2.53\n".into(),
    );
    let (mut fake, mut record, result) = run_create(&plan, fake);
    result.expect("create");
    let r = "/var/run/stockade/net";
    assert_eq!(
        resolver_calls(&fake, "net"),
        [
            "host_file /etc/resolv.conf".to_string(),
            "host_file /var/unbound/forward.conf".to_string(),
            format!(
                "write_file {r}/resolv.conf <<# written by stockade (network.dns, \
                 network.search); nameserver 192.0.2.53; "
            ),
            format!("file_below {r}/root/etc/resolv.conf"),
            format!("nmount nullfs {r}/root/etc/resolv.conf"),
        ]
    );
    assert!(record.contains(&Resource::Mount {
        path: format!("{r}/root/etc/resolv.conf").into()
    }));
    assert!(
        fake.written.is_empty(),
        "nothing written into the host's /etc"
    );
    let made = fake.calls.len();
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("delete");
    let done = lines(&fake.calls[made..]);
    let at = |l: &str| done.iter().position(|d| d == l).expect(l);
    assert!(
        at(&format!("unmount {r}/root/etc/resolv.conf")) < at(&format!("unmount {r}/root/etc")),
        "{done:#?}"
    );
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn a_folder_root_without_resolv_conf_gets_one_written_and_removed_on_delete() {
    let plan = spec_plan(
        "dns",
        "[network]\nmode = \"private\"\naddress = \"10.80.0.2/30\"\nnat = false\n\
         dns = [\"10.80.0.1\"]\nsearch = [\"corp.example\"]\n",
    );
    let (mut fake, mut record, result) = run_create(&plan, Fake::new());
    result.expect("create");
    let target = PathBuf::from("/var/run/stockade/dns/root/etc/resolv.conf");
    assert_eq!(
        resolver_calls(&fake, "dns")[1..],
        [
            format!("file_below {}", target.display()),
            format!("create_file_below {}", target.display()),
        ]
    );
    assert_eq!(
        fake.written.get(&target).map(String::as_str),
        Some(
            "# written by stockade (network.dns, network.search)\n\
             nameserver 10.80.0.1\nsearch corp.example\n"
        )
    );
    assert!(record.contains(&Resource::File {
        path: target.clone(),
        root: plan.jail_path.clone(),
    }));
    // Given servers: the host's files are not read.
    assert!(!fake.lines().iter().any(|l| l.starts_with("host_")));
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("delete");
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn a_folder_root_with_resolv_conf_keeps_its_file_under_the_mount() {
    let plan = spec_plan(
        "dns",
        "[network]\nmode = \"private\"\naddress = \"10.80.0.2/30\"\n",
    );
    let mut fake = Fake::new();
    let target = PathBuf::from("/var/run/stockade/dns/root/etc/resolv.conf");
    fake.root_files.insert(target.clone(), FileKind::Regular);
    let (fake, _, result) = run_create(&plan, fake);
    result.expect("create");
    assert!(fake.written.is_empty());
    assert!(fake
        .lines()
        .contains(&format!("nmount nullfs {}", target.display())));
}

#[test]
fn without_nat_only_the_hosts_own_servers_are_kept() {
    let plan = spec_plan(
        "nonat",
        "[network]\nmode = \"private\"\naddress = \"10.81.0.2/30\"\nnat = false\n",
    );
    let mut fake = Fake::new();
    fake.host_files.insert(
        "/etc/resolv.conf".into(),
        "nameserver 198.51.100.1\nnameserver 10.81.0.1\n".into(),
    );
    fake.host_addrs = vec!["10.81.0.1".parse().unwrap()];
    let (fake, _, result) = run_create(&plan, fake);
    result.expect("create");
    assert!(fake.lines().contains(&"host_addresses".to_string()));
    assert_eq!(
        fake.written
            .get(Path::new("/var/run/stockade/nonat/root/etc/resolv.conf"))
            .map(String::as_str),
        Some("# written by stockade (network.dns, network.search)\nnameserver 10.81.0.1\n")
    );
}

#[test]
fn a_resolver_with_no_place_is_skipped_by_default_and_an_error_when_asked_for() {
    let target = PathBuf::from("/var/run/stockade/dns/root/etc/resolv.conf");
    let private = "[network]\nmode = \"private\"\naddress = \"10.80.0.2/30\"\n";
    // A symbolic link in the owner's root is never followed.
    let linked = |fake: &mut Fake| {
        fake.root_files
            .insert(target.clone(), FileKind::Other("a symbolic link"));
    };
    let read_only = |fake: &mut Fake| fake.readonly_roots = true;
    for (why, setup) in [
        ("a symbolic link", &linked as &dyn Fn(&mut Fake)),
        ("missing on a read-only root", &read_only),
    ] {
        let mut fake = Fake::new();
        setup(&mut fake);
        let (fake, record, result) = run_create(&spec_plan("dns", private), fake);
        result.expect("the default resolver is skipped");
        assert!(fake.written.is_empty(), "{why}");
        assert!(
            !record
                .iter()
                .any(|r| matches!(r, Resource::Mount { path } if *path == target)),
            "{why}"
        );

        let mut fake = Fake::new();
        setup(&mut fake);
        let asked = format!("{private}dns = [\"1.1.1.1\"]\n");
        let (fake, record, result) = run_create(&spec_plan("dns", &asked), fake);
        let err = result.expect_err("asked for");
        assert!(
            matches!(&err, ApplyError::Resolver { what, .. } if what == why),
            "{err}"
        );
        assert!(err.to_string().contains("make it a regular file"), "{err}");
        assert!(!fake.lines().iter().any(|l| l.starts_with("jail_create")));
        assert!(record.is_empty());
        assert_eq!(fake.leftovers(), Vec::<String>::new(), "{why}");
    }
}

#[test]
fn a_published_port_a_host_process_holds_fails_before_anything_is_made() {
    let plan = natpub_plan();
    let mut fake = Fake::new();
    fake.taken_ports
        .insert((stockade_core::spec::Protocol::Udp, 5353));
    let (fake, record, result) = run_create(&plan, fake);
    let err = result.expect_err("port taken");
    assert!(
        matches!(
            err,
            ApplyError::PortInUse {
                port: 5353,
                protocol: "udp",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "network.publish \"127.0.0.1:5353:53/udp\": host port 5353/udp is in use by a \
         process on the host (sockstat -l shows it); choose another host port or stop that \
         process"
    );
    // Only the probes ran: no folder, mount, jail, interface or anchor.
    assert_eq!(
        fake.lines(),
        [
            "port_in_use tcp/0.0.0.0:8080",
            "port_in_use udp/127.0.0.1:5353"
        ]
    );
    assert!(record.is_empty());
    assert_eq!(fake.leftovers(), Vec::<String>::new());
}

#[test]
fn ipv6_nat_turns_on_ip6_forwarding_and_keeps_router_advertisements() {
    let v6 =
        "[network]\nmode = \"private\"\naddress = \"fd00:82::2/64\"\ngateway = \"fd00:82::1\"\n";
    let (fake, _, result) = run_create(&spec_plan("six", v6), Fake::new());
    result.expect("create");
    let got = fake.lines();
    let route = got
        .iter()
        .position(|l| l.starts_with("route_default jail"))
        .expect("route");
    assert_eq!(
        got[route + 1..route + 5],
        [
            "sysctl_get net.inet6.ip6.forwarding",
            "sysctl_set net.inet6.ip6.rfc6204w3=1",
            "sysctl_set net.inet6.ip6.forwarding=1",
            "default_route_iface inet6",
        ]
    );
    // A host that already forwards IPv6 is left as its administrator set it.
    let mut fake = Fake::new();
    fake.sysctls.insert("net.inet6.ip6.forwarding".into(), 1);
    let (fake, _, result) = run_create(&spec_plan("six", v6), fake);
    result.expect("create");
    assert!(!fake.lines().iter().any(|l| l.contains("rfc6204w3")));
}

#[test]
fn a_port_another_environment_publishes_is_refused() {
    let plan = natpub_plan();
    let other = |name: &str, port: &str| {
        (
            name.to_string(),
            vec![Resource::Firewall {
                owner: format!("stockade/{name}"),
                ports: vec![port.to_string()],
            }],
        )
    };
    let err = check_published_elsewhere(&plan, &[other("a", "tcp/9090"), other("b", "tcp/8080")])
        .expect_err("taken");
    assert!(
        matches!(&err, ApplyError::PortTaken { port, by } if port == "tcp/8080" && by == "b"),
        "{err}"
    );
    // Another protocol, or the environment's own stale record, is no conflict.
    check_published_elsewhere(
        &plan,
        &[other("c", "udp/8080"), other("natpub", "tcp/8080")],
    )
    .expect("free");
}
