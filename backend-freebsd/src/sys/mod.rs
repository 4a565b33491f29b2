//! The real kernel layer (FreeBSD only): the one module of this crate allowed `unsafe`.
//!
//! - [`SysKernel`]: the [`Kernel`] trait over system calls: nmount(2)/unmount(2)
//!   ([`mount`]), jail_set(2) via the jail crate and jail_remove(2) ([`jail`]),
//!   rctl(2) via the rctl crate ([`rctl`]), interfaces and routes via ifconfig(8) and
//!   route(8) ([`net`]), pf anchors via pfctl(8) ([`pf`]), ZFS snapshots and clones via
//!   zfs(8) ([`zfs`]), files in a root reached without following links ([`file`]), and
//!   signalling a jail from an attached child ([`proc`]).
//! - [`proc`]: fork(2), execve(2), descriptors and process facts for the runtime.
//!
//! Each system call is one `unsafe` expression with its SAFETY comment, turned into an
//! `io::Error` by [`ret`] and given its context by the caller.
#![allow(unsafe_code)]

pub mod cpuset;
pub mod file;
pub mod jail;
pub mod kld;
pub mod mount;
pub mod net;
pub mod pf;
pub mod proc;
pub mod rctl;
pub mod zfs;

use std::fs;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use ipnet::IpNet;
use stockade_core::spec::Protocol;

use crate::kernel::{
    FileKind, JailParams, JailSignal, Jid, KResult, Kernel, KernelError, Netns, Usage,
};
use crate::plan::mount::Nmount;
use crate::plan::net::EpairNames;

