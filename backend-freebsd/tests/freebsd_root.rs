//! The runtime on a real FreeBSD kernel: jails, mounts, rctl, processes. Needs root, so
//! every test is `#[ignore = "needs root on FreeBSD"]`; the CI (.cirrus.yml) runs them as
//! root with `--include-ignored`. Each checks that nothing is left afterwards.
//!
//! racct is a boot-time tunable: the limits test checks the behaviour of whichever kernel
//! it gets — the rules in force with racct on, the refusal before anything is made with
//! racct off — and says which one it checked.
#![cfg(target_os = "freebsd")]

use std::path::{Path, PathBuf};

use stockade_core::backend::{Backend, CreateOptions, Runtime, Stdio};
use stockade_core::state::{StateStore, Status};
use stockade_core::Spec;
use stockade_freebsd::kernel::Kernel;
use stockade_freebsd::sys::SysKernel;
use stockade_freebsd::FreebsdBackend;

fn example(name: &str, as_name: &str) -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(format!("{name}.toml"));
    Spec::load_as(&path, Some(as_name)).expect("example")
}

fn store() -> (tempfile::TempDir, StateStore) {
    let tmp = tempfile::tempdir().expect("tmp");
    let store = StateStore::new(tmp.path().join("run"));
    (tmp, store)
}

fn assert_gone(store: &StateStore, name: &str) {
    assert_eq!(
        SysKernel.find_jail(name).expect("jails"),
        None,
        "jail {name} left"
    );
    assert!(!store.dir(name).exists(), "state folder of {name} left");
    let mounts = std::process::Command::new("mount")
        .arg("-p")
        .output()
        .expect("mount -p");
    let table = String::from_utf8_lossy(&mounts.stdout);
    let root: PathBuf = store.dir(name);
    assert!(
        !table.contains(root.to_string_lossy().as_ref()),
        "mounts left under {}:\n{table}",
        root.display()
    );
}

#[test]
#[ignore = "needs root on FreeBSD"]
fn create_start_and_delete_leave_nothing() {
    let (_tmp, store) = store();
    let spec = example("hello", "sk-hello-root");
    let b = FreebsdBackend;
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: false,
    };
    let state = b.create(&spec, &store, &opts).expect("create");
    assert_eq!(state.status, Status::Created);
    assert!(SysKernel.find_jail(&spec.name).expect("jails").is_some());
    b.start(&store, &spec.name).expect("start");
    b.stop(&store, &spec.name, std::time::Duration::from_secs(2))
        .expect("stop");
    b.delete(&store, &spec.name, false).expect("delete");
    assert_gone(&store, &spec.name);
}

#[test]
#[ignore = "needs root on FreeBSD"]
fn run_returns_the_exit_code_and_cleans_up() {
    let (_tmp, store) = store();
    let mut spec = example("hello", "sk-run-root");
    spec.process.command = vec!["/bin/sh".into(), "-c".into(), "exit 7".into()];
    let exit = FreebsdBackend.run(&spec, &store).expect("run");
    assert_eq!(exit.code, 7);
    assert_gone(&store, &spec.name);
}

#[test]
#[ignore = "needs root on FreeBSD"]
fn limits_are_enforced_or_refused_before_anything_is_made() {
    let (_tmp, store) = store();
    let spec = example("limits", "sk-limits-root");
    let b = FreebsdBackend;
    let racct = b.probe().expect("probe").racct == Some(true);
    let opts = CreateOptions {
        stdio: Stdio::Detached,
        start: false,
    };
    if racct {
        eprintln!("kern.racct.enable=1: checking that the rules are in force");
        b.create(&spec, &store, &opts).expect("create");
        let stats = b.stats(&store, &spec.name).expect("racct usage");
        assert!(stats.processes.is_some(), "{stats:?}");
        b.delete(&store, &spec.name, true).expect("delete");
    } else {
        eprintln!("kern.racct.enable=0: checking that [limits] is refused up front");
        let err = b.create(&spec, &store, &opts).expect_err("racct off");
        assert!(
            err.to_string()
                .contains("kern.racct.enable=1 in /boot/loader.conf"),
            "{err}"
        );
    }
    assert_gone(&store, &spec.name);
}
