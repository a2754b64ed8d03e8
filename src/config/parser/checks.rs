//! Health-check scripts: `http-check` and `tcp-check` rules.

use super::*;

/// `expect [!] <kind> <pattern>` of http-check and tcp-check.
pub(super) fn parse_expect(w: &[String], http: bool, loc: &Loc, d: &mut Diags) -> Option<Expect> {
    let who = if http {
        "http-check expect"
    } else {
        "tcp-check expect"
    };
    let mut i = 0;
    let mut negate = false;
    // Options HAProxy accepts before the matcher.
    while let Some(opt) = w.get(i).map(String::as_str) {
        match opt {
            "!" => {
                negate = true;
                i += 1;
            }
            "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status"
            | "on-success" | "on-error" | "status-code" => {
                d.error(loc, format!("'{who} {opt}' is not supported yet"));
                return None;
            }
            _ => break,
        }
    }
    let (Some(kind), Some(pat)) = (w.get(i), w.get(i + 1)) else {
        d.error(loc, format!("'{who}' expects [!] <match> <pattern>"));
        return None;
    };
    if w.len() > i + 2 {
        d.error(
            loc,
            format!(
                "unexpected argument '{}' after '{who} {kind} {pat}'",
                w[i + 2]
            ),
        );
    }
    let regex = |p: &str, d: &mut Diags| match regex::bytes::Regex::new(p) {
        Ok(r) => Some(Regex(r)),
        Err(e) => {
            d.error(
                loc,
                format!("'{who}': invalid regular expression '{p}': {e}"),
            );
            None
        }
    };
    let matcher = match (kind.as_str(), http) {
        ("status", true) => {
            let mut ranges = Vec::new();
            for part in pat.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                match (parse_uint(a, 100, 599), parse_uint(b, 100, 599)) {
                    (Ok(a), Ok(b)) if a <= b => ranges.push((a as u16, b as u16)),
                    _ => {
                        d.error(
                            loc,
                            format!("'{who} status': invalid status code or range '{part}'"),
                        );
                        return None;
                    }
                }
            }
            ExpectMatch::Status(ranges)
        }
        ("rstatus", true) => ExpectMatch::StatusRegex(regex(pat, d)?),
        ("string", _) => ExpectMatch::String(pat.as_bytes().to_vec()),
        ("rstring", _) => ExpectMatch::Regex(regex(pat, d)?),
        ("binary", false) => match decode_hex(pat) {
            Some(b) => ExpectMatch::Binary(b),
            None => {
                d.error(
                    loc,
                    format!("'{who} binary': invalid hexadecimal string '{pat}'"),
                );
                return None;
            }
        },
        (k, _) => {
            let known: &[&str] = if http {
                &["status", "rstatus", "string", "rstring"]
            } else {
                &["string", "rstring", "binary"]
            };
            let h = keywords::hint(k, known.iter().copied());
            d.error(loc, format!("'{who} {k}' is not supported{h}"));
            return None;
        }
    };
    Some(Expect { negate, matcher })
}

