//! `tcp-request connection|session|content ACTION [if|unless COND]` and
//! `tcp-request inspect-delay TIME`, with HAProxy 2.6's checks and wording (src/tcp_rules.c,
//! `tcp_parse_tcp_req`): where each rule set may appear, which actions each allows, and the
//! warnings for conditions whose fetches have nothing to say where the rule runs.

use super::diag::{Diags, Loc};
use super::model::{Kind, Proxy, TcpAction, TcpRule};

/// The actions corelb runs.
const ACTIONS: &[&str] = &[
    "accept",
    "reject",
    "silent-drop",
    "expect-proxy",
    "set-src",
    "set-src-port",
    "set-dst",
    "set-dst-port",
    "set-var(",
    "set-var-fmt(",
    "unset-var(",
    "track-sc0",
    "track-sc1",
    "track-sc2",
    "sc-inc-gpc0(",
    "sc-inc-gpc1(",
    "sc-set-gpt0(",
    "sc-inc-gpc(",
    "sc-set-gpt(",
    "capture",
    "do-resolve(",
    "set-mark",
    "set-tos",
    "set-log-level",
    "set-nice",
    "set-priority-class",
    "set-priority-offset",
    "switch-mode",
];

/// Actions HAProxy 2.6 has for `tcp-request` that corelb does not run yet.
/// Why no `ot-group` and no `filter opentracing`.
pub(crate) const NO_OPENTRACING: &str =
    "corelb has no OpenTracing filter (its traces are the log lines and the unique id)";

const NOT_YET: &[&str] = &["expect-netscaler-cip"];

/// The three rule sets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Set {
    Connection,
    Session,
    Content,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Connection => "connection",
            Set::Session => "session",
            Set::Content => "content",
        }
    }

    /// Where these rules run in a `kind` section (HAProxy's check points, a mask of
    /// `placement::ckp`): their fetches must have something to say there.
    fn place(self, kind: Kind) -> u32 {
        use crate::acl::placement::ckp;
        match self {
            Set::Connection => ckp::FE_CON_ACC,
            Set::Session => ckp::FE_SES_ACC,
            Set::Content => kind.place(ckp::FE_REQ_CNT, ckp::BE_REQ_CNT),
        }
    }
}

/// A `tcp-request` line of a proxy section.
pub(super) fn tcp_request(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let kind = px.kind.name();
    let anonymous_defaults = px.kind == Kind::Defaults && px.name.is_empty();
    let Some(sub) = w.get(1).map(String::as_str) else {
        let msg = if px.kind == Kind::Defaults {
            "missing argument for 'tcp-request' in defaults section".to_string()
        } else {
            format!("missing argument for 'tcp-request' in {kind} '{}'", px.name)
        };
        d.error(loc, msg);
        return;
    };
    let set = match sub {
        "inspect-delay" => {
            if anonymous_defaults {
                d.error(
                    loc,
                    "tcp-request inspect-delay is not allowed in anonymous 'defaults' sections",
                );
                return;
            }
            return inspect_delay(px, w.get(2).map(String::as_str), loc, d);
        }
        "connection" => Set::Connection,
        "session" => Set::Session,
        "content" => Set::Content,
        other => {
            let place = if px.kind == Kind::Defaults {
                "defaults section".to_string()
            } else {
                format!("{kind} '{}'", px.name)
            };
            let h =
                super::keywords::hint(other, ["inspect-delay", "connection", "session", "content"]);
            d.error(
                loc,
                format!(
                    "'tcp-request' expects 'inspect-delay', 'connection', or 'content' in {place} (got '{other}'){h}"
                ),
            );
            return;
        }
    };
    if set != Set::Content && !px.kind.is_frontend() && px.kind != Kind::Defaults {
        d.error(
            loc,
            format!(
                "tcp-request {sub} is not allowed because {kind} {} is not a frontend",
                px.name
            ),
        );
        return;
    }
    if anonymous_defaults {
        d.error(
            loc,
            format!("tcp-request {sub} is not allowed in anonymous 'defaults' sections"),
        );
        return;
    }
    let parsed = px.parsed_at(set.place(px.kind), |px| rule(px, set, &w[2..], loc, d));
    let Some(mut rule) = parsed else {
        return;
    };
    if let Some(c) = &mut rule.cond {
        let place = if set != Set::Content || px.kind.is_frontend() {
            format!("frontend tcp-request {sub} rule")
        } else {
            "backend tcp-request content rule".to_string()
        };
        let rules = format!("tcp-request {sub}");
        if let Some(wn) = c.conflict(&px.acls, set.place(px.kind), &rules, &place) {
            d.warn(loc, wn);
        }
    }
    misplaced(px, set, loc, d);
    if let TcpAction::Capture { len, .. } = rule.action {
        let c = crate::config::logging::Capture {
            name: String::new(),
            len,
        };
        px.logging.req_captures.push(c);
    }
    let t = &mut px.tcp_request;
    match set {
        Set::Connection => t.connection.push(rule),
        Set::Session => t.session.push(rule),
        Set::Content => t.content.push(rule),
    }
}

