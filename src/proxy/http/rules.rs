//! `http-request` / `http-response` rules and `redirect`, applied to one transaction.
//!
//! Rules run in order; each may carry a condition, evaluated on the request *as edited so
//! far* (HAProxy's semantics: a `set-header` is visible to later conditions). Header edits
//! are recorded in the codec's [`Edits`] and applied when the head is serialized; values
//! that do not fit the edits' arena go to the transaction's bump allocator.

use crate::acl::exp_replace;
use crate::acl::{Acls, EditedRequestSample, RequestSample, ResponseSample, Sample};
use crate::config::{
    HttpAction, HttpRule, Proxy, Redirect, RedirectKind, Reply, ReplyBody, TargetPart,
};
use crate::h1::{Edits, HeaderField, RequestHead, ResponseHead, error_page, write_response};
use bumpalo::Bump;

/// What the rules decided.
pub enum HttpVerdict {
    /// Go on (to the next rule set, then to the server).
    Continue,
    /// `allow`: stop evaluating this proxy's rules of this kind.
    Allow,
    /// Answer the client with these bytes (deny, return, redirect).
    Reply { status: u16, bytes: Vec<u8> },
    /// `http-response deny`: the server's answer is replaced by these bytes (HAProxy's
    /// `PH`, counted in `dresp`).
    DenyResponse { status: u16, bytes: Vec<u8> },
    /// `do-resolve`: the caller resolves `host` for rule `at` of the set (its index in the
    /// slice it passed), stores the answer and runs the rules after it.
    Resolve { at: usize, host: String },
    /// `http-response silent-drop`: the client connection goes, unanswered.
    SilentDrop,
}

/// Request-side facts the rules can change.
#[derive(Default)]
pub struct Flags {
    /// The rules run are the old `redirect` keyword's, which leave `last_rule_*` alone.
    pub old_redirects: bool,
    pub disable_l7_retry: bool,
    /// A `deny` answered (the stats' denied requests).
    pub denied: bool,
    /// `use-service prometheus-exporter` matched: the rules stop and corelb answers.
    pub prometheus: bool,
    /// A `tarpit` rule answered: the answer waits for `timeout tarpit`.
    pub tarpit: bool,
    /// A `silent-drop` rule applied: the rules stop and the connection goes, unanswered.
    pub silent_drop: bool,
    /// A `reject` rule applied: the rules stop and the connection closes with a reset.
    pub reject: bool,
    /// `http-request capture`: (slot, value) for the transaction's captures.
    pub captures: Vec<(usize, Vec<u8>)>,
    /// `set-log-level`, `set-tos`, `set-mark`.
    pub effects: Effects,
    /// `set-timeout server`: this stream's server timeout (the inner `None`: none).
    pub server_timeout: Option<Option<std::time::Duration>>,
    /// `set-timeout tunnel`: this stream's tunnel timeout.
    pub tunnel_timeout: Option<Option<std::time::Duration>>,
    /// `early-hint`: the 103 Early Hints responses to send before the request goes to the
    /// server, each complete.
    pub early_hints: Vec<u8>,
    /// What `set-header`/`add-header` may still add to the request head (`tune.bufsize` less
    /// the head, HAProxy's room for rewrites); `None`: no limit.
    pub rewrite_room: Option<usize>,
    /// Rewrites that failed (the `wrew` counters), under `strict-mode` on or off.
    pub failed_rewrites: u8,
    /// A rule failed with an internal error and answered 500 (the `eint` counters).
    pub internal_error: bool,
    /// A `return`, `redirect` or `auth` rule answered: its answer failing the
    /// `http-after-response` rules is an internal error too (HAProxy's `ACT_RET_ERR`).
    pub answered: bool,
}

pub use crate::proxy::effects::Effects;

/// Where error pages come from: the backend's `errorfile` (or `http-error`), then the
/// frontend's, then the built-in page. A page with log-format parts (`http-error ...
/// lf-string`) is rendered on `s`.
pub fn page_for(status: u16, fe: &Proxy, be: Option<&Proxy>, s: &dyn Sample) -> Vec<u8> {
    custom_page(status, fe, be, s)
        .map(std::borrow::Cow::into_owned)
        .unwrap_or_else(|| error_page(status).to_vec())
}

/// The backend's page for `status`, else the frontend's, if either has one (a log-format
/// page rendered on `s`).
pub fn custom_page<'a>(
    status: u16,
    fe: &'a Proxy,
    be: Option<&'a Proxy>,
    s: &dyn Sample,
) -> Option<std::borrow::Cow<'a, [u8]>> {
    let find = |p: &'a Proxy| -> Option<std::borrow::Cow<'a, [u8]>> {
        if let Some((_, b)) = p.http.errorfiles.iter().find(|(c, _)| *c == status) {
            return Some(std::borrow::Cow::Borrowed(&b[..]));
        }
        let (_, r) = p.http.lf_errors.iter().find(|(c, _)| *c == status)?;
        Some(std::borrow::Cow::Owned(build_reply(r, s, (fe, be), false)))
    };
    be.and_then(find).or_else(|| find(fe))
}

/// Renders `v` on `s` into a value the edits can keep: in their arena, else in `bump`.
fn keep<'a, const N: usize>(
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    bytes: &[u8],
) -> crate::h1::Val<'a> {
    match edits.copy(bytes) {
        Ok(v) => v,
        Err(_) => crate::h1::Val::from(&*bump.alloc_slice_copy(bytes)),
    }
}

/// Runs `http-request` rules (or `redirect` rules).
#[allow(clippy::too_many_arguments)]
pub fn request_rules<'a, const N: usize>(
    rules: &'a [HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
    head: &RequestHead,
    buf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    flags: &mut Flags,
    pages: (&Proxy, Option<&Proxy>),
    close: bool,
) -> HttpVerdict {
    let mut at = None;
    // (HAProxy's old-style `redirect` rules leave `last_rule_*` alone.)
    let old = std::mem::take(&mut flags.old_redirects);
    let v = request_rules_at(
        rules, acls, base, head, buf, edits, bump, scratch, flags, pages, close, &mut at,
    );
    if !old && !matches!(v, HttpVerdict::Resolve { .. }) {
        stopped_at(base, at, &v);
    }
    flags.answered |= matches!(v, HttpVerdict::Reply { .. }) && at.is_some_and(answers_itself);
    v
}

