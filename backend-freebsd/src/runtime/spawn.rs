//! Starting the environment's process: the fork tree, the child's steps into the jail,
//! and the monitor that records its exit.
//!
//! ```text
//! creator (the CLI)
//!  ├─ foreground (`run`, `exec`): fork → the process, the creator's own child
//!  └─ detached (`create`, `run -d`): fork → helper: setsid, fork → monitor, exit
//!                                      monitor: fork → the process, then fexecve(3)
//!                                      stockade-monitor: wait(2) for it, record its
//!                                      exit in state.json, exit
//! ```
//! The helper exits at once, so the monitor is re-parented to init and outlives the
//! command; it keeps only its pipes (every other inherited descriptor, the state lock
//! above all, is closed) and holds no lock while it waits.
//!
//! # The process's steps (the plan's exec steps, in order)
//! 1. read one byte from the `go` pipe: the creator has recorded its pid (EOF: the
//!    creator died; exit);
//! 2. jail_attach(2) to the jail; from here on paths are the jail's;
//! 3. read the jail's /etc/passwd and /etc/group, resolve the user;
//! 4. setrlimit(2) `RLIMIT_NOFILE`; setgroups(2) `[gid]`, setgid(2), setuid(2);
//! 5. chdir(2) to the working folder, as the user;
//! 6. report `R` on the `ready` pipe, or `E <message>` and exit;
//! 7. created, not started: block reading the exec fifo until `start` writes to it;
//! 8. closefrom(2) 3, then execve(2) each `PATH` candidate; on failure print the reason
//!    and exit 127 (not found) or 126, as a shell does.
//!
//! The process is forked from a single-threaded stockade, so its child side may
//! allocate; the argument arrays are still built before execve's loop.

