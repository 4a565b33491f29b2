//! stockade-freebsd: runs a stockade environment as a FreeBSD jail.
//!
//! - [`plan`]: the pure planner, compiled and tested on every OS: nmount(2) calls under
//!   the jail path, jail_set(2) parameters, rctl(8) rules, the vnet's interfaces and the
//!   steps that start the process, plus their exact undo;
//! - [`probe`]: reads what the host can do (sysctl `kern.racct.enable`,
//!   `kern.features.vimage`); only on FreeBSD, elsewhere it says so;
//! - [`kernel`]: the narrow [`kernel::Kernel`] trait every FreeBSD operation goes through;
//! - [`apply`]: the apply sequence over it (records each object before making it), its
//!   exact undo, stop and stats; pure orchestration, tested everywhere with a fake;
//! - [`process`] and [`lifecycle`]: the pure parts of starting processes and of the
//!   commands; `sys` (the only `unsafe` module) and `runtime` (`Runtime for
//!   FreebsdBackend`) exist on FreeBSD only;
//! - [`oci`]: an OCI bundle's config.json (ocijail's subset) as a plan;
//! - [`top`]: the jail's processes from ps(1) `-J` (`stockade top`).
#![deny(unsafe_code)]

pub mod apply;
pub mod jailconf;
pub mod kernel;
pub mod lifecycle;
pub mod migrate;
pub mod oci;
pub mod plan;
pub mod probe;
pub mod process;
#[cfg(target_os = "freebsd")]
mod runtime;
#[cfg(target_os = "freebsd")]
pub use runtime::monitor_main;
/// The OCI runtime lifecycle on FreeBSD (`stockade oci` there).
#[cfg(target_os = "freebsd")]
pub use runtime::oci as oci_runtime;
#[cfg(target_os = "freebsd")]
pub mod sys;
pub mod top;

use stockade_core::backend::{Backend, HostInfo, PlanContext};
use stockade_core::Spec;

pub use plan::{plan, plan_with, FreebsdPlan, FreebsdPlanOptions, HostError, PlanError};
pub use probe::ProbeError;

/// What can go wrong in the FreeBSD backend.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec has no FreeBSD plan.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The host could not be probed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// A lifecycle command (create, start, run, exec, signal, stop, delete, state).
    #[error(transparent)]
    Runtime(#[from] lifecycle::RuntimeError),
}

/// The FreeBSD backend: jails, rctl, nullfs/tmpfs/devfs/procfs, vnet.
#[derive(Debug, Clone, Copy, Default)]
pub struct FreebsdBackend;

impl Backend for FreebsdBackend {
    type Plan = FreebsdPlan;
    type Error = Error;

    fn probe(&self) -> Result<HostInfo, Error> {
        Ok(probe::probe()?)
    }

    /// Plans with this host's facts on FreeBSD (is `root.path` a ZFS dataset?), without
    /// them elsewhere.
    fn plan(&self, spec: &Spec, ctx: &PlanContext) -> Result<FreebsdPlan, Error> {
        Ok(plan::plan_with(spec, ctx, &probe::plan_options(spec))?)
    }
}
