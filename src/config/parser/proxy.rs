//! Keywords of `defaults`, `frontend`, `backend` and `listen` sections ([`keywords::PROXY`]):
//! the dispatch, the handlers of the short ones, and the proxy's `stats` page settings.

use super::*;

/// The handler of a proxy keyword: the whole line (keyword first); the TLS globals are for
/// `bind` and `server` lines.
pub type ProxyFn = fn(&mut Proxy, &[String], &Loc, &mut Diags, &TlsGlobals);

/// One keyword line inside defaults/frontend/backend/listen.
pub(super) fn proxy_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let kw = w[0].as_str();
    let Some(k) = keywords::find(keywords::PROXY, kw) else {
        let h = keywords::hint(kw, keywords::PROXY.iter().map(|k| k.name));
        let extra = if keywords::find(keywords::GLOBAL, kw).is_some() && kw != "maxconn" {
            " (it belongs in the 'global' section)"
        } else {
            ""
        };
        d.error(
            loc,
            format!(
                "unknown keyword '{kw}' in '{}' section{extra}{h}",
                px.kind.name()
            ),
        );
        return;
    };
    if k.sections & section_bit(px.kind) == 0 {
        d.error(
            loc,
            format!("'{kw}' is not allowed in a '{}' section", px.kind.name()),
        );
        return;
    }
    if kw == "filter" && w.get(1).is_some_and(|f| f == "spoe") {
        d.error(loc, format!("'filter spoe' is not supported: {NO_SPOE}"));
        return;
    }
    if let Some(handle) = status_ok(k, kw, loc, d) {
        handle(px, w, loc, d, g);
    }
}

pub(crate) fn mode(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some("tcp") => px.mode = Mode::Tcp,
        Some("http") => px.mode = Mode::Http,
        Some("health") => d.error(
            loc,
            "'mode health' was removed in HAProxy 2.4; use 'monitor-uri'",
        ),
        Some(m) => d.error(loc, format!("unknown mode '{m}' (tcp or http expected)")),
        None => d.error(loc, "'mode' expects tcp or http"),
    }
}

pub(crate) fn load_server_state_from_file(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match arg(w, 1) {
        Some("global") => px.load_state = crate::config::cli::LoadState::Global,
        Some("local") => px.load_state = crate::config::cli::LoadState::Local,
        Some("none") => px.load_state = crate::config::cli::LoadState::None,
        _ => d.error(
            loc,
            "'load-server-state-from-file' expects 'global', 'local' or 'none'",
        ),
    }
}

pub(crate) fn server_state_file_name(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match arg(w, 1) {
        Some(n) => px.state_file_name = Some(n.to_string()),
        None => d.error(loc, "'server-state-file-name' expects a file name"),
    }
}

/// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32 [avalanche]]`, as HAProxy 2.6
/// reads it: sdbm by default, with the avalanche modifier for `consistent` alone.
/// `hash-balance-factor <factor>`: 0, or a percentage above 100 (HAProxy reads it with
/// atoi(): a word that is not a number is 0).
pub(crate) fn hash_balance_factor(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    let Some(v) = arg(w, 1) else {
        return d.error(loc, "'hash-balance-factor' expects an integer argument.");
    };
    let neg = v.starts_with('-');
    let digits = v.trim_start_matches(['-', '+']);
    let n = digits.bytes().take_while(u8::is_ascii_digit).count();
    let f: u64 = digits[..n].parse().unwrap_or(0);
    if f != 0 && (neg || f <= 100) {
        return d.error(loc, "'hash-balance-factor' must be 0 or greater than 100.");
    }
    px.balance.balance_factor = f.min(u32::MAX as u64) as u32;
}

