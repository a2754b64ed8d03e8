//! ACLs, conditions and log-format expressions, as HAProxy defines them (configuration
//! manual sections 7 and 8.2.4; src/acl.c, src/pattern.c, src/http_fetch.c, src/log.c of 2.6).
//!
//! Layer: above `h1` (it samples requests the codec parsed), below `config`, which holds the
//! parsed conditions; used by `config` and `proxy`.
//!
//! Pure code: parsing works on configuration words (the lexer has already split and unquoted
//! the line) and evaluation on a [`Sample`], which the proxy implements over the request it
//! has parsed. Nothing here does I/O except reading `-f` pattern files at parse time.
//!
//! # Wiring it into the configuration parser
//!
//! ```text
//! per proxy section:   let mut acls = Acls::new();
//!                      let mut ctx = ParseCtx::new(proxy_name);   // warnings land in ctx
//! acl NAME ...         acls.define(&words[1..], &mut ctx)?
//! use_backend B if C   let cond = Cond::parse(&words[2..], &acls, &mut ctx)?  (words[2] = "if"/"unless")
//! http-request ... if  same, from the word "if"/"unless" on
//! monitor fail if C    same
//! set-header N VALUE   let v = LogFormat::parse(&value, &mut ctx)?
//! end of the file:     for each proxy: acls.resolve_backends(&lookup)?,
//!                      cond.resolve_backends(&lookup)?, logformat.resolve_backends(&lookup)?
//!                      (lookup: backend name → index, the same index Sample::nbsrv gets)
//! ```
//!
//! Errors are strings meant to follow `FILE:LINE: `; `ctx.warnings` are for the same prefix.
//!
//! # On the request path
//!
//! ```text
//! let s = RequestSample { head: Some((&head, &buf)), conn: &conn_info, nbsrv: &|i| .., stopping, stick: None, txn: None };
//! if cond.eval(&proxy.acls, &s) { ... }            // no allocation
//! value.render(&s, &mut out)                       // appends to out
//! ```
//!
//! In mode tcp, `head: None`: layer-7 fetches then find nothing, as in HAProxy. Once rules
//! have edited header fields, evaluate later conditions on an [`EditedRequestSample`] so they
//! see the fields as edited, as HAProxy does.
//!
//! # Semantics kept from HAProxy
//!
//! - Several `acl` lines with one name OR together; a condition refers to the ACL, so lines
//!   added after the condition still count. A name used before any `acl` line defines it is
//!   an error ("no such ACL"), as in HAProxy.
//! - Terms side by side are ANDed; `||` or `or` separates alternatives; `!` negates one term;
//!   `{ FETCH ... }` is an anonymous ACL; `unless` negates the whole. An empty condition is
//!   false (`if`) or true (`unless`), with a warning.
//! - A fetch that finds nothing makes the ACL false (and a negated term true).
//! - ACLs try every occurrence of multi-valued fetches (`hdr`, `req.cook`, `url_param`);
//!   log-format takes the last header or cookie and the first URL parameter.
//!
//! # Allocation
//!
//! [`Cond::eval`] and [`LogFormat::render`] allocate nothing in the common case: values are
//! slices of the request; numbers and addresses are formatted on the stack; case-insensitive
//! comparisons do not copy; regexes run on bytes. A converter (`,lower`) on a value longer
//! than 256 bytes, or `base` longer than 512 bytes, uses a heap buffer.

