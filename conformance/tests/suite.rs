//! The whole conformance suite against this workspace's `stockade`, as CI runs it.
//!
//! Needs root (every case makes namespaces, mounts and cgroups), so it is ignored unless
//! asked for: `cargo test --workspace -- --include-ignored` as root (the README's test
//! command). The `stockade` binary is `target/<profile>/stockade`, next to this package's
//! binaries; `cargo test --workspace` builds only the binaries of packages that have
//! integration tests, so when it is missing the test builds it with the same cargo,
//! profile and target folder.

mod common;

#[test]
#[ignore = "needs root"]
fn conformance_suite_passes() {
    common::suite_passes(&[]);
}
