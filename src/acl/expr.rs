//! One ACL expression: `FETCH [flags] [operator] [patterns]` (HAProxy's `parse_acl_expr`).

use std::path::Path;

use super::ParseCtx;
use super::Sample;
use super::fetch::{self, FetchExpr, split_call};
use super::pattern::{MatchMethod, Matcher, RawPattern};
use super::sample::SmpType;

/// A parsed ACL expression: what to fetch and how to match it.
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub(crate) fetch: FetchExpr,
    pub(crate) matcher: Matcher,
    /// The keyword as written (`req_ssl_sni`, `path_beg`), for messages.
    pub(crate) kw: Box<str>,
}

/// HAProxy's ACL keywords (src/http_acl.c, src/acl.c): a fetch with a matching method.
fn acl_keyword(kw: &str) -> Option<(&'static str, MatchMethod)> {
    const FAMILIES: [(&str, &str); 6] = [
        ("base", "base"),
        ("cook", "req.cook"),
        ("hdr", "req.hdr"),
        ("path", "path"),
        ("url", "url"),
        ("urlp", "urlp"),
    ];
    match kw {
        "method" => return Some(("method", MatchMethod::Meth)),
        "req_ver" => return Some(("req.ver", MatchMethod::Str)),
        _ => {}
    }
    let (family, suffix) = match kw.rsplit_once('_') {
        Some((f, s)) if FAMILIES.iter().any(|(n, _)| *n == f) => (f, s),
        _ => (kw, ""),
    };
    let fetch = FAMILIES.iter().find(|(n, _)| *n == family)?.1;
    let m = match suffix {
        "" => MatchMethod::Str,
        "beg" => MatchMethod::Beg,
        "dir" => MatchMethod::Dir,
        "dom" => MatchMethod::Dom,
        "end" => MatchMethod::End,
        "len" => MatchMethod::Len,
        "reg" => MatchMethod::Reg,
        "sub" => MatchMethod::Sub,
        _ => return None,
    };
    Some((fetch, m))
}

/// ACL keywords, for "did you mean".
pub(crate) fn acl_keywords() -> Vec<String> {
    let mut v = vec!["method".to_string(), "req_ver".to_string()];
    for f in ["base", "cook", "hdr", "path", "url", "urlp"] {
        for s in ["", "_beg", "_dir", "_dom", "_end", "_len", "_reg", "_sub"] {
            v.push(format!("{f}{s}"));
        }
    }
    v
}

impl Expr {
    /// Parses `words` = `FETCH [flags] [patterns]`.
    pub(crate) fn parse(words: &[String], ctx: &mut ParseCtx) -> Result<Expr, String> {
        let Some(first) = words.first().filter(|w| !w.is_empty()) else {
            return Err("missing fetch method in ACL expression ''".into());
        };
        let (fetch, mut method) = parse_fetch(first, &ctx.proxy)
            .map_err(|e| format!("{e} in ACL expression '{first}'"))?;
        let out = fetch.out_type();
        if out == SmpType::Any && !words.iter().any(|w| w == "-m") {
            let kw = split_call(first)?.0;
            return Err(format!(
                "matching method must be specified first (using '-m') when using a sample \
                 fetch of this type ('{kw}')"
            ));
        }
        if words.len() == 1 && out != SmpType::Bool {
            ctx.warn(format!(
                "ACL keyword '{first}': no pattern to match against were provided, so this ACL \
                 will never match (add '--' to silence this; '-m found' matches on existence, \
                 '-m bool' an int as a bool)"
            ));
        }

        let mut icase = false;
        let mut raw: Vec<RawPattern> = Vec::new();
        let mut loaded = false;
        let mut as_map = false;
        let mut i = 1;
        while let Some(w) = words.get(i).filter(|w| w.starts_with('-')) {
            let next = || {
                words
                    .get(i + 1)
                    .ok_or_else(|| format!("missing argument after '{w}'"))
            };
            match w.as_str() {
                "-i" => icase = true,
                // No DNS resolution: corelb never resolves pattern names anyway.
                "-n" => {}
                "-u" => {
                    next()?
                        .parse::<i64>()
                        .map_err(|_| "the argument of -u must be an integer".to_string())?;
                    i += 1;
                }
                // Map file syntax: only the key (first word) of each line is a pattern.
                "-M" => as_map = true,
                "-f" => {
                    let file = next()?;
                    read_pattern_file(file, ctx, as_map, &mut raw)?;
                    loaded = true;
                    i += 1;
                }
                "-m" => {
                    if loaded {
                        return Err("'-m' must only be specified before patterns and files in \
                                    parsing ACL expression"
                            .into());
                    }
                    let name = next()?;
                    let m = MatchMethod::from_name(name).ok_or_else(|| {
                        format!("unknown matching method '{name}' when parsing ACL expression")
                    })?;
                    if m != MatchMethod::Found && !out.casts_to(m.expects()) {
                        return Err(format!(
                            "matching method '{name}' cannot be used with fetch keyword '{first}'"
                        ));
                    }
                    method = m;
                    i += 1;
                }
                "--" => {
                    i += 1;
                    break;
                }
                _ => {
                    return Err(format!(
                        "'{w}' is not a valid ACL option. Please use '--' before any pattern \
                         beginning with a '-'"
                    ));
                }
            }
            i += 1;
        }
        for w in &words[i.min(words.len())..] {
            if w.is_empty() {
                // HAProxy's word list ends at the first empty word.
                ctx.warn("an empty pattern ends the pattern list, as in HAProxy".into());
                break;
            }
            raw.push(RawPattern {
                text: w.clone(),
                origin: String::new(),
            });
        }
        let mut warnings = Vec::new();
        let kw = split_call(first)?.0;
        if matches!(kw, "req.ssl_ver" | "req_ssl_ver") && method == MatchMethod::Int {
            // HAProxy's `pat_parse_dotted_ver`: `3.1` is 0x30001, in ranges too.
            for p in &mut raw {
                p.text = dotted_versions(&p.text)?;
            }
        }
        let matcher = Matcher::compile(method, icase, &raw, &mut |w| warnings.push(w))?;
        for w in warnings {
            ctx.warn(w);
        }
        Ok(Expr {
            fetch,
            matcher,
            kw: kw.into(),
        })
    }

