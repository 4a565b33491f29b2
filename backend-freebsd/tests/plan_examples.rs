//! Whole FreeBSD plans for concrete specs, pinned value by value.

use std::path::Path;

use stockade_core::backend::{Backend, CgroupVersion, PlanContext};
use stockade_core::portability::{privilege_mapping, Support};
use stockade_core::spec::Privilege;
use stockade_core::Spec;
use stockade_freebsd::plan::exec::ExecStep;
use stockade_freebsd::plan::jail::{JailPlanError, JailValue};
use stockade_freebsd::plan::mount::{FsType, IovValue, MountOrigin, MountStep, Nmount};
use stockade_freebsd::plan::undo::UndoStep;
use stockade_freebsd::{FreebsdBackend, FreebsdPlan, PlanError};

fn spec(text: &str) -> Spec {
    Spec::from_toml(text, Some(Path::new("/etc/stockade/web.toml"))).expect("valid spec")
}

fn ctx() -> PlanContext {
    PlanContext::new("/var/run/stockade", "web", CgroupVersion::V2)
}

fn plan(text: &str) -> FreebsdPlan {
    FreebsdBackend.plan(&spec(text), &ctx()).expect("plan")
}

fn plan_err(text: &str) -> PlanError {
    stockade_freebsd::plan(&spec(text), &ctx()).expect_err("no plan")
}

fn mounts(p: &FreebsdPlan) -> Vec<&Nmount> {
    p.mounts
        .iter()
        .filter_map(|s| match s {
            MountStep::Mount(m) => Some(m),
            _ => None,
        })
        .collect()
}

fn iov(m: &Nmount) -> Vec<String> {
    m.iov.iter().map(|p| p.to_string()).collect()
}

const HOST_NONE: &str = r#"
name = "web"
[root]
host = true
[process]
command = ["/bin/sh", "-c", "exec httpd -f"]
"#;

#[test]
fn host_view_root_with_network_none_has_exactly_these_jail_params() {
    let p = plan(HOST_NONE);
    let params: Vec<(&str, JailValue)> = p.jail.iter().map(|j| (j.name, j.value.clone())).collect();
    let s = |v: &str| JailValue::Str(v.to_string());
    assert_eq!(
        params,
        [
            ("name", s("web")),
            ("path", s("/var/run/stockade/web/root")),
            ("host.hostname", s("web")),
            ("persist", JailValue::Bool(true)),
            ("enforce_statfs", JailValue::Int(2)),
            ("securelevel", JailValue::Int(2)),
            ("children.max", JailValue::Int(0)),
            ("sysvmsg", s("new")),
            ("sysvsem", s("new")),
            ("sysvshm", s("new")),
            ("devfs_ruleset", JailValue::Int(4)),
            ("vnet", s("new")),
            ("allow.reserved_ports", JailValue::Bool(false)),
            ("allow.set_hostname", JailValue::Bool(false)),
        ]
    );
    assert_eq!(p.jail_path, Path::new("/var/run/stockade/web/root"));
    assert!(p.requires_vimage());
    assert!(!p.requires_racct());
    assert!(p.rctl.is_empty());
    let net: Vec<String> = p.network.iter().map(|s| s.to_string()).collect();
    assert_eq!(net, ["jail: lo0 inet 127.0.0.1/8", "jail: lo0 up"]);
}

