//! One ACL expression: `FETCH [flags] [operator] [patterns]` (HAProxy's `parse_acl_expr`).

use std::any::Any;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;

use super::ParseCtx;
use super::Sample;
use super::fetch::{self, FetchExpr, split_call};
use super::patref::{self, Index, RefEntry};
use super::pattern::{MatchMethod, Matcher, RawPattern};
use super::sample::SmpType;

/// A parsed ACL expression: what to fetch and how to match it.
#[derive(Clone, Debug)]
pub(crate) struct Expr {
    pub(crate) fetch: FetchExpr,
    /// The `-f` files' patterns, then the inline ones, each a reference shared with its
    /// other users (clones of the expression) and changed at run time.
    pub(crate) lists: Box<[Arc<LiveAcl>]>,
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
        let mut user_id = None;
        let mut raw: Vec<RawPattern> = Vec::new();
        let mut files: Vec<(String, bool)> = Vec::new();
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
                    let id = next()?
                        .parse::<i64>()
                        .map_err(|_| "the argument of -u must be an integer".to_string())?;
                    // HAProxy's -1 is "no id chosen".
                    user_id = u32::try_from(id).ok();
                    i += 1;
                }
                // Map file syntax: only the key (first word) of each line is a pattern.
                "-M" => as_map = true,
                "-f" => {
                    files.push((next()?.clone(), as_map));
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
        // HAProxy's `pat_parse_dotted_ver`: `3.1` is 0x30001, in ranges too.
        let dotted = matches!(kw, "req.ssl_ver" | "req_ssl_ver") && method == MatchMethod::Int;
        // The reference holds the patterns as HAProxy's compatibility layer rewrites them
        // (`gt 3.1` is `3.2:`), so that each reads alone when the CLI adds one.
        let inline_entries = super::pattern::ref_texts(method, dotted, &raw);
        if dotted {
            for p in &mut raw {
                p.text = dotted_versions(&p.text)?;
            }
        }
        // Compiled once as written, for the messages about the configuration's words.
        Matcher::compile(method, icase, &raw, &mut |w| warnings.push(w))?;
        let mut live = Vec::new();
        for (file, as_map) in files {
            let r = patref::load(&file, as_map, || read_pattern_file(&file, ctx, as_map))?;
            let l = LiveAcl::new(method, icase, dotted)?;
            r.attach(
                if as_map {
                    patref::MAP | patref::ACL
                } else {
                    patref::ACL
                },
                l.clone(),
            )?;
            live.push(l);
        }
        // After the files' references, as in HAProxy.
        let r = patref::inline(kw, user_id, inline_entries)?;
        let l = LiveAcl::new(method, icase, dotted)?;
        r.attach(patref::ACL, l.clone())?;
        live.push(l);
        for w in warnings {
            ctx.warn(w);
        }
        Ok(Expr {
            fetch,
            lists: live.into(),
            kw: kw.into(),
        })
    }

    /// Whether one of the fetched values matches one of the patterns, in HAProxy's three
    /// values: a miss means more request bytes could change the answer.
    pub(crate) fn eval3(&self, s: &dyn Sample) -> super::cond::Tri {
        use super::cond::Tri;
        let mut hit = false;
        let may_change = self.fetch.each_checked(s, true, &mut |v| {
            hit = self.lists.iter().any(|f| f.matches(v));
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

/// One `-f` file, or the inline patterns, as an ACL expression matches them (one per
/// expression and reference).
#[derive(Debug)]
pub(crate) struct LiveAcl {
    method: MatchMethod,
    icase: bool,
    /// Versions written `MAJOR.MINOR` (`req.ssl_ver`).
    dotted: bool,
    /// The patterns the configuration loaded (the first [`Index::store`]), read with a
    /// plain load while `changed` is false: ArcSwap's bookkeeping on every read cost about
    /// 80 instructions per ACL evaluation (bench/h2-counts.sh with ten conditions).
    first: OnceLock<Matcher>,
    /// The stats socket changed the reference since: `cur` holds its patterns.
    changed: AtomicBool,
    cur: ArcSwap<Matcher>,
}

impl LiveAcl {
    /// Without patterns until its reference attaches it.
    fn new(method: MatchMethod, icase: bool, dotted: bool) -> Result<Arc<LiveAcl>, String> {
        Ok(Arc::new(LiveAcl {
            method,
            icase,
            dotted,
            first: OnceLock::new(),
            changed: AtomicBool::new(false),
            cur: ArcSwap::from_pointee(matcher_of(method, icase, false, "", &[])?),
        }))
    }

    /// Whether `v` matches the reference's current patterns (none before it attached).
    fn matches(&self, v: super::sample::Value<'_>) -> bool {
        // (Acquire: a reader that sees the change sees the `cur` stored before it.)
        if !self.changed.load(Ordering::Acquire) {
            return self.first.get().is_some_and(|m| m.matches(v));
        }
        self.cur.load().matches(v)
    }
}

/// The entries of `file` as patterns, with their lines for messages.
fn raw_of(file: &str, entries: &[RefEntry]) -> Vec<RawPattern> {
    (entries.iter())
        .map(|e| RawPattern {
            text: String::from_utf8_lossy(&e.key).into_owned(),
            origin: match e.line {
                0 => String::new(),
                n => format!("{file}:{n}: "),
            },
        })
        .collect()
}

/// A reference's entries compiled, each read alone (no operators).
fn matcher_of(
    method: MatchMethod,
    icase: bool,
    dotted: bool,
    file: &str,
    entries: &[RefEntry],
) -> Result<Matcher, String> {
    let mut raw = raw_of(file, entries);
    if dotted {
        for p in &mut raw {
            p.text = dotted_versions(&p.text).map_err(|e| format!("{}{e}", p.origin))?;
        }
    }
    Matcher::compile_entries(method, icase, &raw)
}

impl Index for LiveAcl {
    fn build(&self, file: &str, entries: &[RefEntry]) -> Result<Box<dyn Any + Send>, String> {
        Ok(Box::new(matcher_of(
            self.method,
            self.icase,
            self.dotted,
            file,
            entries,
        )?))
    }

    fn store(&self, built: Box<dyn Any + Send>) {
        if let Ok(m) = built.downcast::<Matcher>() {
            let m = match self.changed.load(Ordering::Relaxed) {
                false => match self.first.set(*m) {
                    Ok(()) => return,
                    Err(m) => m,
                },
                true => *m,
            };
            self.cur.store(Arc::new(m));
            self.changed.store(true, Ordering::Release);
        }
    }

    /// HAProxy's `get acl` line: the first pattern that matches `value`.
    fn get(&self, entries: &[RefEntry], value: &[u8]) -> String {
        let v = super::sample::Value::Str(value);
        let hit = entries.iter().find(|e| {
            let m = matcher_of(
                self.method,
                self.icase,
                self.dotted,
                "",
                std::slice::from_ref(e),
            );
            m.is_ok_and(|m| m.matches(v))
        });
        let name = self.method.name();
        // HAProxy's trees compare bytes: it lists the patterns when the case is ignored.
        let idx = match self.method {
            MatchMethod::Str | MatchMethod::Beg if !self.icase => "tree",
            MatchMethod::Ip => "tree",
            _ => "list",
        };
        let case = if self.icase {
            "insensitive"
        } else {
            "sensitive"
        };
        match hit {
            Some(e) => format!(
                "type={name}, case={case}, match=yes, idx={idx}, pattern=\"{}\"",
                String::from_utf8_lossy(&e.key)
            ),
            None => format!("type={name}, case={case}, match=no"),
        }
    }
}

/// Reads an ACL pattern file as HAProxy's `pat_ref_read_from_file`: one pattern per line; a
/// line starting with `#` (in the first column) is a comment; leading blanks are removed; the
/// pattern is the rest of the line up to CR/LF, inner and trailing blanks included; empty
/// lines are skipped. With `-M`, only the first word of a line is the pattern.
fn read_pattern_file(
    file: &str,
    ctx: &ParseCtx,
    as_map: bool,
) -> Result<Vec<patref::FileLine>, String> {
    let mut out = Vec::new();
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
        std::str::from_utf8(pat)
            .map_err(|_| format!("{file}:{}: pattern is not valid UTF-8", n + 1))?;
        out.push((pat.into(), Box::default(), n as u32 + 1));
    }
    Ok(out)
}