pub(super) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `http-check send ...` and `http-check expect ...` (HAProxy 2.2+ syntax).
pub(super) fn http_check_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    match w.first().map(String::as_str) {
        Some("expect") => {
            px.http_check.rules_seen = true;
            if let Some(e) = parse_expect(&w[1..], true, loc, d) {
                px.http_check.expect.push(e);
            }
        }
        Some("send") => {
            let hc = &mut px.http_check;
            hc.rules_seen = true;
            let mut i = 1;
            while i < w.len() {
                let (k, v) = (w[i].as_str(), w.get(i + 1));
                match (k, v) {
                    ("meth", Some(v)) => hc.method = v.clone(),
                    ("uri", Some(v)) => hc.uri = v.clone(),
                    ("ver", Some(v)) => hc.version = v.clone(),
                    ("body", Some(v)) => hc.body = v.clone(),
                    ("hdr", Some(n)) => match w.get(i + 2) {
                        Some(val) => {
                            hc.headers.push((n.clone(), val.clone()));
                            i += 1;
                        }
                        None => {
                            d.error(loc, "'http-check send hdr' expects a name and a value");
                            return;
                        }
                    },
                    ("uri-lf" | "body-lf" | "comment", Some(_)) => {
                        d.error(loc, format!("'http-check send {k}' is not supported yet"));
                    }
                    (_, None) => {
                        d.error(loc, format!("'http-check send {k}' expects a value"));
                        return;
                    }
                    (other, _) => {
                        let h = keywords::hint(other, ["meth", "uri", "ver", "hdr", "body"]);
                        d.error(
                            loc,
                            format!("unknown 'http-check send' option '{other}'{h}"),
                        );
                        return;
                    }
                }
                i += 2;
            }
        }
        Some("disable-on-404") => match w.get(1) {
            None => px.http_check.disable_on_404 = true,
            Some(a) => d.error(
                loc,
                format!("unexpected argument '{a}' after 'http-check disable-on-404'"),
            ),
        },
        Some("connect") => {
            if px.http_check.connect.is_some() {
                d.error(
                    loc,
                    "'http-check connect' after another connect rule (a second check sequence) is not supported yet",
                );
                return;
            }
            if px.http_check.rules_seen {
                d.error(
                    loc,
                    "'http-check connect' : first step MUST also be a 'connect', optionally preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the tcp-check ruleset.",
                );
                return;
            }
            if let Some(c) = parse_connect(&w[1..], "http-check connect", loc, d) {
                px.http_check.connect = Some(c);
            }
        }
        Some(k @ ("send-state" | "comment" | "set-var" | "unset-var")) => {
            d.error(loc, format!("'http-check {k}' is not supported yet"));
        }
        Some(k) => {
            let h = keywords::hint(
                k,
                ["send", "expect", "connect", "disable-on-404", "send-state"],
            );
            d.error(loc, format!("unknown 'http-check' action '{k}'{h}"));
        }
        None => d.error(loc, "'http-check' expects send or expect"),
    }
}

/// `tcp-check connect|send|send-binary|expect|comment ...`
pub(super) fn tcp_check_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    match w.first().map(String::as_str) {
        Some("connect") => {
            let mut port = None;
            let mut send_proxy = false;
            let mut i = 1;
            while i < w.len() {
                match (w[i].as_str(), w.get(i + 1)) {
                    ("port", Some(p)) => match parse_uint(p, 1, 65535) {
                        Ok(v) => {
                            port = Some(v as u16);
                            i += 1;
                        }
                        Err(e) => d.error(loc, format!("'tcp-check connect port': {e}")),
                    },
                    ("send-proxy", _) => send_proxy = true,
                    ("comment", Some(_)) => i += 1,
                    (o, _) => {
                        d.error(loc, format!("'tcp-check connect {o}' is not supported yet"));
                        return;
                    }
                }
                i += 1;
            }
            px.tcp_check
                .push(TcpCheckRule::Connect { port, send_proxy });
        }
        Some("send") => match w.get(1) {
            Some(s) => px.tcp_check.push(TcpCheckRule::Send(s.as_bytes().to_vec())),
            None => d.error(loc, "'tcp-check send' expects a string"),
        },
        Some("send-binary") => match w.get(1).and_then(|s| decode_hex(s)) {
            Some(b) => px.tcp_check.push(TcpCheckRule::Send(b)),
            None => d.error(loc, "'tcp-check send-binary' expects a hexadecimal string"),
        },
        Some("expect") => {
            if let Some(e) = parse_expect(&w[1..], false, loc, d) {
                px.tcp_check.push(TcpCheckRule::Expect(e));
            }
        }
        Some("comment") => {}
        Some(k @ ("send-lf" | "send-binary-lf" | "set-var" | "unset-var")) => {
            d.error(loc, format!("'tcp-check {k}' is not supported yet"));
        }
        Some(k) => {
            let h = keywords::hint(k, ["connect", "send", "send-binary", "expect", "comment"]);
            d.error(loc, format!("unknown 'tcp-check' action '{k}'{h}"));
        }
        None => d.error(
            loc,
            "'tcp-check' expects connect, send, send-binary or expect",
        ),
    }
}

