//! Capabilities: the sets the environment's process keeps (capabilities(7)), and
//! `no_new_privs` (`PR_SET_NO_NEW_PRIVS`, prctl(2)).
//!
//! The default set is [`DEFAULT_CAPABILITIES`]: Docker's default less `CAP_NET_RAW`,
//! `CAP_MKNOD` and `CAP_NET_BIND_SERVICE`, which FreeBSD jails also withhold by default.
//! The same list is written out in `stockade_core::portability::markdown()` (the
//! generated portability page); a test here keeps the two in step. Each privilege in
//! `privileges.allow` adds the capabilities `stockade_core::portability::privilege_mapping`
//! gives it; there is no second mapping table.
//!
//! Which set holds what:
//! - **bounding, permitted, effective**: the allowed set. Capabilities outside the
//!   bounding set can never come back, not even through setuid-root or file capabilities.
//! - **inheritable, ambient**: empty. A process running as root regains the permitted set
//!   on `execve` from the bounding set; a non-root process ends with no capabilities after
//!   `execve`, as in Docker. That is also what FreeBSD does: `allow.*` jail parameters
//!   apply to jail root only, so `privileges.allow` means the same on both OSes.
//!   (An empty inheritable set also closes CVE-2022-24769.)
//!
//! Order in apply: drop the bounding set (`PR_CAPBSET_DROP`, needs `CAP_SETPCAP`), keep
//! capabilities across the uid change (`PR_SET_KEEPCAPS`), setgroups/setgid/setuid,
//! `capset` for effective/permitted/inheritable, clear ambient, then `no_new_privs` and
//! the seccomp filter.

use std::fmt;

use serde::Serialize;
use stockade_core::portability::privilege_mapping;
use stockade_core::spec::Spec;

/// The capabilities every environment keeps, sorted.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// The process's capability sets, each sorted and without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CapabilityPlan {
    /// The bounding set: the most the process and its children can ever hold.
    pub bounding: Vec<String>,
    /// The effective set: what the kernel checks.
    pub effective: Vec<String>,
    /// The permitted set: what the process may make effective.
    pub permitted: Vec<String>,
    /// The inheritable set: always empty (see the module).
    pub inheritable: Vec<String>,
    /// The ambient set: always empty (see the module).
    pub ambient: Vec<String>,
    /// `PR_SET_NO_NEW_PRIVS`: always true; setuid bits and file capabilities cannot add
    /// privileges, and the seccomp filter can be loaded without `CAP_SYS_ADMIN`.
    pub no_new_privs: bool,
}

impl CapabilityPlan {
    pub(crate) fn describe(&self) -> Vec<String> {
        let set = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(", ")
            }
        };
        vec![
            format!("bounding: {}", set(&self.bounding)),
            format!("permitted: {}", set(&self.permitted)),
            format!("effective: {}", set(&self.effective)),
            format!("inheritable: {}", set(&self.inheritable)),
            format!("ambient: {}", set(&self.ambient)),
            format!(
                "no_new_privs: {}",
                if self.no_new_privs { "on" } else { "off" }
            ),
        ]
    }
}

impl fmt::Display for CapabilityPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe().join("\n"))
    }
}

/// The capability sets of a spec: the default set plus each allowed privilege's.
pub fn plan(spec: &Spec) -> CapabilityPlan {
    let mut set: Vec<String> = DEFAULT_CAPABILITIES
        .iter()
        .copied()
        .chain(
            spec.privileges
                .allow
                .iter()
                .flat_map(|p| privilege_mapping(*p).capabilities.iter().copied()),
        )
        .map(str::to_string)
        .collect();
    set.sort();
    set.dedup();
    CapabilityPlan {
        bounding: set.clone(),
        effective: set.clone(),
        permitted: set,
        inheritable: Vec::new(),
        ambient: Vec::new(),
        no_new_privs: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    #[test]
    fn default_set() {
        let caps = plan(&spec(""));
        assert_eq!(caps.bounding, DEFAULT_CAPABILITIES);
        assert_eq!(caps.permitted, DEFAULT_CAPABILITIES);
        assert_eq!(caps.effective, DEFAULT_CAPABILITIES);
        assert!(caps.inheritable.is_empty());
        assert!(caps.ambient.is_empty());
        assert!(caps.no_new_privs);
        assert!(!caps.bounding.iter().any(|c| c == "CAP_NET_RAW"
            || c == "CAP_MKNOD"
            || c == "CAP_NET_BIND_SERVICE"
            || c == "CAP_SYS_ADMIN"));
    }

    #[test]
    fn default_list_is_sorted_and_unique() {
        let mut sorted = DEFAULT_CAPABILITIES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, DEFAULT_CAPABILITIES);
        assert_eq!(DEFAULT_CAPABILITIES.len(), 11);
    }

    #[test]
    fn allowed_privileges_add_their_capabilities() {
        let caps = plan(&spec(
            "[privileges]\nallow = [\"raw_sockets\", \"mount\", \"set_hostname\", \"chown\"]\n",
        ));
        // mount and set_hostname both map to CAP_SYS_ADMIN; chown is already a default.
        let mut expected: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
        expected.extend(["CAP_NET_RAW", "CAP_SYS_ADMIN"]);
        expected.sort();
        assert_eq!(caps.bounding, expected);
        assert_eq!(caps.effective, expected);
        assert_eq!(caps.permitted, expected);
        assert_eq!(caps.bounding.len(), 13);
        assert!(caps.ambient.is_empty());
    }

    /// The core's generated portability page states the default list in prose; it must
    /// name exactly these capabilities.
    #[test]
    fn default_list_matches_the_portability_page() {
        let md = stockade_core::portability::markdown();
        let start = md
            .find("Without `allow`, Linux keeps")
            .expect("the portability page states the default capabilities");
        let end = start + md[start..].find("(Docker's").expect("sentence goes on");
        let mut named: Vec<&str> = md[start..end]
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("CAP_"))
            .collect();
        named.sort();
        assert_eq!(named, DEFAULT_CAPABILITIES);
    }
}
