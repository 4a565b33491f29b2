//! `stockade checkpoint` and `stockade restore`: saving a running environment's process
//! tree to a folder and bringing it back, through CRIU (criu(8)).
//!
//! CRIU is driven over its RPC protocol (`criu swrk`, protobuf messages on a socketpair)
//! with the `rust-criu` crate, as runc and youki do: no command line is built and no
//! output is parsed. What the folder holds:
//! - CRIU's images (the process tree, its memory, file descriptors, namespaces, mounts,
//!   cgroup properties) and its logs `dump.log` / `restore.log`;
//! - [`MANIFEST`]: the environment's name, its spec file text and origin (so the limits,
//!   mounts and network are planned again the same way), and its cgroup folders.
//!
//! **Mounts.** The environment's bind mounts come from host paths CRIU cannot name inside
//! the images; each is declared *external* at dump (keyed by its target) and mapped back
//! to the same host source at restore, which is how runc handles them. The root is given
//! to CRIU as `root` at restore.
//!
//! **Cgroups.** Restore makes the environment's cgroup folders and writes their limits
//! exactly as create does, then CRIU (`manage_cgroups`, soft mode) puts the restored
//! tasks back into them. The folder is the plan's for the name, so `--name` gives the
//! restored environment a cgroup of its own only when the name's path matches the
//! dumped one: CRIU restores into the cgroup paths it saw (rust-criu has no
//! `cgroup_root` remapping), which is why restore under a new name is refused while the
//! old name still exists.
//!
//! **Roots.** CRIU does not save the root mount: `root.path` is there again at restore;
//! `root.host`'s tmpfs is made again on the host with the plan's mount points; a
//! copy-on-write root is refused at checkpoint (its writable layer would be lost), and
//! so is a process on a terminal (CRIU cannot restore it without the session's tty).
//!
//! **After a dump** without `--leave-running`, CRIU has killed the tree; the environment
//! is then deleted (its cgroups, state and mounts), so the folder is all that is left and
//! restore may bring it back under the same name.
//!
//! **After a restore** the environment is detached like `create`'s: a monitor (a child
//! subreaper that ran the restore) is its first process's parent and records its exit.
//! Its output is logged again when it went to the log (`run -d`): CRIU restores the
//! pipes to the old monitor without a reader, and the new one opens their read ends.

use std::fs;
use std::io::{self, Read as _, Write as _};
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd as _, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use stockade_core::state::{LifecycleError, Resource, State, StateStore, Status};
use stockade_core::Spec;

use super::process::EXIT_STOCKADE;
use super::runtime::{self, RuntimeError};
use super::sys::{self, Forked};
use super::{cgroup, proc, spawn};
use crate::plan::mount::{MountFlag, MountStep};
use crate::plan::LinuxPlan;

/// The manifest stockade writes beside CRIU's images.
pub const MANIFEST: &str = "stockade-checkpoint.json";

