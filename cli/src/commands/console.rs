//! `stockade console NAME`: a login shell inside a running environment on a terminal —
//! `exec -it NAME` with the shell /etc/passwd gives the environment's user (bastille's
//! `console`, jexec's habit); `/bin/sh` when none is listed.

use std::process::ExitCode;

use stockade_core::backend::{Foreground, Runtime};
use stockade_core::state::StateStore;

use super::run::exit_byte;

/// Arguments of `console`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
}

/// Finds the user's shell in the environment's own /etc/passwd (read inside, so it is
/// the environment's file and user), keeps the caller's TERM, and execs it as a login
/// shell.
const LOGIN: &str = r#"u=$(id -u); shell=
while IFS=: read -r _ _ uid _ _ _ s; do
  if [ "$uid" = "$u" ]; then shell=$s; break; fi
done < /etc/passwd
if [ -n "$shell" ] && [ -x "$shell" ]; then exec "$shell" -l; fi
exec /bin/sh -l"#;

/// Runs `console`; exits with the shell's status.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm".into());
    let script = format!("export TERM={}\n{LOGIN}", shell_quote(&term));
    let command = vec!["/bin/sh".to_string(), "-c".to_string(), script];
    let exit = rt.exec_with(store, &args.name, &command, Foreground { terminal: true })?;
    Ok(ExitCode::from(exit_byte(exit.code)))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}
