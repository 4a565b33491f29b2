//! `stockade state NAME`: the environment's state as JSON.

use std::process::ExitCode;

use serde::Serialize;
use stockade_core::backend::Runtime;
use stockade_core::state::{State, StateStore, Status};

/// Arguments of `state`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
}

/// What `state` and `list --json` print: the fields people script against.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    name: &'a str,
    status: Status,
    pid: Option<i32>,
    created: String,
    exit_code: Option<i32>,
    exit_signal: Option<i32>,
    reason: Option<&'a str>,
    spec_file: Option<&'a std::path::Path>,
    /// What the backend could not do exactly (e.g. a swap limit the kernel cannot hold).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    notes: &'a [String],
}

impl<'a> Summary<'a> {
    /// The summary of one state.
    pub fn of(s: &'a State) -> Self {
        Summary {
            name: &s.name,
            status: s.status,
            pid: s.pid.filter(|_| s.status != Status::Stopped),
            created: rfc3339(s.created),
            exit_code: s.exit.as_ref().map(|e| e.code),
            exit_signal: s.exit.as_ref().and_then(|e| e.signal),
            reason: s.exit.as_ref().and_then(|e| e.reason.as_deref()),
            spec_file: s.spec_file.as_deref(),
            notes: &s.notes,
        }
    }
}

/// Runs `state`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let state = rt.state(store, &args.name)?;
    println!("{}", serde_json::to_string_pretty(&Summary::of(&state))?);
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the epoch as an RFC 3339 UTC time.
pub fn rfc3339(secs: u64) -> String {
    stockade_core::time::rfc3339_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_014_861), "2026-11-30T05:01:01Z");
    }
}