/// HAProxy's `return`, `redirect` and `auth` send their answer themselves, through the
/// `http-after-response` rules: a failure there fails the rule.
fn answers_itself(r: &HttpRule) -> bool {
    matches!(
        r.action,
        HttpAction::Return(_) | HttpAction::Redirect(_) | HttpAction::Auth(_)
    )
}

/// `last_rule_file`/`last_rule_line`: the rule `at` that ended its rule set with `v`.
fn stopped_at(base: &RequestSample<'_>, at: Option<&HttpRule>, v: &HttpVerdict) {
    if let (Some(r), Some(txn), false) = (at, base.txn, matches!(v, HttpVerdict::Continue)) {
        // HAProxy's `return`, `redirect` and `auth` send their answer (through the
        // `http-after-response` rules) before the rule is recorded; the others after.
        txn.set_last_rule(&r.loc.file, r.loc.line, answers_itself(r));
    }
}

/// [`request_rules`], leaving in `stop` the last rule whose condition held: the one that
/// stopped the rules, when they stopped.
#[allow(clippy::too_many_arguments)]
fn request_rules_at<'a, const N: usize>(
    rules: &'a [HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
    head: &RequestHead,
    buf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    flags: &mut Flags,
    pages: (&Proxy, Option<&Proxy>),
    close: bool,
    stop: &mut Option<&'a HttpRule>,
) -> HttpVerdict {
    // `strict-mode`: on at the start of each rule set, as in HAProxy.
    let mut strict = true;
    // An `early-hint` 103 is being written in `flags.early_hints`.
    let mut hint_open = false;
    for (at, rule) in rules.iter().enumerate() {
        let hit = match &rule.cond {
            None => true,
            Some(c) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                c.eval(acls, &s)
            }
        };
        if !hit {
            continue;
        }
        *stop = Some(rule);
        match &rule.action {
            HttpAction::Allow => return HttpVerdict::Allow,
            HttpAction::DisableL7Retry => flags.disable_l7_retry = true,
            // The cache looks its rules up itself once the rules let the request through
            // (`super::cache`), as HAProxy's cache-use lets later rules run.
            HttpAction::CacheUse(_) | HttpAction::CacheStore(_) => {}
            // Waited for before the rules ran (`wait_for_request_body`).
            HttpAction::WaitForBody { .. } => {}
            // No early data is accepted: the handshake is over before any request is read.
            HttpAction::WaitForHandshake => {}
            HttpAction::SilentDrop => {
                flags.silent_drop = true;
                return HttpVerdict::Allow;
            }
            HttpAction::SetLogLevel(l) => flags.effects.log_level = Some(*l),
            HttpAction::SetTos(t) => flags.effects.tos = Some(*t),
            HttpAction::SetMark(m) => flags.effects.mark = Some(*m),
            HttpAction::SetTimeout { tunnel, value } => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                if let Some(t) = timeout_value(value, &s) {
                    // What `cur_server_timeout`/`cur_tunnel_timeout` read from now on.
                    if let Some(txn) = base.txn {
                        txn.set_cur_timeout(*tunnel, t, false);
                    }
                    if *tunnel {
                        flags.tunnel_timeout = Some(t);
                    } else {
                        flags.server_timeout = Some(t);
                    }
                }
            }
            // Accepted without effect: see `HttpAction::SetNice`.
            HttpAction::SetNice(_) => {}
            HttpAction::Reject => {
                flags.reject = true;
                return HttpVerdict::Allow;
            }
            HttpAction::UsePrometheus => {
                flags.prometheus = true;
                return HttpVerdict::Allow;
            }
            HttpAction::SetHeader(name, v) | HttpAction::AddHeader(name, v) => {
                scratch.clear();
                v.render(
                    &EditedRequestSample {
                        request: *base,
                        edits: &*edits,
                    },
                    scratch,
                );
                let set = matches!(rule.action, HttpAction::SetHeader(..));
                let r = add_field(edits, bump, set, name, scratch, &mut flags.rewrite_room);
                if let Err(e) = r
                    && rewrite_failed(strict, rule, e, &mut flags.failed_rewrites)
                {
                    return internal_error(pages, base, close, &mut flags.internal_error);
                }
            }
            HttpAction::DelHeader(name) => {
                let _ = edits.del_header(name.as_bytes());
            }
            HttpAction::DelHeaders(names) => {
                let _ = edits.del_headers_where(names);
            }
            HttpAction::StrictMode(on) => strict = *on,
            // As HAProxy's `http_action_early_hint`: a hint starts a 103 unless one is open;
            // the last one before a rule of another kind, or before a hint with a
            // condition, ends it.
            HttpAction::EarlyHint(name, f) => {
                let is_hint = |r: &HttpRule| matches!(r.action, HttpAction::EarlyHint(..));
                if !std::mem::replace(&mut hint_open, true) {
                    flags
                        .early_hints
                        .extend_from_slice(b"HTTP/1.1 103 Early Hints\r\n");
                }
                scratch.clear();
                f.render(
                    &EditedRequestSample {
                        request: *base,
                        edits: &*edits,
                    },
                    scratch,
                );
                // A value with CR or LF would end the field: HAProxy's H1 output encodes
                // them; corelb leaves the field out.
                if !scratch.iter().any(|&c| matches!(c, b'\r' | b'\n' | 0)) {
                    for part in [name.as_bytes(), b": ", &scratch[..], b"\r\n"] {
                        flags.early_hints.extend_from_slice(part);
                    }
                }
                let next = rules.get(at + 1);
                if next.is_none_or(|r| !is_hint(r) || r.cond.is_some()) {
                    flags.early_hints.extend_from_slice(b"\r\n");
                    hint_open = false;
                }
            }
            HttpAction::ReplaceHeader(name, re, repl) => {
                replace_header(head.headers(), buf, name, re, repl, edits, bump);
            }
            HttpAction::ReplaceValue(name, re, f) => {
                scratch.clear();
                f.render(
                    &EditedRequestSample {
                        request: *base,
                        edits: &*edits,
                    },
                    scratch,
                );
                replace_values(head.headers(), buf, name, re, scratch, edits, bump);
            }
            HttpAction::SetPath(v)
            | HttpAction::SetQuery(v)
            | HttpAction::SetUri(v)
            | HttpAction::SetMethod(v) => {
                scratch.clear();
                v.render(
                    &EditedRequestSample {
                        request: *base,
                        edits: &*edits,
                    },
                    scratch,
                );
                let val = keep(edits, bump, scratch);
                let r = match &rule.action {
                    HttpAction::SetPath(_) => edits.set_path(val),
                    HttpAction::SetQuery(_) => edits.set_query(Some(val)),
                    HttpAction::SetUri(_) => edits.set_uri(val),
                    _ => edits.set_method(val),
                };
                if let Err(e) = r
                    && rewrite_failed(strict, rule, Failed::Edit(e), &mut flags.failed_rewrites)
                {
                    return internal_error(pages, base, close, &mut flags.internal_error);
                }
            }
            HttpAction::Redirect(rd) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                return HttpVerdict::Reply {
                    status: rd.code,
                    bytes: redirect(rd, &s, base, scratch, close),
                };
            }
            HttpAction::Deny { status, reply } | HttpAction::Tarpit { status, reply } => {
                flags.denied = true;
                flags.tarpit = matches!(rule.action, HttpAction::Tarpit { .. });
                return HttpVerdict::Reply {
                    status: *status,
                    bytes: match reply {
                        Some(r) => build_reply(r, base, pages, close),
                        None => close_page(page_for(*status, pages.0, pages.1, base), close),
                    },
                };
            }
            HttpAction::Return(r) => {
                return HttpVerdict::Reply {
                    status: r.status,
                    bytes: build_reply(r, base, pages, close),
                };
            }
            HttpAction::Auth(realm) => {
                // A proxy's request, with the frontend's `option http-use-proxy-header`:
                // 407 (HAProxy's `TX_USE_PX_CONN`, from the target as it came).
                let proxied = pages.0.options.http_use_proxy_header
                    && !matches!(head.target(buf).first(), Some(b'/' | b'*'));
                let status = if proxied { 407 } else { 401 };
                let page = page_for(status, pages.0, pages.1, base);
                return HttpVerdict::Reply {
                    status,
                    bytes: auth_page(page, realm, close, proxied),
                };
            }
            HttpAction::SetStatus(..) => {}
            HttpAction::SetAddr(part, e) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                crate::acl::set_addr(*part, e, &s);
            }
            HttpAction::DoResolve(r) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                let mut host = None;
                r.expr.each(&s, false, &mut |v| {
                    if let crate::acl::Value::Str(b) = v {
                        host = std::str::from_utf8(b).ok().map(str::to_string);
                    }
                    false
                });
                // No name (or not text): nothing to resolve, the variable stays unset.
                if let Some(host) = host.filter(|h| !h.is_empty()) {
                    return HttpVerdict::Resolve { at, host };
                }
            }
            HttpAction::Stick(a) => {
                if let Some(st) = base.stick {
                    let s = EditedRequestSample {
                        request: *base,
                        edits: &*edits,
                    };
                    st.apply(a, &s, crate::acl::RuleKind::HttpRequest);
                }
            }
            HttpAction::Var(a) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                a.apply(&s, scratch);
            }
            HttpAction::PatRef(a) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                a.apply(&s, scratch);
            }
            HttpAction::SetPriority { class, expr } => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                crate::acl::set_priority(*class, expr, &s);
            }
            HttpAction::Capture { expr, id, .. } => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                expr.each(&s, false, &mut |v| {
                    flags.captures.push((*id, v.with_bytes(<[u8]>::to_vec)));
                    false
                });
            }
            HttpAction::NormalizeUri(n) => {
                let mut target = Vec::new();
                current_target(head, buf, edits, &mut target);
                match normalize_target(*n, &target) {
                    Ok(Some((part, new))) => {
                        if let Err(e) = set_target(part, &new, &target, edits, bump)
                            && rewrite_failed(
                                strict,
                                rule,
                                Failed::Edit(e),
                                &mut flags.failed_rewrites,
                            )
                        {
                            return internal_error(pages, base, close, &mut flags.internal_error);
                        }
                    }
                    Ok(None) => {}
                    // HAProxy's ACT_RET_INV: the request is a bad one.
                    Err(crate::h1::Invalid) => {
                        return HttpVerdict::Reply {
                            status: 400,
                            bytes: close_page(page_for(400, pages.0, pages.1, base), close),
                        };
                    }
                }
            }
            HttpAction::SetPathQ(f) | HttpAction::ReplaceTarget(_, _, f) => {
                let s = EditedRequestSample {
                    request: *base,
                    edits: &*edits,
                };
                let mut target = Vec::new();
                current_target(head, buf, edits, &mut target);
                let new = match &rule.action {
                    HttpAction::ReplaceTarget(part, re, _) => {
                        let subject = &target[part_span(*part, &target)];
                        let Some(caps) = re.0.captures(subject).filter(|_| !subject.is_empty())
                        else {
                            continue;
                        };
                        scratch.clear();
                        f.render(&s, scratch);
                        exp_replace(scratch, &caps)
                    }
                    _ => {
                        scratch.clear();
                        f.render(&s, scratch);
                        scratch.clone()
                    }
                };
                let part = match &rule.action {
                    HttpAction::ReplaceTarget(part, ..) => *part,
                    _ => TargetPart::PathQ,
                };
                if let Err(e) = set_target(part, &new, &target, edits, bump)
                    && rewrite_failed(strict, rule, Failed::Edit(e), &mut flags.failed_rewrites)
                {
                    return internal_error(pages, base, close, &mut flags.internal_error);
                }
            }
        }
    }
    HttpVerdict::Continue
}

