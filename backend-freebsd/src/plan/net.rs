//! The jail's network: a vnet(9) stack with lo0, joined to the host by an epair(4).
//!
//! - `none`: the jail gets its own stack (`vnet = new`); only lo0 is configured inside.
//!   A fresh vnet's lo0 is down and has no IPv4 address (rc(8) normally sets it up), so
//!   the plan adds 127.0.0.1/8 and brings it up; the kernel adds ::1 itself when lo0 comes
//!   up. This matches Linux's `lo` in a new network namespace.
//! - `private`: as `none`, plus an epair(4): created on the host (SIOCIFCREATE2 on the
//!   `epair` cloner), both ends renamed (SIOCSIFNAME) to names derived from the
//!   environment's name, the `b` end moved into the jail (SIOCSIFVNET, what
//!   `ifconfig IF vnet JAIL` does), both ends addressed (SIOCAIFADDR / SIOCAIFADDR_IN6)
//!   and brought up, and a default route via the gateway added inside (routing socket,
//!   route(4)).
//! - `host`: nothing here; the jail shares the host's addresses (`ip4/ip6 = inherit`).
//!
//! The inside end keeps its stockade name (`sk<name>b`) instead of becoming `eth0`:
//! when a vnet jail is removed its interfaces return to the host, and a unique name
//! cannot collide there with another environment's, or with a host interface. Tools
//! inside should not rely on the interface name (on Linux it is `eth0`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::Serialize;
use stockade_core::spec::{Network, NetworkMode};

/// ifconfig(8)'s and route(8)'s address family word for an address: `inet` or `inet6`.
pub fn family(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "inet"
    } else {
        "inet6"
    }
}

/// Longest interface name: IFNAMSIZ (16) less the terminating NUL.
pub const MAX_IFNAME: usize = 15;

/// Prefix of every interface stockade creates.
pub const IFNAME_PREFIX: &str = "sk";

/// The loopback interface of every vnet.
pub const LOOPBACK: &str = "lo0";

/// The two ends of an environment's epair(4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EpairNames {
    /// The end that stays on the host (`a`).
    pub host: String,
    /// The end moved into the jail (`b`).
    pub jail: String,
}

/// The epair names for an environment: `sk<name>a` / `sk<name>b` when that fits in 15
/// bytes and the name uses only letters, digits, `-` and `_`; otherwise `sk`, the first
/// six such characters, six hex digits of a hash of the whole name, and `a`/`b`. The same
/// name always gives the same interfaces, so `delete --force` finds them after a crash.
pub fn epair_names(env: &str) -> EpairNames {
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let stem = if env.chars().all(plain) && IFNAME_PREFIX.len() + env.len() < MAX_IFNAME {
        env.to_string()
    } else {
        let head: String = env.chars().filter(|&c| plain(c)).take(6).collect();
        format!("{head}{:06x}", fnv1a(env.as_bytes()) & 0xff_ffff)
    };
    EpairNames {
        host: format!("{IFNAME_PREFIX}{stem}a"),
        jail: format!("{IFNAME_PREFIX}{stem}b"),
    }
}

/// 32-bit FNV-1a: small, stable across platforms and releases, good enough to tell
/// names apart (a clash makes SIOCSIFNAME fail with EEXIST, never share an interface).
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// The loopback address set on lo0 inside (checked at compile time).
pub const LOOPBACK_V4: Ipv4Net = Ipv4Net::new_assert(Ipv4Addr::LOCALHOST, 8);

/// Which network stack a step runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The host's stack.
    Host,
    /// The jail's vnet (the step runs in a child attached to the jail).
    Jail,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Host => "host",
            Side::Jail => "jail",
        })
    }
}

/// One network step, after the jail exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum NetStep {
    /// Create an epair and rename its ends.
    CreateEpair(EpairNames),
    /// Move an interface into the jail's vnet.
    MoveToJail {
        /// The interface.
        iface: String,
        /// The jail name.
        jail: String,
    },
    /// Add an address with its prefix length.
    AddAddress {
        /// Where.
        side: Side,
        /// The interface.
        iface: String,
        /// The address.
        address: IpNet,
    },
    /// Set IFF_UP.
    Up {
        /// Where.
        side: Side,
        /// The interface.
        iface: String,
    },
    /// Add the default route (IPv4 or IPv6, as the gateway is).
    DefaultRoute {
        /// Where.
        side: Side,
        /// The next hop.
        gateway: IpAddr,
    },
}

impl fmt::Display for NetStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetStep::CreateEpair(n) => write!(
                f,
                "host: create epair, rename its ends {} (host) and {} (jail)",
                n.host, n.jail
            ),
            NetStep::MoveToJail { iface, jail } => {
                write!(f, "host: move {iface} into jail {jail} (vnet)")
            }
            NetStep::AddAddress {
                side,
                iface,
                address,
            } => {
                let family = family(address.addr());
                write!(f, "{side}: {iface} {family} {address}")
            }
            NetStep::Up { side, iface } => write!(f, "{side}: {iface} up"),
            NetStep::DefaultRoute { side, gateway } => {
                let family = family(*gateway);
                write!(f, "{side}: route add -{family} default {gateway}")
            }
        }
    }
}

