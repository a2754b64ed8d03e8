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
    } else if s.contains('@') {
        return Err(format!(
            "address '{s}': this kind of listener is not supported (sockpair@, quic and udp are not)"
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

/// A socket address that is not IP:port (configuration manual 2.3): a unix socket path
/// (`unix@PATH` or a path starting with `/`) or a name in Linux's abstract namespace
/// (`abns@NAME`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SockPath {
    Unix(std::path::PathBuf),
    Abns(String),
}

impl SockPath {
    /// Parses `unix@PATH`, `/PATH` or `abns@NAME`; `None` when `s` is none of them.
    pub fn parse(s: &str) -> Option<Result<SockPath, String>> {
        let (path, abns) = if let Some(p) = s.strip_prefix("unix@") {
            (p, false)
        } else if let Some(n) = s.strip_prefix("abns@") {
            (n, true)
        } else if s.starts_with('/') {
            (s, false)
        } else {
            return None;
        };
        // sun_path holds 108 bytes: a NUL ends a path, an abstract name starts with one.
        let r = if path.is_empty() {
            Err(format!("missing path or name in '{s}'"))
        } else if path.len() > 107 {
            Err(format!("'{s}': a unix socket path is at most 107 bytes"))
        } else if abns {
            Ok(SockPath::Abns(path.to_string()))
        } else {
            Ok(SockPath::Unix(path.into()))
        };
        Some(r)
    }

    /// The kernel's address. An abstract name is padded with NULs to the whole of
    /// sun_path, as HAProxy binds and connects `abns@` (so `socat ABSTRACT-CONNECT` and
    /// HAProxy itself reach the same socket).
    pub fn sockaddr(&self) -> std::io::Result<socket2::SockAddr> {
        match self {
            SockPath::Unix(p) => socket2::SockAddr::unix(p),
            SockPath::Abns(name) => {
                use std::os::unix::ffi::OsStrExt;
                let mut bytes = vec![0u8; 108];
                bytes[1..1 + name.len()].copy_from_slice(name.as_bytes());
                socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
            }
        }
    }
}

impl std::fmt::Display for SockPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SockPath::Unix(p) => write!(f, "unix@{}", p.display()),
            SockPath::Abns(n) => write!(f, "abns@{n}"),
        }
    }
}

/// Where to connect to a server.
#[derive(Clone, Copy, Debug)]
pub enum Dest<'a> {
    Inet(SocketAddr),
    Path(&'a SockPath),
}

impl std::fmt::Display for Dest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Inet(a) => a.fmt(f),
            Dest::Path(p) => p.fmt(f),
        }
    }
}

/// Where a `bind` listens: an IP address and port (one socket per shard, SO_REUSEPORT), a
/// unix or abstract socket, or a listening socket inherited from the parent (`fd@N`).
/// The last two are one socket that every shard accepts from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    Inet(SocketAddr),
    Path(SockPath),
    Fd(i32),
}

impl ListenAddr {
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            ListenAddr::Inet(a) => Some(*a),
            _ => None,
        }
    }
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Inet(a) => a.fmt(f),
            ListenAddr::Path(p) => p.fmt(f),
            ListenAddr::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

/// Owner and mode of a unix socket's file (`bind … mode/uid/gid/user/group`, the same
/// words on `stats socket`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnixPerms {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
}

/// `fd@N` (after `${NAME}` expansion): the number of an inherited file descriptor.
pub fn parse_fd(s: &str) -> Option<Result<i32, String>> {
    let n = s.strip_prefix("fd@")?;
    Some(
        n.parse::<i32>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("invalid file descriptor number in '{s}'")),
    )
}

/// A server address before name resolution.
#[derive(Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub host: String,
    pub port: Option<u16>,
    /// `:+N` / `:-N`: the connection goes to the client's destination port plus this
    /// (`port` is then `None`); 0 otherwise.
    pub port_offset: i32,
}

