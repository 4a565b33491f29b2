//! pf anchors and the forwarding sysctls (read and set).
//!
//! Why pfctl(8) and not ioctls: loading a ruleset means parsing pf.conf(5) syntax into
//! `pfioc_rule` structures (DIOCXBEGIN/DIOCADDRULE/DIOCXCOMMIT), which no maintained Rust
//! crate does for FreeBSD; pfctl is pf's own parser, present on every FreeBSD, and loads an
//! anchor in one transaction (ocijail and bastille load their anchors the same way).

use std::ffi::CString;
use std::io::{self, Write};
use std::process::{Command, Stdio};

use super::ret;
use crate::kernel::{KResult, KernelError};

const PFCTL: &str = "/sbin/pfctl";

fn tool_error(op: &str, out: &std::process::Output) -> KernelError {
    KernelError::Tool {
        op: op.to_string(),
        tool: PFCTL.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

/// `pfctl -a ANCHOR -D K=V... -f -`, the rules on stdin.
pub fn load(anchor: &str, macros: &[(String, String)], rules: &[String]) -> KResult<()> {
    let op = format!("load pf anchor {anchor}");
    let mut cmd = Command::new(PFCTL);
    cmd.env_clear().args(["-a", anchor]);
    for (k, v) in macros {
        cmd.arg("-D").arg(format!("{k}={v}"));
    }
    let mut child = cmd
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| KernelError::os(format!("{op}: run {PFCTL}"), e))?;
    let mut text = rules.join("\n");
    text.push('\n');
    let written = child
        .stdin
        .take()
        .map_or(Ok(()), |mut stdin| stdin.write_all(text.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| KernelError::os(format!("{op}: wait for {PFCTL}"), e))?;
    if !out.status.success() {
        return Err(tool_error(&op, &out));
    }
    written.map_err(|e| KernelError::os(format!("{op}: write rules"), e))
}

/// `pfctl -a ANCHOR -F all`.
pub fn flush(anchor: &str) -> KResult<()> {
    let op = format!("flush pf anchor {anchor}");
    let out = Command::new(PFCTL)
        .env_clear()
        .args(["-a", anchor, "-F", "all"])
        .output()
        .map_err(|e| KernelError::os(format!("{op}: run {PFCTL}"), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(tool_error(&op, &out))
    }
}

/// sysctlbyname(3) setting an integer.
pub fn sysctl_set(name: &str, value: i32) -> KResult<()> {
    let op = format!("sysctl {name}={value}");
    let cname =
        CString::new(name).map_err(|e| KernelError::os(&op, io::Error::other(e.to_string())))?;
    let value: libc::c_int = value;
    // SAFETY: `cname` is NUL-terminated; no old value is read; `value` lives for the call
    // and its size is passed.
    ret(unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            (&raw const value).cast(),
            std::mem::size_of::<libc::c_int>(),
        )
    })
    .map_err(|e| KernelError::os(op, e))
}

/// sysctlbyname(3) reading an integer.
pub fn sysctl_get(name: &str) -> KResult<i32> {
    let op = format!("sysctl {name}");
    let cname =
        CString::new(name).map_err(|e| KernelError::os(&op, io::Error::other(e.to_string())))?;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>();
    // SAFETY: `cname` is NUL-terminated; `value` and `len` live for the call, `len` holds
    // the size of `value`, and nothing new is written.
    ret(unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            (&raw mut value).cast(),
            &raw mut len,
            std::ptr::null(),
            0,
        )
    })
    .map_err(|e| KernelError::os(op, e))?;
    Ok(value)
}