/// The options of `http-check connect` (HAProxy 2.6's tcpcheck connect rule): `default`,
/// `port N`, `addr IP`, `send-proxy`, `ssl`, `sni NAME`, `alpn LIST`, `linger`, `proto
/// h1|h2`, `comment TEXT`.
pub(super) fn parse_connect(
    w: &[String],
    who: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<CheckConnect> {
    let mut c = CheckConnect::default();
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let takes_value = matches!(k, "port" | "addr" | "sni" | "alpn" | "proto" | "comment");
        let v = if takes_value {
            match w.get(i + 1).filter(|v| !v.is_empty()) {
                Some(v) => Some(v.as_str()),
                None => {
                    let what = match k {
                        "port" => "a port number or a sample expression",
                        "addr" => "<ipv4|ipv6>",
                        "alpn" => "a protocol list",
                        "proto" => "a MUX protocol",
                        "comment" => "a string",
                        _ => "a string",
                    };
                    d.error(loc, format!("'{who}' : '{k}' expects {what} as argument."));
                    return None;
                }
            }
        } else {
            None
        };
        match (k, v) {
            ("default", _) => c.default = true,
            ("send-proxy", _) => c.send_proxy = true,
            ("ssl", _) => c.ssl = true,
            ("linger", _) => c.linger = true,
            ("port", Some(p)) => match parse_uint(p, 1, 65535) {
                Ok(n) => c.port = Some(n as u16),
                Err(e) => {
                    d.error(
                        loc,
                        format!("'{who}' : invalid port '{p}' ({e}; a sample expression is not supported yet)"),
                    );
                    return None;
                }
            },
            ("addr", Some(a)) => match a.parse() {
                Ok(ip) => c.addr = Some(ip),
                Err(_) => {
                    d.error(
                        loc,
                        format!("'{who}' : 'addr' : invalid address: '{a}' in '{a}'"),
                    );
                    return None;
                }
            },
            ("sni", Some(n)) => c.sni = Some(n.to_string()),
            ("alpn", Some(l)) => {
                c.alpn = Some(l.split(',').map(|p| p.as_bytes().to_vec()).collect());
            }
            ("proto", Some(p)) => {
                c.proto = Some(match p {
                    "h1" => CheckProto::H1,
                    "h2" => CheckProto::H2,
                    "fcgi" => {
                        d.error(
                            loc,
                            format!("'{who} proto fcgi': corelb does not speak FastCGI"),
                        );
                        return None;
                    }
                    o => {
                        d.error(
                            loc,
                            format!("'{who}' : 'proto' : unknown MUX protocol '{o}'."),
                        );
                        return None;
                    }
                });
            }
            ("comment", Some(_)) => {}
            ("via-socks4", _) => {
                d.error(loc, format!("'{who} via-socks4' is not supported yet"));
                return None;
            }
            (o, _) => {
                let h = keywords::hint(
                    o,
                    [
                        "default",
                        "port",
                        "addr",
                        "send-proxy",
                        "via-socks4",
                        "ssl",
                        "sni",
                        "alpn",
                        "linger",
                        "proto",
                        "comment",
                    ],
                );
                d.error(
                    loc,
                    format!("'{who}' : expects 'comment', 'port', 'addr', 'send-proxy', 'ssl', 'sni', 'alpn' or 'via-socks4', 'linger', 'default' but got '{o}' as argument{h}"),
                );
                return None;
            }
        }
        i += if takes_value { 2 } else { 1 };
    }
    Some(c)
}