/// HAProxy's `warnif_misplaced_tcp_*`: rules run by phase, not in file order.
fn misplaced(px: &Proxy, set: Set, loc: &Loc, d: &mut Diags) {
    let t = &px.tcp_request;
    let after = if set == Set::Connection && !t.session.is_empty() {
        "tcp-request session"
    } else if set != Set::Content && !t.content.is_empty() {
        "tcp-request content"
    } else if px.monitor_fail.is_some() {
        "monitor fail"
    } else {
        return;
    };
    d.warn(
        loc,
        format!(
            "a 'tcp-request' rule placed after a '{after}' rule will still be processed before."
        ),
    );
}

/// `capture EXPR len N` (HAProxy's `tcp_parse_request_capture`, content rules only), with
/// HAProxy 2.6's errors; the rule's slot is the next of the frontend's request captures.
fn capture(px: &Proxy, set: Set, w: &[String], loc: &Loc, d: &mut Diags) -> Option<TcpAction> {
    let sub = set.name();
    let place = format!("{} '{}'", px.kind.name(), px.name);
    let arg = w.get(1).map(String::as_str).unwrap_or("");
    if set != Set::Content {
        d.error(
            loc,
            format!("'capture {arg}' is not allowed in 'tcp-request {sub}' rules in {place}"),
        );
        return None;
    }
    let err = |d: &mut Diags, m: &str| d.error(loc, format!("'tcp-request content capture' : {m}"));
    if arg.is_empty() {
        err(d, "missing fetch method");
        return None;
    }
    let placed = crate::acl::placement::misplaced_expr(arg, arg, set.place(px.kind));
    let expr = match crate::acl::FetchExpr::parse(arg, &px.name).and_then(|x| placed.map(|()| x)) {
        Ok(x) => x,
        Err(e) => {
            err(d, &e.to_string());
            return None;
        }
    };
    if w.get(2).map(String::as_str) != Some("len") {
        err(d, "a positive 'len' argument is mandatory");
        return None;
    }
    // HAProxy reads the length with atol(): what is no number is 0.
    let len = w.get(3).and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
    if len == 0 {
        err(d, "length must be > 0");
        return None;
    }
    if !px.kind.is_frontend() {
        err(
            d,
            &format!("proxy '{}' has no frontend capability", px.name),
        );
        return None;
    }
    let id = px.logging.req_captures.len();
    Some(TcpAction::Capture { expr, id, len })
}

/// `switch-mode http [proto NAME]` (HAProxy 2.6's `tcp_parse_switch_mode`, its words): in
/// a proxy with a frontend; `proto` names an HTTP multiplexer, `h1` or `h2`.
fn switch_mode(px: &Proxy, w: &[String], loc: &Loc, d: &mut Diags) -> Option<(TcpAction, usize)> {
    use super::model::BindProto;
    let kw = "'tcp-request switch-mode'";
    if !px.kind.is_frontend() && px.kind != Kind::Defaults {
        let why = format!(
            "{kw} not allowed because {} '{}' has no frontend capability",
            px.kind.name(),
            px.name
        );
        d.error(loc, why);
        return None;
    }
    match w.get(1).map(String::as_str) {
        None | Some("") => {
            d.error(loc, format!("{kw} expects a mode as argument."));
            return None;
        }
        Some("http") => {}
        Some(m) => {
            d.error(loc, format!("{kw} expects a valid mode (got '{m}')."));
            return None;
        }
    }
    if w.get(2).map(String::as_str) != Some("proto") {
        return Some((TcpAction::SwitchHttp(BindProto::Auto), 2));
    }
    let proto = match w.get(3).map(String::as_str) {
        None | Some("") => {
            d.error(
                loc,
                format!("{kw}: 'proto' expects a protocol as argument."),
            );
            return None;
        }
        Some("h1") => BindProto::H1,
        Some("h2") => BindProto::H2,
        // Multiplexers HAProxy knows for other modes: it refuses them once the proxy is read.
        Some(p @ ("fcgi" | "none")) => {
            let why = format!(
                "Proxy '{}': MUX protocol '{p}' is not compatible with the selected mode.",
                px.name
            );
            d.error(loc, why);
            return None;
        }
        Some(p) => {
            let why =
                format!("{kw}: 'proto' expects a valid MUX protocol, if specified (got '{p}')");
            d.error(loc, why);
            return None;
        }
    };
    Some((TcpAction::SwitchHttp(proto), 4))
}

