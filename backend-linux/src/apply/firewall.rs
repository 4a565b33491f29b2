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
//!    the preflight fails the whole transaction), the chains and rules. For IPv4 the
//!    default route's interface gets `forwarding = 1`. IPv6 has no per-interface routing
//!    switch (`conf/IF/forwarding` only selects host or router behaviour on that
//!    interface; packets are forwarded when `conf/all/forwarding` is on), so an IPv6
//!    environment turns the host-wide `net.ipv6.conf.all.forwarding` on, with a warning
//!    when it was off. Since that makes every interface ignore router advertisements, each
//!    IPv6 default-route interface that takes them (`accept_ra = 1`) first gets
//!    `accept_ra = 2` (take them even when forwarding), so the host keeps its own SLAAC
//!    default route.
//! 3. [`setup_interface`], once the host end of the link exists: its own `forwarding`
//!    (IPv4) and `route_localnet` (they go with the interface).
//!
//! Every private link's host end also gets `accept_ra = 0` ([`harden_interface`]): with
//! the host not forwarding, the default `accept_ra = 1` would let a process inside with
//! raw sockets advertise itself as the host's IPv6 router.
//!
//! # Undo and the shared table
//! [`teardown`] deletes the environment's chains (those a lookup finds) and port elements
//! in one transaction, falling back to one at a time if something is already gone
//! (`ENOENT`) so that does not stop the rest, then tries to delete the
//! port sets and the table with `NLM_F_NONREC`: the kernel refuses (`EBUSY`) while another
//! environment's chains or ports remain. The environment that removes the table restores
//! the forwarding switches to the values saved in the table's user data when it was made
//! (each written only when it differs now: rewriting `conf/all/forwarding` would reset
//! every interface's own switch). The table saves every switch any environment may set —
//! the IPv4 uplinks' `forwarding`, IPv6 `conf/all/forwarding` and the IPv6 uplinks'
//! `accept_ra` — whatever the first environment's family, because the kernel cannot
//! change a table's user data later and the next environment may be of the other family.
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

/// Where the switches live; the table saves their paths relative to it.
const SYSCTL_NET: &str = "/proc/sys/net/";

/// The host-wide IPv6 forwarding switch, relative to [`SYSCTL_NET`].
const IPV6_FORWARDING: &str = "ipv6/conf/all/forwarding";

/// The most user data a table holds (`NFT_USERDATA_MAXLEN`).
const USERDATA_MAX: usize = 256;

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
    /// The switches to save do not fit in the table's user data.
    #[error(
        "the host has too many default-route interfaces for stockade to remember their \
         forwarding switches ({len} bytes; a table holds {USERDATA_MAX}): {text}"
    )]
    TooManySwitches {
        /// The text's length.
        len: usize,
        /// The text.
        text: String,
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
    let existing = table_userdata(&mut nfnl)?;
    let new_saved = match existing {
        Some(_) => None,
        None => Some(saved_switches()?),
    };
    let msgs = transaction(plan, new_saved.as_deref().map(str::as_bytes));
    nfnl.batch(&msgs)
        .map_err(|(index, e)| explain(plan, index, e))?;
    if !plan.forwarding {
        return Ok(());
    }
    if !plan.ipv6 {
        for iface in default_route_interfaces(&read_or_empty("/proc/net/route")) {
            write_sysctl(&format!("{SYSCTL_NET}ipv4/conf/{iface}/forwarding"), "1")?;
        }
        return Ok(());
    }
    let saved = match (&new_saved, &existing) {
        (Some(text), _) => text.clone(),
        (None, Some(data)) => String::from_utf8_lossy(data).into_owned(),
        (None, None) => String::new(),
    };
    forward_ipv6(&saved)
}

