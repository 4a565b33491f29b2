//! Applying a [`FirewallPlan`] (NAT and published ports) with nf_tables ([`super::nft`]),
//! and the forwarding switches it needs.
//!
//! # Order
//! 1. [`preflight`], before anything of the environment exists: a published host port
//!    that a host process listens on, or that another environment holds, is refused. The
//!    second check is the environment's own transaction sent without its end marker, which
//!    makes the kernel validate every message and then throw the batch away (what
//!    `nft --check` does).
//! 2. [`setup`], first thing in create: the record, then one transaction with the table
//!    and port sets (made if missing), the port claims (`NLM_F_EXCL`: a port taken since
//!    the preflight fails the whole transaction), the chains and rules. The default
//!    route's interface gets `forwarding = 1`.
//! 3. [`setup_interface`], once the host end of the link exists: its own `forwarding` and
//!    `route_localnet` (they go with the interface).
//!
//! # Undo and the shared table
//! [`teardown`] deletes the environment's chains and port elements by name, each on its
//! own so one already gone (`ENOENT`) does not stop the rest, then tries to delete the
//! port sets and the table with `NLM_F_NONREC`: the kernel refuses (`EBUSY`) while another
//! environment's chains or ports remain. The environment that removes the table restores
//! the forwarding switches to the values saved in the table's user data when it was made.
//! A host-wide lock (`/run/stockade-nft.lock`) serialises this with creates, so a new
//! table never saves a value an old one is about to restore.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};
use stockade_core::spec::{Protocol, Publish};
use stockade_core::state::{Entry, Resource, StateError};

use super::nft::{
    self, Msg, MsgType, Nfnl, NFPROTO_INET, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_NONREC,
};
use super::runtime::crash_point;
use crate::plan::firewall::{port_set, Chain, FirewallPlan, Hook, Rule, TABLE};
use crate::plan::net::HOST_IFNAME_PREFIX;

/// The host-wide lock of the shared table.
const LOCK: &str = "/run/stockade-nft.lock";

