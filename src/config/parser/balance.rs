//! Choosing a server: `balance` and its hash keys, `cookie` persistence, `stick-table` and
//! `stick` rules.

use super::*;

/// `stick-table ...`: one per proxy, named after it.
pub(crate) fn stick_table_kw(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    if px.stick_table.is_some() {
        d.error(
            loc,
            format!(
                "'stick-table': only one table per proxy ('{}' has one)",
                px.name
            ),
        );
        return;
    }
    match crate::config::stick::parse_table(&w[1..]) {
        Ok(t) => px.stick_table = Some(t),
        Err(e) => d.error(loc, e),
    }
}

/// `stick on|match|store-request PATTERN [table T] [if|unless COND]`.
pub(crate) fn stick_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let cond_at = w
        .iter()
        .skip(2)
        .position(|x| x == "if" || x == "unless")
        .map_or(w.len(), |p| p + 2);
    let (matches, stores, expr, table) =
        match crate::config::stick::parse_rule(w, cond_at, &px.name) {
            Ok(r) => r,
            Err(e) => {
                d.error(loc, e);
                return;
            }
        };
    let cond = if cond_at < w.len() {
        match parse_cond(px, &w[cond_at..], loc, d) {
            Some(c) => Some(c),
            None => return,
        }
    } else {
        None
    };
    px.stick_rules.push(crate::config::stick::StickRule {
        matches,
        stores,
        expr,
        table,
        cond,
        loc: loc.clone(),
    });
}

/// The arguments of `balance uri|url_param|hdr(NAME)`.
pub(super) fn parse_hash_key(
    base: &str,
    full: &str,
    args: &[String],
    loc: &Loc,
    d: &mut Diags,
) -> Option<HashKey> {
    match base {
        "uri" => {
            let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
            let mut i = 0;
            while i < args.len() {
                match (args[i].as_str(), args.get(i + 1)) {
                    ("len", Some(v)) | ("depth", Some(v)) => {
                        let n = match parse_uint(v, 1, 1 << 20) {
                            Ok(n) => n as usize,
                            Err(e) => {
                                d.error(loc, format!("'balance uri {}': {e}", args[i]));
                                return None;
                            }
                        };
                        if args[i] == "len" {
                            len = Some(n)
                        } else {
                            depth = Some(n)
                        }
                        i += 1;
                    }
                    ("whole", _) => whole = true,
                    ("path-only", _) => path_only = true,
                    (o, _) => {
                        d.error(
                            loc,
                            format!(
                                "unknown 'balance uri' option '{o}' (len, depth, whole, path-only)"
                            ),
                        );
                        return None;
                    }
                }
                i += 1;
            }
            Some(HashKey::Uri {
                len,
                depth,
                whole,
                path_only,
            })
        }
        "url_param" => {
            let Some(name) = args.first() else {
                d.error(loc, "'balance url_param' expects a parameter name");
                return None;
            };
            let check_post = match args.get(1).map(String::as_str) {
                None => false,
                Some("check_post") => true,
                Some(o) => {
                    d.error(
                        loc,
                        format!("url_param only accepts 'check_post' modifier (got '{o}')."),
                    );
                    return None;
                }
            };
            Some(HashKey::UrlParam {
                name: name.clone(),
                check_post,
            })
        }
        _ => {
            let Some(name) = full
                .strip_prefix("hdr(")
                .and_then(|r| r.strip_suffix(')'))
                .filter(|n| !n.is_empty())
            else {
                d.error(
                    loc,
                    "'balance hdr' expects a header name in parentheses: hdr(NAME)",
                );
                return None;
            };
            let domain_only = match args.first().map(String::as_str) {
                None => false,
                Some("use_domain_only") => true,
                Some(o) => {
                    d.error(
                        loc,
                        format!("unknown 'balance hdr()' option '{o}' (use_domain_only)"),
                    );
                    return None;
                }
            };
            Some(HashKey::Header {
                name: name.to_string(),
                domain_only,
            })
        }
    }
}

