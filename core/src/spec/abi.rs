//! `root.abi`: which kernel ABI the root's binaries are built for.

use serde::Serialize;

/// The ABI of a root's binaries (`root.abi`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "abi", rename_all = "snake_case")]
pub enum Abi {
    /// Linux binaries: native on Linux, FreeBSD's Linux ABI (linux64.ko) in a jail.
    Linux(LinuxAbi),
    /// FreeBSD binaries: native on FreeBSD, refused on Linux (no FreeBSD ABI there).
    Freebsd,
}

impl Abi {
    /// The spec's spelling.
    pub fn name(&self) -> &'static str {
        match self {
            Abi::Linux(_) => "linux",
            Abi::Freebsd => "freebsd",
        }
    }
}

/// What FreeBSD's Linux ABI reports to a Linux root (`root.linux_osname`,
/// `root.linux_osrelease`): the jail's `linux.osname` / `linux.osrelease`, which
/// `uname` inside shows. `None` keeps the host's defaults (`Linux`, the
/// `compat.linux.osrelease` sysctl).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LinuxAbi {
    /// `uname -s` inside.
    pub osname: Option<String>,
    /// `uname -r` inside, e.g. `"5.15.0"` (glibc refuses to start below its minimum).
    pub osrelease: Option<String>,
}