pub(crate) fn hash_type(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let ty = match arg(w, 1) {
        Some("consistent") => HashType::Consistent,
        Some("map-based") => HashType::MapBased,
        Some("avalanche") => {
            return d.error(
                loc,
                "experimental feature 'hash-type avalanche' is not supported anymore, please use 'hash-type map-based sdbm avalanche' instead.",
            );
        }
        _ => {
            return d.error(
                loc,
                "'hash-type' only supports 'consistent' and 'map-based'.",
            );
        }
    };
    let func = match arg(w, 2) {
        None => HashFn::Sdbm,
        Some("sdbm") => HashFn::Sdbm,
        Some("djb2") => HashFn::Djb2,
        Some("wt6") => HashFn::Wt6,
        Some("crc32") => HashFn::Crc32,
        Some(_) => {
            return d.error(
                loc,
                "'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.",
            );
        }
    };
    let avalanche = match (arg(w, 2), arg(w, 3)) {
        (None, _) => ty == HashType::Consistent,
        (_, Some("avalanche")) => true,
        (_, None) => false,
        (_, Some(_)) => {
            return d.error(
                loc,
                "'hash-type' only supports 'avalanche' as a modifier for hash functions.",
            );
        }
    };
    if let Some(extra) = w.get(4) {
        // HAProxy reads no further.
        d.warn(loc, format!("'hash-type': argument '{extra}' is ignored"));
    }
    px.balance.hash_type = ty;
    px.balance.hash_fn = func;
    px.balance.avalanche = avalanche;
}

pub(crate) fn maxconn(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    if let Some(v) = uint_arg(w, 1, 0, u32::MAX as u64, loc, d) {
        px.maxconn = Some(v as u32);
    }
}

/// `dynamic-cookie-key <string>`: the secret of `cookie … dynamic`.
pub(crate) fn dynamic_cookie_key(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match w.get(1) {
        Some(k) => px.dynamic_cookie_key = Some(k.clone()),
        None => d.error(loc, "'dynamic-cookie-key' expects <string> as argument."),
    }
}

/// `max-keep-alive-queue <n>`: -1 (HAProxy's default) is no limit; as HAProxy's `atol`,
/// anything below -1 acts as 0.
pub(crate) fn max_keep_alive_queue(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    let Some(v) = w.get(1).filter(|v| !v.is_empty()) else {
        d.error(loc, "'max-keep-alive-queue' expects an integer argument.");
        return;
    };
    let n = crate::config::units::atol(v);
    px.max_keep_alive_queue = match n {
        -1 => None,
        n => Some(n.clamp(0, u32::MAX as i64) as u32),
    };
}

/// `dispatch <addr>:<port>`: checked when the file is read (see `validate`).
pub(crate) fn dispatch(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match w.get(1) {
        Some(a) => px.dispatch = Some((a.clone(), loc.clone())),
        None => d.error(loc, "'dispatch' expects <addr:port> as argument."),
    }
}

/// `fullconn N`: the backend load at which servers with `minconn` reach their `maxconn`.
pub(crate) fn fullconn(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    if let Some(v) = uint_arg(w, 1, 1, i32::MAX as u64, loc, d) {
        px.fullconn = Some(v as u32);
    }
}

/// `email-alert from|to|level|mailers|myhostname VALUE`.
pub(crate) fn email_alert(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    crate::config::mailers::proxy_kw(&mut px.email_alert_conf, w, loc, d);
}

/// `source ADDR[:PORT] [usesrc ADDR2[:PORT2]|client|clientip] [interface NAME]` for a
/// backend's servers.
pub(crate) fn source(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let Some(v) = w.get(1) else {
        d.error(loc, "'source' expects <addr>[:<port>] as argument.");
        return;
    };
    let (mut usesrc, mut interface) = (None, None);
    let mut i = 2;
    while i < w.len() {
        let arg = w.get(i + 1).map(String::as_str).unwrap_or("");
        match w[i].as_str() {
            "usesrc" => match super::server::parse_usesrc(arg) {
                Ok(u) => usesrc = Some(u),
                Err(e) => return d.error(loc, e),
            },
            "interface" if !arg.is_empty() => interface = Some(arg.to_string()),
            "interface" => return d.error(loc, "'interface' : missing interface name."),
            _ => {
                return d.error(
                    loc,
                    "'source' only supports optional keywords 'interface' and 'usesrc'.",
                );
            }
        }
        i += 2;
    }
    match super::server::parse_source(v) {
        Ok(sa) => {
            px.source = Some(sa);
            px.source_usesrc = usesrc;
            px.source_interface = interface;
        }
        Err(e) => d.error(loc, format!("'source {v}' : {e}")),
    }
}

pub(crate) fn backlog(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    px.backlog = uint_arg(w, 1, 1, u32::MAX as u64, loc, d).map(|v| v as u32);
}

