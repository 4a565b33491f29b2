//! The jail.conf corpus: files in the shapes admins really use, imported with their
//! rctl.conf and fstab files from a fixture host (`tests/jailconf/host` stands for `/`),
//! each result pinned in `tests/jailconf/expected/<case>/<jail>.{toml,report}`.
//!
//! After an intended change, regenerate the pinned files with
//! `STOCKADE_BLESS=1 cargo test -p stockade-freebsd --test jailconf_corpus` and review the
//! diff.

use std::path::{Path, PathBuf};

use stockade_core::spec::{MountKind, NetworkMode, Privilege, RootSource};
use stockade_core::Spec;
use stockade_freebsd::migrate::{import_with, ImportOptions, Imported, ReportKind};

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jailconf")
}

fn host() -> PathBuf {
    corpus().join("host")
}

/// Imports `conf` (a path on the fixture host) with an optional rctl.conf.
fn import(conf: &str, rctl: Option<&str>) -> Vec<Imported> {
    let text = std::fs::read_to_string(host().join(&conf[1..])).unwrap();
    let rctl_text = rctl.map(|r| std::fs::read_to_string(host().join(&r[1..])).unwrap());
    let options = ImportOptions {
        only_jail: None,
        rctl_conf: rctl
            .zip(rctl_text.as_deref())
            .map(|(path, text)| (text, Path::new(path))),
        host_root: host(),
    };
    import_with(&text, Path::new(conf), &options).unwrap_or_else(|e| panic!("{e}"))
}

/// Compares each jail's TOML and report with the pinned files (or writes them).
fn check_pinned(case: &str, imported: &[Imported]) {
    let dir = corpus().join("expected").join(case);
    let bless = std::env::var_os("STOCKADE_BLESS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for jail in imported {
        // Every import is a valid spec.
        Spec::from_toml(&jail.toml, None).unwrap_or_else(|e| panic!("{e}\n{}", jail.toml));
        let report: String = jail.report.iter().map(|r| format!("{r}\n")).collect();
        for (ext, got) in [("toml", &jail.toml), ("report", &report)] {
            let path = dir.join(format!("{}.{ext}", jail.name));
            if bless {
                std::fs::write(&path, got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run with STOCKADE_BLESS=1)", path.display()));
            assert_eq!(
                got,
                &want,
                "{} differs (run with STOCKADE_BLESS=1 to update)",
                path.display()
            );
        }
    }
}

fn spec(i: &Imported) -> Spec {
    Spec::from_toml(&i.toml, None).unwrap()
}

fn find<'a>(all: &'a [Imported], name: &str) -> &'a Imported {
    all.iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no jail {name}"))
}

fn has_note(i: &Imported, kind: ReportKind, param: &str) -> bool {
    i.report.iter().any(|r| r.kind == kind && r.param == param)
}

#[test]
fn hand_written_etc_jail_conf_with_hooks_variables_and_includes() {
    let all = import("/etc/jail.conf", Some("/etc/rctl.conf"));
    let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["www", "db", "legacy"]);

    let www = spec(find(&all, "www"));
    assert_eq!(www.hostname, "www.alpha.example.org");
    assert_eq!(
        www.root.source,
        RootSource::Path(PathBuf::from("/usr/jails/www"))
    );
    assert_eq!(
        www.process.command,
        ["/bin/sh", "-c", "/usr/local/sbin/nginx -g 'daemon off;'"]
    );
    assert_eq!(www.network.mode, NetworkMode::Host);
    assert_eq!(www.limits.memory, Some(1 << 30));
    assert_eq!(www.limits.cpus, Some(1.5));
    assert_eq!(
        www.privileges.allow,
        [Privilege::RawSockets, Privilege::NetBindService]
    );
    let kinds: Vec<(&str, &str)> = www
        .mounts
        .iter()
        .map(|m| (m.kind.name(), m.target.to_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        // jail(8)'s order: mount.fstab lines, then mount.devfs.
        [
            ("bind", "/usr/local/www"),
            ("tmpfs", "/tmp"),
            ("bind", "/var/cache"),
            ("dev", "/dev")
        ]
    );
    assert_eq!(
        www.mounts[1].kind,
        MountKind::Tmpfs {
            size: Some(256 << 20)
        }
    );
    assert!(www.mounts[0].readonly);
    let www_i = find(&all, "www");
    assert!(has_note(www_i, ReportKind::NotCarried, "exec.prestart"));
    assert!(
        has_note(www_i, ReportKind::NotCarried, "rctl"),
        "maxproc:log"
    );
    assert!(has_note(www_i, ReportKind::Approximate, "securelevel"));
    assert!(
        has_note(www_i, ReportKind::Approximate, "mount.fstab"),
        "nosuid"
    );

    let db = spec(find(&all, "db"));
    assert_eq!(db.process.user.to_string(), "postgres");
    assert_eq!(db.limits.memory, Some(4 << 30));
    assert_eq!(db.limits.open_files, Some(8192));
    assert_eq!(db.limits.processes, None, "per-process rule is not carried");
    assert!(db.privileges.allow.is_empty());
    assert!(db.mounts.iter().any(|m| m.kind == MountKind::Proc));

    let legacy = find(&all, "legacy");
    let l = spec(legacy);
    assert_eq!(l.network.mode, NetworkMode::Host);
    assert_eq!(
        l.privileges.allow,
        [
            Privilege::NetBindService,
            Privilege::Mount,
            Privilege::Chflags
        ]
    );
    assert_eq!(l.limits.processes, Some(64));
    assert_eq!(l.process.command[..2], ["/bin/sh".to_string(), "-c".into()]);
    assert!(has_note(legacy, ReportKind::Approximate, "allow.mount"));
    // The include's positions name the included file.
    assert!(
        legacy.toml.contains("/etc/jail.conf.d/legacy.conf:"),
        "{}",
        legacy.toml
    );
    check_pinned("etc-jail-conf", &all);
}

