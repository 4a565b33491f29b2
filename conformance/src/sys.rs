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
