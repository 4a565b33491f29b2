//! NAT and published ports of a private network on FreeBSD: pf(4) rules in the anchor
//! `stockade/NAME`, loaded with `pfctl -a stockade/NAME -D ext_if=IF -f -` so the
//! administrator's own ruleset is untouched (pf.conf needs the anchor points, see
//! docs/freebsd.md), and flushed with `pfctl -a stockade/NAME -F all` on delete.
//!
//! `$ext_if` is the interface of the host's default route, read when the jail is made and
//! passed as a macro: the plan stays pure. Outbound NAT is `nat on $ext_if`; a published
//! port is `rdr pass` on `$ext_if` to the host's address there, or, with an address, to
//! that address on any interface.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;
use stockade_core::spec::{NetworkMode, Protocol, Publish, Spec};

/// The anchor under which every environment's rules live.
pub const ANCHOR_ROOT: &str = "stockade";

/// FreeBSD's switch that keeps a forwarding host accepting router advertisements for its
/// own default route (Linux's `accept_ra = 2`).
pub const RFC6204W3: &str = "net.inet6.ip6.rfc6204w3";

/// The pf side of a private network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PfPlan {
    /// `stockade/NAME`.
    pub anchor: String,
    /// The rules, in pf.conf(5) syntax, in order (translation rules first, as pf wants).
    pub rules: Vec<String>,
    /// Whether the host must forward (`net.inet.ip.forwarding` / `net.inet6.ip6.forwarding`).
    pub forwarding: bool,
    /// The environment's address is IPv6.
    pub ipv6: bool,
    /// The host ports published, as the state records them (`tcp/8080`).
    pub ports: Vec<String>,
    /// The `network.publish` entries, checked free before anything is made.
    pub publish: Vec<Publish>,
}

impl PfPlan {
    /// The forwarding sysctl of the environment's address family.
    pub fn forwarding_sysctl(&self) -> &'static str {
        if self.ipv6 {
            "net.inet6.ip6.forwarding"
        } else {
            "net.inet.ip.forwarding"
        }
    }

    /// The host address, port and protocol each published port is bound to for a moment
    /// before create, to refuse one a host process holds: the entry's address, or the
    /// unspecified address of the environment's family.
    pub fn probes(&self) -> Vec<(Publish, SocketAddr, Protocol)> {
        let any = if self.ipv6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        };
        self.publish
            .iter()
            .map(|p| {
                let at = SocketAddr::new(p.host_ip.unwrap_or(any), p.host_port);
                (*p, at, p.protocol)
            })
            .collect()
    }

    /// Whether the rules use the `$ext_if` macro (so the apply must define it).
    pub fn uses_ext_if(&self) -> bool {
        self.rules.iter().any(|r| r.contains("$ext_if"))
    }
}

impl fmt::Display for PfPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "pfctl -a {} -D ext_if=<the default route's interface> -f - <<",
            self.anchor
        )?;
        for rule in &self.rules {
            writeln!(f, "    {rule}")?;
        }
        if self.forwarding {
            if self.ipv6 {
                writeln!(
                    f,
                    "sysctl {RFC6204W3}=1 (only when IPv6 forwarding was off: forwarding makes \
                     the host ignore router advertisements, which may give its own default route)"
                )?;
            }
            write!(f, "sysctl {}=1", self.forwarding_sysctl())?;
        }
        Ok(())
    }
}

