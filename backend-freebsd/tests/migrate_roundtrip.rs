//! spec → jail.conf (+ rctl.conf) → spec is the identity on the portable subset: name,
//! hostname, root.path (and root.readonly), network, limits, privileges, and the bind,
//! tmpfs, dev and proc mounts.

use std::path::Path;

use stockade_core::spec::{Limits, Mount, Network, Privileges, Root};
use stockade_core::Spec;
use stockade_freebsd::migrate::{export_jail_conf, import, ReportKind};

/// The portable subset of a spec.
#[derive(Debug, PartialEq)]
struct Portable {
    name: String,
    hostname: String,
    root: Root,
    mounts: Vec<Mount>,
    limits: Limits,
    network: Network,
    allow: Privileges,
}

fn portable(s: &Spec) -> Portable {
    Portable {
        name: s.name.clone(),
        hostname: s.hostname.clone(),
        root: s.root.clone(),
        mounts: s.mounts.clone(),
        limits: s.limits.clone(),
        network: s.network.clone(),
        allow: Privileges {
            allow: {
                let mut a = s.privileges.allow.clone();
                a.sort();
                a
            },
            // Not portable: FreeBSD has no syscall filter to say it with.
            seccomp: Default::default(),
        },
    }
}

fn round_trip(text: &str) -> (Spec, Spec, String) {
    let before = Spec::from_toml(text, Some(Path::new("/etc/stockade/env.toml")))
        .unwrap_or_else(|e| panic!("{e}"));
    let exported = export_jail_conf(&before).unwrap_or_else(|e| panic!("{e}"));
    let conf = exported.jail_conf.clone();
    let rctl = exported.rctl_conf.clone();
    let imported = import(
        &conf,
        Path::new("/etc/jail.conf"),
        None,
        Some((&rctl, Path::new("/etc/rctl.conf"))),
    )
    .unwrap_or_else(|e| panic!("{e}\n{conf}"));
    assert_eq!(imported.len(), 1, "{conf}");
    let after = Spec::from_toml(&imported[0].toml, None).unwrap();
    // The export's own choices come back as "implied", never as loss.
    for r in &imported[0].report {
        assert!(
            r.kind != ReportKind::NotCarried || r.param.starts_with("exec.p"),
            "unexpected loss: {r}\n{conf}"
        );
    }
    (
        before,
        after,
        format!("{conf}\n{rctl}\n{}", imported[0].toml),
    )
}

fn assert_identity(text: &str) {
    let (before, after, trace) = round_trip(text);
    assert_eq!(portable(&before), portable(&after), "{trace}");
}

#[test]
fn a_full_environment_comes_back_the_same() {
    assert_identity(
        r#"
name = "web"
hostname = "web.example.org"
[root]
path = "/srv/roots/web"
[process]
command = ["/usr/local/sbin/httpd", "-DFOREGROUND"]
[[mount]]
kind = "dev"
target = "/dev"
[[mount]]
kind = "proc"
target = "/proc"
[[mount]]
kind = "bind"
source = "/srv/site"
target = "/var/www"
readonly = true
[[mount]]
kind = "bind"
source = "/srv/data dir"
target = "/var/db/data"
[[mount]]
kind = "tmpfs"
target = "/tmp"
size = "64M"
[limits]
memory = "512M"
processes = 100
cpus = 1.5
open_files = 4096
[network]
mode = "private"
address = "10.77.0.2/24"
gateway = "10.77.0.1"
[privileges]
allow = ["raw_sockets", "net_bind_service", "chflags", "mlock"]
"#,
    );
}

#[test]
fn host_and_none_networks() {
    let base = "name = \"n\"\n[root]\npath = \"/j/n\"\n[process]\ncommand = [\"/bin/sh\"]\n[[mount]]\nkind = \"dev\"\ntarget = \"/dev\"\n";
    assert_identity(&format!("{base}[network]\nmode = \"host\"\n"));
    assert_identity(&format!("{base}[network]\nmode = \"none\"\n"));
    assert_identity(&format!(
        "{base}[network]\nmode = \"private\"\naddress = \"192.168.7.10/30\"\n"
    ));
}

#[test]
fn privileges_including_mount_and_set_hostname() {
    assert_identity(
        "name = \"p\"\n[root]\npath = \"/j/p\"\n[process]\ncommand = [\"/bin/sh\"]\n[[mount]]\nkind = \"dev\"\ntarget = \"/dev\"\n[privileges]\nallow = [\"mount\", \"set_hostname\"]\n",
    );
}

#[test]
fn privileges_every_jail_root_has_do_not_come_back() {
    // chown, sysvipc and ptrace set no jail parameter: FreeBSD gives them to every jail
    // root, so jail.conf cannot say them and the import cannot find them. The export
    // says so.
    let text = "name = \"p\"\n[root]\npath = \"/j/p\"\n[process]\ncommand = [\"/bin/sh\"]\n[privileges]\nallow = [\"sysvipc\", \"ptrace\", \"raw_sockets\"]\n";
    let (_, after, trace) = round_trip(text);
    assert_eq!(
        after.privileges.allow,
        [stockade_core::spec::Privilege::RawSockets],
        "{trace}"
    );
    assert!(
        trace.contains("# privileges.allow \"ptrace\": jail root may always debug"),
        "{trace}"
    );
}