#[test]
fn bastille_style_per_jail_files() {
    let web = import("/usr/local/bastille/jails/web/jail.conf", None);
    let s = spec(&web[0]);
    assert_eq!(s.network.mode, NetworkMode::Host);
    let mounts: Vec<(String, String)> = s
        .mounts
        .iter()
        .map(|m| match &m.kind {
            MountKind::Bind { source } => {
                (source.display().to_string(), m.target.display().to_string())
            }
            k => (k.name().to_string(), m.target.display().to_string()),
        })
        .collect();
    assert_eq!(
        mounts,
        [
            (
                "/usr/local/bastille/releases/14.1-RELEASE".to_string(),
                "/.bastille".to_string()
            ),
            (
                "/usr/local/bastille/backups".to_string(),
                "/backups".to_string()
            ),
            ("dev".to_string(), "/dev".to_string()),
        ]
    );
    assert!(has_note(&web[0], ReportKind::NotCarried, "osrelease"));
    check_pinned("bastille-web", &web);

    // A vnet jail whose address lives in its own rc.conf, with an fstab that is missing.
    let gw = import("/usr/local/bastille/jails/gw/jail.conf", None);
    let s = spec(&gw[0]);
    assert_eq!(s.network.mode, NetworkMode::None);
    assert!(has_note(&gw[0], ReportKind::Review, "vnet"));
    assert!(has_note(&gw[0], ReportKind::NotCarried, "mount.fstab"));
    assert!(has_note(&gw[0], ReportKind::Approximate, "devfs_ruleset"));
    check_pinned("bastille-gw", &gw);
}

#[test]
fn iocage_style_generated_file() {
    let all = import("/iocage/jails/app/jail.conf", None);
    let app = &all[0];
    assert_eq!(app.name, "ioc-app");
    let s = spec(app);
    assert_eq!(s.hostname, "app");
    assert_eq!(s.network.mode, NetworkMode::Private);
    assert_eq!(s.network.address, "172.16.0.20/24".parse().ok());
    assert_eq!(s.network.gateway, "172.16.0.1".parse().ok());
    assert_eq!(s.process.command, ["/bin/sh", "/etc/rc"]);
    assert_eq!(
        s.privileges.allow,
        [
            Privilege::NetBindService,
            Privilege::Mount,
            Privilege::Mlock,
            Privilege::SetHostname
        ]
    );
    assert!(
        has_note(app, ReportKind::NotCarried, "mount.fstab"),
        "linprocfs"
    );
    assert!(
        has_note(app, ReportKind::NotCarried, "allow.mount.zfs")
            || has_note(app, ReportKind::Implied, "allow.mount.zfs")
    );
    check_pinned("iocage-app", &all);
}

#[test]
fn vnet_jails_with_epair_hooks() {
    let all = import("/etc/jail.vnet.conf", None);
    let web1 = spec(find(&all, "web1"));
    assert_eq!(web1.network.mode, NetworkMode::Private);
    assert_eq!(web1.network.address, "10.0.0.11/24".parse().ok());
    assert_eq!(web1.network.gateway, "10.0.0.1".parse().ok());
    assert_eq!(web1.process.command, ["/usr/local/bin/app", "--foreground"]);
    assert!(web1.privileges.allow.is_empty());
    let web2 = spec(find(&all, "web2"));
    assert_eq!(web2.network.address, "10.0.0.12/24".parse().ok());
    assert_eq!(
        web2.process.command,
        ["/usr/local/bin/app", "--foreground", "--port", "8080"]
    );
    assert!(has_note(
        find(&all, "web1"),
        ReportKind::NotCarried,
        "exec.prestart"
    ));
    check_pinned("vnet-epair", &all);
}

#[test]
fn only_one_jail() {
    let text = std::fs::read_to_string(host().join("etc/jail.conf")).unwrap();
    let options = ImportOptions {
        only_jail: Some("db"),
        host_root: host(),
        ..ImportOptions::default()
    };
    let all = import_with(&text, Path::new("/etc/jail.conf"), &options).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "db");
    let options = ImportOptions {
        only_jail: Some("nope"),
        host_root: host(),
        ..ImportOptions::default()
    };
    let e = import_with(&text, Path::new("/etc/jail.conf"), &options).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/jail.conf: no jail named \"nope\" (the file defines: www, db, legacy)"
    );
}

#[test]
fn malformed_files_fail_with_their_position() {
    let dir = corpus().join("malformed");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{}: first line must be '# expect: ...'", path.display()));
        let name = format!("/etc/{}", path.file_name().unwrap().to_str().unwrap());
        let options = ImportOptions {
            host_root: host(),
            ..ImportOptions::default()
        };
        let err = import_with(&text, Path::new(&name), &options)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err.to_string(), format!("{name}:{expect}"));
        assert!(err.position().is_some());
    }
}

#[test]
fn a_malformed_rctl_conf_fails_with_its_position() {
    let options = ImportOptions {
        rctl_conf: Some((
            "jail:web:memoryuse:deny=1G\njail:web:pcpu\n",
            Path::new("/etc/rctl.conf"),
        )),
        ..ImportOptions::default()
    };
    let err = import_with(
        "web { path = /j/web; }",
        Path::new("/etc/jail.conf"),
        &options,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/etc/rctl.conf:2:1: \"jail:web:pcpu\" is not an rctl rule"),
        "{err}"
    );
}