/// What can go wrong, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or folder of the checkpoint.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The output folder already holds something.
    #[error("{}: not empty; checkpoint into a new or empty folder", .0.display())]
    NotEmpty(PathBuf),
    /// The folder is not a stockade checkpoint.
    #[error("{}: not a stockade checkpoint (no {MANIFEST}): {source}", path.display())]
    NoManifest {
        /// The folder.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The manifest does not parse.
    #[error("{}: {source}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The environment was not made from a spec file, whose text restore needs.
    #[error("{0}: was not created from a spec file, so it cannot be restored from a checkpoint")]
    NoSpecFile(String),
    /// The spec saved in the checkpoint no longer loads.
    #[error("the checkpoint's spec: {0}")]
    Spec(String),
    /// CRIU failed; `log` holds its own error lines, verbatim.
    #[error(
        "criu {op} failed: {message}{log}\n(is criu installed and new enough for this kernel? \
         `criu check` says what it cannot do here)"
    )]
    Criu {
        /// `dump` or `restore`.
        op: &'static str,
        /// rust-criu's error.
        message: String,
        /// CRIU's `Error` lines from its log, each on a new line.
        log: String,
    },
    /// No process appeared in the cgroup after a restore.
    #[error("criu restore reported success but no process of {0} is in its cgroup")]
    Vanished(String),
    /// The restoring monitor could not start, or failed outside CRIU.
    #[error("the restoring monitor: {0}")]
    Monitor(String),
    /// A copy-on-write root: its writable layer is not carried.
    #[error(
        "{0}: a copy-on-write root (root.overlay) cannot be checkpointed: CRIU does not save \
         the root, and the writable layer would go with the environment; checkpoint works \
         with root.path and root.host"
    )]
    CopyOnWrite(String),
    /// The process is on a terminal, which restore cannot give back.
    #[error(
        "{0}: runs on a terminal (run -t / create -t), which CRIU cannot restore without \
         the session's terminal; checkpoint works with environments whose output is logged \
         or passed through"
    )]
    Terminal(String),
    /// Making the root of a `root.host` environment for CRIU.
    #[error("{}: {source}", path.display())]
    HostRoot {
        /// The mount point being made.
        path: PathBuf,
        /// The cause.
        source: nix::errno::Errno,
    },
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The manifest: everything besides CRIU's images that restore needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The environment's name when dumped.
    pub name: String,
    /// The spec file it was created from (relative paths in it resolve against it).
    pub spec_file: PathBuf,
    /// The spec file's text, as it was at checkpoint time.
    pub spec_text: String,
    /// Its cgroup folders.
    pub cgroups: Vec<PathBuf>,
}

impl Manifest {
    /// Reads the manifest of a checkpoint folder.
    pub fn read(dir: &Path) -> Result<Manifest, CheckpointError> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|source| CheckpointError::NoManifest {
            path: dir.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| CheckpointError::BadManifest { path, source })
    }

    /// The spec, loaded again from the saved text, named `name` when given.
    pub fn spec(&self, name: Option<&str>) -> Result<Spec, CheckpointError> {
        let mut spec = Spec::from_toml(&self.spec_text, Some(&self.spec_file))
            .map_err(|e| CheckpointError::Spec(e.to_string()))?;
        if let Some(n) = name {
            stockade_core::spec::check_name(n).map_err(CheckpointError::Spec)?;
            spec.name = n.to_string();
        }
        Ok(spec)
    }
}

/// The external bind mounts of a plan: (target inside, host source) for every bind that
/// CRIU must be told about, in plan order, without duplicates.
pub fn external_mounts(plan: &LinuxPlan) -> Vec<(PathBuf, PathBuf)> {
    let mut out: Vec<(PathBuf, PathBuf)> = Vec::new();
    for step in &plan.mounts.steps {
        match step {
            MountStep::Mount(m)
                if m.flags.contains(&MountFlag::Bind)
                    && !m.flags.contains(&MountFlag::Remount)
                    && m.target != Path::new("/") =>
            {
                // After the pivot a source is a path inside (the masks' /dev/null): the
                // host's file of the same path serves at restore.
                let Some(source) = &m.source else { continue };
                if !out.iter().any(|(t, _)| *t == m.target) {
                    out.push((m.target.clone(), source.clone()));
                }
            }
            _ => {}
        }
    }
    out
}

fn open_dir(path: &Path) -> Result<OwnedFd, CheckpointError> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CheckpointError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// CRIU's own error lines in a log of the images folder, verbatim (empty when none).
pub fn criu_errors(dir: &Path, log: &str) -> String {
    fs::read_to_string(dir.join(log))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("Error") || l.contains("error"))
        .map(|l| format!("\n  {l}"))
        .collect()
}

fn criu(op: &'static str, dir: &Path, log: &str, e: &dyn std::fmt::Display) -> CheckpointError {
    CheckpointError::Criu {
        op,
        message: e.to_string(),
        log: criu_errors(dir, log),
    }
}

/// The criu program: the first executable `criu` in PATH, else where `.ci/criu` (a build
/// new enough for the kernel) or Debian's package put it — PATH often lacks the sbin
/// folders when stockade runs under sudo or from a service.
pub fn criu_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("criu"))
        .chain(["/usr/local/sbin/criu", "/usr/sbin/criu"].map(PathBuf::from))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| PathBuf::from("criu"))
}

