//! What a proxy's access log looks like: `log-format`, `log-format-sd`,
//! `option httplog [clf]` / `option tcplog`, and `capture request|response header`. The
//! strings are kept as written while the sections are read (a `defaults` section's are
//! inherited) and compiled once at the end ([`compile`]), when each proxy's mode is known.

use super::diag::{Diags, Loc};
use super::model::{Config, Mode, Proxy};
use crate::acl::{LogFormat, ParseCtx};

/// HAProxy's built-in formats (src/log.c).
pub const HTTP_LOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r";
pub const CLF_HTTP_LOG_FORMAT: &str = "%{+Q}o %{-Q}ci - - [%trg] %r %ST %B \"\" \"\" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl";
pub const HTTPS_LOG_FORMAT: &str = "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc";
pub const TCP_LOG_FORMAT: &str =
    "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";

/// HAProxy's `tune.http.cookielen` default: the longest captured cookie.
const COOKIE_LEN: usize = 63;

/// One `capture request|response header NAME len N` (or `capture cookie NAME len N`), or a
/// slot of `declare capture request|response len N` / `http-request capture … len N`,
/// which has no name and is filled by `http-request capture` rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capture {
    /// The header; empty for a declared slot (no header has an empty name).
    pub name: String,
    pub len: usize,
}

/// A proxy's access-log settings.
#[derive(Clone, Debug, Default)]
pub struct LogFormats {
    /// `log-format`, as written.
    pub format: Option<(String, Loc)>,
    /// `log-format-sd`, as written.
    pub sd: Option<(String, Loc)>,
    /// `option httplog clf`.
    pub clf: bool,
    /// `option httpslog`.
    pub https: bool,
    /// `error-log-format`, as written: the line of a connection that ends in an error
    /// before it carries a stream (a failed TLS handshake).
    pub error_format: Option<(String, Loc)>,
    /// Compiled `error-log-format`.
    pub error_line: Option<LogFormat>,
    /// `option dontlog-normal`: only streams that end in an error are logged.
    pub dontlog_normal: bool,
    /// `option log-separate-errors`: those are logged at level `err` instead of `info`.
    pub separate_errors: bool,
    /// `option logasap`: an HTTP stream is logged when its response head goes to the
    /// client, a TCP one when its server connection is established; the total times
    /// (`%Ta`, `%Tt`, `%Tu`) and `%B` of every line are then marked with `+`.
    pub logasap: bool,
    /// Whether a stream is logged early, as `option logasap` does: with that option, or
    /// when none of the proxy's format strings has anything only the stream's end knows
    /// (HAProxy's `LW_BYTES`: `%B`, `%U`, the timers, `%ts`, the connection counts...).
    pub asap: bool,
    /// `log-tag`: this proxy's syslog tag (the global one otherwise).
    pub tag: Option<String>,
    pub req_captures: Vec<Capture>,
    pub res_captures: Vec<Capture>,
    /// `capture cookie NAME len N`: the name is a prefix (`NAME=` for an exact one).
    pub cookie: Option<Capture>,
    /// Compiled by [`compile`]: the line of each finished stream, if this proxy logs one.
    pub line: Option<LogFormat>,
    /// Compiled `log-format-sd`.
    pub sd_line: Option<LogFormat>,
    /// `unique-id-format`, as written.
    pub unique_id: Option<(String, Loc)>,
    /// `unique-id-header NAME`: the request header that carries the unique ID.
    pub unique_id_header: Option<String>,
    /// Compiled `unique-id-format`.
    pub unique_id_line: Option<LogFormat>,
}

