//! The environment's network (`[network]`): applying the plan's [`NetStep`]s over
//! rtnetlink(7) — veth(4) pairs, moving a link into a network namespace
//! (network_namespaces(7)), addresses, routes, link flags — and deleting the host end on
//! undo.
//!
//! # Who does what
//! - `none`: the first process brings its own `lo` up (one `SIOCSIFFLAGS` ioctl) after it
//!   is released; the creator does nothing, so this mode costs the start path nothing.
//! - `host`: nothing at all.
//! - `private`: the creator, in the host's namespace, does every step while the first
//!   process still waits on its `go` pipe, so the command never sees a half-made link.
//!   Host steps go through a netlink socket opened in the host namespace; environment steps
//!   through one opened *inside* the environment's namespace: a short-lived thread
//!   setns(2)s into `/proc/PID/ns/net`, opens the socket and exits. A socket belongs to the
//!   namespace it was created in for its whole life, so the creator's own threads never
//!   change namespace, and no extra process is forked. Both sockets and the namespace fd
//!   are closed when the setup returns: left open they would keep the namespace (and its
//!   end of the pair) alive after the environment dies.
//!
//! # Undo
//! The host end is recorded ([`Resource::Interface`]) before the pair is made. Deleting it
//! deletes the pair; the environment's end otherwise dies with the namespace. Undo
//! tolerates an interface that is already gone (`ENODEV`), and refuses a name stockade
//! would never make, so a damaged state.json cannot delete a host's real interfaces. A
//! name that exists already when the pair is made (`EEXIST`) is someone else's: its record
//! is dropped again so that undo leaves it alone.
//!
//! # Crate
//! `netlink-packet-route` builds and parses the messages as typed values and
//! `netlink-sys` is a plain blocking socket: synchronous, no async runtime, no `ip(8)`
//! subprocess, and no unsafe code here.
//!
//! # Reachability
//! The host end holds the gateway address, so the host and the environment reach each
//! other over the link, and the environment reaches the host's other addresses through
//! its default route (delivered locally: no forwarding involved). stockade never turns
//! on IP forwarding: with the host's `net.ipv4.ip_forward` at 0 (the kernel default),
//! two environments on different subnets reach the host but not each other. A host that
//! forwards (a router, a Docker host) also routes between environments unless its
//! firewall says otherwise.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use ipnet::IpNet;
use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_DONE,
    NLMSG_ERROR, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkHeader, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use stockade_core::state::{Entry, Resource, StateError};

use super::proc;
use super::runtime::crash_point;
use crate::plan::net::{NetStep, Netns, NetworkPlan, HOST_IFNAME_PREFIX};