/// `clitcpka-cnt|idle|intvl` and `srvtcpka-cnt|idle|intvl`: TCP keep-alive probes, used
/// with `option clitcpka` / `option srvtcpka`.
pub(crate) fn tcpka(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let kw = w[0].as_str();
    let ka = if kw.starts_with("cli") {
        &mut px.options.clitcpka_tune
    } else {
        &mut px.options.srvtcpka_tune
    };
    if kw.ends_with("-cnt") {
        if let Some(v) = uint_arg(w, 1, 0, i32::MAX as u64, loc, d) {
            ka.cnt = Some(v as u32);
        }
        return;
    }
    // HAProxy reads the times in seconds unless a unit says otherwise.
    let Some(v) = w.get(1) else {
        return d.error(loc, format!("'{kw}' expects an integer value"));
    };
    match parse_time(v, std::time::Duration::from_secs(1)) {
        Ok(t) if t.as_secs() <= i32::MAX as u64 => {
            if kw.ends_with("-idle") {
                ka.idle = Some(t);
            } else {
                ka.intvl = Some(t);
            }
        }
        Ok(_) => d.error(loc, format!("'{kw}': timer overflow")),
        Err(e) => d.error(loc, format!("'{kw}': {e}")),
    }
}

/// `rate-limit sessions N`.
pub(crate) fn rate_limit(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let what = w.get(1).map_or("", String::as_str);
    if what != "sessions" {
        d.error(
            loc,
            format!("'rate-limit' only supports 'sessions' (got '{what}')"),
        );
        return;
    }
    if let Some(v) = uint_arg(w, 2, 0, u32::MAX as u64, loc, d) {
        px.rate_limit_sessions = Some(v as u32);
    }
}

pub(crate) fn retries(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    if let Some(v) = uint_arg(w, 1, 0, 1000, loc, d) {
        px.retries = v as u32;
    }
}

pub(crate) fn option(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    option_kw(px, &w[1..], true, loc, d);
}

pub(crate) fn http_check(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    http_check_kw(px, &w[1..], loc, d);
}

pub(crate) fn tcp_check(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    tcp_check_kw(px, &w[1..], loc, d);
}

pub(crate) fn http_reuse(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some("never") => px.http.reuse = Reuse::Never,
        Some("safe") => px.http.reuse = Reuse::Safe,
        Some("aggressive") => px.http.reuse = Reuse::Aggressive,
        Some("always") => px.http.reuse = Reuse::Always,
        Some(o) => d.error(
            loc,
            format!("'http-reuse' expects never, safe, aggressive or always, not '{o}'"),
        ),
        None => d.error(
            loc,
            "'http-reuse' expects never, safe, aggressive or always",
        ),
    }
}

/// `http-send-name-header NAME`.
pub(crate) fn http_send_name_header(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match arg(w, 1) {
        Some(n) if !n.is_empty() => px.http.send_name_header = Some(n.to_string()),
        _ => d.error(loc, "'http-send-name-header' requires a header string"),
    }
    if let Some(a) = w.get(2) {
        d.error(
            loc,
            format!("unexpected argument '{a}' after 'http-send-name-header'"),
        );
    }
}

pub(crate) fn monitor_uri(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some(u) if u.starts_with('/') || u.contains("://") => {
            px.http.monitor_uri = Some(u.to_string())
        }
        Some(u) => d.error(
            loc,
            format!("'monitor-uri' expects a URI starting with '/', not '{u}'"),
        ),
        None => d.error(loc, "'monitor-uri' expects a URI"),
    }
}

pub(crate) fn retry_on(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let mut bits = 0;
    for k in &w[1..] {
        match crate::config::model::retry_on::NAMES
            .iter()
            .find(|(n, _)| n == k)
        {
            Some((_, b)) => bits |= b,
            None => {
                let h = keywords::hint(
                    k,
                    crate::config::model::retry_on::NAMES
                        .iter()
                        .map(|(n, _)| *n),
                );
                d.error(loc, format!("unknown 'retry-on' keyword '{k}'{h}"));
            }
        }
    }
    if w.len() < 2 {
        d.error(
            loc,
            "'retry-on' expects at least one keyword (e.g. conn-failure, all-retryable-errors)",
        );
    }
    px.http.retry_on = bits;
}

pub(crate) fn no(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some("option") => option_kw(px, &w[2..], false, loc, d),
        Some("log") => px.log = ProxyLog::default(),
        Some(o) => d.error(
            loc,
            format!("'no {o}' is not supported ('no option ...' and 'no log' are)"),
        ),
        None => d.error(loc, "'no' expects 'option' or 'log'"),
    }
}

