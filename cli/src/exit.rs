//! Exit statuses, and how errors are shown.
//!
//! 0 success; 1 a check found an unsupported feature; 2 invalid input (a bad spec or
//! arguments); 125 stockade itself failed. `run` passes the environment's own status
//! through (126/127 as docker and podman use them, 128+N for a signal).

use std::process::ExitCode;

use stockade_core::spec::SpecError;

/// Invalid input.
pub const INVALID: u8 = 2;
/// stockade's own failure.
pub const FAILURE: u8 = 125;

/// Input that is not valid (a malformed jail.conf, a bad argument): exit status 2, and the
/// message printed as it is (it already names file, line and column).
#[derive(Debug)]
pub struct InvalidInput(pub String);

impl std::fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidInput {}

/// Prints an error and picks its exit status.
pub fn report(err: &anyhow::Error) -> ExitCode {
    if let Some(spec) = err.downcast_ref::<SpecError>() {
        eprintln!("{spec}");
        return ExitCode::from(INVALID);
    }
    if let Some(invalid) = err.downcast_ref::<InvalidInput>() {
        eprintln!("{invalid}");
        return ExitCode::from(INVALID);
    }
    eprintln!("stockade: {err:#}");
    ExitCode::from(FAILURE)
}
