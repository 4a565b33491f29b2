//! `stockade-monitor`: the detached environment's monitor (conmon's role), executed by
//! stockade with the descriptors it serves — `stockade-monitor STATE-ROOT NAME PID
//! [report|out|err|terminal=FD]...`, see `stockade_term::launch`. It keeps the process's
//! output (the log, the attach socket), waits for the process (its child) and records its
//! exit; the OS backend's monitor module does the work. Not meant to be run by hand.
//!
//! It is small on purpose: no argument parser, no allocator-heavy start; a detached
//! environment's monitor idles at well under 1 MiB resident (docs/reliability.md).

use std::process::ExitCode;

fn main() -> ExitCode {
    let handoff = match stockade_term::launch::Handoff::from_args(std::env::args_os()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("stockade-monitor: {e}");
            return ExitCode::from(2);
        }
    };
    cfg_if::cfg_if! {
        if #[cfg(target_os = "linux")] {
            stockade_linux::apply::monitor::main(handoff)
        } else if #[cfg(target_os = "freebsd")] {
            stockade_freebsd::monitor_main(handoff)
        } else {
            drop(handoff);
            eprintln!("stockade-monitor: Linux and FreeBSD only");
            ExitCode::from(2)
        }
    }
}