/// `cookie NAME [insert|rewrite|prefix] [options...]` in a backend.
pub(crate) fn cookie_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let Some(name) = w.get(1) else {
        d.error(loc, "'cookie' expects a cookie name");
        return;
    };
    let mut c = CookieCfg {
        name: name.clone(),
        mode: CookieMode::Rewrite,
        indirect: false,
        nocache: false,
        postonly: false,
        preserve: false,
        httponly: false,
        secure: false,
        domains: Vec::new(),
        maxidle: None,
        maxlife: None,
        dynamic: false,
        loc: loc.clone(),
    };
    let mut i = 2;
    while i < w.len() {
        match (w[i].as_str(), w.get(i + 1)) {
            ("insert", _) => c.mode = CookieMode::Insert,
            ("rewrite", _) => c.mode = CookieMode::Rewrite,
            ("prefix", _) => c.mode = CookieMode::Prefix,
            ("indirect", _) => c.indirect = true,
            ("nocache", _) => c.nocache = true,
            ("postonly", _) => c.postonly = true,
            ("preserve", _) => c.preserve = true,
            ("httponly", _) => c.httponly = true,
            ("secure", _) => c.secure = true,
            ("domain", Some(dm)) => {
                c.domains.push(dm.clone());
                i += 1;
            }
            (k @ ("maxidle" | "maxlife"), Some(t)) => {
                match parse_time(t, Duration::from_secs(1)) {
                    Ok(t) if !t.is_zero() => {
                        if k == "maxidle" {
                            c.maxidle = Some(t)
                        } else {
                            c.maxlife = Some(t)
                        }
                    }
                    Ok(_) => {}
                    Err(e) => d.error(loc, format!("'cookie {k}': {e}")),
                }
                i += 1;
            }
            ("dynamic", _) => c.dynamic = true,
            (k @ "attr", _) => {
                d.error(loc, format!("'cookie ... {k}' is not supported yet"));
                return;
            }
            (o, _) => {
                let h = keywords::hint(
                    o,
                    [
                        "insert", "rewrite", "prefix", "indirect", "nocache", "postonly",
                        "preserve", "httponly", "secure", "domain", "maxidle", "maxlife",
                        "dynamic",
                    ],
                );
                d.error(loc, format!("unknown 'cookie' option '{o}'{h}"));
                return;
            }
        }
        i += 1;
    }
    if c.mode != CookieMode::Insert && (c.maxidle.is_some() || c.maxlife.is_some()) {
        d.error(loc, "'cookie ... maxidle/maxlife' only work with 'insert'");
        return;
    }
    px.cookie = Some(c);
}

/// `KW` alone (the default name) or `KW(NAME)`.
pub(super) fn cookie_name(a: &str, kw: &str, default: &str) -> Option<String> {
    match a.strip_prefix(kw)? {
        "" => Some(default.to_string()),
        r => (r.strip_prefix('(')?.strip_suffix(')'))
            .filter(|n| !n.is_empty())
            .map(str::to_string),
    }
}

/// `persist rdp-cookie[(NAME)]`.
pub(crate) fn persist_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let a = w.get(1).map_or("", String::as_str);
    match cookie_name(a, "rdp-cookie", "msts") {
        Some(n) if w.len() == 2 => px.persist_rdp = Some(n),
        _ => d.error(
            loc,
            "'persist' only supports 'rdp-cookie' or 'rdp-cookie(<name>)'",
        ),
    }
}

pub(crate) fn balance_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let Some(a) = w.get(1).map(String::as_str) else {
        d.error(loc, "'balance' expects an algorithm");
        return;
    };
    let base = a.split('(').next().unwrap_or(a);
    let algo = match base {
        "roundrobin" => Algo::RoundRobin,
        "static-rr" => Algo::StaticRr,
        "leastconn" => Algo::LeastConn,
        "first" => Algo::First,
        "source" => Algo::Source,
        "random" => {
            let draws = match a.strip_prefix("random(").and_then(|r| r.strip_suffix(')')) {
                Some(n) => match parse_uint(n, 1, 100) {
                    Ok(v) => v as u32,
                    Err(e) => {
                        d.error(loc, format!("'balance random(N)': {e}"));
                        return;
                    }
                },
                None if a == "random" => 2,
                None => {
                    d.error(loc, format!("invalid balance algorithm '{a}'"));
                    return;
                }
            };
            Algo::Random { draws }
        }
        "uri" | "url_param" | "hdr" => {
            if let Some(k) = parse_hash_key(base, a, &w[2..], loc, d) {
                px.balance.algo = Algo::RequestHash;
                px.balance.key = Some(k);
                px.balance.loc = Some(loc.clone());
            }
            return;
        }
        "rdp-cookie" => {
            let Some(name) = cookie_name(a, "rdp-cookie", "mstshash") else {
                d.error(
                    loc,
                    format!("'balance {a}': expects rdp-cookie or rdp-cookie(NAME)"),
                );
                return;
            };
            px.balance.algo = Algo::RequestHash;
            px.balance.key = Some(HashKey::RdpCookie(name));
            px.balance.loc = Some(loc.clone());
            return;
        }
        "hash" if a == "hash" => {
            let Some(e) = w.get(2) else {
                d.error(loc, "hash requires a sample expression.");
                return;
            };
            if let Some(o) = w.get(3) {
                d.error(loc, format!("hash takes no other argument (got '{o}')."));
                return;
            }
            match crate::acl::FetchExpr::parse(e, &px.name) {
                Ok(e) => {
                    px.balance.algo = Algo::RequestHash;
                    px.balance.key = Some(HashKey::Expr(e));
                    px.balance.loc = Some(loc.clone());
                }
                Err(err) => d.error(loc, format!("'balance hash {e}': {err}")),
            }
            return;
        }
        _ => {
            let h = keywords::hint(
                base,
                [
                    "roundrobin",
                    "static-rr",
                    "leastconn",
                    "first",
                    "source",
                    "random",
                    "uri",
                    "url_param",
                    "hdr",
                    "rdp-cookie",
                    "hash",
                ],
            );
            d.error(
                loc,
                format!("unknown balance algorithm '{a}' (roundrobin, static-rr, leastconn, first, source or random){h}"),
            );
            return;
        }
    };
    if base != "random" && a != base {
        d.error(loc, format!("invalid balance algorithm '{a}'"));
        return;
    }
    if w.len() > 2 {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'balance {a}'", w[2]),
        );
    }
    px.balance.algo = algo;
    px.balance.loc = Some(loc.clone());
}