use std::ffi::CString;
use std::fs;
use std::io::{self, Read as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
use nix::unistd::{chdir, setgid, setgroups, setsid, setuid, Gid, Uid};
use stockade_core::backend::Stdio;
use stockade_core::logs::{LogWriter, ATTACH_SOCKET, DEFAULT_CAP};
use stockade_core::state::{StateStore, Status};
use stockade_term::launch::Handoff;
use stockade_term::monitor::{LogSink, Sources};

use crate::kernel::Jid;
use crate::lifecycle::exit_of;
use crate::process::{resolve, ProcessConfig};
use crate::sys::proc::{self, CArray, Forked};

/// The creator's ends after a successful spawn.
pub struct Spawned {
    /// The process's host pid.
    pub pid: i32,
    /// The creator's end of the `go` pipe: write one byte to let the process proceed.
    pub go: OwnedFd,
    /// The creator's end of the `ready` pipe: `R`, or `E <message>`.
    pub ready: OwnedFd,
    /// The socket the process sends its pty master over, when the creator takes it
    /// (`Stdio::Terminal`); it is sent before `R`.
    pub terminal: Option<OwnedFd>,
}

/// What the monitor reads the process's output from (see the Linux runtime: the same
/// model, the same `stockade_term` code).
enum MonitorOutput {
    None,
    Pipes { out: OwnedFd, err: OwnedFd },
    Terminal(OwnedFd),
}

impl MonitorOutput {
    fn fds(&self) -> Vec<RawFd> {
        match self {
            MonitorOutput::None => Vec::new(),
            MonitorOutput::Pipes { out, err } => vec![out.as_raw_fd(), err.as_raw_fd()],
            MonitorOutput::Terminal(sock) => vec![sock.as_raw_fd()],
        }
    }
}

/// What the detached monitor needs to record the exit.
pub struct Monitor {
    /// The state store.
    pub store: StateStore,
    /// The environment's name.
    pub name: String,
    /// The monitor program, opened by the creator (`stockade_term::launch::locate`).
    pub program: OwnedFd,
    /// /dev/null, for the monitor's standard streams.
    pub null: OwnedFd,
}

/// The child's view: descriptors it uses, prepared before forking.
struct ChildFds {
    go: OwnedFd,
    ready: OwnedFd,
    fifo: Option<OwnedFd>,
    devnull: Option<fs::File>,
    /// stdout and stderr's pipe write ends (`Stdio::Log`).
    out: Option<(OwnedFd, OwnedFd)>,
    /// The socket to send the pty master over.
    terminal: Option<OwnedFd>,
}

impl ChildFds {
    fn raw(&self) -> Vec<RawFd> {
        let mut v = vec![self.go.as_raw_fd(), self.ready.as_raw_fd()];
        v.extend(self.fifo.as_ref().map(AsRawFd::as_raw_fd));
        v.extend(self.devnull.as_ref().map(AsRawFd::as_raw_fd));
        v.extend(
            self.out
                .iter()
                .flat_map(|(o, e)| [o.as_raw_fd(), e.as_raw_fd()]),
        );
        v.extend(self.terminal.as_ref().map(AsRawFd::as_raw_fd));
        v
    }
}

/// Starts the process; with `monitor`, detached under a monitor, else as the caller's
/// child.
pub fn spawn(
    cfg: &ProcessConfig,
    jid: Jid,
    stdio: Stdio,
    fifo: Option<OwnedFd>,
    monitor: Option<Monitor>,
) -> io::Result<Spawned> {
    let (go_r, go_w) = proc::pipe()?;
    let (ready_r, ready_w) = proc::pipe()?;
    let devnull = match stdio {
        Stdio::Detached | Stdio::Log => Some(fs::File::open("/dev/null")?),
        Stdio::Inherit | Stdio::Terminal | Stdio::LogTerminal => None,
    };
    let logged = matches!(stdio, Stdio::Log | Stdio::LogTerminal) && monitor.is_some();
    let pair = || -> io::Result<(OwnedFd, OwnedFd)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((a.into(), b.into()))
    };
    let (mut out, mut terminal, mut creator_terminal) = (None, None, None);
    let mut output = MonitorOutput::None;
    match (stdio.terminal(), logged) {
        (true, true) => {
            let (child_end, monitor_end) = pair()?;
            terminal = Some(child_end);
            output = MonitorOutput::Terminal(monitor_end);
        }
        (true, false) => {
            let (child_end, creator_end) = pair()?;
            terminal = Some(child_end);
            creator_terminal = Some(creator_end);
        }
        (false, true) => {
            let (out_r, out_w) = proc::pipe()?;
            let (err_r, err_w) = proc::pipe()?;
            out = Some((out_w, err_w));
            output = MonitorOutput::Pipes {
                out: out_r,
                err: err_r,
            };
        }
        (false, false) => {}
    }
    let fds = ChildFds {
        go: go_r,
        ready: ready_w,
        fifo,
        devnull,
        out,
        terminal,
    };
    let pid = match monitor {
        None => match proc::fork()? {
            Forked::Child => child(cfg, jid, fds),
            Forked::Parent(pid) => {
                drop(fds);
                pid
            }
        },
        Some(m) => detached(cfg, jid, fds, m, output)?,
    };
    Ok(Spawned {
        pid,
        go: go_w,
        ready: ready_r,
        terminal: creator_terminal,
    })
}

/// helper → monitor → process; returns the process's pid.
fn detached(
    cfg: &ProcessConfig,
    jid: Jid,
    fds: ChildFds,
    m: Monitor,
    output: MonitorOutput,
) -> io::Result<i32> {
    let (pid_r, pid_w) = proc::pipe()?;
    match proc::fork()? {
        Forked::Child => {
            let mut keep: Vec<RawFd> = vec![pid_w.as_raw_fd(), 0, 1, 2];
            keep.extend(fds.raw());
            keep.extend(output.fds());
            keep.extend([m.program.as_raw_fd(), m.null.as_raw_fd()]);
            proc::close_all_but(&keep);
            let _ = setsid();
            match proc::fork() {
                Ok(Forked::Child) => monitor(cfg, jid, fds, pid_w, m, output),
                Ok(Forked::Parent(_)) => proc::exit_child(0),
                Err(_) => proc::exit_child(1),
            }
        }
        Forked::Parent(helper) => {
            drop(pid_w);
            drop(output);
            drop((m.program, m.null));
            let mut buf = [0u8; 4];
            let got = fs::File::from(pid_r).read_exact(&mut buf);
            proc::wait(helper)?;
            got.map_err(|_| io::Error::other("the monitor died before starting the process"))?;
            Ok(i32::from_ne_bytes(buf))
        }
    }
}

