//! Deleting an environment: the exact reverse of what its plan made.
//!
//! Create runs mounts, rctl rules, the jail, the network, then the pf anchor; undo walks
//! back:
//! 0. Flush the pf anchor `stockade/NAME` (`pfctl -a stockade/NAME -F all`).
//! 1. Destroy the epair from the host end (SIOCIFDESTROY, what `ifconfig IF destroy`
//!    does), which destroys both ends wherever the jail end is.
//! 2. kill(2) every process in the jail (SIGKILL; `stop` has already sent SIGTERM and
//!    waited its grace period). jail_remove(2) kills them too, but signalling first lets
//!    `apply` wait for them and report what was still running.
//! 3. jail_remove(2). The jail may linger as "dying" while sockets drain; mounts it still
//!    references may return EBUSY for a moment, so `apply` retries those unmounts.
//! 4. rctl_remove_rule(2) for each rule, newest first, with the rule as the filter: rules
//!    on a jail name outlive the jail, and the limits hold until it is gone.
//! 5. the jail's resolv.conf: unmount the file mounted over it, or remove the one written
//!    where the root had none (see `resolv`).
//! 6. unmount(2) every mount in reverse order (see `mount::undo_order`); nested mounts go
//!    first, the jail path last. Folders stockade created inside its own tmpfs vanish
//!    with it. Then `zfs destroy` the clone and the snapshot of a copy-on-write root.
//! 7. rmdir(2) the jail path. It fails while anything is still mounted on it, so the
//!    state folder (removed with everything in it afterwards) can never be emptied
//!    *through* a mount that is still there.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::mount;
use super::net;
use super::FreebsdPlan;

/// One undo step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum UndoStep {
    /// Send a signal to every process in the jail.
    SignalAll {
        /// The jail name.
        jail: String,
        /// The signal's name.
        signal: &'static str,
    },
    /// jail_remove(2) the jail with this name.
    JailRemove {
        /// The jail name.
        jail: String,
    },
    /// rctl_remove_rule(2) with this filter.
    RctlRemove {
        /// The filter: the rule that was added.
        filter: String,
    },
    /// The jail's resolv.conf: unmount(2) the file mounted over it, or remove the file
    /// stockade wrote where the root had none (whichever create did).
    ResolvConf {
        /// The root's `/etc/resolv.conf`, as a host path.
        target: PathBuf,
    },
    /// unmount(2) this host path.
    Unmount {
        /// The mount point.
        fspath: PathBuf,
    },
    /// `pfctl -a ANCHOR -F all`: the environment's NAT and published ports.
    PfFlush {
        /// `stockade/NAME`.
        anchor: String,
    },
    /// Destroy this interface (and so its epair peer).
    DestroyInterface {
        /// The host end's name.
        iface: String,
    },
    /// `zfs destroy` this clone or snapshot.
    ZfsDestroy {
        /// The dataset.
        name: String,
    },
    /// rmdir(2) this folder (the jail path).
    RemoveDir {
        /// Host path.
        path: PathBuf,
    },
}

impl fmt::Display for UndoStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UndoStep::SignalAll { jail, signal } => {
                write!(f, "kill every process in jail {jail} with {signal}")
            }
            UndoStep::JailRemove { jail } => write!(f, "jail_remove {jail}"),
            UndoStep::RctlRemove { filter } => write!(f, "rctl_remove_rule {filter}"),
            UndoStep::ResolvConf { target } => write!(
                f,
                "unmount {0}, or remove {0} if stockade wrote it",
                target.display()
            ),
            UndoStep::Unmount { fspath } => write!(f, "unmount {}", fspath.display()),
            UndoStep::PfFlush { anchor } => write!(f, "pfctl -a {anchor} -F all"),
            UndoStep::DestroyInterface { iface } => {
                write!(f, "destroy {iface} (and its epair peer)")
            }
            UndoStep::ZfsDestroy { name } => write!(f, "zfs destroy {name}"),
            UndoStep::RemoveDir { path } => write!(f, "rmdir {}", path.display()),
        }
    }
}

