//! Conditional blocks (`.if`/`.elif`/`.else`/`.endif`) and their expressions, as HAProxy's
//! configuration manual (section 2.4) and src/cfgcond.c define them; also used by `-cc`.
//!
//! An expression is `||` of `&&` of terms; a term is `!`* then a number (C's `strtol` with
//! base 0: non-zero is true), `( EXPR )`, or a predicate with its arguments in parentheses.
//! An empty expression is false. Arguments end at `,` or `)`, blanks included
//! (`streq(a, a)` is false, as in HAProxy).
//!
//! Predicates compare against what corelb claims to be: the configuration language of
//! HAProxy [`LANGUAGE_VERSION`] (Debian 12's HAProxy, which the differential tests run
//! beside corelb), with the build features in [`FEATURES`].

use super::units::{CLong, strtol};

/// The HAProxy version whose configuration language corelb speaks, for `version_atleast()`
/// and `version_before()`.
pub const LANGUAGE_VERSION: &str = "2.6.12";

/// HAProxy's build feature list as `feature()` sees it: what corelb has (`+`) and what it
/// deliberately does not (`-`). TLS is rustls, named OPENSSL here because configurations
/// test `feature(OPENSSL)` to mean "TLS is available".
pub const FEATURES: &str = "+OPENSSL +LINUX_SPLICE +CPU_AFFINITY +GETADDRINFO +PROMEX +THREAD \
     +ACCEPT4 +REUSEPORT -LUA -QUIC -PCRE -PCRE2 -ZLIB -SLZ -51DEGREES -DEVICEATLAS -WURFL -OT \
     -SYSTEMD -KTLS_OPENSSL";

/// How deep `(`, `!` and predicates may nest (HAProxy's MAX_CFG_RECURSION).
const MAX_DEPTH: usize = 1024;
/// How deep `.if` blocks may nest (HAProxy's MAXNESTEDCONDS).
pub const MAX_NESTED: usize = 128;

/// Evaluates one expression (the words after `.if`, joined by single spaces). `getenv`
/// answers `defined()`. The error says what and where, like HAProxy's.
pub fn eval(expr: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<bool, String> {
    if expr.is_empty() {
        return Ok(false);
    }
    let mut p = P {
        s: expr.as_bytes(),
        i: 0,
        getenv,
    };
    let v = p.expr(MAX_DEPTH)?;
    p.blanks();
    if let Some(&c) = p.s.get(p.i) {
        return Err(format!(
            "unexpected character '{}' at the end of conditional expression '{expr}'",
            c as char
        ));
    }
    Ok(v)
}

struct P<'a> {
    s: &'a [u8],
    i: usize,
    getenv: &'a dyn Fn(&str) -> Option<String>,
}

