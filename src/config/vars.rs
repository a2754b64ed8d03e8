//! Parsing of what variables and dynamic names add to proxy sections: the `set-var`,
//! `set-var-fmt` and `unset-var` actions of `http-request`, `http-response` and
//! `tcp-request`, and `use_backend` names with `%[...]` (HAProxy 2.6's
//! `check_config_validity`: every name is a log-format string; one that is only text is a
//! plain name).

use super::diag::{Diags, Loc};
use super::model::Proxy;
use crate::acl::{LogFormat, ParseCtx, VarAction};

/// A variable action (`set-var(txn.x) EXPR`): `w` is the action word and its arguments, up to
/// the condition. `None` (with an error) if it does not parse; `rules` names the rule set
/// for the message (`http-request`).
pub(crate) fn var_action(
    px: &Proxy,
    rules: &str,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
) -> Option<VarAction> {
    let mut ctx = ParseCtx::new(&px.name);
    ctx.place = px.rule_place;
    let r = VarAction::parse(&w[0], &w[1..], &mut ctx);
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
    // HAProxy names the rule and ends with a dot in HTTP rules; its tcp rules print the
    // action's message as it is.
    r.map_err(|e| {
        let m = if rules.starts_with("http-") {
            let dot = if e.ends_with('.') { "" } else { "." };
            format!(
                "error detected in {} '{}' while parsing '{rules} {}' rule : {e}{dot}",
                px.kind.haproxy_name(),
                px.name,
                w[0]
            )
        } else {
            e
        };
        d.error(loc, m)
    })
    .ok()
}

/// The name of a `use_backend` line: `(name, None)` for a plain name, `(text, Some(format))`
/// when it holds an expression to render per request.
pub(crate) fn backend_name(
    px: &Proxy,
    name: &str,
    loc: &Loc,
    d: &mut Diags,
) -> (String, Option<LogFormat>) {
    if !name.contains('%') {
        return (name.to_string(), None);
    }
    let mut ctx = ParseCtx::new(&px.name);
    let r = LogFormat::parse(name, &mut ctx);
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
    match r {
        Ok(f) => match f.as_literal() {
            Some(text) => (String::from_utf8_lossy(text).into_owned(), None),
            None => (name.to_string(), Some(f)),
        },
        Err(e) => {
            d.error(
                loc,
                format!("use_backend: failed to parse the backend name '{name}': {e}"),
            );
            (name.to_string(), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Diags, HttpAction, Level, TcpAction};

    fn check(text: &str) -> (Option<crate::config::Config>, Diags) {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str("t.cfg", text);
        p.finish()
    }

    fn errors(d: &Diags) -> String {
        d.list
            .iter()
            .filter(|m| m.level == Level::Error)
            .map(|m| format!("{}: {}", m.loc.as_ref().unwrap(), m.msg))
            .collect::<Vec<_>>()
            .join("\n")
    }

    const HEAD: &str = "defaults\n mode http\n timeout client 5s\n timeout server 5s\n timeout connect 1s\nbackend b\n server s 127.0.0.1:1\nbackend be_x\n server s 127.0.0.1:1\n";

    #[test]
    fn variable_actions_parse_in_every_rule_set() {
        let (cfg, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n tcp-request connection set-var(sess.c) src\n tcp-request session set-var(sess.s) int(1)\n tcp-request content set-var(txn.t) req.hdr(host),lower if {{ req.hdr(host) -m found }}\n http-request set-var(txn.x) req.hdr(host),lower\n http-request set-var-fmt(txn.f) \"%[src]:%[dst_port]\"\n http-request unset-var(txn.x) if {{ var(txn.x) -m str a }}\n http-response set-var(res.y) int(2)\n use_backend be_%[var(txn.x)]\n use_backend %[req.hdr(host),lower]\n default_backend b\n"
        ));
        assert!(errors(&d).is_empty(), "{}", errors(&d));
        let cfg = cfg.unwrap();
        let f = &cfg.proxies[cfg.proxy_by_name("f", false).unwrap()];
        assert!(matches!(
            f.tcp_request.connection[0].action,
            TcpAction::Var(_)
        ));
        assert!(matches!(f.tcp_request.content[0].action, TcpAction::Var(_)));
        assert!(matches!(f.http_request[1].action, HttpAction::Var(_)));
        assert!(matches!(f.http_response[0].action, HttpAction::Var(_)));
        assert!(f.use_backends[0].dynamic.is_some() && f.use_backends[1].dynamic.is_some());
    }

    #[test]
    fn haproxy_errors_for_bad_variables() {
        let (_, d) = check(&format!(
            "{HEAD}frontend f\n bind :1\n http-request set-var(foo.x) src\n http-request set-var(x) src\n http-request set-var(txn.x)\n http-request set-var(txn.x) nope\n acl a var(txn.x) foo\n http-request set-var(txn.x,ifexists,bogus) src\n use_backend be_x%%\n default_backend b\n"
        ));
        let e = errors(&d);
        for want in [
            "t.cfg:12: error detected in frontend 'f' while parsing 'http-request set-var(foo.x)' rule : invalid variable name 'foo.x'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'.",
            "t.cfg:13: error detected in frontend 'f' while parsing 'http-request set-var(x)' rule : invalid variable name 'x'.",
            "t.cfg:14: error detected in frontend 'f' while parsing 'http-request set-var(txn.x)' rule : 'set-var(txn.x)' expects a sample expression",
            "t.cfg:15: error detected in frontend 'f' while parsing 'http-request set-var(txn.x)' rule : failed to parse sample expression <nope> : unknown fetch method 'nope'",
            "t.cfg:16: error detected while parsing ACL 'a' : matching method must be specified first (using '-m') when using a sample fetch of this type ('var')",
            "t.cfg:17: error detected in frontend 'f' while parsing 'http-request set-var(txn.x,ifexists,bogus)' rule : unknown condition \"bogus\"",
            // Only text after `%%`: a plain name, checked like one.
            "t.cfg:18: backend 'be_x%' not found (used by frontend 'f')",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
    }
}