/// The undo sequence of a plan.
pub fn steps(plan: &FreebsdPlan) -> Vec<UndoStep> {
    let mut steps = Vec::new();
    if let Some(pf) = &plan.pf {
        steps.push(UndoStep::PfFlush {
            anchor: pf.anchor.clone(),
        });
    }
    if let Some(epair) = net::created_epair(&plan.network) {
        steps.push(UndoStep::DestroyInterface {
            iface: epair.host.clone(),
        });
    }
    steps.extend([
        UndoStep::SignalAll {
            jail: plan.name.clone(),
            signal: "SIGKILL",
        },
        UndoStep::JailRemove {
            jail: plan.name.clone(),
        },
    ]);
    steps.extend(
        plan.rctl
            .iter()
            .rev()
            .map(|r| UndoStep::RctlRemove { filter: r.filter() }),
    );
    if let Some(r) = &plan.resolver {
        steps.push(UndoStep::ResolvConf {
            target: r.target.clone(),
        });
    }
    steps.extend(
        mount::undo_order(&plan.mounts)
            .into_iter()
            .map(|p| UndoStep::Unmount {
                fspath: p.to_path_buf(),
            }),
    );
    steps.extend(mount::datasets(&plan.mounts).into_iter().rev().map(|name| {
        UndoStep::ZfsDestroy {
            name: name.to_string(),
        }
    }));
    steps.push(UndoStep::RemoveDir {
        path: plan.jail_path.clone(),
    });
    steps
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use stockade_core::backend::{CgroupVersion, PlanContext};
    use stockade_core::Spec;

    use super::*;

    fn plan_of(extra: &str) -> FreebsdPlan {
        let text = format!(
            "name = \"db\"\n[root]\npath = \"/srv/db\"\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
        );
        let spec = Spec::from_toml(&text, Some(Path::new("/etc/stockade/db.toml"))).expect("spec");
        super::super::plan(&spec, &PlanContext::new("/run/s", "db", CgroupVersion::V2))
            .expect("plan")
    }

    #[test]
    fn rules_are_removed_newest_first_and_no_interface_without_epair() {
        let p = plan_of("[limits]\nmemory = \"1G\"\nprocesses = 5\n");
        let got: Vec<String> = steps(&p).iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got,
            [
                "kill every process in jail db with SIGKILL",
                "jail_remove db",
                "rctl_remove_rule jail:db:maxproc:deny=5",
                "rctl_remove_rule jail:db:memoryuse:deny=1073741824",
                "unmount /run/s/db/root/dev",
                "unmount /run/s/db/root",
                "rmdir /run/s/db/root",
            ]
        );
    }

    #[test]
    fn a_private_network_starts_with_flushing_its_anchor_then_the_host_end() {
        let p = plan_of("[network]\nmode = \"private\"\naddress = \"10.9.0.2/30\"\n");
        assert_eq!(
            steps(&p)[..2],
            [
                UndoStep::PfFlush {
                    anchor: "stockade/db".into()
                },
                UndoStep::DestroyInterface {
                    iface: "skdba".into()
                }
            ]
        );
        // The resolver goes after the jail and its rules, before the mounts below it.
        let got: Vec<String> = steps(&p).iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got[got.len() - 4..],
            [
                "unmount /run/s/db/root/etc/resolv.conf, or remove /run/s/db/root/etc/resolv.conf if stockade wrote it",
                "unmount /run/s/db/root/dev",
                "unmount /run/s/db/root",
                "rmdir /run/s/db/root",
            ]
        );
        let p = plan_of("[network]\nmode = \"private\"\naddress = \"10.9.0.2/30\"\nnat = false\n");
        assert_eq!(
            steps(&p).first(),
            Some(&UndoStep::DestroyInterface {
                iface: "skdba".into()
            })
        );
    }
}
