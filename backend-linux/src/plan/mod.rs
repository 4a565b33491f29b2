//! The pure Linux planner: from a validated [`Spec`] to a [`LinuxPlan`], the ordered
//! kernel operations that make the environment, as data.
//!
//! Nothing here touches the kernel or the host: the host facts a plan depends on come in
//! through [`PlanContext`] (state folder, cgroup version) and [`LinuxPlanOptions`] (the
//! host's system folder layout, for `root.host`). So the planner compiles and is tested
//! on every OS, and `stockade plan --target linux` prints the same plan anywhere.
//!
//! One module per kernel facility; a plan's sections follow the order apply runs them:
//! 1. [`cgroup`]: make the cgroup and write the limits, before any process exists;
//! 2. [`ns`]: `clone3` into new namespaces (and into the cgroup);
//! 3. [`net`]: the parent wires the child's network namespace;
//! 4. [`mount`]: the child builds its root, pivots, masks kernel paths;
//! 5. the host name ([`process`]), then [`rlimit`]s;
//! 6. [`caps`]: capability sets and no_new_privs, with the uid/gid change ([`process`]);
//! 7. [`seccomp`]: the filter, loaded last;
//! 8. [`process`]: close descriptors, `execve`.

pub mod caps;
pub mod cgroup;
pub mod extra;
pub mod firewall;
pub mod mount;
pub mod net;
pub mod ns;
pub mod process;
pub mod rlimit;
pub mod seccomp;
pub mod seccomp_profile;
pub mod userns;
pub mod visible;

use std::fmt;

use serde::Serialize;
use stockade_core::backend::PlanContext;
use stockade_core::Spec;

use self::caps::CapabilityPlan;
use self::cgroup::{CgroupPlan, CgroupPlanError};
use self::mount::{HostDir, MountPlan};
use self::net::{NetPlanError, NetworkPlan};
use self::ns::NamespacePlan;
use self::process::ProcessPlan;
use self::rlimit::Rlimit;
use self::seccomp::SeccompPlan;
use self::visible::VisiblePlan;

/// What makes a spec impossible to plan on Linux. A `Spec` is validated when loaded, so
/// these are limits of the kernel's interfaces, not of the file's syntax.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// The network section cannot be planned.
    #[error(transparent)]
    Network(#[from] NetPlanError),
    /// A limit has no cgroup value.
    #[error(transparent)]
    Cgroup(#[from] CgroupPlanError),
    /// What rootless mode cannot do.
    #[error(transparent)]
    Rootless(#[from] userns::RootlessPlanError),
    /// A copy-on-write root has no overlayfs form.
    #[error(transparent)]
    Layer(#[from] mount::LayerPlanError),
    /// `root.abi = "freebsd"`: no FreeBSD ABI on Linux.
    #[error(
        "root.abi = \"freebsd\": Linux cannot run FreeBSD binaries (it has no FreeBSD \
         ABI); run this environment on a FreeBSD host, or give it a Linux root"
    )]
    ForeignAbi,
}

/// Host facts the planner takes as input, so that it stays pure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxPlanOptions {
    /// The host's system folders a `root.host` view offers, in order (see
    /// [`mount::HOST_DIR_CANDIDATES`]); `LinuxPlanOptions::detect` reads them from this
    /// host.
    pub host_dirs: Vec<HostDir>,
    /// Rootless mode: the caller and its subordinate id ranges; `None` plans for root.
    /// `LinuxPlanOptions::detect` sets it when stockade runs without root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rootless: Option<userns::RootlessHost>,
}

impl Default for LinuxPlanOptions {
    /// A fixed merged-/usr layout (Debian 12, Ubuntu 22.04+, Fedora, Arch): `/bin`,
    /// `/sbin`, `/lib` and `/lib64` are links into `/usr`; `/usr` and `/etc` are folders.
    /// For tests and for planning off the host; on the host, use `detect()`.
    fn default() -> Self {
        let link = |path: &str, to: &str| HostDir::Symlink {
            path: path.into(),
            to: to.into(),
        };
        let dir = |path: &str| HostDir::Dir { path: path.into() };
        LinuxPlanOptions {
            host_dirs: vec![
                link("/bin", "usr/bin"),
                link("/sbin", "usr/sbin"),
                link("/lib", "usr/lib"),
                link("/lib64", "usr/lib64"),
                dir("/usr"),
                dir("/etc"),
            ],
            rootless: None,
        }
    }
}

