//! Making the environment's first process: fork(2) a helper, clone3(2) the process into its
//! new namespaces (and, on cgroup v2, straight into its cgroup with `CLONE_INTO_CGROUP`),
//! synchronise over pipes (pipe(7)), and — for `create` and `run -d` — leave a small
//! monitor (double fork + setsid(2)) that is the process's parent: once the process
//! exists, the forked monitor executes the `stockade-monitor` program (by a descriptor
//! opened before any fork, see `stockade_term::launch`), which waits for it (wait(2)),
//! keeps its output and records its exit in state.json ([`super::monitor`]).
//!
//! # Processes
//! ```text
//! creator (the CLI, possibly multi-threaded)
//!  └─ fork ─ helper (single-threaded: safe to clone3 raw)
//!      ├─ foreground: clone3(CLONE_PARENT) → the first process is the creator's child;
//!      │              the helper exits at once
//!      └─ detached:   setsid, fork → monitor; clone3 → the first process is its child;
//!                     the monitor then execve's stockade-monitor (same PID, same child)
//! ```
//! # Synchronisation
//! - `pid` pipe: helper → creator, the first process's host PID (4 bytes);
//! - `go` pipe: creator → process, one byte once the PID is recorded, the process is in
//!   its cgroups and its network is linked; EOF (the creator died) makes the process exit.
//!   The process builds its root meanwhile, and makes its cgroup namespace after `go`;
//! - `ready` pipe: process → creator, `R` when the root is built, or `E <message>`;
//! - `report` pipe: process → its waiter, `<code> <message>` when exec fails; EOF on a
//!   successful execve (it is close-on-exec);
//! - the exec fifo in the state folder: the process blocks reading it until `start`
//!   writes a byte (it opened it read-write, so it never sees EOF while waiting).

use std::ffi::CString;
use std::fs;
use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use stockade_core::state::{Exit, StateStore};
use stockade_term::launch::Handoff;

use super::process::{self, ProcessConfig, EXIT_STOCKADE};
use super::sys::{self, Forked};
use super::{init, net, rootfs};
use crate::plan::net::{NetStep, Netns};
use crate::plan::ns::Namespace;
use crate::plan::LinuxPlan;

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)
}

/// Everything the new process needs, prepared by the creator before forking so the child
/// side only runs system calls.
pub struct ChildSetup<'a> {
    /// The plan.
    pub plan: &'a LinuxPlan,
    /// The process part of it.
    pub cfg: &'a ProcessConfig,
    /// Where the process's standard streams go.
    pub stdio: ChildStdio,
    /// The exec fifo, opened read-write; `None` starts at once.
    pub fifo: Option<OwnedFd>,
    /// Rootless: the read end of the `mapped` pipe; the process waits on it until the
    /// creator has written its id maps (see `userns`).
    pub userns_mapped: Option<OwnedFd>,
}

/// The process's standard streams, as the child sets them up.
pub enum ChildStdio {
    /// The creator's own (foreground, no terminal).
    Inherit,
    /// stdin from /dev/null, stdout and stderr kept (runc's pass-through).
    NullStdin,
    /// stdin from /dev/null, stdout and stderr onto these pipe write ends (the monitor
    /// logs the read ends).
    Pipes {
        /// stdout's write end.
        out: OwnedFd,
        /// stderr's write end.
        err: OwnedFd,
    },
    /// A pty opened inside the environment; its master goes over this unix socket to
    /// whoever holds the other end (the creator or the monitor).
    Terminal(OwnedFd),
}

impl ChildStdio {
    fn fds(&self) -> Vec<RawFd> {
        match self {
            ChildStdio::Inherit | ChildStdio::NullStdin => Vec::new(),
            ChildStdio::Pipes { out, err } => vec![out.as_raw_fd(), err.as_raw_fd()],
            ChildStdio::Terminal(sock) => vec![sock.as_raw_fd()],
        }
    }
}

/// The creator's ends after a successful spawn.
pub struct Spawned {
    /// The first process's host PID.
    pub pid: Pid,
    /// The creator's end of the `go` pipe.
    pub go: OwnedFd,
    /// The creator's end of the `ready` pipe.
    pub ready: OwnedFd,
    /// The report pipe's read end when the creator waits for the process (foreground).
    pub report: Option<OwnedFd>,
}

