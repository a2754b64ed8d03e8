//! HAProxy log-format strings, as used in rule values (`http-request set-header X
//! %[dst_port]`) and `lf-string`: literal text, `%[FETCH[,CONV...]]` sample expressions and a
//! few `%XX` variables (HAProxy's `parse_logformat_string`, src/log.c).

use super::ParseCtx;
use super::Sample;
use super::fetch::FetchExpr;
use super::http;
use super::sample::Value;

/// The `%XX` variables corelb renders; the others are refused by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Var {
    /// `%ci`: client address.
    ClientIp,
    /// `%cp`: client port.
    ClientPort,
    /// `%fi`: the address the client connected to.
    FrontendIp,
    /// `%fp`: the port the client connected to.
    FrontendPort,
    /// `%HM`: method.
    Method,
    /// `%HU`: request-target.
    Uri,
    /// `%HP`: the request-target without its query.
    Path,
    /// `%HQ`: `?` and the query, or nothing.
    Query,
    /// `%HV`: `HTTP/1.1`.
    Version,
}

const VARS: &[(&str, Var)] = &[
    ("ci", Var::ClientIp),
    ("cp", Var::ClientPort),
    ("fi", Var::FrontendIp),
    ("fp", Var::FrontendPort),
    ("HM", Var::Method),
    ("HU", Var::Uri),
    ("HP", Var::Path),
    ("HQ", Var::Query),
    ("HV", Var::Version),
];

/// HAProxy log-format variables corelb does not render in rule values.
const KNOWN_UNSUPPORTED: &[&str] = &[
    "o", "B", "CC", "CS", "H", "HPO", "ID", "ST", "T", "Ta", "Tc", "Td", "Th", "Ti", "Tl", "Tq",
    "Tr", "Trf", "Trl", "Tt", "Tu", "Tw", "U", "ac", "b", "bc", "bi", "bp", "bq", "f", "fc", "ft",
    "hr", "hrl", "hs", "hsl", "lc", "ms", "pid", "r", "rc", "rt", "s", "sc", "si", "sl", "sp",
    "sq", "t", "tr", "trg", "trl", "ts", "tsc", "rid", "sslc", "sslv",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Text(Box<[u8]>),
    Expr(FetchExpr),
    Var(Var),
}

/// A parsed log-format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    nodes: Vec<Node>,
}

impl LogFormat {
    /// Parses a log-format string (one configuration word, already unquoted).
    pub fn parse(s: &str, ctx: &mut ParseCtx) -> Result<LogFormat, String> {
        let mut nodes = Vec::new();
        let mut text: Vec<u8> = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        let flush = |text: &mut Vec<u8>, nodes: &mut Vec<Node>| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text).into_boxed_slice()));
            }
        };
        while i < b.len() {
            if b[i] != b'%' {
                text.push(b[i]);
                i += 1;
                continue;
            }
            match b.get(i + 1) {
                None => {
                    text.push(b'%');
                    i += 1;
                }
                Some(b'%') => {
                    text.push(b'%');
                    i += 2;
                }
                Some(b'[') => {
                    let close = s[i + 2..]
                        .find(']')
                        .ok_or_else(|| format!("missing ']' after '%[' in log-format '{s}'"))?
                        + i
                        + 2;
                    let expr = &s[i + 2..close];
                    if expr.is_empty() {
                        return Err(format!("empty sample expression '%[]' in log-format '{s}'"));
                    }
                    let e = FetchExpr::parse(expr, &ctx.proxy)
                        .map_err(|e| format!("failed to parse sample expression <{expr}> : {e}"))?;
                    flush(&mut text, &mut nodes);
                    nodes.push(Node::Expr(e));
                    i = close + 1;
                }
                Some(b'{') => {
                    return Err(format!(
                        "log-format options '%{{...}}' are not supported by corelb (in '{s}')"
                    ));
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let start = i + 1;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_alphabetic() {
                        end += 1;
                    }
                    let name = &s[start..end];
                    let Some((_, v)) = VARS.iter().find(|(n, _)| *n == name) else {
                        if KNOWN_UNSUPPORTED.contains(&name) {
                            return Err(format!(
                                "log-format variable '%{name}' is not supported by corelb in \
                                 this context (supported: %ci %cp %fi %fp %HM %HU %HP %HQ %HV \
                                 and %[fetch])"
                            ));
                        }
                        return Err(format!(
                            "no such format variable '%{name}'. If you wanted to emit the '%' \
                             character verbatim, you need to use '%%'"
                        ));
                    };
                    flush(&mut text, &mut nodes);
                    nodes.push(Node::Var(*v));
                    i = end;
                }
                Some(c) if c.is_ascii_digit() || *c == b' ' || *c == b'\t' => {
                    return Err(format!(
                        "unexpected variable name near '{}' in log-format '{s}'. Maybe you want \
                         to write a single '%', use the syntax '%%'",
                        *c as char
                    ));
                }
                Some(_) => {
                    // HAProxy keeps any other '%x' as literal text.
                    text.push(b'%');
                    i += 1;
                }
            }
        }
        flush(&mut text, &mut nodes);
        Ok(LogFormat { nodes })
    }

    /// The text, if the format has no expression or variable (nothing to render per request).
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.nodes.as_slice() {
            [] => Some(b""),
            [Node::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// Appends the rendered string to `out`. A fetch that finds nothing renders as nothing
    /// (observed on HAProxy 2.6 with `lf-string`); booleans render `0`/`1`, integers in
    /// decimal, addresses in their usual text form; a variable without a value renders `-`.
    pub fn render(&self, s: &dyn Sample, out: &mut Vec<u8>) {
        for n in &self.nodes {
            match n {
                Node::Text(t) => out.extend_from_slice(t),
                Node::Expr(e) => e.each(s, false, &mut |v| {
                    v.append_to(out);
                    false
                }),
                Node::Var(v) => render_var(*v, s, out),
            }
        }
    }

    /// Resolves the backend names of `nbsrv()` expressions (see
    /// [`super::Cond::resolve_backends`]).
    pub fn resolve_backends(
        &mut self,
        lookup: &dyn Fn(&str) -> Option<usize>,
    ) -> Result<(), String> {
        for n in &mut self.nodes {
            if let Node::Expr(e) = n {
                e.resolve_backends(lookup)?;
            }
        }
        Ok(())
    }
}

fn render_var(v: Var, s: &dyn Sample, out: &mut Vec<u8>) {
    let val = match v {
        Var::ClientIp => s.src().map(|a| Value::Ip(a.ip())),
        Var::ClientPort => s.src().map(|a| Value::Int(a.port() as i64)),
        Var::FrontendIp => s.dst().map(|a| Value::Ip(a.ip())),
        Var::FrontendPort => s.dst().map(|a| Value::Int(a.port() as i64)),
        Var::Method => s.method().map(Value::Str),
        Var::Uri => s.url().map(Value::Str),
        // HAProxy 2.6 renders the target up to '?', not the `path` fetch: the scheme and
        // authority of an absolute URI stay, and `*` stays `*`.
        Var::Path => s
            .url()
            .map(|u| Value::Str(u.split(|&c| c == b'?').next().unwrap_or(u))),
        Var::Query => {
            if let Some(q) = s.url().and_then(http::query) {
                out.push(b'?');
                out.extend_from_slice(q);
            }
            return;
        }
        Var::Version => {
            if let Some(v) = s.version() {
                out.extend_from_slice(b"HTTP/");
                out.extend_from_slice(v);
            } else {
                out.push(b'-');
            }
            return;
        }
    };
    match val {
        Some(v) => v.append_to(out),
        None => out.push(b'-'),
    }
}