/// What setting up or tearing down the network can fail with.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// `/proc/PID/ns/net` of the environment's process could not be opened.
    #[error("open the network namespace of the environment's process ({path}): {source}")]
    Netns {
        /// `/proc/PID/ns/net`.
        path: String,
        /// The cause, with errno.
        source: io::Error,
    },
    /// The process died (and its PID may be another process's now) before its network
    /// was set up.
    #[error("the environment's process {pid} died before its network was set up")]
    Gone {
        /// Its host PID.
        pid: i32,
    },
    /// A netlink socket could not be opened.
    #[error("open a netlink socket in the {netns} network namespace: {source}")]
    Socket {
        /// Which namespace.
        netns: Netns,
        /// The cause, with errno.
        source: io::Error,
    },
    /// One step of the plan failed.
    #[error("network step \"{step}\" failed: {source}{hint}")]
    Step {
        /// The step, as `stockade plan` prints it.
        step: NetStep,
        /// The kernel's answer, with errno.
        source: io::Error,
        /// What to do about it, with a leading "; ", or empty.
        hint: String,
    },
    /// Deleting a host interface failed.
    #[error("delete host interface {name}: {source}")]
    Delete {
        /// The interface.
        name: String,
        /// The cause, with errno.
        source: io::Error,
    },
    /// A recorded interface whose name stockade never gives.
    #[error(
        "refusing to delete host interface {name:?}: stockade only makes interfaces named \
         {HOST_IFNAME_PREFIX}*, so state.json was changed by hand; delete it yourself if it \
         is a leftover (ip link delete {name})"
    )]
    NotOurs {
        /// The recorded name.
        name: String,
    },
    /// Recording the interface in the state store.
    #[error(transparent)]
    State(#[from] StateError),
    /// The interface's forwarding switches.
    #[error(transparent)]
    Firewall(#[from] super::firewall::FirewallError),
}

/// The steps the environment's first process runs itself, in its own namespace, once
/// released: all of them for `none` (bringing `lo` up), none for `private`, whose steps
/// the creator runs in [`setup`] before releasing it.
pub fn steps_in_child(plan: &NetworkPlan) -> &[NetStep] {
    if plan.host_interface().is_some() {
        &[]
    } else {
        &plan.steps
    }
}

/// Runs a `private` plan's steps for the environment whose first process is `pid`
/// (started at `start_time`, waiting to be released), recording the host interface in
/// `entry` before making it. Does nothing for other modes.
///
/// Debug builds honour `STOCKADE_TEST_CRASH_AT=interface` (recorded, not made) and
/// `network` (the pair exists).
pub fn setup(
    plan: &NetworkPlan,
    pid: Pid,
    start_time: u64,
    entry: &mut Entry,
) -> Result<(), NetError> {
    let Some(host_ifname) = plan.host_interface() else {
        return Ok(());
    };
    let path = format!("/proc/{pid}/ns/net");
    let netns = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| NetError::Netns {
        path: path.clone(),
        source: e.into(),
    })?;
    // The PID names the right process only while that process lives: had it died, the
    // PID could have been reused and the fd would name a stranger's namespace.
    if !proc::is_alive(pid.as_raw(), start_time) {
        return Err(NetError::Gone { pid: pid.as_raw() });
    }
    let mut host = Rtnl::open().map_err(|source| NetError::Socket {
        netns: Netns::Host,
        source,
    })?;
    let mut env = Rtnl::open_in(netns.as_fd()).map_err(|source| NetError::Socket {
        netns: Netns::Environment,
        source,
    })?;

    let record = Resource::Interface {
        name: host_ifname.to_string(),
    };
    entry.record(record.clone())?;
    crash_point("interface");
    for step in &plan.steps {
        let target = match step_netns(step) {
            Netns::Host => &mut host,
            Netns::Environment => &mut env,
        };
        if let Err(source) = apply_step(step, target, netns.as_fd()) {
            if matches!(step, NetStep::CreateVeth { .. })
                && source.raw_os_error() == Some(libc::EEXIST)
            {
                // Not made by this create: undo must leave it alone.
                entry.state.resources.retain(|r| r != &record);
                entry.save()?;
            }
            return Err(step_error(step, source));
        }
        if matches!(step, NetStep::CreateVeth { .. }) {
            crash_point("network");
        }
    }
    if let Some(host) = plan.host_interface() {
        super::firewall::harden_interface(host)?;
    }
    if let Some(firewall) = &plan.firewall {
        super::firewall::setup_interface(firewall)?;
    }
    Ok(())
}

/// Deletes a host interface recorded by [`setup`] (and with it the whole pair); an
/// interface that is already gone is not an error.
pub fn delete_host_interface(name: &str) -> Result<(), NetError> {
    if !name.starts_with(HOST_IFNAME_PREFIX) {
        return Err(NetError::NotOurs { name: name.into() });
    }
    let delete = |name: &str| -> io::Result<()> {
        let mut rtnl = Rtnl::open()?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        rtnl.transact(RouteNetlinkMessage::DelLink(msg), 0)
            .map(drop)
    };
    match delete(name) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        other => other.map_err(|source| NetError::Delete {
            name: name.into(),
            source,
        }),
    }
}

/// The namespace a step runs in.
fn step_netns(step: &NetStep) -> Netns {
    match step {
        NetStep::CreateVeth { .. } => Netns::Host,
        NetStep::AddAddress { netns, .. }
        | NetStep::LinkUp { netns, .. }
        | NetStep::AddDefaultRoute { netns, .. } => *netns,
    }
}

/// One step over the socket of its namespace; `netns` is the environment's namespace,
/// where `CreateVeth` makes the inside end.
fn apply_step(step: &NetStep, rtnl: &mut Rtnl, netns: BorrowedFd<'_>) -> io::Result<()> {
    match step {
        NetStep::CreateVeth { host, inside } => rtnl.create_veth(host, inside, netns),
        NetStep::AddAddress {
            ifname, address, ..
        } => {
            let index = rtnl.index(ifname)?;
            rtnl.add_address(index, *address)
        }
        NetStep::LinkUp { ifname, .. } => {
            let index = rtnl.index(ifname)?;
            rtnl.set_link(index, LinkFlags::Up, Vec::new())
        }
        NetStep::AddDefaultRoute {
            gateway, ifname, ..
        } => {
            let index = rtnl.index(ifname)?;
            rtnl.add_default_route(*gateway, index)
        }
    }
}