/// What the detached monitor needs to record the exit and keep the output.
pub struct MonitorArgs {
    /// The state store.
    pub store: StateStore,
    /// The environment's name.
    pub name: String,
    /// The process's output, when the monitor keeps it.
    pub output: MonitorOutput,
    /// The monitor program, opened in the host's namespaces
    /// (`stockade_term::launch::locate`).
    pub program: OwnedFd,
    /// /dev/null, opened likewise, for the monitor's standard streams.
    pub null: OwnedFd,
}

/// What the monitor reads the process's output from.
pub enum MonitorOutput {
    /// Nothing (the output goes elsewhere).
    None,
    /// The read ends of the stdout and stderr pipes.
    Pipes {
        /// stdout.
        out: OwnedFd,
        /// stderr.
        err: OwnedFd,
    },
    /// The socket the process sends its pty master over.
    Terminal(OwnedFd),
}

impl MonitorArgs {
    fn fds(&self) -> Vec<RawFd> {
        let mut fds = vec![self.program.as_raw_fd(), self.null.as_raw_fd()];
        match &self.output {
            MonitorOutput::None => {}
            MonitorOutput::Pipes { out, err } => fds.extend([out.as_raw_fd(), err.as_raw_fd()]),
            MonitorOutput::Terminal(sock) => fds.push(sock.as_raw_fd()),
        }
        fds
    }
}

/// Clones the first process, from a forked helper unless the creator can do it itself. `cgroup_v2` is the folder to be born in
/// (`CLONE_INTO_CGROUP`); `monitor` makes the process detached with a monitor as parent,
/// otherwise it is the caller's child.
pub fn spawn(
    setup: ChildSetup<'_>,
    cgroup_v2: Option<OwnedFd>,
    monitor: Option<MonitorArgs>,
) -> io::Result<Spawned> {
    let (pid_r, pid_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let (report_r, report_w) = pipe()?;
    let flags = clone_flags(setup.plan);
    // Opened here, so a wrong path is reported with its name; entered by the helper.
    let join = open_namespaces(setup.plan)?;

    // The helper enters joined namespaces, detaches the monitor, makes a rootless process
    // dumpable for its id maps, and clones from a single-threaded process. When none of
    // that is needed (a foreground create by the CLI: `stockade run`, `stockade oci
    // run|create`), the creator clones the process itself: one fork, one exit and one
    // hand-off between processes fewer before the process exists.
    if monitor.is_none()
        && join.is_empty()
        && setup.userns_mapped.is_none()
        && sys::single_threaded()
    {
        drop((pid_r, pid_w));
        return match sys::clone3(flags, cgroup_v2.as_ref().map(|f| f.as_fd()), false)? {
            Forked::Child => {
                // Dropped before the fds are closed by number, never after.
                drop((go_w, ready_r, report_r));
                let mut keep: Vec<RawFd> =
                    vec![go_r.as_raw_fd(), ready_w.as_raw_fd(), report_w.as_raw_fd()];
                keep.extend(setup.fifo.as_ref().map(|f| f.as_raw_fd()));
                keep.extend(cgroup_v2.as_ref().map(|f| f.as_raw_fd()));
                keep.extend(setup.stdio.fds());
                // As in the helper: the creator's other fds (the state lock above all)
                // must not live on in the process.
                close_all_but(&keep);
                child_main(setup, go_r, ready_w, report_w)
            }
            Forked::Parent(pid) => {
                drop((go_r, ready_w, report_w, cgroup_v2));
                drop(setup.fifo);
                drop(setup.stdio);
                Ok(Spawned {
                    pid,
                    go: go_w,
                    ready: ready_r,
                    report: Some(report_r),
                })
            }
        };
    }

    match sys::fork()? {
        Forked::Child => {
            drop((pid_r, go_w, ready_r));
            let mut keep: Vec<RawFd> = vec![
                pid_w.as_raw_fd(),
                go_r.as_raw_fd(),
                ready_w.as_raw_fd(),
                report_w.as_raw_fd(),
                report_r.as_raw_fd(),
            ];
            keep.extend(setup.fifo.as_ref().map(|f| f.as_raw_fd()));
            keep.extend(setup.userns_mapped.as_ref().map(|f| f.as_raw_fd()));
            keep.extend(cgroup_v2.as_ref().map(|f| f.as_raw_fd()));
            keep.extend(setup.stdio.fds());
            keep.extend(monitor.as_ref().map_or(Vec::new(), MonitorArgs::fds));
            keep.extend(join.iter().map(|(_, f)| f.as_raw_fd()));
            // The creator's other fds (the state lock above all, other tests' pipes in a
            // test binary) must not live on in the helper, the monitor or the process.
            close_all_but(&keep);
            helper(
                setup, flags, join, cgroup_v2, monitor, pid_w, go_r, ready_w, report_w, report_r,
            )
        }
        Forked::Parent(helper_pid) => {
            drop((pid_w, go_r, ready_w, report_w));
            drop(setup.fifo);
            drop(setup.stdio);
            let foreground = monitor.is_none();
            // The monitor's ends (log pipes, terminal socket) live on in the monitor only.
            drop(monitor);
            drop(setup.userns_mapped);
            drop(cgroup_v2);
            let mut buf = [0u8; 4];
            let got = read_full(&pid_r, &mut buf);
            // The helper exits right after sending the PID (or after the first fork when
            // detached): reap it so it never lingers as a zombie.
            let _ = waitpid(helper_pid, None);
            if got? != 4 {
                return Err(io::Error::other(
                    "the helper process died before the environment's process existed",
                ));
            }
            Ok(Spawned {
                pid: Pid::from_raw(i32::from_ne_bytes(buf)),
                go: go_w,
                ready: ready_r,
                report: foreground.then_some(report_r),
            })
        }
    }
}

/// The plan's namespaces to join, opened (`O_RDONLY | O_CLOEXEC`).
fn open_namespaces(plan: &LinuxPlan) -> io::Result<Vec<(CloneFlags, OwnedFd)>> {
    plan.extra
        .join
        .iter()
        .map(|j| {
            let flag = match j.namespace {
                Namespace::Pid => CloneFlags::CLONE_NEWPID,
                Namespace::Mount => CloneFlags::CLONE_NEWNS,
                Namespace::Uts => CloneFlags::CLONE_NEWUTS,
                Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
                Namespace::Net => CloneFlags::CLONE_NEWNET,
                Namespace::Cgroup => CloneFlags::CLONE_NEWCGROUP,
                Namespace::User => CloneFlags::CLONE_NEWUSER,
            };
            let fd = nix::fcntl::open(&j.path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("{} namespace {}: {e}", j.namespace, j.path.display()),
                )
            })?;
            Ok((flag, fd))
        })
        .collect()
}