/// `ACTION [ARGS] [if|unless COND]`.
fn rule(px: &Proxy, set: Set, w: &[String], loc: &Loc, d: &mut Diags) -> Option<TcpRule> {
    let sub = set.name();
    let place = format!("{} '{}'", px.kind.name(), px.name);
    let Some(action) = w.first().map(String::as_str) else {
        d.error(
            loc,
            format!("'tcp-request {sub}' expects {} in {place}", expected(set)),
        );
        return None;
    };
    let (act, used) = match action {
        "accept" => (TcpAction::Accept, 1),
        "reject" => (TcpAction::Reject, 1),
        "silent-drop" => (TcpAction::SilentDrop, 1),
        "expect-proxy" => {
            let arg = w.get(1).map(String::as_str).unwrap_or("");
            if arg != "layer4" {
                d.error(
                    loc,
                    format!(
                        "'tcp-request {sub} expect-proxy' only supports 'layer4' in {place} (got '{arg}')"
                    ),
                );
                return None;
            }
            if set != Set::Connection {
                d.error(
                    loc,
                    format!("'expect-proxy layer4' is not allowed in 'tcp-request {sub}' rules in {place}"),
                );
                return None;
            }
            (TcpAction::ExpectProxy, 2)
        }
        "set-src" | "set-src-port" | "set-dst" | "set-dst-port" => {
            use crate::config::model::AddrPart;
            let part = match action {
                "set-src" => AddrPart::Src,
                "set-src-port" => AddrPart::SrcPort,
                "set-dst" => AddrPart::Dst,
                _ => AddrPart::DstPort,
            };
            let Some(e) = w.get(1).filter(|e| *e != "if" && *e != "unless") else {
                d.error(
                    loc,
                    format!("'tcp-request {sub} {action}' expects a sample expression in {place}"),
                );
                return None;
            };
            let expr = match crate::acl::FetchExpr::parse(e, &px.name) {
                Ok(x) => x,
                Err(err) => {
                    d.error(
                        loc,
                        format!(
                            "'tcp-request {sub} {action}': failed to parse sample expression <{e}> : {err}"
                        ),
                    );
                    return None;
                }
            };
            // (HAProxy's words, without the rule's name here.)
            if let Err(m) = crate::acl::placement::misplaced_expr(e, e, set.place(px.kind)) {
                d.error(loc, m);
                return None;
            }
            (TcpAction::SetAddr(part, expr), 2)
        }
        "capture" => (capture(px, set, w, loc, d)?, 4),
        // HAProxy 2.6's words (src/tcp_act.c): an integer, decimal or 0x hex.
        "set-mark" | "set-tos" => {
            let Some(v) = w.get(1).filter(|v| *v != "if" && *v != "unless") else {
                d.error(loc, "expects exactly 1 argument (integer/hex value)");
                return None;
            };
            let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(h) => u32::from_str_radix(h, 16).ok(),
                None => v.parse::<u32>().ok(),
            };
            let Some(n) = n else {
                let at = match v.get(..2) {
                    Some("0x" | "0X") => v[2..].trim_start_matches(|c: char| c.is_ascii_hexdigit()),
                    _ => v.trim_start_matches(|c: char| c.is_ascii_digit()),
                };
                let at = if at.is_empty() { v.as_str() } else { at };
                d.error(
                    loc,
                    format!("invalid character starting at '{at}' (integer/hex value expected)"),
                );
                return None;
            };
            let a = if action == "set-mark" {
                TcpAction::SetMark(n)
            } else {
                // IP_TOS is one byte: the kernel keeps the low 8 bits, as HAProxy's
                // setsockopt() of a larger value leaves it.
                TcpAction::SetTos(n as u8)
            };
            (a, 2)
        }
        "set-log-level" if set == Set::Content => {
            let level = w
                .get(1)
                .and_then(|l| super::parser::http_rules::log_level(l));
            let Some(level) = level else {
                d.error(
                    loc,
                    "expects exactly 1 argument (log level name or 'silent')",
                );
                return None;
            };
            (TcpAction::SetLogLevel(level), 2)
        }
        "set-priority-class" | "set-priority-offset" if set == Set::Content => {
            // HAProxy 2.6's words.
            let Some(e) = w.get(1).filter(|e| *e != "if" && *e != "unless") else {
                d.error(loc, "missing fetch method");
                return None;
            };
            let expr = match crate::acl::FetchExpr::parse(e, &px.name) {
                Ok(x) => x,
                Err(err) => {
                    d.error(loc, err.to_string());
                    return None;
                }
            };
            let class = action == "set-priority-class";
            (TcpAction::SetPriority { class, expr }, 2)
        }
        "switch-mode" if set == Set::Content => switch_mode(px, w, loc, d)?,
        "set-nice" if set == Set::Content => {
            let Some(v) = w.get(1).filter(|v| *v != "if" && *v != "unless") else {
                d.error(loc, "expects exactly 1 argument (integer value)");
                return None;
            };
            (
                TcpAction::SetNice(super::parser::http_rules::nice_value(v)),
                2,
            )
        }
        a if crate::acl::VarAction::is_action(a) => {
            let end = w
                .iter()
                .position(|x| x == "if" || x == "unless")
                .unwrap_or(w.len());
            let rules = format!("tcp-request {sub}");
            let v = super::vars::var_action(px, &rules, &w[..end], loc, d)?;
            (TcpAction::Var(v), end)
        }
        a if super::stick::is_action(a) => {
            let end = w
                .iter()
                .position(|x| x == "if" || x == "unless")
                .unwrap_or(w.len());
            let rules = format!("tcp-request {sub}");
            let act = match super::stick::parse_action(&rules, &w[..end], &px.name) {
                Ok(a) => a,
                Err(e) => {
                    d.error(loc, e);
                    return None;
                }
            };
            if let crate::acl::StickAction::Track { .. } = &act
                && let Err(m) =
                    crate::acl::placement::misplaced_expr(&w[1], &w[1], set.place(px.kind))
            {
                d.error(loc, format!("'{rules} {a}' : {m}"));
                return None;
            }
            (TcpAction::Stick(act), end)
        }
        "send-spoe-group" => {
            let why = super::parser::http_rules::NO_SPOE;
            d.error(
                loc,
                format!("'tcp-request {sub} send-spoe-group' is not supported: {why}"),
            );
            return None;
        }
        "ot-group" => {
            d.error(
                loc,
                format!("'tcp-request {sub} ot-group' is not supported: {NO_OPENTRACING}"),
            );
            return None;
        }
        "use-service" => {
            match w.get(1).map(String::as_str) {
                Some(l) if l.starts_with("lua.") => d.error(
                    loc,
                    format!(
                        "'tcp-request {sub} use-service {l}' is not supported: {}",
                        super::keywords::NO_LUA
                    ),
                ),
                // HAProxy 2.6's words.
                Some("prometheus-exporter") => d.error(
                    loc,
                    "Prometheus exporter service only available on 'http-request' rulesets",
                ),
                Some(o) => d.error(
                    loc,
                    format!("'tcp-request {sub} use-service': unknown service '{o}'"),
                ),
                None => d.error(
                    loc,
                    format!("'tcp-request {sub} use-service' expects a service name"),
                ),
            }
            return None;
        }
        a if set == Set::Content && a.starts_with("do-resolve(") => {
            let end = w
                .iter()
                .position(|x| x == "if" || x == "unless")
                .unwrap_or(w.len());
            match crate::config::resolvers::DoResolve::parse(a, &w[1..end], &px.name) {
                Ok(r) => (TcpAction::DoResolve(Box::new(r)), end),
                Err(e) => {
                    d.error(loc, format!("'tcp-request {sub} {a}': {e}"));
                    return None;
                }
            }
        }
        a if NOT_YET.contains(&a) => {
            d.error(
                loc,
                format!(
                    "'tcp-request {sub} {a}' is not supported yet (corelb runs {})",
                    expected(set)
                ),
            );
            return None;
        }
        a => {
            let h = super::keywords::hint(a, ACTIONS.iter().copied());
            d.error(
                loc,
                format!(
                    "'tcp-request {sub}' expects {} in {place} (got '{a}'){h}",
                    expected(set)
                ),
            );
            return None;
        }
    };
    let cond = match w.get(used).map(String::as_str) {
        None => None,
        Some("if" | "unless") => Some(super::parser::parse_cond(px, &w[used..], loc, d)?),
        Some(o) => {
            // (HAProxy names `switch-mode` alone, whatever arguments it took.)
            let shown = match act {
                TcpAction::SwitchHttp(_) => action.to_string(),
                _ => w[..used].join(" "),
            };
            d.error(
                loc,
                format!(
                    "'tcp-request {sub} {shown}' only accepts 'if' or 'unless', in {place} (got '{o}')"
                ),
            );
            return None;
        }
    };
    Some(TcpRule {
        action: act,
        cond,
        loc: loc.clone(),
    })
}

