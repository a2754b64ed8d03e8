//! `bind` lines and their parameters ([`keywords::BIND`]).

use super::*;

/// Bind parameters that take no argument; every other one takes exactly one.
pub(super) const BIND_FLAGS: &[&str] = &[
    "v4v6",
    "v6only",
    "defer-accept",
    "tfo",
    "accept-proxy",
    "ssl",
    "transparent",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "strict-sni",
    "generate-certificates",
    "allow-0rtt",
];

pub(super) fn bind_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let Some(addrs) = w.get(1) else {
        d.error(loc, "'bind' expects [ADDR]:PORT");
        return;
    };
    let mut proto = Bind {
        addr: addr::ListenAddr::Inet("0.0.0.0:0".parse().unwrap()),
        text: String::new(),
        perms: Default::default(),
        backlog: None,
        maxconn: None,
        v6only: None,
        defer_accept: false,
        tfo: false,
        interface: None,
        mss: None,
        name: None,
        accept_proxy: false,
        h2: false,
        tls: None,
        tls_config: None,
        loc: loc.clone(),
    };
    let mut i = 2;
    while i < w.len() {
        let p = w[i].as_str();
        let Some(k) = keywords::find(keywords::BIND, p) else {
            let h = keywords::hint(p, keywords::BIND.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{p}' on 'bind' line{h}"));
            return;
        };
        let tls_kw = crate::tls::options::BIND_KEYWORDS
            .iter()
            .find(|(n, _)| *n == p);
        let nargs = match tls_kw {
            Some((_, takes)) => usize::from(*takes),
            None if BIND_FLAGS.contains(&p) => 0,
            None => 1,
        };
        let val = w.get(i + 1).map(String::as_str);
        if nargs == 1 && val.is_none() {
            d.error(loc, format!("'bind' parameter '{p}' expects a value"));
            return;
        }
        i += 1 + nargs;
        if !status_ok(k, p, loc, d) {
            continue;
        }
        let val = val.unwrap_or("");
        let num = |d: &mut Diags, min: u64| match parse_uint(val, min, u32::MAX as u64) {
            Ok(v) => Some(v as u32),
            Err(e) => {
                d.error(loc, format!("'bind ... {p}': {e}"));
                None
            }
        };
        match p {
            "backlog" => proto.backlog = num(d, 1),
            "maxconn" => proto.maxconn = num(d, 1),
            "name" => proto.name = Some(val.to_string()),
            "id" => {
                num(d, 1);
            }
            "v4v6" => proto.v6only = Some(false),
            "v6only" => proto.v6only = Some(true),
            "defer-accept" => proto.defer_accept = true,
            "tfo" => proto.tfo = true,
            "interface" => proto.interface = Some(val.to_string()),
            "mss" => proto.mss = num(d, 1),
            "accept-proxy" => proto.accept_proxy = true,
            "mode" => match u32::from_str_radix(val, 8) {
                Ok(m) if m <= 0o7777 => proto.perms.mode = Some(m),
                _ => d.error(
                    loc,
                    format!("'bind ... mode': '{val}' is not an octal file mode"),
                ),
            },
            "uid" => proto.perms.uid = num(d, 0),
            "gid" => proto.perms.gid = num(d, 0),
            "user" => proto.perms.user = Some(val.to_string()),
            "group" => proto.perms.group = Some(val.to_string()),
            "proto" => match val {
                "h2" => proto.h2 = true,
                // HAProxy's default on a plain or ALPN-less bind.
                "h1" => proto.h2 = false,
                _ => d.error(
                    loc,
                    format!("'bind ... proto {val}': corelb speaks h1 and h2"),
                ),
            },
            _ if tls_kw.is_some() => {
                let t = proto.tls.get_or_insert_with(Default::default);
                match t.apply(g, p, (nargs == 1).then_some(val)) {
                    Ok(ws) => {
                        for wn in ws {
                            d.warn(loc, wn);
                        }
                    }
                    Err(e) => d.error(loc, format!("'bind ... {p}': {e}")),
                }
            }
            _ => d.error(
                loc,
                format!("internal error: no handler for bind parameter '{p}'"),
            ),
        }
    }
    for item in addrs.split(',').filter(|s| !s.is_empty()) {
        let other = addr::SockPath::parse(item)
            .map(|r| r.map(addr::ListenAddr::Path))
            .or_else(|| addr::parse_fd(item).map(|r| r.map(addr::ListenAddr::Fd)));
        if let Some(r) = other {
            match r {
                Ok(a) => {
                    let mut b = proto.clone();
                    b.addr = a;
                    b.text = item.to_string();
                    px.binds.push(b);
                }
                Err(e) => d.error(loc, format!("'bind': {e}")),
            }
            continue;
        }
        match addr::parse_bind(item) {
            Ok(spec) => {
                for port in spec.ports {
                    let mut b = proto.clone();
                    b.addr = addr::ListenAddr::Inet(std::net::SocketAddr::new(spec.ip, port));
                    b.text = item.to_string();
                    px.binds.push(b);
                }
            }
            Err(e) => d.error(loc, format!("'bind': {e}")),
        }
    }
}