fn clone_flags(plan: &LinuxPlan) -> u64 {
    let mut flags = CloneFlags::empty();
    for ns in &plan.namespaces.create {
        flags |= match ns {
            Namespace::Pid => CloneFlags::CLONE_NEWPID,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Uts => CloneFlags::CLONE_NEWUTS,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            // Unshared by the process itself once it sits in its cgroups, so the
            // namespace's root is the environment's cgroup on v1 too.
            Namespace::Cgroup => CloneFlags::empty(),
            Namespace::User => CloneFlags::CLONE_NEWUSER,
        };
    }
    flags.bits() as u64
}

#[allow(clippy::too_many_arguments)]
fn helper(
    setup: ChildSetup<'_>,
    flags: u64,
    join: Vec<(CloneFlags, OwnedFd)>,
    cgroup_v2: Option<OwnedFd>,
    monitor: Option<MonitorArgs>,
    pid_w: OwnedFd,
    go_r: OwnedFd,
    ready_w: OwnedFd,
    report_w: OwnedFd,
    report_r: OwnedFd,
) -> ! {
    if monitor.is_some() {
        // Detach from the caller's session and process group, then fork again so the
        // monitor is not a session leader and the creator can reap the first helper.
        let _ = nix::unistd::setsid();
        match sys::fork() {
            Ok(Forked::Child) => {}
            Ok(Forked::Parent(_)) => sys::exit_now(0),
            Err(_) => sys::exit_now(EXIT_STOCKADE),
        }
    }
    // Born in the joined namespaces: entered before clone3 (this process is single-threaded,
    // as setns into a mount or user namespace requires), and after the monitor's fork, so
    // the monitor itself stays in the host's PID namespace (setns(2) into a PID namespace
    // moves only the caller's future children) where no process of the environment can
    // open its /proc/PID/exe.
    for (ns, fd) in join {
        if nix::sched::setns(fd, ns).is_err() {
            sys::exit_now(EXIT_STOCKADE);
        }
    }
    let sibling = monitor.is_none();
    if setup.userns_mapped.is_some() {
        // Rootless: the clone is born with this dumpability, and the creator (or
        // newuidmap) can open /proc/PID/uid_map only of a dumpable process. A creator that
        // changed its ids without an exec is not (see `userns`).
        let _ = nix::sys::prctl::set_dumpable(true);
    }
    match sys::clone3(flags, cgroup_v2.as_ref().map(|f| f.as_fd()), sibling) {
        Ok(Forked::Child) => {
            drop((pid_w, report_r));
            drop(monitor);
            child_main(setup, go_r, ready_w, report_w)
        }
        Ok(Forked::Parent(pid)) => {
            drop((go_r, ready_w, report_w, cgroup_v2));
            drop(setup.fifo);
            drop(setup.stdio);
            drop(setup.userns_mapped);
            let mut f = fs::File::from(pid_w);
            if f.write_all(&pid.as_raw().to_ne_bytes()).is_err() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
            drop(f);
            match monitor {
                None => sys::exit_now(0),
                Some(m) => run_monitor(pid, report_r, m),
            }
        }
        Err(_) => sys::exit_now(EXIT_STOCKADE),
    }
}

