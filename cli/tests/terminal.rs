//! The binary on a real terminal: each test opens a pty pair, runs `stockade` with the
//! slave as its controlling terminal (a new session, `TIOCSCTTY`) and talks over the
//! master as a person at a terminal would. The caller's terminal modes are read with
//! tcgetattr(3) before and after. Also the detached side: `create` returning at once,
//! `logs`, `logs -f`, `attach`, and logs removed by `delete`. Needs root.

#![cfg(target_os = "linux")]

use std::io::{Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stockade_term::pty::{self, Size};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A state root and a spec on the host's read-only view, in one temporary folder.
struct Env {
    tmp: tempfile::TempDir,
    spec: PathBuf,
}

impl Env {
    fn new(command: &str) -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let spec = tmp.path().join("env.toml");
        std::fs::write(
            &spec,
            format!(
                "name = \"t\"\n[root]\nhost = true\nreadonly = true\n[process]\ncommand = [\"/bin/sh\", \"-c\", {command:?}]\nenv = {{ PS1 = \"$ \" }}\n"
            ),
        )
        .unwrap();
        Env { tmp, spec }
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_stockade"));
        c.arg("--root").arg(self.root());
        c
    }

    fn output(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn pid_of(&self, name: &str) -> i32 {
        let (_, out, _) = self.output(&["state", name]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["pid"].as_i64().unwrap() as i32
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for name in ["t", "d"] {
            let _ = self.cmd().args(["delete", "--force", name]).output();
        }
    }
}

/// The caller's terminal: a pty pair whose slave is stockade's controlling terminal.
struct Terminal {
    master: std::fs::File,
    slave: OwnedFd,
    seen: Arc<Mutex<Vec<u8>>>,
}

/// The modes tcgetattr reports, as comparable values.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Modes {
    iflag: libc::tcflag_t,
    oflag: libc::tcflag_t,
    cflag: libc::tcflag_t,
    lflag: libc::tcflag_t,
    cc: Vec<libc::cc_t>,
}

impl Terminal {
    fn new() -> Terminal {
        let p = pty::open().unwrap();
        pty::set_size(&p.master, Size { rows: 24, cols: 80 }).unwrap();
        let master = std::fs::File::from(p.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            slave: p.slave,
            seen,
        }
    }

    /// Starts `cmd` with the slave as its controlling terminal and stdio.
    fn spawn(&self, cmd: &mut Command) -> Child {
        let fd = || Stdio::from(self.slave.try_clone().unwrap());
        cmd.stdin(fd()).stdout(fd()).stderr(fd());
        // SAFETY: between fork and exec only async-signal-safe calls on the child's own
        // descriptors: setsid(2) and ioctl(2) on stdin (the slave, dup2'd by Command).
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd.spawn().unwrap()
    }

    fn modes(&self) -> Modes {
        // SAFETY: termios is plain data; tcgetattr fills it for an open terminal fd.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `t` is a valid termios to write; the slave fd is open.
        let rc = unsafe { libc::tcgetattr(self.slave.as_raw_fd(), &mut t) };
        assert_eq!(rc, 0);
        Modes {
            iflag: t.c_iflag,
            oflag: t.c_oflag,
            cflag: t.c_cflag,
            lflag: t.c_lflag,
            cc: t.c_cc.to_vec(),
        }
    }

    fn type_(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits for `needle` in everything the terminal showed (a bound, so a hang fails).
    fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "never saw {needle:?} in {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn resize(&self, size: Size) {
        // The kernel sends SIGWINCH to the terminal's foreground process group: stockade.
        pty::set_size(self.master.as_fd(), size).unwrap();
    }
}

fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "stockade never exited");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the modes are back to `want` (the relay restores them as it exits).
fn wait_modes(term: &Terminal, want: &Modes) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while term.modes() != *want {
        assert!(
            Instant::now() < deadline,
            "modes not restored: {:?} != {want:?}",
            term.modes()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn children_of(pid: i32) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let close = stat.rfind(')').unwrap();
        let comm = stat[stat.find('(').unwrap() + 1..close].to_string();
        let ppid: i32 = stat[close + 2..]
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        if ppid == pid {
            out.push((p, comm));
        }
    }
    out
}

fn echo_off(m: &Modes) -> bool {
    m.lflag & libc::ECHO == 0 && m.lflag & libc::ICANON == 0
}