/// The pf rules of a spec, `None` when it needs none.
pub fn plan(spec: &Spec) -> Option<PfPlan> {
    let net = &spec.network;
    let address = net.address?;
    if net.mode != NetworkMode::Private || (!net.nat && net.publish.is_empty()) {
        return None;
    }
    let ip = address.addr();
    let af = if ip.is_ipv4() { "inet" } else { "inet6" };
    let mut rules = Vec::new();
    if net.nat {
        rules.push(format!(
            "nat on $ext_if {af} from {ip} to any -> ($ext_if:0)"
        ));
    }
    for p in &net.publish {
        let to = match p.host_ip {
            Some(IpAddr::V6(h)) => {
                format!("rdr pass {af} proto {} from any to {h}", p.protocol.name())
            }
            Some(h) => format!("rdr pass {af} proto {} from any to {h}", p.protocol.name()),
            None => format!(
                "rdr pass on $ext_if {af} proto {} from any to ($ext_if)",
                p.protocol.name()
            ),
        };
        rules.push(format!("{to} port {} -> {ip} port {}", p.host_port, p.port));
    }
    Some(PfPlan {
        anchor: format!("{ANCHOR_ROOT}/{}", spec.name),
        rules,
        forwarding: net.nat
            || net
                .publish
                .iter()
                .any(|p| p.host_ip.is_none_or(|h| !h.is_loopback())),
        ipv6: ip.is_ipv6(),
        ports: net
            .publish
            .iter()
            .map(|p| format!("{}/{}", p.protocol.name(), p.host_port))
            .collect(),
        publish: net.publish.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(network: &str) -> Spec {
        Spec::from_toml(
            &format!("name = \"web\"\n[root]\npath = \"/jails/web\"\n[process]\ncommand = [\"/bin/sh\"]\n[network]\n{network}"),
            None,
        )
        .unwrap()
    }

    #[test]
    fn nat_and_published_ports_are_anchor_rules() {
        let p = plan(&spec(
            "mode = \"private\"\naddress = \"10.77.0.2/24\"\npublish = [\"18080:80\", \"127.0.0.1:5353:53/udp\"]\n",
        ))
        .unwrap();
        assert_eq!(
            p.to_string(),
            "pfctl -a stockade/web -D ext_if=<the default route's interface> -f - <<\n\
             \x20   nat on $ext_if inet from 10.77.0.2 to any -> ($ext_if:0)\n\
             \x20   rdr pass on $ext_if inet proto tcp from any to ($ext_if) port 18080 -> 10.77.0.2 port 80\n\
             \x20   rdr pass inet proto udp from any to 127.0.0.1 port 5353 -> 10.77.0.2 port 53\n\
             sysctl net.inet.ip.forwarding=1"
        );
    }

    #[test]
    fn no_nat_and_nothing_published_loads_no_anchor() {
        assert_eq!(
            plan(&spec(
                "mode = \"private\"\naddress = \"10.77.0.2/24\"\nnat = false\n"
            )),
            None
        );
        assert_eq!(plan(&spec("mode = \"none\"\n")), None);
        let p = plan(&spec(
            "mode = \"private\"\naddress = \"10.77.0.2/24\"\nnat = false\npublish = [\"127.0.0.1:8080:80\"]\n",
        ))
        .unwrap();
        assert!(!p.forwarding);
        assert_eq!(p.rules.len(), 1);
        assert_eq!(
            p.probes(),
            [(
                p.publish[0],
                "127.0.0.1:8080".parse().unwrap(),
                Protocol::Tcp
            )]
        );
    }

    #[test]
    fn ipv6_uses_inet6() {
        let p = plan(&spec(
            "mode = \"private\"\naddress = \"fd00:77::2/64\"\ngateway = \"fd00:77::1\"\npublish = [\"[::1]:8080:80\"]\n",
        ))
        .unwrap();
        assert_eq!(
            p.rules[0],
            "nat on $ext_if inet6 from fd00:77::2 to any -> ($ext_if:0)"
        );
        assert_eq!(
            p.rules[1],
            "rdr pass inet6 proto tcp from any to ::1 port 8080 -> fd00:77::2 port 80"
        );
        assert!(p.to_string().ends_with("sysctl net.inet6.ip6.forwarding=1"));
        let p = plan(&spec(
            "mode = \"private\"\naddress = \"fd00:77::2/64\"\npublish = [\"53:53/udp\"]\n",
        ))
        .unwrap();
        assert_eq!(p.probes()[0].1, "[::]:53".parse().unwrap());
    }
}
