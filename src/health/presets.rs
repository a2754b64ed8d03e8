//! How the predefined checks (`config::check_presets`) judge an answer, without I/O: each
//! expectation of HAProxy's rule sets (src/tcpcheck.c) over the bytes read since the last
//! send, with its statuses, codes and messages.

use super::check::Verdict;
use crate::config::check_presets::PresetExpect;
use std::sync::LazyLock;

const L7OK: &str = "Layer7 check passed";
const L7STS: &str = "Layer7 wrong status";
const L7RSP: &str = "Layer7 invalid response";

/// HAProxy's `cut_crlf`: up to the first CR or LF.
fn line(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b'\r' || c == b'\n');
    String::from_utf8_lossy(&b[..end.unwrap_or(b.len())]).into_owned()
}

/// `res.payload(4,0),ltrim(' '),cut_crlf`: the text after an SMTP code.
fn smtp_text(b: &[u8]) -> String {
    let rest = b.get(4..).unwrap_or(&[]);
    let start = rest.iter().position(|&c| c != b' ').unwrap_or(rest.len());
    line(&rest[start..])
}

/// `status-code res.payload(0,3)`.
fn smtp_code(b: &[u8]) -> Option<u16> {
    std::str::from_utf8(b.get(..3)?).ok()?.parse().ok()
}

fn with_code(mut v: Verdict, code: Option<u16>) -> Verdict {
    v.code = code;
    v
}

fn pass_info(reason: &'static str, info: impl Into<String>) -> Verdict {
    let mut v = Verdict::pass(reason);
    let info = info.into();
    v.info = (!info.is_empty()).then_some(info);
    v
}

fn fail_info(reason: &'static str, info: impl Into<String>) -> Verdict {
    let mut v = Verdict::fail(reason, "");
    let info = info.into();
    v.info = (!info.is_empty()).then_some(info);
    v
}

static SMTP_ANY: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"^[0-9]{3}[ \r]").unwrap());
static SMTP_2XX: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"^2[0-9]{2}[ \r]").unwrap());
static SMTP_HELO: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"^(2[0-9]{2}-[^\r]*\r\n)*2[0-9]{2}[ \r]").unwrap());
static SMTP_QUIT: LazyLock<regex::bytes::Regex> =
    LazyLock::new(|| regex::bytes::Regex::new(r"^2[0-9]{2}[- \r]").unwrap());

/// A pattern rule as HAProxy evaluates it: with `min_recv`, wait for that many bytes, then
/// decide; without, wait on a mismatch until the end of the answer.
fn pattern(
    buf: &[u8],
    eof: bool,
    min_recv: Option<usize>,
    matches: impl Fn(&[u8]) -> bool,
) -> Option<bool> {
    if !eof && min_recv.is_some_and(|m| buf.len() < m) {
        return None;
    }
    let hit = matches(buf);
    if !hit && !eof && min_recv.is_none() {
        return None;
    }
    Some(hit)
}