#[test]
fn host_view_root_mounts_the_host_folders_read_only_on_a_tmpfs() {
    let p = plan(HOST_NONE);
    let m = mounts(&p);
    let summary: Vec<(FsType, String, MountOrigin, bool)> = m
        .iter()
        .map(|m| {
            (
                m.fstype,
                m.fspath.display().to_string(),
                m.origin,
                m.is_readonly(),
            )
        })
        .collect();
    let j = "/var/run/stockade/web/root";
    assert_eq!(
        summary,
        [
            (FsType::Tmpfs, j.to_string(), MountOrigin::Root, false),
            (
                FsType::Nullfs,
                format!("{j}/bin"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Nullfs,
                format!("{j}/sbin"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Nullfs,
                format!("{j}/lib"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Nullfs,
                format!("{j}/libexec"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Nullfs,
                format!("{j}/usr"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Nullfs,
                format!("{j}/etc"),
                MountOrigin::HostView,
                true
            ),
            (
                FsType::Devfs,
                format!("{j}/dev"),
                MountOrigin::DefaultDev,
                false
            ),
        ]
    );
    assert_eq!(
        iov(m[1]),
        [
            "fstype=nullfs",
            "fspath=/var/run/stockade/web/root/bin",
            "target=/bin",
            "ro"
        ]
    );
    // The mount points are created in our tmpfs, before anything is mounted on them.
    let mkdirs: Vec<String> = p
        .mounts
        .iter()
        .filter_map(|s| match s {
            MountStep::Mkdir { path, mode } => Some(format!("{} {mode:o}", path.display())),
            _ => None,
        })
        .collect();
    assert_eq!(
        mkdirs,
        [
            format!("{j} 755"),
            format!("{j}/bin 755"),
            format!("{j}/sbin 755"),
            format!("{j}/lib 755"),
            format!("{j}/libexec 755"),
            format!("{j}/usr 755"),
            format!("{j}/etc 755"),
            format!("{j}/dev 755"),
        ]
    );
}

#[test]
fn limits_become_exactly_these_rctl_rules() {
    let p = plan(&format!(
        "{HOST_NONE}[limits]\nmemory = \"256M\"\nprocesses = 64\ncpus = 1.5\nopen_files = 1024\n"
    ));
    let rules: Vec<String> = p.rctl.iter().map(|r| r.rule()).collect();
    assert_eq!(
        rules,
        [
            "jail:web:memoryuse:deny=268435456",
            "jail:web:maxproc:deny=64",
            "jail:web:pcpu:deny=150",
            "jail:web:openfiles:deny=1024",
        ]
    );
    assert!(p.requires_racct());
    // open_files is also the process's RLIMIT_NOFILE.
    assert!(p.exec.contains(&ExecStep::SetRlimit {
        resource: "RLIMIT_NOFILE",
        soft: 1024,
        hard: 1024
    }));
}

const PATH_ROOT_MOUNTS: &str = r#"
name = "web"
[root]
path = "/srv/roots/web"
[process]
command = ["/bin/sh"]
[[mount]]
kind = "bind"
source = "./site"
target = "/var/www"
readonly = true
[[mount]]
kind = "tmpfs"
target = "/tmp"
size = "64M"
[[mount]]
kind = "dev"
target = "/dev"
"#;

#[test]
fn spec_mounts_map_to_nullfs_tmpfs_and_devfs() {
    let p = plan(PATH_ROOT_MOUNTS);
    let m = mounts(&p);
    assert_eq!(
        m.len(),
        4,
        "root + three spec mounts, no default /dev: {m:?}"
    );
    assert_eq!(
        iov(m[0]),
        [
            "fstype=nullfs",
            "fspath=/var/run/stockade/web/root",
            "target=/srv/roots/web"
        ]
    );
    assert_eq!(
        iov(m[1]),
        [
            "fstype=nullfs",
            "fspath=/var/run/stockade/web/root/var/www",
            "target=/etc/stockade/site",
            "ro"
        ]
    );
    assert_eq!(m[1].option("ro"), Some(&IovValue::Flag));
    assert_eq!(
        iov(m[2]),
        [
            "fstype=tmpfs",
            "fspath=/var/run/stockade/web/root/tmp",
            "from=tmpfs",
            "size=67108864",
            "mode=1777"
        ]
    );
    assert_eq!(
        iov(m[3]),
        [
            "fstype=devfs",
            "fspath=/var/run/stockade/web/root/dev",
            "from=devfs",
            "ruleset=4"
        ]
    );
    assert_eq!(m[3].origin, MountOrigin::Spec(3));
}

#[test]
fn readonly_path_root_is_a_readonly_nullfs() {
    let p = plan(&PATH_ROOT_MOUNTS.replace(
        "path = \"/srv/roots/web\"",
        "path = \"/srv/roots/web\"\nreadonly = true",
    ));
    assert!(mounts(&p)[0].is_readonly());
}

#[test]
fn undo_unmounts_in_exactly_the_reverse_order() {
    for text in [HOST_NONE, PATH_ROOT_MOUNTS] {
        let p = plan(text);
        let mut mounted: Vec<&Path> = mounts(&p).iter().map(|m| m.fspath.as_path()).collect();
        mounted.reverse();
        assert_eq!(p.undo_mounts(), mounted);
        let undo = p.undo();
        let unmounts: Vec<&Path> = undo
            .iter()
            .filter_map(|s| match s {
                UndoStep::Unmount { fspath } => Some(fspath.as_path()),
                _ => None,
            })
            .collect();
        assert_eq!(unmounts, mounted);
    }
}

const PRIVATE: &str = r#"
name = "web"
[root]
path = "/srv/roots/web"
[process]
command = ["/bin/sh"]
[limits]
processes = 64
[network]
mode = "private"
address = "10.77.0.2/24"
gateway = "10.77.0.1"
"#;

#[test]
fn private_network_plans_an_epair() {
    let p = plan(PRIVATE);
    assert_eq!(
        p.jail_param("vnet"),
        Some(&JailValue::Str("new".to_string()))
    );
    let net: Vec<String> = p.network.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        net,
        [
            "host: create epair, rename its ends skweba (host) and skwebb (jail)",
            "host: move skwebb into jail web (vnet)",
            "host: skweba inet 10.77.0.1/24",
            "host: skweba up",
            "jail: lo0 inet 127.0.0.1/8",
            "jail: lo0 up",
            "jail: skwebb inet 10.77.0.2/24",
            "jail: skwebb up",
            "jail: route add -inet default 10.77.0.1",
        ]
    );
}

#[test]
fn a_private_network_places_the_jails_own_resolv_conf_after_the_mounts() {
    let p = plan(&PRIVATE.replace(
        "gateway = \"10.77.0.1\"",
        "gateway = \"10.77.0.1\"\ndns = [\"192.0.2.53\"]\nsearch = [\"lan\"]",
    ));
    let r = p
        .resolver
        .as_ref()
        .expect("a private network has a resolver");
    assert_eq!(
        r.to_string(),
        "write /var/run/stockade/web/resolv.conf (O_EXCL, 0644): 192.0.2.53; search lan\n\
         if /var/run/stockade/web/root/etc/resolv.conf is a regular file (no symbolic link \
         followed): nmount fstype=nullfs fspath=/var/run/stockade/web/root/etc/resolv.conf \
         target=/var/run/stockade/web/resolv.conf  (network.dns) (a file mount: FreeBSD 13.0 \
         and later)\n\
         if it does not exist: write it there (O_CREAT|O_EXCL, no symbolic link followed; \
         removed on delete)"
    );
    let text = p.to_string();
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(at("\nmounts:") < at("\nresolver (the jail's resolv.conf):"));
    assert!(at("\nresolver (the jail's resolv.conf):") < at("\nrctl (rctl_add_rule):"));
    // No private network, no resolver.
    assert!(plan(HOST_NONE).resolver.is_none());
}

#[test]
fn delete_is_the_exact_reverse() {
    let p = plan(PRIVATE);
    let undo: Vec<String> = p.undo().iter().map(|s| s.to_string()).collect();
    assert_eq!(
        undo,
        [
            "pfctl -a stockade/web -F all",
            "destroy skweba (and its epair peer)",
            "kill every process in jail web with SIGKILL",
            "jail_remove web",
            "rctl_remove_rule jail:web:maxproc:deny=64",
            "unmount /var/run/stockade/web/root/etc/resolv.conf, or remove \
             /var/run/stockade/web/root/etc/resolv.conf if stockade wrote it",
            "unmount /var/run/stockade/web/root/dev",
            "unmount /var/run/stockade/web/root",
            "rmdir /var/run/stockade/web/root",
        ]
    );
}

#[test]
fn raw_sockets_and_mount_set_their_allow_params_and_lower_enforce_statfs() {
    let p = plan(&format!(
        "{HOST_NONE}[privileges]\nallow = [\"raw_sockets\", \"mount\"]\n"
    ));
    let allow: Vec<String> = p
        .jail
        .iter()
        .filter(|j| j.name.starts_with("allow.") || j.name == "enforce_statfs")
        .map(|j| j.to_string())
        .collect();
    assert_eq!(
        allow,
        [
            "enforce_statfs=1",
            "allow.raw_sockets=true",
            "allow.reserved_ports=false",
            "allow.mount=true",
            "allow.mount.tmpfs=true",
            "allow.mount.nullfs=true",
            "allow.mount.procfs=true",
            "allow.mount.devfs=true",
            "allow.set_hostname=false",
        ]
    );
}

#[test]
fn mknod_is_refused_with_the_table_reason() {
    let err = plan_err(&format!("{HOST_NONE}[privileges]\nallow = [\"mknod\"]\n"));
    let Support::Unsupported(reason) = privilege_mapping(Privilege::Mknod).freebsd else {
        panic!("mknod is unsupported on FreeBSD in the core table");
    };
    assert_eq!(
        err,
        PlanError::Jail(JailPlanError::UnsupportedPrivilege {
            privilege: Privilege::Mknod,
            reason
        })
    );
    let text = err.to_string();
    assert!(text.contains("\"mknod\""), "{text}");
    assert!(text.contains(reason), "{text}");
}

#[test]
fn the_printed_plan_shows_jail_params_and_rctl_rules() {
    let p = plan(&format!(
        "{HOST_NONE}[limits]\nmemory = \"256M\"\ncpus = 1.5\n"
    ));
    let text = p.to_string();
    for line in [
        "FreeBSD plan for web (jail path /var/run/stockade/web/root)",
        "needs: a VIMAGE kernel (vnet jail), kern.racct.enable=1 (rctl)",
        "mounts:",
        "jail (jail_set, JAIL_CREATE):",
        "  name=web",
        "  path=/var/run/stockade/web/root",
        "  enforce_statfs=2",
        "  securelevel=2",
        "  vnet=new",
        "  allow.set_hostname=false",
        "rctl (rctl_add_rule):",
        "  jail:web:memoryuse:deny=268435456",
        "  jail:web:pcpu:deny=150",
        "network:",
        "exec (in a child):",
        "undo (delete):",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing line {line:?} in:\n{text}"
        );
    }
    // Sections come in execution order.
    let at = |h: &str| text.find(h).unwrap_or(usize::MAX);
    assert!(at("\nmounts:") < at("\nrctl ("));
    assert!(at("\nrctl (") < at("\njail ("));
    assert!(at("\njail (") < at("\nnetwork:"));
    assert!(at("\nnetwork:") < at("\nexec ("));
    assert!(at("\nexec (") < at("\nundo ("));
}

#[cfg(not(target_os = "freebsd"))]
#[test]
fn probe_elsewhere_says_it_is_not_freebsd() {
    let err = FreebsdBackend.probe().expect_err("not FreeBSD");
    assert!(err.to_string().contains("not running on FreeBSD"), "{err}");
}

#[test]
fn a_private_network_with_nat_and_a_published_port_plans_its_pf_anchor() {
    // The spec of the Linux root test (backend-linux/tests/nat.rs): NAT on, 18080 -> 80.
    let p = plan(
        "name = \"web\"\n[root]\npath = \"/jails/web\"\n[process]\ncommand = [\"/bin/sh\"]\n\
         [network]\nmode = \"private\"\naddress = \"10.213.104.2/30\"\npublish = [\"18080:80\"]\n",
    );
    let pf = p.pf.as_ref().expect("a pf anchor");
    assert_eq!(pf.anchor, "stockade/web");
    assert_eq!(
        pf.rules,
        [
            "nat on $ext_if inet from 10.213.104.2 to any -> ($ext_if:0)",
            "rdr pass on $ext_if inet proto tcp from any to ($ext_if) port 18080 -> 10.213.104.2 port 80",
        ]
    );
    let text = p.to_string();
    assert!(
        text.contains(
            "\npf (anchor stockade/web):\n  pfctl -a stockade/web -D ext_if=<the default route's interface> -f - <<\n      nat on $ext_if inet from 10.213.104.2 to any -> ($ext_if:0)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("  sysctl net.inet.ip.forwarding=1\n"),
        "{text}"
    );
    // A private network without NAT or ports has no anchor.
    let p = plan(
        "name = \"web\"\n[root]\npath = \"/jails/web\"\n[process]\ncommand = [\"/bin/sh\"]\n\
         [network]\nmode = \"private\"\naddress = \"10.213.104.2/30\"\nnat = false\n",
    );
    assert_eq!(p.pf, None);
}
