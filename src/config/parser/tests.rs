use super::*;

fn errors(text: &str) -> Vec<String> {
    let (_, d) = parse_text(text);
    d.list
        .iter()
        .filter(|d| d.level == super::super::diag::Level::Error)
        .map(|d| d.to_string())
        .collect()
}

const BASE: &str =
    "defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 5s\n  timeout server 5s\n";

/// The names of the keywords of `table` that have a handler.
fn handled<H>(table: &[keywords::Kw<H>]) -> impl Iterator<Item = &'static str> + '_ {
    table
        .iter()
        .filter(|k| matches!(k.status, Status::Supported(_) | Status::Stored(..)))
        .map(|k| k.name)
}

#[test]
fn every_handler_runs_on_a_short_line() {
    // Handlers index their words: none may panic on a line with one argument.
    for k in handled(keywords::GLOBAL) {
        parse_text(&format!("global\n {k} 1\n"));
    }
    for k in handled(keywords::PROXY) {
        parse_text(&format!("listen x\n {k} 1\n"));
        parse_text(&format!("listen x\n {k}\n"));
    }
    for k in handled(keywords::OPTION) {
        parse_text(&format!("listen x\n option {k}\n"));
        parse_text(&format!("listen x\n no option {k} 1\n"));
    }
    for k in handled(keywords::BIND) {
        parse_text(&format!("listen x\n bind :1 {k} 1\n"));
    }
    for k in handled(keywords::SERVER) {
        parse_text(&format!("backend x\n server s 127.0.0.1:1 {k} 1\n"));
    }
}

#[test]
fn tls_keywords_and_only_they_reach_the_tls_settings() {
    use crate::tls::options::{BIND_KEYWORDS, GLOBAL_KEYWORDS, SERVER_KEYWORDS, TlsGlobals};
    // Global: a TLS keyword says exactly what the TLS settings say; no other keyword is
    // handed to them (they would refuse it as "not a TLS global keyword").
    for k in handled(keywords::GLOBAL) {
        let mut p = Parser::new();
        p.parse_str("t.cfg", &format!("global\n {k} a b c\n"));
        let got: Vec<&str> = p.diags.list.iter().map(|d| d.msg.as_str()).collect();
        if GLOBAL_KEYWORDS.contains(&k) {
            let want = match TlsGlobals::default().apply(k, &["a", "b", "c"]) {
                Ok(warnings) => warnings,
                Err(e) => vec![e],
            };
            assert_eq!(got, want, "{k}");
        } else {
            assert!(
                !got.iter().any(|m| m.contains("not a TLS global keyword")),
                "{k}: {got:?}"
            );
        }
    }
    for name in GLOBAL_KEYWORDS {
        assert!(handled(keywords::GLOBAL).any(|k| k == *name), "{name}");
    }
    // Bind and server lines: the TLS handler is the only one that creates the TLS settings.
    let takes =
        |list: &[(&str, bool)], flags: &[&str], k: &str| match list.iter().find(|(n, _)| *n == k) {
            Some((_, t)) => *t,
            None => !flags.contains(&k),
        };
    for k in handled(keywords::BIND) {
        let val = if takes(BIND_KEYWORDS, bind::BIND_FLAGS, k) {
            " 1"
        } else {
            ""
        };
        let mut p = Parser::new();
        p.parse_str("t.cfg", &format!("frontend f\n bind :1 {k}{val}\n"));
        let tls = p.proxies[0].binds[0].tls.is_some();
        assert_eq!(tls, BIND_KEYWORDS.iter().any(|(n, _)| *n == k), "{k}");
    }
    for k in handled(keywords::SERVER) {
        let val = if takes(SERVER_KEYWORDS, server::SERVER_FLAGS, k) {
            " 1"
        } else {
            ""
        };
        let mut p = Parser::new();
        p.parse_str(
            "t.cfg",
            &format!("backend b\n server s 127.0.0.1:1 {k}{val}\n"),
        );
        let tls = p.proxies[0].servers[0].params.tls.is_some();
        assert_eq!(tls, SERVER_KEYWORDS.iter().any(|(n, _)| *n == k), "{k}");
    }
    // (SSLv3, TLS 1.0 and 1.1 are refused by the tables, by design, before any handler.)
    fn never<H>(t: &'static [keywords::Kw<H>], name: &str) -> bool {
        keywords::find(t, name).is_some_and(|k| matches!(k.status, keywords::Status::Never(_)))
    }
    for (name, _) in BIND_KEYWORDS {
        assert!(
            handled(keywords::BIND).any(|k| k == *name) || never(keywords::BIND, name),
            "{name}"
        );
    }
    for (name, _) in SERVER_KEYWORDS {
        assert!(
            handled(keywords::SERVER).any(|k| k == *name) || never(keywords::SERVER, name),
            "{name}"
        );
    }
}

