//! Handing a detached environment over to its monitor program, `stockade-monitor`.
//!
//! The monitor (see [`crate::monitor`]) used to be a fork of the stockade process kept
//! alive for the environment's whole life: it carried the CLI's heap and every page of the
//! binary the CLI had touched (4.5 MiB resident, where podman's conmon holds 2 MiB). Now
//! the forked process, once it has made the environment's first process (so that process
//! stays its child across execve(2) and it can still wait(2) for it), executes the small
//! program installed beside `stockade`, handing over only the descriptors it needs.
//!
//! # Finding the program (CVE-2019-5736's lesson)
//! The program is looked up beside stockade's own executable, resolved through
//! `/proc/self/exe` ([`std::env::current_exe`]; `kern.proc.pathname` on FreeBSD) — never
//! through `PATH` or anything an environment can reach — and opened by the creator before
//! it forks, in the host's namespaces. The forked process executes that descriptor
//! (fexecve(3)): by then it may have joined an environment's mount namespace, where no
//! path of the host may be trusted. The file must be a regular file owned by root or the
//! caller that neither group nor others may write.
//!
//! # The hand-off
//! The descriptors go to fixed numbers from 3 (`report=3 out=4 ...` on the command line),
//! every other one is closed (close_range(2)), and the environment is empty:
//! `stockade-monitor ROOT NAME PID [ROLE=FD]...`. The program takes each listed descriptor
//! back as close-on-exec ([`Handoff::from_args`]) and closes any it was not told about.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::sys;

/// The monitor program's file name, beside `stockade`.
pub const PROGRAM: &str = "stockade-monitor";

static OWN_EXE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Resolves stockade's own executable now (the CLI calls this at startup, so a binary
/// replaced while a command runs does not change where its monitor is found).
pub fn pin() {
    OWN_EXE.get_or_init(|| std::env::current_exe().ok());
}

/// Opens the monitor program beside the running executable (or, for cargo's test and
/// bench executables in `target/<profile>/deps/`, in the folder above, where cargo puts
/// the package's binaries).
pub fn locate() -> io::Result<OwnedFd> {
    pin();
    let exe = OWN_EXE.get().and_then(Option::as_ref).ok_or_else(|| {
        io::Error::other("cannot resolve stockade's own executable (/proc/self/exe)")
    })?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let mut candidates = vec![dir.join(PROGRAM)];
    if dir.file_name() == Some(OsStr::new("deps")) {
        candidates.extend(dir.parent().map(|p| p.join(PROGRAM)));
    }
    for path in &candidates {
        match open_checked(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            other => return other,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "the monitor program {PROGRAM} is not beside {} (looked for {}): it is built \
             with stockade (cargo build -p stockade) and must be installed in the same folder",
            exe.display(),
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

/// Opens `path` for execution and refuses a file that is not regular, or that someone
/// other than root and the caller owns or may write.
fn open_checked(path: &Path) -> io::Result<OwnedFd> {
    use rustix::fs::{FileType, Mode, OFlags};
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let st = rustix::fs::fstat(&fd)?;
    let euid = rustix::process::geteuid().as_raw();
    let why = if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        Some("it is not a regular file".to_string())
    } else if st.st_uid != 0 && st.st_uid != euid {
        Some(format!("it belongs to uid {}", st.st_uid))
    } else if st.st_mode & 0o022 != 0 {
        Some(format!(
            "group or others may write it (mode {:o})",
            st.st_mode & 0o7777
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("refusing to run {} as the monitor: {why}", path.display()),
        )),
        None => Ok(fd),
    }
}

/// Which descriptor a number on the monitor's command line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The report pipe's read end (`<code> <message>` from a failed execve, see the Linux
    /// backend's `spawn`).
    Report,
    /// stdout's read end.
    Out,
    /// stderr's read end.
    Err,
    /// The socket the process sends its pty master over.
    Terminal,
}

impl Role {
    const ALL: [Role; 4] = [Role::Report, Role::Out, Role::Err, Role::Terminal];

    fn name(self) -> &'static str {
        match self {
            Role::Report => "report",
            Role::Out => "out",
            Role::Err => "err",
            Role::Terminal => "terminal",
        }
    }
}

/// What the monitor program is given: where to record the exit, which process to wait
/// for (its child), and the descriptors it serves.
#[derive(Debug)]
pub struct Handoff {
    /// The state store's root folder.
    pub root: PathBuf,
    /// The environment's name.
    pub name: String,
    /// The environment's first process, a child of the monitor.
    pub pid: i32,
    /// The report pipe's read end.
    pub report: Option<OwnedFd>,
    /// stdout's read end.
    pub out: Option<OwnedFd>,
    /// stderr's read end.
    pub err: Option<OwnedFd>,
    /// The socket the pty master arrives on.
    pub terminal: Option<OwnedFd>,
}

