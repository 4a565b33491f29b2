//! nf_tables over netlink (`NETLINK_NETFILTER`, subsystem `NFNL_SUBSYS_NFTABLES`): the
//! few messages stockade sends — tables, sets and their elements, chains, rules of
//! `meta`, `payload`, `cmp`, `fib`, `immediate`, `nat` and `masq` expressions — in
//! batches the kernel applies as one transaction (all or nothing).
//!
//! # Why our own encoder
//! The messages are nested type-length-value attributes after a `nfgenmsg` header, which a
//! hundred lines encode. The pure-Rust nftables crate (rustables) is GPL-3.0, which this
//! Apache-2.0 project cannot link; `nftnl` binds the C libnftnl; and shelling out to
//! nft(8) would make a host tool a runtime dependency and parse its text. The values
//! follow `include/uapi/linux/netfilter/nf_tables.h`; `nft list ruleset` reads the result
//! back in the tests.
//!
//! # Answers
//! nfnetlink handles a batch synchronously inside `send(2)`, so every acknowledgement is
//! queued on the socket when `send` returns: the answers are read without blocking until
//! the queue is empty, and the first error is the batch's.

use std::io;
use std::net::IpAddr;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};

/// `NFNL_SUBSYS_NFTABLES`.
const SUBSYS: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
/// Modifiers of NEW requests.
pub const NLM_F_EXCL: u16 = 0x200;
/// Modifiers of NEW requests.
pub const NLM_F_CREATE: u16 = 0x400;
/// Modifier of NEWRULE: append the rule (without it, the rule goes first).
pub const NLM_F_APPEND: u16 = 0x800;
/// Modifier of DEL requests: fail with `EBUSY` instead of deleting the contents.
pub const NLM_F_NONREC: u16 = 0x100;
const NLA_F_NESTED: u16 = 0x8000;

/// `NFPROTO_INET`: the family of stockade's table.
pub const NFPROTO_INET: u8 = 1;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// The nf_tables message types used here (`enum nf_tables_msg_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum MsgType {
    /// `NFT_MSG_NEWTABLE`.
    NewTable = 0,
    /// `NFT_MSG_GETTABLE`.
    GetTable = 1,
    /// `NFT_MSG_DELTABLE`.
    DelTable = 2,
    /// `NFT_MSG_NEWCHAIN`.
    NewChain = 3,
    /// `NFT_MSG_GETCHAIN`.
    GetChain = 4,
    /// `NFT_MSG_DELCHAIN`.
    DelChain = 5,
    /// `NFT_MSG_NEWRULE`.
    NewRule = 6,
    /// `NFT_MSG_NEWSET`.
    NewSet = 9,
    /// `NFT_MSG_DELSET`.
    DelSet = 11,
    /// `NFT_MSG_NEWSETELEM`.
    NewSetElem = 12,
    /// `NFT_MSG_DELSETELEM`.
    DelSetElem = 14,
}

/// Netlink attributes under construction: `len: u16, type: u16, value`, each padded to 4
/// bytes.
#[derive(Debug, Default, Clone)]
pub struct Attrs(Vec<u8>);

impl Attrs {
    /// Empty.
    pub fn new() -> Attrs {
        Attrs::default()
    }

    /// One attribute of raw bytes.
    pub fn bytes(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + value.len()).expect("an attribute shorter than 64 KiB");
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(value);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    /// A NUL-terminated string.
    pub fn str(&mut self, kind: u16, value: &str) -> &mut Self {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.bytes(kind, &v)
    }

    /// A 32-bit number in network byte order (as nf_tables wants its numbers).
    pub fn be32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// A nested attribute holding `inner`.
    pub fn nest(&mut self, kind: u16, inner: &Attrs) -> &mut Self {
        self.bytes(kind | NLA_F_NESTED, &inner.0)
    }

