//! The OCI runtime command line from outside, as engines drive it: the cases runc's own
//! integration tests cover (lifecycle, exit status, exec, kill, delete --force, pid file,
//! console socket, hooks, rlimits, capabilities, masked paths, seccomp, sysctl, joined
//! namespaces, pause/resume, errors in --log). Each test makes a bundle (a static-busybox
//! root and a config.json from `stockade oci spec`, edited) and a state root of its own in
//! a temporary folder, and reads what the process inside saw through a bound `/out`.
//! Needs root.

#![cfg(target_os = "linux")]

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// One container's bundle, state root and output folder.
struct Oci {
    tmp: tempfile::TempDir,
    config: Value,
}

impl Oci {
    /// A bundle running `sh -c script` with `/out` bound read-write.
    fn new(script: &str) -> Oci {
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        fs::create_dir_all(bundle.join("rootfs")).unwrap();
        make_busybox_root(&bundle.join("rootfs"));
        fs::create_dir_all(tmp.path().join("out")).unwrap();
        // Writable by a process running as any user (tests that set process.user).
        fs::set_permissions(tmp.path().join("out"), fs::Permissions::from_mode(0o777)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
            .args(["oci", "spec", "--bundle"])
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut config: Value =
            serde_json::from_str(&fs::read_to_string(bundle.join("config.json")).unwrap()).unwrap();
        config["process"]["args"] = json!(["sh", "-c", script]);
        config["root"]["readonly"] = json!(false);
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/out", "type": "bind",
                         "source": tmp.path().join("out"), "options": ["rbind", "rw"]}));
        Oci { tmp, config }
    }

    fn bundle(&self) -> PathBuf {
        self.tmp.path().join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    fn out(&self, file: &str) -> String {
        fs::read_to_string(self.tmp.path().join("out").join(file)).unwrap_or_default()
    }

    fn write_config(&self) {
        fs::write(
            self.bundle().join("config.json"),
            serde_json::to_string_pretty(&self.config).unwrap(),
        )
        .unwrap();
    }

    /// `stockade oci --root STATE ARGS...`. Its stdout and stderr go to files, not pipes:
    /// a created container keeps the streams it was given (an engine's pipes), so a pipe
    /// would not reach EOF while it lives.
    fn oci(&self, args: &[&str]) -> Output {
        self.write_config();
        let (out_path, err_path) = (
            self.tmp.path().join("stdout"),
            self.tmp.path().join("stderr"),
        );
        let status = Command::new(env!("CARGO_BIN_EXE_stockade"))
            .arg("oci")
            .arg("--root")
            .arg(self.root())
            .args(args)
            .stdin(Stdio::null())
            .stdout(fs::File::create(&out_path).unwrap())
            .stderr(fs::File::create(&err_path).unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: fs::read(&out_path).unwrap(),
            stderr: fs::read(&err_path).unwrap(),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.oci(args);
        assert!(
            out.status.success(),
            "stockade oci {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn create(&self, id: &str) {
        let bundle = self.bundle();
        self.ok(&["create", "--bundle", bundle.to_str().unwrap(), id]);
    }

    fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    /// `run` in the foreground: exit code and stderr.
    fn run(&self, id: &str) -> (i32, String) {
        let bundle = self.bundle();
        let out = self.oci(&["run", "--bundle", bundle.to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.status(id) != want {
            assert!(Instant::now() < deadline, "{id} never became {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Oci {
    fn drop(&mut self) {
        // Whatever a failed test left: every container of this state root.
        if let Ok(names) = fs::read_dir(self.root()) {
            for n in names.flatten() {
                let _ = Command::new(env!("CARGO_BIN_EXE_stockade"))
                    .arg("oci")
                    .arg("--root")
                    .arg(self.root())
                    .args(["delete", "--force"])
                    .arg(n.file_name())
                    .output();
            }
        }
    }
}

fn make_busybox_root(dir: &Path) {
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.exists(),
        "static busybox missing: apt-get install busybox-static"
    );
    fs::create_dir_all(dir.join("bin")).unwrap();
    for d in ["proc", "sys", "dev", "tmp", "etc"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::copy(bb, dir.join("bin/busybox")).unwrap();
    fs::set_permissions(dir.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
    let list = Command::new(bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", &link).unwrap();
        }
    }
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

#[test]
#[ignore = "needs root"]
fn lifecycle_create_start_state_kill_delete_with_pid_file() {
    let c = Oci::new("echo started > /out/started; exec sleep 100");
    let pid_file = c.tmp.path().join("pid");
    let bundle = c.bundle();
    c.ok(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        "life",
    ]);
    // Written before create returned, and it is the state's pid.
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let state = c.state("life");
    assert_eq!(state["status"], "created");
    assert_eq!(state["pid"], pid);
    assert_eq!(state["id"], "life");
    assert_eq!(state["ociVersion"], "1.2.0");
    assert_eq!(state["bundle"], json!(fs::canonicalize(&bundle).unwrap()));
    assert!(alive(pid));
    assert_eq!(c.out("started"), "", "the command waits for start");
    let list = c.ok(&["list", "--format", "json"]);
    assert!(list.contains("\"life\""), "{list}");

    c.ok(&["start", "life"]);
    assert_eq!(c.status("life"), "running");
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.out("started").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.out("started"), "started\n");
    // start twice is refused.
    assert!(!c.oci(&["start", "life"]).status.success());

    c.ok(&["kill", "life", "KILL"]);
    c.wait_status("life", "stopped");
    assert_eq!(c.state("life")["pid"], 0);
    c.ok(&["delete", "life"]);
    let gone = c.oci(&["state", "life"]);
    assert!(!gone.status.success());
    assert!(!alive(pid));
}

#[test]
#[ignore = "needs root"]
fn run_returns_the_exit_status_and_leaves_nothing() {
    let c = Oci::new("echo out; exit 3");
    let (code, err) = c.run("exit3");
    assert_eq!(code, 3, "{err}");
    assert!(
        fs::read_dir(c.root()).unwrap().next().is_none(),
        "run deletes"
    );
    // Killed by a signal: 128+N (outside a PID namespace, where sh is not an init that
    // the kernel shields from its own SIGKILL).
    let mut c = Oci::new("kill -KILL $$");
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    assert_eq!(c.run("killed").0, 137);
}

#[test]
#[ignore = "needs root"]
fn argv0_stockade_oci_answers_as_the_runtime() {
    let c = Oci::new("exit 0");
    let link = c.tmp.path().join("stockade-oci");
    symlink(env!("CARGO_BIN_EXE_stockade"), &link).unwrap();
    c.write_config();
    let out = Command::new(&link)
        .arg("--root")
        .arg(c.root())
        .args(["run", "--bundle"])
        .arg(c.bundle())
        .arg("via-link")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v = Command::new(&link).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).contains("spec: 1.2.0"));
    let f = Command::new(&link).arg("features").output().unwrap();
    let features: Value = serde_json::from_slice(&f.stdout).unwrap();
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert!(features["linux"]["seccomp"]["enabled"].as_bool().unwrap());
}

#[test]
#[ignore = "needs root"]
fn exec_args_process_file_and_detached() {
    let mut c = Oci::new("exec sleep 100");
    c.config["hostname"] = json!("exechost");
    c.create("ex");
    c.ok(&["start", "ex"]);
    let out = c.ok(&["exec", "ex", "sh", "-c", "hostname; echo $FOO"]);
    assert_eq!(out, "exechost\n\n");
    let process = c.tmp.path().join("process.json");
    fs::write(
        &process,
        json!({"user": {"uid": 1000, "gid": 1000, "additionalGids": [5]}, "cwd": "/tmp",
               "args": ["sh", "-c", "id; pwd; echo $FOO"], "env": ["FOO=bar", "PATH=/bin"]})
        .to_string(),
    )
    .unwrap();
    let out = c.ok(&["exec", "--process", process.to_str().unwrap(), "ex"]);
    assert_eq!(out, "uid=1000 gid=1000 groups=5\n/tmp\nbar\n");
    // A failing command's status comes back.
    let st = c.oci(&["exec", "ex", "sh", "-c", "exit 7"]);
    assert_eq!(st.status.code(), Some(7));
    // Detached: the PID is in the file when exec returns, and it runs in the container.
    let pid_file = c.tmp.path().join("exec.pid");
    c.ok(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "ex",
        "sh",
        "-c",
        "echo detached > /out/d; sleep 100",
    ]);
    let pid: i32 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(pid));
    let pids: Vec<i32> = serde_json::from_str(&c.ok(&["ps", "--format", "json", "ex"])).unwrap();
    assert!(pids.contains(&pid), "{pids:?} {pid}");
    c.ok(&["delete", "--force", "ex"]);
    assert!(!alive(pid));
    // exec into a stopped container is refused.
    assert!(!c.oci(&["exec", "ex", "true"]).status.success());
}

#[test]
#[ignore = "needs root"]
fn kill_all_reaches_every_process_and_delete_force_removes_a_running_one() {
    let c = Oci::new("sleep 100 & sleep 100 & exec sleep 100");
    c.create("ka");
    c.ok(&["start", "ka"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut pids: Vec<i32> = Vec::new();
    while pids.len() < 3 && Instant::now() < deadline {
        pids = serde_json::from_str(&c.ok(&["ps", "--format", "json", "ka"])).unwrap();
    }
    assert_eq!(pids.len(), 3, "{pids:?}");
    // delete without --force refuses a running container.
    let refused = c.oci(&["delete", "ka"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("running"));
    c.ok(&["kill", "--all", "ka", "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(pids.iter().all(|p| !alive(*p)));
    c.ok(&["delete", "ka"]);

    let c2 = Oci::new("exec sleep 100");
    c2.create("df");
    c2.ok(&["start", "df"]);
    let pid = c2.state("df")["pid"].as_i64().unwrap() as i32;
    c2.ok(&["delete", "--force", "df"]);
    assert!(!alive(pid));
    assert!(!c2.oci(&["state", "df"]).status.success());
    // --force on nothing succeeds, as runc.
    c2.ok(&["delete", "--force", "never-made"]);
}

#[test]
#[ignore = "needs root"]
fn pause_and_resume_use_the_freezer() {
    let c = Oci::new("exec sleep 100");
    c.create("pz");
    c.ok(&["start", "pz"]);
    c.ok(&["pause", "pz"]);
    assert_eq!(c.status("pz"), "paused");
    assert!(!c.oci(&["pause", "pz"]).status.success());
    c.ok(&["resume", "pz"]);
    assert_eq!(c.status("pz"), "running");
    c.ok(&["pause", "pz"]);
    c.ok(&["delete", "--force", "pz"]);
}

#[test]
#[ignore = "needs root"]
fn console_socket_receives_the_terminal_master() {
    let mut c = Oci::new("tty; echo on-the-terminal");
    c.config["process"]["terminal"] = json!(true);
    let sock_path = c.tmp.path().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let bundle = c.bundle();
    let waiter = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut payload = [0u8; 64];
        let got = stockade_term::fdpass::recv(conn.as_fd(), &mut payload).unwrap();
        got.map(|(fd, _)| fd)
    });
    c.ok(&[
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "--console-socket",
        sock_path.to_str().unwrap(),
        "tty",
    ]);
    let master = waiter.join().unwrap().expect("a master fd");
    c.ok(&["start", "tty"]);
    let mut file = fs::File::from(master);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 256];
    while !text.contains("on-the-terminal") && Instant::now() < deadline {
        use std::io::Read as _;
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text:?}");
    assert!(text.contains("on-the-terminal\r\n"), "{text:?}");
    // terminal without a socket is refused, naming the key.
    let out = c.oci(&["create", "--bundle", bundle.to_str().unwrap(), "tty2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("process.terminal"));
}

#[test]
#[ignore = "needs root"]
fn rlimits_capabilities_user_oom_score_and_umask() {
    let mut c = Oci::new(
        "ulimit -n > /out/nofile; grep -E 'CapBnd|CapEff' /proc/self/status > /out/caps; \
         id > /out/id; cat /proc/self/oom_score_adj > /out/oom; umask > /out/umask; \
         grep SigIgn /proc/self/status > /out/sigign",
    );
    c.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 555, "hard": 555}]);
    c.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"],
        "permitted": ["CAP_KILL"], "inheritable": [], "ambient": []});
    c.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [7, 8], "umask": 63});
    c.config["process"]["oomScoreAdj"] = json!(321);
    let (code, err) = c.run("limits");
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.out("nofile"), "555\n");
    // CAP_CHOWN = bit 0, CAP_KILL = bit 5.
    assert_eq!(
        c.out("caps"),
        "CapEff:\t0000000000000000\nCapBnd:\t0000000000000021\n"
    );
    assert_eq!(c.out("id"), "uid=1000 gid=1000 groups=7,8\n");
    assert_eq!(c.out("oom"), "321\n");
    assert_eq!(c.out("umask"), "0077\n");
    // SIGPIPE (13) is not left ignored by stockade's own runtime.
    let ign = c.out("sigign");
    let mask = u64::from_str_radix(ign.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(mask & (1 << 12), 0, "{ign}");
}