/// Judges expectation `e` on `buf` (everything read since the last send); `None`: read
/// more. `last`: no rule follows, so a pass carries the check's final message.
pub fn judge(e: PresetExpect, buf: &[u8], eof: bool, step: usize) -> Option<Verdict> {
    use PresetExpect::*;
    if buf.is_empty() {
        // HAProxy does not evaluate an expectation on nothing.
        return eof.then(|| {
            let reason = if e == SslHello {
                "Layer6 invalid response"
            } else {
                L7RSP
            };
            fail_info(
                reason,
                format!("TCPCHK got an empty response at step {step}"),
            )
        });
    }
    Some(match e {
        RedisPong => {
            const PONG: &[u8] = b"+PONG\r\n";
            if !eof && buf.len() < PONG.len() {
                return None;
            }
            if pattern(buf, eof, None, |b| memchr::memmem::find(b, PONG).is_some())? {
                pass_info(L7OK, "Redis server is ok")
            } else {
                fail_info(L7STS, line(buf))
            }
        }
        SslHello => {
            if pattern(buf, eof, Some(5), |b| matches!(b[0], 0x15 | 0x16))? {
                Verdict::pass("Layer6 check passed")
            } else {
                fail_info("Layer6 invalid response", "")
            }
        }
        SmtpGreeting => {
            if pattern(buf, eof, Some(4), |b| SMTP_ANY.is_match(b))? {
                Verdict::pass(L7OK)
            } else {
                fail_info(L7RSP, line(buf))
            }
        }
        SmtpGreeting2xx | SmtpHelo | SmtpQuit => {
            let (re, min) = match e {
                SmtpGreeting2xx => (&*SMTP_2XX, Some(4)),
                SmtpHelo => (&*SMTP_HELO, None),
                _ => (&*SMTP_QUIT, Some(4)),
            };
            let code = smtp_code(buf);
            if pattern(buf, eof, min, |b| re.is_match(b))? {
                // The greeting's rule has no on-success message; the others have the text.
                let info = if e == SmtpGreeting2xx {
                    String::new()
                } else {
                    smtp_text(buf)
                };
                with_code(pass_info(L7OK, info), code)
            } else {
                with_code(fail_info(L7STS, smtp_text(buf)), code)
            }
        }
        PgsqlNotError => {
            if pattern(buf, eof, Some(5), |b| b[0] != b'E')? {
                Verdict::pass(L7OK)
            } else {
                fail_info(L7RSP, String::from_utf8_lossy(buf.get(6..).unwrap_or(&[])))
            }
        }
        PgsqlAuth => {
            // 'R', length 0000 00xx, then the authentication type: 0 (ok) or a request
            // for a password of a kind HAProxy lists (2–7, 9, 10).
            let ok = |b: &[u8]| {
                b[..4] == [b'R', 0, 0, 0]
                    && b[5..8] == [0, 0, 0]
                    && matches!(b[8], 0 | 2..=7 | 9 | 10)
            };
            if pattern(buf, eof, Some(9), |b| b.len() >= 9 && ok(b))? {
                pass_info(L7OK, "PostgreSQL server is ok")
            } else {
                fail_info(L7STS, "PostgreSQL unknown error")
            }
        }
        MysqlHandshake { last } => mysql_packet(buf, 0, eof, last)?,
        MysqlOk => {
            // The greeting's length (the previous rule saw it whole).
            let b = |i: usize| buf.get(i).copied().unwrap_or(0) as usize;
            let hs = 4 + (b(0) | (b(1) << 8) | (b(2) << 16));
            mysql_packet(buf, hs, eof, true)?
        }
        LdapMessage => {
            if pattern(buf, eof, Some(14), |b| b[0] == 0x30)? {
                Verdict::pass(L7OK)
            } else {
                fail_info(L7RSP, "Not LDAPv3 protocol")
            }
        }
        LdapBind => ldap_bind(buf, eof)?,
        SpopHello => spop_hello(buf, eof)?,
    })
}

/// HAProxy's `tcpcheck_mysql_expect_packet`: the packet at `off` is complete and is not an
/// error packet (0xff, then the error code).
fn mysql_packet(buf: &[u8], off: usize, eof: bool, last: bool) -> Option<Verdict> {
    let truncated = || fail_info(L7RSP, "");
    let Some(h) = buf.get(off..off + 4) else {
        return eof.then(truncated);
    };
    let plen = h[0] as usize | (h[1] as usize) << 8 | (h[2] as usize) << 16;
    if buf.len() < off + plen + 4 {
        return eof.then(truncated);
    }
    if buf.get(off + 4) == Some(&0xff) {
        let code = buf.get(off + 5).copied().unwrap_or(0) as u16
            | (buf.get(off + 6).copied().unwrap_or(0) as u16) << 8;
        let desc = String::from_utf8_lossy(buf.get(off + 7..).unwrap_or(&[])).into_owned();
        return Some(with_code(fail_info(L7STS, desc), Some(code)));
    }
    if !last {
        return Some(Verdict::pass(L7OK));
    }
    // The server's version, a NUL-terminated string in the greeting.
    let v = buf.get(5..).unwrap_or(&[]);
    let v = &v[..v.iter().position(|&c| c == 0).unwrap_or(v.len())];
    Some(pass_info(L7OK, String::from_utf8_lossy(v)))
}

