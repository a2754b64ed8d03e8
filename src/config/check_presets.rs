//! The predefined health checks (`option redis-check`, `mysql-check`, `pgsql-check`,
//! `smtpchk`, `ldap-check`, `ssl-hello-chk`, `spop-check`): as in HAProxy (src/tcpcheck.c),
//! each is a tcp-check rule set with fixed bytes to send and fixed expectations. The bytes
//! are built here; how each expectation judges an answer is `health::presets`.

use super::model::TcpCheckRule;

/// A step of a predefined check that plain `tcp-check` rules cannot say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The SSLv3 CLIENT HELLO of `ssl-hello-chk`; its 4 bytes at offset 11 are the time
    /// of sending, so it is built per check.
    SendSslHello,
    Expect(PresetExpect),
}

/// The expectations of the predefined checks, each HAProxy's rule with its `min-recv`,
/// statuses and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetExpect {
    /// `string +PONG\r\n`, else L7STS with the answer's first line.
    RedisPong,
    /// `rbinary ^1[56] min-recv 5`: a TLS handshake or alert record; L6OK / L6RSP.
    SslHello,
    /// `rstring ^[0-9]{3}[ \r] min-recv 4`: the greeting is SMTP at all (else L7RSP).
    SmtpGreeting,
    /// `rstring ^2[0-9]{2}[ \r] min-recv 4`: the greeting is a 2xx (else L7STS).
    SmtpGreeting2xx,
    /// `rstring ^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]`: the HELO/EHLO answer is a 2xx.
    SmtpHelo,
    /// `rstring ^2[0-9]{2}[- \r] min-recv 4`: QUIT is answered with a 2xx.
    SmtpQuit,
    /// `!rstring ^E min-recv 5`: not an ErrorResponse (else L7RSP).
    PgsqlNotError,
    /// `rbinary ^52000000[A-Z0-9]{2}000000(00|02|03|04|05|06|07|09|0A) min-recv 9`: an
    /// AuthenticationOk or a request for a password (else L7STS).
    PgsqlAuth,
    /// The server's initial handshake packet; `last` when no authentication follows.
    MysqlHandshake { last: bool },
    /// The OK packet after the handshake (anything but an error packet).
    MysqlOk,
    /// `rbinary ^30 min-recv 14`: an LDAP message (else "Not LDAPv3 protocol").
    LdapMessage,
    /// The bindResponse with resultCode 0.
    LdapBind,
    /// An AGENT-HELLO with a supported version, a max-frame-size and capabilities.
    SpopHello,
}

/// `option redis-check`: PING, expect +PONG.
const REDIS_PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";

/// `option ldap-check`: an anonymous LDAPv3 simple bind request.
const LDAP_BIND: &[u8] = &[
    0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00,
];

/// `option spop-check`: a HAPROXY-HELLO frame with `healthcheck` set (HAProxy's bytes).
const SPOP_HELLO_HEX: &str = concat!(
    "0000004e0100000001",
    "0000",
    "12737570706f727465642d76657273696f6e730803322e30",
    "0e6d61782d6672616d652d73697a6503fcf0060c63617061",
    "62696c697469657308000b6865616c7468636865636b11",
);

/// The SSLv3 CLIENT HELLO of `ssl-hello-chk` with `now` (Unix seconds) as its GMT time.
pub fn ssl_hello(now: u32) -> Vec<u8> {
    let mut b = vec![
        0x16, 0x03, 0x00, 0x00, 0x79, 0x01, 0x00, 0x00, 0x75, 0x03, 0x00,
    ];
    b.extend_from_slice(&now.to_be_bytes());
    // The 28 random bytes.
    b.extend_from_slice(b"HAPROXYSSLCHK\nHAPROXYSSLCHK\n");
    b.push(0x00); // no session id
    b.extend_from_slice(&[0x00, 0x4e]); // 39 cipher suites: 0x01–0x1B, 0x2F–0x3A
    for c in (0x01u16..=0x1b).chain(0x2f..=0x3a) {
        b.extend_from_slice(&c.to_be_bytes());
    }
    b.extend_from_slice(&[0x01, 0x00]); // NULL compression only
    b
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("a constant hex string"))
        .collect()
}

fn expect(e: PresetExpect) -> TcpCheckRule {
    TcpCheckRule::Preset(Step::Expect(e))
}

