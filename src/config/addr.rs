//! Address syntaxes of `bind` and `server` lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One `bind` address item, before it is split into ports: `[ADDR]:PORT[-PORT]`.
#[derive(Debug, PartialEq, Eq)]
pub struct BindSpec {
    pub ip: IpAddr,
    pub ports: std::ops::RangeInclusive<u16>,
}

/// Parses one comma-separated element of a `bind` line, as HAProxy's `str2sa_range` does for
/// stream listeners: `*:80`, `:80`, `0.0.0.0:80`, `[::]:443`, `:::80`, `ipv4@...`,
/// `ipv6@...`, port ranges `8000-8010`.
pub fn parse_bind(s: &str) -> Result<BindSpec, String> {
    let (family, rest) = if let Some(r) = s.strip_prefix("ipv4@") {
        (Some(4), r)
    } else if let Some(r) = s.strip_prefix("ipv6@") {
        (Some(6), r)
    } else if let Some(r) = s.strip_prefix("tcp4@") {
        (Some(4), r)
    } else if let Some(r) = s.strip_prefix("tcp6@") {
        (Some(6), r)
    } else if let Some(r) = s.strip_prefix("tcp@") {
        (None, r)
    } else if s.starts_with('/') || s.contains('@') {
        return Err(format!(
            "address '{s}': only TCP/IP listeners are supported yet (unix sockets, fd@, abns@, quic and udp are not)"
        ));
    } else {
        (None, s)
    };
    let (host, port) = split_host_port(rest)
        .ok_or_else(|| format!("missing port number in '{s}' (expected [ADDR]:PORT)"))?;
    let ip = match host {
        "" | "*" => {
            if family == Some(6) {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            }
        }
        h => h.parse::<IpAddr>().map_err(|_| {
            format!("invalid address '{h}' in '{s}' (an IPv4 or IPv6 address, '*' or nothing)")
        })?,
    };
    if family == Some(4) && ip.is_ipv6() || family == Some(6) && ip.is_ipv4() {
        return Err(format!("address family of '{s}' does not match its prefix"));
    }
    if port.is_empty() {
        return Err(format!(
            "missing port number in '{s}' (expected [ADDR]:PORT)"
        ));
    }
    let ports = match port.split_once('-') {
        Some((a, b)) => parse_port(a, s)?..=parse_port(b, s)?,
        None => {
            let p = parse_port(port, s)?;
            p..=p
        }
    };
    if ports.is_empty() {
        return Err(format!("invalid port range in '{s}'"));
    }
    if *ports.start() == 0 {
        return Err(format!("invalid port 0 in '{s}'"));
    }
    Ok(BindSpec { ip, ports })
}

fn parse_port(p: &str, whole: &str) -> Result<u16, String> {
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid port '{p}' in '{whole}'"));
    }
    p.parse::<u16>()
        .map_err(|_| format!("invalid port '{p}' in '{whole}' (1-65535)"))
}

/// Splits `host:port`, `[v6]:port` or `v6:port` (the last colon of an unbracketed IPv6 address
/// is the port separator, as in HAProxy). Returns `None` when there is no colon at all.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let after = &rest[end + 1..];
        return after.strip_prefix(':').map(|p| (host, p));
    }
    s.rsplit_once(':')
}

/// A server address before name resolution.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub host: String,
    pub port: Option<u16>,
}

/// Parses `ADDR[:PORT]` of a `server` line: IPv4, `[IPv6]`, bare IPv6, or a host name.
/// Without a port the connection goes to the port the client connected to (HAProxy's
/// behaviour); relative ports (`:+N`, `:-N`) are not supported yet.
pub fn parse_server(s: &str) -> Result<ServerSpec, String> {
    if s.starts_with('/') || s.contains('@') {
        return Err(format!(
            "server address '{s}': only TCP/IP servers are supported yet (no unix sockets or fd@)"
        ));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ServerSpec {
            host: ip.to_string(),
            port: None,
        });
    }
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s.trim_start_matches('[').trim_end_matches(']'), None),
    };
    if host.is_empty() {
        return Err(format!("missing address in server address '{s}'"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            return Err(format!(
                "relative server port '{p}' in '{s}' is not supported yet"
            ));
        }
        Some(p) => Some(parse_port(p, s)?),
    };
    if host.contains(':') && host.parse::<Ipv6Addr>().is_err() {
        return Err(format!("invalid server address '{s}'"));
    }
    Ok(ServerSpec {
        host: host.to_string(),
        port,
    })
}

/// Resolves a host name or address to an IP (first result, IPv4 preferred like getaddrinfo's
/// usual order on Linux). Happens once at load time.
pub fn resolve(host: &str) -> Result<IpAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| format!("could not resolve server address '{host}': {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .map(|a| a.ip())
        .ok_or_else(|| format!("could not resolve server address '{host}': no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_forms() {
        let v4any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            parse_bind("*:80").unwrap(),
            BindSpec {
                ip: v4any,
                ports: 80..=80
            }
        );
        assert_eq!(
            parse_bind(":80").unwrap(),
            BindSpec {
                ip: v4any,
                ports: 80..=80
            }
        );
        assert_eq!(
            parse_bind("127.0.0.1:8000-8002").unwrap().ports,
            8000..=8002
        );
        assert_eq!(
            parse_bind("[::1]:443").unwrap().ip,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_bind(":::80").unwrap().ip,
            "::".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            parse_bind("ipv6@:80").unwrap().ip,
            "::".parse::<IpAddr>().unwrap()
        );
        assert!(parse_bind("*").unwrap_err().contains("missing port"));
        assert!(
            parse_bind("127.0.0.1")
                .unwrap_err()
                .contains("missing port")
        );
        assert!(
            parse_bind("127.0.0.1:")
                .unwrap_err()
                .contains("missing port")
        );
        assert!(parse_bind("1.2.3.4:99999").is_err());
        assert!(parse_bind("1.2.3.4:90-80").is_err());
        assert!(parse_bind("/run/x.sock").unwrap_err().contains("unix"));
        assert!(parse_bind("foo:80").is_err());
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            parse_server("10.0.0.1:80").unwrap(),
            ServerSpec {
                host: "10.0.0.1".into(),
                port: Some(80)
            }
        );
        assert_eq!(parse_server("10.0.0.1").unwrap().port, None);
        assert_eq!(parse_server("10.0.0.1:").unwrap().port, None);
        assert_eq!(
            parse_server("[::1]:8080").unwrap(),
            ServerSpec {
                host: "::1".into(),
                port: Some(8080)
            }
        );
        assert_eq!(parse_server("::1").unwrap().port, None);
        assert_eq!(
            parse_server("app.internal:80").unwrap().host,
            "app.internal"
        );
        assert!(
            parse_server("10.0.0.1:+10")
                .unwrap_err()
                .contains("not supported yet")
        );
        assert!(parse_server("10.0.0.1:x").is_err());
        assert!(parse_server(":80").is_err());
    }
}
