//! A progress line for steps that can take more than a second (stop's grace period,
//! create — overlay or ZFS preparation, image layers —, delete): after one second,
//! `stockade: <what>... 3s` on stderr, rewritten in place every quarter second and erased
//! when the step ends. Only when stderr is a terminal: pipes and logs stay silent.

use std::io::{IsTerminal as _, Write as _};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a step runs before the line appears.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often it is rewritten.
const EVERY: Duration = Duration::from_millis(250);

/// Runs `step`, showing `what` with the time spent while it takes longer than a second.
pub fn while_running<T>(what: &str, step: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return step();
    }
    let (done, wait) = mpsc::channel::<()>();
    let line = format!("stockade: {what}...");
    std::thread::scope(|s| {
        let shower = s.spawn(move || {
            let start = Instant::now();
            let mut shown = false;
            let mut timeout = SHOW_AFTER;
            while let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(timeout) {
                shown = true;
                timeout = EVERY;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{line} {}s\x1b[K", start.elapsed().as_secs());
                let _ = err.flush();
            }
            if shown {
                // Erase it: what follows starts on a clean line.
                let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            }
        });
        let result = step();
        let _ = done.send(());
        let _ = shower.join();
        result
    })
}