/// The detached monitor: hands the process's output, its report pipe and the duty to
/// record its exit over to the `stockade-monitor` program (see [`super::monitor`]); serves
/// them in this process only if that program cannot be executed.
fn run_monitor(pid: Pid, report_r: OwnedFd, m: MonitorArgs) -> ! {
    let (out, err, terminal) = match m.output {
        MonitorOutput::None => (None, None, None),
        MonitorOutput::Pipes { out, err } => (Some(out), Some(err), None),
        MonitorOutput::Terminal(sock) => (None, None, Some(sock)),
    };
    let handoff = Handoff {
        root: m.store.root().to_path_buf(),
        name: m.name,
        pid: pid.as_raw(),
        report: Some(report_r),
        out,
        err,
        terminal,
    };
    match handoff.exec(m.program, Some(m.null)) {
        (_, Some(back)) => super::monitor::main(back),
        (_, None) => sys::exit_now(EXIT_STOCKADE),
    }
}

/// The attach socket of a detached terminal, in the state folder.
pub fn attach_socket(dir: &Path) -> PathBuf {
    dir.join(stockade_core::logs::ATTACH_SOCKET)
}

/// Reads the report pipe to EOF: `<code> <message>` from a failed exec, or nothing.
pub fn read_report(report_r: OwnedFd) -> Option<String> {
    let mut text = String::new();
    let _ = fs::File::from(report_r).read_to_string(&mut text);
    let (_, msg) = text.split_once(' ')?;
    Some(msg.to_string())
}

/// An [`Exit`] from a wait status.
pub fn exit_of(status: WaitStatus, reason: Option<String>) -> Option<Exit> {
    match status {
        WaitStatus::Exited(_, code) => Some(Exit {
            code,
            signal: None,
            reason,
        }),
        WaitStatus::Signaled(_, sig, _) => Some(Exit {
            code: 128 + sig as i32,
            signal: Some(sig as i32),
            reason,
        }),
        _ => None,
    }
}

/// setresgid/setresuid to 0 in this process's new user namespace (its maps written).
fn become_root_inside() -> Result<(), String> {
    let root = (nix::unistd::Gid::from_raw(0), nix::unistd::Uid::from_raw(0));
    nix::unistd::setresgid(root.0, root.0, root.0)
        .and_then(|()| nix::unistd::setresuid(root.1, root.1, root.1))
        .map_err(|e| format!("become root in the user namespace (is id 0 mapped?): {e}"))
}

