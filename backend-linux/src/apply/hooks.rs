//! OCI hooks (runtime-spec `config.md#posix-platform-hooks`): programs the runtime runs
//! at points of the lifecycle, in the runtime's namespaces, with the container's state
//! JSON on stdin. Each gets exactly its own `args` (the first is argv[0]) and `env`, and
//! is killed after its `timeout` seconds.

use std::io::{self, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::plan::extra::Hook;

/// Why a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// It could not be started.
    #[error("hook {path}: {source}")]
    Spawn {
        /// The program.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// It exited with a failure status.
    #[error("hook {path} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        path: String,
        /// How it ended.
        status: String,
        /// What it said.
        stderr: String,
    },
    /// It ran past its timeout and was killed.
    #[error("hook {path} ran past its timeout of {seconds} s and was killed")]
    Timeout {
        /// The program.
        path: String,
        /// The timeout.
        seconds: u64,
    },
}

/// Runs `hooks` in order with `state` (JSON) on stdin; stops at the first failure.
pub fn run(hooks: &[Hook], state: &str) -> Result<(), HookError> {
    for hook in hooks {
        run_one(hook, state)?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &str) -> Result<(), HookError> {
    let path = hook.path.display().to_string();
    let mut cmd = Command::new(&hook.path);
    if let Some((arg0, rest)) = hook.args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for e in &hook.env {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| HookError::Spawn {
            path: path.clone(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state may close stdin early: not an error.
        let _ = stdin.write_all(state.as_bytes());
    }
    let deadline = hook
        .timeout
        .map(|s| (s, Instant::now() + Duration::from_secs(s)));
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                if status.success() {
                    return Ok(());
                }
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = io::Read::read_to_string(&mut e, &mut stderr);
                }
                return Err(HookError::Failed {
                    path,
                    status: status.to_string(),
                    stderr: stderr.trim().to_string(),
                });
            }
            Ok(None) => {}
            Err(source) => return Err(HookError::Spawn { path, source }),
        }
        if let Some((seconds, at)) = deadline {
            if Instant::now() >= at {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HookError::Timeout { path, seconds });
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