#[test]
#[ignore = "needs root"]
fn masked_and_readonly_paths() {
    let c = Oci::new(
        "wc -c < /proc/timer_list > /out/timers; ls /sys/firmware | wc -l > /out/fw; \
         (echo 1 > /proc/sys/kernel/domainname) 2> /out/ro || echo refused >> /out/ro",
    );
    let (code, err) = c.run("masks");
    assert_eq!(code, 0, "{err}");
    // Both have content on the host; the template masks them.
    assert!(fs::read_to_string("/proc/timer_list").is_ok_and(|t| !t.is_empty()));
    assert!(fs::read_dir("/sys/firmware").is_ok_and(|mut d| d.next().is_some()));
    assert_eq!(c.out("timers").trim(), "0");
    assert_eq!(c.out("fw").trim(), "0");
    assert!(c.out("ro").contains("refused"), "{}", c.out("ro"));
}

#[test]
#[ignore = "needs root"]
fn seccomp_profile_actions_and_argument_conditions() {
    let mut c = Oci::new(
        "touch /tmp/f; chmod 755 /tmp/f && echo 755-ok > /out/a; \
         chmod 777 /tmp/f 2> /out/b || echo 777-refused >> /out/b; \
         mkdir /tmp/d 2> /out/c || echo mkdir-refused >> /out/c",
    );
    c.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["chmod", "fchmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 1, "value": 511, "op": "SCMP_CMP_EQ"}]},
            {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
             "args": [{"index": 2, "value": 511, "op": "SCMP_CMP_EQ"}]}
        ]
    });
    let (code, err) = c.run("sec");
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.out("a"), "755-ok\n");
    assert!(c.out("b").contains("Permission denied"), "{}", c.out("b"));
    assert!(c.out("b").contains("777-refused"));
    assert!(
        c.out("c").contains("Operation not permitted"),
        "{}",
        c.out("c")
    );

    // An allow list: everything else fails with ENOSYS... except what sh needs.
    let mut c = Oci::new("echo allowed > /out/x; mkdir /tmp/y 2> /out/y || true");
    let podman: Value = serde_json::from_str(include_str!(
        "../../backend-linux/tests/fixtures/oci/podman-busybox.json"
    ))
    .unwrap();
    c.config["linux"]["seccomp"] = podman["linux"]["seccomp"].clone();
    let (code, err) = c.run("sec2");
    assert_eq!(code, 0, "{err}");
    assert_eq!(c.out("x"), "allowed\n");
}