/// The first process: build the environment around itself, then exec the command.
fn child_main(mut setup: ChildSetup<'_>, go_r: OwnedFd, ready_w: OwnedFd, report_w: OwnedFd) -> ! {
    // Rootless: nothing can be built before the id maps exist (see `userns`).
    if let Some(mapped) = setup.userns_mapped.take() {
        if !super::userns::wait_mapped(mapped) {
            sys::exit_now(EXIT_STOCKADE);
        }
    }
    // A detached process leads a session of its own (runc's init does the same): its
    // monitor's session lies outside the environment's PID namespace, and CRIU cannot
    // checkpoint a tree whose session leader it cannot see. A terminal's process makes its
    // session when it takes the pty; a foreground one stays in the caller's, on its tty.
    if matches!(
        setup.stdio,
        ChildStdio::NullStdin | ChildStdio::Pipes { .. }
    ) {
        let _ = nix::unistd::setsid();
    }
    // Until execve this process runs stockade's code inside the environment's PID
    // namespace: keep /proc/1/exe, /proc/1/mem and friends closed to it.
    let _ = nix::sys::prctl::set_dumpable(false);
    // The root is built while the creator places this process in its cgroups (on cgroup
    // v1 a write to cgroup.procs waits for an RCU grace period, milliseconds) and links
    // its network: the two run side by side. Nothing here needs the cgroup or the
    // network, and nothing of the user's runs before `go`.
    // Maps root wrote (an OCI config's): this process still has the host's ids, which the
    // namespace does not map (so files it makes, devpts' gid=, would fail with
    // EOVERFLOW); it becomes root inside first, as runc does. Rootless needs none: the
    // caller's ids are root inside.
    let root = match setup.plan.userns.as_ref().filter(|u| !u.rootless()) {
        Some(_) => become_root_inside().and_then(|()| prepare_root(&setup)),
        None => prepare_root(&setup),
    };
    let mut byte = [0u8; 1];
    if !matches!(read_full(&go_r, &mut byte), Ok(1)) {
        // The creator died before releasing us: nothing to do but vanish.
        sys::exit_now(EXIT_STOCKADE);
    }
    drop(go_r);
    let mut ready = fs::File::from(ready_w);
    let prepared = root.and_then(|(ids, home)| prepare_after_go(&setup, ids).map(|()| (ids, home)));
    let (ids, home) = match prepared {
        Ok(v) => v,
        Err(msg) => {
            let _ = write!(ready, "E {msg}");
            sys::exit_now(EXIT_STOCKADE)
        }
    };
    let _ = ready.write_all(b"R");
    drop(ready);
    if let Some(fifo) = setup.fifo {
        let mut byte = [0u8; 1];
        let mut f = fs::File::from(fifo);
        loop {
            match f.read(&mut byte) {
                Ok(1) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => sys::exit_now(EXIT_STOCKADE),
            }
        }
    }
    let report = Some(&report_w);
    if let Err(e) = process::drop_privileges(setup.cfg, ids) {
        process::fail(report, EXIT_STOCKADE, &e.to_string());
    }
    let env = process::environment(setup.cfg, home.as_deref());
    if setup.cfg.init {
        init::run(setup.cfg, &env, report)
    } else {
        process::exec(setup.cfg, &setup.cfg.argv, &env, report)
    }
}

