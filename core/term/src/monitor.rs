//! The detached side (conmon's model): the monitor holds the process's output — the read
//! ends of its stdout/stderr pipes, or its pty master — writes every chunk to a sink (the
//! log in the state folder) and, for a terminal, serves `attach` clients on a unix socket:
//! their input goes to the master, the master's output to all of them.

use std::io::{self, Read as _, Write as _};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, SystemTime};

use rustix::event::{PollFd, PollFlags};
use stockade_core::logs::{LogWriter, Stream as LogStream};

use crate::attach::{Frame, FrameReader};
use crate::pty;

/// Which stream a chunk of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// stdout, or the terminal.
    Out,
    /// stderr.
    Err,
}

/// Where the monitor puts output.
pub trait Sink {
    /// One chunk, as read.
    fn output(&mut self, stream: Stream, bytes: &[u8]);
}

/// The sink of a detached environment's monitor: its log in the state folder
/// (`output.log`), or nothing when that could not be opened.
pub struct LogSink(pub Option<LogWriter>);

impl Sink for LogSink {
    fn output(&mut self, stream: Stream, bytes: &[u8]) {
        let stream = match stream {
            Stream::Out => LogStream::Out,
            Stream::Err => LogStream::Err,
        };
        if let Some(w) = &mut self.0 {
            // A full disk must not stop the process: the output is dropped instead.
            let _ = w.write(stream, bytes, SystemTime::now());
        }
    }
}

/// What the monitor reads and serves.
#[derive(Debug, Default)]
pub struct Sources {
    /// stdout's read end.
    pub out: Option<OwnedFd>,
    /// stderr's read end.
    pub err: Option<OwnedFd>,
    /// The pty master.
    pub master: Option<OwnedFd>,
    /// The attach socket (with `master`).
    pub listener: Option<UnixListener>,
    /// Readable once the process has exited (a pidfd on Linux).
    pub exited: Option<OwnedFd>,
}

struct Client {
    stream: UnixStream,
    frames: FrameReader,
}

/// Serves until the process exited (then drains what is left) or, without `exited`, until
/// every output source is closed.
pub fn serve(mut src: Sources, sink: &mut dyn Sink) {
    for fd in [&src.out, &src.err, &src.master].into_iter().flatten() {
        let _ = set_nonblocking(fd.as_fd());
    }
    if let Some(l) = &src.listener {
        let _ = l.set_nonblocking(true);
    }
    let mut clients: Vec<Client> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let open = src.out.is_some() || src.err.is_some() || src.master.is_some();
        if !open && src.exited.is_none() {
            return;
        }
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        let mut kinds: Vec<Kind> = Vec::new();
        let borrowed: Vec<(BorrowedFd<'_>, Kind)> = [
            src.out.as_ref().map(|f| (f.as_fd(), Kind::Out)),
            src.err.as_ref().map(|f| (f.as_fd(), Kind::Err)),
            src.master.as_ref().map(|f| (f.as_fd(), Kind::Master)),
            src.listener.as_ref().map(|l| (l.as_fd(), Kind::Listener)),
            src.exited.as_ref().map(|f| (f.as_fd(), Kind::Exited)),
        ]
        .into_iter()
        .flatten()
        .chain(
            clients
                .iter()
                .enumerate()
                .map(|(i, c)| (c.stream.as_fd(), Kind::Client(i))),
        )
        .collect();
        for (fd, kind) in &borrowed {
            fds.push(PollFd::from_borrowed_fd(*fd, PollFlags::IN));
            kinds.push(*kind);
        }
        match rustix::event::poll(&mut fds, None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
        let ready: Vec<Kind> = fds
            .iter()
            .zip(&kinds)
            .filter(|(p, _)| !p.revents().is_empty())
            .map(|(_, k)| *k)
            .collect();
        drop(fds);
        drop(borrowed);
        let mut gone: Vec<usize> = Vec::new();
        for kind in ready {
            match kind {
                Kind::Out => pump(
                    &mut src.out,
                    Stream::Out,
                    sink,
                    &mut clients,
                    false,
                    &mut buf,
                ),
                Kind::Err => pump(
                    &mut src.err,
                    Stream::Err,
                    sink,
                    &mut clients,
                    false,
                    &mut buf,
                ),
                Kind::Master => pump(
                    &mut src.master,
                    Stream::Out,
                    sink,
                    &mut clients,
                    true,
                    &mut buf,
                ),
                Kind::Listener => accept(&src, &mut clients),
                Kind::Client(i) => {
                    if !client_input(&mut clients[i], src.master.as_ref(), &mut buf) {
                        gone.push(i);
                    }
                }
                Kind::Exited => {
                    // Whatever the process wrote before it ended is still buffered.
                    drain(&mut src, sink, &mut clients, &mut buf);
                    return;
                }
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Out,
    Err,
    Master,
    Listener,
    Exited,
    Client(usize),
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(fd)?;
    rustix::fs::fcntl_setfl(fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

/// Reads what is there from one source; closes it at EOF (or EIO: a master whose slave
/// sides are all closed).
fn pump(
    slot: &mut Option<OwnedFd>,
    stream: Stream,
    sink: &mut dyn Sink,
    clients: &mut Vec<Client>,
    to_clients: bool,
    buf: &mut [u8],
) {
    let Some(fd) = slot.as_ref() else { return };
    loop {
        match rustix::io::read(fd, &mut *buf) {
            Ok(0) => {
                *slot = None;
                return;
            }
            Ok(n) => {
                sink.output(stream, &buf[..n]);
                if to_clients {
                    clients.retain_mut(|c| c.stream.write_all(&buf[..n]).is_ok());
                }
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::AGAIN) => return,
            Err(_) => {
                *slot = None;
                return;
            }
        }
    }
}

fn drain(src: &mut Sources, sink: &mut dyn Sink, clients: &mut Vec<Client>, buf: &mut [u8]) {
    pump(&mut src.out, Stream::Out, sink, clients, false, buf);
    pump(&mut src.err, Stream::Err, sink, clients, false, buf);
    pump(&mut src.master, Stream::Out, sink, clients, true, buf);
}

fn accept(src: &Sources, clients: &mut Vec<Client>) {
    let Some(listener) = &src.listener else {
        return;
    };
    while let Ok((stream, _)) = listener.accept() {
        // Blocking writes with a bound: a stuck client is dropped, never stalls the log.
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        clients.push(Client {
            stream,
            frames: FrameReader::default(),
        });
    }
}

/// Reads a client's frames; false once it is gone.
fn client_input(client: &mut Client, master: Option<&OwnedFd>, buf: &mut [u8]) -> bool {
    let n = match client.stream.read(buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    for frame in client.frames.push(&buf[..n]) {
        let Some(master) = master else { continue };
        match frame {
            Frame::Input(bytes) => {
                let _ = write_all_fd(master.as_fd(), &bytes);
            }
            Frame::Resize(size) => {
                let _ = pty::set_size(master, size);
            }
        }
    }
    true
}

/// Writes all of `bytes` to a (possibly non-blocking) descriptor, waiting when it is full.
pub fn write_all_fd(fd: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let mut p = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
                let _ = rustix::event::poll(&mut p, None);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
