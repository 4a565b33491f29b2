//! stockade-conformance: placeholder until the suite lands.
fn main() {}
