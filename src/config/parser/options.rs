//! `option NAME` and `no option NAME` ([`keywords::OPTION`]).

use super::*;

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
    if !status_ok(k, &format!("option {name}"), loc, d) {
        return;
    }
    let o = &mut px.options;
    match name {
        "redispatch" => {
            o.redispatch = if on {
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
            }
        }
        "tcplog" => {
            o.tcplog = on;
            // The last of log-format / option tcplog / option httplog wins, as in HAProxy.
            if on {
                px.logging.format = None;
            }
        }
        "httplog" => {
            px.http.httplog = on;
            px.logging.clf = false;
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
            return;
        }
        "forwardfor" | "originalto" => {
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
                        return;
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
            return;
        }
        "http-keep-alive" | "http-server-close" | "httpclose" => {
            px.http.conn_mode = if !on {
                ConnMode::KeepAlive
            } else {
                match name {
                    "http-keep-alive" => ConnMode::KeepAlive,
                    "http-server-close" => ConnMode::ServerClose,
                    _ => ConnMode::Close,
                }
            };
        }
        "dontlognull" => o.dontlognull = on,
        "tcpka" => {
            o.clitcpka = on;
            o.srvtcpka = on;
        }
        "clitcpka" => o.clitcpka = on,
        "srvtcpka" => o.srvtcpka = on,
        "allbackups" => o.allbackups = on,
        "log-health-checks" => o.log_health_checks = on,
        "httpchk" => {
            if on {
                px.check = CheckKind::Http;
                // option httpchk [<method>] [<uri>] [<version>] (one argument = the URI).
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
            return;
        }
        "tcp-check" => {
            if on {
                px.check = CheckKind::Tcp;
            } else if px.check == CheckKind::Tcp {
                px.check = CheckKind::Connect;
            }
        }
        "splice-auto" => px.options.splice.auto = on,
        "splice-request" => px.options.splice.request = on,
        "splice-response" => px.options.splice.response = on,
        _ => d.error(
            loc,
            format!("internal error: no handler for 'option {name}'"),
        ),
    }
    let extra = if name == "redispatch" { 2 } else { 1 };
    if w.len() > extra {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'option {name}'", w[extra]),
        );
    }
}
