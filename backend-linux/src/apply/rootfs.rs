//! Building the environment's file system view: executes the plan's [`MountStep`]s inside
//! the child's new mount namespace (mount(2), mount_setattr(2), pivot_root(2), umount2(2),
//! openat2(2); mount_namespaces(7)).
//!
//! Every target is resolved inside the new root with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` — a symlink in a prepared root can never point a mount at a
//! host path — and the mount is made onto `/proc/self/fd/N` of that `O_PATH` fd, so the
//! path is not looked up a second time (runc does the same). A missing target is created
//! through the same resolution, only inside the root: a folder, or an empty file when the
//! source is not a folder.
//!
//! Remounts (read-only, nosuid, nodev, noexec) use `mount_setattr(2)` on a fresh `O_PATH`
//! fd of the mount, which adds attributes and never clears one the mount already has.
//!
//! # runc's 2025 races (CVE-2025-31133, CVE-2025-52565, CVE-2025-52881)
//! A root folder, or a folder bound into it, may be shared with another environment whose
//! processes change it while this one is built; paths inside it are the owner's to choose.
//! So:
//! - after the pivot (masks and read-only kernel paths), targets and sources are resolved
//!   with `RESOLVE_NO_SYMLINKS`, the mask source must be the null device itself (a
//!   character device 1:3, checked on the opened fd that is then mounted: a `/dev/null`
//!   replaced by a symlink or a file is refused, never followed), and `/proc` must be a
//!   real procfs root before any `/proc/self/fd/N` is used;
//! - before the pivot, a target whose path is not below a planned proc mount must not land
//!   on a procfs or sysfs file system (a `/dev` or `/dev/console` symlink pointing into
//!   `/proc/sys` is refused, not followed there);
//! - stockade writes no procfs file from inside the environment at all: the only procfs
//!   writes are the rootless creator's id maps, on the host's `/proc`.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::Mode;

use super::sys;
use crate::plan::mount::{Mount, MountFlag, MountPlan, MountStep};

/// What went wrong building the root, with the step and the path.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// A step failed.
    #[error("{step}: {}: {source}", path.display())]
    Step {
        /// The plan step, as `stockade plan` prints it.
        step: String,
        /// The path the failing call worked on.
        path: PathBuf,
        /// The cause, with errno.
        source: io::Error,
    },
}

/// Runs in the child, in its new mount namespace, as root: every step of `plan`, in order.
/// On return the process's root is the environment's root and its cwd is `/`.
pub fn build(plan: &MountPlan) -> Result<(), RootfsError> {
    let mut b = Builder {
        rootfs: plan.rootfs.clone(),
        root: None,
        pivoted: false,
        proc_targets: Vec::new(),
        proc_checked: false,
    };
    for step in &plan.steps {
        b.step(step).map_err(|(path, source)| RootfsError::Step {
            step: step.to_string(),
            path,
            source,
        })?;
    }
    Ok(())
}

type StepResult = Result<(), (PathBuf, io::Error)>;

trait At<T> {
    fn at(self, path: &Path) -> Result<T, (PathBuf, io::Error)>;
}

impl<T, E: Into<io::Error>> At<T> for Result<T, E> {
    fn at(self, path: &Path) -> Result<T, (PathBuf, io::Error)> {
        self.map_err(|e| (path.to_path_buf(), e.into()))
    }
}

struct Builder {
    /// The host folder that becomes `/`.
    rootfs: PathBuf,
    /// An `O_PATH` fd of the root as it is now (reopened after each mount on `/`).
    root: Option<OwnedFd>,
    /// After `PivotRoot`, targets resolve from the new `/` and sources are inside too.
    pivoted: bool,
    /// The proc mounts made so far (targets inside the root).
    proc_targets: Vec<PathBuf>,
    /// `/proc` was found to be a real procfs root after the pivot.
    proc_checked: bool,
}