/// The ordered kernel operations of one environment on Linux.
///
/// Serialized (JSON) field names are stable: `stockade plan --json` prints them and tests
/// pin them. `Display` prints a numbered list per section, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxPlan {
    /// The environment's name.
    pub name: String,
    /// Its cgroup, limits and device policy.
    pub cgroup: CgroupPlan,
    /// The namespaces its first process is cloned into.
    pub namespaces: NamespacePlan,
    /// Its network interfaces.
    pub network: NetworkPlan,
    /// Its file system view.
    pub mounts: MountPlan,
    /// Rootless: the user namespace and its id maps (`None` as root).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns: Option<userns::UserNsPlan>,
    /// Its resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Its capability sets and no_new_privs.
    pub capabilities: CapabilityPlan,
    /// Its syscall filter.
    pub seccomp: SeccompPlan,
    /// Its process: host name, credentials, environment, exec.
    pub process: ProcessPlan,
    /// What an OCI config.json asks beyond a spec (empty for a spec's plan).
    #[serde(skip_serializing_if = "extra::PlanExtras::is_empty")]
    pub extra: extra::PlanExtras,
    /// What it is shown of its limits (`limits.visible`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<VisiblePlan>,
}

impl LinuxPlan {
    /// The cgroup controllers this plan needs, sorted (what the host must offer).
    pub fn controllers(&self) -> &[String] {
        &self.cgroup.controllers
    }
}

fn section(f: &mut fmt::Formatter<'_>, title: &str, lines: &[String]) -> fmt::Result {
    writeln!(f)?;
    writeln!(f, "{title}")?;
    if lines.is_empty() {
        writeln!(f, "   -  nothing")?;
    }
    for (i, line) in lines.iter().enumerate() {
        writeln!(f, "  {:>2}. {line}", i + 1)?;
    }
    Ok(())
}

impl fmt::Display for LinuxPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Linux plan for \"{}\" (cgroup {})",
            self.name, self.cgroup.version
        )?;
        section(
            f,
            &format!(
                "== cgroup {} {} ==",
                self.cgroup.version,
                self.cgroup.path.display()
            ),
            &self.cgroup.describe(),
        )?;
        if let Some(v) = &self.visible {
            section(f, "== visible limits ==", &v.describe())?;
        }
        section(f, "== namespaces ==", &self.namespaces.describe())?;
        if let Some(u) = &self.userns {
            section(f, "== user namespace ==", &u.describe())?;
        }
        if !self.extra.is_empty() {
            section(f, "== from config.json ==", &self.extra.describe())?;
        }
        section(
            f,
            &format!("== network ({}) ==", self.network.mode.name()),
            &self.network.describe(),
        )?;
        section(
            f,
            &format!("== mounts (new root {}) ==", self.mounts.rootfs.display()),
            &self.mounts.describe(),
        )?;
        section(f, "== hostname ==", &self.process.describe_hostname())?;
        let rlimits: Vec<String> = self.rlimits.iter().map(ToString::to_string).collect();
        section(f, "== rlimits ==", &rlimits)?;
        section(f, "== capabilities ==", &self.capabilities.describe())?;
        section(f, "== credentials ==", &self.process.describe_credentials())?;
        section(f, "== seccomp ==", &self.seccomp.describe())?;
        section(f, "== exec ==", &self.process.describe())
    }
}

/// Plans a spec with the fixed [`LinuxPlanOptions::default`] host layout.
pub fn plan(spec: &Spec, ctx: &PlanContext) -> Result<LinuxPlan, PlanError> {
    plan_with(spec, ctx, &LinuxPlanOptions::default())
}

