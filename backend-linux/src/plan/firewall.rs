//! The private network's reach (`network.nat`, `network.publish`): nftables rules, as data.
//!
//! Everything lives in one table stockade owns, `inet stockade`, so the administrator's own
//! tables are never touched. The table holds two sets, `tcp_ports` and `udp_ports`: each
//! environment adds its published host ports there with `NLM_F_EXCL`, so the kernel itself
//! refuses a port another environment holds, atomically with that environment's chains.
//! Each environment then owns its chains, named after its host interface (unique per state
//! root, see [`super::net::host_ifname`]):
//!
//! - `<if>-pre` (nat, prerouting, dstnat): a published port, reached from outside, is
//!   DNATed to the environment;
//! - `<if>-out` (nat, output, dstnat): the same for the host's own connections, to any of
//!   its addresses, 127.0.0.1 included;
//! - `<if>-post` (nat, postrouting, srcnat): masquerade of the environment's traffic that
//!   leaves by another interface (`nat`), and of loopback-sourced traffic to the
//!   environment (the host's own connections to 127.0.0.1, which the environment could not
//!   answer).
//!
//! - `<if>-fwd` (filter, forward): what the environment sends to another environment's
//!   interface is dropped: forwarding is on for its interface, and environments must
//!   still not reach each other.
//!
//! A NAT chain sees only the first packet of a connection (conntrack does the rest), so a
//! few chains per environment cost established traffic nothing. Delete removes the chains
//! and the set elements by name; the table goes with the last environment.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use stockade_core::spec::{NetworkMode, Protocol, Publish, Spec};

use super::net::HOST_IFNAME_PREFIX;

/// The nftables table (family `inet`) that holds every stockade rule.
pub const TABLE: &str = "stockade";

/// The set holding the claimed host ports of a protocol.
pub fn port_set(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp_ports",
        Protocol::Udp => "udp_ports",
    }
}

/// The netfilter hook of a NAT chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// `prerouting`, priority dstnat (-100).
    Prerouting,
    /// `output`, priority dstnat (-100).
    Output,
    /// `postrouting`, priority srcnat (100).
    Postrouting,
    /// `forward`, a filter chain at priority filter (0).
    Forward,
}

impl Hook {
    /// The suffix of the chain's name.
    pub fn suffix(self) -> &'static str {
        match self {
            Hook::Prerouting => "pre",
            Hook::Output => "out",
            Hook::Postrouting => "post",
            Hook::Forward => "fwd",
        }
    }

    /// nft's name of the hook.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Forward => "forward",
        }
    }

    /// The chain priority: NF_IP_PRI_NAT_DST or NF_IP_PRI_NAT_SRC.
    pub fn priority(self) -> i32 {
        match self {
            Hook::Prerouting | Hook::Output => -100,
            Hook::Postrouting => 100,
            Hook::Forward => 0,
        }
    }

    /// The chain type: `nat`, or `filter` for the forward hook.
    pub fn chain_type(self) -> &'static str {
        match self {
            Hook::Forward => "filter",
            _ => "nat",
        }
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rule {
    /// A published port: connections to it are sent to the environment.
    Dnat {
        /// The host port and address (`None`: any local address).
        publish: Publish,
        /// The environment's address.
        to: IpAddr,
    },
    /// Outbound NAT: the environment's packets leaving by another interface.
    Masquerade {
        /// The environment's address.
        from: IpAddr,
        /// Its host interface, where its packets must not be masqueraded.
        not_out: String,
    },
    /// Hairpin: the host's own connections from 127.0.0.0/8 to the environment.
    MasqueradeLoopback {
        /// The environment's host interface.
        out: String,
    },
    /// Isolation: what the environment sends towards another environment's interface is
    /// dropped, so turning forwarding on does not join environments to each other.
    DropToOthers {
        /// The environment's host interface.
        from: String,
    },
}

impl fmt::Display for Rule {
    /// In nft(8)'s syntax, so the plan reads like `nft list ruleset`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Dnat { publish, to } => {
                let family = if to.is_ipv4() { "ip" } else { "ip6" };
                match publish.host_ip {
                    Some(ip) => write!(f, "{family} daddr {ip} ")?,
                    None => write!(
                        f,
                        "meta nfproto ipv{} fib daddr type local ",
                        if to.is_ipv4() { 4 } else { 6 }
                    )?,
                }
                let to = match to {
                    IpAddr::V4(ip) => ip.to_string(),
                    IpAddr::V6(ip) => format!("[{ip}]"),
                };
                write!(
                    f,
                    "{proto} dport {} dnat {family} to {to}:{}",
                    publish.host_port,
                    publish.port,
                    proto = publish.protocol.name()
                )
            }
            Rule::Masquerade { from, not_out } => {
                let family = if from.is_ipv4() { "ip" } else { "ip6" };
                write!(
                    f,
                    "{family} saddr {from} oifname != \"{not_out}\" masquerade"
                )
            }
            Rule::MasqueradeLoopback { out } => {
                write!(f, "ip saddr 127.0.0.0/8 oifname \"{out}\" masquerade")
            }
            Rule::DropToOthers { from } => {
                write!(
                    f,
                    "iifname \"{from}\" oifname \"{HOST_IFNAME_PREFIX}*\" drop"
                )
            }
        }
    }
}

