//! `userlist` + `http-request auth` + `http_auth*` fetches, and the error pages chosen by
//! `http-errors` sections, `errorfiles`, `errorloc*` and `http-error`, end to end; then the
//! same configuration through Debian's HAProxy 2.6 and corelb, compared.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

fn ask(port: u16, path: &str, extra: &str) -> HttpResponse {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut w = c.try_clone().unwrap();
    w.write_all(
        format!(
            "GET {path} HTTP/1.1\r\nHost: shop.example.com\r\n{extra}Connection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    read_response(&mut BufReader::new(c), false).unwrap()
}

/// `Authorization: Basic` for `user:pass`.
fn basic(user_pass: &str) -> String {
    use base64::Engine as _;
    format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD.encode(user_pass)
    )
}

/// "secret", hashed by `openssl passwd -6 -salt k6y3o.eP secret`, and bcrypt by libxcrypt.
const SHA512: &str = "$6$k6y3o.eP$PBB.tfeKmQRT5Xl/drYaLsOKR8cBcdOOeaq7JYq7eJWgGHSNlC/M/GdNHKlBiA17WQ1tWOULAGr76LPTfQgB5.";
const BCRYPT: &str = "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a";

/// The configuration both proxies run: `/admin` needs a user of group `admins`, `/app` any
/// user of the list; `/deny/*` answer each way an error page can be chosen.
fn config(dir: &TempDir, port: u16, be: u16) -> String {
    let page = |name: &str, status: &str, body: &str| {
        dir.write(
            name,
            &format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nX-Page: {name}\r\n\r\n{body}",
                body.len()
            ),
        )
        .display()
        .to_string()
    };
    let e403 = page("403.http", "403 Forbidden", "custom forbidden\n");
    let e503 = page("503.http", "503 Service Unavailable", "section 503\n");
    let e429 = page("429.http", "429 Too Many Requests", "slow down\n");
    let e401 = page("401.http", "401 Unauthorized", "who are you?\n");
    let body = dir
        .write("500.txt", "file body 500\n")
        .display()
        .to_string();
    format!(
        "userlist staff
  group admins users tiger
  group devs
  user tiger password {SHA512}
  user scott insecure-password elgato groups devs
  user lion password {BCRYPT} groups devs,admins

http-errors site
  errorfile 503 {e503}
  errorfile 429 {e429}
  errorfile 401 {e401}

defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  errorfile 403 {e403}

frontend fe
  bind 127.0.0.1:{port}
  acl is_admin http_auth_group(staff) admins
  acl known http_auth(staff)
  http-request auth realm Staff if {{ path_beg /admin }} !is_admin
  http-request auth if {{ path_beg /app }} !known
  http-request set-header X-User %[http_auth_user] if {{ path_beg /app }}
  http-request return status 200 content-type text/plain lf-string \"type=%[http_auth_type] user=%[http_auth_user]\\n\" if {{ path /whoami }}
  http-request deny if {{ path /deny/403 }}
  http-request deny deny_status 429 errorfiles site if {{ path /deny/429 }}
  http-request deny deny_status 503 if {{ path /deny/503 }}
  http-request deny deny_status 404 if {{ path /deny/404 }}
  http-request deny deny_status 500 if {{ path /deny/500 }}
  http-request deny deny_status 502 if {{ path /deny/502 }}
  errorfiles site 503
  errorloc302 404 http://example.com/missing
  errorloc303 502 /elsewhere
  http-error status 500 content-type text/plain file {body} hdr X-Err custom
  default_backend be

backend be
  server s1 127.0.0.1:{be}
"
    )
}

/// What a client saw, with the headers that must be the same on both.
fn seen(r: &HttpResponse) -> String {
    let mut h: Vec<String> = [
        "location",
        "www-authenticate",
        "x-page",
        "x-err",
        "content-type",
        "cache-control",
    ]
    .iter()
    .filter_map(|n| r.header(n).map(|v| format!("{n}: {v}")))
    .collect();
    h.sort();
    format!(
        "{} [{}] {:?}",
        r.status,
        h.join("; "),
        String::from_utf8_lossy(&r.body)
    )
}

