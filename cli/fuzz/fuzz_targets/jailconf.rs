//! The jail.conf(5) reader and the import built on it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let origin = Path::new("/etc/jail.conf");
        if let Ok(doc) = stockade_freebsd::jailconf::Document::parse(text, origin) {
            let _ = doc.jails();
        }
        let _ = stockade_freebsd::migrate::import(text, origin, None, None);
    }
});
