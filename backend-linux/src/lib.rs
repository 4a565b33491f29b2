//! stockade-linux: the Linux backend of stockade.
//!
//! - [`mod@plan`]: the pure planner. It turns a validated [`Spec`] into a [`LinuxPlan`], the
//!   ordered kernel operations (namespaces, mounts, cgroup files, rlimits, capabilities,
//!   seccomp, network, exec) as data. It touches nothing and compiles on every OS, so
//!   `stockade plan --target linux` works on FreeBSD too.
//! - [`probe`]: what this host offers (cgroup version and controllers, kernel release, user
//!   namespaces, the host folders a `root.host` view binds). The parsers take an injectable
//!   root folder and are tested on fixtures; only [`LinuxBackend::probe`] reads the real
//!   `/proc` and `/sys`, and only on Linux.
//!
//! Applying a plan (the syscalls) is later work and will live in a `sys` module, the one
//! place allowed to opt back into `unsafe`.
#![deny(unsafe_code)]
#![deny(missing_docs)]

/// The Linux runtime: applies plans (Linux only).
#[cfg(target_os = "linux")]
pub mod apply;
pub mod beneath;
pub mod diff;
pub mod error;
pub mod oci;
pub mod plan;
pub mod probe;

use stockade_core::backend::{Backend, HostInfo, PlanContext};
use stockade_core::Spec;

pub use error::Error;
pub use plan::caps::DEFAULT_CAPABILITIES;
pub use plan::mount::HostDir;
pub use plan::{plan, plan_with, LinuxPlan, LinuxPlanOptions, PlanError};
pub use probe::ProbeError;

/// The Linux backend: plans with a fixed set of [`LinuxPlanOptions`] and probes the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinuxBackend {
    options: LinuxPlanOptions,
}

impl LinuxBackend {
    /// A backend that plans with these options (tests, or planning for another host).
    pub fn new(options: LinuxPlanOptions) -> Self {
        LinuxBackend { options }
    }

    /// A backend whose options describe this host (its `/bin`, `/usr`, ... layout).
    pub fn for_this_host() -> Result<Self, Error> {
        Ok(LinuxBackend::new(LinuxPlanOptions::detect()?))
    }

    /// The options plans are made with.
    pub fn options(&self) -> &LinuxPlanOptions {
        &self.options
    }
}

impl Backend for LinuxBackend {
    type Plan = LinuxPlan;
    type Error = Error;

    fn probe(&self) -> Result<HostInfo, Error> {
        probe_this_host()
    }

    fn plan(&self, spec: &Spec, ctx: &PlanContext) -> Result<LinuxPlan, Error> {
        Ok(plan_with(spec, ctx, &self.options)?)
    }
}

/// Reads the real `/proc` and `/sys`: the one host-dependent step of probing.
#[cfg(target_os = "linux")]
fn probe_this_host() -> Result<HostInfo, Error> {
    Ok(probe::probe_root(std::path::Path::new("/"))?)
}

/// The caller when it runs without root (rootless mode), from the real host.
#[cfg(target_os = "linux")]
fn this_caller_rootless() -> Option<plan::userns::RootlessHost> {
    apply::userns::detect()
}

/// Off Linux nobody runs Linux environments: plan for root.
#[cfg(not(target_os = "linux"))]
fn this_caller_rootless() -> Option<plan::userns::RootlessHost> {
    None
}

/// Off Linux there is nothing to probe: say so instead of guessing.
#[cfg(not(target_os = "linux"))]
fn probe_this_host() -> Result<HostInfo, Error> {
    Err(Error::NotLinux {
        os: std::env::consts::OS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(target_os = "linux"))]
    #[test]
    fn probe_off_linux_says_so() {
        let err = LinuxBackend::default().probe().unwrap_err();
        assert!(matches!(err, Error::NotLinux { .. }), "{err:?}");
        assert!(err.to_string().contains("not Linux"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn probe_on_linux_reports_linux() {
        let info = LinuxBackend::default().probe().unwrap();
        assert_eq!(info.os, "linux");
        assert!(!info.release.is_empty());
        assert!(info.cgroup.is_some());
        assert!(info.user_namespaces.is_some());
        assert_eq!(info.racct, None);
        assert_eq!(info.vimage, None);
    }

    #[test]
    fn backend_plan_uses_its_options() {
        let spec = Spec::from_toml(
            "name = \"t\"\n[root]\nhost = true\n[process]\ncommand = [\"/bin/true\"]\n",
            Some(std::path::Path::new("/etc/stockade/t.toml")),
        )
        .unwrap();
        let ctx = PlanContext::new(
            "/run/stockade",
            "t",
            stockade_core::backend::CgroupVersion::V2,
        );
        let options = LinuxPlanOptions {
            host_dirs: vec![HostDir::Dir {
                path: "/opt/only".into(),
            }],
            rootless: None,
        };
        let plan = LinuxBackend::new(options).plan(&spec, &ctx).unwrap();
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains("/opt/only"), "{json}");
        assert!(!json.contains("\"/usr\""), "{json}");
    }
}
