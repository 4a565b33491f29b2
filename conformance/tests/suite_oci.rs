//! The conformance suite through the OCI path, as CI runs it: each case's spec exported
//! with `stockade export --format oci` and run by `stockade oci run` / `create` / `start`
//! / `state` / `kill` / `delete` / `exec` from the bundle (`stockade-conformance --via
//! oci`), judged by the same checks as `stockade run`. The whole suite: it takes under a
//! minute here.
//!
//! Needs root, like `suite.rs`. Cases config.json cannot express are skipped with the
//! export's own reason; this test also holds the skips to those reasons, so a case that
//! stops running through OCI for another reason fails it. Linux only: the export writes
//! Linux's config.json.

#![cfg(target_os = "linux")]

mod common;

/// The reasons a case may be skipped through OCI: the export refuses or notes it, the
/// script needs a stockade-only command, or the host or target cannot run it at all.
const SKIP_REASONS: &[&str] = &[
    "stockade export --format oci refuses it: ",
    "config.json cannot say it: ",
    "has no OCI runtime command",
    "through OCI the export's ",
    "unsupported on ",
    "host lacks ",
];

#[test]
#[ignore = "needs root"]
fn conformance_suite_passes_through_the_oci_runtime() {
    let stdout = common::suite_passes(&["--via", "oci"]);
    let odd: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("skip "))
        .filter(|l| !SKIP_REASONS.iter().any(|r| l.contains(r)))
        .collect();
    assert!(
        odd.is_empty(),
        "skipped for another reason:\n{}",
        odd.join("\n")
    );
    // The lifecycle goes through create/start/state/exec/kill/delete, not only `run`.
    for case in [
        "lifecycle.create_start_exec_stop_delete",
        "lifecycle.state_fields",
        "root.host_readonly",
        "scale.twenty_at_once",
    ] {
        assert!(
            stdout.lines().any(|l| l == format!("ok {case}")),
            "{case} did not pass through OCI"
        );
    }
}
