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
