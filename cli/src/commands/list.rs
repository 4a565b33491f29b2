//! `stockade list [--json]` (alias `ps`): every environment with its status; `ps NAME`
//! lists one environment's processes, as `top NAME` does.

use std::process::ExitCode;

use stockade_core::backend::Runtime;
use stockade_core::state::StateStore;

use super::state::Summary;

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Show this environment's processes instead (as `top NAME`).
    pub name: Option<String>,
}

/// Runs `list`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(name) = &args.name {
        return super::top::show(rt, store, name, args.json);
    }
    let mut states = Vec::new();
    for name in store.names()? {
        match rt.state(store, &name) {
            Ok(s) => states.push(s),
            // A folder without a readable state is a crashed create: show it as such.
            Err(e) => eprintln!("stockade: {name}: {e} (stockade delete --force {name})"),
        }
    }
    let summaries: Vec<Summary> = states.iter().map(Summary::of).collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<9} {:>8} {:<21} EXIT",
        "NAME", "STATUS", "PID", "CREATED"
    );
    for (s, state) in summaries.iter().zip(&states) {
        let v = serde_json::to_value(s)?;
        let exit = state
            .exit
            .as_ref()
            .map_or(String::new(), |e| e.code.to_string());
        println!(
            "{:<24} {:<9} {:>8} {:<21} {exit}",
            state.name,
            v["status"].as_str().unwrap_or("?"),
            v["pid"].as_i64().map_or("-".to_string(), |p| p.to_string()),
            v["created"].as_str().unwrap_or("?"),
        );
    }
    Ok(ExitCode::SUCCESS)
}
