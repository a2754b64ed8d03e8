//! HAProxy log-format strings (HAProxy's `parse_logformat_string` and `build_logline`,
//! src/log.c): literal text, `%[FETCH[,CONV...]]` sample expressions and `%XX` variables,
//! with `%{+Q}`/`%{-Q}`/`%{+X}` options. One engine for two uses:
//!
//! - rule values (`http-request set-header X %[dst_port]`, `lf-string`): [`LogFormat::parse`]
//!   and [`LogFormat::render`], with the variables a request alone can answer;
//! - access logs (`log-format`, `option httplog`/`tcplog`, `log-format-sd`):
//!   [`LogFormat::parse_log`] and [`LogFormat::render_log`], where every variable of the
//!   configuration manual's section 8.2.4 is answered by a [`LogVars`] (the log module's).
//!
//! In access logs, runs of blanks are one separator, written only after something that
//! printed (HAProxy's `LOG_OPT_MERGE_SPACES` and `last_isspace`): leading blanks and the
//! blank after an empty variable vanish. Rule values keep their blanks as written, as
//! HAProxy parses them without that option.

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
    // Access-log variables (section 8.2.4), answered by a [`LogVars`].
    /// `%o`: not a variable: its options apply to every later one.
    Global,
    Bytes,
    ClientCookie,
    ServerCookie,
    Hostname,
    UniqueId,
    Status,
    DateGmt,
    Ta,
    Tc,
    Th,
    Ti,
    DateLocal,
    Tq,
    Tr,
    TR,
    Td,
    Ts,
    Tt,
    Tu,
    Tw,
    BytesUp,
    ActConn,
    Backend,
    BeConn,
    BackendIp,
    BackendPort,
    BackendQueue,
    Frontend,
    FeConn,
    FrontendXprt,
    HdrReq,
    HdrReqList,
    HdrRes,
    HdrResList,
    PathOnly,
    LogCount,
    Ms,
    Pid,
    Request,
    Retries,
    Counter,
    Server,
    SrvConn,
    ServerIp,
    ServerPort,
    SrvQueue,
    SslCipher,
    SslVersion,
    Date,
    ReqDate,
    ReqDateGmt,
    ReqDateLocal,
    TermState,
    TermStateCookie,
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

/// The access-log variables: name, variable, whether only HTTP mode has it.
const LOG_VARS: &[(&str, Var, bool)] = &[
    ("o", Var::Global, false),
    ("B", Var::Bytes, false),
    ("CC", Var::ClientCookie, true),
    ("CS", Var::ServerCookie, true),
    ("H", Var::Hostname, false),
    ("ID", Var::UniqueId, false),
    ("ST", Var::Status, false),
    ("T", Var::DateGmt, false),
    ("Ta", Var::Ta, true),
    ("Tc", Var::Tc, false),
    ("Th", Var::Th, false),
    ("Ti", Var::Ti, true),
    ("Tl", Var::DateLocal, false),
    ("Tq", Var::Tq, true),
    ("Tr", Var::Tr, true),
    ("TR", Var::TR, true),
    ("Td", Var::Td, false),
    ("Ts", Var::Ts, false),
    ("Tt", Var::Tt, false),
    ("Tu", Var::Tu, false),
    ("Tw", Var::Tw, false),
    ("U", Var::BytesUp, false),
    ("ac", Var::ActConn, false),
    ("b", Var::Backend, false),
    ("bc", Var::BeConn, false),
    ("bi", Var::BackendIp, false),
    ("bp", Var::BackendPort, false),
    ("bq", Var::BackendQueue, false),
    ("ci", Var::ClientIp, false),
    ("cp", Var::ClientPort, false),
    ("f", Var::Frontend, false),
    ("fc", Var::FeConn, false),
    ("fi", Var::FrontendIp, false),
    ("fp", Var::FrontendPort, false),
    ("ft", Var::FrontendXprt, false),
    ("hr", Var::HdrReq, false),
    ("hrl", Var::HdrReqList, false),
    ("hs", Var::HdrRes, false),
    ("hsl", Var::HdrResList, false),
    ("HM", Var::Method, true),
    ("HP", Var::Path, true),
    ("HPO", Var::PathOnly, true),
    ("HQ", Var::Query, true),
    ("HU", Var::Uri, true),
    ("HV", Var::Version, true),
    ("lc", Var::LogCount, false),
    ("ms", Var::Ms, false),
    ("pid", Var::Pid, false),
    ("r", Var::Request, true),
    ("rc", Var::Retries, false),
    ("rt", Var::Counter, false),
    ("s", Var::Server, false),
    ("sc", Var::SrvConn, false),
    ("si", Var::ServerIp, false),
    ("sp", Var::ServerPort, false),
    ("sq", Var::SrvQueue, false),
    ("sslc", Var::SslCipher, false),
    ("sslv", Var::SslVersion, false),
    ("t", Var::Date, false),
    ("tr", Var::ReqDate, true),
    ("trg", Var::ReqDateGmt, true),
    ("trl", Var::ReqDateLocal, true),
    ("ts", Var::TermState, false),
    ("tsc", Var::TermStateCookie, false),
];

