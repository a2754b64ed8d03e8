//! `http-request set-pathq`, `replace-uri`, `replace-path`, `replace-pathq` and `tarpit`
//! (HAProxy 2.6's src/http_act.c: `parse_replace_uri`, `parse_set_req_line`,
//! `parse_http_deny` for tarpit), and the backend's `use-server` rules that pick a server
//! for the request.

use super::diag::{Diags, Loc};
use super::model::{HttpAction, Mode, PersistRule, Proxy, Regex, ReplyBody, TargetPart, UseServer};

/// `use-server SERVER [if|unless COND]` (HAProxy 2.6's `cfg_parse_listen` wording). The
/// server name is checked once the section is complete ([`check_use_servers`]).
pub(crate) fn use_server(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &crate::tls::options::TlsGlobals,
) {
    let Some(server) = w.get(1).filter(|s| !s.is_empty()) else {
        d.error(loc, "'use-server' expects a server name.");
        return;
    };
    let cond = match w.get(2).map(String::as_str) {
        None => None,
        Some("if" | "unless") => match super::parser::parse_cond(px, &w[2..], loc, d) {
            Some(c) => Some(c),
            None => return,
        },
        Some(_) => {
            d.error(
                loc,
                "'use-server' requires either 'if' or 'unless' followed by a condition.",
            );
            return;
        }
    };
    px.use_servers.push(UseServer {
        server: server.clone(),
        cond,
        loc: loc.clone(),
    });
}

/// `force-persist if|unless COND` and `ignore-persist if|unless COND` (backends; a
/// frontend's is ignored with HAProxy's warning).
pub(crate) fn persist_rule(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &crate::tls::options::TlsGlobals,
) {
    let kw = w[0].as_str();
    if !matches!(w.get(1).map(String::as_str), Some("if" | "unless")) {
        d.error(
            loc,
            format!("'{kw}' requires either 'if' or 'unless' followed by a condition."),
        );
        return;
    }
    let Some(cond) = super::parser::parse_cond(px, &w[1..], loc, d) else {
        return;
    };
    if !px.kind.is_backend() {
        d.warn(
            loc,
            format!(
                "'{kw}' ignored because frontend '{}' has no backend capability",
                px.name
            ),
        );
        return;
    }
    px.persist_rules.push(PersistRule {
        force: kw == "force-persist",
        cond,
    });
}

/// Every `use-server` names a server of its backend; corelb runs them in mode http only.
pub(crate) fn check_use_servers(px: &Proxy, d: &mut Diags) {
    for u in &px.use_servers {
        if px.mode == Mode::Tcp {
            d.error(
                &u.loc,
                format!(
                    "'use-server' in mode tcp (backend '{}') is not supported yet",
                    px.name
                ),
            );
        } else if !px.servers.iter().any(|s| s.name == u.server) {
            d.error(
                &u.loc,
                format!(
                    "backend '{}' : unable to find server '{}' referenced in a 'use-server' rule",
                    px.name, u.server
                ),
            );
        }
    }
}