impl Handoff {
    fn slot(&mut self, role: Role) -> &mut Option<OwnedFd> {
        match role {
            Role::Report => &mut self.report,
            Role::Out => &mut self.out,
            Role::Err => &mut self.err,
            Role::Terminal => &mut self.terminal,
        }
    }

    /// Executes the monitor program `exe` (from [`locate`]) with this hand-off, standard
    /// streams onto `null` (the caller's terminal or pipe must not be held open by a
    /// process that outlives the command). Returns only when execve failed, with the
    /// hand-off taken back (its descriptors renumbered) so the caller can serve it itself
    /// rather than abandon the environment.
    ///
    /// The caller must hold no other descriptor as a value: numbers from 3 up are
    /// reassigned here, and everything above the hand-off's is closed.
    pub fn exec(mut self, exe: OwnedFd, null: Option<OwnedFd>) -> (io::Error, Option<Handoff>) {
        if let Some(null) = null {
            for fd in 0..3 {
                let _ = sys::dup_onto(null.as_fd(), fd);
            }
        }
        let mut args: Vec<CString> = Vec::new();
        let mut fixed: Vec<(Role, RawFd)> = Vec::new();
        let mut fds: Vec<OwnedFd> = Vec::new();
        for role in Role::ALL {
            if let Some(fd) = self.slot(role).take() {
                fixed.push((role, 3 + fds.len() as RawFd));
                fds.push(fd);
            }
        }
        let exe_slot = 3 + fds.len() as RawFd;
        let above = exe_slot + 1;
        // First every descriptor to a number above all the fixed ones (the originals may
        // sit on fixed numbers), then onto its fixed number; the exe stays close-on-exec.
        let mut moved: Vec<OwnedFd> = Vec::new();
        for fd in fds.iter().chain([&exe]) {
            match rustix::io::fcntl_dupfd_cloexec(fd, above) {
                Ok(high) => moved.push(high),
                Err(e) => return (e.into(), None),
            }
        }
        drop(fds);
        drop(exe);
        for (i, fd) in moved.iter().enumerate() {
            if let Err(e) = sys::dup_onto(fd.as_fd(), 3 + i as RawFd) {
                return (e, None);
            }
        }
        drop(moved);
        // Everything else (anything the creator forgot to close included) goes.
        sys::close_from(above);
        // The exe's fixed number: the dup above made it, no value owns it.
        let exe = match sys::adopt(exe_slot) {
            Ok(fd) => fd,
            Err(e) => return (e, None),
        };
        args.push(c(PROGRAM.as_bytes()));
        args.push(c(self.root.as_os_str().as_bytes()));
        args.push(c(self.name.as_bytes()));
        args.push(c(self.pid.to_string().as_bytes()));
        for (role, fd) in &fixed {
            args.push(c(format!("{}={fd}", role.name()).as_bytes()));
        }
        let err = sys::fexecve(exe.as_fd(), &args, &[]);
        drop(exe);
        // The fixed numbers are still ours, not close-on-exec: take them back.
        let mut back = Handoff {
            root: self.root,
            name: self.name,
            pid: self.pid,
            report: None,
            out: None,
            err: None,
            terminal: None,
        };
        for (role, fd) in fixed {
            match sys::adopt(fd) {
                Ok(owned) => *back.slot(role) = Some(owned),
                Err(_) => return (err, None),
            }
        }
        (err, Some(back))
    }

    /// The monitor program's side: reads the command line [`exec`](Self::exec) wrote,
    /// takes each listed descriptor (close-on-exec from now on) and closes every other
    /// descriptor above the standard three.
    pub fn from_args(args: impl IntoIterator<Item = OsString>) -> Result<Handoff, String> {
        let (mut handoff, fds) = parse(args)?;
        let top = fds.iter().map(|(_, fd)| *fd).max().unwrap_or(2).max(2);
        for n in 3..top {
            if !fds.iter().any(|(_, fd)| *fd == n) {
                sys::close_unowned(n);
            }
        }
        sys::close_from(top + 1);
        for (role, fd) in fds {
            let owned = sys::adopt(fd).map_err(|e| format!("{}={fd}: {e}", role.name()))?;
            *handoff.slot(role) = Some(owned);
        }
        Ok(handoff)
    }
}

fn c(bytes: &[u8]) -> CString {
    // Paths and names never hold NUL (they came from the kernel or a validated spec);
    // one that did would become an empty argument the monitor refuses.
    CString::new(bytes).unwrap_or_default()
}

