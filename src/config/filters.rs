//! HTTP filters: `compression algo|type|offload` and `filter compression|cache NAME`, as HAProxy
//! 2.6 parses them (src/flt_http_comp.c `parse_compression_options`, `parse_http_comp_flt`,
//! `check_implicit_http_comp_flt`; src/cache.c for `filter cache`).

use super::diag::{Diags, Loc};
use super::model::{Kind, Proxy};

/// One `compression algo` name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompAlgo {
    /// No coding: the answer is only re-chunked (HAProxy's `identity`, for tests).
    Identity,
    /// zlib-wrapped deflate (RFC 1950), announced as `deflate`.
    Deflate,
    /// Raw deflate (RFC 1951), also announced as `deflate` (for clients that expect it).
    RawDeflate,
    /// gzip (RFC 1952).
    Gzip,
}

impl CompAlgo {
    fn parse(s: &str) -> Option<CompAlgo> {
        Some(match s {
            "identity" => CompAlgo::Identity,
            "deflate" => CompAlgo::Deflate,
            "raw-deflate" => CompAlgo::RawDeflate,
            "gzip" => CompAlgo::Gzip,
            _ => return None,
        })
    }

    /// The token clients name it by in Accept-Encoding, and the Content-Encoding value.
    pub fn token(self) -> &'static str {
        match self {
            CompAlgo::Identity => "identity",
            CompAlgo::Deflate | CompAlgo::RawDeflate => "deflate",
            CompAlgo::Gzip => "gzip",
        }
    }
}

/// A proxy's `compression` lines.
#[derive(Clone, Debug, Default)]
pub struct Compression {
    /// In HAProxy's order of preference: the last one configured first (it prepends).
    pub algos: Vec<CompAlgo>,
    /// Content-type prefixes (compared case-insensitively); empty: any type.
    pub types: Vec<String>,
    /// `compression offload`: the server does not see the client's Accept-Encoding.
    pub offload: bool,
}

/// A `filter` line of a frontend or backend, in declaration order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    Compression,
    Cache(String),
}

/// `compression algo ALGO…`, `compression type TYPE…`, `compression offload`.
pub(crate) fn compression(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &crate::tls::options::TlsGlobals,
) {
    let args = &w[2.min(w.len())..];
    match w.get(1).map(String::as_str) {
        Some("algo") => {
            if args.is_empty() {
                d.error(loc, "'compression' expects <algorithm>.");
                return;
            }
            let comp = px.compression.get_or_insert_with(Default::default);
            for a in args {
                match CompAlgo::parse(a) {
                    Some(algo) => comp.algos.insert(0, algo),
                    None => {
                        d.error(
                            loc,
                            format!(
                                "'compression' : '{a}' is not a supported algorithm \
                                 (identity, deflate, raw-deflate, gzip)."
                            ),
                        );
                        return;
                    }
                }
            }
        }
        Some("type") => {
            if args.is_empty() {
                d.error(loc, "'compression' expects <type>.");
                return;
            }
            let comp = px.compression.get_or_insert_with(Default::default);
            comp.types.extend(args.iter().cloned());
        }
        Some("offload") => {
            // HAProxy keeps the flag of a defaults section, but no proxy inherits it.
            if px.kind == Kind::Defaults {
                d.warn(
                    loc,
                    "'compression' : 'offload' ignored in 'defaults' section.",
                );
                return;
            }
            px.compression.get_or_insert_with(Default::default).offload = true;
        }
        _ => d.error(loc, "'compression' expects 'algo', 'type' or 'offload'"),
    }
}

