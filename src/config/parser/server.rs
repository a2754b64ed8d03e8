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
    "send-proxy-v2-ssl-cn",
    "ssl",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "tfo",
    "no-tfo",
    "no-backup",
    "no-agent-check",
    "no-check-send-proxy",
    "no-send-proxy",
    "no-send-proxy-v2",
    "no-send-proxy-v2-ssl",
    "no-send-proxy-v2-ssl-cn",
    "stick",
    "non-stick",
    "check-via-socks4",
    "allow-0rtt",
];

pub(crate) fn server_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
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
            port_offset: 0,
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
            port_offset: spec.port_offset,
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

/// `server-template PREFIX NUM|RANGE FQDN[:PORT] PARAMS…`: one `server` line per name.
pub(crate) fn template(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    match crate::config::resolvers::template_names(w) {
        Ok(names) => {
            for name in names {
                let mut line = vec!["server".to_string(), name, w[3].clone()];
                line.extend_from_slice(&w[4..]);
                server_kw(px, &line, loc, d, g);
            }
        }
        Err(e) => d.error(loc, e),
    }
}

pub(crate) fn default_server(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    g: &TlsGlobals,
) {
    let mut p = px.default_server.clone();
    server_params(&mut p, None, &w[1..], loc, d, g);
    px.default_server = p;
}

/// The handler of a server parameter.
pub type ServerFn = fn(&mut ServerLine, &Param, &mut Diags);

/// What the parameters of one `server` or `default-server` line fill in.
pub struct ServerLine<'a> {
    pub params: &'a mut ServerParams,
    /// The `id` parameter, refused on `default-server` lines.
    pub id: Option<u32>,
    pub default_server: bool,
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
    let mut line = ServerLine {
        params: p,
        id: None,
        default_server: name.is_none(),
    };
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let Some(kwd) = keywords::find(keywords::SERVER, k) else {
            let h = keywords::hint(k, keywords::SERVER.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{k}' on '{what}' line{h}"));
            return line.id;
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
            return line.id;
        }
        i += 1 + nargs;
        let Some(handle) = status_ok(kwd, k, loc, d) else {
            continue;
        };
        let param = Param {
            kw: k,
            val: val.unwrap_or(""),
            takes_value: nargs == 1,
            what: &what,
            loc,
            g,
        };
        handle(&mut line, &param, d);
    }
    line.id
}

/// A numeric parameter within `min..=max`.
fn num(a: &Param, d: &mut Diags, min: u64, max: u64) -> Option<u32> {
    match parse_uint(a.val, min, max) {
        Ok(v) => Some(v as u32),
        Err(e) => {
            d.error(a.loc, format!("'{}': '{}' {e}", a.what, a.kw));
            None
        }
    }
}

/// `resolvers`, `resolve-prefer`, `resolve-net`, `resolve-opts`, `init-addr`.
pub(crate) fn dns(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    crate::config::resolvers::server_kw(&mut s.params.dns, a.what, a.kw, a.val, a.loc, d);
}

pub(crate) fn weight(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 0, 256) {
        s.params.weight = v;
    }
}

pub(crate) fn backup(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.backup = true;
}

pub(crate) fn disabled(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.disabled = true;
}

pub(crate) fn enabled(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.disabled = false;
}

pub(crate) fn maxconn(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 0, u32::MAX as u64) {
        s.params.maxconn = v;
    }
}

pub(crate) fn check(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.check.enabled = true;
}

pub(crate) fn no_check(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.check.enabled = false;
}

/// `inter`, `fastinter` and `downinter`: check intervals, never zero.
pub(crate) fn inter(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let (what, k) = (a.what, a.kw);
    match parse_time(a.val, MS) {
        Ok(t) if !t.is_zero() => match k {
            "inter" => s.params.check.inter = t,
            "fastinter" => s.params.check.fastinter = Some(t),
            _ => s.params.check.downinter = Some(t),
        },
        Ok(_) => d.error(a.loc, format!("'{what}': '{k}' must be greater than zero")),
        Err(e) => d.error(a.loc, format!("'{what}': '{k}': {e}")),
    }
}

pub(crate) fn rise(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 1, 1000) {
        s.params.check.rise = v;
    }
}

pub(crate) fn fall(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 1, 1000) {
        s.params.check.fall = v;
    }
}

