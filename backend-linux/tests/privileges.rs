//! `[privileges]` on a real kernel: the capability sets inside match the default set plus
//! what `allow` lists, no_new_privs is always on, and the default seccomp filter denies
//! keyctl, mount and raw sockets' neighbours unless a privilege or `seccomp =
//! "unconfined"` lifts it. Needs root.

#![cfg(target_os = "linux")]

mod common;
#[path = "common/probe.rs"]
mod probe;

use std::collections::BTreeMap;
use std::str::FromStr;

use common::World;
use stockade_core::backend::Runtime;
use stockade_linux::DEFAULT_CAPABILITIES;

/// The probe's entry point inside environments (a no-op otherwise; see `common/probe.rs`).
#[test]
fn probe() {
    probe::serve();
}

/// The capability mask of a list of `CAP_*` names, as /proc/PID/status prints it.
fn mask(names: &[&str]) -> String {
    let bits = names.iter().fold(0u64, |acc, n| {
        acc | 1u64 << caps::Capability::from_str(n).unwrap().index()
    });
    format!("{bits:016x}")
}

/// The `Key:\tvalue` lines of a /proc/PID/status the process copied to /out.
fn status(w: &World, file: &str) -> BTreeMap<String, String> {
    w.read(file)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

const SHOW_STATUS: &str = "cat /proc/self/status > /out/status";

#[test]
#[ignore = "needs root"]
fn capeff_is_the_default_set_with_no_new_privs_and_seccomp() {
    let w = World::new();
    let exit = w
        .backend
        .run(&w.spec("priv-default", SHOW_STATUS, ""), &w.store)
        .unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let s = status(&w, "status");
    let default = mask(DEFAULT_CAPABILITIES);
    assert_eq!(s["CapEff"], default, "{s:?}");
    assert_eq!(s["CapPrm"], default);
    assert_eq!(s["CapBnd"], default);
    assert_eq!(s["CapInh"], mask(&[]));
    assert_eq!(s["CapAmb"], mask(&[]));
    assert_eq!(s["NoNewPrivs"], "1");
    assert_eq!(s["Seccomp"], "2", "filter mode");
}

#[test]
#[ignore = "needs root"]
fn capeff_adds_the_allowed_privileges() {
    let w = World::new();
    let spec = w.spec(
        "priv-allow",
        SHOW_STATUS,
        "[privileges]\nallow = [\"raw_sockets\", \"mount\", \"net_bind_service\"]\n",
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let mut want: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
    want.extend(["CAP_NET_RAW", "CAP_SYS_ADMIN", "CAP_NET_BIND_SERVICE"]);
    let s = status(&w, "status");
    assert_eq!(s["CapEff"], mask(&want), "{s:?}");
    assert_eq!(s["CapBnd"], mask(&want));
    assert_eq!(s["NoNewPrivs"], "1");
}

#[test]
#[ignore = "needs root"]
fn a_non_root_user_ends_with_no_capabilities() {
    let w = World::new();
    let spec = w.spec_with("priv-user", SHOW_STATUS, "user = \"1000:1000\"", "");
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let s = status(&w, "status");
    assert_eq!(s["CapEff"], mask(&[]), "{s:?}");
    assert_eq!(s["CapPrm"], mask(&[]));
    assert_eq!(s["CapBnd"], mask(DEFAULT_CAPABILITIES));
}

/// Runs the probe's `action` in a fresh environment with `privileges` TOML and returns
/// the errno it reports (0 = it worked).
fn attempt(w: &World, name: &str, action: &str, privileges: &str) -> i64 {
    let spec = w.probe_spec(name, action, privileges);
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{name}: {exit:?}");
    let file = action.split_whitespace().next().unwrap();
    let errno = w.figure(file, "errno");
    std::fs::remove_file(w.out.join(file)).unwrap();
    errno
}

#[test]
#[ignore = "needs root"]
fn raw_sockets_denied_by_default_allowed_when_listed() {
    let w = World::new();
    assert_eq!(
        attempt(&w, "priv-raw0", "raw", ""),
        i64::from(libc::EPERM),
        "raw socket without CAP_NET_RAW"
    );
    assert_eq!(
        attempt(
            &w,
            "priv-raw1",
            "raw",
            "[privileges]\nallow = [\"raw_sockets\"]\n"
        ),
        0
    );
}

#[test]
#[ignore = "needs root"]
fn mount_denied_by_default_allowed_when_listed() {
    let w = World::new();
    assert_eq!(
        attempt(&w, "priv-mnt0", "mount", ""),
        i64::from(libc::EPERM)
    );
    assert_eq!(
        attempt(
            &w,
            "priv-mnt1",
            "mount",
            "[privileges]\nallow = [\"mount\"]\n"
        ),
        0
    );
    // Without the filter, the missing CAP_SYS_ADMIN still refuses it: two layers.
    assert_eq!(
        attempt(
            &w,
            "priv-mnt2",
            "mount",
            "[privileges]\nseccomp = \"unconfined\"\n"
        ),
        i64::from(libc::EPERM)
    );
}

#[test]
#[ignore = "needs root"]
fn keyctl_is_blocked_by_seccomp_unless_unconfined() {
    let w = World::new();
    assert_eq!(
        attempt(&w, "priv-key0", "keyctl", ""),
        i64::from(libc::EPERM),
        "keyctl under the default filter"
    );
    // Unconfined: the call reaches the kernel (a keyring id, or a keyring error, never
    // the filter's EPERM).
    assert_ne!(
        attempt(
            &w,
            "priv-key1",
            "keyctl",
            "[privileges]\nseccomp = \"unconfined\"\n"
        ),
        i64::from(libc::EPERM)
    );
}

#[test]
#[ignore = "needs root"]
fn unconfined_has_no_filter() {
    let w = World::new();
    let spec = w.spec(
        "priv-unconf",
        SHOW_STATUS,
        "[privileges]\nseccomp = \"unconfined\"\n",
    );
    let exit = w.backend.run(&spec, &w.store).unwrap();
    assert_eq!(exit.code, 0, "{exit:?}");
    let s = status(&w, "status");
    assert_eq!(s["Seccomp"], "0", "{s:?}");
    assert_eq!(
        s["NoNewPrivs"], "1",
        "no_new_privs does not depend on the filter"
    );
}