/// `log-format` and `log-format-sd`.
pub(crate) fn log_format(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let kw = w[0].as_str();
    let Some(text) = arg(w, 1) else {
        d.error(loc, format!("'{kw}' expects a format string"));
        return;
    };
    if w.len() > 2 {
        d.error(
            loc,
            format!(
                "'{kw}' expects one argument (quote the format): unexpected '{}'",
                w[2]
            ),
        );
    }
    let v = Some((text.to_string(), loc.clone()));
    match kw {
        "log-format" => px.logging.format = v,
        "unique-id-format" => px.logging.unique_id = v,
        "error-log-format" => px.logging.error_format = v,
        _ => px.logging.sd = v,
    }
}

/// `log-tag TAG`: the syslog tag of this proxy's lines, instead of the global one.
pub(crate) fn log_tag(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match (arg(w, 1), w.get(2)) {
        (Some(t), None) => px.logging.tag = Some(t.to_string()),
        _ => d.error(loc, "'log-tag' expects a tag for use in syslog."),
    }
}

/// `unique-id-header NAME`.
pub(crate) fn unique_id_header(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match (arg(w, 1), w.get(2)) {
        (Some(h), None) => px.logging.unique_id_header = Some(h.to_string()),
        _ => d.error(loc, "'unique-id-header' expects a header name"),
    }
}

pub(crate) fn capture(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    crate::config::logging::capture_kw(&mut px.logging, &w[1..], loc, d);
}

pub(crate) fn log(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some("global") => px.log.use_global = true,
        Some(_) => {
            if let Some(t) = parse_log(&w[1..], loc, d) {
                px.log.targets.push(t);
            }
        }
        None => d.error(loc, "'log' expects 'global' or a target"),
    }
}

pub(crate) fn default_backend(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    match arg(w, 1) {
        Some(n) => {
            px.default_backend = Some(BackendRef {
                name: n.to_string(),
                index: usize::MAX,
                cond: None,
                loc: loc.clone(),
                dynamic: None,
            });
            if w.len() > 2 {
                d.error(
                    loc,
                    format!("unexpected argument '{}' after 'default_backend {n}'", w[2]),
                );
            }
        }
        None => d.error(loc, "'default_backend' expects a backend name"),
    }
}

pub(crate) fn use_backend(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some(n) => {
            let (name, dynamic) = crate::config::vars::backend_name(px, n, loc, d);
            let mut r = BackendRef {
                name,
                index: usize::MAX,
                cond: None,
                loc: loc.clone(),
                dynamic,
            };
            match arg(w, 2) {
                None => px.use_backends.push(r),
                Some("if") | Some("unless") => {
                    // The name is checked even if the condition is bad.
                    r.cond = parse_cond(px, &w[2..], loc, d);
                    let set_bck = crate::acl::placement::ckp::FE_SET_BCK;
                    check_place(px, &mut r.cond, set_bck, set_bck, loc, d);
                    px.use_backends.push(r);
                }
                Some(o) => d.error(
                    loc,
                    format!("'use_backend {n}': expected 'if' or 'unless' before '{o}'"),
                ),
            }
        }
        None => d.error(loc, "'use_backend' expects a backend name"),
    }
}

pub(crate) fn acl(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let mut ctx = crate::acl::ParseCtx::new(&px.name);
    let acls = std::sync::Arc::get_mut(&mut px.acls)
        .expect("a proxy's ACL table is its own while parsing");
    if let Err(e) = acls.define(&w[1..], &mut ctx) {
        d.error(loc, e);
    } else if let Some(n) = w.get(1) {
        px.acl_lines.push((n.clone(), loc.clone()));
    }
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
}

pub(crate) fn monitor(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    match arg(w, 1) {
        Some("fail") => match arg(w, 2) {
            Some("if") | Some("unless") => px.monitor_fail = parse_cond(px, &w[2..], loc, d),
            _ => d.error(
                loc,
                "'monitor fail' expects 'if' or 'unless' and a condition",
            ),
        },
        Some(o) => d.error(
            loc,
            format!("unknown 'monitor' action '{o}' (only 'monitor fail' exists)"),
        ),
        None => d.error(loc, "'monitor' expects 'fail if|unless CONDITION'"),
    }
}

