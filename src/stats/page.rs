//! Serving the stats page and the exporter: from a request's target, credentials and body
//! to the complete HTTP response, rendered on read (a snapshot is taken for this request
//! only). Mode http's session calls [`is_page`]/[`serve`] when a proxy has `stats enable`
//! and [`prometheus`] for `use-service prometheus-exporter`.

use super::admin::{self, Action};
use super::html::PageOpts;
use super::{ObjType, Row, Snapshot, csv, html, json, prom};
use crate::cluster::Shared;
use crate::config::StatsCfg;
use crate::h1::write_response;

/// What the session knows of the request.
pub struct PageRequest<'a> {
    pub target: &'a [u8],
    pub post: bool,
    /// The `Authorization` header's value.
    pub authorization: Option<&'a [u8]>,
    /// The request body (the admin form), when it is all in the buffer.
    pub body: &'a [u8],
    /// `stats admin if COND` holds for this request.
    pub admin: bool,
    pub close: bool,
}

pub struct PageReply {
    pub status: u16,
    pub bytes: Vec<u8>,
    /// Set when credentials were sent and are wrong: the user name, for the log.
    pub failed_login: Option<String>,
}

/// Whether `target` asks for the stats page of a proxy with these settings (HAProxy
/// matches the URI prefix).
pub fn is_page(st: &StatsCfg, target: &[u8]) -> bool {
    st.enabled && target.starts_with(st.uri().as_bytes())
}

/// Whether the `Authorization` value carries one of `users`. Every configured pair is
/// compared, each in constant time, so the time taken says nothing about which part
/// matched.
fn authorized(
    users: &[(String, String)],
    authorization: Option<&[u8]>,
) -> Result<(), Option<String>> {
    use base64::Engine as _;
    use subtle::ConstantTimeEq;
    if users.is_empty() {
        return Ok(());
    }
    let Some(v) = authorization else {
        return Err(None);
    };
    let creds = v
        .strip_prefix(b"Basic ")
        .or_else(|| v.strip_prefix(b"basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim_ascii())
                .ok()
        })
        .unwrap_or_default();
    let (user, pass) = match creds.iter().position(|&c| c == b':') {
        Some(i) => (&creds[..i], &creds[i + 1..]),
        None => (&creds[..], &b""[..]),
    };
    let mut ok = subtle::Choice::from(0u8);
    for (u, p) in users {
        ok |= u.as_bytes().ct_eq(user) & p.as_bytes().ct_eq(pass);
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(Some(String::from_utf8_lossy(user).into_owned()))
    }
}

/// The options after the URI prefix (`;csv`, `;up`, `;st=DONE`, …).
fn has(opts: &str, o: &str) -> bool {
    opts.split(';').any(|x| x == o)
}

/// Whether `stats scope` lets this page show `r` (`.` is the page's own proxy).
fn in_scope(st: &StatsCfg, own: &str, r: &Row) -> bool {
    st.scope.is_empty()
        || st
            .scope
            .iter()
            .any(|n| n == r.name() || (n == "." && r.name() == own))
}

/// The answer to a request for the stats page of proxy `px`.
pub fn serve(shared: &Shared, px: usize, req: &PageRequest) -> PageReply {
    let proxy = &shared.cfg.proxies[px];
    let st = &proxy.stats;
    if let Err(user) = authorized(&st.auth, req.authorization) {
        let realm = st.realm.as_deref().unwrap_or(StatsCfg::DEFAULT_REALM);
        let challenge = format!("Basic realm=\"{}\"", realm.replace('"', "'"));
        return PageReply {
            status: 401,
            bytes: response(
                401,
                b"Unauthorized",
                &[
                    (b"Content-Type", b"text/html"),
                    (b"WWW-Authenticate", challenge.as_bytes()),
                ],
                b"<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
                req.close,
            ),
            failed_login: user,
        };
    }
    let target = String::from_utf8_lossy(req.target);
    let opts = &target[st.uri().len().min(target.len())..];
    if req.post {
        let code = if req.admin {
            post(shared, req.body)
        } else {
            "DENY"
        };
        let loc = format!(
            "{}{};st={code}",
            st.uri(),
            if has(opts, "norefresh") {
                ";norefresh"
            } else {
                ""
            }
        );
        return PageReply {
            status: 303,
            bytes: response(
                303,
                b"See Other",
                &[(b"Location", loc.as_bytes())],
                b"",
                req.close,
            ),
            failed_login: None,
        };
    }
    let snap = super::take(shared);
    let up_only = has(opts, "up");
    // `;up` hides the servers that are down or in maintenance, as HAProxy's does; the
    // address, cookie and algorithm are shown with `stats show-legends` only, as in HAProxy.
    let rows: Vec<Row> = snap
        .rows
        .into_iter()
        .filter(|r| {
            let s = r.status();
            in_scope(st, &proxy.name, r)
                && !(up_only && r.obj == ObjType::Server && (s.starts_with("DOWN") || s == "MAINT"))
        })
        .map(|mut r| {
            if !st.show_legends {
                for k in [super::f::ADDR, super::f::COOKIE, super::f::ALGO] {
                    r.v[k] = super::Val::Empty;
                }
            }
            r
        })
        .collect();
    let (ctype, body): (&[u8], String) = if has(opts, "csv") {
        (b"text/plain", csv::render(&rows))
    } else if has(opts, "json") {
        (b"application/json", json::render(&rows))
    } else {
        let refresh = st
            .refresh
            .filter(|_| !has(opts, "norefresh"))
            .map(|t| t.as_secs().max(1));
        let status = opts
            .split(';')
            .find_map(|x| x.strip_prefix("st="))
            .map(|c| status_text(c).to_string());
        let page_snap = Snapshot {
            rows,
            info: snap.info,
        };
        let o = PageOpts {
            uri: st.uri().to_string(),
            refresh,
            hide_version: st.hide_version,
            show_legends: st.show_legends,
            node: st.show_node.as_ref().map(|n| {
                if n.is_empty() {
                    shared.node.clone()
                } else {
                    n.clone()
                }
            }),
            desc: st.show_desc.clone(),
            admin: req.admin,
            status,
        };
        let refresh_hdr = refresh.map(|r| r.to_string());
        let mut headers: Vec<(&[u8], &[u8])> = vec![(b"Content-Type", b"text/html")];
        if let Some(r) = &refresh_hdr {
            headers.push((b"Refresh", r.as_bytes()));
        }
        return PageReply {
            status: 200,
            bytes: response(
                200,
                b"OK",
                &headers,
                html::render(&page_snap, &o).as_bytes(),
                req.close,
            ),
            failed_login: None,
        };
    };
    PageReply {
        status: 200,
        bytes: response(
            200,
            b"OK",
            &[(b"Content-Type", ctype)],
            body.as_bytes(),
            req.close,
        ),
        failed_login: None,
    }
}

