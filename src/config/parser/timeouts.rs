//! `timeout NAME TIME` ([`keywords::TIMEOUT`]) and the old `contimeout`, `clitimeout`,
//! `srvtimeout`.

use super::*;

/// The handler of a timeout: where its value goes.
pub type TimeoutFn = fn(&mut Timeouts) -> &mut Option<Duration>;

pub(crate) fn timeout_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let Some(name) = w.get(1).map(String::as_str) else {
        d.error(
            loc,
            "'timeout' expects a name (connect, client, server, ...) and a time",
        );
        return;
    };
    let Some(k) = keywords::find(keywords::TIMEOUT, name) else {
        let h = keywords::hint(name, keywords::TIMEOUT.iter().map(|k| k.name));
        d.error(loc, format!("unknown timeout 'timeout {name}'{h}"));
        return;
    };
    let Some(slot) = status_ok(k, &format!("timeout {name}"), loc, d) else {
        return;
    };
    let Some(t) = time_arg(w, 2, loc, d) else {
        return;
    };
    if w.len() > 3 {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'timeout {name}'", w[3]),
        );
    }
    if k.sections & section_bit(px.kind) == 0 {
        let side = if k.sections & F != 0 {
            "frontend"
        } else {
            "backend"
        };
        d.warn(
            loc,
            format!(
                "'timeout {name}' is ignored: {} '{}' has no {side} capability",
                px.kind.name(),
                px.name
            ),
        );
        return;
    }
    // Zero means "no timeout", as in HAProxy.
    *slot(&mut px.timeouts) = if t.is_zero() { None } else { Some(t) };
}

/// `contimeout`, `clitimeout`, `srvtimeout`: `timeout NAME` under its pre-2.1 name.
fn old_timeout(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    modern: &str,
    slot: TimeoutFn,
) {
    d.warn(
        loc,
        format!(
            "'{}' is the old syntax (removed in HAProxy 2.1); write 'timeout {modern}' instead",
            w[0]
        ),
    );
    let t = time_arg(w, 1, loc, d);
    if t.is_some() {
        *slot(&mut px.timeouts) = t.filter(|t| !t.is_zero());
    }
}

pub(crate) fn contimeout(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    old_timeout(px, w, loc, d, "connect", connect);
}

pub(crate) fn clitimeout(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    old_timeout(px, w, loc, d, "client", client);
}

pub(crate) fn srvtimeout(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    old_timeout(px, w, loc, d, "server", server);
}

pub(crate) fn connect(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.connect
}
pub(crate) fn client(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.client
}
pub(crate) fn server(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.server
}
pub(crate) fn tunnel(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.tunnel
}
pub(crate) fn client_fin(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.client_fin
}
pub(crate) fn server_fin(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.server_fin
}
pub(crate) fn queue(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.queue
}
pub(crate) fn check(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.check
}
pub(crate) fn http_request(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.http_request
}
pub(crate) fn http_keep_alive(t: &mut Timeouts) -> &mut Option<Duration> {
    &mut t.http_keep_alive
}
