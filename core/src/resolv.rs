//! The environment's own resolv.conf(5) (`network.dns`, `network.search`), shared by both
//! backends: which name servers it lists and its text. Where the file goes differs (a bind
//! mount on Linux; a nullfs file mount or a file written into the root on FreeBSD); what
//! it says does not.
//!
//! # Which servers
//! `network.dns` when given, as given. Otherwise the host's own servers that the
//! environment can reach, taken from the first host source that has any:
//! - never a loopback address: `127.0.0.53` (systemd-resolved's stub) or `127.0.0.1`
//!   (FreeBSD's local_unbound) would be the environment's *own* loopback, where nothing
//!   answers; the backends therefore also read where such a stub forwards to
//!   (`/run/systemd/resolve/resolv.conf` on Linux, `/var/unbound/forward.conf` on
//!   FreeBSD);
//! - only the environment's address family (an IPv6-only link cannot reach an IPv4
//!   server, and the reverse);
//! - without NAT, only servers on the host's own addresses (nothing beyond the host is
//!   reachable then).
//!
//! At most three servers are written: the resolver ignores the rest (resolv.conf(5)
//! `MAXNS`).

use std::net::IpAddr;

use serde::Serialize;

use crate::spec::{Network, NetworkMode};

/// The first line of every file stockade writes.
pub const HEADER: &str = "# written by stockade (network.dns, network.search)\n";

/// How many `nameserver` lines the resolver reads (`MAXNS`).
pub const MAX_NAMESERVERS: usize = 3;

/// What goes in the environment's own resolv.conf(5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolver {
    /// `network.dns`; `None`: the host's name servers the environment can reach, chosen
    /// when it is made.
    pub nameservers: Option<Vec<IpAddr>>,
    /// `network.search`.
    pub search: Vec<String>,
    /// The environment's address is IPv6 (IPv4 name servers are out of its reach, and
    /// the reverse).
    pub ipv6: bool,
    /// Its traffic is masqueraded beyond the host; without it only the host's own
    /// addresses are reachable.
    pub nat: bool,
}

impl Resolver {
    /// The resolver of a network section: `private` networks only (`none` has nothing to
    /// reach, `host` uses the host's own file).
    pub fn of(net: &Network) -> Option<Resolver> {
        (net.mode == NetworkMode::Private).then(|| Resolver {
            nameservers: net.dns.clone(),
            search: net.search.clone(),
            ipv6: net.address.is_some_and(|a| a.addr().is_ipv6()),
            nat: net.nat,
        })
    }

    /// True when the spec chose the contents (`network.dns` or `network.search`), so a
    /// backend that cannot place the file must fail rather than skip it.
    pub fn is_explicit(&self) -> bool {
        self.nameservers.is_some() || !self.search.is_empty()
    }

    /// The servers and search list as a plan prints them, e.g. `1.1.1.1; search lan`.
    pub fn summary(&self) -> String {
        let mut line = match &self.nameservers {
            Some(list) if list.is_empty() => "no name server".to_string(),
            Some(list) => list
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            None => "the host's name servers it can reach (never a loopback stub)".into(),
        };
        if !self.search.is_empty() {
            line.push_str(&format!("; search {}", self.search.join(" ")));
        }
        line
    }

    /// The servers to write, given the host's candidate lists in order of preference
    /// (each source's servers, e.g. `/etc/resolv.conf`'s then a stub's upstreams) and a
    /// test of the host's own addresses. See the module documentation.
    pub fn choose(
        &self,
        host_lists: &[Vec<IpAddr>],
        is_host_address: &dyn Fn(IpAddr) -> bool,
    ) -> Vec<IpAddr> {
        let mut servers = match &self.nameservers {
            Some(list) => list.clone(),
            None => {
                let reachable = |ip: &IpAddr| {
                    !ip.is_loopback()
                        && ip.is_ipv6() == self.ipv6
                        && (self.nat || is_host_address(*ip))
                };
                host_lists
                    .iter()
                    .map(|list| list.iter().copied().filter(reachable).collect::<Vec<_>>())
                    .find(|list| !list.is_empty())
                    .unwrap_or_default()
            }
        };
        servers.truncate(MAX_NAMESERVERS);
        servers
    }