/// The action of `w` (`w[0]` is its name, `w[..end]` its words before the condition).
pub(crate) fn action(
    px: &Proxy,
    w: &[String],
    end: usize,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpAction> {
    let name = w[0].as_str();
    let what = format!("'http-request {name}'");
    let args = &w[1..end];
    match name {
        "tarpit" => {
            let reply = super::parser::http_rules::parse_reply(
                px,
                args,
                500,
                true,
                "http-request",
                loc,
                d,
            )?;
            let simple = matches!(reply.body, ReplyBody::ErrorPage)
                && reply.headers.is_empty()
                && reply.content_type.is_none();
            Some(HttpAction::Tarpit {
                status: reply.status,
                reply: (!simple).then_some(reply),
            })
        }
        "set-pathq" => match args {
            [f] => {
                super::parser::http_rules::logformat(px, f, &what, loc, d).map(HttpAction::SetPathQ)
            }
            _ => {
                d.error(loc, format!("{what} expects exactly 1 argument <format>"));
                None
            }
        },
        _ => {
            let part = match name {
                "replace-uri" => TargetPart::Uri,
                "replace-path" => TargetPart::Path,
                _ => TargetPart::PathQ,
            };
            let [re, f] = args else {
                d.error(
                    loc,
                    format!(
                        "{what} expects exactly 2 arguments <match-regex> and <replace-format>"
                    ),
                );
                return None;
            };
            let re = match regex::bytes::Regex::new(re) {
                Ok(r) => Regex(r),
                Err(e) => {
                    d.error(
                        loc,
                        format!("{what}: invalid regular expression '{re}': {e}"),
                    );
                    return None;
                }
            };
            let f = super::parser::http_rules::logformat(px, f, &what, loc, d)?;
            Some(HttpAction::ReplaceTarget(part, re, f))
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Diags, HttpAction, Level, TargetPart};

    fn check(text: &str) -> (Option<crate::config::Config>, Diags) {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str("t.cfg", text);
        p.finish()
    }

    const HEAD: &str = "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\n timeout tarpit 2s\nbackend b\n server s 127.0.0.1:1\n";

    #[test]
    fn rewrites_and_tarpit_parse() {
        let (cfg, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n http-request replace-path /api/(.*) /\\1 if {{ path_beg /api }}\n http-request replace-pathq ^/q(.*) /r\\1\n http-request replace-uri ^(.*)$ \\1\n http-request set-pathq /x?%[src]\n http-request tarpit deny_status 429 if {{ path /slow }}\n default_backend b\n"
        ));
        let errors: Vec<_> = d.list.iter().filter(|m| m.level == Level::Error).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let cfg = cfg.unwrap();
        let f = &cfg.proxies[cfg.proxy_by_name("f", false).unwrap()];
        assert!(matches!(
            f.http_request[0].action,
            HttpAction::ReplaceTarget(TargetPart::Path, ..)
        ));
        assert!(f.http_request[0].cond.is_some());
        assert!(matches!(
            f.http_request[1].action,
            HttpAction::ReplaceTarget(TargetPart::PathQ, ..)
        ));
        assert!(matches!(
            f.http_request[2].action,
            HttpAction::ReplaceTarget(TargetPart::Uri, ..)
        ));
        assert!(matches!(f.http_request[3].action, HttpAction::SetPathQ(_)));
        assert!(matches!(
            f.http_request[4].action,
            HttpAction::Tarpit {
                status: 429,
                reply: None
            }
        ));
        assert_eq!(f.timeouts.tarpit, Some(std::time::Duration::from_secs(2)));
    }

    /// Every error as `FILE:LINE: message`, one per line.
    fn errors(d: &Diags) -> String {
        let e: Vec<String> = d
            .list
            .iter()
            .filter(|m| m.level == Level::Error)
            .map(|m| format!("{}: {}", m.loc.as_ref().unwrap(), m.msg))
            .collect();
        e.join("\n")
    }

    #[test]
    fn use_server_names_a_server_of_its_backend() {
        let (cfg, d) = check(&format!(
            "{HEAD}backend c\n use-server s2 if {{ path /two }}\n use-server nope\n use-server s1 foo\n server s1 127.0.0.1:1\n server s2 127.0.0.1:2\nbackend t\n mode tcp\n use-server x\n server x 127.0.0.1:3\n"
        ));
        let e = errors(&d);
        for want in [
            "t.cfg:11: backend 'c' : unable to find server 'nope' referenced in a 'use-server' rule",
            "t.cfg:12: 'use-server' requires either 'if' or 'unless' followed by a condition.",
            "t.cfg:17: 'use-server' in mode tcp (backend 't') is not supported yet",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
        assert!(!e.contains("t.cfg:10"), "{e}");
        assert!(cfg.is_none());
    }

    #[test]
    fn bad_rewrites_are_errors_with_the_line() {
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n http-request replace-path /a\n http-request replace-uri ( x\n http-request set-pathq\n http-response replace-path a b\n"
        ));
        let e = errors(&d);
        for want in [
            "t.cfg:11: 'http-request replace-path' expects exactly 2 arguments <match-regex> and <replace-format>",
            "t.cfg:12: 'http-request replace-uri': invalid regular expression '('",
            "t.cfg:13: 'http-request set-pathq' expects exactly 1 argument <format>",
            "t.cfg:14: unknown 'http-response' action 'replace-path'",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }
}
