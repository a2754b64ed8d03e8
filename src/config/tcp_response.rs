//! `tcp-response inspect-delay TIME` and `tcp-response content ACTION [if|unless COND]`,
//! with HAProxy 2.6's wording (src/tcp_rules.c, `tcp_parse_tcp_rep`): backends and named
//! defaults only; the actions of the "TCP RsCnt" column that corelb runs.

use super::diag::{Diags, Loc};
use super::model::{Kind, Proxy, TcpAction, TcpRule};

/// HAProxy 2.6's list, as its error message gives it.
const EXPECTED: &str = "'accept', 'close', 'reject', 'ot-group', 'set-log-level', 'set-nice', 'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', 'send-spoe-group', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', 'set-mark', 'set-tos', 'silent-drop'";

/// Actions of that list corelb does not run yet.
const NOT_YET: &[&str] = &[
    "set-log-level",
    "set-nice",
    "set-mark",
    "set-tos",
    "ot-group",
];

/// A `tcp-response` line.
pub(super) fn tcp_response(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let place = if px.kind == Kind::Defaults {
        format!("defaults '{}'", px.name)
    } else {
        format!("{} '{}'", px.kind.name(), px.name)
    };
    let sub = w.get(1).map(String::as_str).unwrap_or("");
    if !matches!(sub, "inspect-delay" | "content") {
        d.error(
            loc,
            format!("'tcp-response' expects 'inspect-delay' or 'content' in {place} (got '{sub}')"),
        );
        return;
    }
    if px.kind == Kind::Defaults && px.name.is_empty() {
        d.error(
            loc,
            format!("tcp-response {sub} is only allowed in 'backend' sections or 'defaults' section with a name"),
        );
        return;
    }
    if sub == "inspect-delay" {
        let bad = format!(
            "'tcp-response inspect-delay' expects a positive delay in milliseconds, in {place}"
        );
        let t = w
            .get(2)
            .map(|a| super::units::parse_time(a, std::time::Duration::from_millis(1)));
        match t {
            Some(Ok(t)) if w.len() == 3 => {
                if px.tcp_response.inspect_delay.is_some() {
                    d.warn(
                        loc,
                        format!(
                            "ignoring tcp-response inspect-delay (was already defined) in {place}"
                        ),
                    );
                } else {
                    px.tcp_response.inspect_delay = (!t.is_zero()).then_some(t);
                }
            }
            _ => d.error(loc, bad),
        }
        return;
    }
    let w = &w[2..];
    let action = w.first().map(String::as_str).unwrap_or("");
    let end = w
        .iter()
        .position(|x| x == "if" || x == "unless")
        .unwrap_or(w.len());
    let rules = "tcp-response content";
    use crate::acl::placement::{ckp, place_name};
    let res_place = px.kind.place(ckp::FE_RES_CNT, ckp::BE_RES_CNT);
    let act = match action {
        "accept" | "reject" | "close" | "silent-drop" if end == 1 => match action {
            "accept" => TcpAction::Accept,
            "reject" => TcpAction::Reject,
            "close" => TcpAction::Close,
            _ => TcpAction::SilentDrop,
        },
        "accept" | "reject" | "close" | "silent-drop" => {
            d.error(
                loc,
                format!(
                    "'{rules} {action}' only accepts 'if' or 'unless', in {place} (got '{}')",
                    w[1]
                ),
            );
            return;
        }
        a if crate::acl::VarAction::is_action(a) => {
            let v = px.parsed_at(res_place, |px| {
                super::vars::var_action(px, rules, &w[..end], loc, d)
            });
            let Some(v) = v else {
                return;
            };
            TcpAction::Var(v)
        }
        a if super::stick::is_action(a) && !a.starts_with("track-sc") => {
            match super::stick::parse_action(rules, &w[..end], &px.name) {
                Ok(a) => TcpAction::Stick(a),
                Err(e) => return d.error(loc, e),
            }
        }
        "send-spoe-group" => {
            let why = super::parser::http_rules::NO_SPOE;
            return d.error(loc, format!("'{rules} {action}' is not supported: {why}"));
        }
        a if NOT_YET.contains(&a) => {
            return d.error(loc, format!("'{rules} {a}' is not supported yet"));
        }
        a => {
            return d.error(
                loc,
                format!("'{rules}' expects {EXPECTED} in {place} (got '{a}')."),
            );
        }
    };
    let mut cond = match w.get(end) {
        Some(_) => match super::parser::parse_cond(px, &w[end..], loc, d) {
            Some(c) => Some(c),
            None => return,
        },
        None => None,
    };
    if let Some(c) = &mut cond
        && let Some(wn) = c.conflict(&px.acls, res_place, rules, place_name(res_place))
    {
        d.warn(loc, wn);
    }
    px.tcp_response.content.push(TcpRule {
        action: act,
        cond,
        loc: loc.clone(),
    });
}
