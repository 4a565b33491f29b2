//! The FreeBSD plan: a spec turned into the ordered kernel operations of a jail.
//!
//! Pure: nothing here touches the kernel, so it compiles and is tested on every OS and
//! `stockade plan --target freebsd` works from Linux. Sections run in this order:
//! 1. [`mount`]: nmount(2) calls that build the tree under the jail path;
//!    then [`resolv`]: the jail's own resolv.conf (private networks), mounted over the
//!    root's or written where it has none;
//! 2. [`rctl`]: rctl_add_rule(2) rules (need `kern.racct.enable=1`). They name the jail,
//!    which need not exist yet (the kernel keeps rules per jail *name*, which is how
//!    /etc/rctl.conf limits jails at boot), so they are in force from the jail's first
//!    moment and, undone after it, until its last process is gone;
//! 3. [`jail`]: the jail_set(2) parameters that create the jail;
//! 4. [`net`]: the vnet's lo0 and the epair(4) of a private network;
//! 5. [`exec`]: jail_attach(2), credentials, limits and execve(2) in a child.
//!
//! [`undo`] is the exact reverse, for `delete`.

pub mod abi;
pub mod exec;
pub mod jail;
pub mod layer;
pub mod mount;
pub mod net;
pub mod pf;
pub mod rctl;
pub mod resolv;
pub mod undo;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::backend::{HostInfo, PlanContext};
use stockade_core::portability::{self, Feature, Support, Target};
use stockade_core::spec::CpuSet;
use stockade_core::Spec;

use exec::ExecStep;
use jail::{JailParam, JailPlanError, JailValue};
use layer::{Cow, ZfsProbe};
use mount::MountStep;
use net::{NetPlanError, NetStep};
use rctl::RctlRule;
use undo::UndoStep;

/// The folder below the state folder that becomes the jail's `path`.
pub const JAIL_ROOT_DIR: &str = "root";

/// Everything a jail for one spec needs, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FreebsdPlan {
    /// The environment's name, also the jail's name and the rctl subject.
    pub name: String,
    /// The jail's `path` on the host: `<state_dir>/root`.
    pub jail_path: PathBuf,
    /// How a copy-on-write root is made (`root.overlay`), and why: unionfs or a ZFS
    /// clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_on_write: Option<Cow>,
    /// Folder and nmount(2) steps, in order.
    pub mounts: Vec<MountStep>,
    /// The jail's resolv.conf (private networks), placed after the mounts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<resolv::ResolvPlan>,
    /// rctl rules, in order (added before the jail exists).
    pub rctl: Vec<RctlRule>,
    /// jail_set(2) parameters, in order.
    pub jail: Vec<JailParam>,
    /// A Linux userland (`root.abi = "linux"` or detected): needs `linux64`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux: Option<abi::LinuxAbiPlan>,
    /// The jail's CPUs (`cpuset -j`), set right after it is made: `limits.cpuset`, or
    /// CPUs 0..ceil(`limits.cpus`) with `limits.visible`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<CpuSet>,
    /// Network steps after the jail exists, in order.
    pub network: Vec<NetStep>,
    /// NAT and published ports: pf rules in the anchor `stockade/NAME`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pf: Option<pf::PfPlan>,
    /// Steps that start the process, in order.
    pub exec: Vec<ExecStep>,
    /// Where FreeBSD behaves differently from Linux for this spec (from the core
    /// portability table), including features that plan no step, such as `process.init`.
    pub notes: Vec<Note>,
}

/// A documented difference, from the portability table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// The spec key concerned.
    pub key: String,
    /// What differs.
    pub text: &'static str,
}