impl Builder {
    fn step(&mut self, step: &MountStep) -> StepResult {
        match step {
            MountStep::MakePrivate => nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )
            .at(Path::new("/")),
            MountStep::Mount(m) => self.mount(m),
            MountStep::Mask { path } => self.mask(path),
            MountStep::Symlink { path, to } => self.symlink(path, to),
            MountStep::PivotRoot { new_root } => {
                let root = self.root_fd()?;
                nix::unistd::fchdir(root.as_fd()).at(new_root)?;
                nix::unistd::pivot_root(".", ".").at(new_root)?;
                self.pivoted = true;
                self.root = None;
                Ok(())
            }
            MountStep::DetachOldRoot => {
                // pivot_root(".", ".") stacked the old root on top of the new one at "/";
                // detaching "." (the top of the stack) leaves the new root visible.
                nix::mount::umount2(".", MntFlags::MNT_DETACH).at(Path::new("."))?;
                nix::unistd::chdir("/").at(Path::new("/"))
            }
        }
    }

    /// The root to resolve targets in: the rootfs before the pivot, `/` after.
    fn root_fd(&mut self) -> Result<&OwnedFd, (PathBuf, io::Error)> {
        if self.root.is_none() {
            let path: &Path = if self.pivoted {
                Path::new("/")
            } else {
                &self.rootfs
            };
            let fd = nix::fcntl::open(
                path,
                OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .at(path)?;
            self.root = Some(fd);
        }
        // Set just above when it was missing.
        self.root.as_ref().ok_or_else(|| {
            (
                self.rootfs.clone(),
                io::Error::from(io::ErrorKind::NotFound),
            )
        })
    }

    fn host_path(&self, target: &Path) -> PathBuf {
        if self.pivoted {
            target.to_path_buf()
        } else {
            self.rootfs.join(relative(target))
        }
    }

    fn mount(&mut self, m: &Mount) -> StepResult {
        let shown = self.host_path(&m.target);
        if m.is_remount() {
            let resolved = if self.pivoted {
                self.resolve_strict(&m.target)
            } else {
                self.resolve(&m.target)
            };
            let fd = match resolved {
                Ok(fd) => fd,
                Err(e) if m.optional && e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) => return Err((shown, e)),
            };
            let mut attrs = 0;
            for f in &m.flags {
                attrs |= match f {
                    MountFlag::Readonly => sys::mount_attr::RDONLY,
                    MountFlag::Nosuid => sys::mount_attr::NOSUID,
                    MountFlag::Nodev => sys::mount_attr::NODEV,
                    MountFlag::Noexec => sys::mount_attr::NOEXEC,
                    // Planned for new mounts only (an OCI bind refuses them).
                    MountFlag::Strictatime | MountFlag::Noatime | MountFlag::Nodiratime => 0,
                    MountFlag::Bind | MountFlag::Recursive | MountFlag::Remount => 0,
                };
            }
            let recursive = m.flags.contains(&MountFlag::Recursive);
            return sys::mount_setattr(fd.as_fd(), recursive, attrs).at(&shown);
        }

        let bind = m.flags.contains(&MountFlag::Bind);
        if self.pivoted {
            return self.mount_after_pivot(m, bind, &shown);
        }
        // What kind of mount point a missing target needs: a file only for a bind of a
        // non-folder (a device node, a regular file).
        let source_is_dir = match (&m.source, bind) {
            (Some(src), true) => match std::fs::metadata(src) {
                Ok(md) => md.is_dir(),
                Err(e) if m.optional && e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err((src.clone(), e)),
            },
            _ => true,
        };
        let fd = if m.optional {
            match self.resolve(&m.target) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                Err(e) => return Err((shown, e)),
            }
        } else {
            self.resolve_or_create(&m.target, source_is_dir)
                .at(&shown)?
        };

        let flags = ms_flags(&m.flags);
        if !self.under_proc_mount(&m.target) && m.fstype.as_deref() != Some("proc") {
            refuse_kernel_fs(&fd, &m.target).at(&shown)?;
        }
        if matches!(m.fstype.as_deref(), Some("proc") | Some("sysfs")) {
            // Targets asked for below it (an OCI config's /sys/fs/cgroup on its /sys)
            // are meant to be on a kernel file system.
            self.proc_targets.push(m.target.clone());
        }
        let proc_fd = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        nix::mount::mount(
            m.source.as_deref(),
            &proc_fd,
            m.fstype.as_deref(),
            flags,
            m.data.as_deref(),
        )
        .at(&shown)?;
        if bind {
            // A bind ignores every attribute flag; apply the ones the plan asked for on
            // the new mount (the plan also lists them as a remount step, which is
            // idempotent).
            let attrs = attr_bits(&m.flags);
            if attrs != 0 {
                let top = self.resolve(&m.target).at(&shown)?;
                sys::mount_setattr(top.as_fd(), m.flags.contains(&MountFlag::Recursive), attrs)
                    .at(&shown)?;
            }
        }
        if relative(&m.target).as_os_str().is_empty() {
            // A mount on the root itself: later lookups must start on top of it.
            self.root = None;
        }
        Ok(())
    }

    /// Masks a path: a folder under an empty read-only tmpfs, anything else under
    /// `/dev/null`; an absent path needs nothing.
    fn mask(&mut self, path: &Path) -> StepResult {
        let shown = self.host_path(path);
        let resolved = if self.pivoted {
            self.resolve_strict(path)
        } else {
            self.resolve(path)
        };
        let fd = match resolved {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err((shown, e)),
        };
        let is_dir = nix::sys::stat::fstat(fd.as_fd())
            .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
            .at(&shown)?;
        drop(fd);
        let mut m = if is_dir {
            Mount {
                source: Some("tmpfs".into()),
                target: path.to_path_buf(),
                fstype: Some("tmpfs".into()),
                flags: [
                    MountFlag::Readonly,
                    MountFlag::Nosuid,
                    MountFlag::Nodev,
                    MountFlag::Noexec,
                ]
                .into_iter()
                .collect(),
                data: None,
                optional: true,
            }
        } else {
            Mount {
                source: Some("/dev/null".into()),
                target: path.to_path_buf(),
                fstype: None,
                flags: [MountFlag::Bind].into_iter().collect(),
                data: None,
                optional: true,
            }
        };
        m.optional = true;
        self.mount(&m)
    }

    /// True when `target` is a planned proc mount or below one (a bind over
    /// `/proc/meminfo` is the spec's explicit choice, not a redirection).
    fn under_proc_mount(&self, target: &Path) -> bool {
        self.proc_targets.iter().any(|p| target.starts_with(p))
    }

    /// A mask or read-only kernel path, after the pivot: nothing is followed, the source
    /// is opened and checked before it is mounted (see the module's CVE notes).
    fn mount_after_pivot(&mut self, m: &Mount, bind: bool, shown: &Path) -> StepResult {
        let fd = match self.resolve_strict(&m.target) {
            Ok(fd) => fd,
            Err(e) if m.optional && e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err((shown.to_path_buf(), e)),
        };
        // Only now: a spec without a procfs at /proc and without the optional target has
        // nothing to mask.
        self.check_proc().at(Path::new("/proc"))?;
        let source_fd = match (&m.source, bind) {
            (Some(src), true) => {
                let src_fd = match self.resolve_strict(src) {
                    Ok(fd) => fd,
                    Err(e) if m.optional && e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
                    Err(e) => return Err((src.clone(), e)),
                };
                if src == Path::new("/dev/null") {
                    check_null_device(&src_fd).at(src)?;
                }
                Some(src_fd)
            }
            _ => None,
        };
        let source = match &source_fd {
            Some(fd) => Some(PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))),
            None => m.source.clone(),
        };
        let target = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        let flags = ms_flags(&m.flags);
        nix::mount::mount(
            source.as_deref(),
            &target,
            m.fstype.as_deref(),
            flags,
            m.data.as_deref(),
        )
        .at(shown)?;
        let attrs = attr_bits(&m.flags);
        if bind && attrs != 0 {
            let top = self.resolve_strict(&m.target).at(shown)?;
            sys::mount_setattr(top.as_fd(), m.flags.contains(&MountFlag::Recursive), attrs)
                .at(shown)?;
        }
        Ok(())
    }

    /// After the pivot `/proc/self/fd/N` names the fds stockade mounts from and onto: it
    /// must be the kernel's, so `/proc` must be a procfs root reached without a symlink.
    /// A mount point cannot be renamed or removed, so the check holds once made.
    fn check_proc(&mut self) -> io::Result<()> {
        if self.proc_checked {
            return Ok(());
        }
        let fd = self.resolve_strict(Path::new("/proc"))?;
        let fs = nix::sys::statfs::fstatfs(&fd)?;
        let st = nix::sys::stat::fstat(fd.as_fd())?;
        if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC || st.st_ino != 1 {
            return Err(io::Error::other(
                "is not the root of a proc file system: refusing to mask kernel paths through \
                 it (a spec that replaces /proc must not also rely on its masks)",
            ));
        }
        self.proc_checked = true;
        Ok(())
    }

    /// Opens `target` inside the root following no symlink at all (`RESOLVE_NO_SYMLINKS`).
    fn resolve_strict(&mut self, target: &Path) -> io::Result<OwnedFd> {
        let rel = relative(target);
        let root = self.root_fd().map_err(|(_, e)| e)?;
        let rel: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &rel
        };
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS);
        nix::fcntl::openat2(root.as_fd(), rel, how).map_err(|e| {
            if e == nix::errno::Errno::ELOOP {
                io::Error::other(format!(
                    "{} is or passes through a symbolic link: refused (only the real path \
                     is used for masks and read-only kernel paths)",
                    target.display()
                ))
            } else {
                e.into()
            }
        })
    }

    fn symlink(&mut self, path: &Path, to: &Path) -> StepResult {
        let shown = self.host_path(path);
        let (parent, name) = split(path).at(&shown)?;
        let dir = self.resolve_or_create(&parent, true).at(&shown)?;
        // O_PATH fds cannot be used as dirfd for symlinkat: reopen the folder for real.
        let dir = reopen_dir(&dir).at(&shown)?;
        match nix::unistd::symlinkat(to, dir.as_fd(), name.as_os_str()) {
            Ok(()) => Ok(()),
            // The root already has it (a prepared root with /dev/fd, say): keep it.
            Err(nix::errno::Errno::EEXIST) => Ok(()),
            Err(e) => Err((shown, e.into())),
        }
    }

    /// Opens `target` (absolute, inside the root) as `O_PATH`, never leaving the root.
    fn resolve(&mut self, target: &Path) -> io::Result<OwnedFd> {
        let rel = relative(target);
        let root = self.root_fd().map_err(|(_, e)| e)?;
        let rel: &Path = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &rel
        };
        openat2_in(root, rel)
    }

    /// Like [`resolve`](Self::resolve), creating the target and its missing parents first
    /// (folders, and an empty file last when `dir` is false).
    fn resolve_or_create(&mut self, target: &Path, dir: bool) -> io::Result<OwnedFd> {
        match self.resolve(target) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split(target)?;
        let parent_fd = self.resolve_or_create(&parent, true)?;
        let parent_dir = reopen_dir(&parent_fd)?;
        let made = if dir {
            nix::sys::stat::mkdirat(
                parent_dir.as_fd(),
                name.as_os_str(),
                Mode::from_bits_truncate(0o755),
            )
        } else {
            nix::fcntl::openat(
                parent_dir.as_fd(),
                name.as_os_str(),
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            .map(drop)
        };
        match made {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        self.resolve(target)
    }
}

/// `openat2(root, rel, O_PATH | O_CLOEXEC, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`.
pub(crate) fn openat2_in(root: &OwnedFd, rel: &Path) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    nix::fcntl::openat2(root.as_fd(), rel, how).map_err(io::Error::from)
}