/// The requests of both tests: (path, extra header lines).
fn requests() -> Vec<(&'static str, String)> {
    vec![
        ("/admin", String::new()),
        ("/admin", basic("tiger:secret")),
        ("/admin", basic("lion:secret")),
        ("/admin", basic("tiger:wrong")),
        ("/admin", basic("scott:elgato")),
        ("/app", String::new()),
        ("/app", basic("scott:elgato")),
        ("/app", basic("scott:elgat")),
        ("/app", basic("nobody:elgato")),
        ("/app", "Authorization: Bearer abc\r\n".to_string()),
        ("/whoami", basic("scott:whatever")),
        ("/deny/403", String::new()),
        ("/deny/429", String::new()),
        ("/deny/503", String::new()),
        ("/deny/404", String::new()),
        ("/deny/500", String::new()),
        ("/deny/502", String::new()),
    ]
}

#[test]
fn userlist_auth_and_error_pages() {
    let dir = TempDir::new("auth");
    let be = Serve::start("be", &[]);
    let port = free_port();
    let _lb = Corelb::start(&config(&dir, port, be.port), &[], &[port]);
    // `errorfiles site 503` imports only 503: the 401 is the built-in page, with the
    // challenge added.
    let r = ask(port, "/admin", "");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"Staff\""));
    let r = ask(port, "/app", "");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"fe\""));
    // The admins group: tiger (SHA-512, member by `group ... users`) and lion (bcrypt,
    // member by `user ... groups`); scott is a valid user but not an admin.
    assert_eq!(ask(port, "/admin", &basic("tiger:secret")).status, 200);
    assert_eq!(ask(port, "/admin", &basic("lion:secret")).status, 200);
    assert_eq!(ask(port, "/admin", &basic("tiger:wrong")).status, 401);
    assert_eq!(ask(port, "/admin", &basic("scott:elgato")).status, 401);
    let r = ask(port, "/app", &basic("scott:elgato"));
    assert_eq!(r.status, 200);
    assert_eq!(ask(port, "/app", &basic("scott:elgat")).status, 401);
    assert_eq!(
        String::from_utf8_lossy(&ask(port, "/whoami", &basic("scott:whatever")).body),
        "type=Basic user=scott\n"
    );
    // Error pages: defaults' errorfile, a deny reply's own section, the proxy's import of
    // one status, errorloc302/303, and http-error.
    let r = ask(port, "/deny/403", "");
    assert_eq!((r.status, r.header("x-page")), (403, Some("403.http")));
    let r = ask(port, "/deny/429", "");
    assert_eq!((r.status, r.header("x-page")), (429, Some("429.http")));
    let r = ask(port, "/deny/503", "");
    assert_eq!((r.status, r.header("x-page")), (503, Some("503.http")));
    let r = ask(port, "/deny/404", "");
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("http://example.com/missing"));
    let r = ask(port, "/deny/502", "");
    assert_eq!((r.status, r.header("location")), (303, Some("/elsewhere")));
    let r = ask(port, "/deny/500", "");
    assert_eq!((r.status, r.header("x-err")), (500, Some("custom")));
    assert_eq!(r.body, b"file body 500\n");
}