/// Why a rewrite failed.
#[derive(Clone, Copy, Debug)]
enum Failed {
    /// The edit was refused (a value with CR or LF, too many edits…).
    Edit(crate::h1::EditError),
    /// The head would outgrow `tune.bufsize` (HAProxy's buffer has no room for it).
    NoRoom,
}

/// `set-header` (`set`) or `add-header` of `name` with the value in `scratch`, if it fits
/// in the `room` left for rewrites (which it then takes).
fn add_field<'a, const N: usize>(
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    set: bool,
    name: &'a str,
    scratch: &[u8],
    room: &mut Option<usize>,
) -> Result<(), Failed> {
    // The field as HAProxy's HTX holds it: name, value and their separators.
    let need = name.len() + scratch.len() + 4;
    if room.is_some_and(|left| need > left) {
        return Err(Failed::NoRoom);
    }
    let val = keep(edits, bump, scratch);
    if set {
        edits.set_header(name.as_bytes(), val)
    } else {
        edits.add_header(name.as_bytes(), val)
    }
    .map_err(Failed::Edit)?;
    if let Some(left) = room {
        *left -= need;
    }
    Ok(())
}

/// A rewrite of `rule` failed: logged, counted in `failed` (HAProxy counts it under either
/// mode), and whether it ends the transaction (`strict-mode on`, HAProxy's default; `off`
/// skips the rewrite and goes on).
fn rewrite_failed(strict: bool, rule: &HttpRule, why: Failed, failed: &mut u8) -> bool {
    *failed = failed.saturating_add(1);
    let why = match why {
        Failed::Edit(e) => e.to_string(),
        Failed::NoRoom => "no room left in the buffer (tune.bufsize)".to_string(),
    };
    let what = if strict {
        "500"
    } else {
        "skipped, strict-mode off"
    };
    log::info!("{}: rewrite failed: {why} ({what})", rule.loc);
    strict
}