/// What the firewall can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// A host process holds a published port.
    #[error(
        "network.publish \"{publish}\": host port {port}/{protocol} is in use by a process on \
         the host ({source}); choose another host port or stop that process"
    )]
    PortInUse {
        /// The entry.
        publish: Publish,
        /// The port.
        port: u16,
        /// tcp or udp.
        protocol: &'static str,
        /// The bind(2) error.
        source: io::Error,
    },
    /// Another environment publishes the port.
    #[error(
        "network.publish: host port {port} is already published by another stockade \
         environment (nft list set inet stockade {set}); choose another host port"
    )]
    PortTaken {
        /// The port.
        port: u16,
        /// The set it is claimed in.
        set: &'static str,
    },
    /// An nf_tables request failed.
    #[error("nftables: {what}: {source}{hint}")]
    Nft {
        /// What was being done.
        what: String,
        /// The kernel's answer.
        source: io::Error,
        /// What to do, with a leading "; ", or empty.
        hint: String,
    },
    /// A sysctl could not be read or written.
    #[error("{path}: {source}")]
    Sysctl {
        /// The /proc/sys path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// The host-wide lock.
    #[error("lock {LOCK}: {source}")]
    Lock {
        /// The cause.
        source: io::Error,
    },
    /// A recorded owner stockade would never give.
    #[error("refusing to delete nftables chains of {owner:?}: stockade names them {HOST_IFNAME_PREFIX}*, so state.json was changed by hand")]
    NotOurs {
        /// The recorded owner.
        owner: String,
    },
    /// Recording in the state store.
    #[error(transparent)]
    State(#[from] StateError),
}

fn nft_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> FirewallError {
    move |source| {
        let hint = match source.raw_os_error() {
            Some(libc::EPERM) => "; changing nftables needs CAP_NET_ADMIN: run as root".into(),
            // EPROTONOSUPPORT: no nfnetlink at all (a kernel without netfilter modules).
            Some(libc::EOPNOTSUPP | libc::ENOENT | libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT) => {
                "; the kernel needs nf_tables with NAT (CONFIG_NF_TABLES_INET, CONFIG_NFT_NAT, \
                 CONFIG_NFT_MASQ, CONFIG_NFT_FIB_INET): modprobe nft_nat nft_masq nft_fib_inet, \
                 or set network.nat = false and publish no port"
                    .into()
            }
            _ => String::new(),
        };
        FirewallError::Nft {
            what: what.into(),
            source,
            hint,
        }
    }
}

/// Refuses a published port that is taken, before anything is made.
pub fn preflight(plan: &FirewallPlan) -> Result<(), FirewallError> {
    for p in &plan.publish {
        probe_host_port(p)?;
    }
    let mut nfnl = Nfnl::open().map_err(nft_error("open a netfilter socket"))?;
    let msgs = transaction(plan, None);
    match nfnl.check(&msgs) {
        Ok(()) => Ok(()),
        Err((index, e)) => Err(explain(plan, index, e)),
    }
}

/// Binds the published address and port on the host, for a moment: a listener there
/// would be shadowed by the environment, so it is an error.
fn probe_host_port(p: &Publish) -> Result<(), FirewallError> {
    let ip = p.host_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let at = SocketAddr::new(ip, p.host_port);
    let result = match p.protocol {
        // std's listener sets SO_REUSEADDR: only a live listener conflicts, not a
        // connection in TIME_WAIT.
        Protocol::Tcp => TcpListener::bind(at).map(drop),
        Protocol::Udp => UdpSocket::bind(at).map(drop),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(FirewallError::PortInUse {
            publish: *p,
            port: p.host_port,
            protocol: p.protocol.name(),
            source: e,
        }),
        // An address the host does not have is the kernel's to refuse later; anything
        // else is not a conflict.
        _ => Ok(()),
    }
}

/// Makes the environment's firewall, recording it in `entry` first.
pub fn setup(plan: &FirewallPlan, entry: &mut Entry) -> Result<(), FirewallError> {
    entry.record(Resource::Firewall {
        owner: plan.owner.clone(),
        ports: plan.port_names(),
    })?;
    crash_point("firewall");
    let _lock = lock()?;
    let mut nfnl = Nfnl::open().map_err(nft_error("open a netfilter socket"))?;
    let exists = table_userdata(&mut nfnl)?.is_some();
    let mut saved = String::new();
    let switches = if plan.forwarding {
        uplink_forwarding(plan.ipv6)
    } else {
        Vec::new()
    };
    if !exists {
        for path in &switches {
            let value = read_sysctl(path)?;
            saved.push_str(&format!("{path}={value}\n"));
        }
    }
    let msgs = transaction(plan, (!exists).then_some(saved.as_bytes()));
    nfnl.batch(&msgs)
        .map_err(|(index, e)| explain(plan, index, e))?;
    for path in &switches {
        write_sysctl(path, "1")?;
    }
    Ok(())
}

/// Sets the switches of the environment's host interface, once it exists.
pub fn setup_interface(plan: &FirewallPlan) -> Result<(), FirewallError> {
    let family = if plan.ipv6 { "ipv6" } else { "ipv4" };
    if plan.forwarding && !plan.ipv6 {
        write_sysctl(
            &format!("/proc/sys/net/{family}/conf/{}/forwarding", plan.owner),
            "1",
        )?;
    }
    if plan.route_localnet {
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", plan.owner),
            "1",
        )?;
    }
    Ok(())
}

/// Removes a recorded firewall; what is already gone is not an error.
pub fn teardown(owner: &str, ports: &[String]) -> Result<(), FirewallError> {
    if !owner.starts_with(HOST_IFNAME_PREFIX) || owner.contains('/') {
        return Err(FirewallError::NotOurs {
            owner: owner.into(),
        });
    }
    let _lock = lock()?;
    let mut nfnl = Nfnl::open().map_err(nft_error("open a netfilter socket"))?;
    let gone = |e: &io::Error| e.raw_os_error() == Some(libc::ENOENT);
    for hook in [
        Hook::Forward,
        Hook::Postrouting,
        Hook::Output,
        Hook::Prerouting,
    ] {
        let chain = format!("{owner}-{}", hook.suffix());
        let msg = Msg::new(
            MsgType::DelChain,
            NFPROTO_INET,
            0,
            nft::chain_ref(TABLE, &chain),
        );
        match nfnl.batch(&[msg]) {
            Err((_, e)) if !gone(&e) => {
                return Err(nft_error(format!("delete chain {chain}"))(e));
            }
            _ => {}
        }
    }
    for port in ports {
        let Some((protocol, number)) = parse_port(port) else {
            continue;
        };
        let set = port_set(protocol);
        let msg = Msg::new(
            MsgType::DelSetElem,
            NFPROTO_INET,
            0,
            nft::port_element(TABLE, set, number),
        );
        match nfnl.batch(&[msg]) {
            Err((_, e)) if !gone(&e) => {
                return Err(nft_error(format!("release port {port}"))(e));
            }
            _ => {}
        }
    }
    remove_table_if_unused(&mut nfnl)
}

