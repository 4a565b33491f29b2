//! stockade-core: the platform-neutral model of an isolated environment.
//!
//! - [`spec`]: the TOML environment spec (schema v1), strict parsing and validation;
//! - [`portability`]: every spec feature's support level per target OS, as data;
//! - [`backend`]: the interface each OS backend implements, and the host facts it probes.
//! - [`resolv`]: the environment's own resolv.conf (which name servers, its text);
//! - [`logs`]: a detached environment's output log (rotated, timestamps kept apart);
//!
//! Nothing here touches the kernel: it compiles and is tested on every OS.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod logs;
pub mod oci;
pub mod portability;
pub mod resolv;
pub mod spec;
pub mod state;
pub mod time;

pub use spec::Spec;