/// Parses `ADDR[:PORT]` of a `server` line: IPv4, `[IPv6]`, bare IPv6, or a host name.
/// Without a port the connection goes to the port the client connected to (HAProxy's
/// behaviour); with `:+N` / `:-N` to that port plus or minus N (HAProxy's "mapped ports").
pub fn parse_server(s: &str) -> Result<ServerSpec, String> {
    let s = s
        .strip_prefix("ipv4@")
        .or_else(|| s.strip_prefix("ipv6@"))
        .unwrap_or(s);
    if s.contains('@') {
        return Err(format!(
            "server address '{s}': this kind of address is not supported for servers (sockpair@, fd@, udp are not)"
        ));
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(ServerSpec {
            host: ip.to_string(),
            port: None,
            port_offset: 0,
        });
    }
    let (host, port) = match split_host_port(s) {
        Some((h, p)) => (h, Some(p)),
        None => (s.trim_start_matches('[').trim_end_matches(']'), None),
    };
    if host.is_empty() {
        return Err(format!("missing address in server address '{s}'"));
    }
    let mut port_offset = 0;
    let port = match port {
        None | Some("") => None,
        Some(p) if p.starts_with('+') || p.starts_with('-') => {
            let n = parse_port(&p[1..], s)?;
            port_offset = if p.starts_with('-') {
                -i32::from(n)
            } else {
                i32::from(n)
            };
            None
        }
        Some(p) => Some(parse_port(p, s)?),
    };
    if host.contains(':') && host.parse::<Ipv6Addr>().is_err() {
        return Err(format!("invalid server address '{s}'"));
    }
    Ok(ServerSpec {
        host: host.to_string(),
        port,
        port_offset,
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
    fn socket_paths() {
        assert_eq!(SockPath::parse("127.0.0.1:80"), None);
        assert_eq!(
            SockPath::parse("/run/x.sock"),
            Some(Ok(SockPath::Unix("/run/x.sock".into())))
        );
        assert_eq!(
            SockPath::parse("unix@rel.sock"),
            Some(Ok(SockPath::Unix("rel.sock".into())))
        );
        assert_eq!(
            SockPath::parse("abns@name"),
            Some(Ok(SockPath::Abns("name".into())))
        );
        assert!(matches!(SockPath::parse("unix@"), Some(Err(_))));
        assert!(matches!(
            SockPath::parse(&format!("/{}", "x".repeat(200))),
            Some(Err(_))
        ));
        let a = SockPath::Abns("n".into()).sockaddr().unwrap();
        assert_eq!(
            a.len() as usize,
            std::mem::size_of::<libc::sa_family_t>() + 108
        );
        assert_eq!(parse_fd("fd@3"), Some(Ok(3)));
        assert!(matches!(parse_fd("fd@x"), Some(Err(_))));
        assert_eq!(parse_fd("/x"), None);
        assert_eq!(parse_server("ipv4@10.0.0.1:80").unwrap().port, Some(80));
    }

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
        // Paths and fd@ are read by SockPath::parse and parse_fd before this.
        assert!(
            parse_bind("sockpair@3")
                .unwrap_err()
                .contains("not supported")
        );
        assert!(parse_bind("foo:80").is_err());
    }

    #[test]
    fn server_forms() {
        assert_eq!(
            parse_server("10.0.0.1:80").unwrap(),
            ServerSpec {
                host: "10.0.0.1".into(),
                port: Some(80),
                port_offset: 0
            }
        );
        assert_eq!(parse_server("10.0.0.1").unwrap().port, None);
        assert_eq!(parse_server("10.0.0.1:").unwrap().port, None);
        assert_eq!(
            parse_server("[::1]:8080").unwrap(),
            ServerSpec {
                host: "::1".into(),
                port: Some(8080),
                port_offset: 0
            }
        );
        assert_eq!(parse_server("::1").unwrap().port, None);
        assert_eq!(
            parse_server("app.internal:80").unwrap().host,
            "app.internal"
        );
        let rel = |s: &str| parse_server(s).map(|s| (s.port, s.port_offset));
        assert_eq!(rel("10.0.0.1:+10"), Ok((None, 10)));
        assert_eq!(rel("[::1]:-2"), Ok((None, -2)));
        assert_eq!(rel("10.0.0.1:+0"), Ok((None, 0)));
        assert!(parse_server("10.0.0.1:+x").is_err());
        assert!(parse_server("10.0.0.1:x").is_err());
        assert!(parse_server(":80").is_err());
    }
}