/// HAProxy's `tcpcheck_ldap_expect_bindrsp` (the first byte, 0x30, is already checked).
fn ldap_bind(buf: &[u8], eof: bool) -> Option<Verdict> {
    let short = || eof.then(|| fail_info(L7RSP, ""));
    let not_ldap = || Some(fail_info(L7RSP, "Not LDAPv3 protocol"));
    let mut p = 1;
    let len_byte = *buf.get(p)?;
    let (nbytes, msglen) = if len_byte & 0x80 != 0 {
        let n = (len_byte & 0x7f) as usize;
        let Some(b) = buf.get(p + 1..p + 1 + n) else {
            return short();
        };
        let l = match n {
            4 => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            2 => u16::from_be_bytes([b[0], b[1]]) as usize,
            _ => return not_ldap(),
        };
        (n, l)
    } else {
        (0, len_byte as usize)
    };
    p += 1 + nbytes;
    if buf.len() - p < msglen {
        return short();
    }
    // messageID 1, then protocolOp 0x61: bindResponse.
    if buf.get(p..p + 4) != Some(&[0x02, 0x01, 0x01, 0x61]) {
        return not_ldap();
    }
    p += 4;
    let n = match buf.get(p) {
        Some(&b) if b & 0x80 != 0 => (b & 0x7f) as usize,
        _ => 0,
    };
    if buf.len() < p + 1 + n + 2 + 1 {
        return short();
    }
    p += 1 + n;
    // ldapResult: ENUMERATED, length 1, then the resultCode.
    if buf[p..p + 2] != [0x0a, 0x01] {
        return not_ldap();
    }
    let code = buf[p + 2];
    Some(if code != 0 {
        with_code(
            fail_info(
                L7STS,
                "See RFC: http://tools.ietf.org/html/rfc4511#section-4.1.9",
            ),
            Some(code as u16),
        )
    } else {
        with_code(pass_info(L7OK, "Success"), Some(0))
    })
}

/// SPOP's varint (HAProxy's `decode_varint`).
fn varint(b: &[u8], p: &mut usize) -> Option<u64> {
    let first = *b.get(*p)?;
    *p += 1;
    if first < 240 {
        return Some(first as u64);
    }
    let mut v = first as u64;
    let mut shift = 4;
    loop {
        let c = *b.get(*p)?;
        *p += 1;
        v = v.checked_add((c as u64).checked_shl(shift)?)?;
        shift += 7;
        if c < 128 {
            return Some(v);
        }
    }
}

/// A length-prefixed string of SPOP.
fn spop_bytes<'a>(b: &'a [u8], p: &mut usize) -> Option<&'a [u8]> {
    let n = varint(b, p)? as usize;
    let s = b.get(*p..p.checked_add(n)?)?;
    *p += n;
    Some(s)
}

/// A typed SPOP value: its type, and its bytes (strings) or number (integers).
struct SpopValue<'a> {
    ty: u8,
    bytes: Option<&'a [u8]>,
    int: Option<u64>,
}

/// Reads (or skips) a typed value.
fn spop_value<'a>(b: &'a [u8], p: &mut usize) -> Option<SpopValue<'a>> {
    let ty = *b.get(*p)? & 0x0f;
    *p += 1;
    let (mut bytes, mut int) = (None, None);
    match ty {
        0 | 1 => {}
        2..=5 => int = Some(varint(b, p)?),
        6 | 7 => {
            let n = if ty == 6 { 4 } else { 16 };
            b.get(*p..*p + n)?;
            *p += n;
        }
        8 | 9 => bytes = Some(spop_bytes(b, p)?),
        _ => return None,
    }
    Some(SpopValue { ty, bytes, int })
}

/// SPOP's "MAJOR.MINOR" as 1000 × MAJOR + MINOR (HAProxy's `spoe_str_to_vsn`).
fn spop_version(s: &[u8]) -> Option<u32> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let (maj, min) = s.split_once('.')?;
    let (maj, min): (u32, u32) = (maj.parse().ok()?, min.parse().ok()?);
    (maj > 0 && min <= 999 && !s.ends_with('.')).then_some(maj * 1000 + min)
}