/// The 500 a failed rewrite under `strict-mode on` answers (HAProxy's `ACT_RET_ERR`), noted
/// in `noted` for the `eint` counters.
fn internal_error(
    pages: (&Proxy, Option<&Proxy>),
    s: &dyn Sample,
    close: bool,
    noted: &mut bool,
) -> HttpVerdict {
    *noted = true;
    HttpVerdict::Reply {
        status: 500,
        bytes: close_page(page_for(500, pages.0, pages.1, s), close),
    }
}

/// What a `set-timeout` rule sets: its time, or its expression's first value in
/// milliseconds (0: no timeout, as HAProxy's `TICK_ETERNITY`); `None` (the timeout stays as
/// it was) when the expression yields no integer, or a negative one.
fn timeout_value(
    v: &crate::config::TimeoutValue,
    s: &dyn Sample,
) -> Option<Option<std::time::Duration>> {
    use crate::config::TimeoutValue;
    match v {
        TimeoutValue::Fixed(t) => Some(Some(*t)),
        TimeoutValue::Expr(e) => {
            let mut ms = None;
            e.each(s, false, &mut |v| {
                ms = v.to_int();
                false
            });
            let ms = u64::try_from(ms?).ok()?;
            Some((ms > 0).then(|| std::time::Duration::from_millis(ms)))
        }
    }
}

/// [`request_rules`], answering its `do-resolve` rules: each waits for its address, then
/// the rules after it run. Never returns `Resolve`.
#[allow(clippy::too_many_arguments)]
pub async fn request_rules_resolving<'a, const N: usize>(
    rules: &'a [HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
    head: &RequestHead,
    buf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    flags: &mut Flags,
    pages: (&Proxy, Option<&Proxy>),
    close: bool,
    lookups: &crate::cluster::dns_lookup::Lookups,
) -> HttpVerdict {
    let mut from = 0;
    loop {
        let v = request_rules(
            &rules[from..],
            acls,
            base,
            head,
            buf,
            edits,
            bump,
            scratch,
            flags,
            pages,
            close,
        );
        let HttpVerdict::Resolve { at, host } = v else {
            return v;
        };
        from += at + 1;
        // Boxed: rare, and its wait would otherwise weigh on every request's exchange state.
        Box::pin(do_resolve(lookups, &rules[from - 1], &host, base)).await;
    }
}

/// Runs a `do-resolve` rule (`HttpVerdict::Resolve`): waits for `host`'s address from the
/// resolver thread (bounded by the section's retries and timeouts) and stores it in the
/// rule's variable; no address leaves the variable as it was.
async fn do_resolve(
    lookups: &crate::cluster::dns_lookup::Lookups,
    rule: &HttpRule,
    host: &str,
    s: &dyn crate::acl::Sample,
) {
    let HttpAction::DoResolve(r) = &rule.action else {
        return;
    };
    if let Some(ip) = lookups.resolve(host, r.prefer, r.section).await {
        s.vars()
            .set(&r.var, crate::acl::Stored::Ip(ip), Default::default());
    }
}