fn expected(set: Set) -> &'static str {
    if set == Set::Connection {
        "'accept', 'reject', 'silent-drop', 'track-sc0' ... 'track-sc2', 'sc-inc-gpc(...)', 'sc-inc-gpc0(...)', 'sc-inc-gpc1(...)', 'sc-set-gpt(...)', 'sc-set-gpt0(...)', 'set-src', 'set-dst' (and their '-port'), 'set-var(...)', 'unset-var(...)' or 'expect-proxy layer4'"
    } else {
        "'accept', 'reject', 'silent-drop', 'track-sc0' ... 'track-sc2', 'sc-inc-gpc(...)', 'sc-inc-gpc0(...)', 'sc-inc-gpc1(...)', 'sc-set-gpt(...)', 'sc-set-gpt0(...)', 'set-src', 'set-dst' (and their '-port'), 'set-var(...)' or 'unset-var(...)'"
    }
}

/// `tcp-request inspect-delay TIME`: a delay already set (here or by the defaults section)
/// is kept, with HAProxy's warning.
fn inspect_delay(px: &mut Proxy, arg: Option<&str>, loc: &Loc, d: &mut Diags) {
    let place = if px.kind == Kind::Defaults {
        format!("defaults '{}'", px.name)
    } else {
        format!("{} '{}'", px.kind.name(), px.name)
    };
    let bad =
        format!("'tcp-request inspect-delay' expects a positive delay in milliseconds, in {place}");
    let Some(a) = arg.filter(|a| !a.is_empty()) else {
        d.error(loc, bad);
        return;
    };
    let t = match super::units::parse_time(a, std::time::Duration::from_millis(1)) {
        Ok(t) => t,
        Err(_) => {
            let digits = a.bytes().take_while(u8::is_ascii_digit).count();
            let unit_len = ["us", "ms", "s", "m", "h", "d"]
                .iter()
                .filter(|u| a[digits..].starts_with(**u))
                .map(|u| u.len())
                .max()
                .unwrap_or(0);
            let c = a[digits + unit_len..].chars().next().unwrap_or('?');
            d.error(loc, format!("{bad} (unexpected character '{c}')"));
            return;
        }
    };
    if px.tcp_request.inspect_delay.is_some() {
        d.warn(
            loc,
            format!("ignoring tcp-request inspect-delay (was already defined) in {place}"),
        );
        return;
    }
    // Zero means no delay, as in HAProxy.
    px.tcp_request.inspect_delay = (!t.is_zero()).then_some(t);
}

