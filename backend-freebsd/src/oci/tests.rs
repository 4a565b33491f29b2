//! config.json → FreeBSD plan: a podman/ocijail config's exact plan and operations on the
//! recording fake, and a refusal naming the key for everything outside the subset.

use serde_json::{json, Value};
use stockade_core::backend::HostInfo;
use stockade_core::state::Resource;

use super::*;
use crate::apply::fake::Fake;
use crate::apply::{create, undo, BusyRetry, UndoMode};

fn ctx() -> TranslateContext {
    TranslateContext {
        id: "web".into(),
        bundle: "/var/db/containers/b".into(),
        state_dir: "/var/run/stockade/web".into(),
    }
}

/// What podman on FreeBSD writes for `podman run --network=... alpine sh` (trimmed of
/// what it varies per run), with ocijail's vnet annotation.
fn podman() -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": true,
            "user": {"uid": 1001, "gid": 1001, "additionalGids": [0, 5]},
            "args": ["sh", "-c", "echo hi"],
            "env": ["PATH=/usr/local/bin:/usr/bin:/bin", "TERM=xterm", "HOSTNAME=box"],
            "cwd": "/home/app"
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "box",
        "mounts": [
            {"destination": "/dev", "type": "devfs", "source": "devfs",
             "options": ["ruleset=4"]},
            {"destination": "/dev/fd", "type": "fdescfs", "source": "fdesc", "options": []},
            {"destination": "/proc", "type": "procfs", "source": "proc",
             "options": ["nosuid", "noexec"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["notmpcopyup", "mode=1777", "size=65536k", "nodev"]},
            {"destination": "/data", "type": "nullfs", "source": "/srv/data",
             "options": ["bind", "rprivate", "ro"]}
        ],
        "annotations": {"org.freebsd.jail.vnet": "new", "io.podman.annotations.autoremove": "TRUE"}
    })
}

fn translated(v: &Value) -> Result<FreebsdPlan, TranslateError> {
    translate_json(&v.to_string(), &ctx())
}

fn refused(v: &Value) -> TranslateError {
    translated(v).expect_err("refused")
}

