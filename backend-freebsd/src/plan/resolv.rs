//! The jail's own resolv.conf(5) (`network.dns`, `network.search`; private networks).
//!
//! What it says is `stockade_core::resolv`'s, as on Linux: the spec's servers, or the
//! host's that the jail can reach, never a loopback stub (FreeBSD's local_unbound puts
//! `nameserver 127.0.0.1` in the host's file, which inside a vnet jail is the jail's own
//! lo0; its upstreams are read from `/var/unbound/forward.conf` instead).
//!
//! Where it goes, decided when the jail is made (the root is only looked at then):
//! 1. The file is written into the state folder (`<state>/resolv.conf`, stockade's own).
//! 2. When the root's `/etc/resolv.conf` is a regular file, reached from the jail path
//!    without following a symbolic link, the state file is nullfs-mounted over it. nullfs
//!    mounts a single file since FreeBSD 13.0 (earlier releases refuse a non-folder with
//!    ENOTDIR); stockade supports 13.0 and later. This is the only way for `root.host`,
//!    whose `/etc` is the host's own, shared read-only: the mount covers the file for this
//!    jail alone and leaves the host's untouched. For `root.path` it leaves the owner's
//!    file untouched too, and works on a read-only root. Undo unmounts it.
//! 3. When the root has no `/etc/resolv.conf`, the text is written there instead
//!    (O_CREAT|O_EXCL, every component opened without following a symbolic link: the root
//!    is its owner's, and may hold links that point at the host's tree). Undo removes
//!    exactly that file.
//! 4. Anything else (a symbolic link, a folder, a read-only root without the file): the
//!    jail keeps what its root has. That is an error when the spec chose the contents
//!    (`network.dns` or `network.search`), so a requested resolver is never dropped
//!    silently.
//!
//! All of this happens after the mounts (the root and its `/etc` exist) and before the
//! rctl rules and the jail, so the file is in place from the jail's first moment.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::resolv::Resolver;
use stockade_core::spec::{RootSource, Spec};

use super::mount::{file_mount, host_path, Nmount};

/// Where the file appears inside the jail.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The name of the generated file in the state folder.
pub const STATE_FILE: &str = "resolv.conf";

/// The host files the default servers come from, in order of preference: the host's
/// resolv.conf, then the upstreams of local_unbound(8) (used when the first lists only
/// its loopback address).
pub const HOST_SOURCES: &[HostSource] = &[
    HostSource::ResolvConf("/etc/resolv.conf"),
    HostSource::UnboundForward("/var/unbound/forward.conf"),
];

/// A host file that lists name servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "format", content = "path", rename_all = "snake_case")]
pub enum HostSource {
    /// resolv.conf(5) `nameserver` lines.
    ResolvConf(&'static str),
    /// unbound.conf(5) `forward-addr:` lines.
    UnboundForward(&'static str),
}

impl HostSource {
    /// The file's path.
    pub fn path(self) -> &'static str {
        match self {
            HostSource::ResolvConf(p) | HostSource::UnboundForward(p) => p,
        }
    }

    /// The servers a text of this file lists.
    pub fn servers(self, text: &str) -> Vec<std::net::IpAddr> {
        match self {
            HostSource::ResolvConf(_) => stockade_core::resolv::nameservers(text),
            HostSource::UnboundForward(_) => stockade_core::resolv::unbound_forwarders(text),
        }
    }
}

/// The jail's resolver and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResolvPlan {
    /// What the file says.
    pub resolver: Resolver,
    /// The generated file, in the state folder.
    pub file: PathBuf,
    /// The root's `/etc/resolv.conf`, as a host path below the jail path.
    pub target: PathBuf,
    /// The jail path (the walk to `target` starts there).
    pub jail_path: PathBuf,
    /// The nullfs mount of `file` over `target`, when the root has the file.
    pub mount: Nmount,
    /// `root.host`: `target` is the host's own file, seen through a read-only nullfs of
    /// `/etc`, so only the mount applies.
    pub host_etc: bool,
}

