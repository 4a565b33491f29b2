//! What this host can do for jails: sysctl(3) `kern.racct.enable` and
//! `kern.features.vimage`.
//!
//! The reading is FreeBSD-only and lives in its own module; elsewhere [`probe`] says it
//! is not on FreeBSD. The choice is made here, once.

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub use freebsd::{plan_options, probe, ProbeError};

#[cfg(not(target_os = "freebsd"))]
mod other;
#[cfg(not(target_os = "freebsd"))]
pub use other::{plan_options, probe, ProbeError};