/// `capture request header NAME len N` / `capture response header NAME len N` (frontend).
pub fn capture_kw(f: &mut LogFormats, args: &[String], loc: &Loc, d: &mut Diags) {
    let arg = |i: usize| args.get(i).map(String::as_str);
    match (arg(0), arg(1), arg(2), arg(3), arg(4)) {
        (
            Some(dir @ ("request" | "response")),
            Some("header"),
            Some(name),
            Some("len"),
            Some(n),
        ) => {
            let Ok(len) = n.parse::<usize>() else {
                d.error(
                    loc,
                    format!("'capture {dir} header' expects a length, not '{n}'"),
                );
                return;
            };
            if len == 0 || len > 64 * 1024 {
                d.error(
                    loc,
                    format!("'capture {dir} header' length {len} is out of range (1..65536)"),
                );
                return;
            }
            if let Some(x) = arg(5) {
                d.error(
                    loc,
                    format!("unexpected argument '{x}' after 'capture {dir} header'"),
                );
            }
            let c = Capture {
                name: name.to_string(),
                len,
            };
            if dir == "request" {
                f.req_captures.push(c);
            } else {
                f.res_captures.push(c);
            }
        }
        (Some("cookie"), name, len_kw, n, extra) => {
            let (Some(name), Some("len"), Some(n)) = (name, len_kw, n) else {
                d.error(loc, "'capture' expects 'cookie' <cookie_name> 'len' <len>.");
                return;
            };
            if let Some(x) = extra {
                d.error(
                    loc,
                    format!("unexpected argument '{x}' after 'capture cookie'"),
                );
                return;
            }
            let Ok(len) = n.parse::<usize>() else {
                d.error(loc, format!("'capture cookie' expects a length, not '{n}'"));
                return;
            };
            // HAProxy keeps at most tune.http.cookielen (63) bytes; a later line
            // replaces an earlier one, as there.
            f.cookie = Some(Capture {
                name: name.to_string(),
                len: len.min(COOKIE_LEN),
            });
        }
        _ => d.error(
            loc,
            "'capture' expects 'request header NAME len N' or 'response header NAME len N'",
        ),
    }
}

/// `declare capture request|response len N` (frontend): a capture slot that
/// `http-request capture … id N` fills.
pub fn declare_kw(f: &mut LogFormats, args: &[String], loc: &Loc, d: &mut Diags) {
    let arg = |i: usize| args.get(i).map(String::as_str);
    if arg(0) != Some("capture") {
        d.error(loc, "'declare' expects 'capture'");
        return;
    }
    let response = match arg(1) {
        Some("request") => false,
        Some("response") => true,
        _ => {
            d.error(
                loc,
                "'declare capture' requires a direction ('request' or 'response')",
            );
            return;
        }
    };
    if arg(2) != Some("len") {
        d.error(loc, "'declare capture' requires a capture length ('len')");
        return;
    }
    let n = arg(3).unwrap_or("");
    let len = match n.parse::<usize>() {
        Ok(l) if l > 0 => l,
        _ => {
            d.error(
                loc,
                format!("'declare capture': cannot parse the length '{n}'."),
            );
            return;
        }
    };
    if let Some(x) = arg(4) {
        d.error(
            loc,
            format!("unexpected argument '{x}' after 'declare capture'"),
        );
        return;
    }
    let c = Capture {
        name: String::new(),
        len,
    };
    if response {
        f.res_captures.push(c);
    } else {
        f.req_captures.push(c);
    }
}

/// Compiles each frontend's formats; errors name the line of the format (or of the
/// `option` that chose a built-in one).
pub fn compile(cfg: &mut Config, d: &mut Diags) {
    for px in cfg.proxies.iter_mut().filter(|p| p.kind.is_frontend()) {
        compile_proxy(px, d);
    }
}