fn new_criu(op: &'static str, dir: &Path) -> Result<CriuRpc, CheckpointError> {
    rust_criu::Criu::new_with_criu_path(criu_binary().display().to_string())
        .map(|c| CriuRpc(ManuallyDrop::new(c)))
        .map_err(|e| criu(op, dir, "", &e))
}

/// A rust-criu client that is never dropped. rust-criu 0.4 closes its socket's fd number
/// twice — once when a request ends, again in `Drop` — and by then that number may be
/// another descriptor of this process (a state lock, a test thread's file: Rust aborts
/// with "IO Safety violation" when that one is closed later). Not dropping it leaves one
/// socket to the exited `criu swrk` open instead, which the exec'd monitor and the
/// creator's close_range never pass on.
struct CriuRpc(ManuallyDrop<rust_criu::Criu>);

impl Deref for CriuRpc {
    type Target = rust_criu::Criu;
    fn deref(&self) -> &rust_criu::Criu {
        &self.0
    }
}

impl DerefMut for CriuRpc {
    fn deref_mut(&mut self) -> &mut rust_criu::Criu {
        &mut self.0
    }
}

/// `stockade checkpoint NAME --out DIR`: plans the environment from its spec file (for
/// its mounts), then [`checkpoint`].
pub fn checkpoint_named(
    backend: &crate::LinuxBackend,
    store: &StateStore,
    name: &str,
    out: &Path,
    leave_running: bool,
) -> Result<(), RuntimeError> {
    let state = runtime::live_state(store, name)?;
    let file = state
        .spec_file
        .clone()
        .ok_or_else(|| CheckpointError::NoSpecFile(name.into()))?;
    let spec =
        Spec::load_as(&file, Some(name)).map_err(|e| CheckpointError::Spec(e.to_string()))?;
    let plan = runtime::plan_for(backend, &spec, store)?;
    checkpoint(store, &plan, name, out, leave_running)
}

/// `stockade restore DIR [--name NAME]`: the checkpoint's spec planned again on this
/// host, then [`restore`].
pub fn restore_dir(
    backend: &crate::LinuxBackend,
    store: &StateStore,
    dir: &Path,
    name: Option<&str>,
) -> Result<State, RuntimeError> {
    let manifest = Manifest::read(dir)?;
    let spec = manifest.spec(name.or(Some(&manifest.name)))?;
    let plan = runtime::plan_for(backend, &spec, store)?;
    restore(store, dir, &spec, &plan)
}

/// Saves the running environment `name` into `out`; without `leave_running` the
/// environment is gone afterwards (CRIU killed it; stockade deletes what is left).
pub fn checkpoint(
    store: &StateStore,
    plan: &LinuxPlan,
    name: &str,
    out: &Path,
    leave_running: bool,
) -> Result<(), RuntimeError> {
    let state = runtime::live_state(store, name)?;
    if plan.mounts.layer.is_some() {
        return Err(CheckpointError::CopyOnWrite(name.into()).into());
    }
    let (Some(pid), Status::Running) = (state.pid, state.status) else {
        return Err(LifecycleError::NotRunning {
            name: name.into(),
            status: format!("{:?}", state.status).to_lowercase(),
        }
        .into());
    };
    // Refused before CRIU runs: the dump would kill it, and restore would then fail with
    // "tty: Don't have tty to inherit session from".
    if fs::read_link(format!("/proc/{pid}/fd/0")).is_ok_and(|t| t.starts_with("/dev/pts")) {
        return Err(CheckpointError::Terminal(name.into()).into());
    }
    let spec_file = state
        .spec_file
        .clone()
        .ok_or_else(|| CheckpointError::NoSpecFile(name.into()))?;
    let spec_text = fs::read_to_string(&spec_file).map_err(at(&spec_file))?;
    fs::create_dir_all(out).map_err(at(out))?;
    if fs::read_dir(out).map_err(at(out))?.next().is_some() {
        return Err(CheckpointError::NotEmpty(out.to_path_buf()).into());
    }
    let manifest = Manifest {
        name: name.into(),
        spec_file,
        spec_text,
        cgroups: runtime::cgroup_folders(&state),
    };
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest always serialises");
    let path = out.join(MANIFEST);
    fs::write(&path, json).map_err(at(&path))?;

    let images = open_dir(out)?;
    let mut c = new_criu("dump", out)?;
    c.set_pid(pid);
    c.set_images_dir_fd(images.as_raw_fd());
    c.set_work_dir_fd(images.as_raw_fd());
    c.set_log_file("dump.log".into());
    c.set_log_level(4);
    c.set_leave_running(leave_running);
    // A detached environment's first process is in its monitor's session (the monitor
    // called setsid), which lies outside the dumped tree: CRIU dumps such a root only as a
    // "shell job", and restore then puts it in the restoring monitor's session.
    c.set_shell_job(true);
    c.set_manage_cgroups(true);
    c.set_ext_unix_sk(true);
    c.set_tcp_established(true);
    c.set_file_locks(true);
    c.set_orphan_pts_master(true);
    for (target, _) in external_mounts(plan) {
        let key = target.display().to_string();
        c.set_external_mount(key.clone(), key);
    }
    c.dump().map_err(|e| criu("dump", out, "dump.log", &e))?;
    drop(images);
    if !leave_running {
        // CRIU killed the tree: release the cgroups, state and anything else recorded.
        let mut entry = store.open(name, true)?;
        runtime::teardown(&mut entry)?;
        entry.remove()?;
    }
    Ok(())
}

