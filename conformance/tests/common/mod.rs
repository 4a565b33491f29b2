//! What the suite's root tests share: the `stockade` binary of this workspace and one
//! run of `stockade-conformance` judged by its summary line.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding this package's binaries: `target/<profile>` (or
/// `target/<triple>/<profile>` when cross-building).
fn bin_dir() -> PathBuf {
    let suite = Path::new(env!("CARGO_BIN_EXE_stockade-conformance"));
    suite
        .parent()
        .expect("a binary path has a parent folder")
        .to_path_buf()
}

/// `target/<profile>/stockade`, built if needed.
fn stockade() -> PathBuf {
    let dir = bin_dir();
    let bin = dir.join("stockade");
    if bin.is_file() {
        return bin;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let release = dir.file_name().is_some_and(|p| p == "release");
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "stockade"]);
    if release {
        build.arg("--release");
    }
    // The target folder is the one this test was built into: two levels up from the
    // profile folder.
    if let Some(target) = dir.parent() {
        build.env("CARGO_TARGET_DIR", target);
    }
    let status = build.status().expect("cannot run cargo to build stockade");
    assert!(status.success(), "`cargo build -p stockade` failed");
    assert!(
        bin.is_file(),
        "{} is missing after `cargo build -p stockade`: build it, or run the suite by hand \
         with --stockade PATH",
        bin.display()
    );
    bin
}

/// Runs the suite with `extra` arguments; panics with every failed case unless its
/// summary says 0 failed. Returns the suite's stdout (one line per case).
pub fn suite_passes(extra: &[&str]) -> String {
    let stockade = stockade();
    let suite = env!("CARGO_BIN_EXE_stockade-conformance");
    let probe = env!("CARGO_BIN_EXE_stockade-probe");
    let out = Command::new(suite)
        .arg("--stockade")
        .arg(&stockade)
        .arg("--probe")
        .arg(probe)
        .args(extra)
        .output()
        .expect("cannot run stockade-conformance");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Shown on failure (and with --nocapture): every case's line.
    println!("{stdout}");
    eprintln!("{stderr}");
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed, ") && l.contains(" failed, "))
        .unwrap_or_else(|| {
            panic!("no summary line from the suite\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
    let failures: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("not ok "))
        .collect();
    assert!(
        summary.contains(" 0 failed,") && out.status.success(),
        "conformance: {summary}\n{}",
        failures.join("\n")
    );
    stdout
}
