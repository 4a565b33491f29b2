//! Stopping a jail's processes: SIGTERM to all, a grace period, then SIGKILL to all.
//!
//! A jail has no PID 1 whose death ends the others, so every process is signalled
//! (kill(2) with pid -1 from a process attached to the jail, as jail(8) does for
//! `jail -r`). Signal 0 asks whether any process is left. The jail itself stays
//! (`persist`) until `delete` removes it.

use std::time::Duration;

use crate::kernel::{JailSignal, KResult, Kernel};

/// How long `stop` waits, and how often it looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopTiming {
    /// After SIGTERM, before SIGKILL.
    pub grace: Duration,
    /// After SIGKILL, before giving up.
    pub kill_wait: Duration,
    /// Between two looks.
    pub poll: Duration,
}

impl StopTiming {
    /// A grace period with the host's defaults: look every 50 ms, wait up to 10 s after
    /// SIGKILL (processes in uninterruptible sleep finish their system call first).
    pub fn with_grace(grace: Duration) -> StopTiming {
        StopTiming {
            grace,
            kill_wait: Duration::from_secs(10),
            poll: Duration::from_millis(50),
        }
    }
}

/// How `stop` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// There is no jail of that name (never made, or deleted).
    NoJail,
    /// Every process exited within the grace period (or none was left).
    Exited,
    /// Some needed SIGKILL; all are gone now.
    Killed,
    /// Processes survived SIGKILL for `kill_wait` (stuck in the kernel).
    StillRunning,
}

/// Stops every process of the jail `name`. `sleep` waits (a real sleep on the host; tests
/// pass one that only counts), and the periods are counted in sleeps of `timing.poll`.
pub fn stop<K: Kernel + ?Sized>(
    kernel: &mut K,
    name: &str,
    timing: StopTiming,
    sleep: &mut dyn FnMut(Duration),
) -> KResult<StopOutcome> {
    let Some(jid) = kernel.find_jail(name)? else {
        return Ok(StopOutcome::NoJail);
    };
    if !kernel.signal_jail(jid, JailSignal::Term)? {
        return Ok(StopOutcome::Exited);
    }
    if wait_empty(kernel, jid, timing.grace, timing.poll, sleep)? {
        return Ok(StopOutcome::Exited);
    }
    kernel.signal_jail(jid, JailSignal::Kill)?;
    if wait_empty(kernel, jid, timing.kill_wait, timing.poll, sleep)? {
        return Ok(StopOutcome::Killed);
    }
    Ok(StopOutcome::StillRunning)
}

/// True once no process is left; false when `period` passed with some still there.
fn wait_empty<K: Kernel + ?Sized>(
    kernel: &mut K,
    jid: crate::kernel::Jid,
    period: Duration,
    poll: Duration,
    sleep: &mut dyn FnMut(Duration),
) -> KResult<bool> {
    let poll = poll.max(Duration::from_millis(1));
    let mut waited = Duration::ZERO;
    loop {
        if !kernel.signal_jail(jid, JailSignal::Probe)? {
            return Ok(true);
        }
        if waited >= period {
            return Ok(false);
        }
        sleep(poll);
        waited += poll;
    }
}