impl P<'_> {
    fn blanks(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn rest(&self) -> String {
        String::from_utf8_lossy(&self.s[self.i.min(self.s.len())..]).into_owned()
    }

    fn expr(&mut self, depth: usize) -> Result<bool, String> {
        if self.i >= self.s.len() || depth == 0 {
            return Err(format!(
                "unparsable conditional expression '{}'",
                self.rest()
            ));
        }
        // Every term is parsed (and so checked) even when the result is already known.
        let mut v = self.and(depth - 1)?;
        loop {
            self.blanks();
            if !self.s[self.i..].starts_with(b"||") {
                return Ok(v);
            }
            self.i += 2;
            self.blanks();
            if self.i >= self.s.len() {
                return Err(format!(
                    "unparsable conditional expression '{}'",
                    self.rest()
                ));
            }
            v |= self.and(depth - 1)?;
        }
    }

    fn and(&mut self, depth: usize) -> Result<bool, String> {
        if depth == 0 {
            return Err(format!(
                "unparsable conditional sub-expression '{}'",
                self.rest()
            ));
        }
        let mut v = self.term(depth - 1)?;
        loop {
            self.blanks();
            if !self.s[self.i..].starts_with(b"&&") {
                return Ok(v);
            }
            self.i += 2;
            self.blanks();
            if self.i >= self.s.len() {
                return Err(format!(
                    "unparsable conditional sub-expression '{}'",
                    self.rest()
                ));
            }
            v &= self.term(depth - 1)?;
        }
    }

    fn term(&mut self, depth: usize) -> Result<bool, String> {
        let start = self.i;
        self.blanks();
        if self.i >= self.s.len() || depth == 0 {
            self.i = start;
            return Err(format!(
                "unparsable conditional sub-expression '{}'",
                self.rest()
            ));
        }
        let mut neg = false;
        while self.s.get(self.i) == Some(&b'!') {
            neg = !neg;
            self.i += 1;
            self.blanks();
        }
        if let Some(CLong {
            value: n,
            used: len,
            ..
        }) = strtol(&self.s[self.i..], 0)
        {
            self.i += len;
            return Ok((n != 0) ^ neg);
        }
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            self.blanks();
            let v = self.expr(depth - 1)?;
            self.blanks();
            if self.s.get(self.i) != Some(&b')') {
                return Err(format!(
                    "expected ')' after conditional expression '{}'",
                    String::from_utf8_lossy(&self.s[start..])
                ));
            }
            self.i += 1;
            self.blanks();
            return Ok(v ^ neg);
        }
        let name_len = self.s[self.i..]
            .iter()
            .position(|&c| c == b' ' || c == b'(')
            .unwrap_or(self.s.len() - self.i);
        let name = String::from_utf8_lossy(&self.s[self.i..self.i + name_len]).into_owned();
        let Some(&(_, nargs)) = PREDICATES.iter().find(|(n, _)| *n == name) else {
            self.i = start;
            return Err(format!(
                "unparsable conditional expression '{}'",
                self.rest().trim_start()
            ));
        };
        self.i += name_len;
        let args = self.args(&name, nargs)?;
        Ok(self.pred(&name, &args)? ^ neg)
    }

    /// `(a,b)`: exactly `n` string arguments (HAProxy's `make_arg_list`).
    fn args(&mut self, name: &str, n: usize) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            loop {
                let len = self.s[self.i..]
                    .iter()
                    .position(|&c| c == b',' || c == b')');
                let Some(len) = len else {
                    return Err(format!(
                        "expected ')' after the arguments of predicate '{name}' used in conditional expression"
                    ));
                };
                let a = String::from_utf8_lossy(&self.s[self.i..self.i + len]).into_owned();
                let sep = self.s[self.i + len];
                self.i += len + 1;
                if !(a.is_empty() && sep == b')' && out.is_empty()) {
                    out.push(a);
                }
                if sep == b')' {
                    break;
                }
            }
        }
        if out.len() < n {
            return Err(format!(
                "missing arguments (got {}/{n}), type 'string' expected in argument {} of predicate '{name}' used in conditional expression",
                out.len(),
                out.len() + 1
            ));
        }
        if out.len() > n {
            return Err(format!(
                "too many arguments (got {}/{n}) for predicate '{name}' used in conditional expression",
                out.len()
            ));
        }
        Ok(out)
    }

    fn pred(&self, name: &str, a: &[String]) -> Result<bool, String> {
        Ok(match name {
            "defined" => (self.getenv)(&a[0]).is_some(),
            "feature" => FEATURES
                .split_whitespace()
                .find(|f| f[1..] == a[0])
                .is_some_and(|f| f.starts_with('+')),
            "streq" => a[0] == a[1],
            "strneq" => a[0] != a[1],
            "strstr" => a[0].contains(a[1].as_str()),
            // An unparsable version compares as "older": HAProxy's `compare_current_version`
            // returns -3, which `<= 0` takes as at least.
            "version_atleast" => compare_version(&a[0]).is_none_or(|o| o.is_le()),
            "version_before" => compare_version(&a[0]).is_some_and(|o| o.is_gt()),
            _ => unreachable!("predicate table"),
        })
    }
}

/// The predicates and how many arguments each takes.
const PREDICATES: &[(&str, usize)] = &[
    ("defined", 1),
    ("feature", 1),
    ("streq", 2),
    ("strneq", 2),
    ("strstr", 2),
    ("version_atleast", 1),
    ("version_before", 1),
];

