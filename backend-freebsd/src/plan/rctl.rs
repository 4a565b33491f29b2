//! Resource limits as rctl(8) rules on the jail, added with rctl_add_rule(2).
//!
//! Each `[limits]` key becomes one rule `jail:<name>:<resource>:deny=<amount>`, in the
//! spellings rctl_add_rule(2) requires: full subject name, no units on amounts. The rules
//! name the jail, not its id, so they can be added and removed whatever jid the jail gets;
//! rctl keeps them after the jail is gone, so undo removes each one (rctl_remove_rule(2)
//! with the rule itself as the filter, which matches only what stockade added).
//!
//! rctl works only with `kern.racct.enable=1`, a loader tunable (rctl(4)): a plan with any
//! rule says so ([`super::FreebsdPlan::requires_racct`]) and `apply` refuses to start
//! without it rather than run without the limit.
//!
//! `limits.open_files` is also an `RLIMIT_NOFILE` on the process (see `exec`): the rctl
//! rule caps the jail as a whole, the rlimit each process, as on Linux.

use std::fmt;

use serde::Serialize;
use stockade_core::spec::Limits;

/// An rctl resource stockade limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// `memoryuse`: resident memory, in bytes.
    Memoryuse,
    /// `maxproc`: number of processes.
    Maxproc,
    /// `pcpu`: %CPU, 100 per core.
    Pcpu,
    /// `openfiles`: open file descriptors, jail-wide.
    Openfiles,
}

impl Resource {
    /// The name as rctl spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Memoryuse => "memoryuse",
            Resource::Maxproc => "maxproc",
            Resource::Pcpu => "pcpu",
            Resource::Openfiles => "openfiles",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule: deny `resource` above `amount` for the jail named `jail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RctlRule {
    /// The jail name (the rule's subject id).
    pub jail: String,
    /// The resource.
    pub resource: Resource,
    /// The limit, without units.
    pub amount: u64,
}

impl RctlRule {
    /// The rule text passed to rctl_add_rule(2), e.g. `jail:web:maxproc:deny=64`.
    pub fn rule(&self) -> String {
        self.to_string()
    }

    /// The filter passed to rctl_remove_rule(2) to remove exactly this rule: the rule.
    pub fn filter(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for RctlRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "jail:{}:{}:deny={}",
            self.jail, self.resource, self.amount
        )
    }
}

/// `pcpu` amount for a number of cores: 100 per core, rounded to the nearest percent.
pub fn pcpu(cpus: f64) -> u64 {
    // The spec guarantees a finite value of at least 0.01, so this is at least 1;
    // `as` saturates on absurdly large values, which rctl then rejects with ERANGE.
    (cpus * 100.0).round() as u64
}

/// The rules for a jail's limits, in `[limits]` key order.
pub fn rules(jail: &str, limits: &Limits) -> Vec<RctlRule> {
    let wanted = [
        (Resource::Memoryuse, limits.memory),
        (Resource::Maxproc, limits.processes),
        (Resource::Pcpu, limits.cpus.map(pcpu)),
        (Resource::Openfiles, limits.open_files),
    ];
    wanted
        .into_iter()
        .filter_map(|(resource, amount)| {
            Some(RctlRule {
                jail: jail.to_string(),
                resource,
                amount: amount?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_becomes_one_rule() {
        let limits = Limits {
            memory: Some(268_435_456),
            processes: Some(64),
            cpus: Some(1.5),
            open_files: Some(1024),
            ..Limits::default()
        };
        let got: Vec<String> = rules("web", &limits).iter().map(RctlRule::rule).collect();
        assert_eq!(
            got,
            [
                "jail:web:memoryuse:deny=268435456",
                "jail:web:maxproc:deny=64",
                "jail:web:pcpu:deny=150",
                "jail:web:openfiles:deny=1024",
            ]
        );
    }

    #[test]
    fn no_limits_no_rules() {
        assert!(rules("web", &Limits::default()).is_empty());
    }

    #[test]
    fn pcpu_rounds_to_the_nearest_percent() {
        assert_eq!(pcpu(1.5), 150);
        assert_eq!(pcpu(0.01), 1);
        assert_eq!(pcpu(0.29), 29); // 28.999999999999996 before rounding
        assert_eq!(pcpu(0.125), 13);
        assert_eq!(pcpu(4.0), 400);
    }

    #[test]
    fn the_filter_is_the_rule_itself() {
        let r = &rules(
            "db",
            &Limits {
                processes: Some(8),
                ..Limits::default()
            },
        )[0];
        assert_eq!(r.filter(), "jail:db:maxproc:deny=8");
    }
}