/// The null device's numbers (devices.txt: 1 char 3).
const NULL_DEVICE: (u64, u64) = (1, 3);

/// CVE-2025-31133: the mask source must be the null device itself, checked on the fd that
/// is mounted.
fn check_null_device(fd: &OwnedFd) -> io::Result<()> {
    let st = nix::sys::stat::fstat(fd.as_fd())?;
    let is_char = st.st_mode & libc::S_IFMT == libc::S_IFCHR;
    let numbers = (
        nix::sys::stat::major(st.st_rdev),
        nix::sys::stat::minor(st.st_rdev),
    );
    if !is_char || numbers != NULL_DEVICE {
        return Err(io::Error::other(
            "is not the null device (character device 1:3): refusing to mask kernel paths \
             with it",
        ));
    }
    Ok(())
}

/// CVE-2025-52565: a mount whose target was not asked for below a proc mount must not land
/// on a procfs or sysfs file (a symlink planted at `/dev` or `/dev/console` pointing into
/// `/proc/sys` would otherwise carry it there).
fn refuse_kernel_fs(fd: &OwnedFd, target: &Path) -> io::Result<()> {
    use nix::sys::statfs::{PROC_SUPER_MAGIC, SYSFS_MAGIC};
    let kind = nix::sys::statfs::fstatfs(fd)?.filesystem_type();
    if kind == PROC_SUPER_MAGIC || kind == SYSFS_MAGIC {
        return Err(io::Error::other(format!(
            "resolves into a kernel file system ({}) although {} is not below a proc mount: \
             refused (a symbolic link in the root redirects it)",
            if kind == PROC_SUPER_MAGIC {
                "procfs"
            } else {
                "sysfs"
            },
            target.display()
        )));
    }
    Ok(())
}

