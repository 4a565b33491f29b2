//! podman driving stockade as its OCI runtime (`podman --runtime .../stockade-oci`), end to
//! end: run (plain, with a terminal, with --uidmap/--gidmap: a user namespace), run -d,
//! exec, ps, top, kill, stop, rm -f, on a
//! busybox image imported here from the static busybox. Containers use `--network none`:
//! podman's bridge network turns on the host's IPv4 forwarding, which other tests check is
//! off. The host lacks CAP_SYS_RESOURCE, so the nofile/nproc ulimits are given as runc
//! needs them too. Needs root and podman (CI installs it; elsewhere the test says it
//! skipped and why).

#![cfg(target_os = "linux")]

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const LIMITS: &[&str] = &[
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
    "--network",
    "none",
];

struct Podman {
    tmp: tempfile::TempDir,
    image: String,
}

impl Podman {
    /// `None` (with the reason printed) when podman is not installed outside CI.
    fn new(tag: &str) -> Option<Podman> {
        if Command::new("podman").arg("--version").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "podman is missing in CI: .ci/run installs it"
            );
            eprintln!("SKIPPED: podman is not installed (apt-get install podman)");
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        fs::set_permissions(root.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        for applet in ["sh", "echo", "sleep", "tty", "id", "hostname", "cat"] {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tar = tmp.path().join("root.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
        // One image per test: a test's cleanup (rmi -f) must not touch another's.
        let image = format!("localhost/stockade-oci-{tag}:{}", std::process::id());
        let out = Command::new("podman")
            .arg("import")
            .arg(&tar)
            .arg(&image)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        symlink(
            env!("CARGO_BIN_EXE_stockade"),
            tmp.path().join("stockade-oci"),
        )
        .unwrap();
        Some(Podman { tmp, image })
    }

    fn runtime(&self) -> PathBuf {
        self.tmp.path().join("stockade-oci")
    }

    /// `podman --runtime stockade-oci ARGS`, stdout and stderr in files (a detached
    /// container's conmon keeps pipes open).
    fn podman(&self, args: &[&str]) -> Output {
        let (o, e) = (self.tmp.path().join("o"), self.tmp.path().join("e"));
        let status = Command::new("podman")
            .arg("--runtime")
            .arg(self.runtime())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&o).unwrap())
            .stderr(fs::File::create(&e).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs::read(&o).unwrap(),
            stderr: fs::read(&e).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(
            out.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn run_args<'a>(&'a self, extra: &[&'a str], command: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["run"];
        v.extend_from_slice(LIMITS);
        v.extend_from_slice(extra);
        v.push(&self.image);
        v.extend_from_slice(command);
        v
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = Command::new("podman")
            .args(["rmi", "-f", &self.image])
            .output();
    }
}

fn name(tag: &str) -> String {
    format!("stockade-oci-{tag}-{}", std::process::id())
}

#[test]
#[ignore = "needs root"]
fn podman_run_echo_and_a_terminal() {
    let Some(p) = Podman::new("echo") else { return };
    assert_eq!(p.ok(&p.run_args(&["--rm"], &["echo", "hi"])), "hi\n");
    let out = p.ok(&p.run_args(&["--rm", "-t"], &["sh", "-c", "tty; echo on-tty"]));
    assert_eq!(out, "/dev/pts/0\r\non-tty\r\n");
    // The exit status comes back through conmon.
    let st = p.podman(&p.run_args(&["--rm"], &["sh", "-c", "exit 42"]));
    assert_eq!(st.status.code(), Some(42));
}

#[test]
#[ignore = "needs root"]
fn podman_detached_exec_ps_top_kill_stop_rm() {
    let Some(p) = Podman::new("life") else { return };
    let n = name("life");
    let nm = n.as_str();
    p.ok(&p.run_args(
        &["-d", "--name", nm, "--hostname", "podhost"],
        &["sleep", "1000"],
    ));
    let ps = p.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        ps.lines().any(|l| l.starts_with(nm) && l.contains("Up")),
        "{ps}"
    );
    assert_eq!(p.ok(&["exec", nm, "hostname"]), "podhost\n");
    assert_eq!(
        p.ok(&["exec", "-t", nm, "sh", "-c", "tty"]),
        "/dev/pts/0\r\n",
        "exec -t gets a terminal of its own"
    );
    let st = p.podman(&["exec", nm, "sh", "-c", "exit 5"]);
    assert_eq!(st.status.code(), Some(5));
    let top = p.ok(&["top", nm]);
    assert!(top.contains("sleep 1000"), "{top}");
    p.ok(&["kill", nm]);
    assert_eq!(p.ok(&["wait", nm]).trim(), "137");
    p.ok(&["rm", nm]);

    let n2 = name("stop");
    let nm2 = n2.as_str();
    p.ok(&p.run_args(
        &["-d", "--name", nm2],
        &["sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait"],
    ));
    p.ok(&["stop", "-t", "5", nm2]);
    assert_eq!(p.ok(&["wait", nm2]).trim(), "3", "SIGTERM reached the trap");
    p.ok(&["start", nm2]);
    p.ok(&["rm", "-f", nm2]);
    let all = p.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!all.lines().any(|l| l == nm || l == nm2), "{all}");
    assert!(Path::new(env!("CARGO_BIN_EXE_stockade")).exists());
}

#[test]
#[ignore = "needs root"]
fn podman_userns_maps_root_inside_to_a_host_range() {
    let Some(p) = Podman::new("userns") else {
        return;
    };
    // podman writes linux.uidMappings/gidMappings and a user namespace, and chowns its
    // copy of the image for the mapping: root inside, 100000 on the host.
    let out = p.ok(&p.run_args(
        &[
            "--rm",
            "--uidmap",
            "0:100000:65536",
            "--gidmap",
            "0:100000:65536",
        ],
        &["sh", "-c", "id -u; cat /proc/self/uid_map"],
    ));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"), "{out}");
    let map: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(map, ["0", "100000", "65536"], "{out}");
}
