//! `exec`: another process in a running container, from `--process FILE` (what conmon and
//! the containerd shim pass) or from ARGS.

use std::process::ExitCode;

use anyhow::Context as _;
use stockade_linux::oci::runtime::{ExecRequest, OciRuntime};

use super::ExecArgs;

/// Runs `exec`.
pub fn run(rt: &OciRuntime, a: &ExecArgs) -> anyhow::Result<ExitCode> {
    if a.console_socket.is_some() && !a.tty {
        anyhow::bail!("--console-socket needs --tty");
    }
    let process = match &a.process {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
            let p: oci_spec_process::Process = serde_json::from_str(&text).map_err(|e| {
                crate::exit::InvalidInput(format!(
                    "{}:{}:{}: {e}",
                    path.display(),
                    e.line(),
                    e.column()
                ))
            })?;
            Some(p)
        }
    };
    let req = ExecRequest {
        process,
        args: a.args.clone(),
        cwd: a.cwd.clone(),
        env: a.env.clone(),
        user: a.user.clone(),
        tty: a.tty,
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
    };
    Ok(match rt.exec(&a.id, &req)? {
        None => ExitCode::SUCCESS,
        Some(exit) => ExitCode::from(u8::try_from(exit.code).unwrap_or(255)),
    })
}

/// The runtime-spec process type, through the backend's re-export (the CLI has no
/// `oci-spec` dependency of its own).
mod oci_spec_process {
    pub use stockade_linux::oci::Process;
}