/// Reopens an `O_PATH` folder fd as a real directory fd (for `*at` calls that create).
fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    nix::fcntl::openat(
        fd.as_fd(),
        ".",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
}

/// The `mount(2)` flags of a step.
fn ms_flags(flags: &crate::plan::mount::MountFlags) -> MsFlags {
    flags.iter().fold(MsFlags::empty(), |acc, f| {
        acc | match f {
            MountFlag::Bind => MsFlags::MS_BIND,
            MountFlag::Recursive => MsFlags::MS_REC,
            MountFlag::Remount => MsFlags::MS_REMOUNT,
            MountFlag::Readonly => MsFlags::MS_RDONLY,
            MountFlag::Nosuid => MsFlags::MS_NOSUID,
            MountFlag::Nodev => MsFlags::MS_NODEV,
            MountFlag::Noexec => MsFlags::MS_NOEXEC,
            MountFlag::Strictatime => MsFlags::MS_STRICTATIME,
            MountFlag::Noatime => MsFlags::MS_NOATIME,
            MountFlag::Nodiratime => MsFlags::MS_NODIRATIME,
        }
    })
}

/// The `mount_setattr` bits among a mount's flags.
fn attr_bits(flags: &crate::plan::mount::MountFlags) -> u64 {
    flags.iter().fold(0, |acc, f| {
        acc | match f {
            MountFlag::Readonly => sys::mount_attr::RDONLY,
            MountFlag::Nosuid => sys::mount_attr::NOSUID,
            MountFlag::Nodev => sys::mount_attr::NODEV,
            MountFlag::Noexec => sys::mount_attr::NOEXEC,
            _ => 0,
        }
    })
}

/// `target` without its leading `/` (the planner's targets are absolute and normalised).
fn relative(target: &Path) -> PathBuf {
    target
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// A target's parent (absolute) and last component.
fn split(target: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let rel = relative(target);
    let name = rel
        .file_name()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?
        .to_owned();
    let parent = Path::new("/").join(rel.parent().unwrap_or(Path::new("")));
    Ok((parent, PathBuf::from(OsStr::from_bytes(name.as_bytes()))))
}