#[test]
fn a_read_only_root() {
    assert_identity(
        "name = \"ro\"\n[root]\npath = \"/j/ro\"\nreadonly = true\n[process]\ncommand = [\"/bin/sh\"]\n[[mount]]\nkind = \"dev\"\ntarget = \"/dev\"\n[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\"\n",
    );
}

#[test]
fn a_spec_without_dev_gains_the_dev_every_jail_gets() {
    // Both planners mount a minimal /dev whether or not the spec asks, so the jail.conf
    // has mount.devfs and the import names it: the same environment, said explicitly.
    let (before, after, trace) =
        round_trip("name = \"d\"\n[root]\npath = \"/j/d\"\n[process]\ncommand = [\"/bin/sh\"]\n");
    assert!(before.mounts.is_empty());
    assert_eq!(after.mounts.len(), 1, "{trace}");
    assert_eq!(after.mounts[0].kind.name(), "dev");
    let mut b = portable(&before);
    b.mounts = after.mounts.clone();
    assert_eq!(b, portable(&after));
}

#[test]
fn commands_users_and_environment_survive() {
    let (before, after, trace) = round_trip(
        "name = \"c\"\n[root]\npath = \"/j/c\"\n[process]\ncommand = [\"/bin/sh\", \"-c\", \"exec httpd -f; echo done\"]\nuser = \"www\"\n",
    );
    assert_eq!(before.process.command, after.process.command, "{trace}");
    assert_eq!(before.process.user, after.process.user, "{trace}");
    let (_, after, trace) = round_trip(
        "name = \"c\"\n[root]\npath = \"/j/c\"\n[process]\ncommand = [\"/usr/bin/app\", \"--port\", \"80\"]\n",
    );
    assert_eq!(
        after.process.command,
        ["/usr/bin/app", "--port", "80"],
        "{trace}"
    );
}

#[test]
fn the_export_uses_the_planner_spellings() {
    let spec = Spec::from_toml(
        "name = \"web\"\n[root]\npath = \"/srv/web\"\n[process]\ncommand = [\"/bin/sh\"]\n[limits]\nmemory = \"256M\"\ncpus = 0.5\n[network]\nmode = \"private\"\naddress = \"10.77.0.2/30\"\n",
        None,
    )
    .unwrap();
    let e = export_jail_conf(&spec).unwrap();
    assert_eq!(
        e.rctl_conf,
        "jail:web:memoryuse:deny=268435456\njail:web:pcpu:deny=50\n"
    );
    for line in [
        "web {",
        "    path = /srv/web;",
        "    vnet = new;",
        "    allow.reserved_ports = false;",
        "    mount.devfs;",
        "    vnet.interface = skwebb;",
        "    exec.start = \"ifconfig lo0 inet 127.0.0.1/8 up\";",
        "    exec.start += \"ifconfig skwebb inet 10.77.0.2/30 up\";",
        "    exec.start += \"route add -inet default 10.77.0.1\";",
        "    exec.poststop = \"ifconfig skweba destroy\";",
    ] {
        assert!(
            e.jail_conf.contains(line),
            "missing {line:?} in\n{}",
            e.jail_conf
        );
    }
    assert!(e.text().contains("#   jail:web:pcpu:deny=50"));
    // What the export says about itself parses as jail.conf.
    stockade_freebsd::jailconf::Document::parse(&e.text(), Path::new("/etc/jail.conf"))
        .unwrap()
        .jail("web")
        .unwrap();
}

#[test]
fn a_host_view_root_is_built_by_hooks() {
    let spec = Spec::from_toml(
        "name = \"hv\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n",
        None,
    )
    .unwrap();
    let e = export_jail_conf(&spec).unwrap();
    assert!(
        e.jail_conf.contains("path = /var/run/stockade/hv/root;"),
        "{}",
        e.jail_conf
    );
    assert!(
        e.jail_conf.contains(
            "exec.prestart += \"mount -t nullfs -o ro /bin /var/run/stockade/hv/root/bin\";"
        ),
        "{}",
        e.jail_conf
    );
    assert!(
        e.jail_conf.contains("exec.poststop = \"umount "),
        "{}",
        e.jail_conf
    );
}

#[test]
fn names_jails_cannot_take_are_refused() {
    let spec = Spec::from_toml(
        "name = \"web\"\n[root]\npath = \"/j\"\n[process]\ncommand = [\"/bin/sh\"]\n[privileges]\nallow = [\"sys_nice\"]\n",
        None,
    )
    .unwrap();
    let err = export_jail_conf(&spec).unwrap_err();
    assert!(err.to_string().contains("sys_nice"), "{err}");
}