/// HAProxy's `tcpcheck_spop_expect_hello`: an AGENT-HELLO frame (FIN, stream and frame
/// id 0) with version 2.0, a max-frame-size in 256..=16380 and capabilities.
fn spop_hello(buf: &[u8], eof: bool) -> Option<Verdict> {
    let fail = |why: &str| Some(fail_info(L7RSP, why));
    let invalid = || fail("invalid frame received");
    if buf.len() < 11 {
        return if eof { invalid() } else { None };
    }
    let flen = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let ftype = buf[4];
    let flags = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]);
    if !(ftype == 101 || ftype == 102) || flags != 1 || buf[9] != 0 || buf[10] != 0 {
        return invalid();
    }
    if buf.len() < 4 + flen {
        return if eof { invalid() } else { None };
    }
    let end = 4 + flen;
    let b = &buf[..end];
    if ftype == 102 {
        // AGENT-DISCONNECT: the agent says why.
        let mut p = 11;
        let mut msg = String::from("AGENT-DISCONNECT");
        while p < end {
            let Some(k) = spop_bytes(b, &mut p).filter(|k| !k.is_empty()) else {
                return invalid();
            };
            let Some(v) = spop_value(b, &mut p) else {
                return invalid();
            };
            if let (b"message", Some(s)) = (k, v.bytes) {
                msg = String::from_utf8_lossy(s).into_owned();
            }
        }
        return fail(&msg);
    }
    let (mut vsn, mut mfs, mut caps) = (false, false, false);
    let mut p = 11;
    while p < end {
        let Some(k) = spop_bytes(b, &mut p).filter(|k| !k.is_empty()) else {
            return invalid();
        };
        let Some(SpopValue {
            ty: t,
            bytes: s,
            int: n,
        }) = spop_value(b, &mut p)
        else {
            return invalid();
        };
        match k {
            b"version" => {
                let Some(s) = s.filter(|_| t == 8) else {
                    return invalid();
                };
                match spop_version(s) {
                    None => return invalid(),
                    Some(2000) => vsn = true,
                    Some(_) => return fail("unsupported version"),
                }
            }
            b"max-frame-size" => {
                let Some(n) = n else { return invalid() };
                if !(256..=16380).contains(&n) {
                    return fail("max-frame-size too big or too small");
                }
                mfs = true;
            }
            b"capabilities" => {
                if t != 8 {
                    return invalid();
                }
                caps = true;
            }
            _ => {}
        }
    }
    if !vsn {
        return fail("version value not found");
    }
    if !mfs {
        return fail("max-frame-size value not found");
    }
    if !caps {
        return fail("capabilities value not found");
    }
    Some(pass_info(L7OK, "SPOA server is ok"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PresetExpect::*;

    fn ok(e: PresetExpect, b: &[u8]) -> bool {
        judge(e, b, true, 2).unwrap().ok
    }

    #[test]
    fn redis() {
        assert_eq!(judge(RedisPong, b"+PO", false, 2), None);
        let v = judge(RedisPong, b"+PONG\r\n", false, 2).unwrap();
        assert_eq!(
            v.describe(),
            "reason: Layer7 check passed, info: \"Redis server is ok\""
        );
        let v = judge(RedisPong, b"-LOADING Redis is loading\r\n", true, 2).unwrap();
        assert_eq!(
            v.describe(),
            "reason: Layer7 wrong status, info: \"-LOADING Redis is loading\""
        );
        // Without min-recv, a mismatch waits for more until the end.
        assert_eq!(judge(RedisPong, b"-NOAUTH x\r\n", false, 2), None);
    }

    #[test]
    fn ssl_hello() {
        assert_eq!(judge(SslHello, b"\x16\x03", false, 2), None);
        assert!(ok(SslHello, b"\x16\x03\x03\x00\x31"));
        assert!(ok(SslHello, b"\x15\x03\x00\x00\x02\x02\x28"));
        let v = judge(SslHello, b"HTTP/1.0 400", false, 2).unwrap();
        assert_eq!(v.reason, "Layer6 invalid response");
    }

    #[test]
    fn smtp() {
        assert!(ok(SmtpGreeting, b"220 mx ESMTP\r\n"));
        assert!(ok(SmtpGreeting, b"554 no\r\n"));
        assert!(!ok(SmtpGreeting, b"SSH-2.0-x\r\n"));
        assert!(ok(SmtpGreeting2xx, b"220 mx ESMTP\r\n"));
        let v = judge(SmtpGreeting2xx, b"554 5.3.2 busy\r\n", false, 3).unwrap();
        assert_eq!(
            v.describe(),
            "reason: Layer7 wrong status, code: 554, info: \"5.3.2 busy\""
        );
        assert_eq!(judge(SmtpHelo, b"250-mx\r\n250-PIPE", false, 5), None);
        assert!(ok(
            SmtpHelo,
            b"250-mx\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        ));
        assert!(!ok(SmtpHelo, b"250-mx\r\n501 bad\r\n"));
        assert!(ok(SmtpQuit, b"221 bye\r\n"));
    }

    #[test]
    fn pgsql() {
        assert!(ok(PgsqlNotError, b"R\0\0\0\x08\0\0\0\0"));
        let v = judge(PgsqlNotError, b"E\0\0\0\x50SFATAL\0", false, 3).unwrap();
        assert!(!v.ok);
        assert_eq!(v.reason, "Layer7 invalid response");
        assert!(ok(PgsqlAuth, b"R\0\0\0\x08\0\0\0\0"));
        assert!(ok(PgsqlAuth, b"R\0\0\0\x0c\0\0\0\x05abcd"));
        // SASL (10) is in HAProxy's list; 8 (GSS continue) is not.
        assert!(ok(PgsqlAuth, b"R\0\0\0\x17\0\0\0\x0aSCRAM"));
        assert!(!ok(PgsqlAuth, b"R\0\0\0\x08\0\0\0\x08"));
        assert_eq!(judge(PgsqlAuth, b"R\0\0\0\x08", false, 4), None);
    }

    #[test]
    fn mysql() {
        // A greeting: length 0x0a, sequence 0, protocol 10, version "8.0.1\0", more.
        let hs = b"\x0a\0\0\0\x0a8.0.1\0abc";
        assert_eq!(
            judge(MysqlHandshake { last: true }, &hs[..6], false, 2),
            None
        );
        let v = judge(MysqlHandshake { last: true }, hs, false, 2).unwrap();
        assert_eq!(v.describe(), "reason: Layer7 check passed, info: \"8.0.1\"");
        assert!(
            judge(MysqlHandshake { last: false }, hs, false, 2)
                .unwrap()
                .ok
        );
        let mut both = hs.to_vec();
        assert_eq!(judge(MysqlOk, &both, false, 3), None);
        both.extend_from_slice(b"\x07\0\0\x02\0\0\0\x02\0\0\0");
        assert!(judge(MysqlOk, &both, false, 3).unwrap().ok);
        let mut denied = hs.to_vec();
        denied.extend_from_slice(b"\x0b\0\0\x02\xff\x15\x04#28000no");
        let v = judge(MysqlOk, &denied, false, 3).unwrap();
        assert!(!v.ok);
        assert_eq!(v.code, Some(1045));
        assert!(!ok(
            MysqlHandshake { last: true },
            b"\x05\0\0\0\xff\x15\x04"
        ));
        assert!(!ok(MysqlHandshake { last: true }, b"\x40\0\0\0abc"));
    }

    #[test]
    fn ldap() {
        let good = b"\x30\x0c\x02\x01\x01\x61\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert!(ok(LdapMessage, good));
        assert_eq!(judge(LdapMessage, &good[..10], false, 2), None);
        let v = judge(LdapBind, good, false, 3).unwrap();
        assert_eq!(
            v.describe(),
            "reason: Layer7 check passed, code: 0, info: \"Success\""
        );
        let mut bad = *good;
        bad[9] = 49; // invalidCredentials
        let v = judge(LdapBind, &bad, false, 3).unwrap();
        assert!(!v.ok);
        assert_eq!(v.code, Some(49));
        assert!(!ok(LdapMessage, b"HTTP/1.1 400 Bad Request\r\n"));
        // Active Directory's 4-byte length form.
        let ad = b"\x30\x84\x00\x00\x00\x0c\x02\x01\x01\x61\x84\x00\x00\x00\x07\x0a\x01\x00\x04\x00\x04\x00";
        assert!(judge(LdapBind, ad, false, 3).unwrap().ok);
    }

    fn spop_frame(ftype: u8, items: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = vec![ftype, 0, 0, 0, 1, 0, 0];
        for (k, v) in items {
            body.push(k.len() as u8);
            body.extend_from_slice(k.as_bytes());
            body.extend_from_slice(v);
        }
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&body);
        f
    }

    #[test]
    fn spop() {
        let good = spop_frame(
            101,
            &[
                ("version", b"\x08\x032.0"),
                ("max-frame-size", b"\x03\xfc\xf0\x06"),
                ("capabilities", b"\x08\x00"),
            ],
        );
        assert_eq!(judge(SpopHello, &good[..12], false, 2), None);
        let v = judge(SpopHello, &good, false, 2).unwrap();
        assert_eq!(
            v.describe(),
            "reason: Layer7 check passed, info: \"SPOA server is ok\""
        );
        let old = spop_frame(
            101,
            &[
                ("version", b"\x08\x031.0"),
                ("max-frame-size", b"\x03\xfc\xf0\x06"),
                ("capabilities", b"\x08\x00"),
            ],
        );
        assert!(!ok(SpopHello, &old));
        let nocaps = spop_frame(
            101,
            &[
                ("version", b"\x08\x032.0"),
                ("max-frame-size", b"\x03\xfc\xf0\x06"),
            ],
        );
        assert!(!ok(SpopHello, &nocaps));
        let bye = spop_frame(
            102,
            &[("status-code", b"\x03\x02"), ("message", b"\x08\x04gone")],
        );
        let v = judge(SpopHello, &bye, false, 2).unwrap();
        assert_eq!(v.info.as_deref(), Some("gone"));
        let mut p = 0;
        assert_eq!(varint(b"\xfc\xf0\x06", &mut p), Some(16380));
    }
}
