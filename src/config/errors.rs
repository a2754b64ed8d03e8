//! Error pages: `http-errors` sections and the proxy keywords that choose pages (`errorfile`,
//! `errorfiles`, `errorloc`, `errorloc302`, `errorloc303`, `http-error`), as HAProxy 2.6
//! defines them (src/http_htx.c).
//!
//! A proxy keeps its directives in order ([`ErrorConf`]; a `defaults` section's come first);
//! once every section is read, [`resolve`] applies them in that order into the proxy's
//! `errorfiles` — later ones win, as in HAProxy's `proxy_check_errors` — so the request path
//! only looks a status up in a short list of complete responses.

use super::diag::{Diags, Loc};
use super::model::{Config, HttpAction, Proxy, ReplyBody};
use super::parser::ERRORFILE_CODES;
use super::units::parse_uint;
use crate::tls::options::TlsGlobals;
use std::sync::Arc;

/// One error-page directive of a proxy, in the order written.
#[derive(Clone, Debug)]
pub enum ErrorConf {
    /// `errorfile`, `errorloc*`, `http-error`: the complete response for a status.
    Page(u16, Arc<[u8]>),
    /// `http-error status N ... lf-string F | lf-file F` (or a `hdr` with a log-format
    /// value): the answer is rendered for each response.
    Lf(u16, Arc<super::model::Reply>),
    /// `errorfiles NAME [CODE...]` (no code: every page the section has).
    Section {
        name: String,
        codes: Vec<u16>,
        loc: Loc,
    },
}

/// An `http-errors` section: its `errorfile` pages.
#[derive(Clone, Debug)]
pub struct HttpErrors {
    pub name: String,
    pub loc: Loc,
    pub pages: Vec<(u16, Arc<[u8]>)>,
}

impl HttpErrors {
    fn page(&self, code: u16) -> Option<&Arc<[u8]>> {
        self.pages.iter().find(|(c, _)| *c == code).map(|(_, p)| p)
    }
}

fn codes_list() -> String {
    ERRORFILE_CODES
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A status code HAProxy lets a page replace, or an error naming the ones it does.
fn code_arg(kw: &str, v: &str, loc: &Loc, d: &mut Diags) -> Option<u16> {
    match parse_uint(v, 100, 599) {
        Ok(c) if ERRORFILE_CODES.contains(&(c as u16)) => Some(c as u16),
        _ => {
            d.error(
                loc,
                format!(
                    "'{kw}': status code '{v}' cannot be customized (one of {})",
                    codes_list()
                ),
            );
            None
        }
    }
}

/// `errorfile CODE FILE` (a proxy's or an `http-errors` section's): the file is a complete
/// HTTP response, sent as it is.
pub(crate) fn errorfile(w: &[String], loc: &Loc, d: &mut Diags) -> Option<(u16, Arc<[u8]>)> {
    let (Some(code), Some(file)) = (w.get(1), w.get(2)) else {
        d.error(loc, "'errorfile' expects <code> <file>");
        return None;
    };
    let code = code_arg("errorfile", code, loc, d)?;
    let bytes = read_response(file, &format!("errorfile {code}"), loc, d)?;
    Some((code, bytes))
}

/// A file holding a complete HTTP response (`errorfile`), read at load time.
pub(crate) fn read_response(file: &str, what: &str, loc: &Loc, d: &mut Diags) -> Option<Arc<[u8]>> {
    match std::fs::read(file) {
        Ok(bytes) if bytes.starts_with(b"HTTP/1.") => Some(bytes.into()),
        Ok(_) => {
            d.error(
                loc,
                format!(
                    "{what}: '{file}' is not an HTTP response (it must start with the status line)"
                ),
            );
            None
        }
        Err(e) => {
            d.error(loc, format!("{what}: cannot read '{file}': {e}"));
            None
        }
    }
}

pub(crate) fn errorfile_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    if let Some((code, bytes)) = errorfile(w, loc, d) {
        px.http.error_conf.push(ErrorConf::Page(code, bytes));
    }
}

/// `errorloc|errorloc302|errorloc303 CODE URL`: the page becomes a redirect to URL, written
/// as HAProxy writes it (`http_parse_errorloc`).
pub(crate) fn errorloc_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, _: &TlsGlobals) {
    let kw = w[0].as_str();
    let (Some(code), Some(url)) = (w.get(1), w.get(2)) else {
        d.error(
            loc,
            format!("'{kw}' expects <status_code> and <url> as arguments"),
        );
        return;
    };
    if let Some(extra) = w.get(3) {
        d.error(loc, format!("'{kw}': unexpected argument '{extra}'"));
        return;
    }
    let Some(code) = code_arg(kw, code, loc, d) else {
        return;
    };
    let head: &[u8] = if kw == "errorloc303" {
        b"HTTP/1.1 303 See Other\r\n"
    } else {
        b"HTTP/1.1 302 Found\r\n"
    };
    let mut page = head.to_vec();
    page.extend_from_slice(b"Cache-Control: no-cache\r\nContent-length: 0\r\nLocation: ");
    page.extend_from_slice(url.as_bytes());
    page.extend_from_slice(b"\r\n\r\n");
    px.http.error_conf.push(ErrorConf::Page(code, page.into()));
}

