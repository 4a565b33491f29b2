//! Interfaces and routes, with the base system's ifconfig(8) and route(8).
//!
//! Why tools and not ioctls: creating and naming an epair (SIOCIFCREATE2, SIOCSIFNAME),
//! moving it (SIOCSIFVNET), addressing it (SIOCAIFADDR, SIOCAIFADDR_IN6 with its
//! lifetimes) and adding a route (a routing-socket message) means hand-laying five kernel
//! structures that no Rust crate defines for FreeBSD; written without a FreeBSD host to
//! test on, a wrong offset would fail silently or misconfigure. ifconfig(8) and route(8)
//! are the kernel's own reference users of those calls, present on every FreeBSD, and
//! their exit status and stderr say what went wrong. Each use is checked: a non-zero
//! exit is an error carrying the tool's message.
//!
//! - Host side: `/sbin/ifconfig`, `/sbin/route`.
//! - Jail side (inside the vnet): a child attached to the jail with jail_attach(2) runs
//!   the statically linked `/rescue/ifconfig` or `/rescue/route`, opened on the host
//!   before attaching and started with fexecve(2): it works whatever the jail's root
//!   holds (`ifconfig -j` and `route -j` exist only on recent releases).
//! - `epair create` prints the new `a` end's name (`epair3a`); both ends are renamed at
//!   once, and the pair is destroyed again if a rename fails, so the call makes all or
//!   nothing.

use std::io;
use std::net::IpAddr;
use std::process::Command;

use ipnet::IpNet;

use super::proc;
use crate::kernel::{Jid, KResult, KernelError, Netns};
use crate::plan::net::EpairNames;

const IFCONFIG: &str = "/sbin/ifconfig";
const ROUTE: &str = "/sbin/route";
const RESCUE_IFCONFIG: &str = "/rescue/ifconfig";
const RESCUE_ROUTE: &str = "/rescue/route";

fn status_text(status: i32) -> String {
    match proc::decode(status) {
        (Some(code), _) => format!("exited with {code}"),
        (_, Some(sig)) => format!("killed by signal {sig}"),
        _ => format!("ended with status {status}"),
    }
}

/// Runs a host tool; its stdout on success.
fn host(op: &str, tool: &str, args: &[&str]) -> KResult<String> {
    let out = Command::new(tool)
        .args(args)
        .env_clear()
        .output()
        .map_err(|e| KernelError::os(format!("{op}: run {tool}"), e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(KernelError::Tool {
        op: op.to_string(),
        tool: tool.to_string(),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs a rescue tool inside jail `jid`'s vnet.
fn in_jail(op: &str, jid: Jid, tool: &str, args: &[&str]) -> KResult<()> {
    let exe =
        proc::open_exec(tool).map_err(|e| KernelError::os(format!("{op}: open {tool}"), e))?;
    let mut argv = vec![tool];
    argv.extend_from_slice(args);
    let argv = proc::CArray::from_strs(&argv).map_err(|e| KernelError::os(op, e))?;
    let end = proc::run_in_jail(jid.0, &exe, &argv).map_err(|e| KernelError::os(op, e))?;
    if proc::decode(end.status) == (Some(0), None) {
        return Ok(());
    }
    Err(KernelError::Tool {
        op: op.to_string(),
        tool: tool.to_string(),
        status: status_text(end.status),
        stderr: end.stderr.trim().to_string(),
    })
}

fn run(op: &str, ns: Netns, args: &[&str], host_tool: &str, jail_tool: &str) -> KResult<()> {
    match ns {
        Netns::Host => host(op, host_tool, args).map(drop),
        Netns::Jail(jid) => in_jail(op, jid, jail_tool, args),
    }
}

/// `ifconfig epair create`, then both ends renamed.
pub fn epair_create(names: &EpairNames) -> KResult<()> {
    let op = format!("create epair {} / {}", names.host, names.jail);
    let out = host(&op, IFCONFIG, &["epair", "create"])?;
    let a = out.trim().to_string();
    let Some(stem) = a.strip_suffix('a') else {
        return Err(KernelError::os(
            op,
            io::Error::other(format!(
                "ifconfig printed {a:?}, not the name of an epair's a end"
            )),
        ));
    };
    let b = format!("{stem}b");
    if let Err(e) = host(&op, IFCONFIG, &[&a, "name", &names.host]) {
        let _ = host(&op, IFCONFIG, &[&a, "destroy"]);
        return Err(e);
    }
    if let Err(e) = host(&op, IFCONFIG, &[&b, "name", &names.jail]) {
        let _ = host(&op, IFCONFIG, &[&names.host, "destroy"]);
        return Err(e);
    }
    Ok(())
}

/// `ifconfig IF vnet JID`.
pub fn if_vnet(iface: &str, jid: Jid) -> KResult<()> {
    let op = format!("move {iface} into jail {jid}");
    host(&op, IFCONFIG, &[iface, "vnet", &jid.to_string()]).map(drop)
}

/// `ifconfig IF inet|inet6 ADDR/LEN alias`.
pub fn if_addr(ns: Netns, iface: &str, address: IpNet) -> KResult<()> {
    let family = crate::plan::net::family(address.addr());
    let op = format!("{ns}: {iface} {family} {address}");
    let addr = address.to_string();
    run(
        &op,
        ns,
        &[iface, family, &addr, "alias"],
        IFCONFIG,
        RESCUE_IFCONFIG,
    )
}

/// `ifconfig IF up`.
pub fn if_up(ns: Netns, iface: &str) -> KResult<()> {
    let op = format!("{ns}: {iface} up");
    run(&op, ns, &[iface, "up"], IFCONFIG, RESCUE_IFCONFIG)
}

/// `route -n add -inet|-inet6 default GW`.
pub fn route_default(ns: Netns, gateway: IpAddr) -> KResult<()> {
    let family = if gateway.is_ipv4() { "-inet" } else { "-inet6" };
    let op = format!("{ns}: route add {family} default {gateway}");
    let gw = gateway.to_string();
    run(
        &op,
        ns,
        &["-n", "add", family, "default", &gw],
        ROUTE,
        RESCUE_ROUTE,
    )
}

/// `ifconfig IF destroy`; ENXIO when there is no such interface.
pub fn if_destroy(iface: &str) -> KResult<()> {
    let op = format!("destroy {iface}");
    // if_nametoindex(3) says cleanly that the interface is gone (ENXIO), which undo
    // tolerates; ifconfig would only print it.
    nix::net::if_::if_nametoindex(iface)
        .map_err(|e| KernelError::os(op.clone(), io::Error::from(e)))?;
    host(&op, IFCONFIG, &[iface, "destroy"]).map(drop)
}

/// The `interface:` line of `route -n get [-inet6] default`.
pub fn default_route_iface(ipv6: bool) -> KResult<String> {
    let family = if ipv6 { "-inet6" } else { "-inet" };
    let op = format!("route get {family} default");
    let out = host(&op, ROUTE, &["-n", "get", family, "default"])?;
    out.lines()
        .find_map(|l| l.trim().strip_prefix("interface:"))
        .map(|i| i.trim().to_string())
        .ok_or_else(|| {
            KernelError::os(
                op,
                io::Error::new(io::ErrorKind::NotFound, "no default route interface"),
            )
        })
}