#[test]
#[ignore = "needs root"]
fn run_it_gives_a_terminal_that_follows_resizes_takes_ctrl_c_and_restores_modes() {
    assert!(is_root());
    let env = Env::new("exec /bin/sh -i");
    let mut term = Terminal::new();
    let before = term.modes();
    assert!(!echo_off(&before));
    let mut child = term.spawn(env.cmd().args(["run", "-it", "--name", "t"]).arg(&env.spec));
    term.type_("tty\r");
    term.expect("/dev/pts/0");
    // Raw mode on the caller's terminal while the relay runs.
    assert!(echo_off(&term.modes()), "{:?}", term.modes());
    term.type_("stty size\r");
    term.expect("24 80");
    term.resize(Size {
        rows: 41,
        cols: 123,
    });
    std::thread::sleep(Duration::from_millis(200));
    term.type_("stty size\r");
    term.expect("41 123");
    // Ctrl-C interrupts the command inside; stockade and the shell live on.
    term.type_("sleep 100; echo not-$((6*7))-interrupted\r");
    std::thread::sleep(Duration::from_millis(300));
    term.type_("\x03");
    term.type_("echo alive-$((20+22))\r");
    term.expect("alive-42");
    assert!(!term.text().contains("not-42-interrupted"));
    assert!(
        child.try_wait().unwrap().is_none(),
        "Ctrl-C reached stockade"
    );
    term.type_("exit 7\r");
    assert_eq!(wait_exit(&mut child), 7);
    assert_eq!(term.modes(), before);
    assert!(!env.root().join("t").exists(), "run left its state folder");
}