    /// `NFTA_DATA_VALUE` nested in `kind` (how values travel in `cmp`, `immediate` and set
    /// elements).
    pub fn data(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        self.nest(kind, Attrs::new().bytes(1, value))
    }
}

/// One nf_tables request.
#[derive(Debug, Clone)]
pub struct Msg {
    kind: MsgType,
    flags: u16,
    family: u8,
    attrs: Attrs,
}

impl Msg {
    /// A request of `kind` on `family` with `attrs`, and extra `flags` (`NLM_F_CREATE`, …).
    pub fn new(kind: MsgType, family: u8, flags: u16, attrs: Attrs) -> Msg {
        Msg {
            kind,
            flags,
            family,
            attrs,
        }
    }
}

/// Appends one netlink message: header, `nfgenmsg` (family, version 0, `res_id`), attrs.
fn put(out: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]) {
    let len = u32::try_from(16 + 4 + attrs.len()).expect("a message shorter than 4 GiB");
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.push(family);
    out.push(0);
    out.extend_from_slice(&res_id.to_be_bytes());
    out.extend_from_slice(attrs);
}

/// The largest datagram read at once.
const RECV_BUFFER: usize = 64 * 1024;

/// A netfilter netlink socket in the caller's network namespace.
pub struct Nfnl {
    socket: Socket,
    sequence: u32,
    buffer: Vec<u8>,
}

impl Nfnl {
    /// Opens one.
    pub fn open() -> io::Result<Nfnl> {
        let mut socket = Socket::new(NETLINK_NETFILTER)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Nfnl {
            socket,
            sequence: 0,
            buffer: Vec::with_capacity(RECV_BUFFER),
        })
    }

    fn next_seq(&mut self) -> u32 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    /// Applies `msgs` as one transaction: all of them, or none. An error comes with the
    /// index of the message the kernel refused.
    pub fn batch(&mut self, msgs: &[Msg]) -> Result<(), (usize, io::Error)> {
        self.send_batch(msgs, true)
    }

    /// Has the kernel validate `msgs` as a transaction and throw it away: the batch goes
    /// without its end marker, as `nft --check` sends it.
    pub fn check(&mut self, msgs: &[Msg]) -> Result<(), (usize, io::Error)> {
        self.send_batch(msgs, false)
    }

    fn send_batch(&mut self, msgs: &[Msg], commit: bool) -> Result<(), (usize, io::Error)> {
        let mut bytes = Vec::new();
        let begin = self.next_seq();
        put(
            &mut bytes,
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            begin,
            0,
            SUBSYS,
            &[],
        );
        for m in msgs {
            let seq = self.next_seq();
            let kind = (SUBSYS << 8) | m.kind as u16;
            let flags = NLM_F_REQUEST | NLM_F_ACK | m.flags;
            put(&mut bytes, kind, flags, seq, m.family, 0, &m.attrs.0);
        }
        let last = self.sequence;
        if commit {
            let end = self.next_seq();
            put(
                &mut bytes,
                NFNL_MSG_BATCH_END,
                NLM_F_REQUEST,
                end,
                0,
                SUBSYS,
                &[],
            );
        }
        let whole = |e| (usize::MAX, e);
        self.socket.send(&bytes, 0).map_err(whole)?;
        let mut first_error = None;
        self.drain(begin, last, |_, _| {}, &mut first_error)
            .map_err(whole)?;
        match first_error {
            None => Ok(()),
            Some((seq, e)) => Err(((seq.wrapping_sub(begin) as usize).wrapping_sub(1), e)),
        }
    }

    /// Sends one request outside a batch (a GET) and returns the attributes of each
    /// answer, after its `nfgenmsg`.
    pub fn get(&mut self, msg: &Msg) -> io::Result<Vec<Vec<u8>>> {
        let mut bytes = Vec::new();
        let seq = self.next_seq();
        let kind = (SUBSYS << 8) | msg.kind as u16;
        put(
            &mut bytes,
            kind,
            NLM_F_REQUEST | NLM_F_ACK | msg.flags,
            seq,
            msg.family,
            0,
            &msg.attrs.0,
        );
        self.socket.send(&bytes, 0)?;
        let mut answers = Vec::new();
        let mut first_error = None;
        self.drain(
            seq,
            seq,
            |_, payload| answers.push(payload.get(4..).unwrap_or_default().to_vec()),
            &mut first_error,
        )?;
        first_error.map_or(Ok(answers), |(_, e)| Err(e))
    }

    /// Reads every queued answer with a sequence number in `first..=last`, passing data
    /// messages to `each` and keeping the first negative acknowledgement.
    fn drain(
        &mut self,
        first: u32,
        last: u32,
        mut each: impl FnMut(u16, &[u8]),
        first_error: &mut Option<(u32, io::Error)>,
    ) -> io::Result<()> {
        loop {
            self.buffer.clear();
            let size = match self
                .socket
                .recv(&mut self.buffer, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(size) => size,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            };
            if size > self.buffer.len() {
                return Err(io::Error::other(format!(
                    "a netfilter answer of {size} bytes does not fit in {RECV_BUFFER}"
                )));
            }
            let mut rest = &self.buffer[..size];
            while rest.len() >= 16 {
                let len = u32::from_ne_bytes(rest[0..4].try_into().unwrap_or_default()) as usize;
                let kind = u16::from_ne_bytes(rest[4..6].try_into().unwrap_or_default());
                let seq = u32::from_ne_bytes(rest[8..12].try_into().unwrap_or_default());
                if len < 16 || len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a truncated netlink message",
                    ));
                }
                let payload = &rest[16..len];
                if (first..=last).contains(&seq) {
                    match kind {
                        NLMSG_ERROR => {
                            let code = payload
                                .get(0..4)
                                .map(|b| i32::from_ne_bytes(b.try_into().unwrap_or_default()))
                                .unwrap_or(0);
                            if code < 0 && first_error.is_none() {
                                *first_error = Some((seq, io::Error::from_raw_os_error(-code)));
                            }
                        }
                        NLMSG_DONE => {}
                        _ => each(kind, payload),
                    }
                }
                rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
            }
        }
    }
}

