//! `stockade`: run one isolated-environment definition on Linux and FreeBSD.
//!
//! A thin shell over the library crates: argument parsing (clap) and one handler per
//! subcommand in `commands/`; errors become exit statuses in `exit`.

mod cli;
mod commands;
mod exit;
mod host;
mod oci;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Where the monitor program is found (beside this executable): resolved once, now.
    stockade_term::launch::pin();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(oci_args) = oci::oci_args(&args) {
        return oci::main(oci_args);
    }
    let cli = cli::Cli::parse();
    if cli.command.only_prints() {
        stockade_term::exit_quietly_on_closed_stdout();
    }
    match commands::dispatch(cli) {
        Ok(code) => code,
        Err(err) => exit::report(&err),
    }
}