/// HAProxy's `split_version`: `a[.b[.c[.d]]][-{dev,rc,pre}N][-*][-commit]` into seven
/// numbers (the tag: dev 1, rc/pre 2, none 3).
fn split_version(v: &str) -> Option<[u64; 7]> {
    let b = v.as_bytes();
    if b.is_empty() {
        return None;
    }
    // C's strtol(…, 10) from `i`: the value and where it stopped.
    let num = |i: usize| -> (u64, usize) {
        let d = b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        (v[i..i + d].parse().unwrap_or(0), i + d)
    };
    // A whole-string number, else 0.
    let whole = |s: &str| s.parse::<u64>().unwrap_or(0);
    let mut out = [0, 0, 0, 0, 3, 0, 0];
    let mut p = 0;
    for k in 0..4 {
        let (n, end) = num(p);
        out[k] = n;
        match b.get(end) {
            None => return Some(out),
            Some(b'-') => {
                p = end + 1;
                break;
            }
            Some(b'.') if k < 3 => p = end + 1,
            _ => return None,
        }
    }
    let mut rest = &v[p..];
    if !rest.starts_with(|c: char| c.is_ascii_digit()) {
        let tagged = [("dev", 1), ("rc", 2), ("pre", 2)]
            .iter()
            .find_map(|&(t, n)| rest.strip_prefix(t).map(|r| (n, r)));
        if let Some((t, r)) = tagged {
            out[4] = t;
            let d = r.bytes().take_while(u8::is_ascii_digit).count();
            out[5] = r[..d].parse().unwrap_or(0);
            match r.as_bytes().get(d) {
                None => return Some(out),
                Some(b'-') => rest = &r[d + 1..],
                _ => return None,
            }
        }
    }
    out[6] = match rest.rfind('-') {
        Some(i) if i + 1 == rest.len() => return None,
        Some(i) => whole(&rest[i + 1..]),
        None => whole(rest),
    };
    Some(out)
}

/// How `v` compares with [`LANGUAGE_VERSION`] (Less: `v` is older); None if unparsable.
fn compare_version(v: &str) -> Option<std::cmp::Ordering> {
    let cur = split_version(LANGUAGE_VERSION).expect("LANGUAGE_VERSION parses");
    Some(split_version(v)?.cmp(&cur))
}

/// Where a file is in its `.if` blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// This branch is taken.
    Take,
    /// An earlier branch was taken (or the enclosing block is dropped): skip to `.endif`.
    Skip,
    /// This branch is not taken; a later `.elif`/`.else` may be.
    Drop,
}

/// The `.if` stack of one file.
#[derive(Default, Debug)]
pub struct Blocks {
    /// (state, whether `.else` was seen, the line of the `.if`).
    stack: Vec<(Block, bool, u32)>,
}

/// What the parser does with a line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A block directive, handled here: nothing more to do.
    Done,
    /// A block directive that is wrong (the message).
    Error(String),
    /// An ordinary line (or `.diag` and friends) inside taken blocks: parse it.
    Keep,
    /// A line inside a block that is not taken.
    Dropped,
}

