//! cpuset_setaffinity(2) on a jail's root set: what `cpuset -j JID -l LIST` does.

use std::io;
use std::mem;

use crate::kernel::Jid;

/// Restricts the jail's CPU set to `cpus`; EINVAL for a CPU the kernel does not have.
pub fn set_jail(jid: Jid, cpus: &[u32]) -> io::Result<()> {
    // SAFETY: cpuset_t is a plain bit array; all zeroes is the empty set.
    let mut mask: libc::cpuset_t = unsafe { mem::zeroed() };
    for &cpu in cpus {
        if cpu as usize >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so the bit is inside `mask`.
        unsafe { libc::CPU_SET(cpu as usize, &mut mask) };
    }
    // SAFETY: `mask` is a valid cpuset_t of the size passed, alive for the call; the
    // kernel only reads it.
    super::ret(unsafe {
        libc::cpuset_setaffinity(
            libc::CPU_LEVEL_CPUSET,
            libc::CPU_WHICH_JAIL,
            libc::id_t::from(jid.0 as u32),
            mem::size_of::<libc::cpuset_t>(),
            &mask,
        )
    })
}
