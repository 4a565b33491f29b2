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
//! **After a dump** without `--leave-running`, CRIU has killed the tree; the environment
//! is then deleted (its cgroups, state and mounts), so the folder is all that is left and
//! restore may bring it back under the same name.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use stockade_core::state::{LifecycleError, Resource, State, StateStore, Status};
use stockade_core::Spec;

use super::cgroup;
use super::runtime::{self, RuntimeError};
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

fn new_criu(op: &'static str, dir: &Path) -> Result<rust_criu::Criu, CheckpointError> {
    rust_criu::Criu::new().map_err(|e| criu(op, dir, "", &e))
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
    let (Some(pid), Status::Running) = (state.pid, state.status) else {
        return Err(LifecycleError::NotRunning {
            name: name.into(),
            status: format!("{:?}", state.status).to_lowercase(),
        }
        .into());
    };
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
    match restore_in(&mut entry, dir, plan, &spec.name) {
        Ok(()) => Ok(entry.state.clone()),
        Err(e) => {
            let _ = runtime::teardown(&mut entry);
            let _ = entry.remove();
            Err(e)
        }
    }
}

fn restore_in(
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

    let images = open_dir(dir)?;
    let mut c = new_criu("restore", dir)?;
    c.set_images_dir_fd(images.as_raw_fd());
    c.set_work_dir_fd(images.as_raw_fd());
    c.set_log_file("restore.log".into());
    c.set_log_level(4);
    c.set_root(plan.mounts.rootfs.display().to_string());
    c.set_manage_cgroups(true);
    c.set_ext_unix_sk(true);
    c.set_tcp_established(true);
    c.set_file_locks(true);
    c.set_orphan_pts_master(true);
    for (target, source) in external_mounts(plan) {
        c.set_external_mount(target.display().to_string(), source.display().to_string());
    }
    c.restore()
        .map_err(|e| criu("restore", dir, "restore.log", &e))?;
    drop(images);

    // The restored tree's first process: the oldest in the environment's cgroup.
    let deadline = Instant::now() + Duration::from_secs(5);
    let pid = loop {
        let pids = cgroup::pids(&folders[0].path)?;
        if let Some(pid) = pids.iter().copied().min() {
            break pid;
        }
        if Instant::now() > deadline {
            return Err(CheckpointError::Vanished(name.into()).into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let start = super::proc::start_time(pid).map_err(|source| RuntimeError::Sys {
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