impl Blocks {
    /// Feeds one line's words (`w[0]` is the keyword); `line` is its number.
    pub fn line(
        &mut self,
        w: &[String],
        line: u32,
        getenv: &dyn Fn(&str) -> Option<String>,
    ) -> Line {
        let active = self.stack.last().is_none_or(|b| b.0 == Block::Take);
        let expr = || w[1..].join(" ");
        match w[0].as_str() {
            ".if" => {
                if self.stack.len() + 1 >= MAX_NESTED {
                    return Line::Error(format!("too many nested '.if', max is {MAX_NESTED}"));
                }
                if !active {
                    self.stack.push((Block::Skip, false, line));
                    return Line::Done;
                }
                match eval(&expr(), getenv) {
                    Ok(v) => {
                        self.stack
                            .push((if v { Block::Take } else { Block::Drop }, false, line));
                        Line::Done
                    }
                    Err(e) => {
                        // The block is skipped so that its lines add no errors of their own.
                        self.stack.push((Block::Skip, false, line));
                        Line::Error(format!("{e} in '.if'"))
                    }
                }
            }
            ".elif" => {
                let Some(top) = self.stack.last_mut() else {
                    return Line::Error("lone '.elif' with no matching '.if'".into());
                };
                if top.1 {
                    return Line::Error("'.elif' after '.else' is not permitted".into());
                }
                if top.0 != Block::Drop {
                    top.0 = Block::Skip;
                    return Line::Done;
                }
                match eval(&expr(), getenv) {
                    Ok(v) => {
                        top.0 = if v { Block::Take } else { Block::Drop };
                        Line::Done
                    }
                    Err(e) => {
                        top.0 = Block::Skip;
                        Line::Error(format!("{e} in '.elif'"))
                    }
                }
            }
            ".else" => {
                let Some(top) = self.stack.last_mut() else {
                    return Line::Error("lone '.else' with no matching '.if'".into());
                };
                if top.1 {
                    return Line::Error("'.else' after '.else' is not permitted".into());
                }
                top.1 = true;
                top.0 = if top.0 == Block::Drop {
                    Block::Take
                } else {
                    Block::Skip
                };
                Line::Done
            }
            ".endif" => {
                if self.stack.pop().is_none() {
                    return Line::Error("lone '.endif' with no matching '.if'".into());
                }
                Line::Done
            }
            _ if active => Line::Keep,
            _ => Line::Dropped,
        }
    }

    /// At the end of a file: the line of an `.if` left open.
    pub fn unterminated(&self) -> Option<u32> {
        self.stack.last().map(|b| b.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "SET").then(|| "v".to_string())
    }

    fn ev(e: &str) -> Result<bool, String> {
        eval(e, &env)
    }

    #[test]
    fn terms_and_operators() {
        assert_eq!(ev(""), Ok(false));
        assert_eq!(ev("1"), Ok(true));
        assert_eq!(ev("0"), Ok(false));
        assert_eq!(ev("-1"), Ok(true));
        assert_eq!(ev("0x10"), Ok(true));
        assert_eq!(ev("00"), Ok(false));
        assert_eq!(ev("!1 || 0"), Ok(false));
        assert_eq!(ev("! ! 1"), Ok(true));
        assert_eq!(ev("(1 && 0) || 1"), Ok(true));
        assert_eq!(ev("1 && (0 || !0)"), Ok(true));
        assert_eq!(ev("!(1 && 1)"), Ok(false));
        assert!(ev("foo").unwrap_err().contains("unparsable"));
        assert!(ev("1 2").unwrap_err().contains("unexpected character '2'"));
        assert!(ev("1 &&").is_err());
        assert!(ev("(1").unwrap_err().contains("expected ')'"));
        assert!(ev(" ").is_err());
    }

    #[test]
    fn predicates() {
        assert_eq!(ev("defined(SET)"), Ok(true));
        assert_eq!(ev("defined(UNSET)"), Ok(false));
        assert_eq!(ev("feature(OPENSSL)"), Ok(true));
        assert_eq!(ev("feature(OPENS)"), Ok(false));
        assert_eq!(ev("feature(LUA)"), Ok(false));
        assert_eq!(ev("streq(a,a)"), Ok(true));
        assert_eq!(ev("streq(a, a)"), Ok(false));
        assert_eq!(ev("streq(,)"), Ok(true));
        assert_eq!(ev("strneq(a,b)"), Ok(true));
        assert_eq!(ev("strstr(abc,b)"), Ok(true));
        assert!(
            ev("streq(a)")
                .unwrap_err()
                .contains("missing arguments (got 1/2)")
        );
        assert!(ev("streq(a,b,c)").unwrap_err().contains("too many"));
        assert!(ev("defined").unwrap_err().contains("missing arguments"));
        assert!(ev("defined(X").unwrap_err().contains("expected ')'"));
    }

