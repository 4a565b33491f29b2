//! The suite's few direct system calls: the only place in the suite allowed `unsafe`.
#![allow(unsafe_code)]

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Sends SIGKILL to one process the suite started (a leftover probe), by its id.
pub fn kill(pid: i32) -> std::io::Result<()> {
    // SAFETY: kill takes plain integers.
    if unsafe { libc::kill(pid, libc::SIGKILL) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Linux: whether the kernel has netfilter's netlink family (nf_tables' way in): a
/// socket of it opens. A kernel without netfilter modules answers EPROTONOSUPPORT.
#[cfg(target_os = "linux")]
pub fn has_nfnetlink() -> bool {
    // SAFETY: socket takes plain integers and returns a new descriptor or -1.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_NETFILTER,
        )
    };
    if fd < 0 {
        return false;
    }
    // SAFETY: fd was just returned by socket and is closed once, here.
    unsafe { libc::close(fd) };
    true
}

/// Not Linux: nftables does not apply.
#[cfg(not(target_os = "linux"))]
pub fn has_nfnetlink() -> bool {
    true
}

/// Receives one descriptor sent with SCM_RIGHTS over a connected unix socket: the
/// terminal master an OCI runtime hands to the `--console-socket` (the suite is the
/// engine there).
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd as _, FromRawFd as _};
    let mut data = [0u8; 64];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for one control message of one descriptor, aligned as cmsghdr needs.
    let mut control = [0u64; 8];
    // SAFETY: msghdr is plain data; all-zero is its empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at iov and control, both live locals for the whole call, with
    // their lengths; the socket fd is borrowed from `sock` for the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: msg was filled by recvmsg; CMSG_FIRSTHDR reads only its control fields.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    let no_fd = || std::io::Error::new(std::io::ErrorKind::InvalidData, "no descriptor received");
    if cmsg.is_null() {
        return Err(no_fd());
    }
    // SAFETY: cmsg is non-null and points into `control`, which the kernel filled.
    let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
    if level != libc::SOL_SOCKET || kind != libc::SCM_RIGHTS {
        return Err(no_fd());
    }
    // SAFETY: an SCM_RIGHTS message's data holds at least one int (a descriptor);
    // read unaligned since CMSG_DATA guarantees no alignment for int.
    let fd = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>()) };
    // SAFETY: the kernel just installed fd in this process for us alone.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// Linux: makes the suite the subreaper of its descendants (`--via oci`): a container's
/// process outlives the `stockade oci create` that made it and is then the suite's to
/// wait for, as it is conmon's or the containerd shim's.
#[cfg(target_os = "linux")]
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer flag; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// FreeBSD: procctl(PROC_REAP_ACQUIRE) on the suite itself.
#[cfg(target_os = "freebsd")]
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: PROC_REAP_ACQUIRE takes no data (a null pointer) and applies to our own pid.
    let rc = unsafe {
        libc::procctl(
            libc::P_PID,
            libc::getpid() as libc::id_t,
            libc::PROC_REAP_ACQUIRE,
            std::ptr::null_mut(),
        )
    };
    if rc == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Other systems: no subreaper; the OCI path cannot read exit statuses there.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub fn become_subreaper() -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// How one child of the suite (an adopted container process) ended: (exit code, signal),
/// if it has ended; never blocks.
pub fn reap(pid: i32) -> Option<(Option<i32>, Option<i32>)> {
    let mut status = 0;
    // SAFETY: status is a live local int the kernel writes; pid and flags are integers.
    let got = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if got != pid {
        return None;
    }
    if libc::WIFEXITED(status) {
        Some((Some(libc::WEXITSTATUS(status)), None))
    } else if libc::WIFSIGNALED(status) {
        Some((None, Some(libc::WTERMSIG(status))))
    } else {
        None
    }
}

/// Waits for every child that has ended, without blocking. Only between cases: the suite
/// then has no command of its own running whose status this could take.
pub fn reap_all() {
    loop {
        let mut status = 0;
        // SAFETY: as in `reap`; -1 is any child.
        let got = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if got <= 0 {
            break;
        }
    }
}
