//! The spec loader: any text must give a `Spec` or diagnostics, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stockade_core::Spec::from_toml(text, Some(std::path::Path::new("/fuzz/env.toml")));
    }
});