/// `http-request wait-for-body time T [at-least N]`: the first such rule among `rules` whose
/// condition holds on the request as the client sent it, with its index. (HAProxy evaluates
/// it in its turn, after the rules before it; corelb waits before running any — the rules
/// before it still see the body as it was, see `session::Exchange` — so its condition does
/// not see their edits.)
pub fn wait_for_request_body(
    rules: &[HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
) -> Option<(usize, std::time::Duration, u64)> {
    rules
        .iter()
        .enumerate()
        .find_map(|(i, rule)| match rule.action {
            HttpAction::WaitForBody { time, at_least }
                if rule.cond.as_ref().is_none_or(|c| c.eval(acls, base)) =>
            {
                Some((i, time, at_least))
            }
            _ => None,
        })
}

/// `http-response wait-for-body time T [at-least N]`: the first such rule, among the
/// backend's then the frontend's `http-response` rules, whose condition holds on the
/// response as the server sent it. (HAProxy evaluates it in its turn, after the rules before
/// it; corelb waits before running any, so its condition does not see their edits.)
pub fn wait_for_body(
    pxs: &[&Proxy],
    base: &RequestSample<'_>,
    res: &ResponseHead,
    rbuf: &[u8],
) -> Option<(std::time::Duration, u64)> {
    let edits: Edits<'_> = Edits::new();
    for px in pxs {
        for rule in &px.http_response {
            if let HttpAction::WaitForBody { time, at_least } = rule.action
                && rule
                    .cond
                    .as_ref()
                    .is_none_or(|c| c.eval(&px.acls, &ResponseSample::new(base, res, rbuf, &edits)))
            {
                return Some((time, at_least));
            }
        }
    }
    None
}

/// Runs `http-response` rules on the response head's edits. Conditions see the request
/// (response-side fetches are not available: see the README). `room`: what `set-header`
/// and `add-header` may still add (HAProxy's buffer less the response); `failed`: the
/// failed rewrites; `int_err`: set when one of them answered 500 (`strict-mode on`).
#[allow(clippy::too_many_arguments)]
pub fn response_rules<'a, const N: usize>(
    rules: &'a [HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
    res: &ResponseHead,
    rbuf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    pages: (&Proxy, Option<&Proxy>),
    close: bool,
    captures: &mut Vec<(usize, Vec<u8>)>,
    effects: &mut Effects,
    room: &mut Option<usize>,
    failed: &mut u8,
    int_err: &mut bool,
) -> HttpVerdict {
    let mut at = None;
    let v = response_rules_at(
        rules, acls, base, res, rbuf, edits, bump, scratch, pages, close, captures, effects, room,
        failed, int_err, &mut at,
    );
    stopped_at(base, at, &v);
    v
}

/// [`response_rules`], leaving in `stop` the last rule whose condition held.
#[allow(clippy::too_many_arguments)]
fn response_rules_at<'a, const N: usize>(
    rules: &'a [HttpRule],
    acls: &Acls,
    base: &RequestSample<'_>,
    res: &ResponseHead,
    rbuf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
    scratch: &mut Vec<u8>,
    pages: (&Proxy, Option<&Proxy>),
    close: bool,
    captures: &mut Vec<(usize, Vec<u8>)>,
    effects: &mut Effects,
    room: &mut Option<usize>,
    failed: &mut u8,
    int_err: &mut bool,
    stop: &mut Option<&'a HttpRule>,
) -> HttpVerdict {
    // What conditions and values see: the request, and the response as the rules so far
    // left it (`status`, `res.hdr`…), made again at each use, between the edits.
    let mut strict = true;
    for rule in rules {
        if let Some(c) = &rule.cond
            && !c.eval(acls, &ResponseSample::new(base, res, rbuf, edits))
        {
            continue;
        }
        *stop = Some(rule);
        match &rule.action {
            HttpAction::Allow => return HttpVerdict::Allow,
            HttpAction::SetHeader(name, v) | HttpAction::AddHeader(name, v) => {
                scratch.clear();
                v.render(&ResponseSample::new(base, res, rbuf, edits), scratch);
                let set = matches!(rule.action, HttpAction::SetHeader(..));
                if let Err(e) = add_field(edits, bump, set, name, scratch, room)
                    && rewrite_failed(strict, rule, e, failed)
                {
                    let s = ResponseSample::new(base, res, rbuf, edits);
                    return internal_error(pages, &s, close, int_err);
                }
            }
            HttpAction::StrictMode(on) => strict = *on,
            HttpAction::DelHeader(name) => {
                let _ = edits.del_header(name.as_bytes());
            }
            HttpAction::DelHeaders(names) => {
                let _ = edits.del_headers_where(names);
            }
            HttpAction::ReplaceHeader(name, re, repl) => {
                replace_header(res.headers(), rbuf, name, re, repl, edits, bump);
            }
            HttpAction::ReplaceValue(name, re, f) => {
                scratch.clear();
                f.render(&ResponseSample::new(base, res, rbuf, edits), scratch);
                replace_values(res.headers(), rbuf, name, re, scratch, edits, bump);
            }
            HttpAction::SetStatus(code, reason) => {
                let reason: &'a [u8] = match reason {
                    Some(r) => r.as_bytes(),
                    None => crate::h1::reason_phrase(*code).as_bytes(),
                };
                let _ = edits.set_status(*code, reason);
            }
            HttpAction::Deny { status, reply } => {
                // HAProxy answers a denied response with 502 unless told otherwise.
                let status = if *status == 403 && reply.is_none() {
                    502
                } else {
                    *status
                };
                return HttpVerdict::DenyResponse {
                    status,
                    bytes: match reply {
                        Some(r) => {
                            let s = ResponseSample::new(base, res, rbuf, edits);
                            build_reply(r, &s, pages, close)
                        }
                        None => {
                            let s = ResponseSample::new(base, res, rbuf, edits);
                            close_page(page_for(status, pages.0, pages.1, &s), close)
                        }
                    },
                };
            }
            HttpAction::Return(r) => {
                return HttpVerdict::Reply {
                    status: r.status,
                    bytes: build_reply(
                        r,
                        &ResponseSample::new(base, res, rbuf, edits),
                        pages,
                        close,
                    ),
                };
            }
            HttpAction::Redirect(rd) => {
                return HttpVerdict::Reply {
                    status: rd.code,
                    bytes: redirect(
                        rd,
                        &ResponseSample::new(base, res, rbuf, edits),
                        base,
                        scratch,
                        close,
                    ),
                };
            }
            HttpAction::Stick(a) => {
                if let Some(st) = base.stick {
                    let s = ResponseSample::new(base, res, rbuf, edits);
                    st.apply(a, &s, crate::acl::RuleKind::HttpResponse(res.status()));
                }
            }
            HttpAction::SilentDrop => return HttpVerdict::SilentDrop,
            HttpAction::SetLogLevel(l) => effects.log_level = Some(*l),
            HttpAction::SetTos(t) => effects.tos = Some(*t),
            HttpAction::SetMark(m) => effects.mark = Some(*m),
            HttpAction::Var(a) => a.apply(&ResponseSample::new(base, res, rbuf, edits), scratch),
            HttpAction::PatRef(a) => a.apply(&ResponseSample::new(base, res, rbuf, edits), scratch),
            // `http-response capture EXPR id N`: the first value, for the frontend's slot.
            HttpAction::Capture { expr, id, .. } => {
                let s = ResponseSample::new(base, res, rbuf, edits);
                expr.each(&s, false, &mut |v| {
                    captures.push((*id, v.with_bytes(<[u8]>::to_vec)));
                    false
                });
            }
            _ => {}
        }
    }
    HttpVerdict::Continue
}