/// The command line without its descriptors taken: the hand-off with every descriptor
/// `None`, and the listed numbers.
fn parse(
    args: impl IntoIterator<Item = OsString>,
) -> Result<(Handoff, Vec<(Role, RawFd)>), String> {
    let usage = || format!("usage: {PROGRAM} STATE-ROOT NAME PID [report|out|err|terminal=FD]...");
    let mut args = args.into_iter().skip(1);
    let root = PathBuf::from(args.next().ok_or_else(usage)?);
    let name = args
        .next()
        .and_then(|n| n.into_string().ok())
        .filter(|n| !n.is_empty())
        .ok_or_else(usage)?;
    let pid: i32 = args
        .next()
        .and_then(|p| p.to_str()?.parse().ok())
        .filter(|p| *p > 0)
        .ok_or_else(usage)?;
    if !root.is_absolute() {
        return Err(format!(
            "{}: the state root must be absolute",
            root.display()
        ));
    }
    let mut fds = Vec::new();
    for arg in args {
        let text = arg.to_str().ok_or_else(usage)?;
        let (role, fd) = text.split_once('=').ok_or_else(usage)?;
        let role = Role::ALL
            .into_iter()
            .find(|r| r.name() == role)
            .ok_or_else(usage)?;
        let fd: RawFd = fd.parse().map_err(|_| usage())?;
        if fd < 3 || fds.iter().any(|(r, n)| *r == role || *n == fd) {
            return Err(format!(
                "{text}: a descriptor above 2, each role and number once"
            ));
        }
        fds.push((role, fd));
    }
    let handoff = Handoff {
        root,
        name,
        pid,
        report: None,
        out: None,
        err: None,
        terminal: None,
    };
    Ok((handoff, fds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_command_line_names_root_name_pid_and_descriptors() {
        let (h, fds) = parse(args(&[
            PROGRAM,
            "/run/stockade",
            "web",
            "42",
            "report=3",
            "out=4",
            "err=5",
        ]))
        .unwrap();
        assert_eq!(h.root, Path::new("/run/stockade"));
        assert_eq!(h.name, "web");
        assert_eq!(h.pid, 42);
        assert_eq!(fds, vec![(Role::Report, 3), (Role::Out, 4), (Role::Err, 5)]);
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in [
            &[PROGRAM][..],
            &[PROGRAM, "relative", "web", "42"],
            &[PROGRAM, "/run", "web", "0"],
            &[PROGRAM, "/run", "web", "x"],
            &[PROGRAM, "/run", "", "42"],
            &[PROGRAM, "/run", "web", "42", "out=1"],
            &[PROGRAM, "/run", "web", "42", "out=4", "out=5"],
            &[PROGRAM, "/run", "web", "42", "out=4", "err=4"],
            &[PROGRAM, "/run", "web", "42", "stdin=4"],
            &[PROGRAM, "/run", "web", "42", "out"],
        ] {
            assert!(parse(args(bad)).is_err(), "{bad:?}");
        }
    }

    /// The part of the next test that runs in a process of its own (it renumbers and
    /// closes descriptors, which must not happen to the shared test process).
    fn failed_exec_in_this_process() {
        use std::io::Write as _;
        use std::os::fd::{AsRawFd as _, IntoRawFd as _};
        let (r, w) = rustix::pipe::pipe().unwrap();
        std::fs::File::from(w).write_all(b"hello").unwrap();
        // A descriptor nobody handed over: it must be closed by the hand-off.
        let stray = std::fs::File::open("/").unwrap().into_raw_fd();
        let handoff = Handoff {
            root: PathBuf::from("/run/stockade"),
            name: "web".into(),
            pid: 1,
            report: None,
            out: Some(r),
            err: None,
            terminal: None,
        };
        // /dev/null is no program: fexecve fails (EACCES) and the hand-off comes back.
        let null = std::fs::File::open("/dev/null").unwrap().into();
        let (err, back) = handoff.exec(null, None);
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
        let back = back.expect("the hand-off is given back");
        assert_eq!(back.name, "web");
        let out = back.out.expect("stdout's pipe is given back");
        assert_eq!(out.as_raw_fd(), 3);
        assert!(!sys::is_open(stray), "fd {stray} survived the hand-off");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(out), &mut text).unwrap();
        assert_eq!(text, "hello");
    }

    #[test]
    fn a_failed_exec_gives_the_descriptors_back_renumbered() {
        const CHILD: &str = "STOCKADE_TERM_FAILED_EXEC_CHILD";
        if std::env::var_os(CHILD).is_some() {
            failed_exec_in_this_process();
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "launch::tests::a_failed_exec_gives_the_descriptors_back_renumbered",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // Not just success: a renamed test would run nothing and succeed.
        assert!(
            out.status.success() && text.contains("1 passed"),
            "the child test failed: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn a_program_others_may_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PROGRAM);
        std::fs::write(&path, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(open_checked(&path).is_ok());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_checked(&path).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
        assert!(open_checked(dir.path()).is_err());
    }
}
