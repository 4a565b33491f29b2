//! The syscall filter: a seccomp-bpf policy as data (seccomp(2), `SECCOMP_SET_MODE_FILTER`).
//!
//! stockade's default is a deny list: everything is allowed except the syscalls Docker's
//! default profile denies to containers (loading kernel modules, kexec, reboot, changing
//! the clock, keyrings, mounting, namespace changes, tracing other processes, NUMA and
//! performance counters, ...), which fail with `EPERM`. Each privilege granted in
//! `privileges.allow` re-allows the syscalls `stockade_core::portability::privilege_mapping`
//! lists for it (`mount` re-allows `mount`, `umount2`, the new mount API; `ptrace`
//! re-allows `ptrace` and `process_vm_*`). `privileges.seccomp = "unconfined"` installs no
//! filter at all. `personality` stays allowed: Docker only denies unusual personas, which
//! a name-only list cannot express.
//!
//! **When it is loaded.** The filter denies `mount`, `pivot_root`, `setns` and `unshare`,
//! which stockade itself needs to build the environment. It is installed last, after the
//! root is built and pivoted into, after limits, setuid and the capability drop, right
//! before `execve`: stockade's own setup never runs under it. `no_new_privs` (always on)
//! lets an unprivileged process load it.
//!
//! **Architectures.** Syscall numbers differ per ABI: apply builds the filter for the
//! native architecture and its compat ABIs (x86_64 with i386 and x32, aarch64 with arm),
//! resolving each name per ABI and skipping names an ABI lacks (`vm86`, `stime`,
//! `_sysctl` on newer kernels, ...), and it denies calls from any other ABI, which would
//! otherwise slip past a list of native numbers.
//!
//! **Known gap.** Docker's profile also filters `clone` namespace flags by argument when
//! `CAP_SYS_ADMIN` is absent; this name-only list does not. Without `CAP_SYS_ADMIN` the
//! kernel refuses those flags anyway, except a new user namespace.

use std::fmt;

use serde::Serialize;
use stockade_core::portability::privilege_mapping;
use stockade_core::spec::{Seccomp, Spec};

/// The syscalls the default filter denies, sorted.
pub const DEFAULT_DENIED_SYSCALLS: &[&str] = &[
    "_sysctl",
    "acct",
    "add_key",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "open_tree",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapoff",
    "swapon",
    "sysfs",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// What the filter does with a syscall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SeccompAction {
    /// Let it run (`SECCOMP_RET_ALLOW`).
    Allow,
    /// Fail it with an errno, without running it (`SECCOMP_RET_ERRNO`).
    Errno {
        /// The errno's name, e.g. `EPERM`.
        errno: String,
    },
}

impl fmt::Display for SeccompAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeccompAction::Allow => f.write_str("allow"),
            SeccompAction::Errno { errno } => write!(f, "fail with {errno}"),
        }
    }
}

/// A deny-list filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeccompPolicy {
    /// What happens to any syscall not listed.
    pub default_action: SeccompAction,
    /// What happens to a listed one.
    pub deny_action: SeccompAction,
    /// The denied syscalls, sorted.
    pub denied: Vec<String>,
    /// Default-denied syscalls that granted privileges re-allow, sorted (for the record:
    /// they are not in `denied`).
    pub reallowed: Vec<String>,
}

/// The filter of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum SeccompPlan {
    /// No filter (`privileges.seccomp = "unconfined"`).
    Unconfined,
    /// A filter, installed right before `execve`.
    Filter(SeccompPolicy),
    /// A complete profile (from an OCI config.json), installed right before `execve`.
    Profile(super::seccomp_profile::SeccompProfile),
}

impl SeccompPlan {
    /// The filter, if any.
    pub fn policy(&self) -> Option<&SeccompPolicy> {
        match self {
            SeccompPlan::Unconfined | SeccompPlan::Profile(_) => None,
            SeccompPlan::Filter(p) => Some(p),
        }
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        match self {
            SeccompPlan::Unconfined => {
                vec!["no filter (privileges.seccomp = \"unconfined\")".into()]
            }
            SeccompPlan::Filter(p) => {
                let mut lines = vec![format!(
                    "load a filter right before execve: by default {}; {} syscalls {}",
                    p.default_action,
                    p.denied.len(),
                    p.deny_action
                )];
                lines.push(format!("denied: {}", p.denied.join(" ")));
                if !p.reallowed.is_empty() {
                    lines.push(format!(
                        "re-allowed by privileges: {}",
                        p.reallowed.join(" ")
                    ));
                }
                lines
            }
            SeccompPlan::Profile(p) => p.describe(),
        }
    }
}