/// The request-target as the rules left it so far: a `set-uri` value, else the received
/// target with the path and query edits applied.
fn current_target<const N: usize>(
    head: &RequestHead,
    buf: &[u8],
    edits: &Edits<'_, N>,
    out: &mut Vec<u8>,
) {
    if let Some(u) = edits.uri {
        out.extend_from_slice(edits.resolve(u));
        return;
    }
    // The scheme and authority of an absolute-form target (nothing in origin-form).
    out.extend_from_slice(&buf[head.target_span().start()..head.path_span().start()]);
    match edits.path {
        Some(p) => out.extend_from_slice(edits.resolve(p)),
        None => out.extend_from_slice(head.path(buf)),
    }
    let query = match edits.query {
        Some(q) => q.map(|q| edits.resolve(q)),
        None => head.query(buf),
    };
    if let Some(q) = query {
        out.push(b'?');
        out.extend_from_slice(q);
    }
}

/// Where the path starts in a target (HAProxy's `http_get_path`): at 0 in origin-form,
/// after the authority in absolute-form; `None` for `*` and the like (no path).
fn path_start(t: &[u8]) -> Option<usize> {
    if t.first() == Some(&b'/') {
        return Some(0);
    }
    let after = memchr::memmem::find(t, b"://")? + 3;
    Some(memchr::memchr(b'/', &t[after..]).map_or(t.len(), |i| after + i))
}

/// The bytes of `t` a `replace-*` rule works on (empty when there is no path).
fn part_span(part: TargetPart, t: &[u8]) -> std::ops::Range<usize> {
    let Some(ps) = path_start(t) else {
        return 0..0;
    };
    let qs = memchr::memchr(b'?', &t[ps..]).map_or(t.len(), |i| ps + i);
    match part {
        TargetPart::Uri => 0..t.len(),
        TargetPart::Path => ps..qs,
        TargetPart::PathQ => ps..t.len(),
    }
}

/// `normalize-uri`: the part of the target `t` to set and its new bytes, `None` when the
/// target has no path (`*`) or the normalizer changes nothing.
fn normalize_target(
    n: crate::h1::UriNormalizer,
    t: &[u8],
) -> Result<Option<(TargetPart, Vec<u8>)>, crate::h1::Invalid> {
    use crate::h1::UriPart;
    if path_start(t).is_none() {
        return Ok(None);
    }
    let pathq = part_span(TargetPart::PathQ, t);
    let path = part_span(TargetPart::Path, t);
    let (part, new) = match n.part() {
        UriPart::Path => (TargetPart::Path, n.apply(&t[path.clone()])?),
        UriPart::PathQ => (TargetPart::PathQ, n.apply(&t[pathq.clone()])?),
        // The query from its `?`, put back behind the path (none: nothing to sort).
        UriPart::Query => {
            if path.end == pathq.end {
                return Ok(None);
            }
            let mut new = t[path.clone()].to_vec();
            new.extend_from_slice(&n.apply(&t[path.end..pathq.end])?);
            (TargetPart::PathQ, new)
        }
    };
    let old = match part {
        TargetPart::Path => &t[path],
        _ => &t[pathq],
    };
    Ok((new != old).then_some((part, new)))
}

/// Records `new` as the new `part` of the target `t` (the current one): `replace-uri` sets
/// the target; the others set the path (and the query), or, after a `set-uri`, a target
/// rebuilt around them.
fn set_target<'a, const N: usize>(
    part: TargetPart,
    new: &[u8],
    t: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
) -> Result<(), crate::h1::EditError> {
    if part == TargetPart::Uri || path_start(t).is_none() {
        let v = keep(edits, bump, new);
        return edits.set_uri(v);
    }
    let span = part_span(part, t);
    if edits.uri.is_some() {
        let mut uri = t[..span.start].to_vec();
        uri.extend_from_slice(new);
        uri.extend_from_slice(&t[span.end..]);
        let v = keep(edits, bump, &uri);
        return edits.set_uri(v);
    }
    let (path, query) = match part {
        TargetPart::PathQ => match memchr::memchr(b'?', new) {
            Some(i) => (&new[..i], Some(Some(&new[i + 1..]))),
            None => (new, Some(None)),
        },
        _ => (new, None),
    };
    let v = keep(edits, bump, path);
    edits.set_path(v)?;
    if let Some(q) = query {
        let q = q.map(|q| keep(edits, bump, q));
        edits.set_query(q)?;
    }
    Ok(())
}

/// `replace-header NAME REGEX REPLACEMENT`: each received value of NAME that the regex
/// matches is replaced (HAProxy's `\1` references become the capture groups).
fn replace_header<'a, const N: usize>(
    fields: &[HeaderField],
    buf: &[u8],
    name: &str,
    re: &crate::config::Regex,
    repl: &str,
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
) {
    let repl = haproxy_backrefs(repl);
    for (i, f) in fields.iter().enumerate() {
        if f.dropped || !f.is(buf, name.as_bytes()) {
            continue;
        }
        let v = f.value(buf);
        if re.0.is_match(v) {
            let new = re.0.replace_all(v, repl.as_bytes());
            let val = keep(edits, bump, &new);
            let _ = edits.replace_value(i, val);
        }
    }
}