/// A whole response of the page or the exporter: `Cache-Control: no-cache`, then `headers`.
fn response(
    status: u16,
    reason: &[u8],
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut all: Vec<(&[u8], &[u8])> = Vec::with_capacity(headers.len() + 1);
    all.push((b"Cache-Control", b"no-cache"));
    all.extend_from_slice(headers);
    let mut bytes = Vec::new();
    write_response(&mut bytes, status, reason, &all, body, close);
    bytes
}

/// HAProxy's banner text for an admin action's outcome.
fn status_text(code: &str) -> &'static str {
    match code {
        "DONE" => "Action processed successfully.",
        "NONE" => "Nothing has changed.",
        "PART" => "Action not processed for all servers.",
        "ERRP" => "Action not processed because of invalid parameters.",
        "DENY" => "Action denied.",
        _ => "Unexpected result.",
    }
}

/// Applies the admin form in `body`; HAProxy's outcome code.
fn post(shared: &Shared, body: &[u8]) -> &'static str {
    let form = admin::form(body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (Some(action), Some(b)) = (get("action").and_then(Action::parse), get("b")) else {
        return "ERRP";
    };
    let be = match b.strip_prefix('#') {
        Some(id) => shared
            .backends
            .iter()
            .flatten()
            .find(|x| id.parse() == Ok(x.id)),
        None => shared.backend_by_name(b),
    };
    let Some(be) = be else { return "ERRP" };
    let (mut changed, mut missing, mut any) = (0, 0, false);
    for (_, name) in form.iter().filter(|(k, _)| k == "s") {
        any = true;
        match be.lb.servers.iter().position(|s| &s.name == name) {
            Some(i) => {
                if admin::apply(be, i, action) {
                    log::warn!(
                        "Server {}/{} set to {action:?} from the stats page.",
                        be.name,
                        name
                    );
                    changed += 1;
                }
            }
            None => missing += 1,
        }
    }
    match (any, changed, missing) {
        (false, ..) => "ERRP",
        (_, 0, 0) => "NONE",
        (_, _, 0) => "DONE",
        _ => "PART",
    }
}

/// The exporter's answer to `target` (its query string has `scope=` and `no-maint`).
pub fn prometheus(shared: &Shared, target: &[u8], close: bool) -> Vec<u8> {
    let query = memchr::memchr(b'?', target).map_or(&b""[..], |i| &target[i + 1..]);
    let q = prom::Query::parse(&String::from_utf8_lossy(query));
    let body = prom::render(&super::take(shared), &q);
    response(
        200,
        b"OK",
        &[(b"Content-Type", prom::CONTENT_TYPE.as_bytes())],
        body.as_bytes(),
        close,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let users = vec![("admin".to_string(), "s3cret".to_string())];
        assert_eq!(authorized(&[], None), Ok(()));
        assert_eq!(authorized(&users, None), Err(None));
        // "admin:s3cret", "admin:wrong", "nobody"
        assert_eq!(authorized(&users, Some(b"Basic YWRtaW46czNjcmV0")), Ok(()));
        assert_eq!(
            authorized(&users, Some(b"Basic YWRtaW46d3Jvbmc=")),
            Err(Some("admin".into()))
        );
        assert_eq!(
            authorized(&users, Some(b"Basic bm9ib2R5")),
            Err(Some("nobody".into()))
        );
        assert_eq!(authorized(&users, Some(b"Bearer x")), Err(Some("".into())));
    }

    #[test]
    fn page_options() {
        assert!(has(";csv;norefresh", "csv"));
        assert!(has(";up;csv", "up"));
        assert!(!has(";csvx", "csv"));
        let st = StatsCfg {
            enabled: true,
            uri: Some("/stats".into()),
            ..Default::default()
        };
        assert!(is_page(&st, b"/stats;csv"));
        assert!(!is_page(&st, b"/stat"));
        assert!(is_page(
            &StatsCfg {
                enabled: true,
                ..Default::default()
            },
            b"/haproxy?stats"
        ));
        assert!(!is_page(&StatsCfg::default(), b"/haproxy?stats"));
    }
}