/// HAProxy's `warnif_cond_conflicts` where a rule of `px` runs: `fe`/`be` are the check
/// points (`SMP_VAL_*`) of a frontend's and a backend's rule; a section that is both (listen,
/// defaults) checks against either. Terms that can never match there are marked so.
fn check_place(
    px: &Proxy,
    cond: &mut Option<crate::acl::Cond>,
    fe: u32,
    be: u32,
    loc: &Loc,
    d: &mut Diags,
) {
    let Some(c) = cond else { return };
    let place = px.kind.place(fe, be);
    let name = crate::acl::placement::place_name(place);
    if let Some(w) = c.check_place(&px.acls, place, name) {
        d.warn(loc, w);
    }
}

/// Parses a rule that runs at `fe` in a frontend and `be` in a backend.
fn parsed_at<T>(px: &mut Proxy, fe: u32, be: u32, parse: impl FnOnce(&Proxy) -> T) -> T {
    px.parsed_at(px.kind.place(fe, be), parse)
}

pub(crate) fn http_request(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    use crate::acl::placement::ckp;
    let r = parsed_at(px, ckp::FE_HRQ_HDR, ckp::BE_HRQ_HDR, |px| {
        http_rule(px, &w[1..], true, loc, d)
    });
    if let Some(mut r) = r {
        check_place(px, &mut r.cond, ckp::FE_HRQ_HDR, ckp::BE_HRQ_HDR, loc, d);
        if let HttpAction::Capture {
            new_len: Some(len), ..
        } = r.action
        {
            let c = crate::config::logging::Capture {
                name: String::new(),
                len,
            };
            px.logging.req_captures.push(c);
        }
        px.http_request.push(r);
    }
}

/// `declare capture request|response len N`.
pub(crate) fn declare(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    if !px.kind.is_frontend() {
        d.error(
            loc,
            "'declare' only available in frontend or listen section",
        );
        return;
    }
    crate::config::logging::declare_kw(&mut px.logging, &w[1..], loc, d);
}

pub(crate) fn tcp_request(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    crate::config::tcp_rules::tcp_request(px, w, loc, d);
}

pub(crate) fn tcp_response(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    crate::config::tcp_response::tcp_response(px, w, loc, d);
}

pub(crate) fn http_response(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    use crate::acl::placement::ckp;
    let r = parsed_at(px, ckp::FE_HRS_HDR, ckp::BE_HRS_HDR, |px| {
        http_rule(px, &w[1..], false, loc, d)
    });
    if let Some(mut r) = r {
        check_place(px, &mut r.cond, ckp::FE_HRS_HDR, ckp::BE_HRS_HDR, loc, d);
        px.http_response.push(r);
    }
}

pub(crate) fn http_after_response(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    use crate::acl::placement::ckp;
    let r = parsed_at(px, ckp::FE_HRS_HDR, ckp::BE_HRS_HDR, |px| {
        super::http_rules::after_response_rule(px, &w[1..], loc, d)
    });
    if let Some(mut r) = r {
        check_place(px, &mut r.cond, ckp::FE_HRS_HDR, ckp::BE_HRS_HDR, loc, d);
        px.http_after_response.push(r);
    }
}

pub(crate) fn redirect(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    // The old keyword is `http-request redirect` evaluated after the rules.
    let mut words = vec!["redirect".to_string()];
    words.extend_from_slice(&w[1..]);
    use crate::acl::placement::ckp;
    // (HAProxy 2.6 does not check this keyword's format against the request's side.)
    let r = http_rule(px, &words, true, loc, d);
    if let Some(mut r) = r {
        check_place(px, &mut r.cond, ckp::FE_HRQ_HDR, ckp::BE_HRQ_HDR, loc, d);
        px.redirects.push(r);
    }
}

pub(crate) fn disabled(px: &mut Proxy, _: &[String], _: &Loc, _: &mut Diags, _: &TlsGlobals) {
    px.disabled = true;
}

pub(crate) fn enabled(px: &mut Proxy, _: &[String], _: &Loc, _: &mut Diags, _: &TlsGlobals) {
    px.disabled = false;
}

/// Accepted; nothing reads a proxy's description yet.
pub(crate) fn description(_: &mut Proxy, _: &[String], _: &Loc, _: &mut Diags, _: &TlsGlobals) {}

