//! `stockade run [-d] [-t] [-i] [--name N] FILE [-- CMD...]`: create, start, wait, delete.
//!
//! In the foreground, stdio is passed through (or, with `-t`, the caller's terminal is
//! relayed to a pty inside), Ctrl-C stops the environment (with `-t` it reaches the
//! process, as on any terminal), and the exit status is the command's (128+N for signal
//! N). With `-d` the environment is left running under a small monitor that records its
//! exit and keeps its output in the state folder (`stockade logs`, `attach` with `-t`).

use std::path::PathBuf;
use std::process::ExitCode;

use stockade_core::backend::{CreateOptions, Foreground, Runtime, Stdio};
use stockade_core::state::StateStore;

use super::load_spec;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Leave the environment running in the background.
    #[arg(short, long)]
    pub detach: bool,
    /// Give the process a terminal (a pty opened inside the environment); in the
    /// foreground the caller's terminal is relayed to it in raw mode.
    #[arg(short, long)]
    pub tty: bool,
    /// Keep stdin connected (always so in the foreground; with -d, use -t and `attach`).
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the spec's name.
    #[arg(long)]
    pub name: Option<String>,
    /// The spec file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Run this command instead of process.command.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `run`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let spec = load_spec(&args.file, args.name.as_deref(), &args.command)?;
    // `process.terminal = true` in the spec asks for what -t asks for.
    let tty = args.tty || spec.process.terminal;
    if args.detach {
        let opts = CreateOptions {
            stdio: if tty { Stdio::LogTerminal } else { Stdio::Log },
            start: true,
        };
        let what = format!("creating {}", spec.name);
        let made = crate::progress::while_running(&what, || rt.create_made(&spec, store, &opts))?;
        println!("{}", made.state.name);
        return Ok(ExitCode::SUCCESS);
    }
    let exit = rt.run_with(&spec, store, Foreground { terminal: tty })?;
    if let Some(reason) = &exit.reason {
        eprintln!("stockade: {}: {reason}", spec.name);
    }
    Ok(ExitCode::from(exit_byte(exit.code)))
}

/// An exit code as the shell sees it (0-255).
pub fn exit_byte(code: i32) -> u8 {
    u8::try_from(code.clamp(0, 255)).unwrap_or(u8::MAX)
}
