//! The file system: a prepared root, a view of the host, read-only roots, and the four
//! mount kinds (bind, tmpfs, proc, dev).

use serde_json::json;
use stockade_core::portability::{Feature, Target};

use crate::case::{
    attempt_error, key, probe, run, strings, Action, Case, Check, Env, Matcher, Script, Step,
};
use Matcher::{Eq, OneOf};

/// `/<label>/json/paths/<path>/<field>`.
fn path(label: &str, p: &str, field: &str, m: Matcher) -> Check {
    probe(label, &format!("/paths/{}/{field}", key(p)), m)
}

/// `/<label>/json/attempts/write/<path>/ok`.
fn wrote(label: &str, p: &str, ok: bool) -> Check {
    probe(
        label,
        &format!("/attempts/write/{}/ok", key(p)),
        Eq(json!(ok)),
    )
}

fn write_error(label: &str, p: &str, errors: &[&str]) -> Check {
    attempt_error(label, &format!("write/{}", key(p)), errors)
}

pub fn cases() -> Vec<Case> {
    vec![
        Case::new(
            "root.path",
            "root.path: the prepared folder is /, nothing else of the host is visible, writes land in the folder",
            Env::path(&[]),
            Script::Steps(vec![
                Step::new("run", Action::Run(vec![
                    "--read".into(), "/marker".into(),
                    "--path".into(), "/etc/passwd".into(),
                    "--path".into(), "{workdir}".into(),
                    "--write".into(), "/written-inside".into(),
                ])),
                Step::new("host", Action::HostProbe(vec!["--path".into(), "{root}/written-inside".into()])),
            ]),
        )
        .features(&[Feature::RootPath])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/marker")), Eq(json!("stockade-conformance root.path\n"))),
            path("run", "/etc/passwd", "exists", Eq(json!(true))),
            path("run", "{workdir}", "exists", Eq(json!(false))),
            wrote("run", "/written-inside", true),
            path("host", "{root}/written-inside", "exists", Eq(json!(true))),
        ]),
        Case::new(
            "root.path_readonly",
            "root.readonly on a prepared root: / refuses writes (EROFS), a tmpfs below it does not",
            Env::path(&[]).readonly().extra("[[mount]]\nkind = \"tmpfs\"\ntarget = \"/tmp\""),
            run(&["--path", "/", "--write", "/x", "--write", "/tmp/x"]),
        )
        .features(&[Feature::RootPath, Feature::ReadonlyRoot])
        .checks(vec![
            path("run", "/", "readonly", Eq(json!(true))),
            wrote("run", "/x", false),
            write_error("run", "/x", &["EROFS"]),
            wrote("run", "/tmp/x", true),
        ]),
        Case::new(
            "root.host",
            "root.host: the host's system folders, read-only, on a fresh writable tmpfs; nothing else of the host",
            Env::host(&[]),
            run(&[
                "--path", "/", "--path", "/usr", "--path", "/etc", "--path", "/root",
                "--path", "{workdir}", "--write", "/usr/stockade-x", "--write", "/new-file",
            ]),
        )
        .features(&[Feature::RootHost])
        .differs_via_oci(
            "the export's root.host root is the bundle's rootfs/ folder, not a fresh tmpfs \
             (runc refuses a mount at /)",
        )
        .checks(vec![
            path("run", "/", "fstype", Eq(json!("tmpfs"))),
            path("run", "/usr", "exists", Eq(json!(true))),
            path("run", "/usr", "readonly", Eq(json!(true))),
            path("run", "/etc", "readonly", Eq(json!(true))),
            path("run", "/root", "exists", Eq(json!(false))),
            path("run", "{workdir}", "exists", Eq(json!(false))),
            write_error("run", "/usr/stockade-x", &["EROFS"]),
            wrote("run", "/new-file", true),
        ]),
        // Linux masks the host's password hashes and SSH keys; FreeBSD's nullfs cannot
        // hide single files (the table's approximation), so nothing is checked there.
        Case::new(
            "root.host_hides_secrets",
            "root.host: the host's /etc/shadow reads empty (or not at all) and /etc/ssh is empty",
            Env::host(&[]),
            run(&["--read", "/etc/shadow", "--read", "/etc/gshadow", "--path", "/etc/ssh/ssh_host_ed25519_key", "--path", "/etc/ssh/ssh_config"]),
        )
        .features(&[Feature::RootHost])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/etc/shadow")), OneOf(vec![json!(""), json!(null)])).not_on(Target::Freebsd),
            probe("run", &format!("/files/{}/content", key("/etc/gshadow")), OneOf(vec![json!(""), json!(null)])).not_on(Target::Freebsd),
            path("run", "/etc/ssh/ssh_host_ed25519_key", "exists", Eq(json!(false))).not_on(Target::Freebsd),
            path("run", "/etc/ssh/ssh_config", "exists", Eq(json!(false))).not_on(Target::Freebsd),
        ]),
        Case::new(
            "root.host_readonly",
            "root.host with readonly: the tmpfs around the host's folders refuses writes too",
            Env::host(&[]).readonly(),
            run(&["--path", "/", "--write", "/new-file"]),
        )
        .features(&[Feature::RootHost, Feature::ReadonlyRoot])
        .checks(vec![
            path("run", "/", "readonly", Eq(json!(true))),
            write_error("run", "/new-file", &["EROFS"]),
        ]),
        Case::new(
            "root.overlay",
            "root.overlay: writes land in the environment's own layer; the base folder is untouched, and the layer goes with delete",
            Env::path(&[]).root_keys("overlay = true"),
            Script::Steps(vec![
                Step::new("run", Action::Run(strings(&[
                    "--read", "/marker", "--write", "/marker", "--write", "/new-file",
                ]))),
                Step::new("host", Action::HostProbe(strings(&[
                    "--read", "{root}/marker", "--path", "{root}/new-file",
                ]))),
                Step::new("again", Action::Run(strings(&["--read", "/marker", "--path", "/new-file"]))),
            ]),
        )
        .features(&[Feature::RootPath, Feature::OverlayRoot])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/marker")), Eq(json!("stockade-conformance root.overlay\n"))),
            wrote("run", "/marker", true),
            wrote("run", "/new-file", true),
            probe("host", &format!("/files/{}/content", key("{root}/marker")), Eq(json!("stockade-conformance root.overlay\n"))),
            path("host", "{root}/new-file", "exists", Eq(json!(false))),
            probe("again", &format!("/files/{}/content", key("/marker")), Eq(json!("stockade-conformance root.overlay\n"))),
            path("again", "/new-file", "exists", Eq(json!(false))),
        ]),
        Case::new(
            "root.image",
            "root.image: the prepared root imported as an image; the environment reads it, writes land in its own layer and go with delete",
            Env::image(&[]),
            Script::Steps(vec![
                Step::new("run", Action::Run(strings(&[
                    "--read", "/marker", "--write", "/marker", "--write", "/new-file",
                ]))),
                Step::new("again", Action::Run(strings(&["--read", "/marker", "--path", "/new-file"]))),
            ]),
        )
        .features(&[Feature::RootImage, Feature::OverlayRoot])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/marker")), Eq(json!("stockade-conformance root.image\n"))),
            wrote("run", "/marker", true),
            wrote("run", "/new-file", true),
            probe("again", &format!("/files/{}/content", key("/marker")), Eq(json!("stockade-conformance root.image\n"))),
            path("again", "/new-file", "exists", Eq(json!(false))),
        ]),
        Case::new(
            "root.overlay_host",
            "root.host with overlay: the host's folders become writable copies; the host's own stay untouched",
            Env::host(&[]).root_keys("overlay = true"),
            Script::Steps(vec![
                Step::new("run", Action::Run(strings(&["--write", "/usr/stockade-conformance-{name}"]))),
                Step::new("host", Action::HostProbe(strings(&["--path", "/usr/stockade-conformance-{name}"]))),
            ]),
        )
        .features(&[Feature::RootHost, Feature::OverlayRoot])
        // Should the copy-on-write fail and the write reach the host, take it back.
        .teardown(vec![Step::new("undo", Action::HostProbe(strings(&["--remove", "/usr/stockade-conformance-{name}"]))).any_exit()])
        .checks(vec![
            wrote("run", "/usr/stockade-conformance-{name}", true),
            path("host", "/usr/stockade-conformance-{name}", "exists", Eq(json!(false))),
        ]),
        Case::new(
            "root.layers",
            "root.layers: a layer's files show above the base's, and stay untouched when written",
            Env::path(&[]).root_keys("overlay = true\nlayers = [\"{layer}\"]"),
            Script::Steps(vec![
                Step::new("run", Action::Run(strings(&[
                    "--read", "/marker", "--read", "/layer.txt", "--path", "/etc/passwd",
                    "--write", "/layer.txt",
                ]))),
                Step::new("host", Action::HostProbe(strings(&["--read", "{layer}/layer.txt", "--read", "{root}/marker"]))),
            ]),
        )
        .features(&[Feature::RootPath, Feature::OverlayRoot, Feature::RootLayers])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/marker")), Eq(json!("from the layer\n"))),
            probe("run", &format!("/files/{}/content", key("/layer.txt")), Eq(json!("only in the layer\n"))),
            path("run", "/etc/passwd", "exists", Eq(json!(true))),
            wrote("run", "/layer.txt", true),
            probe("host", &format!("/files/{}/content", key("{layer}/layer.txt")), Eq(json!("only in the layer\n"))),
            probe("host", &format!("/files/{}/content", key("{root}/marker")), Eq(json!("stockade-conformance root.layers\n"))),
        ]),
        Case::new(
            "root.changes",
            "root.changes: the writable layer survives delete, and the next environment sees its files",
            Env::path(&[]).root_keys("overlay = true\nchanges = \"{changes}\""),
            Script::Steps(vec![
                Step::new("run", Action::Run(strings(&["--write", "/kept.txt"]))),
                Step::new("again", Action::Run(strings(&["--read", "/kept.txt"]))),
                Step::new("host", Action::HostProbe(strings(&["--path", "{root}/kept.txt"]))),
            ]),
        )
        .features(&[Feature::RootPath, Feature::OverlayRoot, Feature::KeptChanges])
        .checks(vec![
            wrote("run", "/kept.txt", true),
            probe("again", &format!("/files/{}/content", key("/kept.txt")), Eq(json!("written by stockade-probe\n"))),
            path("host", "{root}/kept.txt", "exists", Eq(json!(false))),
        ]),
        Case::new(
            "mount.bind",
            "bind mounts: a host folder shows inside; writes reach the host; a read-only bind refuses them",
            Env::host(&[]).extra(
                "[[mount]]\nkind = \"bind\"\nsource = \"{share}\"\ntarget = \"/data\"\n\n\
                 [[mount]]\nkind = \"bind\"\nsource = \"{share}\"\ntarget = \"/data-ro\"\nreadonly = true",
            ),
            Script::Steps(vec![
                Step::new("run", Action::Run(vec![
                    "--read".into(), "/data/hello.txt".into(),
                    "--write".into(), "/data/from-env".into(),
                    "--write".into(), "/data-ro/from-env-ro".into(),
                ])),
                Step::new("host", Action::HostProbe(vec![
                    "--path".into(), "{share}/from-env".into(),
                    "--path".into(), "{share}/from-env-ro".into(),
                ])),
            ]),
        )
        .features(&[Feature::BindMount])
        .checks(vec![
            probe("run", &format!("/files/{}/content", key("/data/hello.txt")), Eq(json!("shared by the host\n"))),
            wrote("run", "/data/from-env", true),
            write_error("run", "/data-ro/from-env-ro", &["EROFS"]),
            path("host", "{share}/from-env", "exists", Eq(json!(true))),
            path("host", "{share}/from-env-ro", "exists", Eq(json!(false))),
        ]),
        Case::new(
            "mount.tmpfs",
            "a tmpfs mount is a writable tmpfs of the given size",
            Env::host(&[]).extra("[[mount]]\nkind = \"tmpfs\"\ntarget = \"/scratch\"\nsize = \"4M\""),
            run(&["--path", "/scratch", "--write", "/scratch/a", "--fill", "/scratch/big", "8"]),
        )
        .features(&[Feature::TmpfsMount])
        .checks(vec![
            path("run", "/scratch", "fstype", Eq(json!("tmpfs"))),
            path("run", "/scratch", "writable", Eq(json!(true))),
            wrote("run", "/scratch/a", true),
            probe("run", "/attempts/fill/ok", Eq(json!(false))),
            attempt_error("run", "fill", &["ENOSPC"]),
        ]),
        // FreeBSD's procfs has per-process folders only (the table's approximation).
        Case::new(
            "mount.proc",
            "a proc mount shows the environment's own processes",
            Env::host(&[]).extra("[[mount]]\nkind = \"proc\"\ntarget = \"/proc\""),
            run(&["--path", "/proc", "--path", "/proc/meminfo"]),
        )
        .features(&[Feature::ProcMount])
        .checks(vec![
            path("run", "/proc", "fstype", Eq(json!("proc"))).on(Target::Freebsd, Eq(json!("procfs"))),
            path("run", "/proc/meminfo", "exists", Eq(json!(true))).on(Target::Freebsd, Eq(json!(false))),
            probe("run", "/processes", Eq(json!(1))),
        ]),
        // The jail devfs ruleset has a similar, not identical, set (no /dev/full).
        Case::new(
            "mount.dev",
            "a dev mount has the standard devices and none of the host's disks or memory",
            Env::host(&[]).extra("[[mount]]\nkind = \"dev\"\ntarget = \"/dev\""),
            run(&[
                "--path", "/dev/null", "--path", "/dev/zero", "--path", "/dev/random",
                "--path", "/dev/urandom", "--path", "/dev/full", "--path", "/dev/mem",
                "--path", "/dev/kmem", "--path", "/dev/vda", "--path", "/dev/sda",
                "--write", "/dev/null",
            ]),
        )
        .features(&[Feature::DevMount])
        .checks(vec![
            path("run", "/dev/null", "exists", Eq(json!(true))),
            path("run", "/dev/zero", "exists", Eq(json!(true))),
            path("run", "/dev/random", "exists", Eq(json!(true))),
            path("run", "/dev/urandom", "exists", Eq(json!(true))),
            path("run", "/dev/full", "exists", Eq(json!(true))).on(Target::Freebsd, OneOf(vec![json!(true), json!(false)])),
            path("run", "/dev/mem", "exists", Eq(json!(false))),
            path("run", "/dev/kmem", "exists", Eq(json!(false))),
            path("run", "/dev/vda", "exists", Eq(json!(false))),
            path("run", "/dev/sda", "exists", Eq(json!(false))),
            wrote("run", "/dev/null", true),
        ]),
    ]
}
