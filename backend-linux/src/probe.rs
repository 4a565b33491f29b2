//! The host probe: what this Linux host offers stockade, read from procfs and cgroupfs
//! (proc(5) `/proc/self/mountinfo`, cgroups(7), user_namespaces(7)).
//!
//! - **cgroup layout** from the mount table: pure v2 (one `cgroup2` mount, usually at
//!   `/sys/fs/cgroup`, controllers listed in its `cgroup.controllers`), pure v1 (one
//!   `cgroup` mount per controller, the controllers named in its super options), or hybrid
//!   (v1 controllers plus a `cgroup2` at `/sys/fs/cgroup/unified`, which systemd uses for
//!   process tracking and which usually holds no controller stockade needs). A controller
//!   lives in one hierarchy only, so stockade drives the hierarchy that holds the
//!   controllers it needs ([`NEEDED_CONTROLLERS`]): v2 when its root offers all of them,
//!   otherwise the one that holds more, v1 on a tie.
//! - **kernel release** from `/proc/sys/kernel/osrelease`;
//! - **user namespaces**: enabled when `/proc/sys/user/max_user_namespaces` is above 0;
//! - **host system folders** offered to `root.host` ([`detect_host_dirs`]).
//!
//! Every reader takes the root to read under, so tests run on fixture trees; only
//! `LinuxBackend::probe` passes the real `/`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use stockade_core::backend::{CgroupVersion, HostInfo};

use crate::plan::mount::{HostDir, HOST_DIR_CANDIDATES};
use crate::plan::LinuxPlanOptions;

/// The controllers stockade's limits use: `memory`, `pids`, `cpu`.
pub const NEEDED_CONTROLLERS: &[&str] = &["cpu", "memory", "pids"];

/// cgroup v1 controller names, as they appear in a v1 mount's super options (the other
/// options, like `rw`, `xattr` or `name=systemd`, are not controllers).
pub const V1_CONTROLLERS: &[&str] = &[
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

/// What can go wrong reading the host.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// What was read.
        path: PathBuf,
        /// The cause, with its errno.
        source: io::Error,
    },
    /// A mountinfo line has too few fields.
    #[error("{}: line {line} is not a mountinfo entry: {text:?}", path.display())]
    Mountinfo {
        /// The mountinfo file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The line.
        text: String,
    },
    /// A file that holds a number holds something else.
    #[error("{}: expected a number, found {text:?}", path.display())]
    NotANumber {
        /// The file.
        path: PathBuf,
        /// Its content.
        text: String,
    },
    /// No cgroup file system is mounted at all.
    #[error(
        "no cgroup file system is mounted (none in {}): mount cgroup2 with \
         `mount -t cgroup2 none /sys/fs/cgroup`, or run under an init that does (systemd)",
        path.display()
    )]
    NoCgroup {
        /// The mountinfo file read.
        path: PathBuf,
    },
}

/// Attaches the path to an I/O error once, instead of a `map_err` at every call.
trait WithPath<T> {
    fn with_path(self, path: &Path) -> Result<T, ProbeError>;
}

impl<T> WithPath<T> for io::Result<T> {
    fn with_path(self, path: &Path) -> Result<T, ProbeError> {
        self.map_err(|source| ProbeError::Read {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// `path` (absolute on the host) below `root`.
fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    let path = path.as_ref();
    root.join(path.strip_prefix("/").unwrap_or(path))
}

/// One cgroup file system in the mount table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupMount {
    /// Where it is mounted (host path).
    pub mount_point: PathBuf,
    /// `cgroup` (v1) or `cgroup2` (v2).
    pub version: CgroupVersion,
    /// v1: the controllers bound to this hierarchy (from the super options); v2: those in
    /// its `cgroup.controllers` (empty until [`detect_cgroup`] reads it).
    pub controllers: Vec<String>,
}

/// How the host's cgroup file systems are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupLayout {
    /// Only cgroup2.
    Unified,
    /// v1 controller hierarchies and a cgroup2 mount.
    Hybrid,
    /// Only v1.
    Legacy,
}

/// The host's cgroups, as stockade will use them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CgroupInfo {
    /// The layout.
    pub layout: CgroupLayout,
    /// The hierarchy stockade drives.
    pub version: CgroupVersion,
    /// The controllers available in that hierarchy, sorted.
    pub controllers: Vec<String>,
    /// Every cgroup mount, in mount table order.
    pub mounts: Vec<CgroupMount>,
}