impl fmt::Display for ResolvPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "write {} (O_EXCL, 0644): {}",
            self.file.display(),
            self.resolver.summary()
        )?;
        let mount = format!("{} (a file mount: FreeBSD 13.0 and later)", self.mount);
        if self.host_etc {
            write!(
                f,
                "{mount}, over the host's /etc/resolv.conf as this jail sees it (root.host \
                 shares /etc read-only; the host's file is untouched)"
            )?;
        } else {
            writeln!(
                f,
                "if {} is a regular file (no symbolic link followed): {mount}",
                self.target.display()
            )?;
            write!(
                f,
                "if it does not exist: write it there (O_CREAT|O_EXCL, no symbolic link \
                 followed; removed on delete)"
            )?;
        }
        if !self.resolver.is_explicit() {
            write!(f, "\nelse the jail keeps its root's resolv.conf")?;
        }
        Ok(())
    }
}

/// The resolver of a spec on FreeBSD (`private` networks only).
pub fn plan(spec: &Spec, state_dir: &Path, jail_path: &Path) -> Option<ResolvPlan> {
    let resolver = Resolver::of(&spec.network)?;
    let file = state_dir.join(STATE_FILE);
    let target = host_path(jail_path, Path::new(RESOLV_CONF));
    Some(ResolvPlan {
        resolver,
        mount: file_mount(&file, target.clone()),
        file,
        target,
        jail_path: jail_path.to_path_buf(),
        host_etc: spec.root.source == RootSource::Host && spec.root.overlay.is_none(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(root: &str, network: &str) -> Spec {
        Spec::from_toml(
            &format!(
                "name = \"web\"\n[root]\n{root}\n[process]\ncommand = [\"/bin/sh\"]\n[network]\n{network}"
            ),
            None,
        )
        .expect("spec")
    }

    const PRIVATE: &str = "mode = \"private\"\naddress = \"10.77.0.2/24\"\n";

    #[test]
    fn a_host_root_mounts_the_file_over_the_shared_etc() {
        let dir = Path::new("/var/run/stockade/web");
        let p = plan(
            &spec("host = true", &format!("{PRIVATE}dns = [\"1.1.1.1\"]\n")),
            dir,
            &dir.join("root"),
        )
        .expect("private has a resolver");
        assert!(p.host_etc);
        assert_eq!(
            p.target,
            Path::new("/var/run/stockade/web/root/etc/resolv.conf")
        );
        assert_eq!(
            p.to_string(),
            "write /var/run/stockade/web/resolv.conf (O_EXCL, 0644): 1.1.1.1\n\
             nmount fstype=nullfs fspath=/var/run/stockade/web/root/etc/resolv.conf \
             target=/var/run/stockade/web/resolv.conf  (network.dns) (a file mount: FreeBSD \
             13.0 and later), \
             over the host's /etc/resolv.conf as this jail sees it (root.host shares /etc \
             read-only; the host's file is untouched)"
        );
    }

    #[test]
    fn a_folder_root_mounts_over_its_file_or_writes_a_missing_one() {
        let dir = Path::new("/var/run/stockade/web");
        let p = plan(
            &spec("path = \"/jails/web\"", PRIVATE),
            dir,
            &dir.join("root"),
        )
        .expect("resolver");
        assert!(!p.host_etc);
        let text = p.to_string();
        assert!(
            text.contains("if /var/run/stockade/web/root/etc/resolv.conf is a regular file"),
            "{text}"
        );
        assert!(
            text.contains("if it does not exist: write it there"),
            "{text}"
        );
        assert!(
            text.ends_with("else the jail keeps its root's resolv.conf"),
            "{text}"
        );
    }

    #[test]
    fn only_private_networks_get_one() {
        let dir = Path::new("/s/web");
        for network in ["mode = \"none\"\n", "mode = \"host\"\n"] {
            assert_eq!(
                plan(&spec("host = true", network), dir, &dir.join("root")),
                None
            );
        }
    }
}