    #[test]
    fn versions() {
        for (v, atleast) in [
            ("2.6", true),
            ("2.6.12", true),
            ("2.6.13", false),
            ("2.6-dev1", true),
            ("2.7", false),
            ("1.8.30", true),
            ("3.0", false),
            ("x", true),
        ] {
            assert_eq!(ev(&format!("version_atleast({v})")), Ok(atleast), "{v}");
            let before = split_version(v).is_some() && !atleast;
            assert_eq!(ev(&format!("version_before({v})")), Ok(before), "{v}");
        }
        assert_eq!(split_version("1.5-dev18-43"), Some([1, 5, 0, 0, 1, 18, 43]));
        assert_eq!(
            split_version("2.4-dev18-f6818d-20"),
            Some([2, 4, 0, 0, 1, 18, 20])
        );
        assert_eq!(split_version("1.2.1-pre2"), Some([1, 2, 1, 0, 2, 2, 0]));
        assert_eq!(
            split_version("2.6.12-1+deb12u4"),
            Some([2, 6, 12, 0, 3, 0, 0])
        );
    }

    /// Random token strings (a small LCG, fixed seed): whatever evaluates, its negation,
    /// `E || E` and `E && E` evaluate consistently (the fuzz target's property, run here).
    #[test]
    fn generated_expressions_are_consistent() {
        const T: &[&str] = &[
            "1",
            "0",
            "!",
            "(",
            ")",
            "&&",
            "||",
            " ",
            "defined(SET)",
            "defined(NO)",
            "streq(a,a)",
            "strneq(a,a)",
            "0x1",
            "-0",
        ];
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut ok = 0;
        for _ in 0..20_000 {
            let mut e = String::new();
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            for _ in 0..(x >> 60) as usize + 1 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                e.push_str(T[(x >> 33) as usize % T.len()]);
                e.push(' ');
            }
            let e = e.trim_end();
            let Ok(v) = ev(e) else { continue };
            if e.trim().is_empty() {
                continue;
            }
            ok += 1;
            assert_eq!(ev(&format!("!({e})")), Ok(!v), "{e}");
            assert_eq!(ev(&format!("({e}) || ({e})")), Ok(v), "{e}");
            assert_eq!(ev(&format!("({e}) && !({e})")), Ok(false), "{e}");
        }
        assert!(ok > 500, "{ok}");
    }

    fn run(text: &str) -> Vec<(u32, Line)> {
        let mut b = Blocks::default();
        text.lines()
            .enumerate()
            .map(|(n, l)| {
                let w: Vec<String> = l.split_whitespace().map(String::from).collect();
                (n as u32 + 1, b.line(&w, n as u32 + 1, &env))
            })
            .collect()
    }

    #[test]
    fn nesting() {
        let r = run(".if 0\na\n.if 1\nb\n.endif\n.elif 1\nc\n.else\nd\n.endif\ne");
        let kept: Vec<u32> = r
            .iter()
            .filter(|(_, l)| *l == Line::Keep)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(kept, [7, 11]);
        let r = run(".if 1\n.if 0\nx\n.else\ny\n.endif\n.else\nz\n.endif");
        let kept: Vec<u32> = r
            .iter()
            .filter(|(_, l)| *l == Line::Keep)
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(kept, [5]);
        // An error inside a dropped block is not evaluated.
        let r = run(".if 0\n.if foo\n.endif\n.endif");
        assert!(r.iter().all(|(_, l)| *l == Line::Done));
    }

    #[test]
    fn unbalanced() {
        let r = run(".endif");
        assert!(matches!(&r[0].1, Line::Error(e) if e.contains("lone '.endif'")));
        let r = run(".else");
        assert!(matches!(&r[0].1, Line::Error(e) if e.contains("lone '.else'")));
        let r = run(".if 1\n.else\n.elif 1");
        assert!(matches!(&r[2].1, Line::Error(e) if e.contains("after '.else'")));
        let mut b = Blocks::default();
        b.line(&[".if".into(), "1".into()], 3, &env);
        assert_eq!(b.unterminated(), Some(3));
    }
}