/// The privileged part of the child that needs nothing from the creator: the root, the
/// host name, the user, the cwd.
fn prepare_root(setup: &ChildSetup<'_>) -> Result<(process::Ids, Option<String>), String> {
    let plan = setup.plan;
    let null_stdin = matches!(
        setup.stdio,
        ChildStdio::NullStdin | ChildStdio::Pipes { .. }
    );
    // The host's /dev/null, used only when the new root has none of its own.
    let host_null = if null_stdin {
        Some(
            nix::fcntl::open(
                "/dev/null",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| format!("/dev/null: {e}"))?,
        )
    } else {
        None
    };
    if let ChildStdio::Pipes { out, err } = &setup.stdio {
        sys::dup_onto_stdio(out.as_fd(), 1).map_err(|e| format!("dup2 stdout: {e}"))?;
        sys::dup_onto_stdio(err.as_fd(), 2).map_err(|e| format!("dup2 stderr: {e}"))?;
    }
    // Namespaced kernel parameters (net.*, kernel.msg*, ...) through the host's /proc,
    // which shows this process's namespaces, before the new root hides or freezes it.
    for (key, value) in &plan.extra.sysctl {
        let path = crate::plan::extra::sysctl_path(key);
        super::proc::write_sysctl(&path, value)
            .map_err(|e| format!("linux.sysctl {key} ({}): {e}", path.display()))?;
    }
    rootfs::build(&plan.mounts).map_err(|e| e.to_string())?;
    if let Some(host_null) = host_null {
        // stdin is the environment's own /dev/null when it has one: a file on a mount of
        // the host's namespace is one CRIU cannot name when it checkpoints the process.
        let null =
            nix::fcntl::open("/dev/null", OFlag::O_RDONLY, Mode::empty()).unwrap_or(host_null);
        sys::dup_onto_stdio(null.as_fd(), 0).map_err(|e| format!("dup2 stdin: {e}"))?;
    }
    if plan.namespaces.has(Namespace::Uts) {
        nix::unistd::sethostname(&plan.process.hostname)
            .map_err(|e| format!("sethostname {}: {e}", plan.process.hostname))?;
    }
    let (ids, home) = process::resolve_user(&setup.cfg.user).map_err(|e| e.to_string())?;
    process::enter_cwd(&setup.cfg.cwd).map_err(|e| e.to_string())?;
    Ok((ids, home))
}

/// The part that needs the creator's work first: the cgroup namespace is made once the
/// process is in its cgroups (so they become its root), and `lo` comes up.
fn prepare_after_go(setup: &ChildSetup<'_>, ids: process::Ids) -> Result<(), String> {
    let plan = setup.plan;
    if plan.namespaces.has(Namespace::Cgroup) {
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| format!("unshare(CLONE_NEWCGROUP): {e}"))?;
    }
    if let ChildStdio::Terminal(sock) = &setup.stdio {
        // After the pivot and inside the device cgroup: the root's /dev/ptmx is the
        // environment's own devpts instance, so the terminal is a /dev/pts/N it can name.
        take_terminal(sock.as_fd(), ids)?;
    }
    // `private` links are made by the creator before `go`; only `none` has work here.
    for step in net::steps_in_child(&plan.network) {
        match step {
            NetStep::LinkUp {
                netns: Netns::Environment,
                ifname,
            } => {
                let name = CString::new(ifname.as_str()).map_err(|e| e.to_string())?;
                sys::interface_up(&name).map_err(|e| format!("bring {ifname} up: {e}"))?;
            }
            other => return Err(format!("network step not supported yet: {other}")),
        }
    }
    Ok(())
}

/// Opens a pty inside the environment, sends its master over `sock`, and makes the slave
/// this process's controlling terminal and standard streams, owned by the user the
/// command runs as (as a login gives a user their terminal).
pub fn take_terminal(sock: std::os::fd::BorrowedFd<'_>, owner: process::Ids) -> Result<(), String> {
    let pty = stockade_term::pty::open_sized_like_stdin().map_err(|e| {
        format!(
            "open a terminal from the environment's /dev/ptmx: {e} \
             (a terminal needs /dev in the environment: root.host, or a kind = \"dev\" mount)"
        )
    })?;
    nix::unistd::fchown(
        pty.slave.as_fd(),
        Some(nix::unistd::Uid::from_raw(owner.uid)),
        Some(nix::unistd::Gid::from_raw(owner.gid)),
    )
    .map_err(|e| format!("give the terminal to {}:{}: {e}", owner.uid, owner.gid))?;
    stockade_term::fdpass::send(sock, pty.master.as_fd(), b"M")
        .map_err(|e| format!("hand over the terminal: {e}"))?;
    drop(pty.master);
    stockade_term::pty::make_controlling(pty.slave)
        .map_err(|e| format!("make the terminal controlling: {e}"))
}

/// Reads until `buf` is full or EOF; returns how much was read.
pub fn read_full(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd, &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(done)
}

/// Closes every fd above 2 except `keep` (the list of /proc/self/fd is read first, then
/// closed, so the directory fd itself is not pulled from under the iteration).
pub fn close_all_but(keep: &[RawFd]) {
    let fds: Vec<RawFd> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        if fd > 2 && !keep.contains(&fd) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// The state folder's exec fifo.
pub fn fifo_path(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}
