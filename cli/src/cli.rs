//! The command line: global options and the subcommand list.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;

/// Run one isolated environment definition on Linux and FreeBSD.
#[derive(Debug, Parser)]
#[command(name = "stockade", version, about, propagate_version = true)]
pub struct Cli {
    /// State folder: one subfolder per environment [default: /run/stockade on Linux,
    /// /var/run/stockade on FreeBSD].
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Image store folder [default: /var/lib/stockade].
    #[arg(long, global = true, value_name = "DIR")]
    pub store: Option<PathBuf>,

    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate spec files and report how portable each is, per target OS.
    Check(commands::check::Args),
    /// Print the kernel operations a spec turns into on an OS.
    Plan(commands::plan::Args),
    /// Print the portability table (Markdown; docs/portability.md is this output).
    Portability,
    /// Turn the jails of a jail.conf into spec files.
    Import(commands::import::Args),
    /// Write a spec as a jail.conf block or an OCI config.json.
    Export(commands::export::Args),
    /// The lifecycle commands, which need this host's runtime.
    #[command(flatten)]
    Lifecycle(Lifecycle),
    /// List what a copy-on-write environment changed relative to its base.
    Diff(commands::diff::Args),
    /// Save a running environment to a folder with CRIU (Linux).
    Checkpoint(commands::checkpoint::Args),
    /// Bring a checkpoint back as a running environment (Linux).
    Restore(commands::restore::Args),
    /// Manage the local image store: import, list, inspect, rm, prune, export.
    Image(commands::image::Args),
    /// Store a root.image environment's changes as a new image.
    Commit(commands::commit::Args),
    /// Print a shell completion script (bash, zsh, fish).
    Completions(commands::generate::CompletionsArgs),
    /// Print the man page (roff), or write every page into a folder.
    Man(commands::generate::ManArgs),
    /// Print the JSON Schema of spec files (for taplo, VS Code).
    Schema,
}

impl Command {
    /// Whether the command only prints (and makes nothing that a closed pipe would leave
    /// behind), so `stockade plan x.toml | head` may end it quietly.
    pub fn only_prints(&self) -> bool {
        match self {
            Command::Check(_)
            | Command::Plan(_)
            | Command::Portability
            | Command::Export(_)
            | Command::Diff(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Schema => true,
            Command::Lifecycle(l) => matches!(
                l,
                Lifecycle::List(_)
                    | Lifecycle::State(_)
                    | Lifecycle::Stats(_)
                    | Lifecycle::Logs(_)
                    | Lifecycle::Top(_)
            ),
            Command::Image(image) => matches!(
                image.command,
                commands::image::ImageCommand::List { .. }
                    | commands::image::ImageCommand::Inspect { .. }
            ),
            Command::Import(_)
            | Command::Checkpoint(_)
            | Command::Restore(_)
            | Command::Commit(_) => false,
        }
    }
}

/// The subcommands that run, inspect and remove environments (they need a runtime).
#[derive(Debug, Subcommand)]
pub enum Lifecycle {
    /// Run an environment: create, start, wait, delete (or leave it running with -d).
    Run(commands::run::Args),
    /// Make an environment whose process waits for `start`.
    Create(commands::create::Args),
    /// Start a created environment.
    Start(commands::start::Args),
    /// Run a command inside a running environment.
    Exec(commands::exec::Args),
    /// List environments (`ps NAME`: one environment's processes).
    #[command(alias = "ps")]
    List(commands::list::Args),
    /// Print an environment's state as JSON.
    State(commands::state::Args),
    /// Show an environment's resource use against its limits.
    Stats(commands::stats::Args),
    /// Stop an environment: SIGTERM, then SIGKILL after a grace time.
    Stop(commands::stop::Args),
    /// Send a signal to an environment's first process.
    Kill(commands::kill::Args),
    /// Remove an environment and everything made for it.
    Delete(commands::delete::Args),
    /// Print a detached environment's output (from its log in the state folder).
    Logs(commands::logs::Args),
    /// Connect the terminal to a detached environment's terminal (detach: ctrl-p ctrl-q).
    Attach(commands::attach::Args),
    /// Open a login shell inside a running environment, on a terminal (exec -it).
    Console(commands::console::Args),
    /// List an environment's processes as the host sees them.
    Top(commands::top::Args),
}