impl CgroupInfo {
    /// Needed controllers the chosen hierarchy lacks, in the order given.
    pub fn missing<'a>(&self, needed: &[&'a str]) -> Vec<&'a str> {
        needed
            .iter()
            .copied()
            .filter(|c| !self.controllers.iter().any(|have| have == c))
            .collect()
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\011` tab, `\012` newline,
/// `\134` backslash). Bytes that are not UTF-8 are replaced: cgroup mount points are
/// ASCII in practice, and a replaced one fails loudly when read.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(b) = u8::try_from(value) {
                    out.push(b);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup mounts in a mountinfo text (`path` names it in errors). Lines look like
/// `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`.
pub fn parse_cgroup_mounts(mountinfo: &str, path: &Path) -> Result<Vec<CgroupMount>, ProbeError> {
    let mut mounts = Vec::new();
    for (i, line) in mountinfo.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || ProbeError::Mountinfo {
            path: path.to_path_buf(),
            line: i + 1,
            text: line.to_string(),
        };
        let (head, tail) = line.split_once(" - ").ok_or_else(bad)?;
        let head: Vec<&str> = head.split(' ').collect();
        let tail: Vec<&str> = tail.split(' ').collect();
        if head.len() < 6 || tail.len() < 3 {
            return Err(bad());
        }
        let mount_point = PathBuf::from(unescape(head[4]));
        let (version, controllers) = match tail[0] {
            "cgroup2" => (CgroupVersion::V2, Vec::new()),
            "cgroup" => (
                CgroupVersion::V1,
                tail[2]
                    .split(',')
                    .filter(|o| V1_CONTROLLERS.contains(o))
                    .map(str::to_string)
                    .collect(),
            ),
            _ => continue,
        };
        mounts.push(CgroupMount {
            mount_point,
            version,
            controllers,
        });
    }
    Ok(mounts)
}

/// The cgroup layout from a mountinfo text, reading v2 `cgroup.controllers` below `root`,
/// and the hierarchy that holds the `needed` controllers (see the module).
pub fn detect_cgroup(
    mountinfo: &str,
    mountinfo_path: &Path,
    root: &Path,
    needed: &[&str],
) -> Result<CgroupInfo, ProbeError> {
    let mut mounts = parse_cgroup_mounts(mountinfo, mountinfo_path)?;
    for m in mounts.iter_mut().filter(|m| m.version == CgroupVersion::V2) {
        let file = under(root, m.mount_point.join("cgroup.controllers"));
        let text = fs::read_to_string(&file).with_path(&file)?;
        m.controllers = text.split_whitespace().map(str::to_string).collect();
    }

    let mut v1: Vec<String> = mounts
        .iter()
        .filter(|m| m.version == CgroupVersion::V1)
        .flat_map(|m| m.controllers.iter().cloned())
        .collect();
    v1.sort();
    v1.dedup();
    // Prefer the cgroup2 at the usual place; hybrid hosts have it at .../unified.
    let v2 = mounts
        .iter()
        .filter(|m| m.version == CgroupVersion::V2)
        .min_by_key(|m| m.mount_point != Path::new("/sys/fs/cgroup"))
        .map(|m| {
            let mut c = m.controllers.clone();
            c.sort();
            c.dedup();
            c
        });

    let layout = match (v1.is_empty(), &v2) {
        (false, Some(_)) => CgroupLayout::Hybrid,
        (false, None) => CgroupLayout::Legacy,
        (true, Some(_)) => CgroupLayout::Unified,
        (true, None) => {
            // A v1 mount with no controller (name=systemd alone) cannot limit anything.
            if mounts.is_empty() {
                return Err(ProbeError::NoCgroup {
                    path: mountinfo_path.to_path_buf(),
                });
            }
            CgroupLayout::Legacy
        }
    };
    let count = |have: &[String]| {
        needed
            .iter()
            .filter(|n| have.iter().any(|h| h == *n))
            .count()
    };
    let version = match &v2 {
        Some(c2) if count(c2) == needed.len() => CgroupVersion::V2,
        Some(c2) if count(c2) > count(&v1) => CgroupVersion::V2,
        Some(_) if v1.is_empty() => CgroupVersion::V2,
        _ => CgroupVersion::V1,
    };
    let controllers = match version {
        CgroupVersion::V1 => v1,
        CgroupVersion::V2 => v2.unwrap_or_default(),
    };
    Ok(CgroupInfo {
        layout,
        version,
        controllers,
        mounts,
    })
}

/// The kernel release, from `<root>/proc/sys/kernel/osrelease`.
pub fn kernel_release(root: &Path) -> Result<String, ProbeError> {
    let file = under(root, "/proc/sys/kernel/osrelease");
    Ok(fs::read_to_string(&file)
        .with_path(&file)?
        .trim()
        .to_string())
}

/// Whether user namespaces can be created: `<root>/proc/sys/user/max_user_namespaces` is
/// above 0. A kernel without user namespaces has no such file: false.
pub fn user_namespaces(root: &Path) -> Result<bool, ProbeError> {
    let file = under(root, "/proc/sys/user/max_user_namespaces");
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(ProbeError::Read {
                path: file,
                source: e,
            })
        }
    };
    let n: u64 = text.trim().parse().map_err(|_| ProbeError::NotANumber {
        path: file.clone(),
        text: text.trim().to_string(),
    })?;
    Ok(n > 0)
}

/// The host system folders below `root` that a `root.host` view offers, from
/// [`HOST_DIR_CANDIDATES`]: folders as [`HostDir::Dir`], symlinks that lead to a folder
/// as [`HostDir::Symlink`] (their text verbatim). Missing ones, dangling links and other
/// file types are left out.
pub fn detect_host_dirs(root: &Path) -> Result<Vec<HostDir>, ProbeError> {
    let mut dirs = Vec::new();
    for candidate in HOST_DIR_CANDIDATES {
        let path = PathBuf::from(candidate);
        let on_disk = under(root, &path);
        let meta = match fs::symlink_metadata(&on_disk) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(ProbeError::Read {
                    path: on_disk,
                    source: e,
                })
            }
        };
        if meta.is_dir() {
            dirs.push(HostDir::Dir { path });
        } else if meta.is_symlink() {
            let to = fs::read_link(&on_disk).with_path(&on_disk)?;
            // Resolve the link's text below `root`, as the environment will see it.
            let resolved = if to.is_absolute() {
                under(root, &to)
            } else {
                under(root, Path::new("/").join(&to))
            };
            if resolved.is_dir() {
                dirs.push(HostDir::Symlink { path, to });
            }
        }
    }
    Ok(dirs)
}

/// Probes the Linux host whose `/` is `root` (`/` for this host; a fixture in tests).
pub fn probe_root(root: &Path) -> Result<HostInfo, ProbeError> {
    let mountinfo_path = under(root, "/proc/self/mountinfo");
    let mountinfo = fs::read_to_string(&mountinfo_path).with_path(&mountinfo_path)?;
    let cgroup = detect_cgroup(&mountinfo, &mountinfo_path, root, NEEDED_CONTROLLERS)?;
    Ok(HostInfo {
        os: "linux".into(),
        release: kernel_release(root)?,
        cgroup: Some(cgroup.version),
        controllers: cgroup.controllers,
        user_namespaces: Some(user_namespaces(root)?),
        racct: None,
        vimage: None,
        linux_abi: None,
    })
}

impl LinuxPlanOptions {
    /// The options that describe this host: its system folder layout under `/`.
    pub fn detect() -> Result<Self, ProbeError> {
        Self::detect_in(Path::new("/"))
    }

    /// The options that describe the host whose `/` is `root`.
    pub fn detect_in(root: &Path) -> Result<Self, ProbeError> {
        Ok(LinuxPlanOptions {
            host_dirs: detect_host_dirs(root)?,
            rootless: crate::this_caller_rootless(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's mount table: a hybrid host with v1 controllers, each in its own
    /// hierarchy, and a cgroup2 at /sys/fs/cgroup/unified holding only hugetlb.
    const HYBRID: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd host on the unified hierarchy.
    const UNIFIED: &str = "\
21 26 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
22 26 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
30 21 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    /// A classic v1 host: cpu and cpuacct share a hierarchy, systemd's named one has none.
    const LEGACY: &str = "\
25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:5 - cgroup cgroup rw,xattr,name=systemd
29 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,pids
";

    fn write(root: &Path, path: &str, text: &str) {
        let file = under(root, path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }

    fn fixture(mountinfo: &str, v2_controllers: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "/proc/self/mountinfo", mountinfo);
        write(dir.path(), "/proc/sys/kernel/osrelease", "6.18.44-test\n");
        write(dir.path(), "/proc/sys/user/max_user_namespaces", "96365\n");
        for (mount_point, controllers) in v2_controllers {
            write(
                dir.path(),
                &format!("{mount_point}/cgroup.controllers"),
                controllers,
            );
        }
        dir
    }

    #[test]
    fn hybrid_host_uses_v1() {
        let root = fixture(HYBRID, &[("/sys/fs/cgroup/unified", "hugetlb\n")]);
        let info = detect_cgroup(
            HYBRID,
            Path::new("mountinfo"),
            root.path(),
            NEEDED_CONTROLLERS,
        )
        .unwrap();
        assert_eq!(info.layout, CgroupLayout::Hybrid);
        assert_eq!(info.version, CgroupVersion::V1);
        assert_eq!(
            info.controllers,
            ["blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids"]
        );
        assert!(info.missing(NEEDED_CONTROLLERS).is_empty());
        assert_eq!(info.mounts.len(), 10);
        let systemd = &info.mounts[8];
        assert_eq!(systemd.mount_point, Path::new("/sys/fs/cgroup/systemd"));
        assert!(systemd.controllers.is_empty());
        assert_eq!(info.mounts[9].controllers, ["hugetlb"]);

        let host = probe_root(root.path()).unwrap();
        assert_eq!(host.os, "linux");
        assert_eq!(host.release, "6.18.44-test");
        assert_eq!(host.cgroup, Some(CgroupVersion::V1));
        assert_eq!(host.controllers, info.controllers);
        assert_eq!(host.user_namespaces, Some(true));
        assert_eq!(host.racct, None);
    }

    #[test]
    fn hybrid_host_with_controllers_on_v2_uses_v2() {
        // Some hybrid hosts move controllers to the unified hierarchy; then v2 holds them.
        let mountinfo = "\
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
42 31 0:39 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
";
        let root = fixture(
            mountinfo,
            &[("/sys/fs/cgroup/unified", "cpu memory pids io\n")],
        );
        let info =
            detect_cgroup(mountinfo, Path::new("m"), root.path(), NEEDED_CONTROLLERS).unwrap();
        assert_eq!(info.layout, CgroupLayout::Hybrid);
        assert_eq!(info.version, CgroupVersion::V2);
        assert_eq!(info.controllers, ["cpu", "io", "memory", "pids"]);
    }

    #[test]
    fn unified_host_uses_v2() {
        let root = fixture(
            UNIFIED,
            &[(
                "/sys/fs/cgroup",
                "cpuset cpu io memory hugetlb pids rdma misc\n",
            )],
        );
        let host = probe_root(root.path()).unwrap();
        assert_eq!(host.cgroup, Some(CgroupVersion::V2));
        assert_eq!(
            host.controllers,
            ["cpu", "cpuset", "hugetlb", "io", "memory", "misc", "pids", "rdma"]
        );
        let info = detect_cgroup(UNIFIED, Path::new("m"), root.path(), NEEDED_CONTROLLERS).unwrap();
        assert_eq!(info.layout, CgroupLayout::Unified);
        assert_eq!(info.mounts[0].mount_point, Path::new("/sys/fs/cgroup"));
    }

    #[test]
    fn unified_host_without_controllers_still_uses_v2_and_says_what_is_missing() {
        let root = fixture(UNIFIED, &[("/sys/fs/cgroup", "cpuset io\n")]);
        let info = detect_cgroup(UNIFIED, Path::new("m"), root.path(), NEEDED_CONTROLLERS).unwrap();
        assert_eq!(info.version, CgroupVersion::V2);
        assert_eq!(info.missing(NEEDED_CONTROLLERS), ["cpu", "memory", "pids"]);
    }

    #[test]
    fn legacy_host_uses_v1_with_shared_hierarchies() {
        let root = fixture(LEGACY, &[]);
        let info = detect_cgroup(LEGACY, Path::new("m"), root.path(), NEEDED_CONTROLLERS).unwrap();
        assert_eq!(info.layout, CgroupLayout::Legacy);
        assert_eq!(info.version, CgroupVersion::V1);
        assert_eq!(info.controllers, ["cpu", "cpuacct", "memory", "pids"]);
        assert_eq!(
            info.mounts[1].mount_point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert_eq!(info.mounts[1].controllers, ["cpu", "cpuacct"]);
    }

    #[test]
    fn no_cgroup_is_an_error_that_says_what_to_do() {
        let mountinfo = "22 26 0:21 / /proc rw - proc proc rw\n";
        let err = detect_cgroup(
            mountinfo,
            Path::new("/proc/self/mountinfo"),
            Path::new("/"),
            NEEDED_CONTROLLERS,
        )
        .unwrap_err();
        assert!(matches!(err, ProbeError::NoCgroup { .. }));
        assert!(err.to_string().contains("mount -t cgroup2"), "{err}");
    }

    #[test]
    fn missing_v2_controllers_file_is_a_read_error_with_its_path() {
        let root = tempfile::tempdir().unwrap();
        let err =
            detect_cgroup(UNIFIED, Path::new("m"), root.path(), NEEDED_CONTROLLERS).unwrap_err();
        match err {
            ProbeError::Read { path, source } => {
                assert_eq!(path, root.path().join("sys/fs/cgroup/cgroup.controllers"));
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_mountinfo_names_the_line() {
        let text = "22 26 0:21 / /proc rw - proc proc rw\nnonsense\n";
        let err = parse_cgroup_mounts(text, Path::new("/proc/self/mountinfo")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/proc/self/mountinfo: line 2 is not a mountinfo entry: \"nonsense\""
        );
    }

    #[test]
    fn mount_points_are_unescaped() {
        let text = "41 31 0:38 / /sys/fs/cgroup/my\\040tree rw - cgroup2 cgroup2 rw\n";
        let mounts = parse_cgroup_mounts(text, Path::new("m")).unwrap();
        assert_eq!(mounts[0].mount_point, Path::new("/sys/fs/cgroup/my tree"));
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
    }

    #[test]
    fn user_namespaces_off_or_absent() {
        let root = tempfile::tempdir().unwrap();
        assert!(!user_namespaces(root.path()).unwrap());
        write(root.path(), "/proc/sys/user/max_user_namespaces", "0\n");
        assert!(!user_namespaces(root.path()).unwrap());
        write(root.path(), "/proc/sys/user/max_user_namespaces", "many\n");
        assert!(matches!(
            user_namespaces(root.path()).unwrap_err(),
            ProbeError::NotANumber { .. }
        ));
    }

    #[cfg(unix)]
    #[test]
    fn host_dirs_of_a_merged_usr_host() {
        use std::os::unix::fs::symlink;
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "etc"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        symlink("usr/bin", r.join("bin")).unwrap();
        symlink("usr/sbin", r.join("sbin")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/usr/lib64", r.join("lib64")).unwrap(); // absolute links resolve in root
        symlink("usr/lib32", r.join("lib32")).unwrap(); // dangling: left out
        fs::write(r.join("libx32"), "").unwrap(); // a file: left out
        let dirs = detect_host_dirs(r).unwrap();
        let link = |p: &str, to: &str| HostDir::Symlink {
            path: p.into(),
            to: to.into(),
        };
        assert_eq!(
            dirs,
            [
                link("/bin", "usr/bin"),
                link("/sbin", "usr/sbin"),
                link("/lib", "usr/lib"),
                link("/lib64", "/usr/lib64"),
                HostDir::Dir {
                    path: "/usr".into()
                },
                HostDir::Dir {
                    path: "/etc".into()
                },
            ]
        );
        assert_eq!(LinuxPlanOptions::detect_in(r).unwrap().host_dirs, dirs);
    }

    #[test]
    fn host_dirs_of_a_classic_host() {
        let root = tempfile::tempdir().unwrap();
        for d in ["bin", "sbin", "lib", "lib64", "usr", "etc"] {
            fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let dirs = detect_host_dirs(root.path()).unwrap();
        let paths: Vec<_> = dirs
            .iter()
            .map(|d| match d {
                HostDir::Dir { path } => path.display().to_string(),
                HostDir::Symlink { .. } => panic!("{d:?}"),
            })
            .collect();
        assert_eq!(paths, ["/bin", "/sbin", "/lib", "/lib64", "/usr", "/etc"]);
    }
}