/// One NAT chain of an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chain {
    /// Its name in the table.
    pub name: String,
    /// Where it hooks.
    pub hook: Hook,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
}

/// The firewall side of a private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FirewallPlan {
    /// The environment's host interface: chains are named after it, and forwarding is
    /// turned on for it.
    pub owner: String,
    /// The spec's published ports.
    pub publish: Vec<Publish>,
    /// The host ports claimed in the port sets.
    pub ports: Vec<(Protocol, u16)>,
    /// The chains, made in one transaction with the claims.
    pub chains: Vec<Chain>,
    /// Whether the environment's traffic is forwarded beyond the host (NAT or a port
    /// reachable from other machines): turns on forwarding for its interface and for the
    /// host's default-route interface.
    pub forwarding: bool,
    /// Whether loopback-sourced packets may go out the environment's interface
    /// (`route_localnet`, for published ports reached on 127.0.0.1).
    pub route_localnet: bool,
    /// Whether the environment's address is IPv6 (its forwarding switches are
    /// `net.ipv6.conf.*`).
    pub ipv6: bool,
}

impl FirewallPlan {
    /// A claimed port as the set element is shown and recorded, e.g. `tcp/8080`.
    pub fn port_names(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|(p, port)| format!("{}/{port}", p.name()))
            .collect()
    }

    /// The lines of what is made before the environment's process exists: port claims,
    /// chains and rules (then [`FirewallPlan::describe_sysctls`], once its link is up).
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (protocol, port) in &self.ports {
            lines.push(format!(
                "[host] nft: claim port {port} in set inet {TABLE} {} (refused if taken)",
                port_set(*protocol)
            ));
        }
        for chain in &self.chains {
            lines.push(format!(
                "[host] nft: chain inet {TABLE} {} {{ type {} hook {} priority {}; }}",
                chain.name,
                chain.hook.chain_type(),
                chain.hook.name(),
                chain.hook.priority()
            ));
            for rule in &chain.rules {
                lines.push(format!("[host] nft:   {rule}"));
            }
        }
        lines
    }

    /// The lines of the per-interface switches, set once the environment's link is up.
    pub fn describe_sysctls(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.forwarding && self.ipv6 {
            lines.push(
                "[host] sysctl net.ipv6.conf.all.forwarding = 1 (host-wide: IPv6 has no per-interface routing switch), after accept_ra = 2 on the IPv6 default route's interfaces that take router advertisements (restored with the last environment)"
                    .to_string(),
            );
        } else if self.forwarding {
            lines.push(format!(
                "[host] sysctl net.ipv4.conf.{}.forwarding = 1, and on the default route's interface (restored with the last environment)",
                self.owner
            ));
        }
        if self.route_localnet {
            lines.push(format!(
                "[host] sysctl net.ipv4.conf.{}.route_localnet = 1",
                self.owner
            ));
        }
        lines
    }
}

