//! `.if` expressions and access-log formats from arbitrary text: evaluating never panics;
//! what evaluates, `!( E )` negates and `E || E`, `E && E` agree with; an access-log format
//! that parses renders without panicking.
//!
//! Input: lines; each is tried as an expression and as a log format (mode http on odd
//! lines, mode tcp on even ones).
#![no_main]

use corelb::acl::{LogFormat, LogVars, Opts, ParseCtx, RawRequest, Var};
use corelb::config::cond::eval;
use libfuzzer_sys::fuzz_target;

/// Every log variable as a short string, so that rendering walks every node.
struct Vars;

impl LogVars for Vars {
    fn var(&self, _v: Var, o: Opts, out: &mut Vec<u8>) {
        corelb::acl::put_str(Some(b"v"), o, out);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |k: &str| (k.len() % 2 == 0).then(|| k.to_string());
    let req = RawRequest::tcp();
    for (n, line) in text.lines().take(32).enumerate() {
        if let Ok(v) = eval(line, &env) {
            if !line.trim().is_empty() {
                assert_eq!(eval(&format!("!({line})"), &env), Ok(!v), "{line}");
                assert_eq!(eval(&format!("({line}) || ({line})"), &env), Ok(v), "{line}");
                assert_eq!(eval(&format!("({line}) && ({line})"), &env), Ok(v), "{line}");
            }
        }
        let mut ctx = ParseCtx::new("fe");
        if let Ok(lf) = LogFormat::parse_log(line, &mut ctx, n % 2 == 1) {
            let mut out = Vec::new();
            lf.render_log(&req, &Vars, &mut out);
        }
    }
});