/// Brings a checkpoint back as a running environment (named as dumped, or `name`);
/// returns its state.
pub fn restore(
    store: &StateStore,
    dir: &Path,
    spec: &Spec,
    plan: &LinuxPlan,
) -> Result<State, RuntimeError> {
    let manifest = Manifest::read(dir)?;
    let spec_json = serde_json::to_value(spec).expect("a spec always serialises");
    let mut entry = store.create(State::new(
        spec.name.clone(),
        Some(manifest.spec_file.clone()),
        spec_json,
    ))?;
    match restore_in(store, &mut entry, dir, plan, &spec.name) {
        Ok(()) => Ok(entry.state.clone()),
        Err(e) => {
            let _ = runtime::teardown(&mut entry);
            let _ = entry.remove();
            Err(e)
        }
    }
}

fn restore_in(
    store: &StateStore,
    entry: &mut stockade_core::state::Entry,
    dir: &Path,
    plan: &LinuxPlan,
    name: &str,
) -> Result<(), RuntimeError> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").map_err(|source| RuntimeError::Sys {
            what: "/proc/self/mountinfo".into(),
            source,
        })?;
    let hierarchies = cgroup::hierarchies(&mountinfo);
    let caller = cgroup::place::Caller::read(Path::new("/"))?;
    let base = |h: &cgroup::Hierarchy| {
        cgroup::place::base_for(h, &hierarchies, &caller, &cgroup::place::is_delegated)
    };
    let folders = cgroup::folders(&plan.cgroup, &hierarchies, &base)?;
    entry
        .state
        .resources
        .extend(folders.iter().map(|f| Resource::Cgroup {
            path: f.path.clone(),
        }));
    entry.save()?;
    for folder in &folders {
        cgroup::make(folder, &plan.cgroup)?;
    }
    cgroup::write_limits(&plan.cgroup, &folders, &hierarchies)?;
    // What `exec` joins with: the same user, limits and privileges as the process.
    runtime::write_process_config(plan, &store.dir(name))?;
    if plan.mounts.rootfs.starts_with(store.dir(name)) {
        host_root(plan, entry)?;
    }

    let pid = restore_detached(store, name, dir, plan, &folders)?;
    let start = proc::start_time(pid).map_err(|source| RuntimeError::Sys {
        what: format!("/proc/{pid}/stat"),
        source,
    })?;
    entry.state.pid = Some(pid);
    entry.state.pid_start_time = start;
    if let Some(start_time) = start {
        entry.record(Resource::Process { pid, start_time })?;
    }
    entry.state.status = Status::Running;
    entry.save()?;
    Ok(())
}