/// Why a network cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetPlanError {
    /// `private` without an address or gateway (a spec from `Spec::from_toml` always has both).
    #[error("{key} is missing: mode = \"private\" needs it (e.g. address = \"10.77.0.2/24\")")]
    Missing {
        /// The missing key.
        key: &'static str,
    },
    /// The gateway is not on the address's subnet (`Spec::from_toml` refuses this too).
    #[error("network.gateway {gateway} is not on {address}'s subnet: use an address inside it")]
    OffSubnet {
        /// The gateway.
        gateway: IpAddr,
        /// The environment's address.
        address: IpNet,
    },
}

/// The network steps for environment `jail`, in order.
pub fn plan(jail: &str, network: &Network) -> Result<Vec<NetStep>, NetPlanError> {
    let loopback = || {
        [
            NetStep::AddAddress {
                side: Side::Jail,
                iface: LOOPBACK.to_string(),
                address: IpNet::V4(LOOPBACK_V4),
            },
            NetStep::Up {
                side: Side::Jail,
                iface: LOOPBACK.to_string(),
            },
        ]
    };
    match network.mode {
        NetworkMode::Host => Ok(Vec::new()),
        NetworkMode::None => Ok(loopback().into()),
        NetworkMode::Private => {
            let address = network.address.ok_or(NetPlanError::Missing {
                key: "network.address",
            })?;
            let gateway = network.gateway.ok_or(NetPlanError::Missing {
                key: "network.gateway",
            })?;
            let host_address = IpNet::new(gateway, address.prefix_len())
                .ok()
                .filter(|_| address.contains(&gateway))
                .ok_or(NetPlanError::OffSubnet { gateway, address })?;
            let names = epair_names(jail);
            let mut steps = vec![
                NetStep::CreateEpair(names.clone()),
                NetStep::MoveToJail {
                    iface: names.jail.clone(),
                    jail: jail.to_string(),
                },
                NetStep::AddAddress {
                    side: Side::Host,
                    iface: names.host.clone(),
                    address: host_address,
                },
                NetStep::Up {
                    side: Side::Host,
                    iface: names.host.clone(),
                },
            ];
            steps.extend(loopback());
            steps.extend([
                NetStep::AddAddress {
                    side: Side::Jail,
                    iface: names.jail.clone(),
                    address,
                },
                NetStep::Up {
                    side: Side::Jail,
                    iface: names.jail.clone(),
                },
                NetStep::DefaultRoute {
                    side: Side::Jail,
                    gateway,
                },
            ]);
            Ok(steps)
        }
    }
}

/// The epair a plan's steps create, if any (undo destroys it).
pub fn created_epair(steps: &[NetStep]) -> Option<&EpairNames> {
    steps.iter().find_map(|s| match s {
        NetStep::CreateEpair(n) => Some(n),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(steps: &[NetStep]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_plain_names_are_kept() {
        assert_eq!(
            epair_names("web"),
            EpairNames {
                host: "skweba".into(),
                jail: "skwebb".into()
            }
        );
        // 2 + 12 + 1 = 15 bytes: still fits.
        assert_eq!(epair_names("abcdefghijkl").host, "skabcdefghijkla");
    }

    #[test]
    fn long_or_dotted_names_are_hashed_to_fit() {
        for name in [
            "abcdefghijklm",
            "a.b",
            "a_b",
            "a-very-long-environment-name-64",
        ] {
            let n = epair_names(name);
            assert!(n.host.len() <= MAX_IFNAME, "{n:?}");
            assert!(n.host.starts_with("sk") && n.host.ends_with('a'), "{n:?}");
            assert_eq!(n.host[..n.host.len() - 1], n.jail[..n.jail.len() - 1]);
            assert!(!n.host.contains('.'), "{n:?}");
        }
        // Names that differ only past the kept prefix, or by a dot, still differ.
        assert_ne!(epair_names("abcdefghijklm"), epair_names("abcdefghijkln"));
        assert_ne!(epair_names("a.b"), epair_names("ab"));
        assert_eq!(epair_names("abcdefghijklm"), epair_names("abcdefghijklm"));
        assert_eq!(epair_names("abcdefghijklm").host.len(), MAX_IFNAME);
    }

    #[test]
    fn none_brings_up_loopback_only() {
        let steps = plan("web", &Network::default()).expect("plan");
        assert_eq!(
            render(&steps),
            ["jail: lo0 inet 127.0.0.1/8", "jail: lo0 up"]
        );
        assert_eq!(created_epair(&steps), None);
    }

    #[test]
    fn host_has_no_steps() {
        let n = Network {
            mode: NetworkMode::Host,
            ..Network::default()
        };
        assert!(plan("web", &n).expect("plan").is_empty());
    }

    #[test]
    fn private_without_address_is_an_error() {
        let n = Network {
            mode: NetworkMode::Private,
            ..Network::default()
        };
        assert_eq!(
            plan("web", &n),
            Err(NetPlanError::Missing {
                key: "network.address"
            })
        );
    }

    #[test]
    fn private_ipv6_routes_inet6() {
        let n = Network {
            mode: NetworkMode::Private,
            address: Some("fd00:77::2/64".parse().expect("net")),
            gateway: Some("fd00:77::1".parse().expect("ip")),
            ..Network::default()
        };
        let r = render(&plan("v6", &n).expect("plan"));
        assert!(
            r.contains(&"host: skv6a inet6 fd00:77::1/64".to_string()),
            "{r:?}"
        );
        assert!(
            r.contains(&"jail: skv6b inet6 fd00:77::2/64".to_string()),
            "{r:?}"
        );
        assert_eq!(
            r.last().map(String::as_str),
            Some("jail: route add -inet6 default fd00:77::1")
        );
    }
}
