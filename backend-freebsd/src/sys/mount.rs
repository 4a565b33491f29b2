//! nmount(2) and unmount(2).
//!
//! nmount(2) takes the plan's name/value list as an iovec array: each name and each value
//! a separate iovec, strings NUL-terminated, a flag option (`ro`) with a NULL value of
//! length 0. An `errmsg` pair receives the file system's own explanation of a failure,
//! which is added to the error next to the errno.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::kernel::{KResult, KernelError};
use crate::plan::mount::{IovValue, Nmount};

fn cstring(bytes: &[u8], op: &str) -> KResult<CString> {
    CString::new(bytes)
        .map_err(|e| KernelError::os(op, io::Error::new(io::ErrorKind::InvalidInput, e)))
}

/// nmount(2) of `mount`'s name/value list; `update` adds `MNT_UPDATE`.
pub fn nmount(mount: &Nmount, update: bool) -> KResult<()> {
    let op = format!(
        "nmount{} {} {}",
        if update { " MNT_UPDATE" } else { "" },
        mount.fstype,
        mount.fspath.display()
    );
    // Owned copies that outlive the call: the iovecs point into them.
    let mut strings: Vec<(CString, Option<CString>)> = Vec::with_capacity(mount.iov.len() + 1);
    for pair in &mount.iov {
        let name = cstring(pair.name.as_bytes(), &op)?;
        let value = match &pair.value {
            IovValue::Flag => None,
            IovValue::Str(s) => Some(cstring(s.as_bytes(), &op)?),
            IovValue::Path(p) => Some(cstring(p.as_os_str().as_bytes(), &op)?),
        };
        strings.push((name, value));
    }
    let mut errmsg = [0u8; 256];
    let errmsg_name = c"errmsg";
    let mut iov: Vec<libc::iovec> = Vec::with_capacity(2 * strings.len() + 2);
    for (name, value) in &strings {
        iov.push(libc::iovec {
            iov_base: name.as_ptr() as *mut libc::c_void,
            iov_len: name.as_bytes_with_nul().len(),
        });
        iov.push(match value {
            Some(v) => libc::iovec {
                iov_base: v.as_ptr() as *mut libc::c_void,
                iov_len: v.as_bytes_with_nul().len(),
            },
            None => libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            },
        });
    }
    iov.push(libc::iovec {
        iov_base: errmsg_name.as_ptr() as *mut libc::c_void,
        iov_len: errmsg_name.to_bytes_with_nul().len(),
    });
    iov.push(libc::iovec {
        iov_base: errmsg.as_mut_ptr() as *mut libc::c_void,
        iov_len: errmsg.len(),
    });
    let flags = if update { libc::MNT_UPDATE } else { 0 };
    let niov = u32::try_from(iov.len()).map_err(|_| {
        KernelError::os(
            &op,
            io::Error::new(io::ErrorKind::InvalidInput, "too many options"),
        )
    })?;
    // SAFETY: `iov` holds `niov` iovecs; each points into a CString of `strings` (alive
    // until the end of this function, NUL included in the length), into `errmsg_name`
    // (static) or into `errmsg` (a 256-byte buffer the kernel writes a NUL-terminated
    // message into, never past its length), or is NULL with length 0.
    let rc = unsafe { libc::nmount(iov.as_mut_ptr(), niov, flags) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    let msg = CStr::from_bytes_until_nul(&errmsg)
        .map(|m| m.to_string_lossy().into_owned())
        .unwrap_or_default();
    let op = if msg.is_empty() {
        op
    } else {
        format!("{op} ({msg})")
    };
    Err(KernelError::os(op, err))
}

/// unmount(2); `force` adds `MNT_FORCE`.
pub fn unmount(path: &Path, force: bool) -> KResult<()> {
    let op = format!(
        "unmount {}{}",
        path.display(),
        if force { " (forced)" } else { "" }
    );
    let c = cstring(path.as_os_str().as_bytes(), &op)?;
    let flags = if force { libc::MNT_FORCE } else { 0 };
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let rc = unsafe { libc::unmount(c.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(KernelError::os(op, io::Error::last_os_error()))
    }
}
