//! Networking: the netlink operations (rtnetlink(7), veth(4)) that give the environment's
//! network namespace its interfaces.
//!
//! - `none`: the new namespace starts with a `lo` that is down; bringing it up is all.
//! - `host`: no network namespace, nothing to do.
//! - `private`: a veth pair joins the environment to the host, point to point. The host
//!   end keeps its name and gets the gateway address; the other end is created right in
//!   the environment's namespace as `eth0` (made on the host and moved there would cost a
//!   network-namespace move, about 20 ms of RCU waiting), addressed, brought up, and
//!   carries the default route via the gateway. Deleting the host end later removes the pair; the
//!   namespace's end also dies with the namespace.
//!
//! These run in the parent once the child exists (it needs the child's PID to name the
//! namespace) and before the child execs; the child waits on the sync pipe.
//!
//! # Interface names
//! Names are at most 15 bytes (`IFNAMSIZ` - 1) and must be unique on the host, while
//! environment names are up to 64 bytes. The rule, deterministic from the environment's
//! name and state folder: `sk-<p>-<h>` for the host end, where `<p>` is the name's first 4
//! characters (fewer if it is shorter) and `<h>` the low 28 bits of the 64-bit FNV-1a hash
//! of the state folder's path in 7 hex digits, e.g. `sk-web-1a2b3c4`. Hashing the folder,
//! not the name, keeps two environments of the same name under different state roots
//! (`--root`) apart. The hash keeps names that share a
//! prefix apart; the prefix lets a human tell the interfaces apart in `ip link`.

use std::fmt;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use ipnet::IpNet;
use serde::Serialize;
use stockade_core::spec::{NetworkMode, Spec};

use super::firewall::{self, FirewallPlan};

/// The name of the environment's end of a private link.
pub const INSIDE_IFNAME: &str = "eth0";

/// How every host end stockade makes begins (see [`host_ifname`]); undo deletes no other.
pub const HOST_IFNAME_PREFIX: &str = "sk-";

/// The longest interface name Linux accepts, in bytes (`IFNAMSIZ` less the NUL).
pub const MAX_IFNAME: usize = 15;

/// What makes a network section impossible to plan. The spec loader already refuses
/// these, so seeing one means a `Spec` was built by hand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetPlanError {
    /// `private` without an address.
    #[error("network.mode = \"private\" needs network.address, e.g. \"10.77.0.2/24\"")]
    MissingAddress,
    /// `private` without a gateway.
    #[error("network.mode = \"private\" needs network.gateway, e.g. \"10.77.0.1\"")]
    MissingGateway,
    /// The gateway's address family differs from the address's.
    #[error("network.gateway {gateway} is not in the address family of {address}")]
    GatewayFamily {
        /// The environment's address.
        address: IpNet,
        /// The gateway.
        gateway: IpAddr,
    },
}

/// Which network namespace an operation runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Netns {
    /// The host's (stockade's own).
    Host,
    /// The environment's new one.
    Environment,
}

impl fmt::Display for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Netns::Host => "host",
            Netns::Environment => "environment",
        })
    }
}

/// One network operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum NetStep {
    /// Create a veth pair from the host (`RTM_NEWLINK`, kind `veth`): one end on the host,
    /// the other made directly in the environment's namespace (the peer's
    /// `IFLA_NET_NS_FD`).
    CreateVeth {
        /// The end that stays on the host.
        host: String,
        /// The end's name inside the environment.
        inside: String,
    },
    /// Add an address with its prefix length (`RTM_NEWADDR`).
    AddAddress {
        /// Where the interface is.
        netns: Netns,
        /// The interface.
        ifname: String,
        /// Address and prefix, e.g. `10.77.0.2/24`.
        address: IpNet,
    },
    /// Bring an interface up (`IFF_UP`).
    LinkUp {
        /// Where the interface is.
        netns: Netns,
        /// The interface.
        ifname: String,
    },
    /// Add the default route via a gateway (`RTM_NEWROUTE`).
    AddDefaultRoute {
        /// Where the route goes.
        netns: Netns,
        /// The next hop.
        gateway: IpAddr,
        /// The interface it is reached through.
        ifname: String,
    },
}

impl fmt::Display for NetStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetStep::CreateVeth { host, inside } => write!(
                f,
                "[host] create veth pair {host} <-> {inside} (in the environment's namespace)"
            ),
            NetStep::AddAddress {
                netns,
                ifname,
                address,
            } => write!(f, "[{netns}] add address {address} to {ifname}"),
            NetStep::LinkUp { netns, ifname } => write!(f, "[{netns}] bring {ifname} up"),
            NetStep::AddDefaultRoute {
                netns,
                gateway,
                ifname,
            } => write!(f, "[{netns}] default route via {gateway} dev {ifname}"),
        }
    }
}

