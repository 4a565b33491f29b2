//! `limits.cpuset`, `limits.visible` and `root.abi`: accepted forms and errors with their
//! line, column and key.

use std::path::Path;

use stockade_core::spec::{Abi, LinuxAbi, Spec};

const FILE: &str = "/etc/stockade/web.toml";

fn load(text: &str) -> Result<Spec, Vec<String>> {
    Spec::from_toml(text, Some(Path::new(FILE)))
        .map_err(|e| e.diagnostics().iter().map(ToString::to_string).collect())
}

fn with(root_extra: &str, limits: &str) -> String {
    format!(
        "name = \"web\"\n[root]\npath = \"/srv/web\"\n{root_extra}[process]\ncommand = [\"/bin/sh\"]\n[limits]\n{limits}"
    )
}

#[test]
fn cpuset_and_visible_load() {
    let spec = load(&with("", "cpuset = \"4,0-1\"\nvisible = true\n")).unwrap();
    assert_eq!(spec.limits.cpuset.unwrap().to_string(), "0-1,4");
    assert!(spec.limits.visible);
    let plain = load(&with("", "cpus = 1\n")).unwrap();
    assert!(!plain.limits.visible);
    assert!(plain.limits.cpuset.is_none());
}

#[test]
fn a_bad_cpuset_names_line_column_and_key() {
    let errs = load(&with("", "cpuset = \"3-1\"\n")).unwrap_err();
    assert_eq!(
        errs,
        [format!(
            "{FILE}:7:10: limits.cpuset: range \"3-1\" runs backwards (a list of CPU numbers and ranges, e.g. \"0-1,4\")"
        )]
    );
    let errs = load(&with("", "cpuset = 3\nvisible = \"yes\"\n")).unwrap_err();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].contains("7:10: limits.cpuset: expected a string"),
        "{errs:?}"
    );
    assert!(
        errs[1].contains("8:11: limits.visible: expected true or false"),
        "{errs:?}"
    );
}

#[test]
fn abi_loads_with_its_uname_strings() {
    let spec = load(&with("abi = \"linux\"\nlinux_osrelease = \"5.15.0\"\n", "")).unwrap();
    assert_eq!(
        spec.root.abi,
        Some(Abi::Linux(LinuxAbi {
            osname: None,
            osrelease: Some("5.15.0".into())
        }))
    );
    let bsd = load(&with("abi = \"freebsd\"\n", "")).unwrap();
    assert_eq!(bsd.root.abi, Some(Abi::Freebsd));
    assert_eq!(load(&with("", "")).unwrap().root.abi, None);
}

#[test]
fn abi_errors_say_what_to_do() {
    let errs = load(&with("abi = \"linx\"\n", "")).unwrap_err();
    assert_eq!(
        errs,
        [format!(
            "{FILE}:4:7: root.abi: unknown value \"linx\" (did you mean \"linux\"?)"
        )]
    );
    let errs = load(&with("linux_osrelease = \"5.15.0\"\n", "")).unwrap_err();
    assert_eq!(
        errs,
        [format!(
            "{FILE}:4:19: root.linux_osrelease: only meaningful for a Linux root (add abi = \"linux\" to [root])"
        )]
    );
    let errs = load(&with("abi = \"linux\"\nlinux_osname = \"\"\n", "")).unwrap_err();
    assert!(
        errs[0].contains("5:16: root.linux_osname: not a valid uname string"),
        "{errs:?}"
    );
}