#[cfg(test)]
mod tests {
    use crate::config::{Diags, Level, TcpAction};

    fn check(text: &str) -> (Option<crate::config::Config>, Diags) {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str("t.cfg", text);
        p.finish()
    }

    fn messages(d: &Diags, level: Level) -> Vec<String> {
        d.list
            .iter()
            .filter(|m| m.level == level)
            .map(|m| format!("{}: {}", m.loc.as_ref().unwrap(), m.msg))
            .collect()
    }

    const HEAD: &str = "defaults\n mode tcp\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nbackend b\n server s 127.0.0.1:1\n";

    #[test]
    fn rules_are_parsed_in_their_sets() {
        let (cfg, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n tcp-request inspect-delay 5s\n tcp-request connection reject if {{ src 10.0.0.0/8 }}\n tcp-request connection expect-proxy layer4 if {{ src 127.0.0.1 }}\n tcp-request session accept\n tcp-request content accept if {{ req.ssl_hello_type 1 }}\n tcp-request content silent-drop\n use_backend b if {{ req.ssl_sni -i a.example }}\n default_backend b\n"
        ));
        assert!(
            messages(&d, Level::Error).is_empty(),
            "{:?}",
            messages(&d, Level::Error)
        );
        let cfg = cfg.expect("config");
        let f = &cfg.proxies[cfg.proxy_by_name("f", false).unwrap()];
        let t = &f.tcp_request;
        assert_eq!(t.inspect_delay, Some(std::time::Duration::from_secs(5)));
        assert_eq!(t.connection.len(), 2);
        assert_eq!(t.connection[1].action, TcpAction::ExpectProxy);
        assert_eq!(t.session.len(), 1);
        assert_eq!(t.content.len(), 2);
        assert_eq!(t.content[1].action, TcpAction::SilentDrop);
    }

    #[test]
    fn haproxy_wording_for_refusals() {
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n tcp-request session expect-proxy layer4\n tcp-request foo\n tcp-request content accept foo\n tcp-request inspect-delay 5x\n tcp-request connection expect-proxy\n tcp-request content set-mark 1x\nbackend b2\n tcp-request connection accept\n server s 127.0.0.1:1\n"
        ));
        let e = messages(&d, Level::Error).join("\n");
        for want in [
            "t.cfg:10: 'expect-proxy layer4' is not allowed in 'tcp-request session' rules in frontend 'f'",
            "t.cfg:11: 'tcp-request' expects 'inspect-delay', 'connection', or 'content' in frontend 'f' (got 'foo')",
            "t.cfg:12: 'tcp-request content accept' only accepts 'if' or 'unless', in frontend 'f' (got 'foo')",
            "t.cfg:13: 'tcp-request inspect-delay' expects a positive delay in milliseconds, in frontend 'f' (unexpected character 'x')",
            "t.cfg:14: 'tcp-request connection expect-proxy' only supports 'layer4' in frontend 'f' (got '')",
            "t.cfg:15: invalid character starting at 'x' (integer/hex value expected)",
            "t.cfg:17: tcp-request connection is not allowed because backend b2 is not a frontend",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }

    #[test]
    fn capture_takes_the_next_request_slot_with_haproxy_errors() {
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n declare capture request len 7\n tcp-request content capture req.ssl_sni len 100\n tcp-request session capture src len 10\n tcp-request content capture src\n tcp-request content capture src len 0\n tcp-request content capture\nbackend b2\n tcp-request content capture src len 5\n server s 127.0.0.1:1\n"
        ));
        let e = messages(&d, Level::Error).join("\n");
        for want in [
            "t.cfg:12: 'capture src' is not allowed in 'tcp-request session' rules in frontend 'f'",
            "t.cfg:13: 'tcp-request content capture' : a positive 'len' argument is mandatory",
            "t.cfg:14: 'tcp-request content capture' : length must be > 0",
            "t.cfg:15: 'tcp-request content capture' : missing fetch method",
            "t.cfg:17: 'tcp-request content capture' : proxy 'b2' has no frontend capability",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
        let (cfg, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n declare capture request len 7\n tcp-request content capture req.ssl_sni len 100\n"
        ));
        assert!(messages(&d, Level::Error).is_empty(), "{cfg:?}");
        let cfg = cfg.unwrap();
        let px = &cfg.proxies[cfg.proxy_by_name("f", false).unwrap()];
        assert!(matches!(
            px.tcp_request.content[0].action,
            TcpAction::Capture {
                id: 1,
                len: 100,
                ..
            }
        ));
        assert_eq!(px.logging.req_captures.len(), 2);
    }

    #[test]
    fn stick_actions_parse_with_haproxy_checks() {
        let (cfg, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n stick-table type ip size 10 store conn_rate(10s),gpc0,gpt0\n tcp-request connection track-sc0 src\n tcp-request connection reject if {{ sc_conn_rate(0) gt 10 }}\n tcp-request session sc-inc-gpc0(0)\n tcp-request content track-sc1 src table f if {{ req.len gt 0 }}\n tcp-request content sc-set-gpt0(1) 3\n"
        ));
        assert!(
            messages(&d, Level::Error).is_empty(),
            "{:?}",
            messages(&d, Level::Error)
        );
        let cfg = cfg.unwrap();
        let t = &cfg.proxies[cfg.proxy_by_name("f", false).unwrap()].tcp_request;
        let TcpAction::Stick(crate::acl::StickAction::Track { slot, table, .. }) =
            &t.content[0].action
        else {
            panic!("{:?}", t.content[0].action)
        };
        assert_eq!(*slot, 1);
        assert_eq!(table.index, cfg.proxy_by_name("f", false).unwrap());
        assert!(matches!(t.session[0].action, TcpAction::Stick(_)));
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n stick-table type string size 10\n tcp-request connection track-sc0 req.hdr(host)\n tcp-request session track-sc3 src\n tcp-request content track-sc0 src table nope\n tcp-request connection sc-inc-gpc0\n"
        ));
        let e = messages(&d, Level::Error).join("\n");
        for want in [
            "t.cfg:11: 'tcp-request connection track-sc0' : fetch method 'req.hdr(host)' extracts information from 'HTTP request headers', none of which is available here",
            "t.cfg:12: 'tcp-request session track-sc3': invalid stick counter '3'",
            "t.cfg:13: no stick-table named 'nope'",
            "t.cfg:14: 'tcp-request connection sc-inc-gpc0': expects a stick counter number",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }

    #[test]
    fn anonymous_defaults_refuse_and_named_defaults_pass_on() {
        let (_, d) = check("defaults\n tcp-request inspect-delay 5s\n");
        assert!(messages(&d, Level::Error).join("\n").contains(
            "t.cfg:2: tcp-request inspect-delay is not allowed in anonymous 'defaults' sections"
        ));
        let (cfg, d) = check(
            "defaults d\n mode tcp\n tcp-request inspect-delay 3s\n tcp-request content reject if { req.len gt 100 }\nfrontend f from d\n bind :1\n tcp-request inspect-delay 5s\n tcp-request content accept\n",
        );
        assert!(messages(&d, Level::Error).is_empty());
        assert!(messages(&d, Level::Warning).join("\n").contains(
            "t.cfg:7: ignoring tcp-request inspect-delay (was already defined) in frontend 'f'"
        ));
        let cfg = cfg.unwrap();
        let t = &cfg.proxies[0].tcp_request;
        assert_eq!(t.inspect_delay, Some(std::time::Duration::from_secs(3)));
        // The defaults section's rule first.
        assert_eq!(t.content[0].action, TcpAction::Reject);
        assert_eq!(t.content[1].action, TcpAction::Accept);
    }

    #[test]
    fn fetches_that_cannot_match_where_the_rule_runs_are_warned_about() {
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n acl sni req.ssl_sni -i a\n tcp-request connection reject if {{ req.ssl_sni -i a }}\n tcp-request session reject if {{ req.len gt 0 }}\n tcp-request connection reject if sni\n tcp-request connection reject if {{ src 1.2.3.4 }}\n tcp-request session reject if {{ ssl_fc }}\n"
        ));
        let w = messages(&d, Level::Warning).join("\n");
        for want in [
            "t.cfg:11: anonymous acl will never match in 'tcp-request connection' because it uses keyword 'req.ssl_sni' which is incompatible with 'frontend tcp-request connection rule'",
            "t.cfg:12: anonymous acl will never match in 'tcp-request session' because it uses keyword 'req.len' which is incompatible with 'frontend tcp-request session rule'",
            "t.cfg:13: acl 'sni' will never match in 'tcp-request connection' because it only involves keywords that are incompatible with 'frontend tcp-request connection rule'",
            "t.cfg:13: a 'tcp-request' rule placed after a 'tcp-request session' rule will still be processed before.",
        ] {
            assert!(w.contains(want), "missing {want:?} in\n{w}");
        }
        assert!(!w.contains("t.cfg:15: anonymous"), "{w}");
    }
}
