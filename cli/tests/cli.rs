//! The `stockade` binary from outside: exit statuses, messages, and the foreground run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn stockade() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stockade"))
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run stockade");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn check_of_every_example_is_valid_and_usable_everywhere() {
    let mut cmd = stockade();
    cmd.arg("check").arg("--target").arg("all");
    for f in ["hello", "limits", "bind", "network"] {
        cmd.arg(examples().join(format!("{f}.toml")));
    }
    let (code, out, err) = run(&mut cmd);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.matches(": valid").count(), 4, "{out}");
}

#[test]
fn an_invalid_spec_exits_2_naming_file_line_column_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "name = \"bad\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/true\"]\n[limits]\nmemory = \"12Q\"\n",
    )
    .unwrap();
    for sub in ["check", "plan"] {
        let (code, _, err) = run(stockade().arg(sub).arg(&file));
        assert_eq!(code, 2, "{sub}: {err}");
        assert!(
            err.contains(&format!(
                "{}:7:10: limits.memory: invalid size \"12Q\"",
                file.display()
            )),
            "{sub}: {err}"
        );
    }
}

#[test]
fn a_feature_unsupported_on_a_target_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dev.toml");
    std::fs::write(
        &file,
        "name = \"dev\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/true\"]\n[privileges]\nallow = [\"mknod\"]\n",
    )
    .unwrap();
    let (code, out, _) = run(stockade().args(["check", "--target", "freebsd"]).arg(&file));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("UNSUPPORTED"), "{out}");
    let (code, _, _) = run(stockade().args(["check", "--target", "linux"]).arg(&file));
    assert_eq!(code, 0);
    let (code, _, err) = run(stockade().args(["plan", "--target", "freebsd"]).arg(&file));
    assert_eq!(code, 1, "{err}");
}

#[test]
fn plan_for_freebsd_from_any_host_shows_jail_params_and_rctl_rules() {
    let (code, out, err) = run(stockade()
        .args(["plan", "--target", "freebsd"])
        .arg(examples().join("limits.toml")));
    assert_eq!(code, 0, "{err}");
    for line in [
        "jail:limits:memoryuse:deny=268435456",
        "jail:limits:maxproc:deny=8",
        "jail:limits:pcpu:deny=50",
        "path=/var/run/stockade/limits/root",
        "vnet=new",
    ] {
        assert!(out.contains(line), "{line} missing from:\n{out}");
    }
}

#[test]
fn plan_for_linux_shows_both_cgroup_versions() {
    let limits = examples().join("limits.toml");
    let (_, v2, _) = run(stockade()
        .args(["plan", "--target", "linux", "--cgroup", "v2"])
        .arg(&limits));
    assert!(v2.contains("memory.max = 268435456"), "{v2}");
    assert!(v2.contains("cpu.max = 50000 100000"), "{v2}");
    let (_, v1, _) = run(stockade()
        .args(["plan", "--target", "linux", "--cgroup", "v1"])
        .arg(&limits));
    assert!(v1.contains("memory.limit_in_bytes = 268435456"), "{v1}");
    assert!(v1.contains("cpu.cfs_quota_us = 50000"), "{v1}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
#[ignore = "needs root"]
fn hello_example_runs_as_the_readme_says() {
    assert!(is_root(), "run as root");
    let state = tempfile::tempdir().unwrap();
    let (code, out, err) = run(stockade()
        .arg("--root")
        .arg(state.path())
        .arg("run")
        .arg(examples().join("hello.toml")));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "hello from hello-stockade, I am pid 1, uid 0");
}

#[test]
#[ignore = "needs root"]
fn ctrl_c_on_run_stops_the_environment_and_exits_130() {
    assert!(is_root(), "run as root");
    let state = tempfile::tempdir().unwrap();
    let spec = state.path().join("sleepy.toml");
    std::fs::write(
        &spec,
        "name = \"sleepy\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sleep\", \"60\"]\ninit = true\n",
    )
    .unwrap();
    let mut child = stockade()
        .arg("--root")
        .arg(state.path().join("run"))
        .arg("run")
        .arg(&spec)
        .spawn()
        .unwrap();
    let running = state.path().join("run/sleepy/state.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&running).is_ok_and(|s| s.contains("\"running\"")) {
        assert!(Instant::now() < deadline, "never running");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill has no memory preconditions; pid is our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let start = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(130),
        "SIGINT forwarded to the command: 128 + 2"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    assert!(
        !state.path().join("run/sleepy").exists(),
        "state left behind"
    );
}

/// `stockade plan x.toml | head`: the reader is gone (here before the first write, so the
/// test does not depend on timing); stockade ends as `ls | head` does (SIGPIPE, nothing on
/// stderr), never with a panic.
#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    for args in [
        vec!["plan", "limits.toml"],
        vec!["plan", "limits.toml", "--target", "freebsd"],
        vec!["check", "limits.toml", "--target", "all"],
        vec!["portability"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = stockade()
            .current_dir(examples())
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.is_empty(), "{args:?} wrote to stderr: {stderr}");
        let quiet = out.status.success() || out.status.signal() == Some(libc::SIGPIPE);
        assert!(quiet, "{args:?} ended with {:?}", out.status);
    }
}

#[test]
fn export_oci_out_makes_a_bundle_that_runs_as_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = tmp.path().join("view.toml");
    std::fs::write(
        &spec,
        "[root]\nhost = true\n[process]\ncommand = [\"/bin/true\"]\n",
    )
    .unwrap();
    let bundle = tmp.path().join("bundle");
    let (code, _, err) = run(stockade()
        .args(["export", "--format", "oci", "--name", "viewer", "--out"])
        .arg(&bundle)
        .arg(&spec));
    assert_eq!(code, 0, "{err}");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json")).unwrap())
            .unwrap();
    // --name as run takes it: the host name and annotation follow.
    assert_eq!(config["hostname"], "viewer");
    assert_eq!(config["annotations"]["org.stockade.name"], "viewer");
    assert_eq!(config["root"]["path"], "rootfs");
    assert!(bundle.join("rootfs").is_dir());
    assert!(
        err.contains("not a fresh tmpfs"),
        "the approximation is noted: {err}"
    );
    // The view's top-level links, as the host has them (a merged-/usr host: /bin ->
    // usr/bin), are made in the rootfs.
    for top in ["bin", "sbin", "lib", "lib64"] {
        if let Ok(to) = std::fs::read_link(Path::new("/").join(top)) {
            assert_eq!(
                std::fs::read_link(bundle.join("rootfs").join(top)).ok(),
                Some(to),
                "{top}"
            );
        }
    }
    // A second export into the same bundle keeps what is there.
    let (code, _, err) = run(stockade()
        .args(["export", "--format", "oci", "--name", "viewer", "--out"])
        .arg(&bundle)
        .arg(&spec));
    assert_eq!(code, 0, "{err}");
}