/// The rules of `option NAME ARGS…`; `None` when NAME is not a predefined check.
/// Each starts with the implicit connect (HAProxy's `connect default`: the server's check
/// port, `check-ssl`, `check-send-proxy`).
pub fn rules(name: &str, args: &[String]) -> Option<Result<Vec<TcpCheckRule>, String>> {
    use PresetExpect::*;
    let none = |r: Vec<TcpCheckRule>| match args.first() {
        Some(a) => Err(format!("unexpected argument '{a}' after 'option {name}'")),
        None => Ok(r),
    };
    Some(match name {
        "redis-check" => none(vec![
            TcpCheckRule::Send(REDIS_PING.to_vec()),
            expect(RedisPong),
        ]),
        "ssl-hello-chk" => none(vec![
            TcpCheckRule::Preset(Step::SendSslHello),
            expect(SslHello),
        ]),
        "ldap-check" => none(vec![
            TcpCheckRule::Send(LDAP_BIND.to_vec()),
            expect(LdapMessage),
            expect(LdapBind),
        ]),
        "spop-check" => none(vec![
            TcpCheckRule::Send(hex(SPOP_HELLO_HEX)),
            expect(SpopHello),
        ]),
        "smtpchk" => smtp(args),
        "pgsql-check" => pgsql(args),
        "mysql-check" => mysql(args),
        _ => return None,
    })
}

/// `option smtpchk [HELO|EHLO <domain>]` (anything else: `HELO localhost`, as HAProxy).
fn smtp(args: &[String]) -> Result<Vec<TcpCheckRule>, String> {
    if args.len() > 2 {
        return Err(format!(
            "unexpected argument '{}' after 'option smtpchk'",
            args[2]
        ));
    }
    let cmd = match (args.first().map(String::as_str), args.get(1)) {
        (Some(verb @ ("HELO" | "EHLO")), Some(dom)) => format!("{verb} {dom}\r\n"),
        _ => "HELO localhost\r\n".to_string(),
    };
    use PresetExpect::*;
    Ok(vec![
        expect(SmtpGreeting),
        expect(SmtpGreeting2xx),
        TcpCheckRule::Send(cmd.into_bytes()),
        expect(SmtpHelo),
        TcpCheckRule::Send(b"QUIT\r\n".to_vec()),
        expect(SmtpQuit),
    ])
}