/// Plans a spec for a host described by `options`.
pub fn plan_with(
    spec: &Spec,
    ctx: &PlanContext,
    options: &LinuxPlanOptions,
) -> Result<LinuxPlan, PlanError> {
    if spec.root.abi == Some(stockade_core::spec::Abi::Freebsd) {
        return Err(PlanError::ForeignAbi);
    }
    let visible = visible::plan(spec, ctx);
    let mut mounts = mount::plan(spec, ctx, &options.host_dirs)?;
    if let Some(v) = &visible {
        visible::add_binds(v, &mut mounts);
    }
    let userns = match &options.rootless {
        Some(host) => Some(userns::plan(spec, host)?),
        None => None,
    };
    let mut cgroup = cgroup::plan(spec, ctx)?;
    let mut namespaces = ns::plan(spec);
    if userns.is_some() {
        userns::adjust_cgroup(&mut cgroup);
        namespaces.create.insert(0, ns::Namespace::User);
    }
    Ok(LinuxPlan {
        name: spec.name.clone(),
        cgroup,
        namespaces,
        network: net::plan(spec, &ctx.state_dir)?,
        mounts,
        userns,
        rlimits: rlimit::plan(spec),
        capabilities: caps::plan(spec),
        seccomp: seccomp::plan(spec),
        process: process::plan(spec),
        extra: extra::PlanExtras::default(),
        visible,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;

    use stockade_core::backend::CgroupVersion;

    use super::*;

    /// A spec from complete TOML text, as if read from `/etc/stockade/x.toml`.
    pub(crate) fn spec_toml(text: &str) -> Spec {
        Spec::from_toml(text, Some(Path::new("/etc/stockade/x.toml")))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The `web` environment on `/srv/roots/web` running `/bin/sh`, plus `extra` tables.
    pub(crate) fn spec(extra: &str) -> Spec {
        spec_toml(&format!(
            "name = \"web\"\n[root]\npath = \"/srv/roots/web\"\n[process]\ncommand = [\"/bin/sh\"]\n{extra}"
        ))
    }

    pub(crate) fn ctx(version: CgroupVersion) -> PlanContext {
        PlanContext::new("/run/stockade", "web", version)
    }

    #[test]
    fn display_has_every_section_in_order() {
        let plan = plan(&spec(""), &ctx(CgroupVersion::V2)).unwrap();
        let text = plan.to_string();
        let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("==")).collect();
        assert_eq!(
            headers,
            [
                "== cgroup v2 stockade/web ==",
                "== namespaces ==",
                "== network (none) ==",
                "== mounts (new root /srv/roots/web) ==",
                "== hostname ==",
                "== rlimits ==",
                "== capabilities ==",
                "== credentials ==",
                "== seccomp ==",
                "== exec ==",
            ]
        );
        assert!(
            text.starts_with("Linux plan for \"web\" (cgroup v2)\n"),
            "{text}"
        );
        assert!(text.contains("\n   1. sethostname web\n"), "{text}");
        assert!(text.contains("\n== rlimits ==\n   -  nothing\n"), "{text}");
        assert!(text.contains("\n   1. make every mount private"), "{text}");
    }

    #[test]
    fn a_freebsd_root_is_refused() {
        let s = spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/bsd\"\nabi = \"freebsd\"\n\
             [process]\ncommand = [\"/bin/sh\"]\n",
        );
        let err = plan(&s, &ctx(CgroupVersion::V2)).unwrap_err();
        assert_eq!(err, PlanError::ForeignAbi);
        assert!(
            err.to_string().contains("cannot run FreeBSD binaries"),
            "{err}"
        );
        let linux = spec_toml(
            "name = \"web\"\n[root]\npath = \"/srv/l\"\nabi = \"linux\"\n\
             [process]\ncommand = [\"/bin/sh\"]\n",
        );
        assert!(plan(&linux, &ctx(CgroupVersion::V2)).is_ok());
    }

    #[test]
    fn plan_errors_carry_the_reason() {
        let err = plan(&spec("[limits]\ncpus = 1e12\n"), &ctx(CgroupVersion::V1)).unwrap_err();
        assert!(matches!(err, PlanError::Cgroup(_)));
        assert!(
            err.to_string().starts_with("limits.cpus = 1000000000000"),
            "{err}"
        );
    }
}