pub(crate) fn id(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    px.id = uint_arg(w, 1, 1, i32::MAX as u64, loc, d).map(|v| v as u32);
}

/// `stats ...` in a proxy section (the global `stats socket|timeout|maxconn` are the
/// runtime API's). Every form but `admin` enables the page, as in HAProxy.
pub(crate) fn stats_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let arg = |i: usize| w.get(i).map(String::as_str);
    let rest = || w[2..].join(" ");
    let st = &mut px.stats;
    match arg(1) {
        Some("enable") => st.enabled = true,
        Some("disable") => st.enabled = false,
        Some("uri") => match arg(2) {
            Some(u) => {
                st.uri = Some(u.to_string());
                st.enabled = true;
            }
            None => d.error(loc, "'stats uri' expects a URI prefix"),
        },
        Some("realm") => match arg(2) {
            Some(_) => {
                st.realm = Some(rest());
                st.enabled = true;
            }
            None => d.error(loc, "'stats realm' expects a realm"),
        },
        Some("auth") => match arg(2).and_then(|a| a.split_once(':')) {
            Some((u, p)) => {
                st.auth.push((u.to_string(), p.to_string()));
                st.enabled = true;
            }
            None => d.error(loc, "'stats auth' expects 'user:password'"),
        },
        Some("refresh") => {
            if let Some(t) = time_arg(w, 2, loc, d) {
                st.refresh = Some(t);
                st.enabled = true;
            }
        }
        Some("hide-version") => {
            st.hide_version = true;
            st.enabled = true;
        }
        Some("show-legends") => {
            st.show_legends = true;
            st.enabled = true;
        }
        Some("show-node") => {
            st.show_node = Some(arg(2).unwrap_or("").to_string());
            st.enabled = true;
        }
        Some("show-desc") => {
            st.show_desc = Some(rest());
            st.enabled = true;
        }
        Some("scope") => match arg(2) {
            Some(n) => {
                st.scope.push(n.to_string());
                st.enabled = true;
            }
            None => d.error(loc, "'stats scope' expects a proxy name or '.'"),
        },
        Some("admin") => {
            if px.kind == Kind::Defaults {
                d.error(loc, "'stats admin' is not supported in a defaults section");
                return;
            }
            match arg(2) {
                Some("if") | Some("unless") => {
                    let c = parse_cond(px, &w[2..], loc, d);
                    px.stats.admin = c;
                }
                _ => d.error(
                    loc,
                    "'stats admin' expects 'if' or 'unless' and a condition",
                ),
            }
        }
        Some(o @ ("socket" | "timeout" | "maxconn" | "bind-process")) => {
            d.error(loc, format!("'stats {o}' belongs in the global section"))
        }
        Some(o @ "http-request") => d.error(
            loc,
            format!("'stats {o}' is not supported yet; use 'stats auth' and 'stats admin'"),
        ),
        Some(o) => {
            let h = keywords::hint(
                o,
                [
                    "enable",
                    "disable",
                    "uri",
                    "realm",
                    "auth",
                    "refresh",
                    "admin",
                    "hide-version",
                    "show-legends",
                    "show-node",
                    "show-desc",
                    "scope",
                ],
            );
            d.error(loc, format!("unknown 'stats' keyword '{o}'{h}"));
        }
        None => d.error(loc, "'stats' expects a keyword (enable, uri, auth, …)"),
    }
}

/// `external-check command <cmd>` / `external-check path <path>`, with HAProxy 2.6's errors.
pub(crate) fn external_check(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    let Some(what) = w.get(1).filter(|a| !a.is_empty()) else {
        d.error(loc, format!("missing argument after '{}'.", w[0]));
        return;
    };
    let slot = match what.as_str() {
        "command" => &mut px.external_check.command,
        "path" => &mut px.external_check.path,
        _ => {
            d.error(
                loc,
                format!(
                    "'{}' only supports 'command' and 'path'. but got '{what}'.",
                    w[0]
                ),
            );
            return;
        }
    };
    let Some(v) = w.get(2).filter(|a| !a.is_empty()) else {
        d.error(loc, format!("missing argument after '{what}'."));
        return;
    };
    if let Some(extra) = w.get(3) {
        d.error(
            loc,
            format!(
                "'{} {what}' cannot handle unexpected argument '{extra}'.",
                w[0]
            ),
        );
        return;
    }
    *slot = Some(v.clone());
}