/// A step's error, with what to do about the usual causes.
fn step_error(step: &NetStep, source: io::Error) -> NetError {
    let hint = match (step, source.raw_os_error()) {
        (NetStep::CreateVeth { host, .. }, Some(libc::EEXIST)) => format!(
            "; an interface named {host} already exists on the host: an environment \
             of the same name under another state root, or a leftover of one \
             (ip link delete {host})"
        ),
        (NetStep::CreateVeth { .. }, Some(libc::EOPNOTSUPP)) => {
            "; the kernel has no veth driver: load it (modprobe veth) or build it (CONFIG_VETH)"
                .into()
        }
        (_, Some(libc::EPERM)) => "; managing interfaces needs CAP_NET_ADMIN: run as root".into(),
        (NetStep::AddAddress { .. }, Some(libc::EEXIST)) => {
            "; the address is already on that interface".into()
        }
        (NetStep::AddDefaultRoute { .. }, Some(libc::EEXIST)) => {
            "; the environment already has a default route".into()
        }
        _ => String::new(),
    };
    NetError::Step {
        step: step.clone(),
        source,
        hint,
    }
}

/// The largest answer read at once: a link's full description is a few KiB.
const RECV_BUFFER: usize = 32 * 1024;

/// A blocking rtnetlink socket in one network namespace, for request/acknowledge
/// exchanges.
struct Rtnl {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl Rtnl {
    /// A socket in the calling thread's network namespace.
    fn open() -> io::Result<Rtnl> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECV_BUFFER),
        })
    }

    /// A socket in the network namespace `netns`, opened by a thread that enters it and
    /// exits: namespaces are per thread, and no other thread of this process moves.
    fn open_in(netns: BorrowedFd<'_>) -> io::Result<Rtnl> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)?;
                    Rtnl::open()
                })
                .join()
        })
        .unwrap_or_else(|_| {
            Err(io::Error::other(
                "the thread opening the netlink socket panicked",
            ))
        })
    }

    /// Sends `message` with `flags` (besides `NLM_F_REQUEST | NLM_F_ACK`) and reads until
    /// the kernel acknowledges it. Returns the answers before the acknowledgement as
    /// (message type, payload); a negative acknowledgement is its errno.
    fn transact(
        &mut self,
        message: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<(u16, Vec<u8>)>> {
        self.sequence = self.sequence.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;

        let mut answers = Vec::new();
        loop {
            self.buffer.clear();
            let size = self.socket.recv(&mut self.buffer, libc::MSG_TRUNC)?;
            if size > self.buffer.len() {
                return Err(io::Error::other(format!(
                    "a netlink answer of {size} bytes does not fit in {RECV_BUFFER}"
                )));
            }
            let mut rest = &self.buffer[..size];
            while !rest.is_empty() {
                let packet = NetlinkBuffer::new_checked(rest).map_err(invalid)?;
                let length = packet.length() as usize;
                if packet.sequence_number() == self.sequence {
                    match packet.message_type() {
                        NLMSG_ERROR => {
                            let error =
                                ErrorBuffer::new_checked(packet.payload()).map_err(invalid)?;
                            return match error.code() {
                                None => Ok(answers),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            };
                        }
                        NLMSG_DONE => return Ok(answers),
                        kind => answers.push((kind, packet.payload().to_vec())),
                    }
                }
                // Messages are 4-byte aligned within a datagram.
                rest = rest.get(length.next_multiple_of(4)..).unwrap_or_default();
            }
        }
    }

    /// The index of the interface `name` in this namespace (`RTM_GETLINK` by name).
    fn index(&mut self, name: &str) -> io::Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        let answers = self.transact(RouteNetlinkMessage::GetLink(msg), 0)?;
        answers
            .iter()
            .find(|(kind, _)| *kind == libc::RTM_NEWLINK)
            .map(|(_, payload)| LinkHeader::parse(payload).map(|h| h.index))
            .unwrap_or_else(|| Err("no link in the answer".into()))
            .map_err(invalid)
    }

    /// `RTM_NEWLINK` of kind veth named `host`, here, its peer named `inside` made right in
    /// namespace `netns` (no move of a made link, which waits out an RCU grace period).
    /// The kernel takes its own reference on the namespace while handling the message.
    fn create_veth(&mut self, host: &str, inside: &str, netns: BorrowedFd<'_>) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(inside.into()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(netns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(host.into()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.transact(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
    }

    /// `RTM_SETLINK` on link `index`: sets `flags` (only those: the change mask is the
    /// same set) and `attributes`.
    fn set_link(
        &mut self,
        index: u32,
        flags: LinkFlags,
        attributes: Vec<LinkAttribute>,
    ) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = flags;
        msg.header.change_mask = flags;
        msg.attributes = attributes;
        self.transact(RouteNetlinkMessage::SetLink(msg), 0)
            .map(drop)
    }

    /// `RTM_NEWADDR`: `address` with its prefix on link `index`. IPv6 addresses skip
    /// duplicate address detection: the link is point to point and new, and a tentative
    /// address would not be usable when the command starts.
    fn add_address(&mut self, index: u32, address: IpNet) -> io::Result<()> {
        let ip = address.addr();
        let mut msg = AddressMessage::default();
        msg.header.family = family(ip);
        msg.header.prefix_len = address.prefix_len();
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        if ip.is_ipv6() {
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        self.transact(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// `RTM_NEWROUTE`: the default route of the main table via `gateway` on link `index`.
    fn add_default_route(&mut self, gateway: IpAddr, index: u32) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(gateway);
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(gateway.into()));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.transact(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// An answer the crate cannot decode, as an `InvalidData` I/O error.
fn invalid(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::net::host_ifname;

    fn private_plan() -> NetworkPlan {
        let spec =
            crate::plan::tests::spec("[network]\nmode = \"private\"\naddress = \"10.77.0.2/30\"\n");
        crate::plan::net::plan(&spec, std::path::Path::new("/run/stockade/web")).unwrap()
    }

    #[test]
    fn private_steps_all_run_in_the_creator() {
        let plan = private_plan();
        assert!(steps_in_child(&plan).is_empty());
        // The host end is made and moved from the host; the rest is where the plan says.
        let on_host: Vec<_> = plan
            .steps
            .iter()
            .filter(|s| step_netns(s) == Netns::Host)
            .map(ToString::to_string)
            .collect();
        let host = host_ifname("web", std::path::Path::new("/run/stockade/web"));
        assert_eq!(
            on_host,
            [
                format!("[host] create veth pair {host} <-> eth0 (in the environment's namespace)"),
                format!("[host] add address 10.77.0.1/30 to {host}"),
                format!("[host] bring {host} up"),
            ]
        );
    }

    #[test]
    fn none_brings_lo_up_in_the_child() {
        let plan = crate::plan::net::plan(
            &crate::plan::tests::spec(""),
            std::path::Path::new("/run/stockade/web"),
        )
        .unwrap();
        assert_eq!(steps_in_child(&plan), plan.steps.as_slice());
        assert_eq!(plan.steps.len(), 1);
    }

    #[test]
    fn undo_refuses_names_stockade_never_makes() {
        for name in ["eth0", "lo", "docker0", "sp-web-1234567"] {
            let err = delete_host_interface(name).unwrap_err();
            assert!(matches!(err, NetError::NotOurs { .. }), "{name}: {err}");
            assert!(err.to_string().contains("ip link delete"), "{err}");
        }
    }

    #[test]
    fn step_errors_keep_errno_and_say_what_to_do() {
        let plan = private_plan();
        let create = &plan.steps[0];
        let err = step_error(create, io::Error::from_raw_os_error(libc::EEXIST));
        let NetError::Step { ref source, .. } = err else {
            panic!("{err:?}");
        };
        assert_eq!(source.raw_os_error(), Some(libc::EEXIST));
        let text = err.to_string();
        assert!(text.contains("create veth pair"), "{text}");
        assert!(text.contains("ip link delete sk-web-"), "{text}");
        let err = step_error(create, io::Error::from_raw_os_error(libc::EPERM));
        assert!(err.to_string().contains("CAP_NET_ADMIN"), "{err}");
    }
}