/// `%{+Q}` / `%{+X}` / `%{+E}` on one variable (or, on `%o`, on all that follow).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    /// `+Q`: strings in double quotes (an absent one is `""` instead of `-`).
    pub quote: bool,
    /// `+X`: addresses and ports in hexadecimal (other numbers stay decimal, as in HAProxy).
    pub hex: bool,
    /// `+E`: `"`, `\` and `]` escaped with a backslash (for rfc5424 structured data).
    pub escape: bool,
}

/// What an access-log line knows besides the connection's [`Sample`]: timers, names,
/// counters, captures. The log module implements it over a finished transaction.
pub trait LogVars {
    /// Appends `v` rendered with `o` (see [`put_str`], [`put_int`] for the shapes).
    fn var(&self, v: Var, o: Opts, out: &mut Vec<u8>);
}

/// A string value: quoted with `+Q`, escaped with `+E`; absent: `-`, or `""` with `+Q`.
pub fn put_str(v: Option<&[u8]>, o: Opts, out: &mut Vec<u8>) {
    match v {
        None if !o.quote => out.push(b'-'),
        v => {
            if o.quote {
                out.push(b'"');
            }
            let v = v.unwrap_or_default();
            if o.escape {
                for &c in v {
                    if matches!(c, b'"' | b'\\' | b']') {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            } else {
                out.extend_from_slice(v);
            }
            if o.quote {
                out.push(b'"');
            }
        }
    }
}

/// A number, in decimal.
pub fn put_int(v: i64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let _ = write!(out, "{v}");
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Text(Box<[u8]>),
    /// A run of blanks.
    Sep,
    Expr(FetchExpr, Opts),
    Var(Var, Opts),
}

/// A parsed log-format string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    nodes: Vec<Node>,
}

impl LogFormat {
    /// Whether the line has something only the stream's end knows: a byte count, a timer,
    /// a connection count, the termination state (HAProxy's `LW_BYTES` keywords). A
    /// frontend whose lines have none is logged early (see [`LogFormats::asap`]).
    ///
    /// [`LogFormats::asap`]: crate::config::logging::LogFormats::asap
    pub fn waits_for_the_end(&self) -> bool {
        self.nodes.iter().any(|n| {
            matches!(
                n,
                Node::Var(
                    Var::Bytes
                        | Var::UniqueId
                        | Var::Ta
                        | Var::Tc
                        | Var::Th
                        | Var::Ti
                        | Var::Tq
                        | Var::Tr
                        | Var::TR
                        | Var::Td
                        | Var::Tt
                        | Var::Tu
                        | Var::Tw
                        | Var::BytesUp
                        | Var::ActConn
                        | Var::BeConn
                        | Var::BackendQueue
                        | Var::FeConn
                        | Var::Retries
                        | Var::SrvConn
                        | Var::SrvQueue
                        | Var::TermState,
                    _
                )
            )
        })
    }

    /// Parses a rule value (one configuration word, already unquoted): only the variables
    /// a request alone answers (%ci %cp %fi %fp %HM %HU %HP %HQ %HV) are allowed.
    pub fn parse(s: &str, ctx: &mut ParseCtx) -> Result<LogFormat, String> {
        Self::parse_in(s, ctx, None)
    }

    /// Parses an access-log format (`log-format`, `log-format-sd`); `http` says whether the
    /// proxy is in mode http (HTTP-only variables are an error otherwise, as in HAProxy).
    pub fn parse_log(s: &str, ctx: &mut ParseCtx, http: bool) -> Result<LogFormat, String> {
        Self::parse_in(s, ctx, Some(http))
    }

    fn parse_in(s: &str, ctx: &mut ParseCtx, log: Option<bool>) -> Result<LogFormat, String> {
        // A log format's `%[unique-id]` reads the ID when the stream ends: it does not ask
        // for one before the rules.
        let unique_id_used = super::fetch::unique_id_used();
        let r = Self::parse_nodes(s, ctx, log);
        if log.is_some() {
            super::fetch::set_unique_id_used(unique_id_used);
        }
        r
    }

    fn parse_nodes(s: &str, ctx: &mut ParseCtx, log: Option<bool>) -> Result<LogFormat, String> {
        let mut nodes = Vec::new();
        let mut text: Vec<u8> = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        let mut global = Opts::default();
        let flush = |text: &mut Vec<u8>, nodes: &mut Vec<Node>| {
            if !text.is_empty() {
                nodes.push(Node::Text(std::mem::take(text).into_boxed_slice()));
            }
        };
        while i < b.len() {
            if b[i] == b' ' && log.is_some() {
                flush(&mut text, &mut nodes);
                if nodes.last() != Some(&Node::Sep) {
                    nodes.push(Node::Sep);
                }
                i += 1;
                continue;
            }
            if b[i] != b'%' {
                text.push(b[i]);
                i += 1;
                continue;
            }
            // `%{+Q,-X}` before a variable or expression.
            let mut opts = global;
            let mut j = i + 1;
            if b.get(j) == Some(&b'{') {
                let close = s[j..]
                    .find('}')
                    .ok_or_else(|| format!("missing '}}' after '%{{' in log-format '{s}'"))?
                    + j;
                for o in s[j + 1..close].split(',').filter(|o| !o.is_empty()) {
                    let (on, name) = match o.as_bytes()[0] {
                        b'+' => (true, &o[1..]),
                        b'-' => (false, &o[1..]),
                        _ => (true, o),
                    };
                    match name {
                        "Q" => opts.quote = on,
                        "X" => opts.hex = on,
                        "E" => opts.escape = on,
                        _ => {
                            return Err(format!(
                                "log-format option '{o}' is not supported by corelb (Q, X and E are)"
                            ));
                        }
                    }
                }
                j = close + 1;
            }
            match b.get(j) {
                None => {
                    text.push(b'%');
                    i = j;
                }
                Some(b'%') if j == i + 1 => {
                    text.push(b'%');
                    i += 2;
                }
                Some(b'[') => {
                    let close = super::conv::expr_end(&s[j + 1..])
                        .ok_or_else(|| format!("missing ']' after '%[' in log-format '{s}'"))?
                        + j
                        + 1;
                    let expr = &s[j + 1..close];
                    if expr.is_empty() {
                        return Err(format!("empty sample expression '%[]' in log-format '{s}'"));
                    }
                    let e = FetchExpr::parse(expr, &ctx.proxy)
                        .map_err(|e| format!("failed to parse sample expression <{expr}> : {e}"))?;
                    if ctx.place != 0
                        && let Some(need) = super::placement::misplaced(expr, ctx.place)
                    {
                        // HAProxy quotes the rest of the format from the fetch on.
                        return Err(format!(
                            "sample fetch <{}> may not be reliably used here because it needs '{need}' which is not available here.",
                            &s[j + 1..]
                        ));
                    }
                    flush(&mut text, &mut nodes);
                    nodes.push(Node::Expr(e, opts));
                    i = close + 1;
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let start = j;
                    let mut end = start;
                    while end < b.len() && b[end].is_ascii_alphabetic() {
                        end += 1;
                    }
                    let name = &s[start..end];
                    let v = match log {
                        None => rule_var(name)?,
                        Some(http) => log_var(name, http)?,
                    };
                    i = end;
                    if v == Var::Global {
                        global = opts;
                        continue;
                    }
                    flush(&mut text, &mut nodes);
                    nodes.push(Node::Var(v, opts));
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
        self.build(s, None, out);
    }

    /// Appends an access-log line (or its structured data) to `out`: like [`render`](Self::render),
    /// but a fetch that finds nothing renders `-` (`""` with `+Q`), as in HAProxy's logs,
    /// and the log variables come from `vars`.
    pub fn render_log(&self, s: &dyn Sample, vars: &dyn LogVars, out: &mut Vec<u8>) {
        self.build(s, Some(vars), out);
    }

    fn build(&self, s: &dyn Sample, vars: Option<&dyn LogVars>, out: &mut Vec<u8>) {
        // HAProxy's `last_isspace`: a separator only after something was written.
        let mut last_space = true;
        for n in &self.nodes {
            let before = out.len();
            match n {
                Node::Sep => {
                    if !last_space {
                        out.push(b' ');
                        last_space = true;
                    }
                    continue;
                }
                Node::Text(t) => out.extend_from_slice(t),
                Node::Expr(e, o) => {
                    let mut found = false;
                    e.each(s, false, &mut |v| {
                        found = true;
                        if o.quote {
                            out.push(b'"');
                        }
                        v.append_to(out);
                        if o.quote {
                            out.push(b'"');
                        }
                        false
                    });
                    if !found && vars.is_some() {
                        put_str(None, *o, out);
                    }
                }
                Node::Var(v, o) => match vars {
                    Some(vars) => vars.var(*v, *o, out),
                    None => render_var(*v, s, out),
                },
            }
            if out.len() > before {
                last_space = false;
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
            if let Node::Expr(e, _) = n {
                e.resolve_backends(lookup)?;
            }
        }
        Ok(())
    }
}

/// A variable allowed in rule values.
fn rule_var(name: &str) -> Result<Var, String> {
    if let Some((_, v)) = VARS.iter().find(|(n, _)| *n == name) {
        return Ok(*v);
    }
    if LOG_VARS.iter().any(|(n, _, _)| *n == name) {
        return Err(format!(
            "log-format variable '%{name}' is not supported by corelb in this context \
             (supported: %ci %cp %fi %fp %HM %HU %HP %HQ %HV and %[fetch])"
        ));
    }
    Err(no_such(name))
}

/// A variable of an access-log format.
fn log_var(name: &str, http: bool) -> Result<Var, String> {
    match LOG_VARS.iter().find(|(n, _, _)| *n == name) {
        Some((_, _, true)) if !http => Err(format!(
            "format variable '{name}' is reserved for HTTP mode"
        )),
        Some((_, v, _)) => Ok(*v),
        None => Err(no_such(name)),
    }
}

fn no_such(name: &str) -> String {
    format!(
        "no such format variable '%{name}'. If you wanted to emit the '%' character verbatim, \
         you need to use '%%'"
    )
}

/// The rule-value variables over a request [`Sample`]; the access-log variables are not
/// parsed in rule values, so they never reach here.
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
        _ => None,
    };
    match val {
        Some(v) => v.append_to(out),
        None => out.push(b'-'),
    }
}