/// The network of one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkPlan {
    /// The spec's mode.
    pub mode: NetworkMode,
    /// The operations, in order.
    pub steps: Vec<NetStep>,
    /// NAT and published ports (`private` only, unless it needs neither).
    pub firewall: Option<FirewallPlan>,
    /// The environment's resolv.conf (`private` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolver: Option<Resolver>,
}

/// What goes in the environment's own resolv.conf(5): shared with FreeBSD through core.
pub use stockade_core::resolv::Resolver;

/// The plan's line for the environment's resolv.conf.
pub fn describe_resolver(resolver: &Resolver) -> String {
    format!(
        "[host] write resolv.conf (mounted on /etc/resolv.conf): {}",
        resolver.summary()
    )
}

impl NetworkPlan {
    /// The host end of the veth pair, which undo deletes (`private` only).
    pub fn host_interface(&self) -> Option<&str> {
        self.steps.iter().find_map(|s| match s {
            NetStep::CreateVeth { host, .. } => Some(host.as_str()),
            _ => None,
        })
    }

    pub(crate) fn describe(&self) -> Vec<String> {
        if self.mode == NetworkMode::Host {
            return vec!["use the host's network stack: nothing to set up".into()];
        }
        let firewall = self.firewall.as_ref();
        let mut lines = firewall.map(FirewallPlan::describe).unwrap_or_default();
        lines.extend(self.steps.iter().map(ToString::to_string));
        lines.extend(self.resolver.as_ref().map(describe_resolver));
        lines.extend(
            firewall
                .map(FirewallPlan::describe_sysctls)
                .unwrap_or_default(),
        );
        lines
    }
}

/// The low 28 bits of the state folder's FNV-1a hash: unique per (state root, name).
pub fn instance_hash(state_dir: &Path) -> u64 {
    fnv1a64(state_dir.as_os_str().as_bytes()) & 0x0fff_ffff
}

/// 64-bit FNV-1a: tiny, and stable across platforms and Rust releases, unlike std's
/// `DefaultHasher`, so interface names never change between builds.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The host end's name of an environment's veth pair. See the module.
pub fn host_ifname(name: &str, state_dir: &Path) -> String {
    let prefix: String = name.chars().take(4).collect();
    let hash = instance_hash(state_dir);
    format!("{HOST_IFNAME_PREFIX}{prefix}-{hash:07x}")
}