/// `filter compression`, `filter cache NAME`; the other filters are named.
pub(crate) fn filter(
    px: &mut Proxy,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    _: &crate::tls::options::TlsGlobals,
) {
    match w.get(1).map(String::as_str) {
        Some("compression") => {
            if px.filters.contains(&Filter::Compression) {
                d.error(
                    loc,
                    format!("{}: Proxy supports only one compression filter", px.name),
                );
                return;
            }
            px.filters.push(Filter::Compression);
        }
        Some("cache") => match w.get(2) {
            Some(name) if w.len() == 3 => px.filters.push(Filter::Cache(name.clone())),
            _ => d.error(loc, "'filter cache' expects the name of a cache section"),
        },
        Some("trace") => d.warn(
            loc,
            "'filter trace' is ignored: it traces HAProxy's filter callbacks, which corelb has not",
        ),
        Some("opentracing") => d.error(
            loc,
            format!(
                "'filter opentracing' is not supported: {}",
                super::tcp_rules::NO_OPENTRACING
            ),
        ),
        Some("fcgi-app") => d.error(
            loc,
            format!(
                "'filter fcgi-app' is not supported: {}",
                super::keywords::NO_FASTCGI
            ),
        ),
        Some(f @ ("bwlim-in" | "bwlim-out")) => d.error(
            loc,
            format!(
                "'filter {f}' is not in HAProxy 2.6 (2.7 added it); corelb has no bandwidth limits"
            ),
        ),
        Some(f) => d.error(
            loc,
            format!("unknown filter '{f}' (compression or cache expected)"),
        ),
        None => d.error(loc, "'filter' expects a filter name"),
    }
}

/// What HAProxy checks once a proxy is complete (`check_implicit_http_comp_flt`): an explicit
/// `filter compression` must come after every `filter cache`. (Its other rule, that other
/// explicit filters need an explicit compression filter, concerns filters corelb has not:
/// cache filters do not count.)
pub(crate) fn check_proxy(px: &Proxy, d: &mut Diags) {
    if let Some(at) = px.filters.iter().position(|f| *f == Filter::Compression)
        && px.filters[at..]
            .iter()
            .any(|f| matches!(f, Filter::Cache(_)))
    {
        d.error(
            &px.loc,
            format!(
                "{} '{}': unable to enable the compression filter before any cache filter.",
                px.kind.name(),
                px.name
            ),
        );
    }
}

/// A `cache NAME` section (HAProxy 2.6's `cfg_parse_cache`).
#[derive(Clone, Debug)]
pub struct CacheSection {
    pub name: String,
    pub loc: Loc,
    /// `total-max-size` in bytes (given in megabytes); 0 until set (an error then).
    pub total_max_size: u64,
    /// `max-object-size` in bytes; by default a 256th of the total.
    pub max_object_size: u64,
    /// `max-age` in seconds (60 by default): no object is kept longer.
    pub max_age: u32,
    /// `process-vary on`: answers with Vary on Accept-Encoding and Referer are stored, one
    /// variant per secondary key.
    pub process_vary: bool,
    /// `max-secondary-entries` (10 by default): variants kept per URL.
    pub max_secondary_entries: u32,
}

impl CacheSection {
    pub fn new(name: &str, loc: Loc) -> CacheSection {
        CacheSection {
            name: name.to_string(),
            loc,
            total_max_size: 0,
            max_object_size: 0,
            max_age: 60,
            process_vary: false,
            max_secondary_entries: 10,
        }
    }
}

/// The keywords of a `cache` section, for the README's table (the parser is [`cache_kw`]).
pub static CACHE_SECTION: &[super::keywords::Kw] = &[
    cache_row("total-max-size", super::keywords::Status::Supported(())),
    cache_row("max-object-size", super::keywords::Status::Supported(())),
    cache_row("max-age", super::keywords::Status::Supported(())),
    cache_row("process-vary", super::keywords::Status::Supported(())),
    cache_row(
        "max-secondary-entries",
        super::keywords::Status::Supported(()),
    ),
];

const fn cache_row(name: &'static str, status: super::keywords::Status) -> super::keywords::Kw {
    super::keywords::Kw {
        name,
        status,
        sections: 0,
    }
}

