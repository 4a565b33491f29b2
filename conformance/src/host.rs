//! What this host is and can do, found by the suite itself (never by asking stockade, the
//! thing under test): the portability target (Linux with cgroup v1 or v2, from
//! `/proc/self/mountinfo`; FreeBSD), the cgroup controllers, racct and VIMAGE on FreeBSD,
//! and whether we are root. From these come the `skip: host lacks X` verdicts.
//!
//! The mountinfo parser takes the text and a reader for `cgroup.controllers`, so tests
//! feed it fixture layouts (a hybrid host like CI's, a pure v2 guest).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use stockade_core::portability::{Feature, Target};

use crate::sys;

/// The controllers stockade's limits need.
pub const NEEDED_CONTROLLERS: &[&str] = &["cpu", "memory", "pids"];

const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// One cgroup hierarchy mounted on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub path: PathBuf,
    /// v2 (`cgroup2`) or v1 (`cgroup`).
    pub v2: bool,
    /// Its controllers.
    pub controllers: Vec<String>,
}

/// The cgroup picture of a Linux host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cgroups {
    /// Every cgroup mount (where leftovers are looked for).
    pub mounts: Vec<CgroupMount>,
    /// The target: the hierarchy holding the needed controllers.
    pub target: Target,
    /// The controllers of that hierarchy.
    pub controllers: Vec<String>,
}

/// Reads the cgroup mounts from a mountinfo text; `controllers_of` reads a v2 mount's
/// `cgroup.controllers`. The target is v2 when the v2 hierarchy holds every needed
/// controller (or more of them than v1 does), else v1: a hybrid host whose controllers
/// are all on v1 is a v1 target, as the portability table counts it.
pub fn cgroups_from(mountinfo: &str, controllers_of: impl Fn(&Path) -> Option<String>) -> Cgroups {
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(target), Some(fstype), Some(opts)) =
            (fields.get(4), fields.get(sep + 1), fields.get(sep + 3))
        else {
            continue;
        };
        let path = PathBuf::from(target);
        match *fstype {
            "cgroup2" => {
                let controllers = controllers_of(&path)
                    .map(|t| t.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                mounts.push(CgroupMount {
                    path,
                    v2: true,
                    controllers,
                });
            }
            "cgroup" => {
                let controllers = opts
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect();
                mounts.push(CgroupMount {
                    path,
                    v2: false,
                    controllers,
                });
            }
            _ => {}
        }
    }
    let mut v1: Vec<String> = mounts
        .iter()
        .filter(|m| !m.v2)
        .flat_map(|m| m.controllers.clone())
        .collect();
    v1.sort();
    v1.dedup();
    let v2 = mounts
        .iter()
        .filter(|m| m.v2)
        .min_by_key(|m| m.path != Path::new("/sys/fs/cgroup"))
        .map(|m| m.controllers.clone());
    let count = |have: &[String]| {
        NEEDED_CONTROLLERS
            .iter()
            .filter(|n| have.iter().any(|h| h == *n))
            .count()
    };
    let use_v2 = match &v2 {
        Some(c2) => {
            count(c2) == NEEDED_CONTROLLERS.len() || count(c2) > count(&v1) || v1.is_empty()
        }
        None => v1.is_empty(),
    };
    let (target, controllers) = if use_v2 {
        (Target::LinuxCgroupV2, v2.unwrap_or_default())
    } else {
        (Target::LinuxCgroupV1, v1)
    };
    Cgroups {
        mounts,
        target,
        controllers,
    }
}

/// Why the host cannot be probed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The mount table could not be read.
    #[error("{}: {source} (is /proc mounted?)", path.display())]
    Mountinfo {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Not an OS stockade runs on.
    #[error("stockade runs on Linux and FreeBSD; this is {0}")]
    UnsupportedOs(&'static str),
}

/// The facts the suite skips on.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// The portability target.
    pub target: Target,
    /// Linux: the cgroup picture.
    pub cgroups: Option<Cgroups>,
    /// Running as root.
    pub root: bool,
    /// FreeBSD: `kern.racct.enable`.
    pub racct: Option<bool>,
    /// FreeBSD: `kern.features.vimage`.
    pub vimage: Option<bool>,
}

fn sysctl_is_one(name: &str) -> bool {
    Command::new("sysctl")
        .args(["-n", name])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "1")
}

impl Host {
    /// Probes this host.
    pub fn detect() -> Result<Host, HostError> {
        let root = sys::is_root();
        match std::env::consts::OS {
            "linux" => {
                let path = Path::new("/proc/self/mountinfo");
                let text = fs::read_to_string(path).map_err(|source| HostError::Mountinfo {
                    path: path.to_path_buf(),
                    source,
                })?;
                let cgroups = cgroups_from(&text, |p| {
                    fs::read_to_string(p.join("cgroup.controllers")).ok()
                });
                Ok(Host {
                    target: cgroups.target,
                    cgroups: Some(cgroups),
                    root,
                    racct: None,
                    vimage: None,
                })
            }
            "freebsd" => Ok(Host {
                target: Target::Freebsd,
                cgroups: None,
                root,
                racct: Some(sysctl_is_one("kern.racct.enable")),
                vimage: Some(sysctl_is_one("kern.features.vimage")),
            }),
            other => Err(HostError::UnsupportedOs(other)),
        }
    }

    fn has_controller(&self, name: &str) -> bool {
        self.cgroups
            .as_ref()
            .is_some_and(|c| c.controllers.iter().any(|h| h == name))
    }

