//! Jails: jail_set(2) through the jail crate, lookup by name, jail_remove(2).
//!
//! `StoppedJail::start` adds `path`, `errmsg` and `persist` itself and, given no rctl
//! limits (stockade adds its rules apart, before the jail), makes a single jail_set(2)
//! call: it either creates the jail or fails having created nothing. jail_remove(2) is
//! called directly rather than through `RunningJail::kill`, which would also remove
//! *every* rctl rule on the jail's name: undo removes exactly the recorded rules, in
//! order.

use std::io;

use jail::param::Value;
use jail::{JailError, RunningJail, StoppedJail};

use super::ret;
use crate::kernel::{JailArg, JailParams, Jid, KResult, KernelError};

fn jail_error(op: String, e: JailError) -> KernelError {
    match e {
        JailError::JailSetError(message) | JailError::JailGetError(message) => {
            KernelError::Jail { op, message }
        }
        JailError::IoError(source) | JailError::JailAttachError(source) => {
            KernelError::Os { op, source }
        }
        other => KernelError::os(op, io::Error::other(other)),
    }
}

/// jail_set(2) with `JAIL_CREATE` and `persist`.
pub fn create(params: &JailParams) -> KResult<Jid> {
    let op = format!("jail_set {} path={}", params.name, params.path.display());
    let mut jail = StoppedJail::new(params.path.clone()).name(params.name.clone());
    for (name, arg) in &params.args {
        let value = match arg {
            JailArg::Str(s) => Value::String(s.clone()),
            JailArg::Int(n) => Value::Int(*n),
            // The kernel reads only the presence of a boolean's name (vfs_flagopt(9));
            // libjail sends true as the int 1, and so does this.
            JailArg::Flag => Value::Int(1),
        };
        jail = jail.param(name.clone(), value);
    }
    let running = jail.start().map_err(|e| jail_error(op, e))?;
    Ok(Jid(running.jid))
}

/// The jid of the live jail named `name`.
pub fn find(name: &str) -> KResult<Option<Jid>> {
    // Walking the jail list (jail_get(2) with `lastjid`) tells "no such jail" apart from
    // a failure without reading jail_get's error text.
    Ok(RunningJail::all()
        .find(|j| j.name().ok().as_deref() == Some(name))
        .map(|j| Jid(j.jid)))
}

/// jail_remove(2).
pub fn remove(jid: Jid) -> KResult<()> {
    // SAFETY: jail_remove(2) takes an integer; no memory is involved.
    ret(unsafe { libc::jail_remove(jid.0) })
        .map_err(|e| KernelError::os(format!("jail_remove {jid}"), e))
}
