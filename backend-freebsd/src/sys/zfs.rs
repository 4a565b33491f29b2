//! ZFS snapshots and clones for copy-on-write roots, with the base system's zfs(8).
//!
//! Why the tool: libzfs has no stable ABI and no Rust binding, and zfs(8) is on every
//! FreeBSD with ZFS, says what went wrong on stderr, and is what pot and iocage run too.
//! Each use is checked: a non-zero exit is an error carrying the tool's message. The
//! clone gets `mountpoint=legacy`, so ZFS never mounts it by itself: the plan's nmount(2)
//! puts it at the jail path and undo's unmount(2) takes it away.

use std::io;
use std::path::Path;
use std::process::Command;

use crate::kernel::{KResult, KernelError};

const ZFS: &str = "/sbin/zfs";

/// Runs zfs(8); its stdout on success.
fn zfs(op: &str, args: &[&str]) -> KResult<String> {
    let out = Command::new(ZFS)
        .args(args)
        .env_clear()
        .output()
        .map_err(|e| KernelError::os(format!("{op}: run {ZFS}"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(KernelError::Tool {
        op: op.to_string(),
        tool: ZFS.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// `zfs snapshot DATASET@NAME`.
pub fn snapshot(snapshot: &str) -> KResult<()> {
    zfs(&format!("zfs snapshot {snapshot}"), &["snapshot", snapshot]).map(drop)
}

/// `zfs clone -o mountpoint=legacy SNAPSHOT CLONE`.
pub fn clone(snapshot: &str, clone: &str) -> KResult<()> {
    zfs(
        &format!("zfs clone {snapshot} {clone}"),
        &["clone", "-o", "mountpoint=legacy", snapshot, clone],
    )
    .map(drop)
}

/// `zfs destroy NAME`; a dataset that does not exist is ENOENT, as the `Kernel`
/// contract asks of undo calls.
pub fn destroy(name: &str) -> KResult<()> {
    let op = format!("zfs destroy {name}");
    if zfs(&op, &["list", "-H", "-o", "name", "-t", "all", name]).is_err() {
        return Err(KernelError::os(
            op,
            io::Error::from_raw_os_error(libc::ENOENT),
        ));
    }
    zfs(&op, &["destroy", name]).map(drop)
}

/// The dataset whose mount point is exactly `path`, if there is one.
pub fn dataset_at(path: &Path) -> Option<String> {
    let path_text = path.to_str()?;
    let out = zfs(
        "zfs list",
        &["list", "-H", "-o", "name,mountpoint", path_text],
    )
    .ok()?;
    let line = out.lines().next()?;
    let (name, mountpoint) = line.split_once('\t')?;
    (Path::new(mountpoint) == path).then(|| name.to_string())
}
