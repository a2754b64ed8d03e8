//! `bind` lines and their parameters ([`keywords::BIND`]).

use super::*;

/// The handler of a bind parameter.
pub type BindFn = fn(&mut Bind, &Param, &mut Diags);

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

pub(crate) fn bind_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
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
        transparent: false,
        namespace: None,
        interface: None,
        mss: None,
        tcp_ut: None,
        name: None,
        id: None,
        accept_proxy: false,
        netscaler_cip: None,
        proto: BindProto::Auto,
        tls: None,
        tls_config: None,
        tls_certs: None,
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
        let Some(handle) = status_ok(k, p, loc, d) else {
            continue;
        };
        let param = Param {
            kw: p,
            val: val.unwrap_or(""),
            takes_value: nargs == 1,
            what: "bind",
            loc,
            g,
        };
        handle(&mut proto, &param, d);
    }
    let before = px.binds.len();
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
    // HAProxy's checks of `id` (bind_parse_id): one listener, an id the proxy's other
    // listeners do not have.
    if let Some(id) = proto.id {
        if px.binds.len() > before + 1 {
            d.error(
                loc,
                format!("'bind {addrs}': 'id' can only be used with a single socket"),
            );
        } else if let Some(o) = px.binds[..before].iter().find(|b| b.id == Some(id)) {
            d.error(
                loc,
                format!(
                    "'bind {addrs}': 'id' : custom id {id} already used at {} ('bind {}')",
                    o.loc, o.text
                ),
            );
        }
    }
}

/// A numeric parameter, at least `min`.
fn num(a: &Param, d: &mut Diags, min: u64) -> Option<u32> {
    match parse_uint(a.val, min, u32::MAX as u64) {
        Ok(v) => Some(v as u32),
        Err(e) => {
            d.error(a.loc, format!("'bind ... {}': {e}", a.kw));
            None
        }
    }
}

pub(crate) fn backlog(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.backlog = num(a, d, 1);
}

pub(crate) fn maxconn(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.maxconn = num(a, d, 1);
}

pub(crate) fn name(b: &mut Bind, a: &Param, _: &mut Diags) {
    b.name = Some(a.val.to_string());
}

pub(crate) fn id(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.id = num(a, d, 1);
}

pub(crate) fn v4v6(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.v6only = Some(false);
}

pub(crate) fn v6only(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.v6only = Some(true);
}

pub(crate) fn defer_accept(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.defer_accept = true;
}

pub(crate) fn tfo(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.tfo = true;
}

pub(crate) fn transparent(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.transparent = true;
}

/// `namespace NAME` (it must exist, as `ip netns add NAME` makes it, as in HAProxy).
pub(crate) fn namespace(b: &mut Bind, a: &Param, d: &mut Diags) {
    if !crate::sys::netns_exists(a.val) {
        d.error(
            a.loc,
            format!("'bind' : Cannot open namespace '{}'.", a.val),
        );
        return;
    }
    b.namespace = Some(a.val.to_string());
}

pub(crate) fn interface(b: &mut Bind, a: &Param, _: &mut Diags) {
    b.interface = Some(a.val.to_string());
}

pub(crate) fn mss(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.mss = num(a, d, 1);
}

/// `tcp-ut <delay>` (milliseconds by default).
pub(crate) fn tcp_ut(b: &mut Bind, a: &Param, d: &mut Diags) {
    if let Some(t) = user_timeout(a, d) {
        b.tcp_ut = t;
    }
}

/// The value of `tcp-ut` on a `bind` or `server` line: TCP_USER_TIMEOUT in milliseconds by
/// default, within an int (`Some(None)`: 0, none set), with HAProxy's errors.
pub(super) fn user_timeout(a: &Param, d: &mut Diags) -> Option<Option<std::time::Duration>> {
    match parse_time(a.val, MS) {
        Ok(t) if t.as_millis() > i32::MAX as u128 => {
            d.error(
                a.loc,
                format!(
                    "'{}': '{}' : timer overflow in argument '{}'",
                    a.what, a.kw, a.val
                ),
            );
            None
        }
        Ok(t) => Some((!t.is_zero()).then_some(t)),
        Err(e) => {
            d.error(a.loc, format!("'{}': '{}': {e}", a.what, a.kw));
            None
        }
    }
}

