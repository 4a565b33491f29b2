//! stockade and the OCI runtime-spec (opencontainers/runtime-spec).
//!
//! - [`export`]: a spec as a bundle's `config.json`, from the Linux plan (pure);
//! - [`translate`]: a bundle's `config.json` as a Linux plan, for `stockade oci create`
//!   (pure, so it is tested on every OS);
//! - `runtime` (Linux only): the OCI lifecycle over the state store: create from a
//!   bundle, start, state, kill, delete, pause, resume, exec, the console socket.

pub mod export;
#[cfg(target_os = "linux")]
pub mod runtime;
pub mod translate;

pub use export::*;
/// The runtime-spec types the CLI reads (`exec --process`).
pub use oci_spec::runtime::Process;

/// A template `config.json` (what `stockade oci spec` writes, as `runc spec` does): the
/// `oci-spec` crate's default configuration, pretty JSON with a final newline.
pub fn template() -> String {
    let spec = oci_spec::runtime::Spec::default();
    let mut text = serde_json::to_string_pretty(&spec).unwrap_or_default();
    text.push('\n');
    text
}
