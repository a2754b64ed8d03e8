//! Sample converters (`%[fetch,conv(args),...]`), run the same through Debian's HAProxy 2.6
//! and corelb: one frontend renders many converter chains into a response body, and both
//! must answer the same bytes; `-c` errors carry HAProxy's wording.

mod common;
use common::haproxy::Haproxy;
use common::*;

/// The chains compared, each rendered as `N=VALUE|`.
const EXPRS: &[&str] = &[
    "req.hdr(host),field(1,:)",
    "req.hdr(x-a),field(2,:)",
    "req.hdr(x-a),field(-1,:)",
    "req.hdr(x-a),field(2,:,0)",
    "req.hdr(x-a),field(5,:)",
    "req.hdr(x-p),word(2,/)",
    "req.hdr(x-p),word(-1,/)",
    "req.hdr(x-p),word(9,/)",
    "req.hdr(x-a),regsub([:],_,g)",
    "req.hdr(x-a),regsub(:,_)",
    "req.hdr(x-a),regsub('(a):(b)','\\2-\\1')",
    "req.hdr(x-u),url_dec",
    "req.hdr(x-u),url_dec(1)",
    "req.hdr(x-a),url_enc",
    "req.hdr(x-n),add(5)",
    "req.hdr(x-n),sub(50)",
    "req.hdr(x-n),mul(-3)",
    "req.hdr(x-n),div(0)",
    "req.hdr(x-n),div(5)",
    "req.hdr(x-n),mod(7)",
    "req.hdr(x-n),and(6),or(1),xor(3)",
    "req.hdr(x-n),neg",
    "req.hdr(x-n),cpl",
    "req.hdr(x-n),bool",
    "req.hdr(x-n),not",
    "req.hdr(x-n),odd",
    "req.hdr(x-n),even,iif(yes,no)",
    "req.hdr(x-n),add(txn.n)",
    "req.hdr(x-a),sha1,hex",
    "req.hdr(x-a),sha2,hex",
    "req.hdr(x-a),sha2(512),base64",
    "req.hdr(x-a),digest(md5),hex",
    "req.hdr(x-a),digest(sha384),hex",
    "req.hdr(x-a),hmac(sha256,a2V5),hex",
    "req.hdr(x-a),hmac(sha1,txn.key),hex",
    "req.hdr(x-a),crc32",
    "req.hdr(x-a),crc32(1)",
    "req.hdr(x-a),crc32c",
    "req.hdr(x-a),djb2",
    "req.hdr(x-a),sdbm(1)",
    "req.hdr(x-a),wt6",
    "req.hdr(x-a),xxh32",
    "req.hdr(x-a),xxh32(7)",
    "req.hdr(x-a),xxh64",
    "req.hdr(x-p),xxh64(3)",
    "req.hdr(x-a),xxh3",
    "req.hdr(x-a),xxh3(7)",
    "req.hdr(x-p),xxh3(-1)",
    "req.hdr(x-a),sha2(512),base64,xxh3",
    "req.hdr(x-a),sha2(512),hex,xxh3(9)",
    "req.hdr(x-a),base64",
    "req.hdr(x-a),base64,b64dec",
    "req.hdr(x-a),ub64enc",
    "req.hdr(x-b),ub64dec",
    "req.hdr(x-a),hex",
    "req.hdr(x-h),hex2i",
    "req.hdr(x-n),htonl,hex",
    "req.hdr(x-a),length",
    "req.hdr(x-j),json",
    "req.hdr(x-j),json(utf8s)",
    "req.hdr(x-a),bytes(1,3)",
    "req.hdr(x-a),bytes(2)",
    "req.hdr(x-s),ltrim(_),rtrim(_)",
    "src,ipmask(24)",
    "src,hex",
    "req.hdr(x-ip),ipmask(16)",
    "req.hdr(x-ip6),ipmask(24,64)",
    "req.hdr(x-ts),http_date",
    "req.hdr(x-ts),http_date(3600)",
    "req.hdr(x-ms),http_date(0,ms)",
    "req.hdr(x-ts),utime(%Y-%m-%dT%H:%M:%S)",
    "req.hdr(x-a),concat(<,txn.v,>)",
    "req.hdr(x-a),add_item(;,txn.v)",
    "req.hdr(x-a),add_item(;,,sfx)",
    "req.hdr(x-a),strcmp(txn.v)",
    "req.hdr(x-v),strcmp(txn.v)",
    "req.hdr(x-v),secure_memcmp(txn.v)",
    "req.hdr(accept-language),language(en;fr;de)",
    "req.hdr(x-a),language(en;fr,de)",
    "req.hdr(x-a),be2dec(-,2)",
    "req.hdr(x-a),be2hex(:,2,1)",
    "req.hdr(x-a),lower,upper,length",
    "req.hdr(x-cr),url_dec,cut_crlf",
    "req.hdr(x-a),set-var(txn.copy),length",
    "var(txn.copy),upper",
    "req.hdr(x-a),map_str_int(MAP,0),add(1)",
    "req.hdr(x-a),map_beg(MBEG)",
    "req.hdr(x-a),map_beg_int(MAP,7)",
    "src,map_ip_int(MIP)",
    "req.hdr(x-a),map_str_ip(MSIP)",
    "req.hdr(x-n),debug,add(1)",
    "int(3),mul(4),hex",
    "req.hdr(x-missing),length",
    "src,table_http_req_cnt(fe)",
    "src,in_table(fe)",
    "str(10.9.9.9),in_table(fe)",
    "src,table_gpc0(fe)",
    "src,table_trackers(fe)",
    "str(10.9.9.9),table_conn_cnt(fe)",
    "src,table_sess_cnt(fe)",
    "src,table_expire(fe)",
    "src,table_idle(fe,5)",
    "str(10.9.9.9),table_expire(fe,-1)",
    "str(10.9.9.9),table_idle(fe)",
    "req.hdr(x-jwt),jwt_header_query('$.alg')",
    "req.hdr(x-jwt),jwt_payload_query('$.n',int),add(1)",
    "req.hdr(x-jwt),jwt_payload_query('$.sub')",
    "req.hdr(x-jwt),jwt_header_query",
    "req.hdr(x-json),json_query('$.a.b[1]')",
    "req.hdr(x-json),json_query('$.a.big')",
    "req.hdr(x-json),json_query('$.a.t')",
    "req.hdr(x-json),json_query('$.a.s')",
    "req.hdr(x-ct),b64dec,aes_gcm_dec(128,txn.nonce,txn.aeskey,txn.tag),length",
];