/// `option pgsql-check user <name>`: a StartupMessage (protocol 3.0) for that user.
fn pgsql(args: &[String]) -> Result<Vec<TcpCheckRule>, String> {
    let user = match (args.first().map(String::as_str), args.get(1)) {
        (Some("user"), Some(u)) => u,
        (Some("user") | None, _) | (_, None) => {
            return Err("'option pgsql-check' expects 'user <username>' as argument".into());
        }
        (Some(o), _) => {
            return Err(format!(
                "'option pgsql-check' only supports optional values: 'user' (got '{o}')"
            ));
        }
    };
    if let Some(a) = args.get(2) {
        return Err(format!(
            "unexpected argument '{a}' after 'option pgsql-check user {user}'"
        ));
    }
    let mut b = ((15 + user.len()) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(&[0x00, 0x03, 0x00, 0x00]);
    b.extend_from_slice(b"user\0");
    b.extend_from_slice(user.as_bytes());
    b.extend_from_slice(&[0, 0]);
    use PresetExpect::*;
    Ok(vec![
        TcpCheckRule::Send(b),
        expect(PgsqlNotError),
        expect(PgsqlAuth),
    ])
}

/// `option mysql-check [user <name> [pre-41|post-41|post-80]]`: without a user, only the
/// server's greeting is judged; with one, a client authentication packet without a
/// password, then COM_QUIT, and the answer must not be an error.
fn mysql(args: &[String]) -> Result<Vec<TcpCheckRule>, String> {
    use PresetExpect::*;
    let Some(first) = args.first() else {
        return Ok(vec![expect(MysqlHandshake { last: true })]);
    };
    if first != "user" {
        return Err(format!(
            "'option mysql-check' only supports optional values: 'user' (got '{first}')"
        ));
    }
    let Some(user) = args.get(1) else {
        return Err("'option mysql-check user' expects <username> as argument".into());
    };
    if let Some(a) = args.get(3) {
        return Err(format!(
            "unexpected argument '{a}' after 'option mysql-check'"
        ));
    }
    let u = user.as_bytes();
    let mut body = Vec::new();
    let variant = args.get(2).map(String::as_str).unwrap_or("post-41");
    match variant {
        "pre-41" => {
            body.extend_from_slice(&[0x00, 0x80]); // client capabilities
            body.extend_from_slice(&[0x00, 0x00, 0x01]); // max packet
            body.extend_from_slice(u);
            body.extend_from_slice(&[0x00, 0x00]); // NUL, filler
        }
        "post-41" | "post-80" => {
            let caps: [u8; 4] = if variant == "post-80" {
                // + CLIENT_PLUGIN_AUTH, to name mysql_native_password below.
                [0x00, 0x82, 0x08, 0x00]
            } else {
                [0x00, 0x82, 0x00, 0x00]
            };
            body.extend_from_slice(&caps);
            body.extend_from_slice(&[0x00, 0x80, 0x00, 0x01]); // max packet
            body.push(0x21); // character set: UTF-8
            body.extend_from_slice(&[0u8; 23]);
            body.extend_from_slice(u);
            body.extend_from_slice(&[0x00, 0x00]); // NUL, empty auth response
            if variant == "post-80" {
                body.extend_from_slice(b"mysql_native_password\0");
            }
        }
        v => {
            return Err(format!(
                "keyword 'user' only supports 'post-41', 'pre-41' and 'post-80' (got '{v}')"
            ));
        }
    }
    let plen = body.len();
    let mut b = vec![
        (plen & 0xff) as u8,
        ((plen >> 8) & 0xff) as u8,
        ((plen >> 16) & 0xff) as u8,
        1,
    ];
    b.extend_from_slice(&body);
    // COM_QUIT: length 1, sequence 0.
    b.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x01]);
    Ok(vec![
        TcpCheckRule::Send(b),
        expect(MysqlHandshake { last: false }),
        expect(MysqlOk),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(r: &[TcpCheckRule]) -> Vec<u8> {
        r.iter()
            .filter_map(|r| match r {
                TcpCheckRule::Send(b) => Some(b.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bytes_are_haproxys() {
        let r = rules("redis-check", &[]).unwrap().unwrap();
        assert_eq!(sent(&r), b"*1\r\n$4\r\nPING\r\n");
        let r = rules("pgsql-check", &args(&["user", "bob"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            sent(&r),
            b"\x00\x00\x00\x12\x00\x03\x00\x00user\0bob\0\0".to_vec()
        );
        // User "haproxy" (4.1): length 7 + 7 + 27, sequence 1.
        let r = rules("mysql-check", &args(&["user", "haproxy"]))
            .unwrap()
            .unwrap();
        let b = sent(&r);
        assert_eq!(&b[..4], &[0x29, 0, 0, 1]);
        assert_eq!(&b[4..13], &[0x00, 0x82, 0, 0, 0x00, 0x80, 0, 0x01, 0x21]);
        assert_eq!(&b[36..44], b"haproxy\0");
        assert_eq!(&b[b.len() - 5..], &[1, 0, 0, 0, 1]);
        assert_eq!(b.len(), 4 + 4 + 4 + 1 + 23 + 8 + 1 + 5);
        let r = rules("mysql-check", &args(&["user", "u", "pre-41"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            sent(&r),
            b"\x08\0\0\x01\x00\x80\x00\x00\x01u\0\0\x01\0\0\0\x01"
        );
        let r = rules("mysql-check", &[]).unwrap().unwrap();
        assert!(sent(&r).is_empty());
        let r = rules("smtpchk", &args(&["EHLO", "lb.example"]))
            .unwrap()
            .unwrap();
        assert_eq!(sent(&r), b"EHLO lb.example\r\nQUIT\r\n");
        let r = rules("smtpchk", &[]).unwrap().unwrap();
        assert_eq!(sent(&r), b"HELO localhost\r\nQUIT\r\n");
        let r = rules("ldap-check", &[]).unwrap().unwrap();
        assert_eq!(sent(&r), hex("300C020101600702010304008000"));
        let r = rules("spop-check", &[]).unwrap().unwrap();
        assert_eq!(sent(&r).len(), 4 + 0x4e);
        let h = ssl_hello(0x01020304);
        assert_eq!(h.len(), 5 + 0x79);
        assert_eq!(&h[11..15], &[1, 2, 3, 4]);
        assert_eq!(&h[h.len() - 4..], &[0x00, 0x3a, 0x01, 0x00]);
        assert!(rules("httpchk", &[]).is_none());
    }

    #[test]
    fn arguments_are_checked() {
        let e = |n: &str, a: &[&str]| rules(n, &args(a)).unwrap().unwrap_err();
        assert!(e("pgsql-check", &[]).contains("expects 'user <username>'"));
        assert!(e("pgsql-check", &["login", "x"]).contains("got 'login'"));
        assert!(e("mysql-check", &["user"]).contains("expects <username>"));
        assert!(e("mysql-check", &["user", "u", "post-99"]).contains("got 'post-99'"));
        assert!(e("redis-check", &["x"]).contains("unexpected argument 'x'"));
    }
}