/// The firewall of a spec whose host interface is `owner`; `None` when it needs none
/// (not private, or no NAT and nothing published).
pub fn plan(spec: &Spec, owner: &str, address: IpNet) -> Option<FirewallPlan> {
    let net = &spec.network;
    if net.mode != NetworkMode::Private || (!net.nat && net.publish.is_empty()) {
        return None;
    }
    let to = address.addr();
    let dnat: Vec<Rule> = net
        .publish
        .iter()
        .map(|p| Rule::Dnat { publish: *p, to })
        .collect();
    let mut post = Vec::new();
    if net.nat {
        post.push(Rule::Masquerade {
            from: to,
            not_out: owner.into(),
        });
    }
    let loopback = to.is_ipv4()
        && net
            .publish
            .iter()
            .any(|p| p.host_ip.is_none_or(|ip| ip.is_loopback()));
    if loopback {
        post.push(Rule::MasqueradeLoopback { out: owner.into() });
    }
    let mut chains = Vec::new();
    if !dnat.is_empty() {
        for hook in [Hook::Prerouting, Hook::Output] {
            chains.push(Chain {
                name: format!("{owner}-{}", hook.suffix()),
                hook,
                rules: dnat.clone(),
            });
        }
    }
    if !post.is_empty() {
        chains.push(Chain {
            name: format!("{owner}-{}", Hook::Postrouting.suffix()),
            hook: Hook::Postrouting,
            rules: post,
        });
    }
    let mut ports: Vec<(Protocol, u16)> = net
        .publish
        .iter()
        .map(|p| (p.protocol, p.host_port))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let reachable_from_outside = net
        .publish
        .iter()
        .any(|p| p.host_ip.is_none_or(|ip| !ip.is_loopback()));
    let forwarding = net.nat || reachable_from_outside;
    if forwarding {
        chains.push(Chain {
            name: format!("{owner}-{}", Hook::Forward.suffix()),
            hook: Hook::Forward,
            rules: vec![Rule::DropToOthers { from: owner.into() }],
        });
    }
    Some(FirewallPlan {
        owner: owner.into(),
        publish: net.publish.clone(),
        ports,
        chains,
        forwarding,
        route_localnet: loopback,
        ipv6: !to.is_ipv4(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    fn plan_of(extra: &str) -> Option<FirewallPlan> {
        let s = spec(&format!(
            "[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n{extra}"
        ));
        plan(&s, "sk-web-1234567", s.network.address.unwrap())
    }

    #[test]
    fn nat_is_one_masquerade_rule() {
        let p = plan_of("").unwrap();
        assert!(p.ports.is_empty());
        assert!(p.forwarding && !p.route_localnet);
        let mut lines = p.describe();
        lines.extend(p.describe_sysctls());
        assert_eq!(
            lines,
            [
                "[host] nft: chain inet stockade sk-web-1234567-post { type nat hook postrouting priority 100; }",
                "[host] nft:   ip saddr 10.77.0.2 oifname != \"sk-web-1234567\" masquerade",
                "[host] nft: chain inet stockade sk-web-1234567-fwd { type filter hook forward priority 0; }",
                "[host] nft:   iifname \"sk-web-1234567\" oifname \"sk-*\" drop",
                "[host] sysctl net.ipv4.conf.sk-web-1234567.forwarding = 1, and on the default route's interface (restored with the last environment)",
            ]
        );
    }

    #[test]
    fn no_nat_and_nothing_published_needs_no_firewall() {
        assert_eq!(plan_of("nat = false\n"), None);
        let s = spec("[network]\nmode = \"host\"\n");
        assert_eq!(plan(&s, "x", "10.0.0.2/24".parse().unwrap()), None);
    }

    #[test]
    fn published_ports_are_claimed_and_dnatted_from_outside_and_the_host() {
        let p = plan_of("publish = [\"18080:80\", \"127.0.0.1:5353:53/udp\"]\n").unwrap();
        assert_eq!(p.ports, [(Protocol::Tcp, 18080), (Protocol::Udp, 5353)]);
        assert_eq!(p.port_names(), ["tcp/18080", "udp/5353"]);
        assert!(p.route_localnet && p.forwarding);
        let names: Vec<&str> = p.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "sk-web-1234567-pre",
                "sk-web-1234567-out",
                "sk-web-1234567-post",
                "sk-web-1234567-fwd"
            ]
        );
        let lines = p.describe();
        assert!(lines.contains(
            &"[host] nft:   meta nfproto ipv4 fib daddr type local tcp dport 18080 dnat ip to 10.77.0.2:80".to_string()
        ), "{lines:#?}");
        assert!(lines.contains(
            &"[host] nft:   ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.77.0.2:53".to_string()
        ));
        assert!(lines.contains(
            &"[host] nft:   ip saddr 127.0.0.0/8 oifname \"sk-web-1234567\" masquerade".to_string()
        ));
        assert_eq!(
            p.describe_sysctls()[1],
            "[host] sysctl net.ipv4.conf.sk-web-1234567.route_localnet = 1"
        );
    }

    #[test]
    fn loopback_only_publishing_without_nat_forwards_nothing() {
        let p = plan_of("nat = false\npublish = [\"127.0.0.1:8080:80\"]\n").unwrap();
        assert!(!p.forwarding && p.route_localnet);
    }

    #[test]
    fn ipv6_environments_get_ip6_rules_and_no_hairpin() {
        let s = spec(
            "[network]\nmode = \"private\"\naddress = \"fd00:77::2/64\"\npublish = [\"8080:80\"]\n",
        );
        let p = plan(&s, "sk-v6-1234567", s.network.address.unwrap()).unwrap();
        let lines = p.describe();
        assert!(lines.contains(
            &"[host] nft:   meta nfproto ipv6 fib daddr type local tcp dport 8080 dnat ip6 to [fd00:77::2]:80".to_string()
        ), "{lines:#?}");
        assert!(lines.contains(
            &"[host] nft:   ip6 saddr fd00:77::2 oifname != \"sk-v6-1234567\" masquerade"
                .to_string()
        ));
        assert!(!p.route_localnet);
        assert_eq!(
            p.describe_sysctls(),
            ["[host] sysctl net.ipv6.conf.all.forwarding = 1 (host-wide: IPv6 has no per-interface routing switch), after accept_ra = 2 on the IPv6 default route's interfaces that take router advertisements (restored with the last environment)"]
        );
    }
}
