//! Resource limits: `setrlimit(2)` / `prlimit(2)` values for the environment's process
//! (getrlimit(2)).
//!
//! `limits.open_files` becomes `RLIMIT_NOFILE` with soft = hard, so the process can
//! neither raise it nor be surprised by a lower soft limit. Rlimits are per process and
//! inherited by children; that is the Linux meaning of the key (FreeBSD adds a jail-wide
//! rctl rule, see the portability table). Raising a hard limit above stockade's own needs
//! `CAP_SYS_RESOURCE`, and the kernel caps `RLIMIT_NOFILE` at `fs.nr_open`: apply checks
//! both before anything is made and names `limits.open_files` and the limit in force
//! when the value cannot be set.

use std::fmt;

use serde::Serialize;
use stockade_core::spec::Spec;

/// One resource limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rlimit {
    /// The resource, as the kernel header names it (`RLIMIT_NOFILE`).
    pub resource: String,
    /// The soft limit (what the kernel enforces).
    pub soft: u64,
    /// The hard limit (how far an unprivileged process may raise the soft one).
    pub hard: u64,
}

impl fmt::Display for Rlimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "setrlimit {} soft={} hard={}",
            self.resource, self.soft, self.hard
        )
    }
}

/// The rlimits of a spec, in a fixed order.
pub fn plan(spec: &Spec) -> Vec<Rlimit> {
    let mut out = Vec::new();
    if let Some(n) = spec.limits.open_files {
        out.push(Rlimit {
            resource: "RLIMIT_NOFILE".into(),
            soft: n,
            hard: n,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    #[test]
    fn open_files_sets_soft_and_hard() {
        let r = plan(&spec("[limits]\nopen_files = 1024\n"));
        assert_eq!(
            r,
            [Rlimit {
                resource: "RLIMIT_NOFILE".into(),
                soft: 1024,
                hard: 1024
            }]
        );
        assert_eq!(
            r[0].to_string(),
            "setrlimit RLIMIT_NOFILE soft=1024 hard=1024"
        );
    }

    #[test]
    fn no_limit_no_rlimit() {
        assert!(plan(&spec("[limits]\nmemory = \"1G\"\n")).is_empty());
    }
}