/// `root.host`: the environment's root was a tmpfs it mounted in its own namespace, which
/// CRIU does not save (it takes the root mount from `root` at restore, and mounts the rest
/// onto it). The same tmpfs is made at the plan's root path on the host, with a mount
/// point for every mount that is not inside another and the plan's symlinks; it is
/// recorded, so delete unmounts it.
fn host_root(
    plan: &LinuxPlan,
    entry: &mut stockade_core::state::Entry,
) -> Result<(), RuntimeError> {
    let rootfs = &plan.mounts.rootfs;
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |source: nix::errno::Errno| CheckpointError::HostRoot { path, source }
    };
    fs::create_dir_all(rootfs).map_err(at(rootfs))?;
    // Recorded before it is made, as every resource is: a crash or a failed save between
    // the two must not leave a mount that delete does not know of.
    entry.record(Resource::Mount {
        path: rootfs.clone(),
    })?;
    nix::mount::mount(
        Some("tmpfs"),
        rootfs,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(failed(rootfs))?;
    let mut covered: Vec<&Path> = Vec::new();
    for step in &plan.mounts.steps {
        let (target, link) = match step {
            MountStep::Mount(m)
                if m.target != Path::new("/") && !m.flags.contains(&MountFlag::Remount) =>
            {
                (&m.target, None)
            }
            MountStep::Symlink { path, to } => (path, Some(to)),
            _ => continue,
        };
        if covered.iter().any(|c| target.starts_with(c)) {
            continue;
        }
        let host = rootfs.join(target.strip_prefix("/").unwrap_or(target));
        if let Some(parent) = host.parent() {
            fs::create_dir_all(parent).map_err(at(parent))?;
        }
        let made = match (link, step) {
            (Some(to), _) => std::os::unix::fs::symlink(to, &host),
            (None, MountStep::Mount(m))
                if m.flags.contains(&MountFlag::Bind)
                    && m.source.as_deref().is_some_and(|s| !s.is_dir()) =>
            {
                fs::File::create(&host).map(drop)
            }
            _ => fs::create_dir_all(&host),
        };
        match made {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(CheckpointError::Io {
                    path: host,
                    source: e,
                }
                .into())
            }
            _ => {}
        }
        if link.is_none() {
            covered.push(target);
        }
    }
    Ok(())
}

/// What the restoring monitor tells `restore` (JSON over a pipe).
#[derive(Debug, Serialize, Deserialize)]
enum Answer {
    /// The restored tree runs; its first process (the monitor's child) has this host PID.
    Restored { pid: i32 },
    /// CRIU failed: its message and its log's error lines.
    Criu { message: String, log: String },
    /// Something else failed.
    Failed(String),
}

/// Restores the checkpoint from a detached monitor (double fork + setsid, like `create`'s)
/// that stays the restored first process's parent, so that its exit is recorded like any
/// detached environment's. The monitor is a child subreaper (prctl(2)
/// `PR_SET_CHILD_SUBREAPER`): CRIU's RPC restore forks the tree under the `criu swrk`
/// process and detaches it when that exits, and the orphan is then re-parented to the
/// monitor. Returns the first process's host PID.
fn restore_detached(
    store: &StateStore,
    name: &str,
    dir: &Path,
    plan: &LinuxPlan,
    folders: &[cgroup::Folder],
) -> Result<i32, RuntimeError> {
    let monitor_err = |what: &str, e: io::Error| CheckpointError::Monitor(format!("{what}: {e}"));
    // Opened here, in the host's namespaces, as create does for its monitor.
    let program =
        stockade_term::launch::locate().map_err(|e| monitor_err("find the monitor program", e))?;
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| monitor_err("/dev/null", e.into()))?;
    let (r, w) = spawn::pipe().map_err(|e| monitor_err("pipe", e))?;
    let folders: Vec<PathBuf> = folders.iter().map(|f| f.path.clone()).collect();
    match sys::fork().map_err(|e| monitor_err("fork", e))? {
        Forked::Child => {
            drop(r);
            // The state lock above all must not live on in the monitor.
            spawn::close_all_but(&[w.as_raw_fd(), program.as_raw_fd(), null.as_raw_fd()]);
            let _ = nix::unistd::setsid();
            match sys::fork() {
                Ok(Forked::Child) => {}
                Ok(Forked::Parent(_)) => sys::exit_now(0),
                Err(_) => sys::exit_now(EXIT_STOCKADE),
            }
            restore_monitor(store, name, dir, plan, &folders, w, (program, null))
        }
        Forked::Parent(first) => {
            drop((w, program, null));
            let mut text = String::new();
            let read = fs::File::from(r).read_to_string(&mut text);
            let _ = waitpid(first, None);
            read.map_err(|e| monitor_err("read its answer", e))?;
            match serde_json::from_str(&text) {
                Ok(Answer::Restored { pid }) => Ok(pid),
                Ok(Answer::Criu { message, log }) => Err(CheckpointError::Criu {
                    op: "restore",
                    message,
                    log,
                }
                .into()),
                Ok(Answer::Failed(msg)) => Err(CheckpointError::Monitor(msg).into()),
                Err(_) => Err(CheckpointError::Monitor(format!(
                    "it died without an answer ({text:?})"
                ))
                .into()),
            }
        }
    }
}