/// Why a spec cannot be planned for FreeBSD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The jail cannot be made (name, privileges).
    #[error(transparent)]
    Jail(#[from] JailPlanError),
    /// The network cannot be planned.
    #[error(transparent)]
    Network(#[from] NetPlanError),
    /// A feature the portability table marks unsupported on FreeBSD.
    #[error("{key} is unsupported on FreeBSD: {reason}")]
    Unsupported {
        /// Where the spec uses it.
        key: String,
        /// The table's reason.
        reason: &'static str,
    },
}

/// This host cannot run a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// rctl rules are planned but racct is off.
    #[error(
        "racct is off, so [limits] cannot be enforced: set kern.racct.enable=1 in \
         /boot/loader.conf and reboot (or remove [limits])"
    )]
    RacctOff,
    /// A Linux root is planned but the Linux ABI is not loaded.
    #[error(
        "the root is a Linux userland{how}, which needs FreeBSD's Linux ABI, and the \
         linux64 module is not loaded: run `kldload linux64` (add linux_enable=\"YES\" to \
         /etc/rc.conf to load it at boot), or use a FreeBSD root"
    )]
    NoLinuxAbi {
        /// How the root was found to be Linux.
        how: &'static str,
    },
    /// A vnet jail is planned but the kernel has no VIMAGE.
    #[error(
        "this kernel has no VIMAGE (kern.features.vimage), which network mode \"{mode}\" \
         needs for its own network stack: boot a kernel with `options VIMAGE` (GENERIC has \
         it since FreeBSD 12), or use mode = \"host\""
    )]
    NoVimage {
        /// The spec's network mode.
        mode: &'static str,
    },
}

impl FreebsdPlan {
    /// True when the plan has rctl rules, which need `kern.racct.enable=1`.
    pub fn requires_racct(&self) -> bool {
        !self.rctl.is_empty()
    }

    /// True when the root is a Linux userland, which needs the `linux64` module.
    pub fn requires_linux_abi(&self) -> bool {
        self.linux.is_some()
    }

    /// True when the jail gets its own network stack (`vnet`), which needs VIMAGE.
    pub fn requires_vimage(&self) -> bool {
        self.jail.iter().any(|p| p.name == "vnet")
    }

    /// Checks a probed host against what the plan needs; says what to do when it cannot.
    pub fn check_host(&self, host: &HostInfo) -> Result<(), HostError> {
        if self.requires_racct() && host.racct != Some(true) {
            return Err(HostError::RacctOff);
        }
        if let Some(linux) = &self.linux {
            if host.linux_abi != Some(true) {
                let how = if linux.detected {
                    " (its /bin/sh is a Linux binary)"
                } else {
                    " (root.abi = \"linux\")"
                };
                return Err(HostError::NoLinuxAbi { how });
            }
        }
        if self.requires_vimage() && host.vimage != Some(true) {
            let mode = if net::created_epair(&self.network).is_some() {
                "private"
            } else {
                "none"
            };
            return Err(HostError::NoVimage { mode });
        }
        Ok(())
    }

    /// The mount points to unmount on delete, in order: the reverse of the mounts.
    pub fn undo_mounts(&self) -> Vec<&Path> {
        mount::undo_order(&self.mounts)
    }

    /// Every step of `delete`, in order.
    pub fn undo(&self) -> Vec<UndoStep> {
        undo::steps(self)
    }

    /// The value of a jail parameter, if the plan sets it.
    pub fn jail_param(&self, name: &str) -> Option<&JailValue> {
        self.jail.iter().find(|p| p.name == name).map(|p| &p.value)
    }
}

/// Host facts the planner takes as input, so that it stays pure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FreebsdPlanOptions {
    /// Whether `root.path` is a ZFS dataset's mount point (a copy-on-write root then
    /// becomes a clone); probed on FreeBSD by `crate::probe::plan_options`.
    pub zfs: ZfsProbe,
    /// The ABI of the root's `/bin/sh` when `root.abi` is not given
    /// (`crate::probe::root_abi`); a Linux one makes the root a Linux userland.
    pub abi: Option<abi::ElfAbi>,
}

/// Turns a validated spec into its FreeBSD plan, without host facts (no ZFS probe).
pub fn plan(spec: &Spec, ctx: &PlanContext) -> Result<FreebsdPlan, PlanError> {
    plan_with(spec, ctx, &FreebsdPlanOptions::default())
}