#[test]
#[ignore = "needs root"]
fn exec_it_joins_with_a_terminal_of_its_own_and_restores_modes() {
    assert!(is_root());
    let env = Env::new("sleep 1000");
    let (code, _, err) = env.output(&["run", "-d", "--name", "t", env.spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let mut term = Terminal::new();
    let before = term.modes();
    let mut child = term.spawn(env.cmd().args(["exec", "-it", "t", "--", "/bin/sh"]));
    term.type_("tty; echo pid-$$\r");
    term.expect("/dev/pts/0");
    term.expect("pid-");
    term.type_("exit 3\r");
    assert_eq!(wait_exit(&mut child), 3);
    assert_eq!(term.modes(), before);
    // console is exec -it with the environment's login shell.
    let mut child = term.spawn(env.cmd().args(["console", "t"]));
    term.type_("echo shell-$((1+2)); exit 5\r");
    term.expect("shell-3");
    assert_eq!(wait_exit(&mut child), 5);
    assert_eq!(term.modes(), before);
}

#[test]
#[ignore = "needs root"]
fn sigkill_of_the_process_of_the_relay_or_of_stockade_leaves_the_modes_as_they_were() {
    assert!(is_root());
    let env = Env::new("exec /bin/sh -i");
    let mut term = Terminal::new();
    let before = term.modes();

    // The environment's process killed from outside: run ends 128+9.
    let mut child = term.spawn(env.cmd().args(["run", "-t", "--name", "t"]).arg(&env.spec));
    term.type_("echo p1-$((1+1))\r");
    term.expect("p1-2");
    let pid = env.pid_of("t");
    // SAFETY: kill(2) with a pid read from the state; no memory involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    assert_eq!(wait_exit(&mut child), 137);
    assert_eq!(term.modes(), before);

    // The relay process killed: the environment's terminal hangs up, the shell ends,
    // stockade restores the modes.
    let mut child = term.spawn(env.cmd().args(["run", "-t", "--name", "t"]).arg(&env.spec));
    term.type_("echo up-$((3+4))\r");
    term.expect("up-7");
    let stockade = child.id() as i32;
    let deadline = Instant::now() + Duration::from_secs(20);
    let relay = loop {
        let found = children_of(stockade)
            .into_iter()
            .find(|(_, comm)| comm == "stockade");
        if let Some((p, _)) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no relay process");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(echo_off(&term.modes()));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(relay, libc::SIGKILL) }, 0);
    wait_exit(&mut child);
    assert_eq!(term.modes(), before);

    // stockade itself killed: the relay notices and puts the modes back.
    let mut child = term.spawn(env.cmd().args(["run", "-t", "--name", "t"]).arg(&env.spec));
    term.type_("echo p3-$((3+3))\r");
    term.expect("p3-6");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !echo_off(&term.modes()) {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    wait_modes(&term, &before);
}

#[test]
#[ignore = "needs root"]
fn create_returns_at_once_logs_follow_and_delete_removes_them() {
    assert!(is_root());
    let env = Env::new("echo one; echo oops >&2; sleep 1; echo two");
    // Captured stdout, as `x=$(stockade create ...)`: EOF as soon as create is done.
    let mut create = env
        .cmd()
        .args(["create", "--name", "t"])
        .arg(&env.spec)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    create
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "t\n");
    assert_eq!(wait_exit(&mut create), 0);
    let (code, _, err) = env.output(&["start", "t"]);
    assert_eq!(code, 0, "{err}");
    // -f follows until the environment exits, stdout and stderr apart.
    let (code, out, err) = env.output(&["logs", "-f", "t"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "one\ntwo\n", "oops\n")
    );
    let (_, out, _) = env.output(&["logs", "--timestamps", "--tail", "1", "t"]);
    assert!(out.ends_with("Z two\n") && out.starts_with("20"), "{out:?}");
    let (_, out, _) = env.output(&["logs", "--since", "2100-01-01T00:00:00Z", "t"]);
    assert_eq!(out, "");
    let dir = env.root().join("t");
    assert!(dir.join("output.log").exists());
    let (code, _, err) = env.output(&["delete", "t"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.exists());
    let (code, _, err) = env.output(&["logs", "t"]);
    assert_ne!(code, 0);
    assert!(err.contains("t"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn attach_reaches_a_detached_terminal_and_ctrl_p_ctrl_q_detaches() {
    assert!(is_root());
    let env = Env::new("exec /bin/sh -i");
    let (code, out, err) =
        env.output(&["run", "-d", "-t", "--name", "t", env.spec.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "t\n"), "{err}");
    let mut term = Terminal::new();
    let before = term.modes();
    let mut child = term.spawn(env.cmd().args(["attach", "t"]));
    term.expect("detach: ctrl-p ctrl-q");
    term.type_("echo hi-$((2+3)); tty\r");
    term.expect("hi-5");
    term.expect("/dev/pts/0");
    term.type_("\x10\x11");
    assert_eq!(wait_exit(&mut child), 0);
    assert!(term.text().contains("detached from t"));
    assert_eq!(term.modes(), before);
    // Still running, and what it printed is in its log.
    let (_, state, _) = env.output(&["state", "t"]);
    assert!(state.contains("\"running\""), "{state}");
    let (_, log, _) = env.output(&["logs", "t"]);
    assert!(log.contains("hi-5"), "{log:?}");
    let mut child = term.spawn(env.cmd().args(["attach", "t"]));
    term.expect("attached to t");
    std::thread::sleep(Duration::from_millis(200));
    term.type_("exit 4\r");
    assert_eq!(wait_exit(&mut child), 4);
    assert_eq!(term.modes(), before);
}

#[test]
#[ignore = "needs root"]
fn process_terminal_in_the_spec_is_run_t() {
    assert!(is_root());
    let env = Env::new("tty; stty size");
    let text = std::fs::read_to_string(&env.spec).unwrap();
    std::fs::write(
        &env.spec,
        text.replace("[process]\n", "[process]\nterminal = true\n"),
    )
    .unwrap();
    let term = Terminal::new();
    let before = term.modes();
    term.resize(Size { rows: 33, cols: 99 });
    let mut child = term.spawn(env.cmd().arg("run").arg(&env.spec));
    term.expect("/dev/pts/0");
    term.expect("33 99");
    assert_eq!(wait_exit(&mut child), 0);
    assert_eq!(term.modes(), before);
    let (_, plan, _) = env.output(&["plan", env.spec.to_str().unwrap()]);
    assert!(
        plan.contains("open a pty from the environment's /dev/ptmx"),
        "{plan}"
    );
    let (_, plan, _) = env.output(&["plan", "--target", "freebsd", env.spec.to_str().unwrap()]);
    assert!(
        plan.contains("open a pty from the jail's /dev/ptmx"),
        "{plan}"
    );
}

#[test]
#[ignore = "needs root"]
fn slow_steps_show_a_progress_line_on_a_terminal_only() {
    assert!(is_root());
    // PID 1 without a handler ignores SIGTERM: stop waits out its grace time.
    let env = Env::new("exec sleep 1000");
    let (code, _, err) = env.output(&["run", "-d", "--name", "t", env.spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let term = Terminal::new();
    let mut child = term.spawn(env.cmd().args(["stop", "--time", "2", "t"]));
    assert_eq!(wait_exit(&mut child), 0);
    term.expect("stockade: stopping t (SIGKILL after 2s)... 1s");
    // Erased at the end, so the prompt that follows starts on a clean line.
    term.expect("\r\x1b[K");
    let (code, _, err) = env.output(&["run", "-d", "--name", "d", env.spec.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = env.output(&["stop", "--time", "2", "d"]);
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "", ""),
        "silent on a pipe"
    );
}
