//! `stockade attach NAME`: the caller's terminal to a detached environment's terminal
//! (`create -t`, `run -d -t`) through its monitor's socket; ctrl-p ctrl-q detaches and
//! leaves it running (podman's keys).

use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use stockade_core::backend::Runtime;
use stockade_core::logs::ATTACH_SOCKET;
use stockade_core::state::{StateStore, Status};
use stockade_term::attach::DetachKeys;
use stockade_term::relay::{self, Ended, RawMode, Socket};

/// Arguments of `attach`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment.
    pub name: String,
}

/// How long attach waits for a monitor that is still opening its socket (just after
/// `run -d -t`).
const SOCKET_WAIT: Duration = Duration::from_secs(3);

/// Runs `attach`.
pub fn run<R: Runtime>(rt: &R, store: &StateStore, args: &Args) -> anyhow::Result<ExitCode> {
    let stream = connect(rt, store, &args.name)?;
    eprintln!(
        "stockade: attached to {} (detach: ctrl-p ctrl-q)",
        args.name
    );
    let raw = RawMode::enter().context("put the terminal in raw mode")?;
    let mut ep = Socket(stream);
    let mut keys = DetachKeys::default();
    let ended = relay::pump(&mut ep, Some(&mut keys), None);
    drop(raw);
    match ended.context("relay the terminal")? {
        Ended::Detached => {
            eprintln!("\r\nstockade: detached from {}", args.name);
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            // The environment ended: its status is ours, as after `run`.
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let state = rt.state(store, &args.name)?;
                if let Some(exit) = state.exit {
                    return Ok(ExitCode::from(super::run::exit_byte(exit.code)));
                }
                if Instant::now() > deadline {
                    return Ok(ExitCode::SUCCESS);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

fn connect<R: Runtime>(rt: &R, store: &StateStore, name: &str) -> anyhow::Result<UnixStream> {
    let path = store.dir(name).join(ATTACH_SOCKET);
    let deadline = Instant::now() + SOCKET_WAIT;
    loop {
        let state = rt.state(store, name)?;
        if state.status != Status::Running {
            anyhow::bail!(
                "{name} is not running (status {:?}): attach needs a started environment",
                state.status
            );
        }
        match UnixStream::connect(&path) {
            Ok(s) => return Ok(s),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "{name} has no terminal to attach to ({}); make it with `create -t` or \
                         `run -d -t`, or use `stockade exec -it {name} -- sh`",
                        path.display()
                    )
                })
            }
        }
    }
}
