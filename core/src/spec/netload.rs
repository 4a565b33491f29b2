//! The loader of the private network's reach: `network.nat`, `network.publish`,
//! `network.dns` and `network.search` (the `[network]` table's mode, address and gateway
//! are read in `load.rs`).

use std::net::IpAddr;

use ipnet::IpNet;
use toml::de::DeTable;

use super::publish::Publish;
use super::reader::Reader;
use super::NetworkMode;

/// The keys this module reads.
pub(super) const KEYS: &[&str] = &["nat", "publish", "dns", "search"];

/// What the keys of [`KEYS`] say, with their defaults for the mode.
#[derive(Debug, Default)]
pub(super) struct Reach {
    pub nat: bool,
    pub publish: Vec<Publish>,
    pub dns: Option<Vec<IpAddr>>,
    pub search: Vec<String>,
}

/// Reads the keys of [`KEYS`] from `t`; `address` is the environment's (private only).
pub(super) fn read(
    r: &mut Reader<'_>,
    t: &DeTable<'_>,
    mode: NetworkMode,
    address: Option<IpNet>,
) -> Reach {
    if mode != NetworkMode::Private {
        for key in KEYS {
            if let Some(v) = t.get(*key) {
                r.error(
                    v.span(),
                    &format!("network.{key}"),
                    format!(
                        "is only used with mode = \"private\" (mode is \"{}\")",
                        mode.name()
                    ),
                    Some("set mode = \"private\" or remove it".into()),
                );
            }
        }
        return Reach::default();
    }
    let nat = t
        .get("nat")
        .and_then(|v| r.boolean(v, "network.nat"))
        .unwrap_or(true);

    let mut publish: Vec<Publish> = Vec::new();
    let hint = || Some("a list like publish = [\"8080:80\", \"127.0.0.1:5353:53/udp\"]".into());
    for (i, item) in t
        .get("publish")
        .and_then(|v| r.array(v, "network.publish", hint()))
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("network.publish[{}]", i + 1);
        let Some(s) = r.string(item, &key) else {
            continue;
        };
        let p = match Publish::parse(s) {
            Ok(p) => p,
            Err(why) => {
                r.error(item.span(), &key, format!("{s:?}: {why}"), hint());
                continue;
            }
        };
        let family_differs =
            |ip: IpAddr| address.is_some_and(|a| a.addr().is_ipv4() != ip.is_ipv4());
        if let Some(ip) = p.host_ip.filter(|ip| family_differs(*ip)) {
            r.error(
                item.span(),
                &key,
                format!("{ip} is not in the address family of network.address"),
                Some("publish on an address of the same family as the environment's".into()),
            );
        } else if let Some(other) = publish.iter().find(|o| o.clashes_with(&p)) {
            r.error(
                item.span(),
                &key,
                format!(
                    "host port {}/{} is already published by \"{other}\"",
                    p.host_port,
                    p.protocol.name()
                ),
                Some("give each entry its own host port".into()),
            );
        } else {
            publish.push(p);
        }
    }

    let dns = t.get("dns").map(|v| {
        let hint = || {
            Some("a list of addresses, e.g. dns = [\"1.1.1.1\", \"2606:4700:4700::1111\"]".into())
        };
        let mut out = Vec::new();
        for (i, item) in r
            .array(v, "network.dns", hint())
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let key = format!("network.dns[{}]", i + 1);
            let Some(s) = r.string(item, &key) else {
                continue;
            };
            match s.parse::<IpAddr>() {
                Ok(ip) if ip.is_loopback() => r.error(
                    item.span(),
                    &key,
                    format!("{ip} is a loopback address: inside it is the environment's own"),
                    Some("name a server the environment can reach over its link".into()),
                ),
                Ok(ip) => out.push(ip),
                Err(_) => r.error(
                    item.span(),
                    &key,
                    format!("{s:?} is not an IP address"),
                    hint(),
                ),
            }
        }
        out
    });

    let mut search = Vec::new();
    let hint = || Some("a list of domains, e.g. search = [\"example.org\"]".into());
    for (i, item) in t
        .get("search")
        .and_then(|v| r.array(v, "network.search", hint()))
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let key = format!("network.search[{}]", i + 1);
        let Some(s) = r.string(item, &key) else {
            continue;
        };
        let valid = !s.is_empty()
            && s.len() <= 253
            && s.trim_end_matches('.').split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if valid {
            search.push(s.to_string());
        } else {
            r.error(
                item.span(),
                &key,
                format!("{s:?} is not a domain name"),
                hint(),
            );
        }
    }

    Reach {
        nat,
        publish,
        dns,
        search,
    }
}
