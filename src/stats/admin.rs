//! The stats page's admin actions on servers (`stats admin if COND`): ready, drain, maint,
//! health checks off and on. Each one changes the server's shared state (`ServerState`),
//! so every shard sees it at once, and rebuilds the backend's balancing tables.

use crate::cluster::BackendRt;

/// An action of the page's form (`action=` values, HAProxy's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Leave maintenance and drain: the server takes traffic again once its checks agree.
    Ready,
    /// Up, but no new traffic (effective weight 0): `DRAIN`.
    Drain,
    /// Maintenance: no traffic, `MAINT`.
    Maint,
    /// Stop / resume health checks (the state stays as it is).
    DisableHealth,
    EnableHealth,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "ready" => Action::Ready,
            "drain" => Action::Drain,
            "maint" => Action::Maint,
            "dhlth" => Action::DisableHealth,
            "ehlth" => Action::EnableHealth,
            _ => return None,
        })
    }
}

/// Applies `a` to server `srv` of `be`; whether something changed. The same admin bits
/// as the runtime API's `set server … state` and `disable|enable health`.
pub fn apply(be: &BackendRt, srv: usize, a: Action) -> bool {
    use crate::cluster::state::admin::{FDRAIN, FMAINT};
    let s = &be.lb.servers[srv];
    let before = (s.admin(), s.checks_enabled(), s.state(), s.weight());
    match a {
        Action::Ready => s.set_admin(0, FMAINT | FDRAIN),
        Action::Drain => s.set_admin(FDRAIN, FMAINT),
        Action::Maint => s.set_admin(FMAINT, 0),
        Action::DisableHealth => s.set_checks(false),
        Action::EnableHealth => s.set_checks(true),
    }
    let changed = before != (s.admin(), s.checks_enabled(), s.state(), s.weight());
    if changed {
        be.lb.rebuild();
        be.queue.wake_all();
    }
    changed
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded.
pub fn form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let mut it = kv.splitn(2, |&b| b == b'=');
            let k = decode(it.next().unwrap_or_default());
            let v = decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

/// Percent-decoding with `+` as a space; invalid escapes stay as they are.
fn decode(s: &[u8]) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_decode() {
        assert_eq!(
            form(b"s=a&s=b%20c&action=maint&b=%234&x=1+2&bad=%zz%"),
            [
                ("s", "a"),
                ("s", "b c"),
                ("action", "maint"),
                ("b", "#4"),
                ("x", "1 2"),
                ("bad", "%zz%"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }
}
