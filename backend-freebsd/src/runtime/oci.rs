//! The OCI runtime lifecycle on FreeBSD (what `stockade oci` does there): a bundle's
//! config.json translated by [`crate::oci`] (ocijail's subset) into the same plan a spec
//! makes, applied and undone by the same code as `stockade create` and `delete`.
//!
//! As on Linux, the engine's expectations set the differences from `stockade create`:
//! no monitor (the first process is the creator's child and is reparented to the
//! engine, which waits for it), the pid file written before `create` returns, the
//! terminal's master sent to `--console-socket`, the runtime-spec state JSON.
//! Not on FreeBSD: `pause`/`resume` (no freezer), `exec` with a process file or a
//! terminal (`exec ID ARGS` runs in the jail with the container's identity).

use std::fs;
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use stockade_core::backend::{CreateOptions, Foreground, Stdio};
use stockade_core::oci::{OciState, TranslateError};
use stockade_core::state::{Exit, LifecycleError, State, StateError, StateStore, Status};

use crate::kernel::Kernel;
use crate::lifecycle::{parse_signal, status_name, RuntimeError};
use crate::oci::{check_console, jail_signal, oci_status, TranslateContext};
use crate::plan::exec::ExecStep;
use crate::sys::{proc, SysKernel};

use super::{Blocked, Created};

/// What an OCI command can fail with on FreeBSD.
#[derive(Debug, thiserror::Error)]
pub enum OciRuntimeError {
    /// A file cannot be read or written (config.json, the pid file, the console socket).
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key stockade cannot honour on FreeBSD.
    #[error("{}: {source}", bundle.display())]
    Translate {
        /// The bundle.
        bundle: PathBuf,
        /// The refusal, naming the key.
        source: TranslateError,
    },
    /// The terminal and the console socket do not go together.
    #[error("{0}")]
    Terminal(&'static str),
    /// Something this runtime does not do on FreeBSD.
    #[error("{0} is not supported by stockade's OCI runtime on FreeBSD")]
    Unsupported(&'static str),
    /// The lifecycle below.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl From<StateError> for OciRuntimeError {
    fn from(e: StateError) -> Self {
        OciRuntimeError::Runtime(e.into())
    }
}

/// `create`'s arguments.
#[derive(Debug, Clone, Default)]
pub struct CreateArgs {
    /// The bundle folder.
    pub bundle: PathBuf,
    /// Write the process's PID here.
    pub pid_file: Option<PathBuf>,
    /// Send the terminal's master here.
    pub console_socket: Option<PathBuf>,
}

/// The OCI runtime over a state root (`--root`).
#[derive(Debug, Clone)]
pub struct OciRuntime {
    store: StateStore,
}

impl OciRuntime {
    /// The runtime on a state root.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OciRuntime {
            store: StateStore::new(root.into()),
        }
    }

    /// `create`: the jail and its process, which waits for `start`; returns the PID.
    pub fn create(&self, id: &str, args: &CreateArgs) -> Result<i32, OciRuntimeError> {
        Ok(self.create_locked(id, args, false)?.pid)
    }

