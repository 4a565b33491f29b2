//! `network.publish` entries (`"8080:80"`, `"127.0.0.1:5353:53/udp"`, `"[::1]:8080:80"`):
//! a port of the host forwarded to a port of the environment.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// The spec's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Publish {
    /// The host address it is published on; `None` is every address of the host.
    pub host_ip: Option<IpAddr>,
    /// The host's port.
    pub host_port: u16,
    /// The environment's port.
    pub port: u16,
    /// TCP or UDP.
    pub protocol: Protocol,
}

impl fmt::Display for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host_ip {
            Some(IpAddr::V6(ip)) => write!(f, "[{ip}]:")?,
            Some(ip) => write!(f, "{ip}:")?,
            None => {}
        }
        write!(f, "{}:{}", self.host_port, self.port)?;
        if self.protocol == Protocol::Udp {
            f.write_str("/udp")?;
        }
        Ok(())
    }
}

impl Publish {
    /// Parses `[HOST_IP:]HOST_PORT:PORT[/tcp|/udp]`; an IPv6 host address is written in
    /// brackets. The error says what is wrong, for a diagnostic.
    pub fn parse(s: &str) -> Result<Publish, String> {
        let (rest, protocol) = match s.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Protocol::Tcp),
            Some((rest, "udp")) => (rest, Protocol::Udp),
            Some((_, other)) => return Err(format!("unknown protocol {other:?} (tcp or udp)")),
            None => (s, Protocol::Tcp),
        };
        let (host_ip, ports) = if let Some(v6) = rest.strip_prefix('[') {
            let (ip, ports) = v6
                .split_once("]:")
                .ok_or_else(|| "an IPv6 host address is written [ADDRESS]:PORT:PORT".to_string())?;
            (Some(ip), ports)
        } else {
            match rest.matches(':').count() {
                1 => (None, rest),
                2 => {
                    let (ip, ports) = rest.split_once(':').unwrap_or_default();
                    (Some(ip), ports)
                }
                _ => return Err("expected [HOST_ADDRESS:]HOST_PORT:PORT[/udp]".into()),
            }
        };
        let host_ip = host_ip
            .map(|ip| {
                ip.parse::<IpAddr>()
                    .map_err(|_| format!("{ip:?} is not an IP address"))
            })
            .transpose()?;
        let (host_port, port) = ports
            .split_once(':')
            .ok_or_else(|| "expected [HOST_ADDRESS:]HOST_PORT:PORT[/udp]".to_string())?;
        let port_number = |p: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("{p:?} is not a port (1 to 65535)")),
        };
        Ok(Publish {
            host_ip,
            host_port: port_number(host_port)?,
            port: port_number(port)?,
            protocol,
        })
    }

    /// True when the two would claim the same host port: same protocol and port, and
    /// their addresses overlap (one of them is every address, or both are the same).
    pub fn clashes_with(&self, other: &Publish) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && match (self.host_ip, other.host_ip) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let p = Publish::parse("8080:80").unwrap();
        assert_eq!(
            p,
            Publish {
                host_ip: None,
                host_port: 8080,
                port: 80,
                protocol: Protocol::Tcp
            }
        );
        let p = Publish::parse("127.0.0.1:5353:53/udp").unwrap();
        assert_eq!(p.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!((p.host_port, p.port, p.protocol), (5353, 53, Protocol::Udp));
        let p = Publish::parse("[::1]:8443:443/tcp").unwrap();
        assert_eq!(p.host_ip, Some("::1".parse().unwrap()));
        for s in ["8080:80", "127.0.0.1:5353:53/udp", "[::1]:8443:443"] {
            assert_eq!(Publish::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn refuses_malformed_entries_saying_why() {
        for (s, why) in [
            ("80", "expected"),
            ("0:80", "not a port"),
            ("8080:70000", "not a port"),
            ("8080:80/sctp", "unknown protocol"),
            ("host:8080:80", "not an IP address"),
            ("::1:8080:80", "expected"),
            ("[::1:8080:80", "[ADDRESS]"),
        ] {
            let err = Publish::parse(s).unwrap_err();
            assert!(err.contains(why), "{s}: {err}");
        }
    }

    #[test]
    fn clashes_need_the_same_protocol_port_and_overlapping_address() {
        let p = |s| Publish::parse(s).unwrap();
        assert!(p("8080:80").clashes_with(&p("127.0.0.1:8080:81")));
        assert!(!p("8080:80").clashes_with(&p("8080:80/udp")));
        assert!(!p("127.0.0.1:8080:80").clashes_with(&p("127.0.0.2:8080:80")));
        assert!(!p("8080:80").clashes_with(&p("8081:80")));
    }
}