    /// Whether one of the fetched values matches one of the patterns, in HAProxy's three
    /// values: a miss means more request bytes could change the answer.
    pub(crate) fn eval3(&self, s: &dyn Sample) -> super::cond::Tri {
        use super::cond::Tri;
        let mut hit = false;
        let may_change = self.fetch.each_checked(s, true, &mut |v| {
            hit = self.matcher.matches(v);
            !hit
        });
        if hit {
            Tri::Pass
        } else if may_change {
            Tri::Miss
        } else {
            Tri::Fail
        }
    }
}

/// `MAJOR.MINOR` as `MAJOR << 16 | MINOR`, on each side of a range (`3.1:3.3`).
fn dotted_versions(text: &str) -> Result<String, String> {
    if matches!(text, "eq" | "ge" | "gt" | "le" | "lt" | "ne") {
        return Ok(text.to_string());
    }
    let one = |v: &str| -> Result<String, String> {
        if v.is_empty() {
            return Ok(String::new());
        }
        let bad = || format!("'{v}' is not a dotted number");
        let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
        let major: i64 = major.parse().map_err(|_| bad())?;
        let minor: i64 = minor.parse().map_err(|_| bad())?;
        if !(0..=0xffff).contains(&major) || !(0..=0xffff).contains(&minor) {
            return Err(bad());
        }
        Ok(((major << 16) | minor).to_string())
    };
    match text.split_once(':') {
        Some((a, b)) => Ok(format!("{}:{}", one(a)?, one(b)?)),
        None => one(text),
    }
}

/// The fetch of an ACL, and the matching method its keyword implies. An ACL keyword
/// (`path_beg`) brings its method unless converters follow it, in which case the method
/// follows the converters' output type, as in HAProxy.
fn parse_fetch(word: &str, proxy: &str) -> Result<(FetchExpr, MatchMethod), String> {
    let (kw, args, rest) = split_call(word)?;
    if let Some((fetch_kw, m)) = acl_keyword(kw) {
        let fetch = fetch::Fetch::parse(fetch_kw, args.as_deref(), proxy)
            .map_err(|e| e.replace(&format!("'{fetch_kw}'"), &format!("'{kw}'")))?;
        let convs = fetch::parse_convs(kw, rest, fetch.out_type())?;
        let e = FetchExpr { fetch, convs };
        let m = if e.convs.is_empty() {
            m
        } else {
            MatchMethod::default_for(e.out_type())
        };
        return Ok((e, m));
    }
    let e = FetchExpr::parse(word, proxy).map_err(|e| {
        if e.starts_with("unknown fetch method") {
            let kws = acl_keywords();
            let mut all: Vec<&str> = kws.iter().map(String::as_str).collect();
            all.extend_from_slice(fetch::FETCH_KEYWORDS);
            all.extend_from_slice(super::fetch_more::KEYWORDS);
            all.extend_from_slice(super::fetch_px::KEYWORDS);
            format!(
                "unknown fetch method '{kw}'{}",
                super::did_you_mean(kw, all.iter().copied())
            )
        } else {
            e
        }
    })?;
    let m = MatchMethod::default_for(e.out_type());
    Ok((e, m))
}

/// Reads an ACL pattern file as HAProxy's `pat_ref_read_from_file`: one pattern per line; a
/// line starting with `#` (in the first column) is a comment; leading blanks are removed; the
/// pattern is the rest of the line up to CR/LF, inner and trailing blanks included; empty
/// lines are skipped. With `-M`, only the first word of a line is the pattern.
fn read_pattern_file(
    file: &str,
    ctx: &ParseCtx,
    as_map: bool,
    raw: &mut Vec<RawPattern>,
) -> Result<(), String> {
    let path = match &ctx.base_dir {
        Some(dir) if Path::new(file).is_relative() => dir.join(file),
        _ => Path::new(file).to_path_buf(),
    };
    let data =
        std::fs::read(&path).map_err(|e| format!("failed to open pattern file <{file}>: {e}"))?;
    for (n, line) in data.split(|&b| b == b'\n').enumerate() {
        if line.first() == Some(&b'#') {
            continue;
        }
        let start = line
            .iter()
            .position(|&b| b != b' ' && b != b'\t')
            .unwrap_or(line.len());
        let line = &line[start..];
        let end = line
            .iter()
            .position(|&b| b == b'\r' || b == b'\n')
            .unwrap_or(line.len());
        let mut pat = &line[..end];
        if as_map {
            let key_end = pat
                .iter()
                .position(|&b| b == b' ' || b == b'\t')
                .unwrap_or(pat.len());
            pat = &pat[..key_end];
        }
        if pat.is_empty() {
            continue;
        }
        let text = std::str::from_utf8(pat)
            .map_err(|_| format!("{file}:{}: pattern is not valid UTF-8", n + 1))?;
        raw.push(RawPattern {
            text: text.to_string(),
            origin: format!("{file}:{}: ", n + 1),
        });
    }
    Ok(())
}