#[test]
fn auth_and_error_pages_match_haproxy() {
    let dir = TempDir::new("auth-diff");
    let be = Serve::start("be", &[]);
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&config(&dir, hp, be.port), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&config(&dir, cp, be.port), &[], &[cp]);
    let mut diffs = Vec::new();
    for (path, extra) in requests() {
        let (h, c) = (seen(&ask(hp, path, &extra)), seen(&ask(cp, path, &extra)));
        if h != c {
            diffs.push(format!("{path} {extra:?}\n  haproxy: {h}\n  corelb:  {c}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "corelb and HAProxy differ:\n{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
}

#[test]
fn check_errors_name_the_line() {
    let dir = TempDir::new("auth-check");
    let cases: &[(&str, &str)] = &[
        (
            "userlist L\n  user u password $y$j9T$abc$def\n",
            "cfg:2: 'user u': corelb cannot check this password hash",
        ),
        (
            "userlist L\n  user u insecure-password p groups nope\n",
            "cfg:2: userlist 'L': no such group 'nope' specified in user 'u'",
        ),
        (
            "userlist L\n  group g users ghost\n",
            "cfg:2: userlist 'L': no such user 'ghost' specified in group 'g'",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  acl a http_auth(none)\n  http-request deny if a\n",
            "cfg:4: unable to find userlist 'none'",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  unique-id-format %[http_auth(nolist)]\n",
            "unable to find userlist 'nolist' (referenced by http_auth) in a log format",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  errorfiles missing\n",
            "cfg:4: proxy 'f': unknown http-errors section 'missing'",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  errorloc 302 /x\n",
            "cfg:4: 'errorloc': status code '302' cannot be customized",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  http-request deny errorfiles nope\n",
            "cfg:4: unknown http-errors section 'nope' referenced by an http reply",
        ),
        (
            "http-errors e\n  errorfile 503 /nonexistent/file\n",
            "cfg:2: errorfile 503: cannot read '/nonexistent/file'",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  http-error status 503 string x\n",
            "cfg:4: 'http-error': a content type must be defined",
        ),
        (
            "frontend f\n  mode http\n  bind 127.0.0.1:1\n  http-request auth realm\n",
            "cfg:4: 'http-request auth': missing realm value",
        ),
    ];
    for (text, want) in cases {
        let path = dir.write("cfg", text);
        let (code, _, err) = check_config(&path);
        let err = err.replace(&path.display().to_string(), "cfg");
        assert_eq!(code, 1, "{text}: {err}");
        assert!(err.contains(want), "{text}\nwant {want}\ngot {err}");
    }
}

/// HAProxy 2.6 lets pages replace 421 and 422 as well (`http_err_codes`).
#[test]
fn pages_for_421_and_422() {
    let dir = TempDir::new("err-422");
    let page = dir.write(
        "422.http",
        "HTTP/1.1 422 Unprocessable Content\r\nContent-Length: 5\r\nX-Page: 422\r\n\r\nnope\n",
    );
    let port = free_port();
    let cfg = format!(
        "defaults\n  mode http\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  errorfile 422 {}\n  errorloc 421 /elsewhere\n\
         http-request deny deny_status 422 if {{ path /422 }}\n\
         http-request deny deny_status 421\n",
        page.display()
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let r = ask(port, "/422", "");
    assert_eq!((r.status, r.header("x-page")), (422, Some("422")));
    let r = ask(port, "/421", "");
    assert_eq!((r.status, r.header("location")), (302, Some("/elsewhere")));
}

/// A backend answering 200 with the request's `X-Unique-ID` value as its body.
fn id_echo() -> Backend {
    Backend::start(|s| {
        use std::io::BufRead;
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut id = String::new();
        loop {
            let mut l = String::new();
            if r.read_line(&mut l).unwrap_or(0) == 0 || l == "\r\n" {
                break;
            }
            if let Some((n, v)) = l.split_once(':')
                && n.eq_ignore_ascii_case("x-unique-id")
            {
                id = v.trim().to_string();
            }
        }
        let mut s = s;
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{id}",
            id.len()
        );
    })
}

fn unique_id_config(port: u16, be: u16, format: &str) -> String {
    format!(
        "global\n  log stderr format raw local0\n\
         defaults\n  mode http\n  log global\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n\
         frontend fe\n  bind 127.0.0.1:{port}\n  unique-id-format {format}\n  unique-id-header X-Unique-ID\n\
         log-format \"id=%ID st=%ST\"\n  http-request deny if {{ path /deny }}\n  default_backend be\n\
         backend be\n  server s1 127.0.0.1:{be}\n"
    )
}

/// `unique-id-format` + `unique-id-header`: the server sees the ID, and the log line's `%ID`
/// is the same one (made once per request; for a request that got no further than a
/// `deny`, made for the log).
#[test]
fn unique_id_header_and_log() {
    let be = id_echo();
    let port = free_port();
    let lb = Corelb::start(
        &unique_id_config(port, be.port, "%{+X}o\\ %ci:%cp_%Ts_%rt"),
        &[],
        &[port],
    );
    let id = String::from_utf8(ask(port, "/", "").body).unwrap();
    assert!(id.starts_with("7F000001:"), "{id}");
    assert_eq!(ask(port, "/deny", "").status, 403);
    let log = eventually(Duration::from_secs(5), || {
        let l = lb.log();
        l.contains("st=403").then_some(l)
    })
    .expect("two log lines");
    assert!(log.contains(&format!("id={id} st=200")), "{id}\n{log}");
    assert!(log.contains("id=7F000001:"), "{log}");
}

#[test]
fn unique_id_header_matches_haproxy() {
    let be = id_echo();
    let (hp, cp) = (free_port(), free_port());
    let format = "%{+X}o\\ %ci_%fi:%fp";
    let Some(_h) = Haproxy::start(&unique_id_config(hp, be.port, format), &[hp]) else {
        return;
    };
    let _c = Corelb::start(&unique_id_config(cp, be.port, format), &[], &[cp]);
    let h = String::from_utf8(ask(hp, "/", "").body).unwrap();
    let c = String::from_utf8(ask(cp, "/", "").body).unwrap();
    assert_eq!(h, format!("7F000001_7F000001:{hp:04X}"));
    assert_eq!(c, format!("7F000001_7F000001:{cp:04X}"));
}

/// `http-error status N ... lf-string|lf-file` (and a `hdr` with a log-format value):
/// pages rendered for each response, from a deny, a backend without servers and a
/// `return ... lf-file`.
fn lf_config(dir: &TempDir, port: u16) -> String {
    let page = dir
        .write("503.lf", "<p>%[var(txn.why)] at %[path]</p>\n")
        .display()
        .to_string();
    let ret = dir
        .write("ret.lf", "method=%[method] ua=%[req.hdr(user-agent)]\n")
        .display()
        .to_string();
    format!(
        "defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  http-error status 403 content-type text/plain lf-string \"denied %[path] for %[req.hdr(x-who)]\\n\" hdr X-Method \"%[method]\"

frontend fe
  bind 127.0.0.1:{port}
  http-error status 503 content-type text/html lf-file {page}
  http-error status 429 content-type text/plain string \"plain 429\\n\" hdr X-Src \"%[src]\"
  http-request set-var(txn.why) str(maintenance)
  http-request return status 200 content-type text/plain lf-file {ret} if {{ path /ret }}
  http-request deny if {{ path_beg /deny }}
  http-request deny deny_status 429 if {{ path_beg /slow }}
  http-request deny deny_status 503 if {{ path_beg /down }}
  use_backend empty if {{ path_beg /nosrv }}
  default_backend empty2

backend empty
  http-error status 503 content-type text/plain lf-string \"backend says %[var(txn.why)] to %ci\"

backend empty2
"
    )
}

fn lf_seen(r: &HttpResponse) -> String {
    let mut h: Vec<String> = ["content-type", "x-method", "x-src", "content-length"]
        .iter()
        .filter_map(|n| r.header(n).map(|v| format!("{n}: {v}")))
        .collect();
    h.sort();
    format!(
        "{} [{}] {:?}",
        r.status,
        h.join("; "),
        String::from_utf8_lossy(&r.body)
    )
}

const LF_REQUESTS: &[(&str, &str)] = &[
    ("/deny/a", "X-Who: alice\r\n"),
    ("/deny/b", ""),
    ("/slow", ""),
    ("/down/x?q=1", ""),
    ("/nosrv", ""),
    ("/other", ""),
    ("/ret", "User-Agent: probe/1\r\n"),
];

#[test]
fn log_format_error_pages() {
    let dir = TempDir::new("lf-errors");
    let port = free_port();
    let _lb = Corelb::start(&lf_config(&dir, port), &[], &[port]);
    let r = ask(port, "/deny/a", "X-Who: alice\r\n");
    assert_eq!(r.status, 403);
    assert_eq!(r.body, b"denied /deny/a for alice\n");
    assert_eq!(r.header("x-method"), Some("GET"));
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let r = ask(port, "/slow", "");
    assert_eq!((r.status, r.header("x-src")), (429, Some("127.0.0.1")));
    assert_eq!(r.body, b"plain 429\n");
    let r = ask(port, "/down/x?q=1", "");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"<p>maintenance at /down/x</p>\n");
    // No server: the backend's own page, with the transaction's variable.
    let r = ask(port, "/nosrv", "");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"backend says maintenance to 127.0.0.1");
    // A backend without a page of its own: the frontend's.
    let r = ask(port, "/other", "");
    assert_eq!(r.status, 503);
    assert_eq!(r.body, b"<p>maintenance at /other</p>\n");
    let r = ask(port, "/ret", "User-Agent: probe/1\r\n");
    assert_eq!(r.body, b"method=GET ua=probe/1\n");
}

#[test]
fn log_format_error_pages_match_haproxy() {
    let dir = TempDir::new("lf-errors-diff");
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&lf_config(&dir, hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&lf_config(&dir, cp), &[], &[cp]);
    let mut diffs = Vec::new();
    for (path, extra) in LF_REQUESTS {
        let (h, c) = (
            lf_seen(&ask(hp, path, extra)),
            lf_seen(&ask(cp, path, extra)),
        );
        if h != c {
            diffs.push(format!("{path} {extra:?}\n  haproxy: {h}\n  corelb:  {c}"));
        }
    }
    assert!(
        diffs.is_empty(),
        "corelb and HAProxy differ:\n{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
}

#[test]
fn log_format_error_page_check_errors() {
    let dir = TempDir::new("lf-errors-check");
    let head = "frontend f\n  mode http\n  bind 127.0.0.1:1\n";
    let cases: &[(&str, &str)] = &[
        (
            "  http-error status 503 lf-string x\n",
            "cfg:4: 'http-error': a content type must be defined with a log-format payload",
        ),
        (
            "  http-error status 503 content-type text/plain lf-file /nonexistent/x\n",
            "cfg:4: 'http-error lf-file': cannot read '/nonexistent/x'",
        ),
        (
            "  http-error status 503 content-type text/plain lf-string %[nope]\n",
            "cfg:4: 'http-error'",
        ),
        (
            "  http-error status 403 content-type text/plain string x hdr X-A %[bar]\n",
            "cfg:4: 'http-error hdr'",
        ),
        (
            "  http-request return status 200 lf-string x\n",
            "cfg:4: 'http-request return': a content type must be defined with a log-format payload",
        ),
        (
            "  http-request return status 200 content-type text/plain lf-file /nonexistent/y\n",
            "cfg:4: 'http-request return lf-file': cannot read '/nonexistent/y'",
        ),
    ];
    for (text, want) in cases {
        let path = dir.write("cfg", &format!("{head}{text}"));
        let (code, _, err) = check_config(&path);
        let err = err.replace(&path.display().to_string(), "cfg");
        assert_eq!(code, 1, "{text}: {err}");
        assert!(err.contains(want), "{text}\nwant {want}\ngot {err}");
    }
}
