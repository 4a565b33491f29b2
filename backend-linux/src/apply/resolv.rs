//! The environment's own resolv.conf(5): written into its state folder before its first
//! process starts, and bind-mounted over its `/etc/resolv.conf` by the mount plan.
//!
//! The host's `/etc/resolv.conf` is read as it is now; when it names only
//! systemd-resolved's stub (`127.0.0.53`), which inside the environment would be its own
//! loopback, the upstream list `/run/systemd/resolve/resolv.conf` is used instead, as
//! Docker does. Which servers are kept, and the text, are `stockade_core::resolv`'s (shared
//! with FreeBSD).

use std::fs;
use std::io::{self, Write as _};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use stockade_core::resolv::{self, Resolver};

/// The host files read, in order of preference.
const HOST_FILES: &[&str] = &["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"];

/// Writes `dir/resolv.conf` for `resolver`.
pub fn write(resolver: &Resolver, dir: &Path) -> io::Result<()> {
    let lists: Vec<Vec<IpAddr>> = HOST_FILES
        .iter()
        .filter_map(|p| fs::read_to_string(p).ok())
        .map(|text| resolv::nameservers(&text))
        .collect();
    let host: Vec<IpAddr> = nix::ifaddrs::getifaddrs()
        .map(|addrs| {
            addrs
                .filter_map(|a| {
                    let addr = a.address?;
                    match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
                        (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
                        (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
                        _ => None,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let text = resolver.render(&lists, &|ip| host.contains(&ip));
    // Readable by every user inside (it is their resolver), never written through a link.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join("resolv.conf"))
        .and_then(|mut f| f.write_all(text.as_bytes()))
}
