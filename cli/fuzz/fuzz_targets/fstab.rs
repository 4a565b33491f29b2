//! fstab(5) as `import` reads it through a jail's `mount.fstab`: the input is written to
//! a file under a private host root the import reads from.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn host_root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("stockade-fuzz-fstab-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        dir
    })
}

const JAIL_CONF: &str =
    "web { path = \"/jails/web\"; mount.fstab = \"/etc/fstab.web\"; }\n";

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let root = host_root();
        std::fs::write(root.join("etc/fstab.web"), text).unwrap();
        let options = stockade_freebsd::migrate::ImportOptions {
            host_root: root.clone(),
            ..Default::default()
        };
        let _ = stockade_freebsd::migrate::import_with(JAIL_CONF, Path::new("/etc/jail.conf"), &options);
    }
});
