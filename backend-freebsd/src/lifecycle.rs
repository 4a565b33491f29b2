//! The lifecycle's errors and the pure parts of `create`, `start`, `state` and friends:
//! compiled and tested on every OS; the FreeBSD runtime (`runtime`, FreeBSD only) uses
//! them with the real kernel and processes.

use std::io;

use stockade_core::state::{Exit, LifecycleError, State, StateError, Status};

use crate::apply::ApplyError;
use crate::kernel::KernelError;
use crate::plan::{HostError, PlanError};
use crate::probe::ProbeError;
use crate::process::ProcessError;

/// The file in the state folder that holds the [`crate::process::ProcessConfig`].
pub const PROCESS_FILE: &str = "process.json";

/// The fifo in the state folder the created process waits on until `start` (as runc's
/// `exec.fifo`).
pub const EXEC_FIFO: &str = "exec.fifo";

/// What the FreeBSD lifecycle can fail with.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The state store.
    #[error(transparent)]
    State(#[from] StateError),
    /// Planning.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Probing the host.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The host cannot run the plan (racct, VIMAGE).
    #[error(transparent)]
    Host(#[from] HostError),
    /// Making or removing the kernel objects.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A kernel operation outside apply (find the jail, stop).
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The process configuration.
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// A system call or file operation of stockade itself.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The cause, with its errno.
        source: io::Error,
    },
    /// The environment's process failed while entering the jail or taking its identity.
    #[error("starting the process in the jail failed: {0}")]
    Setup(String),
    /// The environment's process died before it was set up.
    #[error("the environment's process died while being set up")]
    DiedInSetup,
    /// Refused because of the environment's status (portable wording, from core).
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    /// Processes survived SIGKILL.
    #[error("processes of environment {0:?} survived SIGKILL (stuck in the kernel); retry `stockade stop`")]
    Unkillable(String),
}

impl RuntimeError {
    /// A [`RuntimeError::Sys`] maker for `map_err`.
    pub fn sys(what: impl Into<String>) -> impl FnOnce(io::Error) -> RuntimeError {
        let what = what.into();
        move |source| RuntimeError::Sys { what, source }
    }
}

/// A status as state.json spells it.
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Creating => "creating",
        Status::Created => "created",
        Status::Running => "running",
        Status::Stopped => "stopped",
    }
}

/// How a process ended, from its exit code or the signal that killed it (128 + N, as
/// shells report it).
pub fn exit_of(code: Option<i32>, signal: Option<i32>, reason: Option<String>) -> Exit {
    match (code, signal) {
        (_, Some(sig)) => Exit {
            code: 128 + sig,
            signal: Some(sig),
            reason,
        },
        (Some(code), None) => Exit {
            code,
            signal: None,
            reason,
        },
        (None, None) => Exit {
            code: 255,
            signal: None,
            reason,
        },
    }
}

/// The status a recorded state really has, given whether its first process is alive:
/// a created or running environment whose process is gone is stopped.
pub fn refreshed(state: &State, alive: bool) -> Status {
    match state.status {
        Status::Created | Status::Running if !alive => Status::Stopped,
        s => s,
    }
}

/// Signal numbers by name, as FreeBSD numbers them (signal(3)); several differ from
/// Linux (SIGUSR1 is 30, not 10), so the table is FreeBSD's on every OS.
pub const FREEBSD_SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("EMT", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("BUS", 10),
    ("SEGV", 11),
    ("SYS", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("URG", 16),
    ("STOP", 17),
    ("TSTP", 18),
    ("CONT", 19),
    ("CHLD", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("IO", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("INFO", 29),
    ("USR1", 30),
    ("USR2", 31),
];

/// A FreeBSD signal number from a name (`TERM`, `SIGTERM`, `term`) or a number.
pub fn parse_signal(text: &str) -> Result<i32, RuntimeError> {
    let bad = || RuntimeError::from(LifecycleError::BadSignal(text.to_string()));
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=128).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    FREEBSD_SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, n)| *n)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_use_freebsd_numbers() {
        assert_eq!(parse_signal("TERM").expect("term"), 15);
        assert_eq!(parse_signal("sigusr1").expect("usr1"), 30);
        assert_eq!(parse_signal("INFO").expect("info"), 29);
        assert_eq!(parse_signal("9").expect("nine"), 9);
        assert!(matches!(
            parse_signal("NOPE"),
            Err(RuntimeError::Lifecycle(LifecycleError::BadSignal(_)))
        ));
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn exits_read_like_a_shell() {
        assert_eq!(exit_of(Some(3), None, None).code, 3);
        let killed = exit_of(None, Some(9), None);
        assert_eq!((killed.code, killed.signal), (137, Some(9)));
    }

    #[test]
    fn a_dead_process_means_stopped() {
        let mut s = State::new("web".into(), None, serde_json::Value::Null);
        s.status = Status::Running;
        assert_eq!(refreshed(&s, true), Status::Running);
        assert_eq!(refreshed(&s, false), Status::Stopped);
        s.status = Status::Creating;
        assert_eq!(refreshed(&s, false), Status::Creating);
        assert_eq!(status_name(Status::Created), "created");
    }
}
