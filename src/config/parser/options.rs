//! `option NAME` and `no option NAME` ([`keywords::OPTION`]).

use super::*;

/// The handler of an option: its words (the option's name first) and whether it is set
/// (`option`) or cleared (`no option`). Returns how many words it used: the dispatch reports
/// the first word after those.
pub type OptionFn = fn(&mut Proxy, &[String], bool, &Loc, &mut Diags) -> usize;

pub(super) fn option_kw(px: &mut Proxy, w: &[String], on: bool, loc: &Loc, d: &mut Diags) {
    let Some(name) = w.first().map(String::as_str) else {
        d.error(loc, "'option' expects an option name");
        return;
    };
    let Some(k) = keywords::find(keywords::OPTION, name) else {
        let h = keywords::hint(name, keywords::OPTION.iter().map(|k| k.name));
        d.error(loc, format!("unknown option '{name}'{h}"));
        return;
    };
    if k.sections & section_bit(px.kind) == 0 {
        d.warn(
            loc,
            format!(
                "'option {name}' is ignored in {} '{}' (it applies to {})",
                px.kind.name(),
                px.name,
                if k.sections & F != 0 {
                    "frontends"
                } else {
                    "backends"
                }
            ),
        );
        return;
    }
    let Some(handle) = status_ok(k, &format!("option {name}"), loc, d) else {
        return;
    };
    let used = handle(px, w, on, loc, d);
    if w.len() > used {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'option {name}'", w[used]),
        );
    }
}

/// `option redispatch [INTERVAL]`.
pub(crate) fn redispatch(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    loc: &Loc,
    d: &mut Diags,
) -> usize {
    px.options.redispatch = if on {
        match w.get(1) {
            None => Some(-1),
            Some(v) => match v.parse::<i32>() {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => {
                    d.error(loc, format!("'option redispatch': invalid interval '{v}'"));
                    None
                }
            },
        }
    } else {
        None
    };
    2
}

pub(crate) fn tcplog(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.tcplog = on;
    // The last of log-format / option tcplog / option httplog wins, as in HAProxy.
    if on {
        px.logging.format = None;
    }
    1
}

/// `option httplog [clf]`.
pub(crate) fn httplog(px: &mut Proxy, w: &[String], on: bool, loc: &Loc, d: &mut Diags) -> usize {
    px.http.httplog = on;
    px.logging.clf = false;
    px.logging.https = false;
    if on {
        px.logging.format = None;
    }
    if let Some(a) = w.get(1) {
        if a == "clf" {
            px.logging.clf = on;
        } else {
            d.error(
                loc,
                format!("unexpected argument '{a}' after 'option httplog'"),
            );
        }
    }
    w.len()
}

/// `option httpslog`: `option httplog` with the client's TLS session appended
/// (configuration manual 8.2.4).
pub(crate) fn httpslog(px: &mut Proxy, w: &[String], on: bool, loc: &Loc, d: &mut Diags) -> usize {
    if !on {
        d.error(
            loc,
            "negation/default is not supported for option 'httpslog'.",
        );
        return w.len();
    }
    px.http.httplog = true;
    px.logging.clf = false;
    px.logging.https = true;
    px.logging.format = None;
    // HAProxy 2.6 accepts and ignores what follows.
    if let Some(a) = w.get(1) {
        d.warn(
            loc,
            format!("unexpected argument '{a}' after 'option httpslog' is ignored"),
        );
    }
    w.len()
}

/// `option forwardfor` and `option originalto`, with `except`, `header` (and `if-none`).
pub(crate) fn forwardfor(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    loc: &Loc,
    d: &mut Diags,
) -> usize {
    let name = w[0].as_str();
    let default = if name == "forwardfor" {
        "X-Forwarded-For"
    } else {
        "X-Original-To"
    };
    let mut h = AddrHeader {
        header: default.to_string(),
        except: None,
        if_none: false,
    };
    let mut i = 1;
    while i < w.len() {
        match (w[i].as_str(), w.get(i + 1)) {
            ("except", Some(net)) => {
                match IpNet::parse(net) {
                    Ok(n) => h.except = Some(n),
                    Err(e) => d.error(loc, format!("'option {name} except': {e}")),
                }
                i += 1;
            }
            ("header", Some(n)) => {
                h.header = n.clone();
                i += 1;
            }
            ("if-none", _) if name == "forwardfor" => h.if_none = true,
            (a, _) => {
                d.error(
                    loc,
                    format!("unexpected argument '{a}' after 'option {name}'"),
                );
                return w.len();
            }
        }
        i += 1;
    }
    let slot = if name == "forwardfor" {
        &mut px.http.forwardfor
    } else {
        &mut px.http.originalto
    };
    *slot = on.then_some(h);
    w.len()
}

