//! rctl(4) through the rctl crate: rctl_add_rule(2), rctl_remove_rule(2),
//! rctl_get_racct(2).
//!
//! The crate passes rules to the kernel with plain amounts (`deny=268435456`); a filter
//! built from a whole rule removes exactly that rule. It reports a kernel without racct
//! as `InvalidKernelState`, which becomes the instruction to turn racct on; the apply
//! sequence has already refused a plan with rules on such a host, so this only appears
//! if the host changed in between.

use std::io;

use crate::kernel::{KResult, KernelError, Usage};

fn rctl_error(op: String, e: rctl::Error) -> KernelError {
    match e {
        rctl::Error::OsError(source) => KernelError::Os { op, source },
        rctl::Error::InvalidKernelState(state) => KernelError::os(
            op,
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("rctl is {state}: set kern.racct.enable=1 in /boot/loader.conf and reboot"),
            ),
        ),
        other => KernelError::os(op, io::Error::new(io::ErrorKind::InvalidInput, other)),
    }
}

fn parse(op: &str, rule: &str) -> KResult<rctl::Rule> {
    rule.parse::<rctl::Rule>()
        .map_err(|e| KernelError::os(op, io::Error::new(io::ErrorKind::InvalidInput, e)))
}

/// rctl_add_rule(2).
pub fn add(rule: &str) -> KResult<()> {
    let op = format!("rctl_add_rule {rule}");
    parse(&op, rule)?.apply().map_err(|e| rctl_error(op, e))
}

/// rctl_remove_rule(2) with the whole rule as the filter. A filter that matches nothing
/// succeeds (the crate reads ESRCH as "nothing to do").
pub fn remove(filter: &str) -> KResult<()> {
    let op = format!("rctl_remove_rule {filter}");
    parse(&op, filter)?.remove().map_err(|e| rctl_error(op, e))
}

/// rctl_get_racct(2) for `jail:<name>`.
pub fn usage(jail: &str) -> KResult<Usage> {
    let op = format!("rctl_get_racct jail:{jail}");
    let map = rctl::Subject::jail_name(jail)
        .usage()
        .map_err(|e| rctl_error(op, e))?;
    Ok(map
        .into_iter()
        .map(|(r, n)| (r.as_str().to_string(), u64::try_from(n).unwrap_or(u64::MAX)))
        .collect())
}
