//! kldfind(2): whether a kernel module file is loaded (what `kldstat -q -n NAME` asks).

use std::ffi::CString;
use std::io;

extern "C" {
    // kldfind(2), in FreeBSD's libc; the libc crate does not declare it.
    fn kldfind(file: *const libc::c_char) -> libc::c_int;
}

/// True when the module file `name` (`linux64`) is loaded; false on ENOENT.
pub fn loaded(name: &str) -> io::Result<bool> {
    let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `name` is a NUL-terminated string alive for the call; kldfind only reads it.
    let id = unsafe { kldfind(name.as_ptr()) };
    if id >= 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Ok(false),
        _ => Err(e),
    }
}