/// The value of attribute `kind` among `attrs` (flat, one level).
pub fn find_attr(attrs: &[u8], kind: u16) -> Option<&[u8]> {
    let mut rest = attrs;
    while rest.len() >= 4 {
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let k = u16::from_ne_bytes([rest[2], rest[3]]) & !NLA_F_NESTED;
        if len < 4 || len > rest.len() {
            return None;
        }
        if k == kind {
            return Some(&rest[4..len]);
        }
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
    }
    None
}

// Attributes (`enum nft_*_attributes`).
const NFTA_TABLE_NAME: u16 = 1;
/// `NFTA_TABLE_USE`: how many chains, sets, … the table holds.
pub const NFTA_TABLE_USE: u16 = 3;
/// `NFTA_TABLE_USERDATA`: free bytes kept with the table.
pub const NFTA_TABLE_USERDATA: u16 = 6;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_CHAIN_HOOK: u16 = 4;
const NFTA_CHAIN_TYPE: u16 = 7;
const NFTA_HOOK_HOOKNUM: u16 = 1;
const NFTA_HOOK_PRIORITY: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_EXPR_DATA: u16 = 2;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_KEY_TYPE: u16 = 4;
const NFTA_SET_KEY_LEN: u16 = 5;
const NFTA_SET_ID: u16 = 10;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;

/// nft's datatype number of `inet_service` (a port), so `nft list` prints the elements
/// as ports.
const TYPE_INET_SERVICE: u32 = 13;

/// A table of stockade's family; `userdata` only when creating it.
pub fn table(name: &str, userdata: Option<&[u8]>) -> Attrs {
    let mut a = Attrs::new();
    a.str(NFTA_TABLE_NAME, name);
    if let Some(data) = userdata {
        a.bytes(NFTA_TABLE_USERDATA, data);
    }
    a
}

