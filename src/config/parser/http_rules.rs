//! `http-request`, `http-response` and `redirect` rules and their replies.

use super::*;

pub(crate) fn logformat(
    px: &Proxy,
    text: &str,
    what: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<crate::acl::LogFormat> {
    let mut ctx = crate::acl::ParseCtx::new(&px.name);
    ctx.place = px.rule_place;
    let r = crate::acl::LogFormat::parse(text, &mut ctx);
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
    match r {
        Ok(f) => Some(f),
        // In a rule, HAProxy's words (`what` is the rule's keyword and action, quoted).
        Err(e) if px.rule_place != 0 => {
            let (kind, name) = (px.kind.haproxy_name(), &px.name);
            let m = format!("error detected in {kind} '{name}' while parsing {what} rule : {e}");
            d.error(loc, m);
            None
        }
        Err(e) => {
            d.error(loc, format!("{what}: {e}"));
            None
        }
    }
}

/// Why corelb talks to no SPOE agent (`filter spoe`, `send-spoe-group`).
pub(crate) const NO_SPOE: &str =
    "corelb runs no SPOE filters (no external agents in the request path; use rules)";

/// Actions HAProxy has that corelb does not implement yet (an error names them).
pub(super) const HTTP_ACTIONS_NOT_YET: &[&str] = &["sc-set-gpt"];

/// Actions of later HAProxy versions, which 2.6 (the language corelb speaks) rejects: each
/// with the version that added it.
pub(super) const HTTP_ACTIONS_AFTER_26: &[(&str, &str)] = &[
    ("set-bandwidth-limit", "2.7"),
    ("sc-add-gpc", "2.8"),
    ("set-fc-mark", "3.0"),
    ("set-fc-tos", "3.0"),
    ("set-retries", "3.1"),
    ("do-log", "3.1"),
    ("pause", "3.2"),
];

/// The HAProxy version that added `action` (its name before any `(`), if it came after 2.6.
fn after_26(action: &str) -> Option<&'static str> {
    let name = action.split('(').next().unwrap_or(action);
    (HTTP_ACTIONS_AFTER_26.iter()).find_map(|&(n, v)| (n == name).then_some(v))
}

/// A `set-log-level` argument: a syslog level's number, or -1 for `silent`.
pub(crate) fn log_level(name: &str) -> Option<i8> {
    const LEVELS: [&str; 8] = [
        "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
    ];
    if name == "silent" {
        return Some(-1);
    }
    LEVELS.iter().position(|x| *x == name).map(|n| n as i8)
}

/// A `set-nice` argument as HAProxy reads it: atoi() (what is no number is 0), kept within
/// -1024…1024.
pub(crate) fn nice_value(v: &str) -> i32 {
    let t = v.trim_start();
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |n, c| (n * 10 + i64::from(c - b'0')).min(1 << 20));
    let n = if neg { -n } else { n };
    n.clamp(-1024, 1024) as i32
}

