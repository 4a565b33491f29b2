//! The backend of the OS stockade was built for, picked once at compile time.

use std::process::ExitCode;

use stockade_core::backend::CgroupVersion;
use stockade_core::state::StateStore;

use crate::cli::Lifecycle;
use crate::commands::plan::Os;

cfg_if::cfg_if! {
    if #[cfg(target_os = "linux")] {
        /// This host's OS, as `plan --target` names it.
        pub const HOST_OS: Option<Os> = Some(Os::Linux);

        /// Runs a lifecycle command with this host's runtime.
        pub fn lifecycle(command: Lifecycle, store: &StateStore) -> anyhow::Result<ExitCode> {
            crate::commands::lifecycle(&linux_backend(), command, store)
        }

        /// This host's cgroup version, probed.
        pub fn host_cgroup() -> Option<CgroupVersion> {
            use stockade_core::backend::Backend;
            linux_backend().probe().ok()?.cgroup
        }

        /// The Linux backend, with this host's layout of system folders (for root.host).
        pub fn linux_backend() -> stockade_linux::LinuxBackend {
            stockade_linux::LinuxBackend::for_this_host().unwrap_or_default()
        }

        /// Without root: `$XDG_RUNTIME_DIR/stockade` (rootless mode).
        fn rootless_state_root() -> Option<std::path::PathBuf> {
            stockade_linux::apply::userns::default_state_root()
        }
    } else if #[cfg(target_os = "freebsd")] {
        /// This host's OS, as `plan --target` names it.
        pub const HOST_OS: Option<Os> = Some(Os::Freebsd);

        /// Runs a lifecycle command with this host's runtime.
        pub fn lifecycle(command: Lifecycle, store: &StateStore) -> anyhow::Result<ExitCode> {
            crate::commands::lifecycle(&stockade_freebsd::FreebsdBackend, command, store)
        }

        /// cgroups are Linux-only.
        pub fn host_cgroup() -> Option<CgroupVersion> {
            None
        }

        /// The Linux backend, with a typical merged-/usr layout (planning from afar).
        pub fn linux_backend() -> stockade_linux::LinuxBackend {
            stockade_linux::LinuxBackend::default()
        }

        /// Jails need root: there is no rootless state root.
        fn rootless_state_root() -> Option<std::path::PathBuf> {
            None
        }
    } else {
        compile_error!("stockade builds for Linux and FreeBSD");
    }
}

/// Where state lives by default on an OS: /run on Linux, /var/run on FreeBSD; without
/// root on this host, `$XDG_RUNTIME_DIR/stockade` (rootless Linux).
pub fn default_state_root(os: Option<Os>) -> std::path::PathBuf {
    match os {
        Some(Os::Freebsd) => "/var/run/stockade".into(),
        _ if os == HOST_OS => rootless_state_root().unwrap_or_else(|| "/run/stockade".into()),
        _ => "/run/stockade".into(),
    }
}
