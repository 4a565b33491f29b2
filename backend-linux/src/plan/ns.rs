//! Namespaces: which ones `clone3(2)` creates for the environment (namespaces(7)).
//!
//! Namespaces are the isolation itself: a PID namespace gives the environment its own PID
//! 1, a mount namespace its own mount table (so the root can be built and pivoted into
//! without the host seeing it), UTS its own host name, IPC its own System V objects and
//! POSIX message queues, cgroup a view of the cgroup tree rooted at its own cgroup, and
//! network its own stack (unless `network.mode = "host"`).
//!
//! As root there is no user namespace: uid 0 inside is uid 0 outside, as in FreeBSD jails
//! (they have no uid mapping), so both OSes behave alike. Without root (rootless mode) a
//! user namespace comes first and owns all the others (see [`super::userns`]).
//!
//! The cgroup namespace takes the creating process's cgroup as its root. On cgroup v2,
//! `clone3` with `CLONE_INTO_CGROUP` places the child in the environment's cgroup at
//! creation; on v1 the process that clones must already sit in the environment's
//! cgroups, otherwise the namespace root would be stockade's own cgroup.

use std::fmt;

use serde::Serialize;
use stockade_core::spec::{NetworkMode, Spec};

/// One kind of namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    /// Process IDs (`CLONE_NEWPID`).
    Pid,
    /// The mount table (`CLONE_NEWNS`).
    Mount,
    /// Host and domain name (`CLONE_NEWUTS`).
    Uts,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Network devices, addresses, routes, firewall (`CLONE_NEWNET`).
    Net,
    /// The cgroup tree as seen from inside (`CLONE_NEWCGROUP`).
    Cgroup,
    /// User and group ids (`CLONE_NEWUSER`): rootless mode only (see [`super::userns`]).
    User,
}

impl Namespace {
    /// The `clone3(2)` flag that creates it.
    pub fn clone_flag(self) -> &'static str {
        match self {
            Namespace::Pid => "CLONE_NEWPID",
            Namespace::Mount => "CLONE_NEWNS",
            Namespace::Uts => "CLONE_NEWUTS",
            Namespace::Ipc => "CLONE_NEWIPC",
            Namespace::Net => "CLONE_NEWNET",
            Namespace::Cgroup => "CLONE_NEWCGROUP",
            Namespace::User => "CLONE_NEWUSER",
        }
    }

    /// Its file in `/proc/PID/ns/`, which `exec` opens to `setns(2)` into it.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Pid => "pid",
            Namespace::Mount => "mnt",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
            Namespace::Cgroup => "cgroup",
            Namespace::User => "user",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

/// The namespaces the environment's first process is cloned into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamespacePlan {
    /// New namespaces, in a fixed order; all are passed to one `clone3` call.
    pub create: Vec<Namespace>,
}

impl NamespacePlan {
    /// True when the plan creates this namespace.
    pub fn has(&self, ns: Namespace) -> bool {
        self.create.contains(&ns)
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let flags: Vec<&str> = self.create.iter().map(|n| n.clone_flag()).collect();
        let mut lines = vec![format!("clone3 with {}", flags.join(" | "))];
        if !self.has(Namespace::Net) {
            lines.push("share the host's network namespace (network.mode = \"host\")".into());
        }
        lines
    }
}

/// The namespaces for a spec: all but `net` always, `net` unless the network is the host's.
pub fn plan(spec: &Spec) -> NamespacePlan {
    let mut create = vec![
        Namespace::Pid,
        Namespace::Mount,
        Namespace::Uts,
        Namespace::Ipc,
    ];
    if spec.network.mode != NetworkMode::Host {
        create.push(Namespace::Net);
    }
    create.push(Namespace::Cgroup);
    NamespacePlan { create }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    #[test]
    fn default_network_gets_its_own_namespace() {
        let plan = plan(&spec(""));
        assert_eq!(
            plan.create,
            [
                Namespace::Pid,
                Namespace::Mount,
                Namespace::Uts,
                Namespace::Ipc,
                Namespace::Net,
                Namespace::Cgroup
            ]
        );
        assert_eq!(
            plan.describe()[0],
            "clone3 with CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP"
        );
    }

    #[test]
    fn host_network_shares_the_host_stack() {
        let plan = plan(&spec("[network]\nmode = \"host\"\n"));
        assert!(!plan.has(Namespace::Net));
        assert_eq!(plan.create.len(), 5);
        assert!(plan.has(Namespace::Cgroup));
    }

    #[test]
    fn private_network_gets_its_own_namespace() {
        let plan = plan(&spec(
            "[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n",
        ));
        assert!(plan.has(Namespace::Net));
    }
}