/// The monitor: starts the process, reports its pid, then becomes the `stockade-monitor`
/// program (see [`monitor_main`]); serves in this process only if that program cannot be
/// executed.
fn monitor(
    cfg: &ProcessConfig,
    jid: Jid,
    fds: ChildFds,
    pid_w: OwnedFd,
    m: Monitor,
    output: MonitorOutput,
) -> ! {
    let pid = match proc::fork() {
        Ok(Forked::Child) => {
            drop(pid_w);
            drop(output);
            drop((m.program, m.null));
            child(cfg, jid, fds)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(_) => proc::exit_child(1),
    };
    // The child's ends of its pipes close here, so the log sees EOF when it ends.
    drop(fds);
    proc::write_all(pid_w.as_raw_fd(), &pid.to_ne_bytes());
    drop(pid_w);
    let (out, err, terminal) = match output {
        MonitorOutput::None => (None, None, None),
        MonitorOutput::Pipes { out, err } => (Some(out), Some(err), None),
        MonitorOutput::Terminal(sock) => (None, None, Some(sock)),
    };
    let handoff = Handoff {
        root: m.store.root().to_path_buf(),
        name: m.name,
        pid,
        report: None,
        out,
        err,
        terminal,
    };
    match handoff.exec(m.program, Some(m.null)) {
        (_, Some(back)) => monitor_main(back),
        (_, None) => proc::exit_child(1),
    }
}

/// The detached monitor, as the `stockade-monitor` program runs it: keeps the output (log,
/// attach socket), waits for the process (its child), records the exit; never returns.
pub fn monitor_main(h: Handoff) -> ! {
    let _ = chdir("/");
    let Handoff {
        root,
        name,
        pid,
        report: _,
        out,
        err,
        terminal,
    } = h;
    let store = StateStore::new(root);
    let output = match (out, err, terminal) {
        (Some(out), Some(err), _) => MonitorOutput::Pipes { out, err },
        (_, _, Some(sock)) => MonitorOutput::Terminal(sock),
        _ => MonitorOutput::None,
    };
    keep_output(output, &store.dir(&name));
    let Ok(status) = proc::wait(pid) else {
        proc::exit_child(1)
    };
    let (code, signal) = proc::decode(status);
    // The creator holds the lock until it is done; wait for it.
    if let Ok(mut entry) = store.open(&name, true) {
        if entry.state.pid == Some(pid) {
            entry.state.exit = Some(exit_of(code, signal, None));
            entry.state.status = Status::Stopped;
            let _ = entry.save();
        }
    }
    proc::exit_child(0)
}

/// Logs the output until every source is closed; for a terminal, serves `attach`. There
/// is no pidfd here: the loop ends when the pipes reach EOF or the master EIO.
fn keep_output(output: MonitorOutput, dir: &Path) {
    let mut sources = Sources::default();
    match output {
        MonitorOutput::None => return,
        MonitorOutput::Pipes { out, err } => {
            sources.out = Some(out);
            sources.err = Some(err);
        }
        MonitorOutput::Terminal(sock) => {
            let mut tag = [0u8; 1];
            let Ok(Some((master, _))) = stockade_term::fdpass::recv(sock.as_fd(), &mut tag) else {
                return;
            };
            let path = dir.join(ATTACH_SOCKET);
            let _ = fs::remove_file(&path);
            sources.listener = std::os::unix::net::UnixListener::bind(&path).ok();
            sources.master = Some(master);
        }
    }
    let mut sink = LogSink(LogWriter::open(dir, DEFAULT_CAP).ok());
    stockade_term::monitor::serve(sources, &mut sink);
    let _ = fs::remove_file(dir.join(ATTACH_SOCKET));
}

/// Reports a setup failure on the ready pipe and exits.
fn fail(ready: &OwnedFd, what: &str, err: impl std::fmt::Display) -> ! {
    let msg = format!("E {what}: {err}");
    proc::write_all(ready.as_raw_fd(), msg.as_bytes());
    proc::exit_child(125)
}

/// The process's side (see the module documentation); never returns.
fn child(cfg: &ProcessConfig, jid: Jid, fds: ChildFds) -> ! {
    // The creator may block signals to relay them; the command starts with none blocked.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    if let Some(null) = &fds.devnull {
        if let Err(e) = proc::dup2(null.as_raw_fd(), 0) {
            fail(&fds.ready, "stdin from /dev/null", e);
        }
    }
    if let Some((out, err)) = &fds.out {
        if let Err(e) = proc::dup2(out.as_raw_fd(), 1).and_then(|()| proc::dup2(err.as_raw_fd(), 2))
        {
            fail(&fds.ready, "stdout and stderr to the log", e);
        }
    }
    let mut byte = [0u8; 1];
    if !matches!(nix::unistd::read(&fds.go, &mut byte), Ok(1)) {
        proc::exit_child(1);
    }
    if let Err(e) = proc::jail_attach(jid.0) {
        fail(&fds.ready, &format!("jail_attach {}", cfg.jail), e);
    }
    // Inside the jail now: these are the environment's files.
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    let cred = match resolve(&cfg.user, &passwd, &group) {
        Ok(c) => c,
        Err(e) => fail(&fds.ready, "user", e),
    };
    if let Some(n) = cfg.nofile {
        let lim = libc::rlim_t::try_from(n).unwrap_or(libc::RLIM_INFINITY);
        if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, lim, lim) {
            fail(&fds.ready, &format!("setrlimit RLIMIT_NOFILE {n}"), e);
        }
    }
    // [gid] as the whole list: "no supplementary groups" on every release (on FreeBSD
    // before 15 the first entry is also the effective gid).
    if let Err(e) = setgroups(&[Gid::from_raw(cred.gid)]) {
        fail(&fds.ready, "setgroups", e);
    }
    if let Err(e) = setgid(Gid::from_raw(cred.gid)) {
        fail(&fds.ready, &format!("setgid {}", cred.gid), e);
    }
    if let Err(e) = setuid(Uid::from_raw(cred.uid)) {
        fail(&fds.ready, &format!("setuid {}", cred.uid), e);
    }
    if let Err(e) = chdir(&cfg.cwd) {
        fail(&fds.ready, &format!("chdir {}", cfg.cwd.display()), e);
    }
    if let Some(sock) = &fds.terminal {
        // Inside the jail, as the user: the jail's devfs (ruleset 4) shows ptmx and pts,
        // and the terminal belongs to the user who opened it.
        let pty = match stockade_term::pty::open_sized_like_stdin() {
            Ok(p) => p,
            Err(e) => fail(&fds.ready, "open a terminal from the jail's /dev/ptmx", e),
        };
        if let Err(e) = stockade_term::fdpass::send(sock.as_fd(), pty.master.as_fd(), b"M") {
            fail(&fds.ready, "hand over the terminal", e);
        }
        drop(pty.master);
        if let Err(e) = stockade_term::pty::make_controlling(pty.slave) {
            fail(&fds.ready, "make the terminal controlling", e);
        }
    }
    let env = match cfg.environment(&cred.home) {
        Ok(env) => env,
        Err(e) => fail(&fds.ready, "environment", e),
    };
    let (argv, envp) = match (CArray::from_strs(&cfg.argv), CArray::from_strs(&env)) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => fail(&fds.ready, "command", e),
    };
    let candidates: Vec<CString> = cfg
        .candidates()
        .iter()
        .filter_map(|p| CString::new(p.as_os_str().as_bytes()).ok())
        .collect();
    proc::write_all(fds.ready.as_raw_fd(), b"R");
    drop(fds.ready);
    if let Some(fifo) = &fds.fifo {
        // Blocks until `start` writes; the fifo is open read-write, so no EOF meanwhile.
        if !matches!(nix::unistd::read(fifo, &mut byte), Ok(1)) {
            proc::exit_child(1);
        }
    }
    proc::closefrom(3);
    let mut last = io::Error::from_raw_os_error(libc::ENOENT);
    for path in &candidates {
        let e = proc::execve(path, &argv, &envp);
        // Keep looking after "not here"; anything else is the answer, as execvp(3) does.
        let not_here = matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR));
        last = e;
        if !not_here {
            break;
        }
    }
    let code = if last.raw_os_error() == Some(libc::ENOENT) {
        127
    } else {
        126
    };
    let msg = format!("stockade: {}: {last}\n", cfg.argv[0]);
    proc::write_all(2, msg.as_bytes());
    proc::exit_child(code)
}

/// Reads the process's `ready` report: Ok when set up, else its message.
pub fn read_ready(ready: OwnedFd) -> Result<(), String> {
    let mut answer = String::new();
    if fs::File::from(ready).read_to_string(&mut answer).is_err() {
        return Err(String::new());
    }
    match answer.strip_prefix('E') {
        _ if answer == "R" => Ok(()),
        Some(msg) => Err(msg.trim().to_string()),
        None => Err(String::new()),
    }
}

/// The exec fifo's path in a state folder.
pub fn fifo_path(dir: &Path) -> std::path::PathBuf {
    dir.join(crate::lifecycle::EXEC_FIFO)
}
