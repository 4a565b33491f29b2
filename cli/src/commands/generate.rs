//! Files generated from the command line's own definition, so they never drift from it:
//! `stockade completions bash|zsh|fish` (clap_complete), `stockade man [--out DIR]`
//! (clap_mangen: roff man pages) and `stockade schema` (the spec's JSON Schema).

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::Cli;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell: bash, zsh, fish (also elvish, powershell).
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write stockade.1 and one stockade-SUBCOMMAND.1 per subcommand into DIR instead of
    /// printing stockade.1.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "stockade", &mut out);
    print_all(&out)
}

/// Prints or writes the man pages.
pub fn man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    let Some(dir) = &args.out else {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        return print_all(&out);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}", dir.display()))?;
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("write man pages to {}", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the JSON Schema of spec files.
pub fn schema() -> anyhow::Result<ExitCode> {
    let mut text = stockade_core::spec::schema::json();
    text.push('\n');
    print_all(text.as_bytes())
}

fn print_all(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    match std::io::stdout().lock().write_all(bytes) {
        // `stockade man | head` is fine.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