/// The restoring monitor: runs CRIU, answers `restore`, then becomes the restored first
/// process's monitor (`stockade-monitor`, executed with nothing to serve but the wait).
fn restore_monitor(
    store: &StateStore,
    name: &str,
    dir: &Path,
    plan: &LinuxPlan,
    folders: &[PathBuf],
    answer_w: OwnedFd,
    (program, null): (OwnedFd, OwnedFd),
) -> ! {
    for fd in 0..3 {
        let _ = sys::dup_onto_stdio(null.as_fd(), fd);
    }
    let _ = nix::unistd::chdir("/");
    let answer = match nix::sys::prctl::set_child_subreaper(true) {
        Err(e) => Answer::Failed(format!("prctl(PR_SET_CHILD_SUBREAPER): {e}")),
        Ok(()) => match criu_restore(dir, plan) {
            Err(CheckpointError::Criu { message, log, .. }) => Answer::Criu { message, log },
            Err(e) => Answer::Failed(e.to_string()),
            Ok(()) => match find_first(folders) {
                Some(pid) => Answer::Restored { pid },
                None => Answer::Failed(CheckpointError::Vanished(name.into()).to_string()),
            },
        },
    };
    let json = serde_json::to_vec(&answer).expect("an answer always serialises");
    let sent = fs::File::from(answer_w).write_all(&json).is_ok();
    let Answer::Restored { pid } = answer else {
        sys::exit_now(EXIT_STOCKADE)
    };
    if !sent {
        // `restore` is gone and undoes what it made.
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    reap_others(pid);
    let (out, err) = output_pipes(pid);
    let handoff = stockade_term::launch::Handoff {
        root: store.root().to_path_buf(),
        name: name.to_string(),
        pid,
        report: None,
        out,
        err,
        terminal: None,
    };
    match handoff.exec(program, Some(null)) {
        (_, Some(back)) => super::monitor::main(back),
        (_, None) => sys::exit_now(EXIT_STOCKADE),
    }
}

/// The restored process's stdout and stderr when both are pipes (a `run -d`
/// environment's, whose reader was the old monitor; CRIU restores a pipe with only the
/// ends the tree held): read ends opened through /proc/PID/fd (a pipe opened there gets
/// the asked-for side), so that the new monitor logs the output again.
fn output_pipes(pid: i32) -> (Option<OwnedFd>, Option<OwnedFd>) {
    let open = |fd: i32| -> Option<OwnedFd> {
        let path = PathBuf::from(format!("/proc/{pid}/fd/{fd}"));
        let target = fs::read_link(&path).ok()?;
        if !target.to_string_lossy().starts_with("pipe:") {
            return None;
        }
        // Non-blocking: a FIFO-style open must never wait here; the monitor polls anyway.
        nix::fcntl::open(
            &path,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
        .ok()
    };
    match (open(1), open(2)) {
        (Some(out), Some(err)) => (Some(out), Some(err)),
        _ => (None, None),
    }
}

/// Reaps this process's children other than `first`: the `criu swrk` that rust-criu
/// killed without waiting for it (dead by now: its exit re-parented `first` here).
fn reap_others(first: i32) {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    for pid in entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if pid != first && proc::parent(pid) == Some(me) {
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
}

/// CRIU's restore of the images in `dir` (its log: `restore.log` there).
fn criu_restore(dir: &Path, plan: &LinuxPlan) -> Result<(), CheckpointError> {
    let images = open_dir(dir)?;
    let mut c = new_criu("restore", dir)?;
    c.set_images_dir_fd(images.as_raw_fd());
    c.set_work_dir_fd(images.as_raw_fd());
    c.set_log_file("restore.log".into());
    c.set_log_level(4);
    c.set_root(plan.mounts.rootfs.display().to_string());
    c.set_shell_job(true);
    c.set_manage_cgroups(true);
    c.set_ext_unix_sk(true);
    c.set_tcp_established(true);
    c.set_file_locks(true);
    c.set_orphan_pts_master(true);
    for (target, source) in external_mounts(plan) {
        c.set_external_mount(target.display().to_string(), source.display().to_string());
    }
    c.restore()
        .map_err(|e| criu("restore", dir, "restore.log", &e))
}

/// How long the monitor looks for the restored first process once CRIU answered.
const FIND_FIRST: Duration = Duration::from_secs(10);

/// The restored tree's first process: the one in the environment's cgroups whose parent
/// is this process (re-parented here when `criu swrk` exits).
fn find_first(folders: &[PathBuf]) -> Option<i32> {
    let me = std::process::id() as i32;
    let deadline = Instant::now() + FIND_FIRST;
    loop {
        for folder in folders {
            let pids = cgroup::pids(folder).unwrap_or_default();
            if let Some(pid) = pids.into_iter().find(|&p| proc::parent(p) == Some(me)) {
                return Some(pid);
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stockade_core::backend::{CgroupVersion, PlanContext};

    #[test]
    fn manifest_round_trips_and_renames() {
        let tmp = tempfile::tempdir().unwrap();
        let m = Manifest {
            name: "web".into(),
            spec_file: tmp.path().join("web.toml"),
            spec_text: "[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n".into(),
            cgroups: vec!["/sys/fs/cgroup/stockade/web".into()],
        };
        fs::write(tmp.path().join(MANIFEST), serde_json::to_vec(&m).unwrap()).unwrap();
        let back = Manifest::read(tmp.path()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.spec(None).unwrap().name, "web");
        assert_eq!(back.spec(Some("web2")).unwrap().name, "web2");
        assert!(matches!(
            back.spec(Some("a.b")),
            Err(CheckpointError::Spec(_))
        ));
        let empty = tempfile::tempdir().unwrap();
        let err = Manifest::read(empty.path()).unwrap_err();
        assert!(
            err.to_string().contains("not a stockade checkpoint"),
            "{err}"
        );
    }

    #[test]
    fn bind_mounts_are_external_once_each() {
        let spec = Spec::from_toml(
            "name = \"web\"\n[root]\npath = \"/srv/web\"\n[process]\ncommand = [\"/bin/sh\"]\n\
             [[mount]]\nkind = \"bind\"\nsource = \"/srv/site\"\ntarget = \"/var/www\"\n",
            Some(Path::new("/etc/stockade/web.toml")),
        )
        .unwrap();
        let plan = crate::plan::plan(
            &spec,
            &PlanContext::new("/run/stockade", "web", CgroupVersion::V2),
        )
        .unwrap();
        let ext = external_mounts(&plan);
        assert!(ext.contains(&(PathBuf::from("/var/www"), PathBuf::from("/srv/site"))));
        assert!(ext.contains(&(PathBuf::from("/dev/null"), PathBuf::from("/dev/null"))));
        assert!(!ext.iter().any(|(t, _)| t == Path::new("/")));
        let mut targets: Vec<&PathBuf> = ext.iter().map(|(t, _)| t).collect();
        targets.dedup();
        assert_eq!(targets.len(), ext.len());
    }

    #[test]
    fn criu_errors_are_quoted_from_its_log() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(
            tmp.path().join("dump.log"),
            "(00.001) Version: 3.17.1\n(00.002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds\n",
        )
        .unwrap();
        assert_eq!(
            criu_errors(tmp.path(), "dump.log"),
            "\n  (00.002) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds"
        );
        assert_eq!(criu_errors(tmp.path(), "absent.log"), "");
    }
}