/// Deletes the shared table when no environment uses it any more, and restores the
/// forwarding switches saved in it.
fn remove_table_if_unused(nfnl: &mut Nfnl) -> Result<(), FirewallError> {
    let Some(saved) = table_userdata(nfnl)? else {
        return Ok(());
    };
    let msgs = [
        Msg::new(
            MsgType::DelSet,
            NFPROTO_INET,
            NLM_F_NONREC,
            nft::set_ref(TABLE, port_set(Protocol::Tcp)),
        ),
        Msg::new(
            MsgType::DelSet,
            NFPROTO_INET,
            NLM_F_NONREC,
            nft::set_ref(TABLE, port_set(Protocol::Udp)),
        ),
        Msg::new(
            MsgType::DelTable,
            NFPROTO_INET,
            NLM_F_NONREC,
            nft::table(TABLE, None),
        ),
    ];
    match nfnl.batch(&msgs) {
        Ok(()) => {}
        // Another environment's chains or ports are still there.
        Err((_, e)) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
        Err((_, e)) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err((_, e)) => return Err(nft_error(format!("delete table inet {TABLE}"))(e)),
    }
    for line in String::from_utf8_lossy(&saved).lines() {
        let Some((path, value)) = line.split_once('=') else {
            continue;
        };
        // Only what setup saved: a forwarding switch.
        if path.starts_with("/proc/sys/net/")
            && path.ends_with("/forwarding")
            && matches!(value, "0" | "1")
        {
            write_sysctl(path, value)?;
        }
    }
    Ok(())
}

/// The user data of the shared table, or `None` when there is no table.
fn table_userdata(nfnl: &mut Nfnl) -> Result<Option<Vec<u8>>, FirewallError> {
    let msg = Msg::new(MsgType::GetTable, NFPROTO_INET, 0, nft::table(TABLE, None));
    match nfnl.get(&msg) {
        Ok(answers) => Ok(Some(
            answers
                .first()
                .and_then(|a| nft::find_attr(a, nft::NFTA_TABLE_USERDATA))
                .unwrap_or_default()
                .to_vec(),
        )),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(nft_error(format!("read table inet {TABLE}"))(e)),
    }
}

/// The environment's messages: table and sets (made if missing), port claims, chains,
/// rules. `table_userdata` is given when the table is new.
fn transaction(plan: &FirewallPlan, table_userdata: Option<&[u8]>) -> Vec<Msg> {
    let mut msgs = vec![Msg::new(
        MsgType::NewTable,
        NFPROTO_INET,
        NLM_F_CREATE,
        nft::table(TABLE, table_userdata),
    )];
    for (id, protocol) in [(1, Protocol::Tcp), (2, Protocol::Udp)] {
        msgs.push(Msg::new(
            MsgType::NewSet,
            NFPROTO_INET,
            NLM_F_CREATE,
            nft::port_set(TABLE, port_set(protocol), id),
        ));
    }
    for (protocol, port) in &plan.ports {
        msgs.push(Msg::new(
            MsgType::NewSetElem,
            NFPROTO_INET,
            NLM_F_CREATE | NLM_F_EXCL,
            nft::port_element(TABLE, port_set(*protocol), *port),
        ));
    }
    for chain in &plan.chains {
        msgs.push(Msg::new(
            MsgType::NewChain,
            NFPROTO_INET,
            NLM_F_CREATE | NLM_F_EXCL,
            nft::base_chain(
                TABLE,
                &chain.name,
                chain.hook.chain_type(),
                hooknum(chain.hook),
                chain.hook.priority(),
            ),
        ));
        for rule in &chain.rules {
            msgs.push(Msg::new(
                MsgType::NewRule,
                NFPROTO_INET,
                NLM_F_CREATE | NLM_F_APPEND,
                nft::rule(TABLE, &chain.name, &expressions(chain, rule)),
            ));
        }
    }
    msgs
}

/// What a failed message of [`transaction`] means.
fn explain(plan: &FirewallPlan, index: usize, e: io::Error) -> FirewallError {
    let claims = 3..3 + plan.ports.len();
    if claims.contains(&index) && e.raw_os_error() == Some(libc::EEXIST) {
        let (protocol, port) = plan.ports[index - 3];
        return FirewallError::PortTaken {
            port,
            set: port_set(protocol),
        };
    }
    nft_error(format!("make the chains of {}", plan.owner))(e)
}