/// `accept-netscaler-cip MAGIC`: read as HAProxy 2.6 does (`atol` into 32 bits; 0 refused,
/// with its message).
pub(crate) fn accept_netscaler_cip(b: &mut Bind, a: &Param, d: &mut Diags) {
    match crate::config::units::atol(a.val) as u32 {
        0 => d.error(
            a.loc,
            format!("'{}' : '{}' : invalid value 0, must be >= 0", a.what, a.kw),
        ),
        m => b.netscaler_cip = Some(m),
    }
}

pub(crate) fn accept_proxy(b: &mut Bind, _: &Param, _: &mut Diags) {
    b.accept_proxy = true;
}

/// `level`, `expose-fd` and `severity-output` belong to the runtime API's sockets: HAProxy 2.6 checks them on
/// every `bind` line and ignores them elsewhere (configuration manual 5.1: "It is ignored
/// by other sockets"), and so does corelb. Checked here with HAProxy's words.
pub(crate) fn level(_: &mut Bind, a: &Param, d: &mut Diags) {
    if let Err(e) = crate::config::cli::parse_level(Some(a.val)) {
        d.error(a.loc, format!("'{}' : {e}", a.what));
    }
}

pub(crate) fn severity_output(_: &mut Bind, a: &Param, d: &mut Diags) {
    if let Err(e) = crate::config::cli::parse_severity(Some(a.val)) {
        d.error(a.loc, format!("'{}' : {e}", a.what));
    }
}

pub(crate) fn expose_fd(_: &mut Bind, a: &Param, d: &mut Diags) {
    if let Err(e) = crate::config::cli::parse_expose_fd(Some(a.val)) {
        d.error(a.loc, format!("'{}' : {e}", a.what));
    }
}

/// The file mode of a UNIX socket, in octal.
pub(crate) fn mode(b: &mut Bind, a: &Param, d: &mut Diags) {
    match u32::from_str_radix(a.val, 8) {
        Ok(m) if m <= 0o7777 => b.perms.mode = Some(m),
        _ => d.error(
            a.loc,
            format!("'bind ... mode': '{}' is not an octal file mode", a.val),
        ),
    }
}

pub(crate) fn uid(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.perms.uid = num(a, d, 0);
}

pub(crate) fn gid(b: &mut Bind, a: &Param, d: &mut Diags) {
    b.perms.gid = num(a, d, 0);
}

pub(crate) fn user(b: &mut Bind, a: &Param, _: &mut Diags) {
    b.perms.user = Some(a.val.to_string());
}

pub(crate) fn group(b: &mut Bind, a: &Param, _: &mut Diags) {
    b.perms.group = Some(a.val.to_string());
}

pub(crate) fn proto(b: &mut Bind, a: &Param, d: &mut Diags) {
    match a.val {
        "h2" => b.proto = BindProto::H2,
        // Also ends the implicit upgrade to HTTP/2 on this bind, as in HAProxy.
        "h1" => b.proto = BindProto::H1,
        _ => d.error(
            a.loc,
            format!("'bind ... proto {}': corelb speaks h1 and h2", a.val),
        ),
    }
}

/// The keywords of [`crate::tls::options::BIND_KEYWORDS`], applied by the TLS settings.
pub(crate) fn tls(b: &mut Bind, a: &Param, d: &mut Diags) {
    let t = b.tls.get_or_insert_with(Default::default);
    match t.apply(a.g, a.kw, a.takes_value.then_some(a.val)) {
        Ok(ws) => {
            for wn in ws {
                d.warn(a.loc, wn);
            }
        }
        Err(e) => d.error(a.loc, format!("'bind ... {}': {e}", a.kw)),
    }
}