/// `errorfiles NAME [CODE...]`.
pub(crate) fn errorfiles_kw(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    let Some(name) = w.get(1) else {
        d.error(loc, "'errorfiles' expects <name> as argument");
        return;
    };
    let mut codes = Vec::new();
    for c in &w[2..] {
        match code_arg("errorfiles", c, loc, d) {
            Some(c) => codes.push(c),
            None => return,
        }
    }
    px.http.error_conf.push(ErrorConf::Section {
        name: name.clone(),
        codes,
        loc: loc.clone(),
    });
}

/// `http-error status CODE [content-type T] [string S | lf-string F | file F | lf-file F |
/// errorfile F | errorfiles NAME | default-errorfiles] [hdr NAME VALUE]...`: the page for
/// CODE. A constant page is built once, at load time; one with a log-format body
/// (`lf-string`, `lf-file`) or a `hdr` whose value has a `%` is kept as a [`Reply`] and
/// rendered for each response, as HAProxy's `HTTP_REPLY_LOGFMT`.
///
/// [`Reply`]: super::model::Reply
pub(crate) fn http_error_kw(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &TlsGlobals,
) {
    if w.get(1).map(String::as_str) != Some("status") {
        d.error(
            loc,
            "'http-error' expects at least a 'status <code>' argument",
        );
        return;
    }
    let Some(code) = w.get(2).and_then(|c| code_arg("http-error", c, loc, d)) else {
        if w.get(2).is_none() {
            d.error(loc, "'http-error status' expects a status code");
        }
        return;
    };
    let mut ctype: Option<&str> = None;
    let mut body: Option<Vec<u8>> = None;
    // A log-format body (`lf-string`, or the text of an `lf-file`).
    let mut lf_body: Option<String> = None;
    let mut hdrs: Vec<(&str, &str)> = Vec::new();
    let mut i = 3;
    while i < w.len() {
        let k = w[i].as_str();
        let v = w.get(i + 1).map(String::as_str);
        let Some(v) = v else {
            if k == "default-errorfiles" {
                // The proxy's page stays what it was.
                return;
            }
            d.error(loc, format!("'http-error {k}' expects a value"));
            return;
        };
        match k {
            "content-type" => ctype = Some(v),
            "string" => (body, lf_body) = (Some(v.as_bytes().to_vec()), None),
            "lf-string" => (body, lf_body) = (None, Some(v.to_string())),
            "file" | "lf-file" => match std::fs::read(v) {
                Ok(b) if k == "file" => (body, lf_body) = (Some(b), None),
                Ok(b) => match String::from_utf8(b) {
                    Ok(t) => (body, lf_body) = (None, Some(t)),
                    Err(_) => {
                        d.error(
                            loc,
                            format!("'http-error lf-file': '{v}' is not UTF-8 text"),
                        );
                        return;
                    }
                },
                Err(e) => {
                    d.error(loc, format!("'http-error {k}': cannot read '{v}': {e}"));
                    return;
                }
            },
            "errorfile" => {
                if let Some(p) = read_response(v, "'http-error errorfile'", loc, d) {
                    px.http.error_conf.push(ErrorConf::Page(code, p));
                }
                return;
            }
            "errorfiles" => {
                px.http.error_conf.push(ErrorConf::Section {
                    name: v.to_string(),
                    codes: vec![code],
                    loc: loc.clone(),
                });
                return;
            }
            "hdr" => {
                let Some(val) = w.get(i + 2) else {
                    d.error(
                        loc,
                        "'http-error hdr' expects <name> and <value> as arguments",
                    );
                    return;
                };
                if ["content-length", "transfer-encoding", "content-type"]
                    .iter()
                    .any(|h| v.eq_ignore_ascii_case(h))
                {
                    d.warn(
                        loc,
                        format!("header '{v}' always ignored by the http reply"),
                    );
                } else {
                    hdrs.push((v, val));
                }
                i += 1;
            }
            o => {
                d.error(loc, format!("'http-error': unknown keyword '{o}'"));
                return;
            }
        }
        i += 2;
    }
    if lf_body.is_some() || hdrs.iter().any(|(_, v)| v.contains('%')) {
        if lf_body.is_some() && ctype.is_none() {
            d.error(
                loc,
                "'http-error': a content type must be defined with a log-format payload",
            );
            return;
        }
        let body = match (lf_body, body) {
            (Some(t), _) => crate::config::parser::logformat(px, &t, "'http-error'", loc, d)
                .map(ReplyBody::Text),
            (None, Some(b)) if !b.is_empty() => Some(ReplyBody::File(b.into())),
            _ => Some(ReplyBody::Empty),
        };
        let Some(body) = body else { return };
        if !matches!(body, ReplyBody::Empty) && ctype.is_none() {
            d.error(
                loc,
                "'http-error': a content type must be defined when non-empty payload is configured",
            );
            return;
        }
        let mut headers = Vec::new();
        for (n, v) in hdrs {
            let Some(f) = crate::config::parser::logformat(px, v, "'http-error hdr'", loc, d)
            else {
                return;
            };
            headers.push((n.to_string(), f));
        }
        let reply = super::model::Reply {
            status: code,
            // HAProxy names no type for an empty body.
            content_type: ctype
                .filter(|_| !matches!(body, ReplyBody::Empty))
                .map(str::to_string),
            body,
            headers,
        };
        px.http
            .error_conf
            .push(ErrorConf::Lf(code, Arc::new(reply)));
        return;
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() && ctype.is_none() {
        d.error(
            loc,
            "'http-error': a content type must be defined when non-empty payload is configured",
        );
        return;
    }
    let mut headers: Vec<(&[u8], &[u8])> = Vec::new();
    if let Some(ct) = ctype.filter(|_| !body.is_empty()) {
        headers.push((b"content-type", ct.as_bytes()));
    }
    headers.extend(hdrs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let reason = crate::h1::reason_phrase(code);
    let mut page = Vec::with_capacity(128 + body.len());
    crate::h1::write_response(&mut page, code, reason.as_bytes(), &headers, &body, false);
    px.http.error_conf.push(ErrorConf::Page(code, page.into()));
}

/// The `errorfile` lines of an `http-errors` section.
pub(crate) fn section_kw(s: &mut HttpErrors, w: &[String], loc: &Loc, d: &mut Diags) {
    if w[0] != "errorfile" {
        d.error(
            loc,
            format!(
                "unknown keyword '{}' in 'http-errors' section (only 'errorfile')",
                w[0]
            ),
        );
        return;
    }
    if let Some((code, page)) = errorfile(w, loc, d) {
        s.pages.retain(|(c, _)| *c != code);
        s.pages.push((code, page));
    }
}

/// Applies every proxy's directives into its `errorfiles`, and points `deny`/`return`
/// replies with `errorfiles NAME` at the section's page (HAProxy's `proxy_check_errors` and
/// `http_check_http_reply`).
pub fn resolve(cfg: &mut Config, sections: &[HttpErrors], d: &mut Diags) {
    let find = |name: &str| sections.iter().find(|s| s.name == name);
    for px in &mut cfg.proxies {
        let mut pages: Vec<(u16, Arc<[u8]>)> = Vec::new();
        let mut lf: Vec<(u16, Arc<super::model::Reply>)> = Vec::new();
        let mut set = |code: u16, p: Result<&Arc<[u8]>, &Arc<super::model::Reply>>| {
            lf.retain(|(c, _)| *c != code);
            pages.retain(|(c, _)| *c != code);
            match p {
                Ok(p) => pages.push((code, p.clone())),
                Err(r) => lf.push((code, r.clone())),
            }
        };
        for c in &px.http.error_conf {
            match c {
                ErrorConf::Page(code, p) => set(*code, Ok(p)),
                ErrorConf::Lf(code, r) => set(*code, Err(r)),
                ErrorConf::Section { name, codes, loc } => {
                    let Some(s) = find(name) else {
                        d.error(
                            loc,
                            format!("proxy '{}': unknown http-errors section '{name}'", px.name),
                        );
                        continue;
                    };
                    if codes.is_empty() {
                        for (code, p) in &s.pages {
                            set(*code, Ok(p));
                        }
                    }
                    for code in codes {
                        match s.page(*code) {
                            Some(p) => set(*code, Ok(p)),
                            None => d.warn(
                                loc,
                                format!(
                                    "proxy '{}': status '{code}' not declared in http-errors section '{name}'",
                                    px.name
                                ),
                            ),
                        }
                    }
                }
            }
        }
        px.http.errorfiles = pages;
        px.http.lf_errors = lf;
        for r in px
            .http_request
            .iter_mut()
            .chain(px.http_response.iter_mut())
        {
            let (HttpAction::Return(rep)
            | HttpAction::Deny {
                reply: Some(rep), ..
            }
            | HttpAction::Tarpit {
                reply: Some(rep), ..
            }) = &mut r.action
            else {
                continue;
            };
            let ReplyBody::Section(name) = &rep.body else {
                continue;
            };
            match find(name) {
                Some(s) => match s.page(rep.status) {
                    Some(p) => rep.body = ReplyBody::Raw(p.clone()),
                    None => {
                        d.warn(
                            &r.loc,
                            format!(
                                "status '{}' referenced by an http reply not declared in http-errors section '{name}'",
                                rep.status
                            ),
                        );
                        rep.body = ReplyBody::ErrorPage;
                    }
                },
                None => d.error(
                    &r.loc,
                    format!("unknown http-errors section '{name}' referenced by an http reply"),
                ),
            }
        }
    }
}