    /// Why this host cannot exercise a feature, if it cannot.
    pub fn lacks(&self, feature: Feature) -> Option<String> {
        let controller = |name: &str| {
            (!self.has_controller(name)).then(|| {
                let version = if self.target == Target::LinuxCgroupV1 {
                    "v1"
                } else {
                    "v2"
                };
                format!("the cgroup {name} controller (cgroup {version})")
            })
        };
        let racct = || {
            (self.racct != Some(true)).then(|| {
                "racct (kern.racct.enable is 0: set kern.racct.enable=1 in /boot/loader.conf and reboot)"
                    .to_string()
            })
        };
        let vimage = || {
            (self.vimage != Some(true)).then(|| {
                "VIMAGE (kern.features.vimage): vnet jails need a VIMAGE kernel".to_string()
            })
        };
        match (self.target, feature) {
            (Target::Freebsd, Feature::MemoryLimit)
            | (Target::Freebsd, Feature::ProcessLimit)
            | (Target::Freebsd, Feature::CpuLimit)
            | (Target::Freebsd, Feature::OpenFilesLimit) => racct(),
            (Target::Freebsd, Feature::NetworkNone)
            | (Target::Freebsd, Feature::NetworkPrivate) => vimage(),
            (_, Feature::MemoryLimit) => controller("memory"),
            (_, Feature::ProcessLimit) => controller("pids"),
            (_, Feature::CpuLimit) => controller("cpu"),
            (Target::Freebsd, _) => None,
            (_, Feature::CpuSet) => controller("cpuset"),
            (_, Feature::Checkpoint) => criu_broken(),
            (_, Feature::NetworkNat | Feature::NetworkPublish) => no_nftables(),
            _ => None,
        }
    }
}

/// Linux: why NAT cannot work here, if it cannot: a kernel without netfilter's netlink
/// family (as in a guest whose initramfs carries only a few modules).
fn no_nftables() -> Option<String> {
    (!crate::sys::has_nfnetlink()).then(|| {
        "nftables (the kernel has no netfilter netlink: nf_tables not available)".to_string()
    })
}

/// Why CRIU cannot checkpoint on this host, in CRIU's own words (`criu check`), if it
/// cannot: not installed, or not working on the running kernel. The criu asked is the
/// one stockade uses: the first in PATH, else /usr/local/sbin's (where `.ci/criu` builds
/// one new enough for the kernel), else /usr/sbin's.
fn criu_broken() -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let criu = std::env::split_paths(&path)
        .map(|d| d.join("criu"))
        .chain(["/usr/local/sbin/criu", "/usr/sbin/criu"].map(PathBuf::from))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("criu"));
    match Command::new(&criu).arg("check").output() {
        Err(e) => Some(format!(
            "CRIU ({}: {e}; a criu that runs on this kernel: .ci/criu builds one)",
            criu.display()
        )),
        Ok(out) if out.status.success() => None,
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stderr).to_string()
                + &String::from_utf8_lossy(&out.stdout);
            let said = text
                .lines()
                .find(|l| l.contains("Error"))
                .unwrap_or(text.trim());
            Some(format!(
                "a CRIU that works on this kernel (criu check: {said})"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CI's host: v1 controllers, each in its own hierarchy, and a cgroup2 at
    /// /sys/fs/cgroup/unified with no controller.
    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// The pure v2 guest.
    const UNIFIED: &str = "\
22 1 0:21 / /proc rw,relatime - proc proc rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
";

    #[test]
    fn hybrid_host_is_a_v1_target() {
        let c = cgroups_from(HYBRID, |_| Some(String::new()));
        assert_eq!(c.target, Target::LinuxCgroupV1);
        assert_eq!(c.controllers, ["cpu", "memory", "pids"]);
        assert_eq!(c.mounts.len(), 5);
        assert!(c
            .mounts
            .iter()
            .any(|m| m.v2 && m.path == Path::new("/sys/fs/cgroup/unified")));
    }

    #[test]
    fn unified_host_is_a_v2_target_with_its_controllers() {
        let c = cgroups_from(UNIFIED, |p| {
            assert_eq!(p, Path::new("/sys/fs/cgroup"));
            Some("cpuset cpu io memory pids\n".into())
        });
        assert_eq!(c.target, Target::LinuxCgroupV2);
        assert_eq!(c.controllers, ["cpuset", "cpu", "io", "memory", "pids"]);
    }

    #[test]
    fn hybrid_host_with_controllers_on_v2_is_a_v2_target() {
        let text = "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
                    32 31 0:29 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n";
        let c = cgroups_from(text, |_| Some("cpu memory pids".into()));
        assert_eq!(c.target, Target::LinuxCgroupV2);
    }

    #[test]
    fn missing_controllers_are_host_lacks() {
        let host = Host {
            target: Target::LinuxCgroupV2,
            cgroups: Some(cgroups_from(UNIFIED, |_| Some("cpu pids".into()))),
            root: true,
            racct: None,
            vimage: None,
        };
        let why = host.lacks(Feature::MemoryLimit).unwrap();
        assert!(why.contains("memory controller"), "{why}");
        assert_eq!(host.lacks(Feature::CpuLimit), None);
        assert_eq!(host.lacks(Feature::NetworkPrivate), None);
    }

    #[test]
    fn freebsd_needs_racct_for_limits_and_vimage_for_vnet() {
        let host = Host {
            target: Target::Freebsd,
            cgroups: None,
            root: true,
            racct: Some(false),
            vimage: Some(false),
        };
        assert!(host
            .lacks(Feature::OpenFilesLimit)
            .unwrap()
            .contains("kern.racct.enable=1"));
        assert!(host.lacks(Feature::NetworkNone).unwrap().contains("VIMAGE"));
        assert_eq!(host.lacks(Feature::NetworkHost), None);
    }
}
