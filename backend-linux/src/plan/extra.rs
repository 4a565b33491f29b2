//! What a plan can hold beyond what a stockade spec asks: the parts of an OCI
//! `config.json` (see [`crate::oci::translate`]) that have no spec key yet. A plan made
//! from a spec leaves all of it empty, and then none of it is printed or serialized.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::ns::Namespace;

/// An existing namespace to enter (setns(2)) instead of making a new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JoinNamespace {
    /// Which namespace.
    pub namespace: Namespace,
    /// Its file, e.g. `/run/netns/x` or `/proc/PID/ns/net`.
    pub path: PathBuf,
}

/// A program the runtime runs at a point of the lifecycle (an OCI hook).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Hook {
    /// The program, an absolute host path.
    pub path: PathBuf,
    /// Its argv, the first being argv[0].
    #[serde(default)]
    pub args: Vec<String>,
    /// Its whole environment, `NAME=value`.
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds before it is killed.
    #[serde(default)]
    pub timeout: Option<u64>,
}

/// The extra steps of a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanExtras {
    /// Namespaces to join before the first process is cloned (it is born in them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub join: Vec<JoinNamespace>,
    /// Kernel parameters written under `/proc/sys` from inside the new namespaces, before
    /// the root is built (`net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctl: BTreeMap<String, String>,
    /// `/proc/self/oom_score_adj` of the first process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// The file mode creation mask of the first process (umask(2)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    /// Run by the creator once the process exists in its namespaces and cgroups and
    /// before it may go on (OCI `prestart`, then `createRuntime`), with the state JSON.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub create_hooks: Vec<Hook>,
}

impl PlanExtras {
    /// True when there is nothing extra (every plan made from a spec).
    pub fn is_empty(&self) -> bool {
        *self == PlanExtras::default()
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for j in &self.join {
            lines.push(format!(
                "join the {} namespace {} (setns)",
                j.namespace.proc_name(),
                j.path.display()
            ));
        }
        for (k, v) in &self.sysctl {
            lines.push(format!("sysctl {k} = {v}"));
        }
        if let Some(adj) = self.oom_score_adj {
            lines.push(format!("oom_score_adj {adj}"));
        }
        if let Some(mask) = self.umask {
            lines.push(format!("umask {mask:04o}"));
        }
        for h in &self.create_hooks {
            lines.push(format!(
                "run hook {} before the process goes on",
                h.path.display()
            ));
        }
        lines
    }
}

/// A sysctl key as its `/proc/sys` path: `net.ipv4.ip_forward` →
/// `/proc/sys/net/ipv4/ip_forward` (a `/` in the key stays, as sysctl(8) allows).
pub fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}