    /// The file's text (see [`Resolver::choose`] for the arguments).
    pub fn render(
        &self,
        host_lists: &[Vec<IpAddr>],
        is_host_address: &dyn Fn(IpAddr) -> bool,
    ) -> String {
        let mut out = String::from(HEADER);
        for ip in self.choose(host_lists, is_host_address) {
            out.push_str(&format!("nameserver {ip}\n"));
        }
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        out
    }
}

/// The `nameserver` addresses of a resolv.conf(5) text (a zone index such as `%eth0` is
/// dropped; lines that do not parse are skipped, as the resolver skips them).
pub fn nameservers(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(first_address)
        .collect()
}

/// The `forward-addr:` addresses of an unbound.conf(5) text, such as the
/// `/var/unbound/forward.conf` that FreeBSD's local_unbound(8) setup writes from the
/// servers it replaced with `127.0.0.1` (an `@port` or `#name` suffix is dropped).
pub fn unbound_forwarders(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("forward-addr:"))
        .filter_map(|rest| first_address(&rest.replace(['@', '#'], " ")))
        .collect()
}

fn first_address(rest: &str) -> Option<IpAddr> {
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .split('%')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn resolver(nat: bool, ipv6: bool) -> Resolver {
        Resolver {
            nameservers: None,
            search: Vec::new(),
            ipv6,
            nat,
        }
    }

    #[test]
    fn host_servers_skip_loopback_other_families_and_unreachable_ones() {
        let stub = nameservers("nameserver 127.0.0.53\noptions edns0\n");
        let upstream = nameservers(
            "nameserver 192.0.2.53\nnameserver fd00::53%eth0\n# nameserver 9.9.9.9\nnameserver 198.51.100.53\n",
        );
        assert_eq!(
            upstream,
            [ip("192.0.2.53"), ip("fd00::53"), ip("198.51.100.53")]
        );
        let local = |a: IpAddr| a == ip("192.0.2.53");
        let lists = [stub.clone(), upstream.clone()];
        assert_eq!(
            resolver(true, false).choose(&lists, &local),
            [ip("192.0.2.53"), ip("198.51.100.53")]
        );
        assert_eq!(
            resolver(false, false).choose(&lists, &local),
            [ip("192.0.2.53")]
        );
        assert_eq!(
            resolver(true, true).choose(&lists, &local),
            [ip("fd00::53")]
        );
        assert!(resolver(true, false).choose(&[stub], &local).is_empty());
    }

    #[test]
    fn unbound_forwarders_are_read_without_port_or_name() {
        let text = "forward-zone:\n  name: .\n  forward-addr: 192.0.2.1\n  forward-addr: 2001:db8::1@853#dns.example\n";
        assert_eq!(
            unbound_forwarders(text),
            [ip("192.0.2.1"), ip("2001:db8::1")]
        );
    }

    #[test]
    fn given_servers_and_search_are_written_as_given_up_to_three() {
        let r = Resolver {
            nameservers: Some(vec![
                ip("1.1.1.1"),
                ip("9.9.9.9"),
                ip("8.8.8.8"),
                ip("8.8.4.4"),
            ]),
            search: vec!["example.org".into(), "lan".into()],
            ipv6: false,
            nat: true,
        };
        assert!(r.is_explicit());
        assert_eq!(
            r.render(&[], &|_| false),
            format!(
                "{HEADER}nameserver 1.1.1.1\nnameserver 9.9.9.9\nnameserver 8.8.8.8\nsearch example.org lan\n"
            )
        );
        assert_eq!(
            r.summary(),
            "1.1.1.1 9.9.9.9 8.8.8.8 8.8.4.4; search example.org lan"
        );
        assert!(!resolver(true, false).is_explicit());
    }
}