fn compile_proxy(px: &mut Proxy, d: &mut Diags) {
    let http = px.mode == Mode::Http;
    // HAProxy's check_action_req_capture_by_id, for a frontend's own rules (a backend's
    // refer to whichever frontend's captures at run time).
    let slots = px.logging.req_captures.len();
    for r in &px.http_request {
        if let crate::config::model::HttpAction::Capture { id, .. } = &r.action
            && *id >= slots
        {
            d.error(
                &r.loc,
                format!(
                    "Proxy '{}': unable to find capture id '{id}' referenced by http-request capture rule.",
                    px.name
                ),
            );
        }
    }
    let slots = px.logging.res_captures.len();
    // (HAProxy 2.6 names an `http-after-response capture` an http-response one too.)
    for r in px.http_response.iter().chain(&px.http_after_response) {
        if let crate::config::model::HttpAction::Capture { id, .. } = &r.action
            && *id >= slots
        {
            d.error(
                &r.loc,
                format!(
                    "Proxy '{}': unable to find capture id '{id}' referenced by http-response capture rule.",
                    px.name
                ),
            );
        }
    }
    let one = |text: &str, loc: &Loc, what: &str, d: &mut Diags| {
        let mut ctx = ParseCtx::new(&px.name);
        // A unique ID is made while the request is read; the others when the stream ends.
        use crate::acl::placement::ckp;
        ctx.place = match what {
            "unique-id" => px.kind.place(ckp::FE_HRQ_HDR, ckp::BE_HRQ_HDR),
            _ => ckp::FE_LOG_END,
        };
        // `show map` names the directive's line.
        crate::acl::patref::set_line(&loc.file, loc.line);
        let r = LogFormat::parse_log(text, &mut ctx, http);
        for w in ctx.warnings {
            d.warn(loc, w);
        }
        r.map_err(|e| d.error(loc, format!("failed to parse {what} : {e}")))
            .ok()
    };
    let f = &px.logging;
    let line = match &f.format {
        Some((text, loc)) => one(text, loc, "log-format", d),
        None if px.http.httplog && http => {
            let (text, what) = if f.clf {
                (CLF_HTTP_LOG_FORMAT, "option httplog")
            } else if f.https {
                (HTTPS_LOG_FORMAT, "option httpslog")
            } else {
                (HTTP_LOG_FORMAT, "option httplog")
            };
            one(text, &px.loc, what, d)
        }
        None if px.options.tcplog || px.http.httplog => {
            if px.http.httplog && !px.options.tcplog {
                let what = if f.https { "httpslog" } else { "httplog" };
                d.warn(
                    &px.loc,
                    format!("'option {what}' not usable with {} '{}' (needs 'mode http'). Falling back to 'option tcplog'", px.kind.name(), px.name),
                );
            }
            one(TCP_LOG_FORMAT, &px.loc, "option tcplog", d)
        }
        None => None,
    };
    let sd_line =
        f.sd.as_ref()
            .and_then(|(t, loc)| one(t, loc, "log-format-sd", d));
    let uid = f
        .unique_id
        .as_ref()
        .filter(|(t, _)| !t.is_empty())
        .and_then(|(t, loc)| one(t, loc, "unique-id", d));
    let error_line = f
        .error_format
        .as_ref()
        .and_then(|(t, loc)| one(t, loc, "error-log-format", d));
    let f = &mut px.logging;
    let formats = [&line, &sd_line, &uid, &error_line];
    let wait = formats
        .iter()
        .any(|l| l.as_ref().is_some_and(LogFormat::waits_for_the_end));
    f.asap = f.logasap || (line.is_some() && !wait);
    f.error_line = error_line;
    f.line = line;
    f.sd_line = sd_line;
    f.unique_id_line = uid;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_formats_parse() {
        let mut ctx = ParseCtx::new("fe");
        for f in [HTTP_LOG_FORMAT, CLF_HTTP_LOG_FORMAT, HTTPS_LOG_FORMAT] {
            LogFormat::parse_log(f, &mut ctx, true).unwrap();
        }
        LogFormat::parse_log(TCP_LOG_FORMAT, &mut ctx, false).unwrap();
        let e = LogFormat::parse_log("%ci %r", &mut ctx, false).unwrap_err();
        assert!(
            e.contains("format variable 'r' is reserved for HTTP mode"),
            "{e}"
        );
        let e = LogFormat::parse_log("%ci %zz", &mut ctx, true).unwrap_err();
        assert!(e.contains("no such format variable '%zz'"), "{e}");
    }

    #[test]
    fn capture_cookie_is_parsed_with_haproxy_errors() {
        let mut p = crate::config::parser::Parser::new();
        p.parse_str(
            "t.cfg",
            "defaults\n mode http\nfrontend f\n bind :1\n capture cookie SID len 100\n capture cookie SID= len 8\n capture cookie X\n capture cookie X len 4 extra\n capture cookie X len z\n",
        );
        let (_, d) = p.finish();
        let e: Vec<String> = d
            .list
            .iter()
            .map(|m| format!("{}: {}", m.loc.as_ref().unwrap(), m.msg))
            .collect();
        let e = e.join("\n");
        for want in [
            "t.cfg:7: 'capture' expects 'cookie' <cookie_name> 'len' <len>.",
            "t.cfg:8: unexpected argument 'extra' after 'capture cookie'",
            "t.cfg:9: 'capture cookie' expects a length, not 'z'",
        ] {
            assert!(e.contains(want), "missing {want:?} in\n{e}");
        }
        let mut f = LogFormats::default();
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let loc = Loc::new(&std::sync::Arc::from("t.cfg"), 1);
        let mut d = Diags::default();
        capture_kw(&mut f, &w("cookie SID len 100"), &loc, &mut d);
        capture_kw(&mut f, &w("cookie ASP len 8"), &loc, &mut d);
        // The last line wins; the length stops at tune.http.cookielen.
        assert_eq!(
            f.cookie.as_ref().map(|c| (&*c.name, c.len)),
            Some(("ASP", 8))
        );
        capture_kw(&mut f, &w("cookie SID len 100"), &loc, &mut d);
        assert_eq!(f.cookie.map(|c| c.len), Some(63));
        assert!(d.list.is_empty());
    }
}
