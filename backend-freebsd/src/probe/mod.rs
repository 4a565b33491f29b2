//! What this host can do for jails: sysctl(3) `kern.racct.enable` and
//! `kern.features.vimage`.
//!
//! The reading is FreeBSD-only and lives in its own module; elsewhere [`probe`] says it
//! is not on FreeBSD. The choice is made here, once.

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "freebsd")]
pub use freebsd::{plan_options, probe, ProbeError};

#[cfg(not(target_os = "freebsd"))]
mod other;
#[cfg(not(target_os = "freebsd"))]
pub use other::{plan_options, probe, ProbeError};

/// The ABI of a `root.path` root without `root.abi`: its `/bin/sh`'s ELF headers (see
/// [`crate::plan::abi::elf_abi`]). The link is resolved inside the root, never on the
/// host: an absolute target is taken below the root, and a link that leaves it, or a
/// missing or unreadable shell, means "not detected".
pub fn root_abi(spec: &stockade_core::Spec) -> Option<crate::plan::abi::ElfAbi> {
    use std::io::Read as _;
    use stockade_core::spec::RootSource;
    let RootSource::Path(root) = &spec.root.source else {
        return None;
    };
    if spec.root.abi.is_some() {
        return None;
    }
    let mut inside = std::path::PathBuf::from("bin/sh");
    for _ in 0..8 {
        let host = root.join(&inside);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&host).ok()?;
                let base = inside
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default();
                let next = if to.is_absolute() {
                    to.strip_prefix("/").ok()?.to_path_buf()
                } else {
                    base.join(to)
                };
                if next
                    .components()
                    .any(|c| c == std::path::Component::ParentDir)
                {
                    return None;
                }
                inside = next;
            }
            Ok(m) if m.is_file() => {
                let mut head = Vec::with_capacity(4096);
                std::fs::File::open(&host)
                    .ok()?
                    .take(4096)
                    .read_to_end(&mut head)
                    .ok()?;
                return crate::plan::abi::elf_abi(&head);
            }
            _ => return None,
        }
    }
    None
}