/// `option http-keep-alive`, `http-server-close` and `httpclose`; `no option` of any of them
/// is keep-alive.
pub(crate) fn conn_mode(px: &mut Proxy, w: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.http.conn_mode = if !on {
        ConnMode::KeepAlive
    } else {
        match w[0].as_str() {
            "http-keep-alive" => ConnMode::KeepAlive,
            "http-server-close" => ConnMode::ServerClose,
            _ => ConnMode::Close,
        }
    };
    1
}

/// `option socket-stats`: counters and stats rows per `bind`.
pub(crate) fn socket_stats(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.socket_stats = on;
    1
}

pub(crate) fn dontlognull(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.dontlognull = on;
    1
}

/// `option http-ignore-probes`: a connection that sends nothing gets no 400/408, no log
/// line and no error count.
pub(crate) fn disable_h2_upgrade(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.disable_h2_upgrade = on;
    1
}

pub(crate) fn http_ignore_probes(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.http_ignore_probes = on;
    1
}

/// `option dontlog-normal`: only streams with an error are logged.
pub(crate) fn dontlog_normal(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.logging.dontlog_normal = on;
    1
}

/// `option log-separate-errors`: streams with an error are logged at level `err`.
pub(crate) fn log_separate_errors(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.logging.separate_errors = on;
    1
}

/// `option http-restrict-req-hdr-names preserve|delete|reject` (no `no` form in HAProxy:
/// `no option` restores the default).
pub(crate) fn http_restrict_req_hdr_names(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    loc: &Loc,
    d: &mut Diags,
) -> usize {
    use crate::config::model::RestrictHdrNames as R;
    if !on {
        px.options.restrict_req_hdr_names = R::Preserve;
        return 1;
    }
    const EXPECTS: &str = "expects 'preserve', 'reject' or 'delete' option.";
    px.options.restrict_req_hdr_names = match w.get(1).map(String::as_str) {
        Some("preserve") => R::Preserve,
        Some("delete") => R::Delete,
        Some("reject") => R::Reject,
        Some(x) => {
            let o = &w[0];
            d.error(
                loc,
                format!("invalid parameter '{x}'. option '{o}' {EXPECTS}"),
            );
            return 2;
        }
        None => {
            let o = &w[0];
            d.error(loc, format!("missing parameter. option '{o}' {EXPECTS}"));
            return 1;
        }
    };
    2
}

/// `option accept-invalid-http-request` / `option accept-invalid-http-response`.
pub(crate) fn accept_invalid(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    if w[0].ends_with("request") {
        px.options.accept_invalid_http_request = on;
    } else {
        px.options.accept_invalid_http_response = on;
    }
    1
}

/// `option h1-case-adjust-bogus-client` / `option h1-case-adjust-bogus-server`.
pub(crate) fn h1_case_adjust(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    if w[0].ends_with("client") {
        px.options.h1_case_adjust_client = on;
    } else {
        px.options.h1_case_adjust_server = on;
    }
    1
}

/// `option independent-streams`.
pub(crate) fn independent_streams(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.independent_streams = on;
    1
}

/// `option contstats`.
pub(crate) fn contstats(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.contstats = on;
    1
}

/// `option logasap`: streams are logged as soon as their answer starts.
pub(crate) fn logasap(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.logging.logasap = on;
    1
}

pub(crate) fn tcpka(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.clitcpka = on;
    px.options.srvtcpka = on;
    1
}

/// `option nolinger`: the side's connections close with a reset (HAProxy sets SO_LINGER 0
/// on the client's connection in a frontend, on the server's in a backend).
pub(crate) fn nolinger(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.nolinger = on;
    1
}

/// `option abortonclose` (a backend's).
pub(crate) fn abortonclose(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.abortonclose = on;
    1
}

/// `option checkcache` (a backend's): a cacheable response with a `Set-Cookie` is blocked.
pub(crate) fn checkcache(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.checkcache = on;
    1
}

