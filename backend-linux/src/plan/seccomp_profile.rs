//! A complete seccomp profile as data: the form an OCI `config.json` gives (`linux.seccomp`:
//! a default action, rules of syscall names with an action each and argument conditions,
//! the architectures), beside stockade's own deny list ([`super::seccomp`]).
//!
//! seccomp-bpf programs have one verdict per call, and the kernel runs every stacked filter
//! and keeps the verdict of highest precedence (seccomp(2): KILL_PROCESS > KILL_THREAD >
//! TRAP > ERRNO > TRACE > LOG > ALLOW). [`SeccompProfile::filters`] turns the profile
//! into such a stack, each filter with one action on a match and one on a mismatch, the
//! shape seccompiler builds:
//! - one filter whose mismatch verdict is the default action and which allows every call
//!   some rule matches (a call no rule matches gets the default);
//! - one filter per other action, giving that action to the calls its rules match and
//!   allowing the rest.
//!
//! A call that matches a rule thus gets that rule's action (every other filter allows it),
//! and one matching no rule gets the default: libseccomp's semantics, without libseccomp
//! (which would tie the static musl builds to a C library).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the filter does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "action", content = "data", rename_all = "snake_case")]
pub enum ProfileAction {
    /// Let it run.
    Allow,
    /// Fail it with this errno.
    Errno(u32),
    /// Kill the thread.
    KillThread,
    /// Kill the process.
    KillProcess,
    /// Send SIGSYS.
    Trap,
    /// Notify a ptrace tracer with this value.
    Trace(u32),
    /// Allow and log.
    Log,
}

impl fmt::Display for ProfileAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileAction::Allow => f.write_str("allow"),
            ProfileAction::Errno(n) => write!(f, "fail with errno {n}"),
            ProfileAction::KillThread => f.write_str("kill the thread"),
            ProfileAction::KillProcess => f.write_str("kill the process"),
            ProfileAction::Trap => f.write_str("send SIGSYS"),
            ProfileAction::Trace(n) => write!(f, "notify the tracer ({n})"),
            ProfileAction::Log => f.write_str("log and allow"),
        }
    }
}

/// How an argument is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgOp {
    /// `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `(arg & mask) == value`, the mask in [`ArgCondition::value`] and the value in
    /// [`ArgCondition::value_two`] (as OCI and libseccomp order them).
    MaskedEq,
}

/// One condition on one argument; the conditions of a rule must all hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgCondition {
    /// The argument, 0 to 5.
    pub index: u8,
    /// The value compared to (the mask for `MaskedEq`).
    pub value: u64,
    /// The second value (`MaskedEq`'s value).
    pub value_two: u64,
    /// The comparison.
    pub op: ArgOp,
}

/// Syscalls that get one action when all the conditions hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRule {
    /// Syscall names; names unknown on this architecture are skipped, as runc does.
    pub names: Vec<String>,
    /// What happens to a matching call.
    pub action: ProfileAction,
    /// Conditions, all of which must hold (none: every call matches).
    pub args: Vec<ArgCondition>,
}

/// A complete profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompProfile {
    /// The action of a call no rule matches.
    pub default_action: ProfileAction,
    /// The ABIs named by the profile (`SCMP_ARCH_X86_64`, ...); calls through the native
    /// ABI are filtered, calls through any other ABI are refused (see the module).
    pub architectures: Vec<String>,
    /// The rules, in order.
    pub rules: Vec<ProfileRule>,
}

/// One filter of the stack: `on_match` for the calls its rules match, `on_mismatch` for
/// the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec<'a> {
    /// The verdict of a matching call.
    pub on_match: ProfileAction,
    /// The verdict of any other call.
    pub on_mismatch: ProfileAction,
    /// The rules whose calls match.
    pub rules: Vec<&'a ProfileRule>,
}

impl SeccompProfile {
    /// The stack of filters that gives this profile's verdicts (see the module).
    pub fn filters(&self) -> Vec<FilterSpec<'_>> {
        let mut out = Vec::new();
        if self.default_action != ProfileAction::Allow {
            out.push(FilterSpec {
                on_match: ProfileAction::Allow,
                on_mismatch: self.default_action,
                rules: self.rules.iter().collect(),
            });
        }
        let mut actions: Vec<ProfileAction> = self
            .rules
            .iter()
            .map(|r| r.action)
            .filter(|a| *a != ProfileAction::Allow)
            .collect();
        actions.sort();
        actions.dedup();
        for action in actions {
            out.push(FilterSpec {
                on_match: action,
                on_mismatch: ProfileAction::Allow,
                rules: self.rules.iter().filter(|r| r.action == action).collect(),
            });
        }
        out
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "load a profile right before execve: by default {}; {} rules; architectures {}",
            self.default_action,
            self.rules.len(),
            self.architectures.join(" ")
        )];
        for r in &self.rules {
            let cond = if r.args.is_empty() {
                String::new()
            } else {
                let c: Vec<String> = r
                    .args
                    .iter()
                    .map(|a| format!("arg{} {:?} {}", a.index, a.op, a.value))
                    .collect();
                format!(" when {}", c.join(" and "))
            };
            lines.push(format!("{}: {}{cond}", r.action, r.names.join(" ")));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(names: &[&str], action: ProfileAction) -> ProfileRule {
        ProfileRule {
            names: names.iter().map(|s| s.to_string()).collect(),
            action,
            args: vec![],
        }
    }

    #[test]
    fn allow_list_profile_is_one_default_filter_plus_one_per_action() {
        let p = SeccompProfile {
            default_action: ProfileAction::Errno(38),
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            rules: vec![
                rule(&["read", "write"], ProfileAction::Allow),
                rule(&["mount"], ProfileAction::Errno(1)),
                rule(&["reboot"], ProfileAction::Errno(1)),
                rule(&["kexec_load"], ProfileAction::KillProcess),
            ],
        };
        let f = p.filters();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].on_mismatch, ProfileAction::Errno(38));
        assert_eq!(f[0].on_match, ProfileAction::Allow);
        assert_eq!(f[0].rules.len(), 4, "every rule escapes the default");
        assert_eq!(f[1].on_match, ProfileAction::Errno(1));
        assert_eq!(f[1].rules.len(), 2);
        assert_eq!(f[2].on_match, ProfileAction::KillProcess);
        assert!(f[1..].iter().all(|x| x.on_mismatch == ProfileAction::Allow));
    }

    #[test]
    fn deny_list_profile_needs_no_default_filter() {
        let p = SeccompProfile {
            default_action: ProfileAction::Allow,
            architectures: vec![],
            rules: vec![rule(&["mount"], ProfileAction::Errno(1))],
        };
        let f = p.filters();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].on_match, ProfileAction::Errno(1));
    }
}