/// Turns on host-wide IPv6 forwarding for an environment, keeping the host's router
/// advertisements on the uplinks whose `accept_ra` the table saved (see the module).
fn forward_ipv6(saved: &str) -> Result<(), FirewallError> {
    let all = format!("{SYSCTL_NET}{IPV6_FORWARDING}");
    if !Path::new(&all).exists() {
        return Ok(()); // IPv6 is disabled on this host: nothing to forward.
    }
    if read_sysctl(&all)? == "1" {
        return Ok(());
    }
    for (path, _) in saved_lines(saved) {
        if path.ends_with("/accept_ra") && read_sysctl(&path)? == "1" {
            write_sysctl(&path, "2")?;
        }
    }
    write_sysctl(&all, "1")?;
    eprintln!(
        "stockade: warning: turned on net.ipv6.conf.all.forwarding, which is host-wide: \
         the host now routes IPv6 between all its interfaces (as a router would) until the \
         last stockade environment with IPv6 NAT or published ports is deleted"
    );
    Ok(())
}

/// The switches a new table saves, one `path=value` line each (paths relative to
/// `/proc/sys/net/`): see the module.
fn saved_switches() -> Result<String, FirewallError> {
    let mut paths: Vec<String> = default_route_interfaces(&read_or_empty("/proc/net/route"))
        .into_iter()
        .map(|iface| format!("ipv4/conf/{iface}/forwarding"))
        .collect();
    if Path::new(SYSCTL_NET).join(IPV6_FORWARDING).exists() {
        paths.push(IPV6_FORWARDING.into());
        paths.extend(
            ipv6_default_route_interfaces(&read_or_empty("/proc/net/ipv6_route"))
                .into_iter()
                .map(|iface| format!("ipv6/conf/{iface}/accept_ra")),
        );
    }
    let mut text = String::new();
    for path in paths {
        let full = format!("{SYSCTL_NET}{path}");
        if Path::new(&full).exists() {
            text.push_str(&format!("{path}={}\n", read_sysctl(&full)?));
        }
    }
    if text.len() > USERDATA_MAX {
        return Err(FirewallError::TooManySwitches {
            len: text.len(),
            text,
        });
    }
    Ok(text)
}

/// The saved switches of a table's user data, as absolute paths, keeping only what
/// [`saved_switches`] writes (older stockade saved absolute paths; both are read).
fn saved_lines(text: &str) -> Vec<(String, &str)> {
    text.lines()
        .filter_map(|line| {
            let (path, value) = line.split_once('=')?;
            let rel = path.strip_prefix(SYSCTL_NET).unwrap_or(path);
            let ours = (rel.ends_with("/forwarding") && matches!(value, "0" | "1"))
                || (rel.ends_with("/accept_ra") && matches!(value, "0" | "1" | "2"));
            let plain = !rel.starts_with('/') && !rel.split('/').any(|c| c == ".." || c.is_empty());
            (ours && plain && (rel.starts_with("ipv4/conf/") || rel.starts_with("ipv6/conf/")))
                .then(|| (format!("{SYSCTL_NET}{rel}"), value))
        })
        .collect()
}

/// Sets the switches of the environment's host interface, once it exists: IPv4
/// `forwarding` (IPv6 forwarding is host-wide, see [`setup`]) and `route_localnet`.
pub fn setup_interface(plan: &FirewallPlan) -> Result<(), FirewallError> {
    if plan.forwarding && !plan.ipv6 {
        write_sysctl(
            &format!("{SYSCTL_NET}ipv4/conf/{}/forwarding", plan.owner),
            "1",
        )?;
    }
    if plan.route_localnet {
        write_sysctl(
            &format!("{SYSCTL_NET}ipv4/conf/{}/route_localnet", plan.owner),
            "1",
        )?;
    }
    Ok(())
}