fn hooknum(hook: Hook) -> u32 {
    // NF_INET_PRE_ROUTING, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING.
    match hook {
        Hook::Prerouting => 0,
        Hook::Output => 3,
        Hook::Postrouting => 4,
        Hook::Forward => 2,
    }
}

fn expressions(_chain: &Chain, rule: &Rule) -> Vec<nft::Expr> {
    let mut e = Vec::new();
    match rule {
        Rule::Dnat { publish, to } => {
            e.extend(nft::match_family(*to));
            match publish.host_ip {
                Some(ip) => e.extend(nft::match_daddr(ip)),
                None => e.extend(nft::match_local_daddr()),
            }
            let l4proto = match publish.protocol {
                Protocol::Tcp => libc::IPPROTO_TCP,
                Protocol::Udp => libc::IPPROTO_UDP,
            } as u8;
            e.extend(nft::match_dport(l4proto, publish.host_port));
            e.extend(nft::dnat(*to, publish.port));
        }
        Rule::Masquerade { from, not_out } => {
            e.extend(nft::match_family(*from));
            e.extend(nft::match_saddr(*from));
            e.extend(nft::match_oifname(not_out, false));
            e.extend(nft::masquerade());
        }
        Rule::MasqueradeLoopback { out } => {
            e.extend(nft::match_family(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            e.extend(nft::match_loopback_saddr());
            e.extend(nft::match_oifname(out, true));
            e.extend(nft::masquerade());
        }
        Rule::DropToOthers { from } => {
            e.extend(nft::match_iifname(from));
            e.extend(nft::match_oifname_prefix(HOST_IFNAME_PREFIX));
            e.extend(nft::drop_verdict());
        }
    }
    e
}

fn parse_port(s: &str) -> Option<(Protocol, u16)> {
    let (protocol, port) = s.split_once('/')?;
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        _ => return None,
    };
    Some((protocol, port.parse().ok()?))
}

fn lock() -> Result<Flock<fs::File>, FirewallError> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(LOCK)
        .map_err(|source| FirewallError::Lock { source })?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| FirewallError::Lock { source: e.into() })
}

/// The forwarding switches of the interfaces the host's default routes leave by.
fn uplink_forwarding(ipv6: bool) -> Vec<String> {
    if ipv6 {
        // IPv6 forwarding is one host-wide switch (conf/all), which also stops the host
        // from accepting router advertisements: stockade leaves it to the administrator.
        return Vec::new();
    }
    default_route_interfaces(&fs::read_to_string("/proc/net/route").unwrap_or_default())
        .into_iter()
        .map(|iface| format!("/proc/sys/net/ipv4/conf/{iface}/forwarding"))
        .collect()
}

/// The interfaces of the IPv4 default routes in `/proc/net/route`'s text.
fn default_route_interfaces(table: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
        if fields.len() > 7
            && fields[1] == "00000000"
            && fields[7] == "00000000"
            && !fields[0].starts_with(HOST_IFNAME_PREFIX)
            && !out.iter().any(|o| o == fields[0])
        {
            out.push(fields[0].to_string());
        }
    }
    out
}

fn read_sysctl(path: &str) -> Result<String, FirewallError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| FirewallError::Sysctl {
            path: path.into(),
            source,
        })
}

fn write_sysctl(path: &str, value: &str) -> Result<(), FirewallError> {
    if !Path::new(path).exists() {
        return Ok(());
    }
    fs::write(path, value).map_err(|source| FirewallError::Sysctl {
        path: path.into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_routes_are_read_from_proc_net_route() {
        let table =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
                     eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n";
        assert_eq!(default_route_interfaces(table), ["eth0", "wlan0"]);
        assert!(default_route_interfaces("").is_empty());
    }

    #[test]
    fn recorded_ports_read_back() {
        assert_eq!(parse_port("tcp/8080"), Some((Protocol::Tcp, 8080)));
        assert_eq!(parse_port("udp/53"), Some((Protocol::Udp, 53)));
        assert_eq!(parse_port("sctp/1"), None);
    }

    #[test]
    fn undo_refuses_owners_stockade_never_makes() {
        assert!(matches!(
            teardown("eth0", &[]),
            Err(FirewallError::NotOurs { .. })
        ));
    }
}