/// A set of ports (`type inet_service`).
pub fn port_set(table: &str, name: &str, id: u32) -> Attrs {
    let mut a = Attrs::new();
    a.str(NFTA_SET_TABLE, table)
        .str(NFTA_SET_NAME, name)
        .be32(NFTA_SET_KEY_TYPE, TYPE_INET_SERVICE)
        .be32(NFTA_SET_KEY_LEN, 2)
        .be32(NFTA_SET_ID, id);
    a
}

/// A set by name (to delete it).
pub fn set_ref(table: &str, name: &str) -> Attrs {
    let mut a = Attrs::new();
    a.str(NFTA_SET_TABLE, table).str(NFTA_SET_NAME, name);
    a
}

/// One port element of a port set.
pub fn port_element(table: &str, set: &str, port: u16) -> Attrs {
    let mut key = Attrs::new();
    key.data(NFTA_SET_ELEM_KEY, &port.to_be_bytes());
    let mut elements = Attrs::new();
    elements.nest(NFTA_LIST_ELEM, &key);
    let mut a = Attrs::new();
    a.str(NFTA_SET_ELEM_LIST_TABLE, table)
        .str(NFTA_SET_ELEM_LIST_SET, set)
        .nest(NFTA_SET_ELEM_LIST_ELEMENTS, &elements);
    a
}

/// A chain by name (to delete it).
pub fn chain_ref(table: &str, name: &str) -> Attrs {
    let mut a = Attrs::new();
    a.str(NFTA_CHAIN_TABLE, table).str(NFTA_CHAIN_NAME, name);
    a
}

/// A base chain of `kind` (`nat`, `filter`) at `hooknum` (`NF_INET_*`) with `priority`.
pub fn base_chain(table: &str, name: &str, kind: &str, hooknum: u32, priority: i32) -> Attrs {
    let mut hook = Attrs::new();
    hook.be32(NFTA_HOOK_HOOKNUM, hooknum)
        .bytes(NFTA_HOOK_PRIORITY, &priority.to_be_bytes());
    let mut a = chain_ref(table, name);
    a.nest(NFTA_CHAIN_HOOK, &hook).str(NFTA_CHAIN_TYPE, kind);
    a
}

/// A rule appended to `chain`, of `exprs` in order.
pub fn rule(table: &str, chain: &str, exprs: &[Expr]) -> Attrs {
    let mut list = Attrs::new();
    for e in exprs {
        let mut expr = Attrs::new();
        expr.str(NFTA_EXPR_NAME, e.name);
        if let Some(data) = &e.data {
            expr.nest(NFTA_EXPR_DATA, data);
        }
        list.nest(NFTA_LIST_ELEM, &expr);
    }
    let mut a = Attrs::new();
    a.str(NFTA_RULE_TABLE, table)
        .str(NFTA_RULE_CHAIN, chain)
        .nest(NFTA_RULE_EXPRESSIONS, &list);
    a
}

/// One expression of a rule.
#[derive(Debug, Clone)]
pub struct Expr {
    name: &'static str,
    data: Option<Attrs>,
}

/// `NFT_REG_1`, `NFT_REG_2`: 16-byte data registers.
const REG_1: u32 = 1;
const REG_2: u32 = 2;
const NFT_REG_VERDICT: u32 = 0;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
const NFT_META_NFPROTO: u32 = 15;
const NFT_META_L4PROTO: u32 = 16;
const NFT_PAYLOAD_NETWORK_HEADER: u32 = 1;
const NFT_PAYLOAD_TRANSPORT_HEADER: u32 = 2;
const NFT_CMP_EQ: u32 = 0;
const NFT_CMP_NEQ: u32 = 1;
const NFT_FIB_RESULT_ADDRTYPE: u32 = 3;
const NFTA_FIB_F_DADDR: u32 = 2;
const RTN_LOCAL: u32 = 2;
const NFT_NAT_DNAT: u32 = 1;