/// The network steps of a spec.
pub fn plan(spec: &Spec, state_dir: &Path) -> Result<NetworkPlan, NetPlanError> {
    let net = &spec.network;
    let lo_up = NetStep::LinkUp {
        netns: Netns::Environment,
        ifname: "lo".into(),
    };
    let mut firewall = None;
    let resolver = Resolver::of(net);
    let steps = match net.mode {
        NetworkMode::Host => Vec::new(),
        NetworkMode::None => vec![lo_up],
        NetworkMode::Private => {
            let address = net.address.ok_or(NetPlanError::MissingAddress)?;
            let gateway = net.gateway.ok_or(NetPlanError::MissingGateway)?;
            let host_address = IpNet::new(gateway, address.prefix_len())
                .map_err(|_| NetPlanError::GatewayFamily { address, gateway })?;
            if host_address.max_prefix_len() != address.max_prefix_len() {
                return Err(NetPlanError::GatewayFamily { address, gateway });
            }
            let host = host_ifname(&spec.name, state_dir);
            firewall = firewall::plan(spec, &host, address);
            vec![
                NetStep::CreateVeth {
                    host: host.clone(),
                    inside: INSIDE_IFNAME.into(),
                },
                NetStep::AddAddress {
                    netns: Netns::Environment,
                    ifname: INSIDE_IFNAME.into(),
                    address,
                },
                NetStep::LinkUp {
                    netns: Netns::Environment,
                    ifname: INSIDE_IFNAME.into(),
                },
                NetStep::AddDefaultRoute {
                    netns: Netns::Environment,
                    gateway,
                    ifname: INSIDE_IFNAME.into(),
                },
                NetStep::AddAddress {
                    netns: Netns::Host,
                    ifname: host.clone(),
                    address: host_address,
                },
                NetStep::LinkUp {
                    netns: Netns::Host,
                    ifname: host,
                },
                lo_up,
            ]
        }
    };
    Ok(NetworkPlan {
        mode: net.mode,
        steps,
        firewall,
        resolver,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::spec;

    /// The state folder the plan tests use (`PlanContext::new("/run/stockade", "web", ..)`).
    const DIR: &str = "/run/stockade/web";

    fn plan(spec: &Spec) -> Result<NetworkPlan, NetPlanError> {
        super::plan(spec, Path::new(DIR))
    }

    #[test]
    fn none_brings_lo_up() {
        let plan = plan(&spec("")).unwrap();
        assert_eq!(plan.mode, NetworkMode::None);
        assert_eq!(plan.describe(), ["[environment] bring lo up"]);
        assert_eq!(plan.host_interface(), None);
    }

    #[test]
    fn host_does_nothing() {
        let plan = plan(&spec("[network]\nmode = \"host\"\n")).unwrap();
        assert!(plan.steps.is_empty());
    }

    #[test]
    fn private_builds_a_veth_link() {
        let plan = plan(&spec(
            "[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\ngateway = \"10.77.0.1\"\nnat = false\n",
        ))
        .unwrap();
        let host = host_ifname("web", Path::new(DIR));
        assert_eq!(plan.host_interface(), Some(host.as_str()));
        assert_eq!(
            plan.describe(),
            [
                format!("[host] create veth pair {host} <-> eth0 (in the environment's namespace)"),
                "[environment] add address 10.77.0.2/24 to eth0".into(),
                "[environment] bring eth0 up".into(),
                "[environment] default route via 10.77.0.1 dev eth0".into(),
                format!("[host] add address 10.77.0.1/24 to {host}"),
                format!("[host] bring {host} up"),
                "[environment] bring lo up".into(),
                "[host] write resolv.conf (mounted on /etc/resolv.conf): the host's name \
                 servers it can reach (never a loopback stub)"
                    .into(),
            ]
        );
    }

    #[test]
    fn private_default_gateway_comes_from_the_spec() {
        // The loader picks the first other host address when gateway is omitted.
        let plan = plan(&spec(
            "[network]\nmode = \"private\"\naddress = \"10.9.0.1/30\"\n",
        ))
        .unwrap();
        assert!(plan.steps.contains(&NetStep::AddAddress {
            netns: Netns::Host,
            ifname: host_ifname("web", Path::new(DIR)),
            address: "10.9.0.2/30".parse().unwrap(),
        }));
    }

    #[test]
    fn private_without_address_is_an_error() {
        let mut s = spec("");
        s.network.mode = NetworkMode::Private;
        assert_eq!(plan(&s).unwrap_err(), NetPlanError::MissingAddress);
        s.network.address = Some("10.0.0.2/24".parse().unwrap());
        assert_eq!(plan(&s).unwrap_err(), NetPlanError::MissingGateway);
        s.network.gateway = Some("fe80::1".parse().unwrap());
        assert!(matches!(
            plan(&s).unwrap_err(),
            NetPlanError::GatewayFamily { .. }
        ));
    }

    #[test]
    fn the_resolver_follows_the_network_section() {
        let r = |extra: &str| {
            plan(&spec(&format!(
                "[network]\nmode = \"private\"\naddress = \"10.77.0.2/24\"\n{extra}"
            )))
            .unwrap()
            .resolver
            .unwrap()
        };
        assert!(r("").nat && !r("").ipv6 && r("").nameservers.is_none());
        assert!(!r("nat = false\n").nat);
        let chosen = r("dns = [\"1.1.1.1\"]\nsearch = [\"example.org\", \"lan\"]\n");
        assert_eq!(
            describe_resolver(&chosen),
            "[host] write resolv.conf (mounted on /etc/resolv.conf): 1.1.1.1; search example.org lan"
        );
        assert_eq!(plan(&spec("")).unwrap().resolver, None);
    }

    #[test]
    fn host_ifnames_are_short_stable_and_distinct() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        let host = host_ifname("web", Path::new(DIR));
        assert_eq!(
            host,
            format!("sk-web-{:07x}", fnv1a64(DIR.as_bytes()) & 0x0fff_ffff)
        );
        let long = "a-very-long-environment-name-that-goes-on-and-on-for-sixty-four-b";
        for name in ["w", "web", long, "web-production-1", "web-production-2"] {
            let dir = Path::new("/run/stockade").join(name);
            let h = host_ifname(name, &dir);
            assert!(h.len() <= MAX_IFNAME, "{h}");
            assert_eq!(host_ifname(name, &dir), h, "deterministic");
        }
        let at = |name: &str| host_ifname(name, &Path::new("/run/stockade").join(name));
        assert_eq!(at(long).len(), 15);
        assert_ne!(at("web-production-1"), at("web-production-2"));
        assert_ne!(
            host_ifname("web", Path::new("/run/stockade/web")),
            host_ifname("web", Path::new("/tmp/other/web")),
            "same name under another state root"
        );
    }
}