/// A C return code: 0 or more is success, -1 is the errno.
pub fn ret(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The FreeBSD kernel.
#[derive(Debug, Default)]
pub struct SysKernel;

impl Kernel for SysKernel {
    fn mkdir(&mut self, path: &Path, mode: u32) -> KResult<()> {
        let op = || format!("mkdir {}", path.display());
        fs::DirBuilder::new()
            .mode(mode)
            .create(path)
            .map_err(|e| KernelError::os(op(), e))?;
        // The umask may have cleared bits the plan asked for.
        if let Err(e) = fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
            let _ = fs::remove_dir(path);
            return Err(KernelError::os(
                format!("chmod {:o} {}", mode, path.display()),
                e,
            ));
        }
        Ok(())
    }

    fn rmdir(&mut self, path: &Path) -> KResult<()> {
        fs::remove_dir(path).map_err(|e| KernelError::os(format!("rmdir {}", path.display()), e))
    }

    fn require_dir(&mut self, path: &Path, root: &Path) -> KResult<()> {
        crate::apply::require_dir_below(path, root)
            .map_err(|e| KernelError::os(format!("mount point {}", path.display()), e))
    }

    fn nmount(&mut self, mount: &Nmount, update: bool) -> KResult<()> {
        mount::nmount(mount, update)
    }

    fn unmount(&mut self, path: &Path, force: bool) -> KResult<()> {
        mount::unmount(path, force)
    }

    fn rctl_add(&mut self, rule: &str) -> KResult<()> {
        rctl::add(rule)
    }

    fn rctl_remove(&mut self, filter: &str) -> KResult<()> {
        rctl::remove(filter)
    }

    fn racct_usage(&mut self, jail: &str) -> KResult<Usage> {
        rctl::usage(jail)
    }

    fn jail_create(&mut self, params: &JailParams) -> KResult<Jid> {
        jail::create(params)
    }

    fn jail_cpuset(&mut self, jid: Jid, cpus: &[u32]) -> KResult<()> {
        cpuset::set_jail(jid, cpus)
            .map_err(|e| KernelError::os(format!("cpuset -j {jid} -l {cpus:?}"), e))
    }

    fn find_jail(&mut self, name: &str) -> KResult<Option<Jid>> {
        jail::find(name)
    }

    fn jail_remove(&mut self, jid: Jid) -> KResult<()> {
        jail::remove(jid)
    }

    fn signal_jail(&mut self, jid: Jid, signal: JailSignal) -> KResult<bool> {
        let sig = match signal {
            JailSignal::Term => libc::SIGTERM,
            JailSignal::Kill => libc::SIGKILL,
            JailSignal::Probe => 0,
        };
        proc::signal_jail(jid.0, sig).map_err(|e| {
            KernelError::os(
                format!("signal every process in jail {jid} with {signal}"),
                e,
            )
        })
    }

    fn epair_create(&mut self, names: &EpairNames) -> KResult<()> {
        net::epair_create(names)
    }

    fn if_vnet(&mut self, iface: &str, jid: Jid) -> KResult<()> {
        net::if_vnet(iface, jid)
    }

    fn if_addr(&mut self, ns: Netns, iface: &str, address: IpNet) -> KResult<()> {
        net::if_addr(ns, iface, address)
    }

    fn if_up(&mut self, ns: Netns, iface: &str) -> KResult<()> {
        net::if_up(ns, iface)
    }

    fn route_default(&mut self, ns: Netns, gateway: IpAddr) -> KResult<()> {
        net::route_default(ns, gateway)
    }

    fn if_destroy(&mut self, iface: &str) -> KResult<()> {
        net::if_destroy(iface)
    }

    fn ensure_dir(&mut self, path: &Path, mode: u32) -> KResult<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
            .map_err(|e| KernelError::os(format!("mkdir -p {}", path.display()), e))
    }

    fn zfs_snapshot(&mut self, snapshot: &str) -> KResult<()> {
        zfs::snapshot(snapshot)
    }

    fn zfs_clone(&mut self, snapshot: &str, clone: &str) -> KResult<()> {
        zfs::clone(snapshot, clone)
    }

    fn zfs_destroy(&mut self, name: &str) -> KResult<()> {
        zfs::destroy(name)
    }

    fn default_route_iface(&mut self, ipv6: bool) -> KResult<String> {
        net::default_route_iface(ipv6)
    }

    fn sysctl_set(&mut self, name: &str, value: i32) -> KResult<()> {
        pf::sysctl_set(name, value)
    }

    fn pf_load(
        &mut self,
        anchor: &str,
        macros: &[(String, String)],
        rules: &[String],
    ) -> KResult<()> {
        pf::load(anchor, macros, rules)
    }

    fn pf_flush(&mut self, anchor: &str) -> KResult<()> {
        pf::flush(anchor)
    }

    fn sysctl_get(&mut self, name: &str) -> KResult<i32> {
        pf::sysctl_get(name)
    }

    fn port_in_use(&mut self, address: SocketAddr, protocol: Protocol) -> KResult<bool> {
        // std's listener sets SO_REUSEADDR: only a live listener conflicts.
        let result = match protocol {
            Protocol::Tcp => TcpListener::bind(address).map(drop),
            Protocol::Udp => UdpSocket::bind(address).map(drop),
        };
        match result {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => Ok(true),
            // An address the host does not have is pf's to ignore, not a conflict.
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => Ok(false),
            Err(e) => Err(KernelError::os(
                format!("bind {}/{address} (is the port free?)", protocol.name()),
                e,
            )),
        }
    }

    fn host_file(&mut self, path: &Path) -> KResult<Option<String>> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KernelError::os(format!("read {}", path.display()), e)),
        }
    }

    fn host_addresses(&mut self) -> KResult<Vec<IpAddr>> {
        let addrs =
            nix::ifaddrs::getifaddrs().map_err(|e| KernelError::os("getifaddrs", e.into()))?;
        Ok(addrs
            .filter_map(|a| {
                let addr = a.address?;
                match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
                    (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
                    (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
                    _ => None,
                }
            })
            .collect())
    }

    fn write_file(&mut self, path: &Path, text: &str) -> KResult<()> {
        file::write_new(path, text)
            .map_err(|e| KernelError::os(format!("write {}", path.display()), e))
    }

    fn file_below(&mut self, path: &Path, root: &Path) -> KResult<FileKind> {
        file::kind_below(path, root)
            .map_err(|e| KernelError::os(format!("lstat {}", path.display()), e))
    }

    fn create_file_below(&mut self, path: &Path, root: &Path, text: &str) -> KResult<()> {
        file::create_below(path, root, text)
            .map_err(|e| KernelError::os(format!("create {}", path.display()), e))
    }

    fn remove_file_below(&mut self, path: &Path, root: &Path) -> KResult<()> {
        file::remove_below(path, root)
            .map_err(|e| KernelError::os(format!("remove {}", path.display()), e))
    }
}