fn config(port: u16, map: &str) -> String {
    let body: String = EXPRS
        .iter()
        .enumerate()
        // `$` would start an environment variable inside the quotes.
        .map(|(i, e)| {
            format!(
                "{i}=%[{}]|",
                e.replace("MBEG", &format!("{map}.beg"))
                    .replace("MIP", &format!("{map}.ip"))
                    .replace("MSIP", &format!("{map}.sip"))
                    .replace("MAP", map)
                    .replace('$', "\\$")
            )
        })
        .collect();
    format!(
        "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-var(txn.v) str(a:b)
    http-request set-var(txn.n) int(10)
    http-request set-var(txn.key) str(c2VjcmV0)
    http-request set-var(txn.nonce) str(AAAAAAAAAAAAAAAA)
    http-request set-var(txn.aeskey) str(AAAAAAAAAAAAAAAAAAAAAA==)
    http-request set-var(txn.tag) str(WOL8zvp+MGE2fx1XpOdFWg==)
    stick-table type ip size 1k store http_req_cnt,conn_cnt,gpc0
    http-request track-sc0 src
    http-request return status 200 content-type text/plain lf-string \"{body}\"
"
    )
}

const REQUEST: &str = "GET / HTTP/1.1\r\nHost: example.com:8080\r\nX-A: a:b:c\r\n\
X-P: /usr//local/bin\r\nX-U: a%20b+c%2Fd?e+f\r\nX-N: 42\r\nX-H: 1aF\r\n\
X-J: \"q\"/\u{e9}\\\r\nX-S: __mid__\r\nX-IP: 192.168.33.4\r\nX-IP6: 2001:db8:1:2::5\r\n\
X-TS: 1700000000\r\nX-MS: 1700000000123\r\nX-B: w7vDvw\r\nX-V: a:b\r\nX-CR: ab%0D%0Acd\r\n\
Accept-Language: da, en-gb;q=0.8, en;q=0.7\r\n\
X-JWT: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZSIsIm4iOjN9.c2ln\r\n\
X-JSON: {\"a\":{\"b\":[1,2.5],\"t\":true,\"big\":12345678,\"s\":\"x\\\\u0041\"}}\r\n\
X-CT: \r\nConnection: close\r\n\r\n";