#[test]
fn a_podman_config_plans_these_mounts_jail_and_exec() {
    let plan = translated(&podman()).expect("translates");
    let want = "\
FreeBSD plan for web (jail path /var/run/stockade/web/root)
needs: a VIMAGE kernel (vnet jail)

mounts:
   1. mkdir /var/run/stockade/web/root mode=0755
   2. nmount fstype=nullfs fspath=/var/run/stockade/web/root target=/var/db/containers/b/rootfs ro  (root)
   3. require folder /var/run/stockade/web/root/dev (must exist; not created, no symlinks followed)
   4. nmount fstype=devfs fspath=/var/run/stockade/web/root/dev from=devfs ruleset=4  (mount[1])
   5. require folder /var/run/stockade/web/root/dev/fd (must exist; not created, no symlinks followed)
   6. nmount fstype=fdescfs fspath=/var/run/stockade/web/root/dev/fd from=fdescfs  (mount[2])
   7. require folder /var/run/stockade/web/root/proc (must exist; not created, no symlinks followed)
   8. nmount fstype=procfs fspath=/var/run/stockade/web/root/proc from=procfs nosuid noexec  (mount[3])
   9. require folder /var/run/stockade/web/root/tmp (must exist; not created, no symlinks followed)
  10. nmount fstype=tmpfs fspath=/var/run/stockade/web/root/tmp from=tmpfs mode=1777 size=65536k  (mount[4])
  11. require folder /var/run/stockade/web/root/data (must exist; not created, no symlinks followed)
  12. nmount fstype=nullfs fspath=/var/run/stockade/web/root/data target=/srv/data ro  (mount[5])

rctl (rctl_add_rule):
  (none)

jail (jail_set, JAIL_CREATE):
  name=web
  path=/var/run/stockade/web/root
  host.hostname=box
  persist=true
  enforce_statfs=2
  securelevel=2
  children.max=0
  sysvmsg=new
  sysvsem=new
  sysvshm=new
  devfs_ruleset=4
  vnet=new
  allow.set_hostname=false
  allow.reserved_ports=false

network:
   1. jail: lo0 inet 127.0.0.1/8
   2. jail: lo0 up

exec (in a child):
   1. jail_attach web (jid by name)
   2. setgroups [1001, 0, 5]
   3. setgid 1001
   4. setuid 1001
   5. chdir /home/app
   6. open a pty from the jail's /dev/ptmx; setsid, TIOCSCTTY, dup2 onto 0/1/2; master to stockade
   7. closefrom 3
   8. execve [\"sh\", \"-c\", \"echo hi\"] env [HOSTNAME=\"box\", PATH=\"/usr/local/bin:/usr/bin:/bin\", TERM=\"xterm\"] (argv[0] looked up in PATH)

undo (delete):
   1. kill every process in jail web with SIGKILL
   2. jail_remove web
   3. unmount /var/run/stockade/web/root/data
   4. unmount /var/run/stockade/web/root/tmp
   5. unmount /var/run/stockade/web/root/proc
   6. unmount /var/run/stockade/web/root/dev/fd
   7. unmount /var/run/stockade/web/root/dev
   8. unmount /var/run/stockade/web/root
   9. rmdir /var/run/stockade/web/root
";
    assert_eq!(plan.to_string(), want);
    assert!(plan.rctl.is_empty() && plan.pf.is_none() && plan.linux.is_none());
}

#[test]
fn without_the_annotation_the_jail_shares_the_host_network() {
    let mut v = podman();
    v["annotations"] = json!({});
    let plan = translated(&v).expect("translates");
    assert_eq!(plan.jail_param("vnet"), None);
    assert_eq!(
        plan.jail_param("ip4"),
        Some(&JailValue::Str("inherit".into()))
    );
    assert!(plan.network.is_empty());
    assert!(!plan.requires_vimage());

    v["annotations"] = json!({"org.freebsd.jail.vnet": "inherit"});
    assert_eq!(translated(&v).expect("translates"), plan);
}

#[test]
fn the_fake_applies_the_translated_plan_in_order_and_undoes_it() {
    let plan = translated(&podman()).expect("translates");
    let host = HostInfo {
        os: "freebsd".into(),
        vimage: Some(true),
        ..HostInfo::default()
    };
    let mut fake = Fake::new();
    let mut record: Vec<Resource> = Vec::new();
    create(&plan, &host, &mut fake, &mut record, BusyRetry::NONE).expect("create");
    let r = "/var/run/stockade/web/root";
    let want: Vec<String> = vec![
        format!("mkdir {r} 0755"),
        format!("nmount nullfs {r} ro"),
        format!("require_dir {r}/dev"),
        format!("nmount devfs {r}/dev"),
        format!("require_dir {r}/dev/fd"),
        format!("nmount fdescfs {r}/dev/fd"),
        format!("require_dir {r}/proc"),
        format!("nmount procfs {r}/proc"),
        format!("require_dir {r}/tmp"),
        format!("nmount tmpfs {r}/tmp"),
        format!("require_dir {r}/data"),
        format!("nmount nullfs {r}/data ro"),
        "jail_create web".into(),
        "if_addr jail 1 lo0 127.0.0.1/8".into(),
        "if_up jail 1 lo0".into(),
    ];
    assert_eq!(fake.lines(), want);

    fake.calls.clear();
    undo(&mut fake, &mut record, UndoMode::Strict, BusyRetry::NONE).expect("undo");
    assert_eq!(fake.leftovers(), Vec::<String>::new());
    assert!(record.is_empty(), "{record:?}");
}

/// A change to the podman config.
type Edit = Box<dyn Fn(&mut Value)>;

#[test]
fn keys_outside_the_subset_are_refused_by_name() {
    let cases: Vec<(&str, Edit)> = vec![
        (
            "linux.namespaces",
            Box::new(|v| v["linux"] = json!({"namespaces": [{"type": "pid"}]})),
        ),
        (
            "freebsd",
            Box::new(|v| v["freebsd"] = json!({"devices": []})),
        ),
        ("domainname", Box::new(|v| v["domainname"] = json!("x"))),
        (
            "hooks.prestart",
            Box::new(|v| v["hooks"] = json!({"prestart": [{"path": "/bin/true"}]})),
        ),
        (
            "process.capabilities",
            Box::new(|v| v["process"]["capabilities"] = json!({"bounding": []})),
        ),
        (
            "process.rlimits",
            Box::new(|v| {
                v["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}])
            }),
        ),
        (
            "process.noNewPrivileges",
            Box::new(|v| v["process"]["noNewPrivileges"] = json!(true)),
        ),
        (
            "process.env[1]",
            Box::new(|v| v["process"]["env"] = json!(["A=1", "B"])),
        ),
        (
            "process.args",
            Box::new(|v| v["process"]["args"] = json!([])),
        ),
        (
            "mounts[0].type",
            Box::new(|v| v["mounts"][0]["type"] = json!("cgroup")),
        ),
        (
            "mounts[3].options[2]",
            Box::new(|v| v["mounts"][3]["options"][2] = json!("size=lots")),
        ),
        (
            "mounts[4].options[1]",
            Box::new(|v| v["mounts"][4]["options"][1] = json!("shared")),
        ),
        (
            "mounts[0].options[0]",
            Box::new(|v| v["mounts"][0]["options"][0] = json!("nodev")),
        ),
        (
            "mounts[4].source",
            Box::new(|v| v["mounts"][4]["source"] = json!("data")),
        ),
        (
            "mounts[1].destination",
            Box::new(|v| v["mounts"][1]["destination"] = json!("/dev/../../x")),
        ),
        (
            "annotations.\"org.freebsd.jail.vnet\"",
            Box::new(|v| v["annotations"]["org.freebsd.jail.vnet"] = json!("disable")),
        ),
        (
            "annotations.\"org.freebsd.jail.allow.mlock\"",
            Box::new(|v| v["annotations"]["org.freebsd.jail.allow.mlock"] = json!("true")),
        ),
    ];
    for (key, edit) in cases {
        let mut v = podman();
        edit(&mut v);
        let err = refused(&v);
        assert_eq!(err.key, key, "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("config.json: {key}: ")),
            "{err}"
        );
    }
}

#[test]
fn an_empty_linux_section_and_empty_hooks_are_accepted() {
    let mut v = podman();
    v["linux"] = json!({});
    v["hooks"] = json!({"prestart": []});
    assert_eq!(
        translated(&v).expect("translates"),
        translated(&podman()).expect("translates")
    );
}

#[test]
fn a_failure_at_any_step_of_a_translated_plan_leaves_nothing() {
    let plan = translated(&podman()).expect("translates");
    let host = HostInfo {
        os: "freebsd".into(),
        vimage: Some(true),
        ..HostInfo::default()
    };
    let steps = {
        let mut fake = Fake::new();
        let mut record: Vec<Resource> = Vec::new();
        create(&plan, &host, &mut fake, &mut record, BusyRetry::NONE).expect("create");
        fake.lines().len()
    };
    for i in 0..steps {
        let mut fake = Fake::failing_at(i);
        let mut record: Vec<Resource> = Vec::new();
        assert!(
            create(&plan, &host, &mut fake, &mut record, BusyRetry::NONE).is_err(),
            "step {i} fails the create"
        );
        assert_eq!(
            fake.leftovers(),
            Vec::<String>::new(),
            "after a failure at step {i}"
        );
    }
}

#[test]
fn the_template_is_accepted_and_runs_sh_without_a_terminal() {
    let plan = translate_json(&template(), &ctx()).expect("the template translates");
    assert!(!plan.exec.contains(&ExecStep::Terminal));
    assert!(plan.exec.iter().any(|s| matches!(
        s,
        ExecStep::Exec { argv, .. } if argv == &["sh".to_string()]
    )));
}

#[test]
fn the_runtime_rules_shared_with_linux() {
    use stockade_core::state::Status;
    assert_eq!(oci_status(Status::Created), "created");
    assert_eq!(oci_status(Status::Running), "running");
    assert_eq!(oci_status(Status::Stopped), "stopped");
    let sig = |name| crate::lifecycle::parse_signal(name).expect("a signal");
    assert!(jail_signal(sig("KILL")).is_some());
    assert!(jail_signal(sig("TERM")).is_some());
    assert!(
        jail_signal(sig("HUP")).is_none(),
        "no jail-wide HUP: refused, not sent to one"
    );
    assert!(check_console(true, true).is_ok());
    assert!(check_console(false, false).is_ok());
    assert!(check_console(true, false)
        .unwrap_err()
        .contains("--console-socket"));
    assert!(check_console(false, true)
        .unwrap_err()
        .contains("process.terminal"));
    let with_terminal = translated(&podman()).expect("translates");
    assert!(with_terminal.exec.contains(&ExecStep::Terminal));
}

#[test]
fn every_mount_option_the_features_list_is_accepted() {
    let features = features();
    for o in features["mountOptions"].as_array().expect("a list") {
        let o = o.as_str().expect("a name");
        let mount = if o == "bind" {
            json!({"destination": "/data", "type": "nullfs", "source": "/srv/data", "options": [o]})
        } else {
            json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": [o]})
        };
        let mut v = podman();
        v["mounts"] = json!([mount]);
        assert!(translated(&v).is_ok(), "{o}: {:?}", translated(&v).err());
    }
    assert_eq!(features["annotations"][VNET_ANNOTATION], "new|inherit");
}