pub(crate) fn port(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 1, 65535) {
        s.params.check.port = Some(v as u16);
    }
}

pub(crate) fn addr(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    s.params.check.addr = Some(a.val.to_string());
}

pub(crate) fn check_send_proxy(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.check.send_proxy = true;
}

/// `check-sni NAME`: the SNI of checks over TLS.
pub(crate) fn check_sni(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    s.params.check.sni = Some(a.val.to_string());
}

pub(crate) fn on_marked_down(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match a.val {
        "shutdown-sessions" => s.params.check.down_shutdown_sessions = true,
        o => d.error(
            a.loc,
            format!(
                "'{}': 'on-marked-down' expects 'shutdown-sessions', not '{o}'",
                a.what
            ),
        ),
    }
}

pub(crate) fn on_marked_up(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match a.val {
        "shutdown-backup-sessions" => s.params.check.up_shutdown_backup_sessions = true,
        o => d.error(
            a.loc,
            format!(
                "'{}': 'on-marked-up' expects 'shutdown-backup-sessions', not '{o}'",
                a.what
            ),
        ),
    }
}

pub(crate) fn cookie(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    s.params.cookie = Some(a.val.to_string());
}

/// The keywords of [`crate::tls::options::SERVER_KEYWORDS`], applied by the TLS settings.
pub(crate) fn tls(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let t = s.params.tls.get_or_insert_with(Default::default);
    match t.apply(a.g, a.kw, a.takes_value.then_some(a.val)) {
        Ok(ws) => {
            for wn in ws {
                d.warn(a.loc, wn);
            }
        }
        Err(e) => d.error(a.loc, format!("'{}': '{}': {e}", a.what, a.kw)),
    }
}

/// `proto h2`: HTTP/2 to the server from the first byte (h2c with prior knowledge, or h2
/// over `ssl` whatever ALPN says); `proto h1` is the default.
pub(crate) fn proto(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match a.val {
        "h2" => s.params.proto_h2 = true,
        "h1" => s.params.proto_h2 = false,
        _ => {
            return d.error(
                a.loc,
                format!("'{} ... proto {}': corelb speaks h1 and h2", a.what, a.val),
            );
        }
    }
    s.params.proto_given = true;
}

/// `ws auto|h1|h2` (HAProxy 2.6's words): the protocol of WebSocket requests to the server.
/// corelb carries them over HTTP/1.1 only: `h2` (extended CONNECT, RFC 8441) is refused.
pub(crate) fn ws(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    s.params.ws_h1 = match a.val {
        "auto" => None,
        "h1" => Some(true),
        "h2" => {
            let why = "corelb has no WebSocket over HTTP/2 to servers (extended CONNECT, RFC 8441): it carries them over HTTP/1.1 ('ws h1')";
            return d.error(
                a.loc,
                format!("'{}' : 'ws h2' is not supported: {why}", a.what),
            );
        }
        _ => {
            let msg = format!("'{}' : 'ws' has to be 'auto', 'h1' or 'h2'.", a.what);
            return d.error(a.loc, msg);
        }
    };
}

/// `check-proto h1|h2|none`: what checks speak, whatever `proto` and ALPN say (HAProxy
/// 2.6's multiplexer for check connections; it must suit the check, see validate).
pub(crate) fn check_proto(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    s.params.check.proto = Some(match a.val {
        "h2" => CheckProto::H2,
        "h1" => CheckProto::H1,
        "none" => CheckProto::None,
        "fcgi" => {
            return d.error(
                a.loc,
                format!(
                    "'{} ... check-proto fcgi': corelb does not speak FastCGI",
                    a.what
                ),
            );
        }
        o => {
            return d.error(
                a.loc,
                format!(
                    "'{}': 'check-proto': unknown protocol '{o}' (h1, h2 or none)",
                    a.what
                ),
            );
        }
    });
}

/// `tfo`: TCP Fast Open towards the server.
pub(crate) fn tfo(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.tfo = true;
}

/// `tcp-ut <delay>`: TCP_USER_TIMEOUT of the connections to the server.
pub(crate) fn tcp_ut(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(t) = super::bind::user_timeout(a, d) {
        s.params.tcp_ut = t;
    }
}