fn body(raw: &str) -> Vec<String> {
    let (_, b) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    b.split('|').map(str::to_string).collect()
}

#[test]
fn converters_render_like_haproxy() {
    let dir = TempDir::new("conv");
    let map = dir.write("m.map", "a:b:c 41\na: 9\n");
    dir.write("m.map.beg", "# comment\na: beg\n");
    dir.write("m.map.ip", "127.0.0.0/8 5\n10.0.0.0/8 6\n");
    dir.write("m.map.sip", "a:b:c 10.20.30.40\n");
    let map = map.to_str().unwrap();
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&config(hp, map), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&config(cp, map), &[], &[cp]);
    // Twice: the second sees the stick-table entry the first made.
    let _ = raw_exchange(hp, REQUEST.as_bytes());
    let _ = raw_exchange(cp, REQUEST.as_bytes());
    let h = body(&raw_exchange(hp, REQUEST.as_bytes()));
    let c = body(&raw_exchange(cp, REQUEST.as_bytes()));
    let diffs: Vec<String> = h
        .iter()
        .zip(c.iter().chain(std::iter::repeat(&String::new())))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  haproxy {a:?}\n  corelb  {b:?}"))
        .collect();
    assert!(
        diffs.is_empty() && h.len() == c.len(),
        "corelb and HAProxy differ:\n{}\nhaproxy log:\n{}\ncorelb log:\n{}",
        diffs.join("\n"),
        haproxy.log(),
        corelb.log()
    );
    // What they agreed on is the converters at work, not two empty answers.
    assert_eq!(h.len(), EXPRS.len() + 1, "{h:?}");
    assert_eq!(c[0], "0=example.com");
    assert_eq!(c[8], "8=a_b_c");
    assert_eq!(c[14], "14=47");
}

/// `-c` rejects what HAProxy rejects, with HAProxy's words.
#[test]
fn converter_errors_match_haproxy() {
    let dir = TempDir::new("conv-check");
    let cases = [
        (
            "%[req.hdr(x),field(0,:)]",
            "invalid args in converter 'field' : Unexpected value 0 for index",
        ),
        (
            "%[req.hdr(x),field(1)]",
            "invalid arg 2 in converter 'field' : missing arguments (got 1/2), type 'string' expected",
        ),
        (
            "%[req.hdr(x),field(x,:)]",
            "invalid arg 1 in converter 'field' : failed to parse 'x' as type 'integer' at position 1",
        ),
        ("%[src,iif(a,b)]", "converter 'iif' cannot be applied"),
        (
            // A map's address output is HAProxy's ADDR, which casts to nothing in 2.6.
            "%[req.hdr(x),map_str_ip(/dev/null),ipmask(8)]",
            "converter 'ipmask' cannot be applied",
        ),
        (
            "%[req.hdr(x),hex(1)]",
            "invalid arg 1 in converter 'hex' : expected ')' before '1)",
        ),
        (
            "%[req.hdr(x),add(y)]",
            "invalid args in converter 'add' : expects an integer or a variable name",
        ),
        (
            "%[req.hdr(x),sha2(100)]",
            "invalid args in converter 'sha2' : Unsupported number of bits: '100'",
        ),
        (
            "%[req.hdr(x),regsub(a,b,q)]",
            "invalid args in converter 'regsub' : invalid regex flag 'q', only 'i' and 'g' are supported",
        ),
        (
            "%[req.hdr(x),json(x)]",
            "invalid args in converter 'json' : Unexpected input code type.",
        ),
        ("%[req.hdr(x),nope]", "unknown converter 'nope'"),
    ];
    for (expr, needle) in cases {
        let cfg = format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend fe\n    bind 127.0.0.1:8999\n    http-request set-header X-T {expr}\n    default_backend b\nbackend b\n    server s 127.0.0.1:1\n"
        );
        let path = dir.write("c.cfg", &cfg);
        if let Ok(out) = std::process::Command::new("haproxy")
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
        {
            let all = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            assert!(!out.status.success(), "HAProxy accepted {expr}");
            assert!(all.contains(needle), "HAProxy's words for {expr}: {all}");
        }
        expect_check(&dir, &cfg, 1, needle);
    }
}

