//! Pseudo-terminal pairs (pty(7), posix_openpt(3)) and the child's side of taking one as
//! its controlling terminal (setsid(2), `TIOCSCTTY` in ioctl_tty(2), dup2(2)).
//!
//! The pair is opened by the environment's process after it entered its root, from the
//! root's `/dev/ptmx`: on Linux that is the environment's private devpts instance, so the
//! terminal is `/dev/pts/N` of that instance and `tty`/ttyname(3) inside resolve it (a pty
//! of the host's devpts would be a name the environment cannot see). On FreeBSD there is
//! one pts namespace and the jail's devfs shows the node, so the same call works there.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::pty::OpenptFlags;
use rustix::termios::Winsize;

/// A pseudo-terminal: the master (the side stockade reads and writes) and the slave (the
/// environment's process's stdin, stdout, stderr).
#[derive(Debug)]
pub struct Pty {
    /// The master side, close-on-exec.
    pub master: OwnedFd,
    /// The slave side, close-on-exec (dup2 clears that on 0/1/2).
    pub slave: OwnedFd,
}

/// Opens a new pair from this process's `/dev/ptmx` (posix_openpt, grantpt, unlockpt,
/// ptsname, open). Neither side becomes this process's controlling terminal.
pub fn open() -> io::Result<Pty> {
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = open_slave(&name)?;
    Ok(Pty { master, slave })
}

/// [`open`], with the window size of this process's stdin when that is a terminal (the
/// caller's, inherited by the environment's process): the command sees the right size
/// from its first instruction, before any relay forwards one.
pub fn open_sized_like_stdin() -> io::Result<Pty> {
    let pty = open()?;
    let stdin = io::stdin();
    if is_terminal(stdin.as_fd()) {
        if let Ok(s) = size(stdin.as_fd()) {
            set_size(&pty.master, s)?;
        }
    }
    Ok(pty)
}

fn open_slave(name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        name,
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The child's side: a new session (so it may have a controlling terminal), `slave` as
/// its controlling terminal, and as its stdin, stdout and stderr. Call in the forked
/// process that will exec the command, never in stockade itself.
pub fn make_controlling(slave: OwnedFd) -> io::Result<()> {
    rustix::process::setsid()?;
    rustix::process::ioctl_tiocsctty(&slave)?;
    rustix::stdio::dup2_stdin(&slave)?;
    rustix::stdio::dup2_stdout(&slave)?;
    rustix::stdio::dup2_stderr(&slave)?;
    // `slave` is above 2 (it was opened while 0/1/2 were taken): closing it leaves the
    // three copies only.
    drop(slave);
    Ok(())
}

/// A terminal's window size (rows, columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// The window size of a terminal (either side of a pty, or the caller's terminal).
pub fn size(fd: impl AsFd) -> io::Result<Size> {
    let w = rustix::termios::tcgetwinsize(fd)?;
    Ok(Size {
        rows: w.ws_row,
        cols: w.ws_col,
    })
}

/// Sets a terminal's window size; on a master, the kernel sends SIGWINCH to the slave's
/// foreground process group.
pub fn set_size(fd: impl AsFd, size: Size) -> io::Result<()> {
    let w = Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    Ok(rustix::termios::tcsetwinsize(fd, w)?)
}

/// Whether `fd` is a terminal.
pub fn is_terminal(fd: impl AsFd) -> bool {
    rustix::termios::isatty(fd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};

    #[test]
    fn a_pair_carries_bytes_and_a_window_size() {
        let pty = open().unwrap();
        set_size(
            &pty.master,
            Size {
                rows: 33,
                cols: 101,
            },
        )
        .unwrap();
        assert_eq!(
            size(&pty.slave).unwrap(),
            Size {
                rows: 33,
                cols: 101
            }
        );
        assert!(is_terminal(&pty.slave));
        let mut slave = std::fs::File::from(pty.slave);
        slave.write_all(b"out\n").unwrap();
        let mut master = std::fs::File::from(pty.master);
        let mut buf = [0u8; 16];
        let n = master.read(&mut buf).unwrap();
        // The line discipline turns \n into \r\n on output (ONLCR).
        assert_eq!(&buf[..n], b"out\r\n");
    }
}