/// `option transparent` (a backend's).
pub(crate) fn transparent(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.transparent = on;
    1
}

/// `option prefer-last-server` (a backend's).
pub(crate) fn prefer_last_server(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.prefer_last_server = on;
    1
}

/// `option tcp-smart-accept`.
pub(crate) fn tcp_smart_accept(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.tcp_smart_accept = Some(on);
    1
}

/// `option idle-close-on-response`.
pub(crate) fn idle_close_on_response(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.idle_close_on_response = on;
    1
}

/// `option http-use-proxy-header`: a proxy's request (a target that starts with neither `/`
/// nor `*`) is answered 407 by `http-request auth`, as HAProxy 2.6 does (its only effect
/// there: the Proxy-Connection header is not read).
pub(crate) fn http_use_proxy_header(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.http_use_proxy_header = on;
    1
}

/// `option http-buffer-request`.
pub(crate) fn http_buffer_request(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.http_buffer_request = on;
    1
}

/// `option persist` (a backend's).
pub(crate) fn persist(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.persist = on;
    1
}

pub(crate) fn clitcpka(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.clitcpka = on;
    1
}

pub(crate) fn srvtcpka(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.srvtcpka = on;
    1
}

pub(crate) fn allbackups(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.allbackups = on;
    1
}

pub(crate) fn log_health_checks(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.log_health_checks = on;
    1
}

/// `option httpchk [<method>] [<uri>] [<version>]` (one argument = the URI).
pub(crate) fn httpchk(px: &mut Proxy, w: &[String], on: bool, loc: &Loc, d: &mut Diags) -> usize {
    if on {
        px.check = CheckKind::Http;
        let args = &w[1..];
        let hc = &mut px.http_check;
        match args.len() {
            0 => {}
            1 => hc.uri = args[0].clone(),
            2 => {
                hc.method = args[0].clone();
                hc.uri = args[1].clone();
            }
            3 => {
                hc.method = args[0].clone();
                hc.uri = args[1].clone();
                hc.version = args[2].clone();
            }
            _ => d.error(
                loc,
                format!("unexpected argument '{}' after 'option httpchk'", args[3]),
            ),
        }
    } else if px.check == CheckKind::Http {
        px.check = CheckKind::Connect;
    }
    w.len()
}

pub(crate) fn tcp_check(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    if on {
        px.check = CheckKind::Tcp;
    } else if px.check == CheckKind::Tcp {
        px.check = CheckKind::Connect;
    }
    1
}

/// `option redis-check`, `mysql-check`, `pgsql-check`, `smtpchk`, `ldap-check`,
/// `ssl-hello-chk`, `spop-check`: HAProxy's predefined tcp-check rule sets
/// (`config::check_presets`), which check their own arguments.
pub(crate) fn check_preset(
    px: &mut Proxy,
    w: &[String],
    on: bool,
    loc: &Loc,
    d: &mut Diags,
) -> usize {
    if !on {
        if px.check == CheckKind::Tcp {
            px.check = CheckKind::Connect;
        }
        return 1;
    }
    match crate::config::check_presets::rules(&w[0], &w[1..]) {
        Some(Ok(rules)) => {
            px.check = CheckKind::Tcp;
            px.tcp_check = rules;
        }
        Some(Err(e)) => d.error(loc, e),
        None => d.error(
            loc,
            format!("internal error: no rule set for 'option {}'", w[0]),
        ),
    }
    w.len()
}

pub(crate) fn splice_auto(px: &mut Proxy, _: &[String], on: bool, _: &Loc, _: &mut Diags) -> usize {
    px.options.splice.auto = on;
    1
}

pub(crate) fn splice_request(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.splice.request = on;
    1
}

pub(crate) fn splice_response(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    _: &Loc,
    _: &mut Diags,
) -> usize {
    px.options.splice.response = on;
    1
}

/// `option external-check`: checks run the proxy's `external-check command` (HAProxy 2.6
/// replaces any other check type with it; `no option external-check` goes back to a plain
/// connect).
pub(crate) fn external_check(
    px: &mut Proxy,
    _: &[String],
    on: bool,
    loc: &Loc,
    _: &mut Diags,
) -> usize {
    if on {
        px.check = CheckKind::External;
        px.external_check.loc = Some(loc.clone());
    } else if px.check == CheckKind::External {
        px.check = CheckKind::Connect;
    }
    1
}