//! # What is supported
//!
//! Fetches: `always_true always_false stopping int() str() bool() src src_port dst dst_port
//! ssl_fc ssl_fc_sni ssl_fc_protocol ssl_fc_alpn req.proto_http method url path pathq query base
//! req.ver hdr() req.hdr() req.fhdr() hdr_cnt() req.fhdr_cnt() hdr_val() hdr_ip()
//! url_param()/urlp() urlp_val() req.cook()/cook()/cookie() cook_cnt() cook_val() nbsrv()`
//! (with their `req.` spellings), `http_auth(L) http_auth_group(L) http_auth_user
//! http_auth_pass http_auth_type` ([`auth`]), the stick-table fetches `sc_*(N[,T]) scN_*([T])
//! src_*([T]) sc_tracked table_cnt table_avl` (evaluated by the stick module through
//! [`Sample::stick`]), the content-inspection fetches over buffered bytes
//! ([`payload`]: `req.len req.payload() req.payload_lv() req.ssl_sni req.ssl_alpn
//! req.ssl_hello_type req.ssl_ver wait_end`, and the old `req_*` names), and the ACL keywords
//! `base* cook* hdr* path* url* urlp*` with the suffixes `_beg _dir _dom _end _len _reg _sub`,
//! `method`, `req_ver`, `payload`, `payload_lv`.
//! Converters: HAProxy's typed pipeline and most of its converters ([`conv`]; the maps in
//! [`map`]). Fetch `var(SCOPE.NAME[,DEFAULT])` ([`vars`]). Matching: `-m found bool int ip bin len str beg sub dir dom
//! end reg`; flags `-i -f -m -n -u -M --`; integer operators `eq ge gt le lt` (and `ne`,
//! which HAProxy treats as `eq`: a warning says so); ranges `a:b a-b :b a:`. Predefined ACLs:
//! all of HAProxy 2.6's except `RDP_COOKIE` (an error says so). Log-format: text, `%%`,
//! `%[expr]` and `%ci %cp %fi %fp %HM %HU %HP %HQ %HV`; other `%` variables and `%{...}`
//! options are errors naming them.
//!
//! Content inspection evaluates conditions in HAProxy's three values ([`Cond::eval3`]): a
//! fetch that needs more bytes (before the inspection is final) makes its ACL a miss, and the
//! `tcp-request content` rules wait.
//!
//! Not supported (errors say why): other fetches (`req.body_param`, `url_ip`,
//! response-side fetches), other converters, host names in IP patterns (HAProxy
//! resolves them at startup), regex look-around and backreferences (Rust's `regex` instead of
//! PCRE; byte-oriented and without Unicode classes, as PCRE without UTF), `-u` ids being
//! unique across the process (the runtime API that uses them does not exist).

pub mod auth;
mod cond;
mod conv;
mod expr;
mod fetch;
mod fetch_more;
mod fetch_px;
pub mod hash;
pub use fetch_more::{bc_addrs_used, bc_conn_used, set_config_env, set_thread};
pub use fetch_px::{FRONTEND_PREFIX, SERVER_PREFIX};
pub use hash::xxh64;
mod http;
mod logformat;
mod map;
pub mod patref;
pub(crate) use http::{dechunk, for_each_element};
pub use map::exp_replace;
mod pattern;
pub mod payload;
pub mod placement;
mod placement_table;
mod request;
mod response;
mod sample;
mod stick;
mod vars;

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use cond::{Acls, Cond, Polarity, Tri, predefined_names};
pub use fetch::{BackendRef, Conv, Fetch, FetchExpr, Layer, unique_id_used};
pub use logformat::{LogFormat, LogVars, Opts, Var, put_int, put_str};
pub use pattern::MatchMethod;
pub use request::{
    AddrPart, AddrsCell, ConnInfo, ContentSample, EditedRequestSample, ListenerInfo, RawRequest,
    RequestSample, StreamAddrs, TlsInfo, set_addr, set_priority,
};
pub use response::ResponseSample;
pub use sample::{
    BackendFacts, Content, Proxies, ProxyFacts, RateOf, Sample, ServerFacts, Strm, Value,
};
pub use stick::{
    DATA_TYPES, DataType, GptValue, MAX_SC, Op, RuleKind, StickAction, StickFetch, StickSource,
    TABLE_PREFIX, TableName, TableRef, Target, slot_of,
};
pub use vars::{
    ProcVars, Scope, Startup, Stored, VAR_COST, VarAction, VarLimits, VarRef, VarSet, Vars,
    proc_restore, proc_snapshot, set_limits as set_var_limits,
};

/// Parser state shared by the lines of one proxy section.
#[derive(Clone, Debug, Default)]
pub struct ParseCtx {
    /// The current proxy's name: `nbsrv` without an argument refers to it.
    pub proxy: String,
    /// Directory relative `-f` paths are resolved against; `None` is the current directory,
    /// HAProxy's default (its `default-path` would set this).
    pub base_dir: Option<PathBuf>,
    /// Warnings collected while parsing, to print with the line's `FILE:LINE: `.
    pub warnings: Vec<String>,
    /// Where a format's fetches run (a mask of [`placement::ckp`] check points; 0: not
    /// checked): one with nothing to say at any of them is refused, as HAProxy refuses it
    /// (the request's headers when a log line is written, the response in `http-request`).
    pub place: u32,
}

impl ParseCtx {
    /// A context for the proxy called `proxy`.
    pub fn new(proxy: &str) -> ParseCtx {
        ParseCtx {
            proxy: proxy.to_string(),
            ..ParseCtx::default()
        }
    }

    fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }
}

/// ` (did you mean 'x'?)` for the closest candidate, or nothing.
fn did_you_mean<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}
