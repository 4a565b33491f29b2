//! The rootless Linux column: how a feature differs when stockade runs without root, in a
//! user namespace that maps the caller to root inside (see the Linux backend's
//! `plan::userns`). Only the differences are listed; every other feature is as on Linux
//! with cgroup v2. FreeBSD has no rootless mode: jails need root.

use super::{Feature, Mechanism, Support};
use crate::spec::Privilege;

const fn m(how: &'static str, support: Support) -> Mechanism {
    Mechanism { how, support }
}

const DELEGATED: &str = "only inside a cgroup delegated to the caller (`systemd-run --user --scope -p Delegate=yes`, or one an administrator made and chowned); without one the spec is refused, never run unlimited";

/// The rootless mechanism of a feature, when it differs from Linux with cgroup v2.
pub(super) fn differs(feature: Feature) -> Option<Mechanism> {
    Some(match feature {
        Feature::ProcessIsolation => m(
            "user namespace (the caller is root inside) + PID namespace",
            Support::Exact,
        ),
        Feature::User => m(
            "uid/gid mapped by newuidmap/newgidmap from /etc/subuid and /etc/subgid",
            Support::Approximate("only the caller's own ids (as 0) without subordinate ranges in /etc/subuid and /etc/subgid: another process.user is refused then"),
        ),
        Feature::NetworkPrivate => m(
            "-",
            Support::Unsupported("needs root: the host end of the veth pair is made in the host's network namespace, where the caller has no CAP_NET_ADMIN; use none or host"),
        ),
        Feature::MemoryLimit => m("memory.max in a delegated cgroup", Support::Approximate(DELEGATED)),
        Feature::ProcessLimit => m("pids.max in a delegated cgroup", Support::Approximate(DELEGATED)),
        Feature::CpuLimit => m("cpu.max in a delegated cgroup", Support::Approximate(DELEGATED)),
        Feature::OpenFilesLimit => m(
            "RLIMIT_NOFILE, soft and hard",
            Support::Approximate("cannot exceed the caller's own hard limit (raising it needs CAP_SYS_RESOURCE on the host)"),
        ),
        Feature::RootPath => m(
            "user-owned mount namespace, bind mount of the root, pivot_root",
            Support::Approximate("the caller must be able to read the root folder and, for missing mount points, write it (a root unpacked by the caller)"),
        ),
        Feature::DevMount => m(
            "tmpfs with null zero full random urandom tty bound from the host, devpts, shm; no device cgroup",
            Support::Approximate("no device policy: a user namespace cannot make device nodes, and the bound ones keep the host's permissions"),
        ),
        Feature::Privilege(Privilege::Mknod) => m(
            "-",
            Support::Unsupported("a user namespace cannot make device nodes"),
        ),
        Feature::Privilege(Privilege::RawSockets) => m(
            "CAP_NET_RAW",
            Support::Approximate("in the environment's own network namespace only: with network.mode = \"host\" the host's namespace does not belong to the user namespace"),
        ),
        Feature::Privilege(Privilege::NetBindService) => m(
            "CAP_NET_BIND_SERVICE",
            Support::Approximate("in the environment's own network namespace only: with network.mode = \"host\" the host's namespace does not belong to the user namespace"),
        ),
        Feature::RootImage => m(
            "overlayfs in the user namespace over the store's layers",
            Support::Approximate("importing needs root (layers keep overlayfs whiteouts as 0:0 devices and trusted.* xattrs, and the store is root's), and a user-namespace overlayfs ignores trusted.overlay.opaque, so an image with opaque folders shows lower files there"),
        ),
        _ => return None,
    })
}
