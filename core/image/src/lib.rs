//! stockade-image: the local image store and what environments take from it.
//!
//! - [`store`]: the store folder (blobs, layers, records, names), its lock, list, rm,
//!   prune;
//! - [`import`]: OCI layouts, OCI archives and `docker save` archives into the store;
//! - [`unpack`]: one layer's tar stream into a folder, refusing every path that leaves it;
//! - [`resolve`]: `root.image` in a spec turned into lower layers and process defaults;
//! - [`export`] and [`commit`]: an image out as an OCI archive, and an environment's
//!   changes in as a new layer.
//!
//! Platform-neutral: the file system calls go through rustix's safe API, so the crate
//! forbids unsafe code and builds on Linux and FreeBSD alike.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod commit;
pub mod digest;
pub mod export;
pub mod import;
mod inroot;
pub mod resolve;
pub mod store;
pub mod unpack;

pub use digest::Digest;
pub use store::{Store, StoreError, DEFAULT_STORE};