/// `replace-value NAME REGEX FMT` (HAProxy's `http_replace_hdrs` with `full` unset): in each
/// field NAME as the rules left it, each comma-separated value (commas inside quotes do not
/// count; blanks around a value are not part of it) that the regex matches becomes `repl`
/// with its `\N` references replaced, without the blanks that were around it; the other
/// values and the commas stay as they were. (Fields added by
/// rules are not looked at, as with `replace-header`.)
fn replace_values<'a, const N: usize>(
    fields: &[HeaderField],
    buf: &[u8],
    name: &str,
    re: &crate::config::Regex,
    repl: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
) {
    let mut changed: Vec<(usize, Vec<u8>)> = Vec::new();
    for h in edits.headers(fields, buf) {
        let crate::h1::FieldSource::Received(i) = h.origin else {
            continue;
        };
        if !h.name.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        if let Some(v) = replace_each_value(h.value, re, repl) {
            changed.push((i, v));
        }
    }
    for (i, v) in changed {
        let val = keep(edits, bump, &v);
        let _ = edits.replace_value(i, val);
    }
}

/// `value` with each of its comma-separated values that `re` matches replaced by `repl`
/// (`\N` references expanded), or `None` when none matched.
fn replace_each_value(value: &[u8], re: &crate::config::Regex, repl: &[u8]) -> Option<Vec<u8>> {
    let blank = |b: u8| b == b' ' || b == b'\t';
    let mut out = Vec::with_capacity(value.len() + repl.len());
    let (mut any, mut i) = (false, 0);
    loop {
        // The value runs to the next comma outside quotes (`http_find_hdr_value_end`).
        let (mut end, mut quoted, mut pair) = (i, false, false);
        while end < value.len() {
            let c = value[end];
            if pair {
                pair = false;
            } else if quoted {
                if c == b'\\' {
                    pair = true;
                } else if c == b'"' {
                    quoted = false;
                }
            } else if c == b'"' {
                quoted = true;
            } else if c == b',' {
                break;
            }
            end += 1;
        }
        let mut s = i;
        while s < end && blank(value[s]) {
            s += 1;
        }
        let mut e = end;
        while e > s && blank(value[e - 1]) {
            e -= 1;
        }
        // A replaced value loses the blanks around it (HAProxy replaces them with it).
        match re.0.captures(&value[s..e]) {
            Some(caps) => {
                any = true;
                out.extend_from_slice(&exp_replace(repl, &caps));
            }
            None => out.extend_from_slice(&value[i..end]),
        }
        if end >= value.len() {
            break;
        }
        out.push(b',');
        i = end + 1;
    }
    any.then_some(out)
}

/// `\1` → `${1}` for the regex crate's replacement syntax (and `$` escaped).
fn haproxy_backrefs(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
            out.push_str(&format!("${{{}}}", b[i + 1] as char));
            i += 2;
        } else if b[i] == b'$' {
            out.push_str("$$");
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// `option http-restrict-req-hdr-names delete|reject` for one proxy, after its
/// `http-request` rules (HAProxy's `http_restrict_req_hdr_names`): a request header whose
/// name holds a byte outside `[A-Za-z0-9-]` is removed (`delete`), or denies the request
/// (`reject`: true, answered 403 as an `http-request deny`).
pub fn restrict_header_names<'a, const N: usize>(
    mode: crate::config::model::RestrictHdrNames,
    req: &RequestHead,
    buf: &[u8],
    edits: &mut Edits<'a, N>,
    bump: &'a Bump,
) -> bool {
    use crate::config::model::RestrictHdrNames as R;
    if mode == R::Preserve {
        return false;
    }
    for h in req.headers() {
        let name = h.name(buf);
        if name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
            continue;
        }
        if mode == R::Reject {
            return true;
        }
        let _ = edits.del_header(bump.alloc_slice_copy(name));
    }
    false
}

pub fn close_page(mut page: Vec<u8>, close: bool) -> Vec<u8> {
    if close
        && memchr::memmem::find(&page, b"\r\nConnection: close\r\n").is_none()
        && let Some(i) = memchr::memmem::find(&page, b"\r\n")
    {
        page.splice(i + 2..i + 2, b"Connection: close\r\n".iter().copied());
    }
    page
}