/// Sets `accept_ra = 0` on a private link's host end (see the module); nothing when the
/// host has IPv6 disabled.
pub fn harden_interface(ifname: &str) -> Result<(), FirewallError> {
    write_sysctl(&format!("{SYSCTL_NET}ipv6/conf/{ifname}/accept_ra"), "0")
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
    // Every nftables commit waits for the kernel (10–20 ms here), so the chains that exist
    // are looked up first (no transaction) and deleted with the port elements in one
    // batch; one deletion at a time only if that batch meets something already gone.
    let mut deletions = Vec::new();
    for hook in [
        Hook::Forward,
        Hook::Postrouting,
        Hook::Output,
        Hook::Prerouting,
    ] {
        let chain = format!("{owner}-{}", hook.suffix());
        let lookup = Msg::new(
            MsgType::GetChain,
            NFPROTO_INET,
            0,
            nft::chain_ref(TABLE, &chain),
        );
        match nfnl.get(&lookup) {
            Ok(_) => deletions.push((
                format!("delete chain {chain}"),
                Msg::new(
                    MsgType::DelChain,
                    NFPROTO_INET,
                    0,
                    nft::chain_ref(TABLE, &chain),
                ),
            )),
            Err(e) if gone(&e) => {}
            Err(e) => return Err(nft_error(format!("look up chain {chain}"))(e)),
        }
    }
    for port in ports {
        let Some((protocol, number)) = parse_port(port) else {
            continue;
        };
        let set = port_set(protocol);
        deletions.push((
            format!("release port {port}"),
            Msg::new(
                MsgType::DelSetElem,
                NFPROTO_INET,
                0,
                nft::port_element(TABLE, set, number),
            ),
        ));
    }
    let msgs: Vec<Msg> = deletions.iter().map(|(_, m)| m.clone()).collect();
    match if msgs.is_empty() {
        Ok(())
    } else {
        nfnl.batch(&msgs)
    } {
        Ok(()) => {}
        Err((_, e)) if gone(&e) => {
            for (what, msg) in &deletions {
                match nfnl.batch(std::slice::from_ref(msg)) {
                    Err((_, e)) if !gone(&e) => return Err(nft_error(what.clone())(e)),
                    _ => {}
                }
            }
        }
        Err((i, e)) => {
            let what = deletions
                .get(i)
                .map_or("delete the environment's rules", |d| d.0.as_str());
            return Err(nft_error(what.to_string())(e));
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
    let text = String::from_utf8_lossy(&saved);
    for (path, value) in saved_lines(&text) {
        // Only what differs: rewriting conf/all/forwarding resets every interface's own.
        if Path::new(&path).exists() && read_sysctl(&path)? != value {
            write_sysctl(&path, value)?;
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

fn read_or_empty(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// The interfaces of the IPv6 default routes in `/proc/net/ipv6_route`'s text
/// (destination `::/0`; the last field is the interface).
fn ipv6_default_route_interfaces(table: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // dest dest_len src src_len next_hop metric refcnt use flags iface
        if fields.len() == 10
            && fields[0].bytes().all(|b| b == b'0')
            && fields[1] == "00"
            && fields[9] != "lo"
            && !fields[9].starts_with(HOST_IFNAME_PREFIX)
            && !out.iter().any(|o| o == fields[9])
        {
            out.push(fields[9].to_string());
        }
    }
    out
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
    fn ipv6_default_routes_are_read_from_proc_net_ipv6_route() {
        let table = "\
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003 eth0
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003 wlan0
";
        assert_eq!(ipv6_default_route_interfaces(table), ["eth0", "wlan0"]);
    }

    #[test]
    fn saved_switches_read_back_relative_or_absolute_and_nothing_else() {
        let text = "ipv4/conf/eth0/forwarding=0\n\
                    ipv6/conf/all/forwarding=0\n\
                    ipv6/conf/eth0/accept_ra=1\n\
                    /proc/sys/net/ipv4/conf/wlan0/forwarding=1\n\
                    ipv4/conf/../../../kernel/forwarding=1\n\
                    ipv6/conf/eth0/accept_ra=7\n\
                    ipv4/conf/eth0/rp_filter=1\n\
                    /etc/forwarding=1\n";
        assert_eq!(
            saved_lines(text),
            [
                ("/proc/sys/net/ipv4/conf/eth0/forwarding".to_string(), "0"),
                ("/proc/sys/net/ipv6/conf/all/forwarding".to_string(), "0"),
                ("/proc/sys/net/ipv6/conf/eth0/accept_ra".to_string(), "1"),
                ("/proc/sys/net/ipv4/conf/wlan0/forwarding".to_string(), "1"),
            ]
        );
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
