//! rctl.conf as `import` reads it beside a fixed jail.conf.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

const JAIL_CONF: &str = "web { path = \"/jails/web\"; host.hostname = web; }\n";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = stockade_freebsd::migrate::import(
            JAIL_CONF,
            Path::new("/etc/jail.conf"),
            None,
            Some((text, Path::new("/etc/rctl.conf"))),
        );
    }
});