/// The `no-*` forms (and `stick`/`non-stick`): undo on a server what its `default-server`
/// line set, as HAProxy's server keywords do.
pub(crate) fn negation(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    let p = &mut *s.params;
    match a.kw {
        "no-tfo" => p.tfo = false,
        "no-backup" => p.backup = false,
        "no-agent-check" => p.agent.enabled = false,
        "no-check-send-proxy" => p.check.send_proxy = false,
        // HAProxy clears only the flag the keyword names: `no-send-proxy` leaves a v2
        // header on, `no-send-proxy-v2-ssl` the v2 header without its SSL TLV.
        "no-send-proxy" if p.send_proxy == Some(ProxyVersion::V1) => p.send_proxy = None,
        "no-send-proxy-v2" if p.send_proxy == Some(ProxyVersion::V2) => p.send_proxy = None,
        "no-send-proxy-v2-ssl" => p.pp_opts.0 &= !PpOpts::SSL,
        "no-send-proxy-v2-ssl-cn" => p.pp_opts.0 &= !PpOpts::SSL_CN,
        "non-stick" => p.non_stick = true,
        "stick" => p.non_stick = false,
        _ => {}
    }
}

/// `pool-max-conn <max>`: -1 (no limit), or the idle connections to keep at most.
pub(crate) fn pool_max_conn(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if a.val == "-1" {
        s.params.pool_max_conn = None;
    } else if let Some(v) = num(a, d, 0, i32::MAX as u64) {
        s.params.pool_max_conn = Some(v);
    }
}

/// `max-reuse <count>`: -1 (no limit, as any negative number is to HAProxy), or how many
/// times a connection may be reused.
pub(crate) fn max_reuse(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if a.val.starts_with('-') && a.val[1..].bytes().all(|b| b.is_ascii_digit()) && a.val.len() > 1 {
        s.params.max_reuse = None;
    } else if let Some(v) = num(a, d, 0, i32::MAX as u64) {
        s.params.max_reuse = Some(v);
    }
}

/// `socks4 <addr>:<port>`: the SOCKS4 proxy connections to the server go through.
pub(crate) fn socks4(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let v = a.val;
    let err = |m: String| format!("'{}' : 'socks4 {v}' : {m}", a.what);
    if let Ok(sa) = v.parse::<std::net::SocketAddr>() {
        s.params.socks4 = Some(sa);
        return;
    }
    match v.rsplit_once(':') {
        None => d.error(a.loc, err(format!("missing port specification in '{v}'."))),
        Some((_, p)) if p.contains('-') => d.error(
            a.loc,
            err(format!("port range not permitted here in '{v}'.")),
        ),
        Some(_) => match std::net::ToSocketAddrs::to_socket_addrs(v).map(|mut i| i.next()) {
            Ok(Some(sa)) => s.params.socks4 = Some(sa),
            _ => d.error(a.loc, err(format!("could not resolve address '{v}'."))),
        },
    }
}

/// `check-via-socks4`: the health checks go through the `socks4` proxy too.
pub(crate) fn check_via_socks4(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.check_via_socks4 = true;
}

/// `pool-purge-delay <delay>`: how long idle connections are kept (0: none is).
pub(crate) fn pool_purge_delay(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match parse_time(a.val, MS) {
        Ok(t) => s.params.pool_purge_delay = t,
        Err(e) => d.error(a.loc, format!("'{}': '{}': {e}", a.what, a.kw)),
    }
}

pub(crate) fn send_proxy(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.send_proxy = Some(ProxyVersion::V1);
}

pub(crate) fn send_proxy_v2(s: &mut ServerLine, _: &Param, _: &mut Diags) {
    s.params.send_proxy = Some(ProxyVersion::V2);
}

/// `send-proxy-v2-ssl`: v2 with the SSL TLV; `send-proxy-v2-ssl-cn`: with the client
/// certificate's CN in it too.
pub(crate) fn send_proxy_v2_ssl(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    s.params.send_proxy = Some(ProxyVersion::V2);
    s.params.pp_opts.0 |= PpOpts::SSL;
    if a.kw == "send-proxy-v2-ssl-cn" {
        s.params.pp_opts.0 |= PpOpts::SSL_CN;
    }
}

/// `proxy-v2-options <opt>[,<opt>]*`: TLVs for a v2 header (it does not turn one on).
pub(crate) fn proxy_v2_options(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    for w in a.val.split(',') {
        match PpOpts::option(w) {
            Some(f) => s.params.pp_opts.0 |= f,
            None => {
                d.error(
                    a.loc,
                    format!("'{}': '{w}' : proxy v2 option not implemented", a.what),
                );
                return;
            }
        }
    }
}

