//! Passing a descriptor over a unix socket (`SCM_RIGHTS`, unix(7)): how the environment's
//! process hands its pty master to its creator, its monitor, or an OCI console socket.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{BorrowedFd, OwnedFd};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Sends `fd` with one byte of payload (`tag`) over the connected unix socket `socket`.
pub fn send(socket: BorrowedFd<'_>, fd: BorrowedFd<'_>, tag: &[u8]) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds = [fd];
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other(
            "SCM_RIGHTS does not fit its control buffer",
        ));
    }
    let payload = if tag.is_empty() { b"T".as_slice() } else { tag };
    rustix::net::sendmsg(
        socket,
        &[IoSlice::new(payload)],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

/// Receives one descriptor (close-on-exec) and its payload from `socket`; `Ok(None)` when
/// the peer closed the socket without sending one.
pub fn recv(socket: BorrowedFd<'_>, payload: &mut [u8]) -> io::Result<Option<(OwnedFd, usize)>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match rustix::net::recvmsg(
            socket,
            &mut [IoSliceMut::new(payload)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            other => break other?,
        }
    };
    let mut received = None;
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = message {
            for fd in fds {
                // Keep the first; any extra is closed as it drops.
                received.get_or_insert(fd);
            }
        }
    }
    Ok(received.map(|fd| (fd, got.bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read as _, Write as _};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn a_pipe_end_crosses_a_socket() {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send(a.as_fd(), w.as_fd(), b"M").unwrap();
        drop(w);
        let mut tag = [0u8; 1];
        let (w2, n) = recv(b.as_fd(), &mut tag).unwrap().unwrap();
        assert_eq!((n, tag[0]), (1, b'M'));
        std::fs::File::from(w2).write_all(b"hi").unwrap();
        let mut text = String::new();
        std::fs::File::from(r).read_to_string(&mut text).unwrap();
        assert_eq!(text, "hi");
        drop(a);
        assert!(recv(b.as_fd(), &mut tag).unwrap().is_none());
    }
}
