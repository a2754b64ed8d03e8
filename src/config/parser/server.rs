//! `server`, `server-template` and `default-server` lines and their parameters
//! ([`keywords::SERVER`]).

use super::*;

/// Server parameters that take no argument; every other one takes exactly one.
pub(super) const SERVER_FLAGS: &[&str] = &[
    "backup",
    "disabled",
    "enabled",
    "check",
    "no-check",
    "check-send-proxy",
    "check-ssl",
    "agent-check",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "ssl",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "tfo",
];

pub(super) fn server_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let (Some(name), Some(address)) = (w.get(1), w.get(2)) else {
        d.error(
            loc,
            "'server' expects <name> and <addr>[:<port>] as arguments",
        );
        return;
    };
    check_proxy_name(name, "server", loc, d);
    if let Some(prev) = px.servers.iter().find(|s| &s.name == name) {
        d.error(
            loc,
            format!(
                "backend '{}' has two servers named '{name}' (the first at {})",
                px.name, prev.loc
            ),
        );
        return;
    }
    // A parameter keyword in the address slot means the address was forgotten.
    if keywords::find(keywords::SERVER, address).is_some() {
        d.error(
            loc,
            format!("'server {name}' has no address ('{address}' is a parameter); expected <name> <addr>[:<port>]"),
        );
        return;
    }
    let path = match addr::SockPath::parse(address).transpose() {
        Ok(p) => p,
        Err(e) => {
            d.error(loc, format!("'server {name}': {e}"));
            return;
        }
    };
    let spec = match path {
        Some(_) => addr::ServerSpec {
            host: address.clone(),
            port: None,
        },
        None => match addr::parse_server(address) {
            Ok(s) => s,
            Err(e) => {
                d.error(loc, format!("'server {name}': {e}"));
                return;
            }
        },
    };
    let mut params = px.default_server.clone();
    let id = server_params(&mut params, Some(name), &w[3..], loc, d, g);
    px.servers.push(Server {
        name: name.clone(),
        addr: ServerAddr {
            text: spec.host,
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: spec.port,
            unresolved: false,
            path,
        },
        params,
        id,
        check_ip: None,
        tls_config: None,
        tls_sni: None,
        loc: loc.clone(),
    });
}

/// Parses server parameters into `p`; returns the `id` if one was given.
pub(super) fn server_params(
    p: &mut ServerParams,
    name: Option<&String>,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    g: &TlsGlobals,
) -> Option<u32> {
    let what = match name {
        Some(n) => format!("server {n}"),
        None => "default-server".to_string(),
    };
    let mut id = None;
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let Some(kwd) = keywords::find(keywords::SERVER, k) else {
            let h = keywords::hint(k, keywords::SERVER.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{k}' on '{what}' line{h}"));
            return id;
        };
        let tls_kw = crate::tls::options::SERVER_KEYWORDS
            .iter()
            .find(|(n, _)| *n == k);
        let nargs = match tls_kw {
            Some((_, takes)) => usize::from(*takes),
            None if SERVER_FLAGS.contains(&k) => 0,
            None => 1,
        };
        let val = w.get(i + 1).map(String::as_str);
        if nargs == 1 && val.is_none() {
            d.error(loc, format!("'{what}': '{k}' expects a value"));
            return id;
        }
        i += 1 + nargs;
        if !status_ok(kwd, k, loc, d) {
            continue;
        }
        let val = val.unwrap_or("");
        let num = |d: &mut Diags, min: u64, max: u64| match parse_uint(val, min, max) {
            Ok(v) => Some(v as u32),
            Err(e) => {
                d.error(loc, format!("'{what}': '{k}' {e}"));
                None
            }
        };
        if crate::config::resolvers::server_kw(&mut p.dns, &what, k, val, loc, d) {
            continue;
        }
        match k {
            "weight" => {
                if let Some(v) = num(d, 0, 256) {
                    p.weight = v;
                }
            }
            "backup" => p.backup = true,
            "disabled" => p.disabled = true,
            "enabled" => p.disabled = false,
            "maxconn" => {
                if let Some(v) = num(d, 0, u32::MAX as u64) {
                    p.maxconn = v;
                }
            }
            "check" => p.check.enabled = true,
            "no-check" => p.check.enabled = false,
            "inter" | "fastinter" | "downinter" => match parse_time(val, MS) {
                Ok(t) if !t.is_zero() => match k {
                    "inter" => p.check.inter = t,
                    "fastinter" => p.check.fastinter = Some(t),
                    _ => p.check.downinter = Some(t),
                },
                Ok(_) => d.error(loc, format!("'{what}': '{k}' must be greater than zero")),
                Err(e) => d.error(loc, format!("'{what}': '{k}': {e}")),
            },
            "rise" => {
                if let Some(v) = num(d, 1, 1000) {
                    p.check.rise = v;
                }
            }
            "fall" => {
                if let Some(v) = num(d, 1, 1000) {
                    p.check.fall = v;
                }
            }
            "port" => {
                if let Some(v) = num(d, 1, 65535) {
                    p.check.port = Some(v as u16);
                }
            }
            "addr" => p.check.addr = Some(val.to_string()),
            "check-send-proxy" => p.check.send_proxy = true,
            "cookie" => p.cookie = Some(val.to_string()),
            _ if tls_kw.is_some() => {
                let t = p.tls.get_or_insert_with(Default::default);
                match t.apply(g, k, (nargs == 1).then_some(val)) {
                    Ok(ws) => {
                        for wn in ws {
                            d.warn(loc, wn);
                        }
                    }
                    Err(e) => d.error(loc, format!("'{what}': '{k}': {e}")),
                }
            }
            "send-proxy" => p.send_proxy = Some(ProxyVersion::V1),
            "send-proxy-v2" => p.send_proxy = Some(ProxyVersion::V2),
            "observe" => match val {
                "layer4" => p.observe.layer4 = true,
                "none" => p.observe.layer4 = false,
                "layer7" => d.error(loc, format!("'{what}': 'observe layer7' is not supported yet")),
                o => d.error(loc, format!("'{what}': 'observe' expects layer4 or layer7, not '{o}'")),
            },
            "on-error" => match val {
                "fastinter" => p.observe.on_error = OnError::FastInter,
                "fail-check" => p.observe.on_error = OnError::FailCheck,
                "sudden-death" => p.observe.on_error = OnError::SuddenDeath,
                "mark-down" => p.observe.on_error = OnError::MarkDown,
                o => d.error(
                    loc,
                    format!("'{what}': 'on-error' expects fastinter, fail-check, sudden-death or mark-down, not '{o}'"),
                ),
            },
            "error-limit" => {
                if let Some(v) = num(d, 1, 1_000_000) {
                    p.observe.error_limit = v;
                }
            }
            "id" => {
                if name.is_none() {
                    d.error(loc, "'id' is not allowed on 'default-server'");
                } else {
                    id = num(d, 1, i32::MAX as u64);
                }
            }
            _ => d.error(
                loc,
                format!("internal error: no handler for server parameter '{k}'"),
            ),
        }
    }
    id
}
