//! The backend's error: what `LinuxBackend` reports through the core `Backend` trait.
//!
//! Each module keeps its own error enum ([`PlanError`], [`ProbeError`]); this one composes
//! them and adds what only the backend as a whole can say.

use crate::plan::PlanError;
use crate::probe::ProbeError;

/// Anything the Linux backend can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Planning failed: the spec asks for something the Linux kernel cannot express.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Probing the host failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// `probe` was called on another OS.
    #[error(
        "the Linux backend can only probe a Linux host, and this one runs {os}, not Linux; \
         planning works anywhere: use `stockade plan --target linux`"
    )]
    NotLinux {
        /// The OS stockade was built for (`std::env::consts::OS`).
        os: &'static str,
    },
    /// Running an environment failed (create, start, exec, stop, delete...).
    #[cfg(target_os = "linux")]
    #[error(transparent)]
    Runtime(Box<crate::apply::RuntimeError>),
}
