//! ACL lines, conditions and log-format strings from arbitrary text, evaluated on an arbitrary
//! request: parsing never panics, and what parses evaluates without panicking; `unless C` is
//! always the negation of `if C`, and `if C || C` agrees with `if C`.
//!
//! Input: configuration text, a NUL byte, then a raw request head (mode tcp if it does not
//! parse). Lines are `acl NAME ...`, `if ...`/`unless ...` (conditions), or anything else
//! (a log-format string). `-f` is skipped: a fuzzer must not make the target read files.
#![no_main]

use corelb::acl::{Acls, Cond, LogFormat, ParseCtx, RawRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cfg, raw) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(cfg) = std::str::from_utf8(cfg) else { return };
    let mut req = match RawRequest::parse(raw) {
        Ok(r) => r,
        Err(_) => RawRequest::tcp(),
    };
    req.nbsrv = vec![0, 1, 2];
    req.stopping = raw.len() % 2 == 1;

    let mut acls = Acls::new();
    let mut ctx = ParseCtx::new("fe");
    let lookup = |n: &str| n.len().checked_sub(1).filter(|&i| i < 3);
    for line in cfg.lines().take(64) {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        if words.iter().any(|w| w == "-f") {
            continue;
        }
        match words.first().map(String::as_str) {
            Some("acl") => {
                let _ = acls.define(&words[1..], &mut ctx);
                let _ = acls.resolve_backends(&lookup);
            }
            Some("if") | Some("unless") => {
                let Ok(mut c) = Cond::parse(&words, &acls, &mut ctx) else { continue };
                if c.resolve_backends(&lookup).is_err() {
                    continue;
                }
                let r = c.eval(&acls, &req);
                let mut flipped = words.clone();
                flipped[0] = if words[0] == "if" { "unless" } else { "if" }.into();
                let mut f = Cond::parse(&flipped, &acls, &mut ctx).expect("same terms parse");
                f.resolve_backends(&lookup).expect("same backends");
                assert_eq!(f.eval(&acls, &req), !r, "{line}");
                let mut twice = words.clone();
                twice.push("||".into());
                twice.extend_from_slice(&words[1..]);
                let mut t = Cond::parse(&twice, &acls, &mut ctx).expect("doubled parses");
                t.resolve_backends(&lookup).expect("same backends");
                // `unless C || C` is `!(C || C)`, `if C || C` is `C || C`: both equal to `C`'s.
                assert_eq!(t.eval(&acls, &req), r, "{line}");
            }
            _ => {
                if let Ok(mut lf) = LogFormat::parse(line, &mut ctx) {
                    if lf.resolve_backends(&lookup).is_ok() {
                        let mut out = Vec::new();
                        lf.render(&req, &mut out);
                    }
                }
            }
        }
    }
});