    fn create_locked(
        &self,
        id: &str,
        args: &CreateArgs,
        start: bool,
    ) -> Result<Created, OciRuntimeError> {
        let file = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OciRuntimeError::File { path, source }
        };
        let bundle = fs::canonicalize(&args.bundle).map_err(file(&args.bundle))?;
        let config = bundle.join("config.json");
        let text = fs::read_to_string(&config).map_err(file(&config))?;
        let ctx = TranslateContext {
            id: id.to_string(),
            bundle: bundle.clone(),
            state_dir: self.store.dir(id),
        };
        let plan = crate::oci::translate_json(&text, &ctx).map_err(|source| {
            OciRuntimeError::Translate {
                bundle: bundle.clone(),
                source,
            }
        })?;
        let terminal = plan.exec.contains(&ExecStep::Terminal);
        check_console(terminal, args.console_socket.is_some())
            .map_err(OciRuntimeError::Terminal)?;
        // Before anything is made: an engine that is not listening gets a clear error.
        let console = match &args.console_socket {
            Some(path) => Some(UnixStream::connect(path).map_err(file(path))?),
            None => None,
        };
        let annotations = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["annotations"].as_object().cloned())
            .unwrap_or_default();
        let state = State::new(
            id.to_string(),
            Some(config),
            stockade_core::oci::record(&bundle, annotations),
        );
        let opts = CreateOptions {
            stdio: if terminal {
                Stdio::Terminal
            } else {
                Stdio::Inherit
            },
            start,
        };
        let mut created = super::create_planned(&plan, state, &self.store, &opts, true)?;
        let handed = match (console, created.terminal.take()) {
            (Some(sock), Some(master)) => {
                stockade_term::fdpass::send(sock.as_fd(), master.as_fd(), b"").map_err(file(
                    args.console_socket.as_deref().unwrap_or(Path::new("")),
                ))
            }
            _ => Ok(()),
        };
        let written = handed.and_then(|()| match &args.pid_file {
            Some(path) => write_pid_file(path, created.pid),
            None => Ok(()),
        });
        if let Err(e) = written {
            let Created { entry, pid, .. } = created;
            drop(entry);
            let _ = proc::kill(pid, libc::SIGKILL);
            let _ = proc::wait(pid);
            let _ = super::delete(&self.store, id, true);
            return Err(e);
        }
        Ok(created)
    }

    /// `start`: lets the created process run its command.
    pub fn start(&self, id: &str) -> Result<(), OciRuntimeError> {
        Ok(super::start(&self.store, id)?)
    }

    /// `run`: create, start, wait (signals relayed), delete; `detach` returns once the
    /// process runs.
    pub fn run(
        &self,
        id: &str,
        args: &CreateArgs,
        detach: bool,
    ) -> Result<Option<Exit>, OciRuntimeError> {
        if detach {
            self.create_locked(id, args, true)?;
            return Ok(None);
        }
        let blocked = Blocked::new()?;
        let Created { entry, pid, .. } = self.create_locked(id, args, true)?;
        drop(entry);
        let exit = super::wait_relaying(pid, id);
        drop(blocked);
        let cleanup = super::delete(&self.store, id, true);
        let exit = exit?;
        cleanup?;
        Ok(Some(exit))
    }

    /// `state`: the runtime-spec state, its status read from the kernel.
    pub fn state(&self, id: &str) -> Result<OciState, OciRuntimeError> {
        let state = super::refresh(&self.store, id)?;
        Ok(OciState::of(&state, oci_status(state.status)))
    }

    /// `list`: every container's state.
    pub fn list(&self) -> Result<Vec<OciState>, OciRuntimeError> {
        let mut out = Vec::new();
        for id in self.store.names()? {
            if let Ok(s) = self.state(&id) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// `kill`: a signal to the first process, or with `all` to every process in the
    /// jail (SIGTERM and SIGKILL; jails have no other jail-wide signal here).
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), OciRuntimeError> {
        let sig = parse_signal(signal)?;
        let state = super::refresh(&self.store, id)?;
        if all {
            let which = jail_signal(sig).ok_or(OciRuntimeError::Unsupported(
                "kill --all with a signal other than TERM or KILL",
            ))?;
            let mut k = SysKernel;
            if let Some(jid) = k.find_jail(id).map_err(RuntimeError::from)? {
                k.signal_jail(jid, which).map_err(RuntimeError::from)?;
            }
            return Ok(());
        }
        if !matches!(state.status, Status::Created | Status::Running) {
            return Err(RuntimeError::from(LifecycleError::NotRunning {
                name: id.into(),
                status: status_name(state.status).into(),
            })
            .into());
        }
        let pid = state.pid.unwrap_or(0);
        proc::kill(pid, sig).map_err(RuntimeError::sys(format!("kill {pid} with signal {sig}")))?;
        Ok(())
    }

    /// `delete`: removes a stopped or created container; `force` stops a running one
    /// first and succeeds when there is nothing to delete.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), OciRuntimeError> {
        match super::delete(&self.store, id, force) {
            Err(RuntimeError::State(StateError::NotFound(_))) if force => Ok(()),
            other => Ok(other?),
        }
    }

    /// `exec ID ARGS`: a command in the running jail with the container's identity, in
    /// the foreground; its exit.
    pub fn exec(&self, id: &str, args: &[String]) -> Result<Exit, OciRuntimeError> {
        Ok(super::exec(&self.store, id, args, Foreground::default())?)
    }

    /// `ps`: the PIDs of the jail's processes.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, OciRuntimeError> {
        self.store.peek(id)?;
        let out = std::process::Command::new("ps")
            .args(crate::top::ps_args(id))
            .output()
            .map_err(RuntimeError::sys("ps -J"))?;
        Ok(crate::top::parse_ps(&String::from_utf8_lossy(&out.stdout))
            .iter()
            .map(|p| p.pid)
            .collect())
    }
}

/// Writes the pid file atomically (a temporary file renamed), as engines read it at once.
fn write_pid_file(path: &Path, pid: i32) -> Result<(), OciRuntimeError> {
    let tmp = path.with_extension("stockade-tmp");
    fs::write(&tmp, pid.to_string())
        .and_then(|()| fs::rename(&tmp, path))
        .map_err(|source| OciRuntimeError::File {
            path: path.to_path_buf(),
            source,
        })
}