/// Turns a validated spec into its FreeBSD plan for a host described by `options`.
pub fn plan_with(
    spec: &Spec,
    ctx: &PlanContext,
    options: &FreebsdPlanOptions,
) -> Result<FreebsdPlan, PlanError> {
    let jail_path = ctx.state_dir.join(JAIL_ROOT_DIR);
    let copy_on_write = layer::choose(spec, &ctx.state_dir, &options.zfs);
    // Privileges first: their error names the privilege, which is the more useful one.
    let mut jail = jail::params(spec, &jail_path)?;
    let mut notes = notes(spec)?;
    let linux = abi::plan(spec, options.abi);
    if let Some(l) = &linux {
        jail.extend(abi::jail_params(l));
        if l.detected {
            let why = portability::support(Feature::LinuxRoot, Target::Freebsd).why();
            notes.push(Note {
                key: "root.path (a Linux /bin/sh)".into(),
                text: why.unwrap_or("a Linux userland"),
            });
        }
    }
    let network = net::plan(&spec.name, &spec.network)?;
    let pf = pf::plan(spec);
    let resolver = resolv::plan(spec, &ctx.state_dir, &jail_path);
    Ok(FreebsdPlan {
        resolver,
        name: spec.name.clone(),
        mounts: mount::plan_abi(spec, &jail_path, copy_on_write.as_ref(), linux.is_some()),
        linux,
        copy_on_write,
        jail,
        rctl: rctl::rules(&spec.name, &spec.limits),
        cpuset: jail_cpuset(spec),
        network,
        pf,
        exec: exec::plan(spec),
        notes,
        jail_path,
    })
}

/// The jail's CPUs: the cpuset, or with `visible` the first ceil(cpus) CPUs (the planner
/// does not know the host's CPUs; CPU 0 upwards always exist).
fn jail_cpuset(spec: &Spec) -> Option<CpuSet> {
    let limits = &spec.limits;
    match (&limits.cpuset, limits.cpus) {
        (Some(set), _) => Some(set.clone()),
        (None, Some(cpus)) if limits.visible => {
            let n = (cpus.ceil() as u32).max(1);
            CpuSet::from_cpus((0..n).collect())
        }
        _ => None,
    }
}

/// The table's verdicts on this spec: unsupported features fail, approximations are notes.
fn notes(spec: &Spec) -> Result<Vec<Note>, PlanError> {
    let mut notes = Vec::new();
    for report in portability::check(spec, &[Target::Freebsd]) {
        for finding in report.findings {
            match finding.support {
                Support::Exact => {}
                Support::Approximate(text) => notes.push(Note {
                    key: finding.used.key,
                    text,
                }),
                // Privileges were checked with their own error by `jail::params`.
                Support::Unsupported(_)
                    if matches!(finding.used.feature, Feature::Privilege(_)) => {}
                Support::Unsupported(reason) => {
                    return Err(PlanError::Unsupported {
                        key: finding.used.key,
                        reason,
                    })
                }
            }
        }
    }
    Ok(notes)
}

fn numbered<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    if items.is_empty() {
        return writeln!(f, "  (none)");
    }
    for (i, item) in items.iter().enumerate() {
        writeln!(f, "  {:>2}. {item}", i + 1)?;
    }
    Ok(())
}

fn plain<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    if items.is_empty() {
        return writeln!(f, "  (none)");
    }
    for item in items {
        writeln!(f, "  {item}")?;
    }
    Ok(())
}