fn meta(key: u32) -> Expr {
    let mut a = Attrs::new();
    a.be32(1, REG_1).be32(2, key);
    Expr {
        name: "meta",
        data: Some(a),
    }
}

fn payload(base: u32, offset: u32, len: u32) -> Expr {
    let mut a = Attrs::new();
    a.be32(1, REG_1).be32(2, base).be32(3, offset).be32(4, len);
    Expr {
        name: "payload",
        data: Some(a),
    }
}

fn cmp(op: u32, value: &[u8]) -> Expr {
    let mut a = Attrs::new();
    a.be32(1, REG_1).be32(2, op).data(3, value);
    Expr {
        name: "cmp",
        data: Some(a),
    }
}

fn immediate(reg: u32, value: &[u8]) -> Expr {
    let mut a = Attrs::new();
    a.be32(1, reg).data(2, value);
    Expr {
        name: "immediate",
        data: Some(a),
    }
}

/// `meta nfproto ipv4|ipv6`: an inet table sees both families.
pub fn match_family(ip: IpAddr) -> Vec<Expr> {
    let proto = if ip.is_ipv4() {
        NFPROTO_IPV4
    } else {
        NFPROTO_IPV6
    };
    vec![meta(NFT_META_NFPROTO), cmp(NFT_CMP_EQ, &[proto])]
}

/// `ip saddr ADDR` / `ip6 saddr ADDR` (after [`match_family`]).
pub fn match_saddr(ip: IpAddr) -> Vec<Expr> {
    match ip {
        IpAddr::V4(v4) => vec![
            payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 4),
            cmp(NFT_CMP_EQ, &v4.octets()),
        ],
        IpAddr::V6(v6) => vec![
            payload(NFT_PAYLOAD_NETWORK_HEADER, 8, 16),
            cmp(NFT_CMP_EQ, &v6.octets()),
        ],
    }
}

/// `ip daddr ADDR` / `ip6 daddr ADDR` (after [`match_family`]).
pub fn match_daddr(ip: IpAddr) -> Vec<Expr> {
    match ip {
        IpAddr::V4(v4) => vec![
            payload(NFT_PAYLOAD_NETWORK_HEADER, 16, 4),
            cmp(NFT_CMP_EQ, &v4.octets()),
        ],
        IpAddr::V6(v6) => vec![
            payload(NFT_PAYLOAD_NETWORK_HEADER, 24, 16),
            cmp(NFT_CMP_EQ, &v6.octets()),
        ],
    }
}

/// `ip saddr 127.0.0.0/8`: the first byte of the IPv4 source is 127.
pub fn match_loopback_saddr() -> Vec<Expr> {
    vec![
        payload(NFT_PAYLOAD_NETWORK_HEADER, 12, 1),
        cmp(NFT_CMP_EQ, &[127]),
    ]
}

/// `fib daddr type local`: the destination is one of the host's addresses.
pub fn match_local_daddr() -> Vec<Expr> {
    let mut a = Attrs::new();
    a.be32(1, REG_1)
        .be32(2, NFT_FIB_RESULT_ADDRTYPE)
        .be32(3, NFTA_FIB_F_DADDR);
    vec![
        Expr {
            name: "fib",
            data: Some(a),
        },
        // The address type is a host-order u32 in the register.
        cmp(NFT_CMP_EQ, &RTN_LOCAL.to_ne_bytes()),
    ]
}

/// `meta l4proto PROTO th dport PORT`.
pub fn match_dport(l4proto: u8, port: u16) -> Vec<Expr> {
    vec![
        meta(NFT_META_L4PROTO),
        cmp(NFT_CMP_EQ, &[l4proto]),
        payload(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2),
        cmp(NFT_CMP_EQ, &port.to_be_bytes()),
    ]
}