#[test]
#[ignore = "needs root"]
fn sysctl_and_a_joined_network_namespace() {
    let mut a = Oci::new("cat /proc/sys/net/ipv4/ip_forward > /out/fwd; exec sleep 100");
    a.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    a.create("netowner");
    a.ok(&["start", "netowner"]);
    let pid = a.state("netowner")["pid"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while a.out("fwd").is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(a.out("fwd"), "1\n");
    let mut b = Oci::new("readlink /proc/self/ns/net > /out/ns");
    let namespaces = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|n| n["type"] != "network");
    namespaces.push(json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}));
    let (code, err) = b.run("joiner");
    assert_eq!(code, 0, "{err}");
    let theirs = fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(b.out("ns").trim(), theirs.to_str().unwrap());
    a.ok(&["delete", "--force", "netowner"]);
}

#[test]
#[ignore = "needs root"]
fn refusals_name_the_key_log_as_json_and_leave_nothing() {
    let mut c = Oci::new("true");
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": "/proc/1/ns/user"}));
    let log = c.tmp.path().join("log.json");
    let bundle = c.bundle();
    let out = c.oci(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        "--bundle",
        bundle.to_str().unwrap(),
        "bad",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json: linux.namespaces["), "{err}");
    let line: Value = serde_json::from_str(fs::read_to_string(&log).unwrap().trim()).unwrap();
    assert_eq!(line["level"], "error");
    assert!(line["msg"].as_str().unwrap().contains("linux.namespaces"));
    assert!(
        !c.oci(&["state", "bad"]).status.success(),
        "nothing recorded"
    );

    // Hooks that must run inside the container are refused, not skipped.
    let mut c = Oci::new("true");
    c.config["hooks"] = json!({"startContainer": [{"path": "/bin/true"}]});
    let (code, err) = c.run("hooked");
    assert_ne!(code, 0);
    assert!(err.contains("config.json: hooks.startContainer:"), "{err}");

    // A broken config.json points at its line and column.
    let c = Oci::new("true");
    c.write_config();
    fs::write(c.bundle().join("config.json"), "{\n  \"ociVersion\": 1,\n}").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .arg("oci")
        .arg("--root")
        .arg(c.root())
        .args(["create", "--bundle"])
        .arg(c.bundle())
        .arg("broken")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json:2:"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let mut c = Oci::new("exec sleep 100");
    let dir = c.tmp.path().join("hooks");
    fs::create_dir_all(&dir).unwrap();
    let hook = |name: &str| {
        json!({"path": "/bin/sh",
               "args": ["sh", "-c", format!("cat > {}/{name}.json; echo $HOOKVAR > {}/{name}.env", dir.display(), dir.display())],
               "env": ["HOOKVAR=set-by-config"], "timeout": 5})
    };
    c.config["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    let read = |name: &str| -> Value {
        serde_json::from_str(&fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap()
    };
    c.create("hk");
    let pid = c.state("hk")["pid"].clone();
    for name in ["prestart", "createRuntime"] {
        let s = read(name);
        assert_eq!(s["status"], "creating", "{name}");
        assert_eq!(s["pid"], pid, "{name}");
        assert_eq!(s["id"], "hk");
        let env = fs::read_to_string(dir.join(format!("{name}.env"))).unwrap();
        assert_eq!(env, "set-by-config\n");
    }
    assert!(!dir.join("poststart.json").exists());
    c.ok(&["start", "hk"]);
    assert_eq!(read("poststart")["status"], "running");
    c.ok(&["delete", "--force", "hk"]);
    assert_eq!(read("poststop")["status"], "stopped");

    // A failing createRuntime hook fails create and leaves nothing.
    let mut c = Oci::new("true");
    c.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 1"]}]});
    let bundle = c.bundle();
    let out = c.oci(&["create", "--bundle", bundle.to_str().unwrap(), "hkfail"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    assert!(!c.oci(&["state", "hkfail"]).status.success());
}

/// `crun spec`'s template asks for ambient capabilities with an empty inheritable set:
/// the kernel cannot raise those, and runc and crun leave them out. So does stockade,
/// while an ambient capability that is also inheritable is raised.
#[test]
#[ignore = "needs root"]
fn ambient_capabilities_need_to_be_inheritable_as_runc_and_crun_treat_them() {
    let mut c = Oci::new("grep CapAmb /proc/self/status > /out/amb");
    c.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL", "CAP_CHOWN"],
        "permitted": ["CAP_KILL", "CAP_CHOWN"], "inheritable": ["CAP_KILL"],
        "ambient": ["CAP_KILL", "CAP_CHOWN"]});
    let (code, err) = c.run("ambient");
    assert_eq!(code, 0, "{err}");
    // CAP_KILL = bit 5 alone: CAP_CHOWN was not inheritable.
    assert_eq!(c.out("amb"), "CapAmb:\t0000000000000020\n");
}

/// A config with a user namespace mapping 0..65536 inside to 100000.. on the host, as
/// podman --userns and Kubernetes user namespaces write it.
fn mapped(script: &str) -> Oci {
    let mut c = Oci::new(script);
    c.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c.config["linux"]["uidMappings"] = map.clone();
    c.config["linux"]["gidMappings"] = map;
    // The mapped root is uid 100000 on the host: it must reach the bundle and /out's
    // source through the (0700) temporary folder, and own the root file system to make
    // mount points in it (/out) as root inside, as with runc: neither chowns the rootfs;
    // podman's storage does (`--userns`), here the test.
    fs::set_permissions(c.tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
    chown_tree(&c.bundle().join("rootfs"), 100000);
    c
}

fn chown_tree(dir: &Path, id: u32) {
    std::os::unix::fs::lchown(dir, Some(id), Some(id)).unwrap();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            chown_tree(&p, id);
        } else {
            std::os::unix::fs::lchown(&p, Some(id), Some(id)).unwrap();
        }
    }
}

#[test]
#[ignore = "needs root"]
fn a_user_namespace_maps_root_inside_to_a_host_range() {
    use std::os::unix::fs::MetadataExt as _;
    let c = mapped(
        "cat /proc/self/uid_map > /out/uid_map; cat /proc/self/gid_map > /out/gid_map; \
         id -u > /out/uid; stat -c %u:%g /bin/busybox > /out/owner; touch /out/made",
    );
    let (code, err) = c.run("mapped");
    assert_eq!(code, 0, "{err}");
    let words = |f: &str| {
        c.out(f)
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(words("uid_map"), ["0", "100000", "65536"]);
    assert_eq!(words("gid_map"), ["0", "100000", "65536"]);
    assert_eq!(c.out("uid"), "0\n");
    assert_eq!(
        c.out("owner"),
        "0:0\n",
        "the rootfs's 100000 is root inside"
    );
    let made = fs::metadata(c.tmp.path().join("out/made")).unwrap();
    assert_eq!(
        (made.uid(), made.gid()),
        (100000, 100000),
        "root inside is 100000 outside"
    );
    assert!(
        fs::read_dir(c.root()).unwrap().next().is_none(),
        "run deletes"
    );

    // exec joins the user namespace: root inside again, 100000 outside.
    let c = mapped("exec sleep 100");
    c.create("mapped-exec");
    c.ok(&["start", "mapped-exec"]);
    let out = c.ok(&[
        "exec",
        "mapped-exec",
        "sh",
        "-c",
        "id -u; touch /out/by-exec",
    ]);
    assert_eq!(out, "0\n");
    let made = fs::metadata(c.tmp.path().join("out/by-exec")).unwrap();
    assert_eq!(made.uid(), 100000);
    c.ok(&["delete", "--force", "mapped-exec"]);

    // Mappings without a user namespace are refused with the key named.
    let mut c = Oci::new("true");
    c.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let (code, err) = c.run("unmapped");
    assert_ne!(code, 0);
    assert!(err.contains("config.json: linux.uidMappings:"), "{err}");
}
