//! FreeBSD plans of Linux roots (`root.abi = "linux"`, or a Linux `/bin/sh` detected by
//! the probe) and of pinned CPUs, pinned line by line.

use std::path::Path;

use stockade_core::backend::{CgroupVersion, HostInfo, PlanContext};
use stockade_core::portability::{check, Support, Target};
use stockade_core::Spec;
use stockade_freebsd::plan::abi::ElfAbi;
use stockade_freebsd::plan::mount::MountOrigin;
use stockade_freebsd::{FreebsdPlan, FreebsdPlanOptions, HostError};

fn spec(root_extra: &str, extra: &str) -> Spec {
    let text = format!(
        "name = \"lx\"\n[root]\npath = \"/srv/ubuntu\"\n{root_extra}[process]\ncommand = [\"/bin/bash\"]\n{extra}"
    );
    Spec::from_toml(&text, Some(Path::new("/etc/stockade/lx.toml"))).expect("valid spec")
}

fn plan(spec: &Spec, abi: Option<ElfAbi>) -> FreebsdPlan {
    let ctx = PlanContext::new("/var/run/stockade", "lx", CgroupVersion::V2);
    let options = FreebsdPlanOptions {
        abi,
        ..FreebsdPlanOptions::default()
    };
    stockade_freebsd::plan_with(spec, &ctx, &options).expect("plan")
}

const R: &str = "/var/run/stockade/lx/root";

fn linux_mounts(p: &FreebsdPlan) -> Vec<String> {
    p.mounts
        .iter()
        .filter(|s| {
            matches!(s, stockade_freebsd::plan::mount::MountStep::Mount(m)
                if m.origin == MountOrigin::LinuxAbi)
        })
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_linux_root_gets_the_linux_file_systems_and_the_abi_check() {
    let p = plan(
        &spec(
            "abi = \"linux\"\nlinux_osname = \"Linux\"\nlinux_osrelease = \"5.15.0\"\n",
            "",
        ),
        None,
    );
    assert_eq!(
        linux_mounts(&p),
        [
            format!("nmount fstype=linprocfs fspath={R}/proc from=linprocfs  (root.abi linux)"),
            format!("nmount fstype=linsysfs fspath={R}/sys from=linsysfs  (root.abi linux)"),
            format!(
                "nmount fstype=fdescfs fspath={R}/dev/fd from=fdescfs linrdlnk  (root.abi linux)"
            ),
            format!(
                "nmount fstype=tmpfs fspath={R}/dev/shm from=tmpfs mode=1777  (root.abi linux)"
            ),
        ]
    );
    let text = p.to_string();
    assert!(
        text.contains("needs: a VIMAGE kernel (vnet jail), the linux64 module (a Linux root; checked like kldstat -n linux64)"),
        "{text}"
    );
    assert!(
        text.contains("  linux.osname=Linux\n  linux.osrelease=5.15.0\n"),
        "{text}"
    );
    // The table's verdict is a note: what does not work inside.
    let note = p
        .notes
        .iter()
        .find(|n| n.key == "root.abi")
        .expect("a note");
    assert!(
        note.text
            .contains("no cgroups, namespaces or seccomp inside"),
        "{}",
        note.text
    );
    // Undo unmounts them before /dev.
    let undo: Vec<String> = p
        .undo_mounts()
        .iter()
        .map(|m| m.display().to_string())
        .collect();
    assert_eq!(
        undo[..5],
        [
            format!("{R}/dev/shm"),
            format!("{R}/dev/fd"),
            format!("{R}/sys"),
            format!("{R}/proc"),
            format!("{R}/dev"),
        ]
    );
}

#[test]
fn the_host_check_names_the_module() {
    let p = plan(&spec("abi = \"linux\"\n", ""), None);
    let mut host = HostInfo {
        os: "freebsd".into(),
        vimage: Some(true),
        linux_abi: Some(false),
        ..HostInfo::default()
    };
    let err = p.check_host(&host).unwrap_err();
    assert_eq!(
        err,
        HostError::NoLinuxAbi {
            how: " (root.abi = \"linux\")"
        }
    );
    assert!(err.to_string().contains("run `kldload linux64`"), "{err}");
    host.linux_abi = Some(true);
    assert_eq!(p.check_host(&host), Ok(()));
}

#[test]
fn a_detected_linux_shell_makes_a_linux_root() {
    let p = plan(&spec("", ""), Some(ElfAbi::Linux));
    assert_eq!(linux_mounts(&p).len(), 4);
    assert!(p.linux.as_ref().unwrap().detected);
    assert!(p
        .notes
        .iter()
        .any(|n| n.key == "root.path (a Linux /bin/sh)"));
    let native = plan(&spec("", ""), Some(ElfAbi::Freebsd));
    assert!(native.linux.is_none());
    assert!(linux_mounts(&native).is_empty());
    // An explicit freebsd ABI wins over the detection.
    let forced = plan(&spec("abi = \"freebsd\"\n", ""), Some(ElfAbi::Linux));
    assert!(forced.linux.is_none());
}

#[test]
fn spec_mounts_at_proc_and_sys_are_kept() {
    let p = plan(
        &spec(
            "abi = \"linux\"\n",
            "[[mount]]\nkind = \"tmpfs\"\ntarget = \"/sys\"\n",
        ),
        None,
    );
    let m = linux_mounts(&p);
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(!m.iter().any(|l| l.contains("linsysfs")));
}

#[test]
fn check_says_approximate_on_freebsd_and_unsupported_the_other_way() {
    let linux_root = spec("abi = \"linux\"\n", "");
    let reports = check(&linux_root, &[Target::Freebsd, Target::LinuxCgroupV2]);
    let f = reports[0]
        .findings
        .iter()
        .find(|f| f.used.key == "root.abi")
        .unwrap();
    assert!(matches!(f.support, Support::Approximate(why) if why.contains("no cgroups")));
    let l = reports[1]
        .findings
        .iter()
        .find(|f| f.used.key == "root.abi")
        .unwrap();
    assert_eq!(l.support, Support::Exact);
    let bsd_root = spec("abi = \"freebsd\"\n", "");
    let reports = check(&bsd_root, &[Target::LinuxCgroupV1]);
    assert!(!reports[0].is_usable());
}

#[test]
fn pinned_cpus_follow_the_jail() {
    let p = plan(&spec("", "[limits]\ncpuset = \"0-1,4\"\n"), None);
    assert_eq!(
        p.cpuset.as_ref().map(ToString::to_string).as_deref(),
        Some("0-1,4")
    );
    assert!(p.to_string().contains(
        "  then: cpuset -j JID -l 0-1,4 (cpuset_setaffinity CPU_LEVEL_CPUSET, CPU_WHICH_JAIL)\n"
    ));
    let visible = plan(&spec("", "[limits]\ncpus = 2.5\nvisible = true\n"), None);
    assert_eq!(visible.cpuset.unwrap().to_string(), "0-2");
}
