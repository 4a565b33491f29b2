//! The caller's side of a terminal: raw mode, both-way copy, window size.
//!
//! A foreground `run -t`/`exec -t` forks a relay process that copies the caller's
//! terminal to the pty master and back, and forwards the window size on `SIGWINCH`
//! (poll(2) over stdin, the master, a self-pipe fed by the signal, and a pipe from
//! stockade). Both stockade and the relay hold the caller's original modes, so they are
//! restored whichever dies: stockade restores them after the relay ended (or was
//! killed); the relay restores them when stockade vanished (its pipe reads EOF: stockade
//! was SIGKILLed) and then exits, closing the master, which hangs up the environment's
//! terminal as closing a terminal window does. `attach` runs the same copy loop in
//! stockade itself, against the monitor's socket.

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal, WaitOptions};
use rustix::termios::{OptionalActions, Termios};

use crate::attach::{DetachKeys, Frame};
use crate::monitor::write_all_fd;
use crate::pty::{self, Size};
use crate::sys::{self, Forked};

/// The caller's terminal in raw mode; its original modes come back on drop.
#[derive(Debug)]
pub struct RawMode {
    fd: OwnedFd,
    saved: Termios,
}

impl RawMode {
    /// Puts stdin's terminal in raw mode (cfmakeraw(3)); `None` when stdin is no terminal.
    pub fn enter() -> io::Result<Option<RawMode>> {
        let stdin = io::stdin();
        if !pty::is_terminal(stdin.as_fd()) {
            return Ok(None);
        }
        let fd = stdin.as_fd().try_clone_to_owned()?;
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        rustix::termios::tcsetattr(&fd, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { fd, saved }))
    }

    /// Puts the original modes back (also done on drop).
    pub fn restore(&self) {
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Where the relay sends keyboard input and window sizes, and reads output from.
pub trait Endpoint {
    /// The descriptor output is read from.
    fn output_fd(&self) -> BorrowedFd<'_>;
    /// Sends keyboard input.
    fn input(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Sends a new window size.
    fn resize(&mut self, size: Size) -> io::Result<()>;
}

/// A pty master, written directly.
#[derive(Debug)]
pub struct Master(pub OwnedFd);

impl Endpoint for Master {
    fn output_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
    fn input(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_all_fd(self.0.as_fd(), bytes)
    }
    fn resize(&mut self, size: Size) -> io::Result<()> {
        pty::set_size(&self.0, size)
    }
}

/// A monitor's attach socket (see [`crate::attach`]).
#[derive(Debug)]
pub struct Socket(pub UnixStream);

impl Endpoint for Socket {
    fn output_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
    fn input(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(&Frame::Input(bytes.to_vec()).encode())
    }
    fn resize(&mut self, size: Size) -> io::Result<()> {
        self.0.write_all(&Frame::Resize(size).encode())
    }
}

/// Why a copy loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The other side closed (the process and everything holding its terminal ended).
    Closed,
    /// The user typed the detach sequence.
    Detached,
    /// The `parent` pipe closed: stockade is gone.
    ParentGone,
}

/// Copies stdin to `ep` and `ep`'s output to stdout until one of [`Ended`]; forwards the
/// caller's window size now and on every `SIGWINCH`. `detach` filters the detach keys.
pub fn pump(
    ep: &mut dyn Endpoint,
    mut detach: Option<&mut DetachKeys>,
    parent: Option<BorrowedFd<'_>>,
) -> io::Result<Ended> {
    let (winch_r, winch_w) = UnixStream::pair()?;
    winch_r.set_nonblocking(true)?;
    let sig = signal_hook::low_level::pipe::register(signal_hook::consts::SIGWINCH, winch_w)?;
    let result = pump_inner(ep, &mut detach, parent, &winch_r);
    signal_hook::low_level::unregister(sig);
    result
}

fn pump_inner(
    ep: &mut dyn Endpoint,
    detach: &mut Option<&mut DetachKeys>,
    parent: Option<BorrowedFd<'_>>,
    mut winch: &UnixStream,
) -> io::Result<Ended> {
    let stdin = io::stdin();
    let stdin = stdin.as_fd();
    let stdout = io::stdout();
    let stdout = stdout.as_fd();
    let tty = pty::is_terminal(stdin);
    if tty {
        ep.resize(pty::size(stdin)?)?;
    }
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![
            PollFd::from_borrowed_fd(ep.output_fd(), PollFlags::IN),
            PollFd::from_borrowed_fd(winch.as_fd(), PollFlags::IN),
        ];
        if let Some(p) = parent {
            fds.push(PollFd::from_borrowed_fd(p, PollFlags::IN));
        }
        let stdin_slot = fds.len();
        if stdin_open {
            fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|p| !p.revents().is_empty()).collect();
        drop(fds);
        if ready[0] {
            match rustix::io::read(ep.output_fd(), &mut buf) {
                // EIO: the pty's slave sides are all closed.
                Ok(0) | Err(rustix::io::Errno::IO) => return Ok(Ended::Closed),
                Ok(n) => write_all_fd(stdout, &buf[..n])?,
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if ready[1] {
            let mut sink = [0u8; 64];
            while matches!(winch.read(&mut sink), Ok(n) if n > 0) {}
            if tty {
                ep.resize(pty::size(stdin)?)?;
            }
        }
        if parent.is_some() && ready[2] {
            return Ok(Ended::ParentGone);
        }
        if stdin_open && ready[stdin_slot] {
            match rustix::io::read(stdin, &mut buf) {
                Ok(0) => stdin_open = false,
                Ok(n) => {
                    let (bytes, detached) = match detach {
                        Some(keys) => keys.filter(&buf[..n]),
                        None => (buf[..n].to_vec(), false),
                    };
                    if !bytes.is_empty() {
                        ep.input(&bytes)?;
                    }
                    if detached {
                        return Ok(Ended::Detached);
                    }
                }
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    }
}

/// A running foreground relay: the forked relay process and the caller's saved modes.
#[derive(Debug)]
pub struct Session {
    raw: Option<RawMode>,
    relay: Option<Pid>,
    _alive: OwnedFd,
}

/// How long the relay may take to copy the last output after the process ended.
const DRAIN: Duration = Duration::from_secs(2);

impl Session {
    /// Puts the caller's terminal in raw mode and forks the relay for `master`. The caller
    /// keeps no copy of the master: when the relay dies, the environment's terminal hangs
    /// up.
    pub fn start(master: OwnedFd) -> io::Result<Session> {
        let raw = RawMode::enter()?;
        let (alive_r, alive_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        match sys::fork()? {
            Forked::Child => {
                drop(alive_w);
                // Signals sent to the caller's process group are stockade's to forward.
                sys::default_signals(&[libc::SIGINT, libc::SIGTERM]);
                // When stockade led the session and was killed, the kernel hangs up its
                // terminal's foreground group: the relay must live to restore the modes
                // (a real hang-up ends it through EOF/EIO on stdin and stdout instead).
                sys::ignore_signals(&[libc::SIGHUP]);
                let mut ep = Master(master);
                let ended = pump(&mut ep, None, Some(alive_r.as_fd()));
                if matches!(ended, Ok(Ended::ParentGone) | Err(_)) {
                    if let Some(r) = &raw {
                        r.restore();
                    }
                }
                let _ = io::stdout().flush();
                sys::exit_now(0)
            }
            Forked::Parent(pid) => {
                drop(master);
                drop(alive_r);
                Ok(Session {
                    raw,
                    relay: Some(pid),
                    _alive: alive_w,
                })
            }
        }
    }

    /// The relay process, while it runs.
    pub fn relay_pid(&self) -> Option<Pid> {
        self.relay
    }

    /// After the process ended: lets the relay copy the last output (bounded), ends it,
    /// and restores the caller's modes.
    pub fn finish(mut self) {
        self.stop(DRAIN);
    }

    fn stop(&mut self, grace: Duration) {
        if let Some(pid) = self.relay.take() {
            let deadline = Instant::now() + grace;
            loop {
                match rustix::process::waitpid(Some(pid), WaitOptions::NOHANG) {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = rustix::process::kill_process(pid, Signal::KILL);
                        let _ = rustix::process::waitpid(Some(pid), WaitOptions::empty());
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        if let Some(r) = self.raw.take() {
            r.restore();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.stop(Duration::ZERO);
    }
}