/// The filter of a spec.
pub fn plan(spec: &Spec) -> SeccompPlan {
    if spec.privileges.seccomp == Seccomp::Unconfined {
        return SeccompPlan::Unconfined;
    }
    let mut reallowed: Vec<String> = spec
        .privileges
        .allow
        .iter()
        .flat_map(|p| privilege_mapping(*p).syscalls.iter())
        .filter(|s| DEFAULT_DENIED_SYSCALLS.contains(s))
        .map(|s| s.to_string())
        .collect();
    reallowed.sort();
    reallowed.dedup();
    let denied = DEFAULT_DENIED_SYSCALLS
        .iter()
        .filter(|s| !reallowed.iter().any(|r| r == *s))
        .map(|s| s.to_string())
        .collect();
    SeccompPlan::Filter(SeccompPolicy {
        default_action: SeccompAction::Allow,
        deny_action: SeccompAction::Errno {
            errno: "EPERM".into(),
        },
        denied,
        reallowed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    fn denies(plan: &SeccompPlan, syscall: &str) -> bool {
        plan.policy()
            .expect("a filter")
            .denied
            .iter()
            .any(|s| s == syscall)
    }

    #[test]
    fn default_filter_denies_the_docker_list() {
        let plan = plan(&spec(""));
        let p = plan.policy().unwrap();
        assert_eq!(p.default_action, SeccompAction::Allow);
        assert_eq!(
            p.deny_action,
            SeccompAction::Errno {
                errno: "EPERM".into()
            }
        );
        assert_eq!(p.denied, DEFAULT_DENIED_SYSCALLS);
        assert_eq!(p.denied.len(), 55);
        assert!(p.reallowed.is_empty());
        for s in ["keyctl", "mount", "pivot_root", "unshare", "bpf", "ptrace"] {
            assert!(denies(&plan, s), "{s}");
        }
        assert!(!denies(&plan, "personality"));
        assert!(!denies(&plan, "read"));
    }

    #[test]
    fn default_list_is_sorted_and_unique() {
        let mut sorted = DEFAULT_DENIED_SYSCALLS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, DEFAULT_DENIED_SYSCALLS);
    }

    #[test]
    fn mount_privilege_reallows_the_mount_syscalls() {
        let plan = plan(&spec("[privileges]\nallow = [\"mount\"]\n"));
        assert!(!denies(&plan, "mount"));
        assert!(!denies(&plan, "umount2"));
        assert!(!denies(&plan, "fsopen"));
        assert!(!denies(&plan, "open_tree"));
        assert!(denies(&plan, "keyctl"));
        assert!(denies(&plan, "pivot_root"));
        assert!(denies(&plan, "ptrace"));
        let p = plan.policy().unwrap();
        assert_eq!(
            p.reallowed,
            [
                "fsconfig",
                "fsmount",
                "fsopen",
                "fspick",
                "mount",
                "move_mount",
                "open_tree",
                "umount",
                "umount2"
            ]
        );
        assert_eq!(p.denied.len(), 55 - 9);
    }

    #[test]
    fn ptrace_privilege_reallows_ptrace() {
        let plan = plan(&spec(
            "[privileges]\nallow = [\"ptrace\", \"raw_sockets\"]\n",
        ));
        assert!(!denies(&plan, "ptrace"));
        assert!(!denies(&plan, "process_vm_readv"));
        assert!(denies(&plan, "mount"));
    }

    #[test]
    fn unconfined_has_no_filter() {
        let plan = plan(&spec(
            "[privileges]\nseccomp = \"unconfined\"\nallow = [\"mount\"]\n",
        ));
        assert_eq!(plan, SeccompPlan::Unconfined);
        assert_eq!(plan.policy(), None);
        assert_eq!(
            serde_json::to_value(&plan).unwrap(),
            serde_json::json!({"mode": "unconfined"})
        );
    }
}