/// One line inside a `cache` section.
pub fn cache_kw(c: &mut CacheSection, w: &[String], loc: &Loc, d: &mut Diags) {
    let kw = w[0].as_str();
    let arg = w.get(1).map(String::as_str);
    if w.len() > 2 {
        d.error(
            loc,
            format!("'{kw}' cannot handle unexpected argument '{}'.", w[2]),
        );
        return;
    }
    let num = |d: &mut Diags, what: &str| -> Option<u64> {
        match arg.map(str::parse::<u64>) {
            Some(Ok(n)) => Some(n),
            _ => {
                d.error(loc, format!("'{kw}' expects {what}."));
                None
            }
        }
    };
    match kw {
        "total-max-size" => {
            if let Some(mb) = num(d, "a size in megabytes") {
                if mb > 4095 {
                    d.error(loc, "\"total-max-size\" must not be greater than 4095");
                } else {
                    c.total_max_size = mb << 20;
                }
            }
        }
        "max-object-size" => {
            if let Some(n) = num(d, "a maximum file size parameter in bytes") {
                c.max_object_size = n;
            }
        }
        "max-age" => {
            if let Some(n) = num(d, "an age parameter in seconds") {
                c.max_age = n.min(u64::from(u32::MAX)) as u32;
            }
        }
        // A wrong value is a warning (twice without one), the setting unchanged, as HAProxy.
        "process-vary" => {
            let expects =
                "'process-vary' expects \"on\" or \"off\" (enable or disable vary processing).";
            if arg.is_none() {
                d.warn(loc, expects);
            }
            match arg {
                Some("on") => c.process_vary = true,
                Some("off") => c.process_vary = false,
                _ => d.warn(loc, expects),
            }
        }
        "max-secondary-entries" => {
            if arg.is_none() {
                d.warn(loc, format!("'{kw}' expects a strictly positive number."));
            }
            // strtoul's digits, kept in an unsigned int as HAProxy does.
            match arg.and_then(|a| a.parse::<u64>().ok()).filter(|&n| n > 0) {
                Some(n) => c.max_secondary_entries = n as u32,
                None => d.error(
                    loc,
                    format!("max-secondary-entries wrong value '{}'", arg.unwrap_or("")),
                ),
            }
        }
        _ => d.error(loc, format!("unknown keyword '{kw}' in 'cache' section")),
    }
}

/// Once every section is read: each cache is sized, and every `cache-use`, `cache-store`
/// and `filter cache` names one.
pub(crate) fn check_caches(caches: &mut [CacheSection], proxies: &[Proxy], d: &mut Diags) {
    for c in caches.iter_mut() {
        if c.total_max_size == 0 {
            d.error(&c.loc, format!("Size not specified for cache '{}'", c.name));
        } else if c.max_object_size == 0 {
            c.max_object_size = c.total_max_size >> 8;
        } else if c.max_object_size > c.total_max_size / 2 {
            d.error(
                &c.loc,
                format!(
                    "\"max-object-size\" is limited to an half of \"total-max-size\" => {}",
                    c.total_max_size / 2
                ),
            );
        }
    }
    let known = |n: &str| caches.iter().any(|c| c.name == n);
    for px in proxies {
        let rules = px.http_request.iter().chain(&px.http_response);
        for r in rules {
            if let super::model::HttpAction::CacheUse(n) | super::model::HttpAction::CacheStore(n) =
                &r.action
                && !known(n)
            {
                d.error(
                    &r.loc,
                    format!("unable to find the cache '{n}' referenced by the rule"),
                );
            }
        }
        for f in &px.filters {
            if let Filter::Cache(n) = f
                && !known(n)
            {
                d.error(
                    &px.loc,
                    format!(
                        "{} '{}': unable to find the cache '{n}' of 'filter cache'",
                        px.kind.name(),
                        px.name
                    ),
                );
            }
        }
    }
}