/// HAProxy's `auth` action: the 401 page with its `WWW-Authenticate` fields replaced by
/// `Basic realm="REALM"`, added last (the 407 page and `Proxy-Authenticate` for a proxy's
/// request).
fn auth_page(page: Vec<u8>, realm: &str, close: bool, proxied: bool) -> Vec<u8> {
    let name: &[u8] = if proxied {
        b"Proxy-Authenticate"
    } else {
        b"WWW-Authenticate"
    };
    let Some(end) = memchr::memmem::find(&page, b"\r\n\r\n") else {
        return close_page(page, close);
    };
    let mut out = Vec::with_capacity(page.len() + 48 + realm.len());
    for (i, line) in page[..end + 2].split_inclusive(|&b| b == b'\n').enumerate() {
        let is_auth = i > 0
            && line.len() > name.len()
            && line[..name.len()].eq_ignore_ascii_case(name)
            && line[name.len()] == b':';
        if !is_auth {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(b": Basic realm=\"");
    out.extend_from_slice(realm.as_bytes());
    out.extend_from_slice(b"\"\r\n");
    out.extend_from_slice(&page[end + 2..]);
    close_page(out, close)
}

fn build_reply(r: &Reply, s: &dyn Sample, pages: (&Proxy, Option<&Proxy>), close: bool) -> Vec<u8> {
    if matches!(r.body, ReplyBody::ErrorPage) && r.headers.is_empty() && r.content_type.is_none() {
        return close_page(page_for(r.status, pages.0, pages.1, s), close);
    }
    let mut body = Vec::new();
    match &r.body {
        // A complete response: HAProxy ignores `content-type` and `hdr` with it.
        ReplyBody::Raw(page) => return close_page(page.to_vec(), close),
        ReplyBody::Empty => {}
        ReplyBody::ErrorPage | ReplyBody::Section(_) => {
            body = page_for(r.status, pages.0, pages.1, s)
        }
        ReplyBody::Text(f) => f.render(s, &mut body),
        ReplyBody::File(b) => body = b.to_vec(),
    }
    let mut rendered: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if let Some(ct) = &r.content_type {
        rendered.push((b"Content-Type".to_vec(), ct.as_bytes().to_vec()));
    }
    for (n, f) in &r.headers {
        let mut v = Vec::new();
        f.render(s, &mut v);
        rendered.push((n.as_bytes().to_vec(), v));
    }
    let hdrs: Vec<(&[u8], &[u8])> = rendered.iter().map(|(n, v)| (&n[..], &v[..])).collect();
    let reason = crate::h1::reason_phrase(r.status);
    let mut out = Vec::with_capacity(128 + body.len());
    write_response(&mut out, r.status, reason.as_bytes(), &hdrs, &body, close);
    out
}

/// The response of a redirect rule, as HAProxy writes it.
fn redirect(
    rd: &Redirect,
    s: &dyn Sample,
    base: &RequestSample<'_>,
    scratch: &mut Vec<u8>,
    close: bool,
) -> Vec<u8> {
    scratch.clear();
    rd.target.render(s, scratch);
    let target = std::mem::take(scratch);
    let mut loc: Vec<u8> = Vec::with_capacity(128);
    let (path, query) = match base.head {
        Some((h, buf)) => (h.path(buf).to_vec(), h.query(buf).map(<[u8]>::to_vec)),
        None => (b"/".to_vec(), None),
    };
    let mut path = if path.is_empty() { b"/".to_vec() } else { path };
    if rd.append_slash && !path.ends_with(b"/") {
        path.push(b'/');
    }
    let push_uri = |loc: &mut Vec<u8>| {
        loc.extend_from_slice(&path);
        if !rd.drop_query
            && let Some(q) = &query
        {
            loc.push(b'?');
            loc.extend_from_slice(q);
        }
    };
    match rd.kind {
        RedirectKind::Location => loc.extend_from_slice(&target),
        RedirectKind::Prefix => {
            // "prefix /" keeps the location relative: the URI alone.
            if target != b"/" {
                loc.extend_from_slice(target.strip_suffix(b"/").unwrap_or(&target));
            }
            push_uri(&mut loc);
        }
        RedirectKind::Scheme => {
            loc.extend_from_slice(&target);
            loc.extend_from_slice(b"://");
            if let Some((h, buf)) = base.head
                && let Some(host) = h.host(buf)
            {
                loc.extend_from_slice(host);
            }
            push_uri(&mut loc);
        }
    }
    *scratch = target;
    let reason = crate::h1::redirect_reason(rd.code);
    let mut out = Vec::with_capacity(128 + loc.len());
    // HAProxy marks only the temporary redirects uncacheable (seen in the differential test).
    let temporary = matches!(rd.code, 302 | 303 | 307);
    let mut headers: Vec<(&[u8], &[u8])> = vec![(b"Location", &loc)];
    if temporary {
        headers.push((b"Cache-Control", b"no-cache"));
    }
    if let Some(c) = &rd.cookie {
        headers.push((b"Set-Cookie", c.as_bytes()));
    }
    write_response(&mut out, rd.code, reason.as_bytes(), &headers, b"", close);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haproxy_exp_replace() {
        let re = regex::bytes::Regex::new("^/api/([^/]*)/(.*)").unwrap();
        let caps = re.captures(b"/api/v1/items").unwrap();
        assert_eq!(exp_replace(br"/\2?v=\1\\\x41\3", &caps), b"/items?v=v1\\A");
    }

    #[test]
    fn target_parts() {
        let t = b"http://h:1/p/q?x=1";
        assert_eq!(&t[part_span(TargetPart::Path, t)], b"/p/q");
        assert_eq!(&t[part_span(TargetPart::PathQ, t)], b"/p/q?x=1");
        assert_eq!(&t[part_span(TargetPart::Uri, t)], t);
        assert_eq!(part_span(TargetPart::Path, b"*"), 0..0);
        assert_eq!(&b"/a?b"[part_span(TargetPart::Path, b"/a?b")], b"/a");
        assert_eq!(part_span(TargetPart::Path, b"http://h"), 8..8);
    }

    #[test]
    fn replace_value_works_per_value() {
        let re = crate::config::Regex(regex::bytes::Regex::new("^a(.*)").unwrap());
        let got = replace_each_value(b"ax, b ,  ay  ,\"a,z\", ", &re, br"<\1>");
        assert_eq!(got.as_deref(), Some(&b"<x>, b ,<y>,\"a,z\", "[..]));
        assert_eq!(replace_each_value(b"b, c", &re, b"x"), None);
    }

    #[test]
    fn backrefs() {
        assert_eq!(haproxy_backrefs(r"\1-\2"), "${1}-${2}");
        assert_eq!(haproxy_backrefs("a$b"), "a$$b");
    }

    #[test]
    fn auth_page_replaces_the_challenge() {
        let page = b"HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Digest x\r\ncontent-length: 2\r\n\r\nno".to_vec();
        assert_eq!(
            auth_page(page, "R", false, false),
            b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 2\r\nWWW-Authenticate: Basic realm=\"R\"\r\n\r\nno"
        );
    }

    #[test]
    fn close_is_added_once() {
        let p = close_page(error_page(503).to_vec(), true);
        assert_eq!(
            memchr::memmem::find_iter(&p, b"Connection: close").count(),
            1
        );
        let p = close_page(error_page(400).to_vec(), true);
        assert_eq!(
            memchr::memmem::find_iter(&p, b"Connection: close").count(),
            1
        );
    }
}