pub(crate) fn observe(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let what = a.what;
    match a.val {
        "layer4" => s.params.observe.layer4 = true,
        "none" => s.params.observe.layer4 = false,
        "layer7" => d.error(
            a.loc,
            format!("'{what}': 'observe layer7' is not supported yet"),
        ),
        o => d.error(
            a.loc,
            format!("'{what}': 'observe' expects layer4 or layer7, not '{o}'"),
        ),
    }
}

pub(crate) fn on_error(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match a.val {
        "fastinter" => s.params.observe.on_error = OnError::FastInter,
        "fail-check" => s.params.observe.on_error = OnError::FailCheck,
        "sudden-death" => s.params.observe.on_error = OnError::SuddenDeath,
        "mark-down" => s.params.observe.on_error = OnError::MarkDown,
        o => d.error(
            a.loc,
            format!("'{}': 'on-error' expects fastinter, fail-check, sudden-death or mark-down, not '{o}'", a.what),
        ),
    }
}

pub(crate) fn error_limit(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 1, 1_000_000) {
        s.params.observe.error_limit = v;
    }
}

pub(crate) fn id(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if s.default_server {
        d.error(a.loc, "'id' is not allowed on 'default-server'");
    } else {
        s.id = num(a, d, 1, i32::MAX as u64);
    }
}

pub(crate) fn maxqueue(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 0, i32::MAX as u64) {
        s.params.maxqueue = v;
    }
}

pub(crate) fn minconn(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if let Some(v) = num(a, d, 0, i32::MAX as u64) {
        s.params.minconn = v;
    }
}

/// `slowstart T` (0 turns it off, as in HAProxy).
pub(crate) fn slowstart(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match parse_time(a.val, MS) {
        Ok(t) => s.params.slowstart = (!t.is_zero()).then_some(t),
        Err(e) => d.error(a.loc, format!("'{}': 'slowstart': {e}", a.what)),
    }
}

/// `track [BACKEND/]SERVER`; the target is checked once every backend is known.
pub(crate) fn track(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let (be, srv) = match a.val.split_once('/') {
        Some((b, s)) => (Some(b.to_string()), s.to_string()),
        None => (None, a.val.to_string()),
    };
    if srv.is_empty() || be.as_deref() == Some("") {
        d.error(
            a.loc,
            format!(
                "'{}': 'track' expects [<backend>/]<server>, not '{}'",
                a.what, a.val
            ),
        );
        return;
    }
    s.params.track = Some((be, srv));
}

/// `agent-check`, `agent-port`, `agent-addr`, `agent-inter`, `agent-send`.
pub(crate) fn agent(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    let ag = &mut s.params.agent;
    match a.kw {
        "agent-check" => ag.enabled = true,
        "agent-port" => {
            if let Some(v) = num(a, d, 1, 65535) {
                ag.port = Some(v as u16);
            }
        }
        "agent-addr" => ag.addr = Some(a.val.to_string()),
        "agent-send" => ag.send = Some(a.val.to_string()),
        _ => match parse_time(a.val, MS) {
            Ok(t) if !t.is_zero() => ag.inter = Some(t),
            Ok(_) => d.error(
                a.loc,
                format!("'{}': 'agent-inter' must be greater than zero", a.what),
            ),
            Err(e) => d.error(a.loc, format!("'{}': 'agent-inter': {e}", a.what)),
        },
    }
}

/// `redir PREFIX` (mode http).
pub(crate) fn redir(s: &mut ServerLine, a: &Param, _: &mut Diags) {
    s.params.redir = Some(a.val.to_string());
}

/// `source ADDR[:PORT]`: an IP literal and an optional fixed port (a port range is
/// refused, as HAProxy's backend `source` and `usesrc` do).
pub(crate) fn parse_source(v: &str) -> Result<std::net::SocketAddr, String> {
    match parse_source_range(v)? {
        (_, Some(_)) => Err(format!("port range not permitted here in '{v}'")),
        (sa, None) => Ok(sa),
    }
}