impl fmt::Display for FreebsdPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "FreeBSD plan for {} (jail path {})",
            self.name,
            self.jail_path.display()
        )?;
        let mut needs = Vec::new();
        if self.requires_vimage() {
            needs.push("a VIMAGE kernel (vnet jail)");
        }
        if self.requires_racct() {
            needs.push("kern.racct.enable=1 (rctl)");
        }
        if self.requires_linux_abi() {
            needs.push("the linux64 module (a Linux root; checked like kldstat -n linux64)");
        }
        if !needs.is_empty() {
            writeln!(f, "needs: {}", needs.join(", "))?;
        }
        if let Some(cow) = &self.copy_on_write {
            writeln!(f, "copy-on-write root: {cow}")?;
        }
        writeln!(f, "\nmounts:")?;
        numbered(f, &self.mounts)?;
        if let Some(r) = &self.resolver {
            writeln!(f, "\nresolver (the jail's resolv.conf):")?;
            for line in r.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "\nrctl (rctl_add_rule):")?;
        plain(f, &self.rctl)?;
        writeln!(f, "\njail (jail_set, JAIL_CREATE):")?;
        plain(f, &self.jail)?;
        if let Some(set) = &self.cpuset {
            writeln!(
                f,
                "  then: cpuset -j JID -l {set} (cpuset_setaffinity CPU_LEVEL_CPUSET, CPU_WHICH_JAIL)"
            )?;
        }
        writeln!(f, "\nnetwork:")?;
        numbered(f, &self.network)?;
        if let Some(pf) = &self.pf {
            writeln!(f, "\npf (anchor {}):", pf.anchor)?;
            for line in pf.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "\nexec (in a child):")?;
        numbered(f, &self.exec)?;
        writeln!(f, "\nundo (delete):")?;
        numbered(f, &self.undo())?;
        if !self.notes.is_empty() {
            writeln!(f, "\nnotes:")?;
            for n in &self.notes {
                writeln!(f, "  - {}: {}", n.key, n.text)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use stockade_core::backend::CgroupVersion;

    use super::*;

    fn plan_of(text: &str) -> Result<FreebsdPlan, PlanError> {
        let spec =
            Spec::from_toml(text, Some(Path::new("/etc/stockade/web.toml"))).expect("valid spec");
        plan(
            &spec,
            &PlanContext::new("/var/run/stockade", "web", CgroupVersion::V2),
        )
    }

    const BASE: &str = "name = \"web\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/sh\"]\n";

    #[test]
    fn requirements_follow_the_spec() {
        let p = plan_of(BASE).expect("plan");
        assert!(p.requires_vimage());
        assert!(!p.requires_racct());

        let p = plan_of(&format!(
            "{BASE}[network]\nmode = \"host\"\n[limits]\nprocesses = 5\n"
        ))
        .expect("plan");
        assert!(!p.requires_vimage());
        assert!(p.requires_racct());
    }

    #[test]
    fn check_host_says_what_is_missing() {
        let p = plan_of(&format!("{BASE}[limits]\nmemory = \"1G\"\n")).expect("plan");
        let mut host = HostInfo {
            os: "freebsd".into(),
            racct: Some(false),
            vimage: Some(true),
            ..HostInfo::default()
        };
        let err = p.check_host(&host).expect_err("racct off");
        assert_eq!(err, HostError::RacctOff);
        assert!(err
            .to_string()
            .contains("kern.racct.enable=1 in /boot/loader.conf"));

        host.racct = Some(true);
        host.vimage = Some(false);
        assert_eq!(
            p.check_host(&host),
            Err(HostError::NoVimage { mode: "none" })
        );

        host.vimage = Some(true);
        assert_eq!(p.check_host(&host), Ok(()));
    }

    #[test]
    fn approximations_become_notes_and_init_is_one() {
        let p = plan_of(&BASE.replace(
            "command = [\"/bin/sh\"]",
            "command = [\"/bin/sh\"]\ninit = true",
        ))
        .expect("plan");
        let init = portability::support(Feature::Init, Target::Freebsd)
            .why()
            .expect("init is approximate on FreeBSD");
        assert!(
            p.notes
                .iter()
                .any(|n| n.key == "process.init" && n.text == init),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn a_dotted_name_is_refused() {
        // The spec refuses such names itself now; the planner still checks, for specs
        // built by other means (`--name`, import).
        let mut spec =
            Spec::from_toml(BASE, Some(Path::new("/etc/stockade/web.toml"))).expect("spec");
        spec.name = "web.1".into();
        let ctx = PlanContext::new("/var/run/stockade", "web", CgroupVersion::V2);
        let err = plan(&spec, &ctx).expect_err("dotted");
        assert!(
            matches!(err, PlanError::Jail(JailPlanError::Name { .. })),
            "{err}"
        );
    }

    #[test]
    fn serializes_to_json() {
        let p = plan_of(BASE).expect("plan");
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(json["name"], "web");
        assert_eq!(json["jail"][0]["name"], "name");
        assert_eq!(json["jail"][3]["value"], true);
        assert_eq!(json["mounts"][1]["step"], "mount");
        assert_eq!(json["mounts"][1]["fstype"], "tmpfs");
    }
}