/// `http-request capture EXPR [len N | id N]` and `http-response|http-after-response capture
/// EXPR id N`, with HAProxy's errors.
fn capture_rule(
    px: &Proxy,
    w: &[String],
    kw: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpAction> {
    let request = kw == "http-request";
    let err = |d: &mut Diags, m: &str| {
        d.error(
            loc,
            format!(
                "error detected in {} '{}' while parsing '{kw} capture' rule : {m}",
                px.kind.name(),
                px.name
            ),
        )
    };
    let usage = if request {
        "expects <expression> [ 'len' <length> | id <idx> ]."
    } else {
        "expects <expression> id <idx>."
    };
    let end = (w.iter())
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    let (Some(expr), Some(word), Some(n), 4) = (w.get(1), w.get(2), w.get(3), end) else {
        err(d, usage);
        return None;
    };
    if !request && word != "id" {
        err(d, &format!("expects 'id', found '{word}'."));
        return None;
    }
    let parsed = crate::acl::FetchExpr::parse(expr, &px.name).and_then(|e| {
        crate::acl::placement::misplaced_expr(expr, expr, px.rule_place)
            .map(|()| e)
            .map_err(|m| m + ".")
    });
    let expr = match parsed {
        Ok(e) => e,
        Err(m) => {
            err(d, &m);
            return None;
        }
    };
    let Ok(n) = n.parse::<usize>() else {
        err(d, usage);
        return None;
    };
    match word.as_str() {
        "len" if !px.kind.is_frontend() => {
            err(
                d,
                &format!("proxy '{}' has no frontend capability.", px.name),
            );
            None
        }
        "len" if n == 0 => {
            err(d, "length must be > 0.");
            None
        }
        "len" => Some(HttpAction::Capture {
            expr,
            id: px.logging.req_captures.len(),
            new_len: Some(n),
        }),
        "id" => Some(HttpAction::Capture {
            expr,
            id: n,
            new_len: None,
        }),
        _ => {
            err(d, usage);
            None
        }
    }
}

/// `http-request|http-response wait-for-body time T [at-least N]`, with HAProxy 2.6's
/// errors.
fn wait_for_body(
    px: &Proxy,
    w: &[String],
    kw: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpAction> {
    let err = |d: &mut Diags, m: &str| {
        d.error(
            loc,
            format!(
                "error detected in {} '{}' while parsing '{kw} wait-for-body' rule : {m}",
                px.kind.name(),
                px.name
            ),
        )
    };
    let usage = "expects time <time> [ at-least <bytes> ].";
    let end = (w.iter())
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    // HAProxy's parse_time_err/parse_size_err name the first character they cannot read.
    let bad = |v: &str| {
        let c = v.chars().find(|c| !c.is_ascii_digit()).unwrap_or('?');
        format!("unexpected character '{c}'.")
    };
    let (mut time, mut at_least, mut i) = (None, 0, 1);
    while i < end {
        let kw = w[i].as_str();
        let Some(v) = w.get(i + 1) else {
            if kw == "time" || kw == "at-least" {
                err(d, &format!("missing argument for '{kw}'."));
            } else {
                err(d, usage);
            }
            return None;
        };
        match kw {
            "time" => match crate::config::units::parse_time(v, Duration::from_millis(1)) {
                Ok(t) => time = Some(t),
                Err(_) => {
                    err(d, &bad(v));
                    return None;
                }
            },
            "at-least" => match crate::config::units::parse_size(v) {
                Ok(n) => at_least = n,
                Err(_) => {
                    err(d, &bad(v));
                    return None;
                }
            },
            _ => {
                err(d, usage);
                return None;
            }
        }
        i += 2;
    }
    let Some(time) = time else {
        err(d, usage);
        return None;
    };
    Some(HttpAction::WaitForBody { time, at_least })
}

/// `http-request set-timeout server|tunnel TIME|EXPR`, with HAProxy 2.6's errors (its
/// `parse_http_set_timeout`: the argument count, then the backend capability, then the
/// timeout's name, then its value).
fn set_timeout(px: &Proxy, w: &[String], kw: &str, loc: &Loc, d: &mut Diags) -> Option<HttpAction> {
    let err = |d: &mut Diags, m: &str| rule_error(px, kw, "set-timeout", m, loc, d);
    let end = (w.iter())
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    if end < 3 {
        err(d, "expects exactly 2 arguments.");
        return None;
    }
    if end > 3 {
        trailing(kw, "set-timeout", &w[3], loc, d);
        return None;
    }
    if !px.kind.is_backend() {
        err(
            d,
            &format!("proxy '{}' has no backend capability.", px.name),
        );
        return None;
    }
    let tunnel = match w[1].as_str() {
        "server" => false,
        "tunnel" => true,
        // HAProxy 2.8 added `client`; 2.6 refuses it with these words.
        o => {
            err(
                d,
                &format!("'set-timeout' rule supports 'server'/'tunnel' (got '{o}')."),
            );
            return None;
        }
    };
    let v = w[2].as_str();
    let what = format!("'set-timeout {}'", w[1]);
    // A time first, else an expression (HAProxy's `cfg_parse_rule_set_timeout`): when
    // neither reads, the error names where the time stopped.
    let value = match crate::config::units::parse_time(v, Duration::from_millis(1)) {
        Ok(t) if t.is_zero() => {
            err(d, &format!("null value is not valid for a {what} rule."));
            return None;
        }
        Ok(t) => TimeoutValue::Fixed(t),
        Err(e) if e.contains("too large") => {
            err(
                d,
                &format!(
                    "timer overflow in argument '{v}' to rule {what} (maximum value is 2147483647 ms or ~24.8 days)."
                ),
            );
            return None;
        }
        Err(_) => match crate::acl::FetchExpr::parse(v, &px.name) {
            Ok(e) => TimeoutValue::Expr(e),
            Err(_) => {
                let c = v.chars().find(|c| !c.is_ascii_digit()).unwrap_or('?');
                err(d, &format!("unexpected character '{c}' in rule {what}."));
                return None;
            }
        },
    };
    Some(HttpAction::SetTimeout { tunnel, value })
}

/// `replace-value NAME REGEX FMT`, with HAProxy 2.6's errors (`parse_http_replace_header`).
fn replace_value(
    px: &Proxy,
    w: &[String],
    kw: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpAction> {
    let err = |d: &mut Diags, m: &str| rule_error(px, kw, "replace-value", m, loc, d);
    let end = (w.iter())
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    if end < 4 {
        err(d, "expects exactly 3 arguments.");
        return None;
    }
    if end > 4 {
        trailing(kw, "replace-value", &w[4], loc, d);
        return None;
    }
    let re = match regex::bytes::Regex::new(&w[2]) {
        Ok(r) => Regex(r),
        Err(e) => {
            err(d, &format!("regex '{}' is invalid ({e}).", w[2]));
            return None;
        }
    };
    let f = logformat(px, &w[3], &format!("'{kw} replace-value'"), loc, d)?;
    Some(HttpAction::ReplaceValue(w[1].clone(), re, f))
}

/// `del-header NAME [-m str|beg|end|sub|reg]`, with HAProxy 2.6's errors
/// (`parse_http_del_header`).
fn del_header(px: &Proxy, w: &[String], kw: &str, loc: &Loc, d: &mut Diags) -> Option<HttpAction> {
    let err = |d: &mut Diags, m: &str| rule_error(px, kw, "del-header", m, loc, d);
    let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
        err(d, "expects at least 1 argument.");
        return None;
    };
    let (method, next) = match w.get(2).map(String::as_str) {
        Some("-m") => match w.get(3) {
            Some(m) if !m.is_empty() => (m.as_str(), 4),
            _ => {
                err(d, "-m flag expects exactly 1 argument.");
                return None;
            }
        },
        _ => ("str", 2),
    };
    let action = match method {
        "str" => HttpAction::DelHeader(name.clone()),
        "beg" => HttpAction::DelHeaders(HeaderNames::Beg(name.clone())),
        "end" => HttpAction::DelHeaders(HeaderNames::End(name.clone())),
        "sub" => HttpAction::DelHeaders(HeaderNames::Sub(name.clone())),
        "reg" => match regex::bytes::Regex::new(name) {
            Ok(r) => HttpAction::DelHeaders(HeaderNames::Reg(Regex(r))),
            Err(e) => {
                err(d, &format!("regex '{name}' is invalid ({e})."));
                return None;
            }
        },
        m => {
            err(d, &format!("-m with unsupported matching method '{m}'."));
            return None;
        }
    };
    if let Some(x) = w.get(next).filter(|x| *x != "if" && *x != "unless") {
        trailing(kw, "del-header", x, loc, d);
        return None;
    }
    Some(action)
}

/// The actions HAProxy 2.6 has in `http-after-response` (its parser's list, in its order).
const AFTER_RESPONSE_ACTIONS: &[&str] = &[
    "add-header",
    "allow",
    "capture",
    "del-header",
    "replace-header",
    "replace-value",
    "set-header",
    "set-status",
    "strict-mode",
    "set-var-fmt(*)",
    "set-var(*)",
    "unset-var(*)",
];

/// One `http-after-response` rule: the `http-response` rule of one of the actions 2.6 allows
/// there.
pub(super) fn after_response_rule(
    px: &Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpRule> {
    let action = w.first().map(String::as_str).unwrap_or_default();
    let allowed = AFTER_RESPONSE_ACTIONS
        .iter()
        .any(|a| match a.strip_suffix("(*)") {
            Some(prefix) => action.starts_with(prefix) && action[prefix.len()..].starts_with('('),
            None => *a == action,
        });
    if !allowed {
        let list = AFTER_RESPONSE_ACTIONS.join("', '");
        d.error(
            loc,
            format!("'http-after-response' expects '{list}', but got '{action}'"),
        );
        return None;
    }
    http_rule_in(px, w, "http-after-response", loc, d)
}

/// One `http-request`/`http-response`/`redirect` rule: `ACTION args... [if|unless COND]`.
pub(super) fn http_rule(
    px: &Proxy,
    w: &[String],
    request: bool,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpRule> {
    let kw = if request {
        "http-request"
    } else {
        "http-response"
    };
    http_rule_in(px, w, kw, loc, d)
}

fn http_rule_in(px: &Proxy, w: &[String], kw: &str, loc: &Loc, d: &mut Diags) -> Option<HttpRule> {
    let request = kw == "http-request";
    let Some(action) = w.first().map(String::as_str) else {
        d.error(loc, format!("'{kw}' expects an action"));
        return None;
    };
    // Where the condition starts: the first `if`/`unless` after the action's own words.
    let cond_at = |from: usize| {
        w.iter()
            .skip(from)
            .position(|x| x == "if" || x == "unless")
            .map(|p| p + from)
    };
    let arg = |i: usize| w.get(i).map(String::as_str);
    let need = |n: usize, usage: &str, d: &mut Diags| -> bool {
        let end = cond_at(1).unwrap_or(w.len());
        if end < 1 + n {
            d.error(loc, format!("'{kw} {action}' expects {usage}"));
            return false;
        }
        if end > 1 + n {
            d.error(
                loc,
                format!(
                    "'{kw} {action}': unexpected argument '{}' (expected 'if' or 'unless')",
                    w[1 + n]
                ),
            );
            return false;
        }
        true
    };
    let fmt = |text: &str, d: &mut Diags| logformat(px, text, &format!("'{kw} {action}'"), loc, d);
    let parsed: Option<HttpAction> = match action {
        "allow" => need(0, "no argument", d).then_some(HttpAction::Allow),
        "use-service" if request => match arg(1) {
            Some("prometheus-exporter") => {
                need(1, "a service name", d).then_some(HttpAction::UsePrometheus)
            }
            Some(o) if o.starts_with("lua.") => {
                let why = crate::config::keywords::NO_LUA;
                d.error(
                    loc,
                    format!("'{kw} use-service {o}' is not supported: {why}"),
                );
                None
            }
            Some(o) => {
                d.error(
                    loc,
                    format!("'{kw} use-service': unknown service '{o}' (corelb has 'prometheus-exporter')"),
                );
                None
            }
            None => {
                d.error(loc, format!("'{kw} use-service' expects a service name"));
                None
            }
        },
        "wait-for-body" => wait_for_body(px, w, kw, loc, d),
        "set-timeout" if request => set_timeout(px, w, kw, loc, d),
        "replace-value" => replace_value(px, w, kw, loc, d),
        // corelb accepts no TLS early data (0-RTT): every request it reads comes after the
        // handshake, which is what this rule waits for; the rule has nothing to do.
        "wait-for-handshake" if request => {
            let end = cond_at(1).unwrap_or(w.len());
            if end > 1 {
                trailing(kw, "wait-for-handshake", &w[1], loc, d);
                return None;
            }
            Some(HttpAction::WaitForHandshake)
        }
        "early-hint" if request => {
            let end = cond_at(1).unwrap_or(w.len());
            if end < 3 {
                rule_error(px, kw, "early-hint", "expects exactly 2 arguments.", loc, d);
                return None;
            }
            if end > 3 {
                trailing(kw, "early-hint", &w[3], loc, d);
                return None;
            }
            let f = fmt(&w[2], d)?;
            Some(HttpAction::EarlyHint(w[1].clone(), f))
        }
        "strict-mode" => {
            let end = cond_at(1).unwrap_or(w.len());
            let on = match (end, arg(1)) {
                (2, Some("on")) => true,
                (2, Some("off")) => false,
                (2, Some(v)) => {
                    rule_error(
                        px,
                        kw,
                        "strict-mode",
                        &format!("Unexpected value '{v}'. Only 'on' and 'off' are supported."),
                        loc,
                        d,
                    );
                    return None;
                }
                (1, _) => {
                    rule_error(
                        px,
                        kw,
                        "strict-mode",
                        "expects exactly 1 arguments.",
                        loc,
                        d,
                    );
                    return None;
                }
                _ => {
                    trailing(kw, "strict-mode", &w[2], loc, d);
                    return None;
                }
            };
            Some(HttpAction::StrictMode(on))
        }
        "normalize-uri" if request && !px.experimental => {
            let m = "'normalize-uri' action is experimental, must be allowed via a global 'expose-experimental-directives'";
            d.error(loc, m);
            return None;
        }
        "normalize-uri" if request => {
            let end = cond_at(1).unwrap_or(w.len());
            let words: Vec<&str> = w[1..].iter().map(String::as_str).collect();
            match crate::h1::UriNormalizer::parse(&words) {
                Ok((n, used)) if 1 + used == end => Some(HttpAction::NormalizeUri(n)),
                Ok((_, used)) => {
                    trailing(kw, "normalize-uri", &w[1 + used], loc, d);
                    None
                }
                Err(e) => {
                    rule_error(px, kw, "normalize-uri", &format!("{e}."), loc, d);
                    None
                }
            }
        }
        // `http-after-response capture EXPR id N` is `http-response capture`'s, run last.
        "capture" => capture_rule(px, w, kw, loc, d),
        "silent-drop" => need(0, "no argument", d).then_some(HttpAction::SilentDrop),
        // `set-tos` and `set-mark`: an integer (decimal, or hex with 0x) as HAProxy reads it.
        "set-tos" | "set-mark" if kw != "http-after-response" => {
            if !need(1, "a value", d) {
                return None;
            }
            let v = arg(1).unwrap_or("");
            let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => v.parse::<u32>().ok(),
            };
            match (action, n) {
                ("set-tos", Some(t)) if t < 256 => Some(HttpAction::SetTos(t as u8)),
                ("set-mark", Some(m)) => Some(HttpAction::SetMark(m)),
                _ => {
                    d.error(
                        loc,
                        format!("'{kw} {action}': invalid value '{v}' (an integer expected)"),
                    );
                    None
                }
            }
        }
        "set-priority-class" | "set-priority-offset" if request => {
            let end = cond_at(1).unwrap_or(w.len());
            if end < 2 {
                d.error(
                    loc,
                    format!(
                        "error detected in {} '{}' while parsing '{kw} {action}' rule : missing fetch method.",
                        px.kind.name(),
                        px.name
                    ),
                );
                return None;
            }
            if end > 2 {
                trailing(kw, action, &w[2], loc, d);
                return None;
            }
            match crate::acl::FetchExpr::parse(&w[1], &px.name) {
                Ok(expr) => Some(HttpAction::SetPriority {
                    class: action == "set-priority-class",
                    expr,
                }),
                Err(e) => {
                    d.error(loc, format!("'{kw} {action}': {e}"));
                    None
                }
            }
        }
        // `set-nice N`: HAProxy reads it with atoi() and keeps it within -1024…1024.
        "set-nice" if kw != "http-after-response" => {
            if cond_at(1).unwrap_or(w.len()) != 2 {
                d.error(
                    loc,
                    format!(
                        "error detected in {} '{}' while parsing '{kw} set-nice' rule : expects exactly 1 argument (integer value).",
                        px.kind.name(),
                        px.name
                    ),
                );
                return None;
            }
            Some(HttpAction::SetNice(nice_value(&w[1])))
        }
        // (HAProxy 2.6 has no `http-after-response set-log-level`.)
        "set-log-level" if kw != "http-after-response" => {
            match arg(1).filter(|_| need(1, "a log level", d)) {
                Some(l) if log_level(l).is_some() => log_level(l).map(HttpAction::SetLogLevel),
                None => None,
                o => {
                    // HAProxy 2.6's words.
                    d.error(
                        loc,
                        format!(
                            "'{kw} set-log-level': unsupported log-level '{}'",
                            o.unwrap_or("")
                        ),
                    );
                    None
                }
            }
        }
        "reject" if request => need(0, "no argument", d).then_some(HttpAction::Reject),
        "cache-use" if request => {
            need(1, "a cache name", d).then(|| HttpAction::CacheUse(w[1].clone()))
        }
        "cache-store" if !request => {
            need(1, "a cache name", d).then(|| HttpAction::CacheStore(w[1].clone()))
        }
        "auth" if request => {
            let end = cond_at(1).unwrap_or(w.len());
            match (arg(1), end) {
                (_, 1) => Some(HttpAction::Auth(px.name.clone())),
                (Some("realm"), 3) => Some(HttpAction::Auth(w[2].clone())),
                (Some("realm"), 2) => {
                    d.error(loc, "'http-request auth': missing realm value");
                    None
                }
                _ => {
                    d.error(
                        loc,
                        format!("'http-request auth': unexpected argument '{}' (expected 'realm <realm>', 'if' or 'unless')", w[1]),
                    );
                    None
                }
            }
        }
        "disable-l7-retry" if request => {
            need(0, "no argument", d).then_some(HttpAction::DisableL7Retry)
        }
        "set-header" | "add-header" => {
            if !need(2, "a header name and a value", d) {
                return None;
            }
            let v = fmt(&w[2], d)?;
            Some(if action == "set-header" {
                HttpAction::SetHeader(w[1].clone(), v)
            } else {
                HttpAction::AddHeader(w[1].clone(), v)
            })
        }
        "del-header" => del_header(px, w, kw, loc, d),
        "replace-header" => {
            if !need(3, "a header name, a regex and a replacement", d) {
                return None;
            }
            match regex::bytes::Regex::new(&w[2]) {
                Ok(r) => Some(HttpAction::ReplaceHeader(
                    w[1].clone(),
                    Regex(r),
                    w[3].clone(),
                )),
                Err(e) => {
                    d.error(
                        loc,
                        format!(
                            "'{kw} replace-header': invalid regular expression '{}': {e}",
                            w[2]
                        ),
                    );
                    None
                }
            }
        }
        "set-pathq" | "replace-uri" | "replace-path" | "replace-pathq" | "tarpit" if request => {
            crate::config::uri_rules::action(px, w, cond_at(1).unwrap_or(w.len()), loc, d)
        }
        "set-path" | "set-query" | "set-uri" | "set-method" if request => {
            if !need(1, "a value", d) {
                return None;
            }
            let v = fmt(&w[1], d)?;
            Some(match action {
                "set-path" => HttpAction::SetPath(v),
                "set-query" => HttpAction::SetQuery(v),
                "set-uri" => HttpAction::SetUri(v),
                _ => HttpAction::SetMethod(v),
            })
        }
        "set-status" if !request => {
            let end = cond_at(1).unwrap_or(w.len());
            let code = match arg(1).map(|c| parse_uint(c, 100, 999)) {
                Some(Ok(c)) => c as u16,
                _ => {
                    d.error(
                        loc,
                        format!("'{kw} set-status' expects a status code (100-999)"),
                    );
                    return None;
                }
            };
            let reason = match (arg(2), arg(3)) {
                (Some("reason"), Some(r)) if end >= 4 => Some(r.to_string()),
                _ if end == 2 => None,
                _ => {
                    d.error(loc, format!("'{kw} set-status CODE [reason TEXT]'"));
                    return None;
                }
            };
            Some(HttpAction::SetStatus(code, reason))
        }
        "redirect" => parse_redirect(px, w, kw, cond_at(1).unwrap_or(w.len()), loc, d)
            .map(HttpAction::Redirect),
        "deny" | "return" => {
            let end = cond_at(1).unwrap_or(w.len());
            let default_status = if action == "deny" { 403 } else { 200 };
            let reply = parse_reply(px, &w[1..end], default_status, action == "deny", kw, loc, d)?;
            Some(if action == "deny" {
                let simple = matches!(reply.body, ReplyBody::ErrorPage)
                    && reply.headers.is_empty()
                    && reply.content_type.is_none();
                HttpAction::Deny {
                    status: reply.status,
                    reply: (!simple).then_some(reply),
                }
            } else {
                HttpAction::Return(reply)
            })
        }
        "set-src" | "set-src-port" | "set-dst" | "set-dst-port" if request => {
            use crate::config::model::AddrPart;
            let part = match action {
                "set-src" => AddrPart::Src,
                "set-src-port" => AddrPart::SrcPort,
                "set-dst" => AddrPart::Dst,
                _ => AddrPart::DstPort,
            };
            let e = arg(1).unwrap_or_default();
            if !need(1, "a sample expression", d) {
                return None;
            }
            match crate::acl::FetchExpr::parse(e, &px.name) {
                Ok(x) => Some(HttpAction::SetAddr(part, x)),
                Err(err) => {
                    d.error(
                        loc,
                        format!("'{kw} {action}': failed to parse sample expression <{e}> : {err}"),
                    );
                    None
                }
            }
        }
        a if request && a.starts_with("do-resolve(") => {
            let end = cond_at(1).unwrap_or(w.len());
            match crate::config::resolvers::DoResolve::parse(a, &w[1..end], &px.name) {
                Ok(r) => Some(HttpAction::DoResolve(Box::new(r))),
                Err(e) => {
                    d.error(loc, format!("'{kw} {a}': {e}"));
                    None
                }
            }
        }
        a if kw != "http-after-response" && pat_op(a).is_some() => pat_action(px, w, kw, loc, d),
        a if crate::acl::VarAction::is_action(a) => {
            let end = cond_at(1).unwrap_or(w.len());
            Some(HttpAction::Var(crate::config::vars::var_action(
                px,
                kw,
                &w[..end],
                loc,
                d,
            )?))
        }
        a if crate::config::stick::is_action(a) => {
            let end = cond_at(1).unwrap_or(w.len());
            match crate::config::stick::parse_action(kw, &w[..end], &px.name) {
                Ok(a) => {
                    // HAProxy names the key's last word (its `args[cur_arg-1]`).
                    let track = matches!(a, crate::acl::StickAction::Track { .. });
                    let key = if track { w[1].as_str() } else { "" };
                    let placed = crate::acl::placement::misplaced_expr(key, key, px.rule_place);
                    if let Err(m) = placed {
                        rule_error(px, kw, action, &format!("{m}."), loc, d);
                        return None;
                    }
                    Some(HttpAction::Stick(a))
                }
                Err(e) => {
                    d.error(loc, e);
                    return None;
                }
            }
        }
        a if a == "lua" || a.starts_with("lua.") => {
            d.error(
                loc,
                format!(
                    "'{kw} {a}' is not supported: {}",
                    crate::config::keywords::NO_LUA
                ),
            );
            return None;
        }
        a if a == "send-spoe-group" => {
            d.error(loc, format!("'{kw} {a}' is not supported: {NO_SPOE}"));
            return None;
        }
        "ot-group" => {
            let why = crate::config::tcp_rules::NO_OPENTRACING;
            d.error(loc, format!("'{kw} ot-group' is not supported: {why}"));
            return None;
        }
        a if after_26(a).is_some() => {
            let v = after_26(a).unwrap_or_default();
            d.error(
                loc,
                format!("'{kw} {a}': no such action in HAProxy 2.6, the language corelb speaks (HAProxy {v} added it)"),
            );
            return None;
        }
        a if HTTP_ACTIONS_NOT_YET.contains(&a) || a.starts_with("sc-") => {
            d.error(loc, format!("'{kw} {a}' is not supported yet"));
            return None;
        }
        a => {
            let known: &[&str] = if request {
                &[
                    "allow",
                    "auth",
                    "deny",
                    "return",
                    "redirect",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "set-path",
                    "set-query",
                    "set-uri",
                    "set-method",
                    "disable-l7-retry",
                ]
            } else {
                &[
                    "allow",
                    "deny",
                    "return",
                    "redirect",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "set-status",
                ]
            };
            let h = keywords::hint(a, known.iter().copied());
            d.error(loc, format!("unknown '{kw}' action '{a}'{h}"));
            return None;
        }
    };
    let action = parsed?;
    let cond = match cond_at(1) {
        Some(i) => Some(parse_cond(px, &w[i..], loc, d)?),
        None => None,
    };
    Some(HttpRule {
        action,
        cond,
        loc: loc.clone(),
    })
}

/// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash] ...`
pub(super) fn parse_redirect(
    px: &Proxy,
    w: &[String],
    kw: &str,
    end: usize,
    loc: &Loc,
    d: &mut Diags,
) -> Option<Redirect> {
    let kind = match w.get(1).map(String::as_str) {
        Some("location") => RedirectKind::Location,
        Some("prefix") => RedirectKind::Prefix,
        Some("scheme") => RedirectKind::Scheme,
        other => {
            d.error(
                loc,
                format!("'redirect' expects location, prefix or scheme, not {other:?}"),
            );
            return None;
        }
    };
    let Some(target) = w.get(2).filter(|_| end > 2) else {
        d.error(
            loc,
            "'redirect' expects a target after location/prefix/scheme",
        );
        return None;
    };
    let target = logformat(px, target, &format!("'{kw} redirect'"), loc, d)?;
    let mut r = Redirect {
        kind,
        target,
        code: 302,
        drop_query: false,
        append_slash: false,
        cookie: None,
    };
    let mut i = 3;
    while i < end {
        match (w[i].as_str(), w.get(i + 1)) {
            ("code", Some(c)) => {
                match parse_uint(c, 300, 399) {
                    Ok(c) if matches!(c, 301 | 302 | 303 | 307 | 308) => r.code = c as u16,
                    _ => {
                        d.error(
                            loc,
                            format!("'redirect': code '{c}' (301, 302, 303, 307 or 308)"),
                        );
                        return None;
                    }
                }
                i += 1;
            }
            ("drop-query", _) => r.drop_query = true,
            ("append-slash", _) => r.append_slash = true,
            ("ignore-empty", _) => {}
            // HAProxy 2.6 (`http_parse_redirect_rule`): the last one counts; the value is
            // written as given, then `; path=/;` (and ` Max-Age=0;` to clear).
            (o @ ("set-cookie" | "clear-cookie"), Some(c)) if i + 1 < end && !c.is_empty() => {
                let clear = if o == "clear-cookie" {
                    " Max-Age=0;"
                } else {
                    ""
                };
                r.cookie = Some(format!("{c}; path=/;{clear}"));
                i += 1;
            }
            (o @ ("set-cookie" | "clear-cookie"), _) => {
                let m = format!("missing argument for '{o}'.");
                rule_error(px, kw, "redirect", &m, loc, d);
                return None;
            }
            (o, _) => {
                d.error(loc, format!("unknown 'redirect' option '{o}'"));
                return None;
            }
        }
        i += 1;
    }
    Some(r)
}

/// The arguments of `return` and `deny`: `[status N] [deny_status N] [content-type T]
/// [string S | lf-string F | file F | lf-file F | errorfile F | errorfiles NAME |
/// default-errorfiles]
/// [hdr NAME FMT]...`
pub(crate) fn parse_reply(
    px: &Proxy,
    w: &[String],
    status: u16,
    deny: bool,
    kw: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<Reply> {
    let mut r = Reply {
        status,
        content_type: None,
        body: if deny {
            ReplyBody::ErrorPage
        } else {
            ReplyBody::Empty
        },
        headers: Vec::new(),
    };
    let what = if deny { "deny" } else { "return" };
    // The body is a log-format (`lf-string`, `lf-file`).
    let mut lf = false;
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let v = w.get(i + 1);
        let Some(v) = v else {
            if k == "default-errorfiles" {
                r.body = ReplyBody::ErrorPage;
                i += 1;
                continue;
            }
            d.error(loc, format!("'{kw} {what} {k}' expects a value"));
            return None;
        };
        match k {
            "status" | "deny_status" => match parse_uint(v, 200, 599) {
                Ok(c) => r.status = c as u16,
                Err(e) => {
                    d.error(loc, format!("'{kw} {what} {k}': {e}"));
                    return None;
                }
            },
            "content-type" => r.content_type = Some(v.clone()),
            "string" | "lf-string" => {
                let f = if k == "string" {
                    logformat(px, &v.replace('%', "%%"), &format!("'{kw} {what}'"), loc, d)?
                } else {
                    logformat(px, v, &format!("'{kw} {what}'"), loc, d)?
                };
                r.body = ReplyBody::Text(f);
            }
            "errorfile" => {
                r.body = ReplyBody::Raw(crate::config::errors::read_response(
                    v,
                    &format!("'{kw} {what} errorfile'"),
                    loc,
                    d,
                )?)
            }
            "errorfiles" => r.body = ReplyBody::Section(v.clone()),
            "lf-file" => match std::fs::read_to_string(v) {
                Ok(t) => {
                    let f = logformat(px, &t, &format!("'{kw} {what}'"), loc, d)?;
                    r.body = ReplyBody::Text(f)
                }
                Err(e) => {
                    d.error(loc, format!("'{kw} {what} {k}': cannot read '{v}': {e}"));
                    return None;
                }
            },
            "file" => match std::fs::read(v) {
                Ok(b) => r.body = ReplyBody::File(b.into()),
                Err(e) => {
                    d.error(loc, format!("'{kw} {what} {k}': cannot read '{v}': {e}"));
                    return None;
                }
            },
            "hdr" => {
                let Some(val) = w.get(i + 2) else {
                    d.error(loc, format!("'{kw} {what} hdr' expects a name and a value"));
                    return None;
                };
                let f = logformat(px, val, &format!("'{kw} {what}'"), loc, d)?;
                r.headers.push((v.clone(), f));
                i += 1;
            }
            "default-errorfiles" => {
                r.body = ReplyBody::ErrorPage;
                i += 1;
                continue;
            }
            o => {
                d.error(loc, format!("unknown '{kw} {what}' option '{o}'"));
                return None;
            }
        }
        if k.starts_with("lf-") {
            lf = true;
        } else if matches!(k, "string" | "file" | "errorfile" | "errorfiles") {
            lf = false;
        }
        i += 2;
    }
    // HAProxy's `http_parse_http_reply`: a body needs its type.
    if r.content_type.is_none() {
        let bodied = match &r.body {
            ReplyBody::Text(_) => true,
            ReplyBody::File(b) => !b.is_empty(),
            _ => false,
        };
        if bodied && lf {
            d.error(
                loc,
                format!("'{kw} {what}': a content type must be defined with a log-format payload"),
            );
            return None;
        }
        if bodied {
            d.error(loc, format!("'{kw} {what}': a content type must be defined when non-empty payload is configured"));
            return None;
        }
    }
    Some(r)
}

/// Status codes HAProxy 2.6 accepts in `errorfile` (`http_err_codes`).
pub const ERRORFILE_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503, 504,
];

/// HAProxy's `error detected in <proxy> '<name>' while parsing '<kw> <action>' rule : <m>`.
fn rule_error(px: &Proxy, kw: &str, action: &str, m: &str, loc: &Loc, d: &mut Diags) {
    d.error(
        loc,
        format!(
            "error detected in {} '{}' while parsing '{kw} {action}' rule : {m}",
            px.kind.haproxy_name(),
            px.name
        ),
    );
}

/// The operation of `set-map(FILE)`, `del-map(FILE)`, `add-acl(FILE)`, `del-acl(FILE)`.
fn pat_op(action: &str) -> Option<crate::acl::patref::PatOp> {
    use crate::acl::patref::PatOp;
    let name = action.split('(').next().unwrap_or(action);
    Some(match name {
        "set-map" => PatOp::SetMap,
        "del-map" => PatOp::DelMap,
        "add-acl" => PatOp::AddAcl,
        "del-acl" => PatOp::DelAcl,
        _ => return None,
    })
}

/// `set-map(FILE) KEY VALUE` and the one-argument `del-map`, `add-acl`, `del-acl`, with
/// HAProxy 2.6's errors. As in HAProxy, the file is not checked: a rule on a file that no
/// converter or ACL loads does nothing.
fn pat_action(px: &Proxy, w: &[String], kw: &str, loc: &Loc, d: &mut Diags) -> Option<HttpAction> {
    use crate::acl::patref::{PatAction, PatOp};
    let action = w[0].as_str();
    let op = pat_op(action)?;
    // HAProxy takes what is between `(` and the last character.
    let file = action.split_once('(').map_or("", |(_, f)| {
        let mut end = f.len();
        if end > 0 {
            end -= f.chars().next_back().map_or(0, char::len_utf8);
        }
        &f[..end]
    });
    let want = if op == PatOp::SetMap { 2 } else { 1 };
    let end = (w.iter().skip(1))
        .position(|x| x == "if" || x == "unless")
        .map_or(w.len(), |p| p + 1);
    if end < 1 + want {
        let m = if want == 2 {
            "expects exactly 2 arguments."
        } else {
            "expects exactly 1 arguments."
        };
        rule_error(px, kw, action, m, loc, d);
        return None;
    }
    if end > 1 + want {
        trailing(kw, action, &w[1 + want], loc, d);
        return None;
    }
    let fmt = |text: &str, d: &mut Diags| {
        let mut ctx = crate::acl::ParseCtx::new(&px.name);
        let r = crate::acl::LogFormat::parse(text, &mut ctx);
        for wn in ctx.warnings {
            d.warn(loc, wn);
        }
        r.map_err(|e| rule_error(px, kw, action, &e, loc, d)).ok()
    };
    let key = fmt(&w[1], d)?;
    let value = match want {
        2 => Some(fmt(&w[2], d)?),
        _ => None,
    };
    Some(HttpAction::PatRef(PatAction::new(op, file, key, value)))
}

/// HAProxy's error for words between an action's arguments and its condition.
fn trailing(kw: &str, action: &str, found: &str, loc: &Loc, d: &mut Diags) {
    d.error(
        loc,
        format!(
            "'{kw} {action}' expects either 'if' or 'unless' followed by a condition but found '{found}'."
        ),
    );
}