/// What the server saw of the `X-C*` headers rules set, and the `X-R*` headers
/// `http-response` rules set from the server's answer: the same through both.
#[test]
fn converters_in_header_rules_like_haproxy() {
    use std::io::{Read, Write};
    let server = Backend::start(|mut s| {
        let mut head = Vec::new();
        let mut b = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let mut seen: Vec<&str> = text
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-c"))
            .collect();
        seen.sort();
        let body = seen.join("\n");
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Up: 10.1.2.3:8080\r\nX-Num: 0x1F\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
    });
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    http-request set-header X-C1 %[req.hdr(host),field(1,:),upper]
    http-request set-header X-C2 %[path,regsub(/+,/,g),word(1,/)]
    http-request set-header X-C3 %[req.hdr(x-n),mul(3),add(1),htonl,hex]
    http-request set-header X-C4 %[src,ipmask(16),concat(/,txn.nope,16)]
    http-request set-header X-C5 %[req.hdr(x-n),sha2(256),base64]
    http-request set-header X-C6 %[url,url_dec,json]
    http-response set-header X-R1 %[res.hdr(x-up),field(1,:),ipmask(24)]
    http-response set-header X-R2 %[res.hdr(x-num),bytes(2),hex2i,add(1)]
    http-response set-header X-R3 %[status,mul(2),iif(a,b)]
    http-response set-header X-R4 %[res.hdr(x-up),crc32(1)]
    default_backend b
backend b
    server s 127.0.0.1:{}
",
            server.port
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let req = "GET //a//b/c?x=%22q%22 HTTP/1.1\r\nHost: www.example:81\r\nX-N: 14\r\nConnection: close\r\n\r\n";
    // Header names compare without case (HAProxy sends them in lower case).
    let keep = |raw: String| -> String {
        let raw: String = raw
            .split('\n')
            .map(|l| match l.split_once(':') {
                Some((k, v)) => format!("{}:{v}", k.to_ascii_lowercase()),
                None => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let mut r: Vec<&str> = head
            .lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("x-r"))
            .collect();
        r.sort();
        format!("{}\n--\n{body}", r.join("\n"))
    };
    let h = keep(raw_exchange(hp, req.as_bytes()));
    let c = keep(raw_exchange(cp, req.as_bytes()));
    assert_eq!(
        c,
        h,
        "haproxy log:\n{}\ncorelb log:\n{}",
        haproxy.log(),
        corelb.log()
    );
    assert!(c.contains("x-c1: WWW.EXAMPLE"), "{c}");
    assert!(c.contains("x-r1: 10.1.2.0"), "{c}");
}

/// `table_expire` and `table_idle` on a table with `expire`: an entry made by a first
/// request, read 1.2 s later, through Debian's HAProxy and corelb (the times within what
/// the two requests' own timing allows); a missing key gives the default, or nothing.
#[test]
fn table_timers_like_haproxy() {
    let cfg = |port: u16| {
        format!(
            "defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:{port}
    stick-table type ip size 1k expire 1m store http_req_cnt
    http-request track-sc0 src if {{ path /t }}
    http-request return status 200 content-type text/plain lf-string \"%[src,table_expire(fe)]|%[src,table_idle(fe)]|%[str(10.9.9.9),table_expire(fe,-1)]|%[str(10.9.9.9),table_idle(fe)]|%[str(10.9.9.9),table_idle(fe,7)]\"
"
        )
    };
    let (hp, cp) = (free_port(), free_port());
    let Some(_haproxy) = Haproxy::start(&cfg(hp), &[hp]) else {
        return;
    };
    let _corelb = Corelb::start(&cfg(cp), &[], &[cp]);
    let get = |port: u16, path: &str| {
        let r = format!("GET {path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
        body(&raw_exchange(port, r.as_bytes()))
    };
    let (h0, c0) = (get(hp, "/t"), get(cp, "/t"));
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let (h, c) = (get(hp, "/x"), get(cp, "/x"));
    for (who, first, v) in [("haproxy", &h0, &h), ("corelb", &c0, &c)] {
        let n = |i: usize| v[i].parse::<i64>().unwrap_or(-99);
        // Made by the first request's track-sc0: idle for no time yet.
        assert!(
            first[1].parse::<i64>().is_ok_and(|i| (0..=5).contains(&i)),
            "{who}: {first:?}"
        );
        assert!((58_500..=58_900).contains(&n(0)), "{who}: {v:?}");
        assert!((1_100..=1_500).contains(&n(1)), "{who}: {v:?}");
        assert_eq!(n(0) + n(1), 60_000, "{who}: {v:?}");
        assert_eq!(v[2..], ["-1", "", "7"], "{who}: {v:?}");
    }
}