#[test]
fn defaults_apply_to_following_sections() {
    let text = format!(
        "{BASE}  retries 5\nfrontend f\n  bind 127.0.0.1:8000\n  default_backend b\nbackend b\n  server s1 127.0.0.1:9000\ndefaults\n  mode tcp\nbackend c\n"
    );
    let (cfg, d) = parse_text(&text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    let b = &cfg.proxies[cfg.proxy_by_name("b", true).unwrap()];
    assert_eq!(b.retries, 5);
    assert_eq!(b.timeouts.connect, Some(Duration::from_secs(5)));
    let c = &cfg.proxies[cfg.proxy_by_name("c", true).unwrap()];
    assert_eq!(c.retries, 3, "a new defaults section resets settings");
    assert_eq!(c.timeouts.connect, None);
}

#[test]
fn named_defaults() {
    let text = "defaults slow\n timeout connect 9s\ndefaults fast\n timeout connect 1s\nbackend b from slow\nbackend c\n";
    let (cfg, d) = parse_text(text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(
        cfg.proxies[0].timeouts.connect,
        Some(Duration::from_secs(9))
    );
    assert_eq!(
        cfg.proxies[1].timeouts.connect,
        Some(Duration::from_secs(1))
    );
    assert!(errors("backend b from nope\n")[0].contains("defaults section 'nope' not found"));
}

#[test]
fn old_frontend_syntax() {
    let text = format!(
        "{BASE}frontend f 127.0.0.1:8000\ndefault_backend b\nbackend b\nserver s 127.0.0.1:80\n"
    );
    let (cfg, d) = parse_text(&text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(
        cfg.proxies[0].binds[0].addr.inet(),
        Some("127.0.0.1:8000".parse().unwrap())
    );
    assert!(d.list.iter().any(|d| d.msg.contains("old syntax")));
}

#[test]
fn bind_port_range_and_list() {
    let text = format!(
        "{BASE}listen l\n bind 127.0.0.1:8000-8002,127.0.0.2:9000 backlog 10\n server s 127.0.0.1:1\n"
    );
    let (cfg, d) = parse_text(&text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(cfg.proxies[0].binds.len(), 4);
    assert_eq!(cfg.proxies[0].binds[3].backlog, Some(10));
}

#[test]
fn error_cases_name_the_line() {
    let e = errors("global\n  maxconn 10\nfrontend f\n  bnd :80\n");
    assert!(
        e.iter()
            .any(|m| m.starts_with("t.cfg:4: unknown keyword 'bnd'")
                && m.contains("did you mean 'bind'")),
        "{e:?}"
    );
    let e = errors("defaults\n timeout connect 5x\n");
    assert!(
        e[0].starts_with("t.cfg:2: 'timeout connect': unexpected character 'x'"),
        "{e:?}"
    );
    let e = errors("global\n maxconn lots\n");
    assert!(
        e[0].starts_with("t.cfg:2: 'maxconn': 'lots' is not a valid number"),
        "{e:?}"
    );
    let e = errors("backend b\n balance fast\n");
    assert!(
        e[0].starts_with("t.cfg:2: unknown balance algorithm 'fast'"),
        "{e:?}"
    );
    let e = errors("backend b\n server s1\n");
    assert!(
        e[0].starts_with("t.cfg:2: 'server' expects <name> and <addr>"),
        "{e:?}"
    );
    let e = errors("backend b\n server s1 check\n");
    assert!(e[0].contains("has no address"), "{e:?}");
    let e = errors("frontend f\n bind *\n");
    assert!(
        e[0].starts_with("t.cfg:2: 'bind': missing port number"),
        "{e:?}"
    );
    let e = errors("frontend f\n description \"abc\n");
    assert!(e[0].starts_with("t.cfg:2: unmatched quote"), "{e:?}");
    let e = errors("backend b\n server s1 127.0.0.1:1\n server s1 127.0.0.1:2\n");
    assert!(
        e[0].starts_with("t.cfg:3: backend 'b' has two servers named 's1'"),
        "{e:?}"
    );
    let e = errors("backend b\nbackend b\n");
    assert!(
        e[0].starts_with(
            "t.cfg:2: backend 'b' has the same name as backend 'b' declared at t.cfg:1"
        ),
        "{e:?}"
    );
    let e = errors("frontend f\n bind :80 ssl crt /x.pem\n");
    assert_eq!(
        e,
        ["t.cfg:2: 'bind ... crt': unable to load SSL certificate '/x.pem': no such file"]
    );
    let e = errors("frontend f\n bind :80\n rate-limit connections 10\n");
    assert_eq!(
        e[0],
        "t.cfg:3: 'rate-limit' only supports 'sessions' (got 'connections')"
    );
    let e = errors("backend b\n server s1 127.0.0.1:1 weight 300\n");
    assert!(e[0].contains("out of range"), "{e:?}");
    let e = errors("frontend f\n server s 1.2.3.4:5\n");
    assert!(
        e[0].contains("'server' is not allowed in a 'frontend' section"),
        "{e:?}"
    );
    let e = errors("backend b\n reqadd X-Foo:\\ bar\n");
    assert!(
        e[0].contains("use 'http-request add-header' instead"),
        "{e:?}"
    );
}

#[test]
fn global_settings() {
    let text = "global\n nbthread 2\n cpu-map auto:1/1-2 0-1\n hard-stop-after 30s\n log 127.0.0.1:514 local0 notice\n log /dev/log local1\n daemon\n";
    let (cfg, d) = parse_text(text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(cfg.global.nbthread.as_ref().unwrap().0, 2);
    assert_eq!(cfg.global.cpu_map[0].cpus, vec![0, 1]);
    assert!(cfg.global.cpu_map[0].auto);
    assert_eq!(cfg.global.hard_stop_after, Some(Duration::from_secs(30)));
    assert_eq!(cfg.global.logs.len(), 2);
    assert_eq!(cfg.global.logs[0].facility, 16);
    assert_eq!(cfg.global.logs[0].max_level, 5);
    assert!(d.list.iter().any(|x| x.msg.contains("'daemon' is ignored")));
}

#[test]
fn accept_rates_and_maxaccept() {
    let global = |text: &str| {
        let (cfg, d) = parse_text(text);
        cfg.unwrap_or_else(|| panic!("{:?}", d.list)).global
    };
    let g = global("global\n maxconnrate 10\n maxsessrate 0\n maxsslrate 7\n");
    assert_eq!(
        (g.maxconnrate, g.maxsessrate, g.maxsslrate, g.maxaccept),
        (Some(10), Some(0), Some(7), Some(4))
    );
    // -1: no limit; 0: HAProxy's default.
    assert_eq!(global("global\n tune.maxaccept -1\n").maxaccept, None);
    assert_eq!(global("global\n tune.maxaccept 0\n").maxaccept, Some(4));
    assert_eq!(global("global\n tune.maxaccept 9\n").maxaccept, Some(9));
    for bad in ["-2", "x", "3000000000"] {
        let e = errors(&format!("global\n tune.maxaccept {bad}\n"));
        assert_eq!(
            e,
            ["t.cfg:2: 'tune.maxaccept' expects -1 or an integer from 0 to INT_MAX"]
        );
    }
    let e = errors("global\n maxconnrate -1\n");
    assert!(e[0].starts_with("t.cfg:2: 'maxconnrate'"), "{e:?}");
    let (cfg, d) = parse_text("frontend f\n bind :80\n rate-limit sessions 12\n");
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(cfg.proxies[0].rate_limit_sessions, Some(12));
    let e = errors("frontend f\n bind :80\n rate-limit\n");
    assert_eq!(
        e,
        ["t.cfg:3: 'rate-limit' only supports 'sessions' (got '')"]
    );
}

#[test]
fn setenv_feeds_later_lines() {
    let text = "global\n setenv CORELB_T_PORT 8123\nlisten l\n bind \"127.0.0.1:${CORELB_T_PORT}\"\n server s 127.0.0.1:1\n";
    let (cfg, d) = parse_text(text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    assert_eq!(cfg.proxies[0].binds[0].addr.inet().unwrap().port(), 8123);
}

#[test]
fn cpu_lists() {
    assert_eq!(parse_cpu_list(&["0-2,5"]).unwrap(), vec![0, 1, 2, 5]);
    assert_eq!(parse_cpu_list(&["1", "3"]).unwrap(), vec![1, 3]);
    assert!(parse_cpu_list(&["3-1"]).is_err());
    assert!(parse_cpu_list(&["x"]).is_err());
}

#[test]
fn proxy_stats_keywords_with_haproxys_defaults() {
    let text = "defaults\n mode http\n stats auth a:b\n stats auth c:d:e\n stats realm My\\ Stats\nfrontend f\n bind :1\n stats uri /s\n stats refresh 10s\n stats admin if TRUE\n stats hide-version\n stats show-node\n stats show-desc edge lb\n stats scope .\n http-request use-service prometheus-exporter if { path /metrics }\nbackend b\n stats enable\n";
    let (cfg, d) = parse_text(text);
    let cfg = cfg.unwrap_or_else(|| panic!("{:?}", d.list));
    let f = &cfg.proxies[0].stats;
    assert!(f.enabled && f.hide_version);
    assert_eq!(f.uri(), "/s");
    assert_eq!(
        f.auth,
        [("a".into(), "b".into()), ("c".into(), "d:e".into())]
    );
    assert_eq!(f.realm.as_deref(), Some("My Stats"));
    assert_eq!(f.refresh, Some(Duration::from_secs(10)));
    assert!(f.admin.is_some());
    assert_eq!(f.show_node.as_deref(), Some(""));
    assert_eq!(f.show_desc.as_deref(), Some("edge lb"));
    assert_eq!(f.scope, ["."]);
    assert!(matches!(
        cfg.proxies[0].http_request[0].action,
        HttpAction::UsePrometheus
    ));
    // The backend takes the defaults' auth and HAProxy's default URI.
    let b = &cfg.proxies[1].stats;
    assert_eq!(b.uri(), "/haproxy?stats");
    assert_eq!(b.auth.len(), 2);
    assert!(b.admin.is_none());
    // A frontend that only serves the page needs no backend: no warning.
    assert!(
        !d.list.iter().any(|x| x.msg.contains("no default_backend")),
        "{:?}",
        d.list
    );
    for (bad, msg) in [
        (
            "defaults\n stats admin if TRUE\n",
            "not supported in a defaults",
        ),
        (
            "frontend f\n stats auth nocolon\n",
            "expects 'user:password'",
        ),
        (
            "frontend f\n stats socket /x\n",
            "belongs in the global section",
        ),
        ("frontend f\n stats enabel\n", "did you mean 'enable'"),
        (
            "frontend f\n http-request use-service lua.x\n",
            "corelb runs no Lua",
        ),
    ] {
        let e = errors(bad);
        assert!(e.iter().any(|x| x.contains(msg)), "{bad}: {e:?}");
    }
}

#[test]
fn server_proto_h2_and_its_default() {
    let (c, d) = parse_text(
        "backend b\n default-server proto h2\n server a 127.0.0.1:1\n server b 127.0.0.1:2 proto h1\n server c 127.0.0.1:3\n",
    );
    assert_eq!(d.errors(), 0, "{:?}", d.list);
    let c = c.unwrap();
    let h2: Vec<bool> = c.proxies[0]
        .servers
        .iter()
        .map(|s| s.params.proto_h2)
        .collect();
    assert_eq!(h2, [true, false, true]);
}

#[test]
fn tune_h2_and_bind_proto() {
    let (c, d) = parse_text(
        "global\n tune.h2.fe.max-concurrent-streams 20 rq-load ignore min 5\n tune.h2.header-table-size 0\n tune.h2.fe.initial-window-size 1048576\n tune.h2.fe.glitches-threshold 0\n tune.h2.fe.max-total-streams 1000\nlisten x\n bind :1 proto h2\n bind :2\n",
    );
    assert_eq!(d.errors(), 0, "{:?}", d.list);
    let c = c.unwrap();
    let h2 = &c.global.h2;
    assert_eq!((h2.max_concurrent_streams, h2.header_table_size), (20, 0));
    assert_eq!(
        (h2.initial_window_size, h2.glitches_threshold),
        (1 << 20, 0)
    );
    assert_eq!(h2.max_total_streams, 1000);
    assert_eq!(crate::config::H2Tune::default().max_total_streams, 0);
    // The client side's keywords leave the server side alone.
    let be = (h2.be_initial_window_size, h2.be_max_concurrent_streams);
    assert_eq!(be, (65535, 100));
    // The common keywords set both sides but not a side set by its own keyword, in
    // either order (as HAProxy 2.8+; 2.6 has only the common ones, for both sides).
    for g in [
        " tune.h2.be.max-concurrent-streams 0\n tune.h2.max-concurrent-streams 7\n tune.h2.initial-window-size 9000\n tune.h2.be.initial-window-size 300000\n",
        " tune.h2.initial-window-size 9000\n tune.h2.be.initial-window-size 300000\n tune.h2.max-concurrent-streams 7\n tune.h2.be.max-concurrent-streams 0\n",
    ] {
        let (c, d) = parse_text(&format!("global\n{g}"));
        assert_eq!(d.errors(), 0, "{:?}", d.list);
        let h2 = c.unwrap().global.h2;
        let sides = (h2.initial_window_size, h2.max_concurrent_streams);
        assert_eq!(sides, (9000, 7), "{g}");
        let be = (h2.be_initial_window_size, h2.be_max_concurrent_streams);
        assert_eq!(be, (300000, 0), "{g}");
    }
    let binds: Vec<bool> = c.proxies[0]
        .binds
        .iter()
        .map(|b| b.proto == crate::config::model::BindProto::H2)
        .collect();
    assert_eq!(binds, [true, false]);
    assert_eq!(crate::config::H2Tune::default().max_concurrent_streams, 100);
    for (bad, msg) in [
        (
            "global\n tune.h2.fe.max-concurrent-streams 0\n",
            "tune.h2.fe.max-concurrent-streams",
        ),
        (
            "global\n tune.h2.fe.max-concurrent-streams 10 rq-load auto\n",
            "no rq-load target",
        ),
        (
            "global\n tune.h2.fe.max-concurrent-streams 10 rq-load 80 min 5\n",
            "no rq-load target",
        ),
        (
            "global\n tune.h2.fe.max-total-streams 2000000000\n",
            "tune.h2.fe.max-total-streams",
        ),
        (
            "global\n tune.h2.header-table-size 70000\n",
            "tune.h2.header-table-size",
        ),
        ("listen x\n bind :1 proto h3\n", "corelb speaks h1 and h2"),
        (
            "listen x\n server s 127.0.0.1:1 proto h3\n",
            "corelb speaks h1 and h2",
        ),
    ] {
        let e = errors(bad);
        assert!(e.iter().any(|x| x.contains(msg)), "{bad}: {e:?}");
    }
}