/// `source ADDR[:LOW[-HIGH]]` as HAProxy's `str2sa_range` reads it: the numbers as `atoi`
/// (an empty HIGH is 0), each within 0-65535, LOW not above HIGH. A range of one port is
/// that fixed port.
pub(crate) fn parse_source_range(
    v: &str,
) -> Result<(std::net::SocketAddr, Option<(u16, u16)>), String> {
    let range = v
        .rsplit_once(':')
        .filter(|(_, p)| p.starts_with(|c: char| c.is_ascii_digit()));
    let Some((host, ports)) = range.and_then(|(h, p)| Some((h, p.split_once('-')?))) else {
        return parse_one(v).map(|sa| (sa, None));
    };
    // HAProxy's atoi: the leading digits, 0 without any.
    let atoi = |p: &str| -> u64 {
        p.bytes()
            .take_while(u8::is_ascii_digit)
            .take(6)
            .fold(0, |n, b| n * 10 + u64::from(b - b'0'))
    };
    let (low, high) = (atoi(ports.0), atoi(ports.1));
    for (n, p) in [(low, ports.0), (high, ports.1)] {
        if n > 65535 {
            return Err(format!("invalid port '{p}'"));
        }
    }
    if low > high {
        return Err(format!("invalid port range '{low}-{high}'"));
    }
    let sa = parse_one(&format!("{host}:{low}"))?;
    Ok((sa, (low != high).then_some((low as u16, high as u16))))
}

fn parse_one(v: &str) -> Result<std::net::SocketAddr, String> {
    let spec = addr::parse_server(v)?;
    if spec.port_offset != 0 {
        return Err(format!("port offset not permitted here in '{v}'"));
    }
    let ip = addr::resolve(&spec.host)?;
    Ok(std::net::SocketAddr::new(ip, spec.port.unwrap_or(0)))
}

/// `source ADDR[:PORT|:LOW-HIGH]` on a server (its `usesrc` and `interface` follow it).
pub(crate) fn source(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    match parse_source_range(a.val) {
        Ok((sa, ports)) => {
            s.params.source = Some(sa);
            s.params.source_ports = ports;
            // A server's source replaces whatever `default-server` said of it.
            s.params.usesrc = None;
            s.params.interface = None;
        }
        Err(e) => d.error(a.loc, format!("'{}' : 'source {}' : {e}", a.what, a.val)),
    }
}

/// Whether a `source` came before `usesrc` or `interface` on the line (HAProxy's error if not).
fn after_source(s: &ServerLine, a: &Param, d: &mut Diags) -> bool {
    if s.params.source.is_none() {
        let e = format!(
            "'{}' : '{}' only allowed after a 'source' statement.",
            a.what, a.kw
        );
        d.error(a.loc, e);
    }
    s.params.source.is_some()
}

/// `usesrc ADDR[:PORT]|client|clientip`, after `source` on a server line.
pub(crate) fn usesrc(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if !after_source(s, a, d) {
        return;
    }
    match parse_usesrc(a.val) {
        Ok(u) => s.params.usesrc = Some(u),
        Err(e) => d.error(a.loc, format!("'{}' : {e}", a.what)),
    }
}

/// `interface NAME`, after `source` on a server line.
pub(crate) fn interface(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if !after_source(s, a, d) {
        return;
    }
    s.params.interface = Some(a.val.to_string());
}

/// `namespace NAME`: the network namespace the server's connections are made in (it must
/// exist, as `ip netns add NAME` makes it, as in HAProxy).
pub(crate) fn namespace(s: &mut ServerLine, a: &Param, d: &mut Diags) {
    if !crate::sys::netns_exists(a.val) {
        d.error(
            a.loc,
            format!("'{}' : Cannot open namespace '{}'.", a.what, a.val),
        );
        return;
    }
    s.params.namespace = Some(a.val.to_string());
}

/// The argument of `usesrc`.
pub(crate) fn parse_usesrc(v: &str) -> Result<UseSrc, String> {
    match v {
        "" => Err("'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.".into()),
        "client" => Ok(UseSrc::Client),
        "clientip" => Ok(UseSrc::ClientIp),
        v if v.starts_with("hdr_ip(") => Err(format!(
            "'usesrc {v}' is not supported yet (use 'client', 'clientip' or an address)"
        )),
        v => parse_source(v)
            .map(UseSrc::Addr)
            .map_err(|e| format!("'usesrc {v}' : {e}")),
    }
}