/// `oifname NAME` (`equal`) or `oifname != NAME`.
pub fn match_oifname(name: &str, equal: bool) -> Vec<Expr> {
    vec![
        meta(NFT_META_OIFNAME),
        cmp(if equal { NFT_CMP_EQ } else { NFT_CMP_NEQ }, &ifname(name)),
    ]
}

/// `iifname NAME`.
pub fn match_iifname(name: &str) -> Vec<Expr> {
    vec![meta(NFT_META_IIFNAME), cmp(NFT_CMP_EQ, &ifname(name))]
}

/// `oifname "PREFIX*"`: only the prefix's bytes are compared.
pub fn match_oifname_prefix(prefix: &str) -> Vec<Expr> {
    vec![meta(NFT_META_OIFNAME), cmp(NFT_CMP_EQ, prefix.as_bytes())]
}

/// An interface name as `meta iifname`/`oifname` load it: IFNAMSIZ bytes, NUL-padded.
fn ifname(name: &str) -> [u8; 16] {
    let mut value = [0u8; 16];
    let n = name.len().min(15);
    value[..n].copy_from_slice(&name.as_bytes()[..n]);
    value
}

/// `drop`: an immediate verdict.
pub fn drop_verdict() -> Vec<Expr> {
    // NFTA_VERDICT_CODE (1) = NF_DROP (0), nested in NFTA_DATA_VERDICT (2).
    let mut verdict = Attrs::new();
    verdict.be32(1, 0);
    let mut data = Attrs::new();
    data.nest(2, &verdict);
    let mut a = Attrs::new();
    a.be32(1, NFT_REG_VERDICT).nest(2, &data);
    vec![Expr {
        name: "immediate",
        data: Some(a),
    }]
}

/// `dnat ip|ip6 to ADDR:PORT`.
pub fn dnat(to: IpAddr, port: u16) -> Vec<Expr> {
    let (family, addr) = match to {
        IpAddr::V4(v4) => (NFPROTO_IPV4, v4.octets().to_vec()),
        IpAddr::V6(v6) => (NFPROTO_IPV6, v6.octets().to_vec()),
    };
    let mut nat = Attrs::new();
    nat.be32(1, NFT_NAT_DNAT)
        .be32(2, u32::from(family))
        .be32(3, REG_1)
        .be32(5, REG_2);
    vec![
        immediate(REG_1, &addr),
        immediate(REG_2, &port.to_be_bytes()),
        Expr {
            name: "nat",
            data: Some(nat),
        },
    ]
}

/// `masquerade`.
pub fn masquerade() -> Vec<Expr> {
    vec![Expr {
        name: "masq",
        data: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_length_type_value_padded_to_four() {
        let mut a = Attrs::new();
        a.str(1, "ab").be32(2, 7);
        let mut expected = Vec::new();
        expected.extend_from_slice(&7u16.to_ne_bytes());
        expected.extend_from_slice(&1u16.to_ne_bytes());
        expected.extend_from_slice(b"ab\0\0");
        expected.extend_from_slice(&8u16.to_ne_bytes());
        expected.extend_from_slice(&2u16.to_ne_bytes());
        expected.extend_from_slice(&[0, 0, 0, 7]);
        assert_eq!(a.0, expected);
        assert_eq!(find_attr(&a.0, 2), Some(&[0, 0, 0, 7][..]));
        assert_eq!(find_attr(&a.0, 1), Some(&b"ab\0"[..]));
        assert_eq!(find_attr(&a.0, 3), None);
    }

    #[test]
    fn nested_attributes_carry_the_nested_flag() {
        let mut a = Attrs::new();
        a.data(3, &[1, 2]);
        assert_eq!(u16::from_ne_bytes([a.0[2], a.0[3]]), 3 | NLA_F_NESTED);
        assert_eq!(
            find_attr(&a.0, 3).map(|inner| find_attr(inner, 1)),
            Some(Some(&[1, 2][..]))
        );
    }
}
