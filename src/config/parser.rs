//! Reads HAProxy configuration text into the typed model, collecting every error and warning
//! with its file and line. Pure: the only I/O is reading the files and resolving server
//! names in [`super::validate`].

use super::addr;
use super::diag::{Diags, Loc};
use super::keywords::{self, B, D, F, Kw, Status};
use super::lexer;
use super::model::*;
use super::units::{parse_size, parse_time, parse_uint};
use crate::tls::options::TlsGlobals;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);

enum Cur {
    None,
    Global,
    Defaults,
    Proxy(usize),
    Resolvers(usize),
    /// Inside a section corelb does not support: its lines are skipped (one error was given).
    Skip,
}

/// Sections HAProxy has and corelb does not support yet.
const OTHER_SECTIONS: &[&str] = &[
    "userlist",
    "peers",
    "mailers",
    "program",
    "http-errors",
    "ring",
    "cache",
    "log-forward",
    "crt-store",
    "fcgi-app",
    "traces",
    "acme",
    "dynamic-update",
];
const SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];

pub struct Parser {
    pub diags: Diags,
    global: Global,
    defaults: Proxy,
    named_defaults: HashMap<String, Proxy>,
    proxies: Vec<Proxy>,
    resolvers: Vec<super::resolvers::Resolvers>,
    cur: Cur,
    env: HashMap<String, Option<String>>,
    files: Vec<PathBuf>,
    /// Warned-about unset variables, to warn once per name.
    unset_seen: Vec<String>,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    pub fn new() -> Self {
        let loc = Loc {
            file: Arc::from("<builtin>"),
            line: 0,
        };
        Parser {
            diags: Diags::default(),
            global: Global::default(),
            defaults: Proxy::new("", Kind::Defaults, loc),
            named_defaults: HashMap::new(),
            proxies: Vec::new(),
            resolvers: Vec::new(),
            cur: Cur::None,
            env: HashMap::new(),
            files: Vec::new(),
            unset_seen: Vec::new(),
        }
    }

    pub fn parse_file(&mut self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => {
                self.files.push(path.to_path_buf());
                let text = String::from_utf8_lossy(&bytes);
                self.parse_str(&path.display().to_string(), &text);
            }
            Err(e) => self.diags.error_global(format!(
                "{}: cannot read configuration file: {e}",
                path.display()
            )),
        }
    }

    /// Parses configuration text; `name` is used in messages. Each file starts outside any
    /// section, as in HAProxy.
    pub fn parse_str(&mut self, name: &str, text: &str) {
        let file: Arc<str> = Arc::from(name);
        self.cur = Cur::None;
        let mut blocks = super::cond::Blocks::default();
        for (n, raw) in text.lines().enumerate() {
            let loc = Loc::new(&file, n as u32 + 1);
            let env = &self.env;
            let getenv = |k: &str| match env.get(k) {
                Some(v) => v.clone(),
                None => std::env::var(k).ok(),
            };
            let line = match lexer::split(raw, &getenv) {
                Ok(l) => l,
                Err(e) => {
                    self.diags.error(&loc, format!("{e}"));
                    continue;
                }
            };
            if line.words.is_empty() {
                continue;
            }
            match blocks.line(&line.words, loc.line, &getenv) {
                super::cond::Line::Keep => {}
                super::cond::Line::Done | super::cond::Line::Dropped => continue,
                super::cond::Line::Error(e) => {
                    self.diags.error(&loc, e);
                    continue;
                }
            }
            for v in line.unset_vars {
                if !self.unset_seen.contains(&v) {
                    self.diags.warn(
                        &loc,
                        format!("environment variable '{v}' is not set (expanded to nothing)"),
                    );
                    self.unset_seen.push(v);
                }
            }
            if line.words[0].starts_with('.') {
                if !self.directive(&line.words, &loc) {
                    // `.alert`: HAProxy stops reading the file there.
                    return;
                }
                continue;
            }
            self.line(&line.words, &loc);
        }
        if let Some(l) = blocks.unterminated() {
            self.diags
                .error(&Loc::new(&file, l), "non-terminated '.if' block");
        }
    }

    /// `.diag`, `.notice`, `.warning`, `.alert` (configuration manual 2.4); false after
    /// `.alert`, which ends the file with an error.
    fn directive(&mut self, w: &[String], loc: &Loc) -> bool {
        let kw = w[0].as_str();
        if !matches!(kw, ".diag" | ".notice" | ".warning" | ".alert") {
            self.diags.error(loc, format!("unknown directive '{kw}'"));
            return true;
        }
        if let Some(extra) = w.get(2) {
            self.diags.error(
                loc,
                format!("unexpected argument '{extra}' for '{kw}'. Use quotes if the message should contain spaces"),
            );
            return true;
        }
        let msg = w.get(1).map(String::as_str).unwrap_or("");
        match kw {
            ".alert" => {
                self.diags.error(loc, format!("'{msg}'"));
                return false;
            }
            ".warning" => self.diags.warn(loc, format!("'{msg}'")),
            ".notice" => self.diags.notice(loc, format!("'{msg}'")),
            // HAProxy shows these only with -dD, which corelb does not have.
            _ => {}
        }
        true
    }

    fn line(&mut self, w: &[String], loc: &Loc) {
        let kw = w[0].as_str();
        if SECTIONS.contains(&kw) {
            self.section(w, loc);
            return;
        }
        if kw == "resolvers" {
            self.resolvers_section(w, loc);
            return;
        }
        if OTHER_SECTIONS.contains(&kw) {
            self.diags.error(
                loc,
                format!("'{kw}' is not supported yet (section skipped)"),
            );
            self.cur = Cur::Skip;
            return;
        }
        match self.cur {
            Cur::None => {
                let h = keywords::hint(kw, SECTIONS.iter().copied());
                self.diags.error(
                    loc,
                    format!("unknown keyword '{kw}' out of section ('global', 'defaults', 'frontend', 'backend' or 'listen' expected){h}"),
                );
            }
            Cur::Skip => {}
            Cur::Global => self.global_kw(w, loc),
            Cur::Resolvers(i) => {
                super::resolvers::section_kw(&mut self.resolvers[i], w, loc, &mut self.diags)
            }
            Cur::Defaults => {
                let mut px = std::mem::replace(&mut self.defaults, placeholder());
                proxy_kw(&mut px, w, loc, &mut self.diags, &self.global.tls);
                if !px.name.is_empty() {
                    self.named_defaults.insert(px.name.clone(), px.clone());
                }
                self.defaults = px;
            }
            Cur::Proxy(i) => {
                let mut px = std::mem::replace(&mut self.proxies[i], placeholder());
                proxy_kw(&mut px, w, loc, &mut self.diags, &self.global.tls);
                self.proxies[i] = px;
            }
        }
    }

    fn resolvers_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1) else {
            self.diags.error(loc, "'resolvers' expects a name");
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, "resolvers", loc, &mut self.diags);
        if let Some(r) = self.resolvers.iter().find(|r| &r.name == name) {
            self.diags.error(
                loc,
                format!("resolvers '{name}' is already declared at {}", r.loc),
            );
        }
        self.resolvers
            .push(super::resolvers::Resolvers::new(name, loc.clone()));
        self.cur = Cur::Resolvers(self.resolvers.len() - 1);
    }

    fn section(&mut self, w: &[String], loc: &Loc) {
        let kw = w[0].as_str();
        if kw == "global" {
            if w.len() > 1 {
                self.diags.warn(loc, "arguments after 'global' are ignored");
            }
            self.cur = Cur::Global;
            return;
        }
        // [NAME] [ADDR:PORT] [from DEFAULTS]
        let mut args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
        let mut from: Option<&str> = None;
        if let Some(pos) = args.iter().position(|a| *a == "from") {
            match args.get(pos + 1) {
                Some(n) => from = Some(n),
                None => self
                    .diags
                    .error(loc, "'from' expects the name of a 'defaults' section"),
            }
            args.truncate(pos);
        }
        let base = match from {
            Some(n) => match self.named_defaults.get(n) {
                Some(d) => d.clone(),
                None => {
                    let h = keywords::hint(n, self.named_defaults.keys().map(String::as_str));
                    self.diags
                        .error(loc, format!("defaults section '{n}' not found{h}"));
                    self.defaults.clone()
                }
            },
            None => self.defaults.clone(),
        };
        if kw == "defaults" {
            let name = args.first().copied().unwrap_or("");
            if args.len() > 1 {
                self.diags
                    .warn(loc, "extra arguments after the 'defaults' name are ignored");
            }
            // A new defaults section starts from HAProxy's defaults unless it says 'from'.
            let mut d = if from.is_some() {
                base
            } else {
                Proxy::new("", Kind::Defaults, loc.clone())
            };
            d.name = name.to_string();
            d.kind = Kind::Defaults;
            d.loc = loc.clone();
            if !name.is_empty() {
                check_proxy_name(name, kw, loc, &mut self.diags);
                self.named_defaults.insert(name.to_string(), d.clone());
            }
            self.defaults = d;
            self.cur = Cur::Defaults;
            return;
        }
        let kind = match kw {
            "frontend" => Kind::Frontend,
            "backend" => Kind::Backend,
            _ => Kind::Listen,
        };
        let Some(name) = args.first().copied() else {
            self.diags.error(loc, format!("'{kw}' expects a name"));
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, kw, loc, &mut self.diags);
        for p in &self.proxies {
            let clash = p.name == name
                && ((kind.is_frontend() && p.kind.is_frontend())
                    || (kind.is_backend() && p.kind.is_backend()));
            if clash {
                self.diags.error(
                    loc,
                    format!(
                        "{kw} '{name}' has the same name as {} '{name}' declared at {}",
                        p.kind.name(),
                        p.loc
                    ),
                );
                break;
            }
        }
        let mut px = Proxy::from_defaults(&base, name, kind, loc.clone());
        if let Some(addrs) = args.get(1) {
            if kind == Kind::Backend {
                self.diags.error(
                    loc,
                    format!("unexpected argument '{addrs}' after the backend name"),
                );
            } else {
                // HAProxy 1.x syntax: 'frontend NAME ADDR:PORT'.
                self.diags.warn(
                    loc,
                    format!("the address on the '{kw}' line is the old syntax; write 'bind {addrs}' instead"),
                );
                let words = vec!["bind".to_string(), addrs.to_string()];
                bind_kw(&mut px, &words, loc, &mut self.diags, &self.global.tls);
            }
            if args.len() > 2 {
                self.diags.error(
                    loc,
                    format!("unexpected argument '{}' on the '{kw}' line", args[2]),
                );
            }
        }
        self.proxies.push(px);
        self.cur = Cur::Proxy(self.proxies.len() - 1);
    }

    fn global_kw(&mut self, w: &[String], loc: &Loc) {
        let kw = w[0].as_str();
        let Some(k) = keywords::find(keywords::GLOBAL, kw) else {
            // A proxy keyword in global usually means a missing section header.
            let h = keywords::hint(kw, keywords::GLOBAL.iter().map(|k| k.name));
            let extra = if keywords::find(keywords::PROXY, kw).is_some() {
                " (it belongs in a defaults, frontend, backend or listen section)"
            } else {
                ""
            };
            self.diags.error(
                loc,
                format!("unknown keyword '{kw}' in 'global' section{extra}{h}"),
            );
            return;
        };
        if !status_ok(k, kw, loc, &mut self.diags) {
            return;
        }
        if crate::tls::options::GLOBAL_KEYWORDS.contains(&kw) {
            let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
            match self.global.tls.apply(kw, &args) {
                Ok(ws) => {
                    for wn in ws {
                        self.diags.warn(loc, wn);
                    }
                }
                Err(e) => self.diags.error(loc, e),
            }
            return;
        }
        let g = &mut self.global;
        let d = &mut self.diags;
        let arg = |i: usize| w.get(i).map(String::as_str);
        match kw {
            "maxconn" => g.maxconn = uint_arg(w, 1, 1, u32::MAX as u64, loc, d).map(|v| v as u32),
            "nbthread" => {
                if let Some(v) = uint_arg(w, 1, 1, 4096, loc, d) {
                    g.nbthread = Some((v as u32, loc.clone()));
                }
            }
            "cpu-map" => {
                if let Some(e) = parse_cpu_map(&w[1..], loc, d) {
                    g.cpu_map.push(e);
                }
            }
            "hard-stop-after" => g.hard_stop_after = time_arg(w, 1, loc, d),
            "pidfile" => g.pidfile = path_arg(w, loc, d),
            "user" => {
                g.user = arg(1)
                    .map(|s| (s.to_string(), loc.clone()))
                    .or_else(|| missing(w, "a user name", loc, d))
            }
            "group" => {
                g.group = arg(1)
                    .map(|s| (s.to_string(), loc.clone()))
                    .or_else(|| missing(w, "a group name", loc, d))
            }
            "uid" => g.uid = uint_arg(w, 1, 0, u32::MAX as u64, loc, d).map(|v| v as u32),
            "gid" => g.gid = uint_arg(w, 1, 0, u32::MAX as u64, loc, d).map(|v| v as u32),
            "chroot" => g.chroot = path_arg(w, loc, d).map(|p| (p, loc.clone())),
            "ulimit-n" => g.ulimit_n = uint_arg(w, 1, 1, u32::MAX as u64, loc, d),
            "log" => {
                if let Some(t) = parse_log(&w[1..], loc, d) {
                    g.logs.push(t);
                }
            }
            "log-send-hostname" => {
                // Empty: the machine's name, read by the log senders.
                g.log_send_hostname = Some(arg(1).unwrap_or("").to_string())
            }
            "log-tag" => {
                g.log_tag = arg(1)
                    .map(str::to_string)
                    .or_else(|| missing(w, "a tag", loc, d))
            }
            "quiet" => g.quiet = true,
            "node" => g.node = arg(1).map(str::to_string),
            "stats" => {
                let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
                if let Err(e) = super::cli::global_stats(&mut g.cli, &args, loc) {
                    d.error(loc, e);
                }
            }
            "server-state-file" => g.cli.state_file = path_arg(w, loc, d),
            "server-state-base" => g.cli.state_base = path_arg(w, loc, d),
            "description" => {
                if w.len() < 2 {
                    d.error(loc, "'description' expects a string argument");
                }
                g.cli.description = Some(w[1..].join(" "));
            }
            "setenv" | "presetenv" => match (arg(1), arg(2)) {
                (Some(k), Some(v)) => {
                    let exists = self
                        .env
                        .get(k)
                        .cloned()
                        .flatten()
                        .or_else(|| std::env::var(k).ok())
                        .is_some();
                    if kw == "setenv" || !exists {
                        self.env.insert(k.to_string(), Some(v.to_string()));
                    }
                }
                _ => d.error(loc, format!("'{kw}' expects a name and a value")),
            },
            "unsetenv" => {
                for k in &w[1..] {
                    self.env.insert(k.clone(), None);
                }
            }
            "tune.bufsize" => {
                if let Some(v) = size_arg(w, loc, d) {
                    if !(1024..=(1 << 30)).contains(&v) {
                        d.error(loc, "tune.bufsize must be between 1k and 1g");
                    } else {
                        g.bufsize = v as usize;
                    }
                }
            }
            "tune.h2.fe.max-concurrent-streams" | "tune.h2.max-concurrent-streams" => {
                if w.len() > 2 {
                    d.error(
                        loc,
                        format!("'{kw}': only the number is supported (no rq-load)"),
                    );
                } else if let Some(v) = uint_arg(w, 1, 1, i32::MAX as u64, loc, d) {
                    g.h2.max_concurrent_streams = v as u32;
                }
            }
            "tune.h2.header-table-size" => {
                if let Some(v) = uint_arg(w, 1, 0, 65535, loc, d) {
                    g.h2.header_table_size = v as u32;
                }
            }
            "tune.h2.fe.initial-window-size" | "tune.h2.initial-window-size" => {
                if let Some(v) = uint_arg(w, 1, 0, i32::MAX as u64, loc, d) {
                    g.h2.initial_window_size = v as u32;
                }
            }
            "tune.h2.fe.glitches-threshold" => {
                if let Some(v) = uint_arg(w, 1, 0, u32::MAX as u64, loc, d) {
                    g.h2.glitches_threshold = v as u32;
                }
            }
            "tune.http.maxhdr" => {
                if let Some(v) = uint_arg(w, 1, 1, 32767, loc, d) {
                    g.maxhdr = v as usize;
                }
            }
            "tune.pipesize" => {
                if let Some(v) = size_arg(w, loc, d) {
                    g.pipesize = v as usize;
                }
            }
            "maxpipes" => g.maxpipes = uint_arg(w, 1, 0, u32::MAX as u64, loc, d).map(|v| v as u32),
            "spread-checks" => {
                if let Some(v) = uint_arg(w, 1, 0, 50, loc, d) {
                    g.spread_checks = v as u32;
                }
            }
            "tune.corelb.pump" => match arg(1) {
                Some("auto") => g.pump = PumpKind::Auto,
                Some("splice") => g.pump = PumpKind::Splice,
                Some("copy") => g.pump = PumpKind::Copy,
                _ => d.error(loc, "'tune.corelb.pump' expects 'auto', 'splice' or 'copy'"),
            },
            _ => d.error(
                loc,
                format!("internal error: no handler for global keyword '{kw}'"),
            ),
        }
    }

    /// Ends parsing: checks what spans sections and returns the model when there is no error.
    pub fn finish(mut self) -> (Option<Config>, Diags) {
        let mut cfg = Config {
            global: self.global,
            proxies: std::mem::take(&mut self.proxies),
            files: self.files,
            resolvers: std::mem::take(&mut self.resolvers),
        };
        super::logging::compile(&mut cfg, &mut self.diags);
        super::validate::validate(&mut cfg, &mut self.diags);
        if self.diags.has_errors() {
            (None, self.diags)
        } else {
            (Some(cfg), self.diags)
        }
    }
}

fn placeholder() -> Proxy {
    Proxy::new(
        "",
        Kind::Defaults,
        Loc {
            file: Arc::from(""),
            line: 0,
        },
    )
}

fn check_proxy_name(name: &str, kw: &str, loc: &Loc, d: &mut Diags) {
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        d.error(
            loc,
            format!("character '{c}' is not permitted in {kw} name '{name}'"),
        );
    }
}

/// Reports ignored/not-yet/removed keywords; true when the keyword is to be handled.
fn status_ok(k: &Kw, shown: &str, loc: &Loc, d: &mut Diags) -> bool {
    match k.status {
        Status::Supported => true,
        Status::Ignored(why) => {
            d.warn(loc, format!("'{shown}' is ignored: {why}"));
            false
        }
        Status::Stored(why) => {
            d.warn(loc, format!("'{shown}' is ignored: {why}"));
            true
        }
        Status::NotYet => {
            d.error(loc, format!("'{shown}' is not supported yet"));
            false
        }
        Status::Removed(by) => {
            d.error(
                loc,
                format!("'{shown}' is not supported anymore since HAProxy 2.1; use '{by}' instead"),
            );
            false
        }
        Status::Never(why) => {
            d.error(loc, format!("'{shown}' is not supported: {why}"));
            false
        }
    }
}

fn section_bit(kind: Kind) -> u8 {
    match kind {
        Kind::Defaults => D,
        Kind::Frontend => F,
        Kind::Backend => B,
        Kind::Listen => F | B,
    }
}

fn missing<T>(w: &[String], what: &str, loc: &Loc, d: &mut Diags) -> Option<T> {
    d.error(loc, format!("'{}' expects {what}", w[0]));
    None
}

fn uint_arg(w: &[String], i: usize, min: u64, max: u64, loc: &Loc, d: &mut Diags) -> Option<u64> {
    match w.get(i) {
        None => missing(w, "a number", loc, d),
        Some(s) => match parse_uint(s, min, max) {
            Ok(v) => Some(v),
            Err(e) => {
                d.error(loc, format!("'{}': {e}", w[0]));
                None
            }
        },
    }
}

fn time_arg(w: &[String], i: usize, loc: &Loc, d: &mut Diags) -> Option<Duration> {
    let name = w[..i].join(" ");
    match w.get(i) {
        None => {
            d.error(loc, format!("'{name}' expects a time (e.g. 5s, 100ms)"));
            None
        }
        Some(s) => match parse_time(s, MS) {
            Ok(v) => Some(v),
            Err(e) => {
                d.error(loc, format!("'{name}': {e}"));
                None
            }
        },
    }
}

fn size_arg(w: &[String], loc: &Loc, d: &mut Diags) -> Option<u64> {
    match w.get(1) {
        None => missing(w, "a size", loc, d),
        Some(s) => match parse_size(s) {
            Ok(v) => Some(v),
            Err(e) => {
                d.error(loc, format!("'{}': {e}", w[0]));
                None
            }
        },
    }
}

fn path_arg(w: &[String], loc: &Loc, d: &mut Diags) -> Option<PathBuf> {
    match w.get(1) {
        Some(p) => Some(PathBuf::from(p)),
        None => missing(w, "a path", loc, d),
    }
}

/// CPU lists: `0`, `0-3`, `0,2,4`, several words.
pub fn parse_cpu_list(words: &[&str]) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for w in words {
        for part in w.split(',').filter(|p| !p.is_empty()) {
            let (a, b) = match part.split_once('-') {
                Some((a, b)) => (a, b),
                None => (part, part),
            };
            let a: usize = a
                .parse()
                .map_err(|_| format!("invalid CPU number '{part}'"))?;
            let b: usize = b
                .parse()
                .map_err(|_| format!("invalid CPU number '{part}'"))?;
            if a > b || b >= 4096 {
                return Err(format!("invalid CPU range '{part}'"));
            }
            for c in a..=b {
                if !cpus.contains(&c) {
                    cpus.push(c);
                }
            }
        }
    }
    if cpus.is_empty() {
        return Err("empty CPU list".into());
    }
    Ok(cpus)
}

/// `cpu-map [auto:]<1|all>[/<thread-set>] <cpu-set>...`
fn parse_cpu_map(args: &[String], loc: &Loc, d: &mut Diags) -> Option<CpuMapEntry> {
    if args.len() < 2 {
        d.error(
            loc,
            "'cpu-map' expects [auto:]<process>[/<threads>] and a CPU set",
        );
        return None;
    }
    let (auto, spec) = match args[0].strip_prefix("auto:") {
        Some(s) => (true, s),
        None => (false, args[0].as_str()),
    };
    let (group, threads) = match spec.split_once('/') {
        Some((g, t)) => (g, Some(t)),
        None => (spec, None),
    };
    if !matches!(group, "1" | "all" | "odd") {
        d.error(
            loc,
            format!("'cpu-map': process/thread group '{group}' is not supported (corelb is one process: use 1 or all)"),
        );
        return None;
    }
    let (first, last) = match threads {
        None | Some("all") => (1, None),
        Some(t) => {
            let (a, b) = t.split_once('-').unwrap_or((t, t));
            match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(a), Ok(b)) if a >= 1 && a <= b => (a, Some(b)),
                _ => {
                    d.error(loc, format!("'cpu-map': invalid thread set '{t}'"));
                    return None;
                }
            }
        }
    };
    let words: Vec<&str> = args[1..].iter().map(String::as_str).collect();
    match parse_cpu_list(&words) {
        Ok(cpus) => Some(CpuMapEntry {
            first_thread: first,
            last_thread: last,
            cpus,
            auto,
            loc: loc.clone(),
        }),
        Err(e) => {
            d.error(loc, format!("'cpu-map': {e}"));
            None
        }
    }
}

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];
const LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `log <target> [len N] [format F] <facility> [<level> [<minlevel>]]`
fn parse_log(args: &[String], loc: &Loc, d: &mut Diags) -> Option<LogTarget> {
    let Some(target) = args.first() else {
        d.error(loc, "'log' expects a target and a facility");
        return None;
    };
    let dest = match target.as_str() {
        "stdout" | "fd@1" => LogDest::Stdout,
        "stderr" | "fd@2" => LogDest::Stderr,
        t if t.starts_with('/') || t.starts_with("unix@") => {
            LogDest::Unix(PathBuf::from(t.trim_start_matches("unix@")))
        }
        t if t.starts_with("ring@") || t.starts_with("tcp@") || t.starts_with("fd@") => {
            d.error(loc, format!("log target '{t}' is not supported yet"));
            return None;
        }
        t => {
            let t = t
                .strip_prefix("udp@")
                .or_else(|| t.strip_prefix("udp4@"))
                .or_else(|| t.strip_prefix("udp6@"))
                .or_else(|| t.strip_prefix("ipv4@"))
                .or_else(|| t.strip_prefix("ipv6@"))
                .unwrap_or(t);
            match log_addr(t) {
                Some(sa) => LogDest::Udp(sa),
                None => {
                    d.error(loc, format!("invalid log target '{t}' (an address[:port], a host name[:port], a unix socket path, stdout or stderr)"));
                    return None;
                }
            }
        }
    };
    let mut i = 1;
    let mut maxlen = 1024;
    let mut format = SyslogFormat::Unspec;
    let mut sample = None;
    loop {
        match args.get(i).map(String::as_str) {
            Some("len") => {
                match args.get(i + 1).and_then(|v| parse_uint(v, 80, 65535).ok()) {
                    Some(v) => maxlen = v as usize,
                    None => d.error(loc, "'log ... len' expects a length between 80 and 65535"),
                }
                i += 2;
            }
            Some("format") => {
                match args.get(i + 1).map(String::as_str) {
                    Some(f) => match SyslogFormat::parse(f) {
                        Some(v) => format = v,
                        None => d.error(
                            loc,
                            format!("unknown log format '{f}' (rfc3164, rfc5424, short, raw, iso, timed, priority or local)"),
                        ),
                    },
                    None => d.error(loc, "'log ... format' expects a format name"),
                }
                i += 2;
            }
            Some("sample") => {
                match args.get(i + 1).map(|v| parse_log_sample(v)) {
                    Some(Ok(v)) => sample = Some(v),
                    Some(Err(e)) => d.error(loc, format!("'log ... sample': {e}")),
                    None => d.error(loc, "'log ... sample' expects RANGES:SIZE (e.g. 1:10)"),
                }
                i += 2;
            }
            _ => break,
        }
    }
    let Some(fac) = args.get(i) else {
        d.error(loc, "'log' expects a facility (e.g. local0)");
        return None;
    };
    let Some(facility) = FACILITIES.iter().position(|f| f == fac) else {
        let h = keywords::hint(fac, FACILITIES.iter().copied());
        d.error(loc, format!("unknown log facility '{fac}'{h}"));
        return None;
    };
    let level = |s: Option<&String>, def: u8, d: &mut Diags| -> u8 {
        match s {
            None => def,
            Some(l) => match LEVELS.iter().position(|x| x == l) {
                Some(v) => v as u8,
                None => {
                    let h = keywords::hint(l, LEVELS.iter().copied());
                    d.error(loc, format!("unknown log level '{l}'{h}"));
                    def
                }
            },
        }
    };
    let max_level = level(args.get(i + 1), 7, d);
    let min_level = level(args.get(i + 2), 0, d);
    if args.len() > i + 3 {
        d.error(
            loc,
            format!("unexpected argument '{}' on 'log' line", args[i + 3]),
        );
    }
    Some(LogTarget {
        dest,
        facility: facility as u8,
        max_level,
        min_level,
        maxlen,
        format,
        sample,
        loc: loc.clone(),
    })
}

/// A UDP log target: `IP`, `IP:PORT`, `[IPv6]:PORT` or a host name (`localhost`) with an
/// optional port, resolved once here; the port defaults to 514.
fn log_addr(t: &str) -> Option<std::net::SocketAddr> {
    use std::net::ToSocketAddrs as _;
    if let Ok(sa) = t.parse::<std::net::SocketAddr>() {
        return Some(sa);
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Some((ip, 514).into());
    }
    let (host, port) = match t.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().ok()?),
        None => (t, 514),
    };
    if host.is_empty() || host.contains([':', '/', '@']) {
        return None;
    }
    // IPv4 first, as HAProxy's resolution of a log host prefers it.
    let addrs: Vec<_> = (host, port).to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
}

/// `sample 1,3-5:10` → positions 1 and 3 to 5 of every 10 lines.
fn parse_log_sample(v: &str) -> Result<LogSample, String> {
    let (ranges, size) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("'{v}' is not RANGES:SIZE (e.g. 1:10)"))?;
    let size: u32 = size
        .parse()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("invalid sample size '{size}'"))?;
    let mut out = Vec::new();
    for r in ranges.split(',') {
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
            return Err(format!("invalid sample range '{r}'"));
        };
        if a == 0 || b < a || b > size {
            return Err(format!("sample range '{r}' must be within 1..{size}"));
        }
        out.push((a, b));
    }
    Ok(LogSample { ranges: out, size })
}

/// One keyword line inside defaults/frontend/backend/listen.
fn proxy_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let kw = w[0].as_str();
    let Some(k) = keywords::find(keywords::PROXY, kw) else {
        let h = keywords::hint(kw, keywords::PROXY.iter().map(|k| k.name));
        let extra = if keywords::find(keywords::GLOBAL, kw).is_some() && kw != "maxconn" {
            " (it belongs in the 'global' section)"
        } else {
            ""
        };
        d.error(
            loc,
            format!(
                "unknown keyword '{kw}' in '{}' section{extra}{h}",
                px.kind.name()
            ),
        );
        return;
    };
    if k.sections & section_bit(px.kind) == 0 {
        d.error(
            loc,
            format!("'{kw}' is not allowed in a '{}' section", px.kind.name()),
        );
        return;
    }
    if kw == "filter" && w.get(1).is_some_and(|f| f == "spoe") {
        d.error(loc, format!("'filter spoe' is not supported: {NO_SPOE}"));
        return;
    }
    if !status_ok(k, kw, loc, d) {
        return;
    }
    let arg = |i: usize| w.get(i).map(String::as_str);
    match kw {
        "mode" => match arg(1) {
            Some("tcp") => px.mode = Mode::Tcp,
            Some("http") => px.mode = Mode::Http,
            Some("health") => d.error(
                loc,
                "'mode health' was removed in HAProxy 2.4; use 'monitor-uri'",
            ),
            Some(m) => d.error(loc, format!("unknown mode '{m}' (tcp or http expected)")),
            None => d.error(loc, "'mode' expects tcp or http"),
        },
        "bind" => bind_kw(px, w, loc, d, g),
        "balance" => balance_kw(px, w, loc, d),
        "load-server-state-from-file" => match arg(1) {
            Some("global") => px.load_state = super::cli::LoadState::Global,
            Some("local") => px.load_state = super::cli::LoadState::Local,
            Some("none") => px.load_state = super::cli::LoadState::None,
            _ => d.error(
                loc,
                "'load-server-state-from-file' expects 'global', 'local' or 'none'",
            ),
        },
        "server-state-file-name" => match arg(1) {
            Some(n) => px.state_file_name = Some(n.to_string()),
            None => d.error(loc, "'server-state-file-name' expects a file name"),
        },
        "hash-type" => {
            match arg(1) {
                Some("map-based") => px.balance.hash_type = HashType::MapBased,
                Some("consistent") => px.balance.hash_type = HashType::Consistent,
                Some(o) => d.error(
                    loc,
                    format!("unknown hash-type '{o}' (map-based or consistent)"),
                ),
                None => d.error(loc, "'hash-type' expects map-based or consistent"),
            }
            for extra in &w[2.min(w.len())..] {
                match extra.as_str() {
                    "sdbm" | "djb2" | "wt6" | "crc32" | "none" | "avalanche" => d.warn(
                        loc,
                        format!("hash function '{extra}' is ignored: corelb uses its own fixed hash, the same on every shard"),
                    ),
                    o => d.error(loc, format!("unknown hash function '{o}'")),
                }
            }
        }
        "server" => server_kw(px, w, loc, d, g),
        "server-template" => match super::resolvers::template_names(w) {
            Ok(names) => {
                for name in names {
                    let mut line = vec!["server".to_string(), name, w[3].clone()];
                    line.extend_from_slice(&w[4..]);
                    server_kw(px, &line, loc, d, g);
                }
            }
            Err(e) => d.error(loc, e),
        },
        "default-server" => {
            let mut p = px.default_server.clone();
            server_params(&mut p, None, &w[1..], loc, d, g);
            px.default_server = p;
        }
        "timeout" => timeout_kw(px, w, loc, d),
        "contimeout" | "clitimeout" | "srvtimeout" => {
            let modern = match kw {
                "contimeout" => "connect",
                "clitimeout" => "client",
                _ => "server",
            };
            d.warn(
                loc,
                format!("'{kw}' is the old syntax (removed in HAProxy 2.1); write 'timeout {modern}' instead"),
            );
            let t = time_arg(w, 1, loc, d);
            let slot = match modern {
                "connect" => &mut px.timeouts.connect,
                "client" => &mut px.timeouts.client,
                _ => &mut px.timeouts.server,
            };
            if t.is_some() {
                *slot = t.filter(|t| !t.is_zero());
            }
        }
        "maxconn" => {
            if let Some(v) = uint_arg(w, 1, 0, u32::MAX as u64, loc, d) {
                px.maxconn = Some(v as u32);
            }
        }
        "backlog" => px.backlog = uint_arg(w, 1, 1, u32::MAX as u64, loc, d).map(|v| v as u32),
        "retries" => {
            if let Some(v) = uint_arg(w, 1, 0, 1000, loc, d) {
                px.retries = v as u32;
            }
        }
        "option" => option_kw(px, &w[1..], true, loc, d),
        "http-check" => http_check_kw(px, &w[1..], loc, d),
        "http-reuse" => match arg(1) {
            Some("never") => px.http.reuse = Reuse::Never,
            Some("safe") => px.http.reuse = Reuse::Safe,
            Some("aggressive") => px.http.reuse = Reuse::Aggressive,
            Some("always") => px.http.reuse = Reuse::Always,
            Some(o) => d.error(
                loc,
                format!("'http-reuse' expects never, safe, aggressive or always, not '{o}'"),
            ),
            None => d.error(
                loc,
                "'http-reuse' expects never, safe, aggressive or always",
            ),
        },
        "monitor-uri" => match arg(1) {
            Some(u) if u.starts_with('/') || u.contains("://") => {
                px.http.monitor_uri = Some(u.to_string())
            }
            Some(u) => d.error(
                loc,
                format!("'monitor-uri' expects a URI starting with '/', not '{u}'"),
            ),
            None => d.error(loc, "'monitor-uri' expects a URI"),
        },
        "errorfile" => errorfile_kw(px, w, loc, d),
        "stats" => stats_kw(px, w, loc, d),
        "retry-on" => {
            let mut bits = 0;
            for k in &w[1..] {
                match crate::config::model::retry_on::NAMES
                    .iter()
                    .find(|(n, _)| n == k)
                {
                    Some((_, b)) => bits |= b,
                    None => {
                        let h = keywords::hint(
                            k,
                            crate::config::model::retry_on::NAMES
                                .iter()
                                .map(|(n, _)| *n),
                        );
                        d.error(loc, format!("unknown 'retry-on' keyword '{k}'{h}"));
                    }
                }
            }
            if w.len() < 2 {
                d.error(loc, "'retry-on' expects at least one keyword (e.g. conn-failure, all-retryable-errors)");
            }
            px.http.retry_on = bits;
        }
        "tcp-check" => tcp_check_kw(px, &w[1..], loc, d),
        "no" => match arg(1) {
            Some("option") => option_kw(px, &w[2..], false, loc, d),
            Some("log") => px.log = ProxyLog::default(),
            Some(o) => d.error(
                loc,
                format!("'no {o}' is not supported ('no option ...' and 'no log' are)"),
            ),
            None => d.error(loc, "'no' expects 'option' or 'log'"),
        },
        "log-format" | "log-format-sd" => {
            let Some(text) = arg(1) else {
                d.error(loc, format!("'{kw}' expects a format string"));
                return;
            };
            if w.len() > 2 {
                d.error(
                    loc,
                    format!(
                        "'{kw}' expects one argument (quote the format): unexpected '{}'",
                        w[2]
                    ),
                );
            }
            let v = Some((text.to_string(), loc.clone()));
            if kw == "log-format" {
                px.logging.format = v;
            } else {
                px.logging.sd = v;
            }
        }
        "capture" => super::logging::capture_kw(&mut px.logging, &w[1..], loc, d),
        "log" => match arg(1) {
            Some("global") => px.log.use_global = true,
            Some(_) => {
                if let Some(t) = parse_log(&w[1..], loc, d) {
                    px.log.targets.push(t);
                }
            }
            None => d.error(loc, "'log' expects 'global' or a target"),
        },
        "default_backend" => match arg(1) {
            Some(n) => {
                px.default_backend = Some(BackendRef {
                    name: n.to_string(),
                    index: usize::MAX,
                    cond: None,
                    loc: loc.clone(),
                });
                if w.len() > 2 {
                    d.error(
                        loc,
                        format!("unexpected argument '{}' after 'default_backend {n}'", w[2]),
                    );
                }
            }
            None => d.error(loc, "'default_backend' expects a backend name"),
        },
        "use_backend" => {
            match arg(1) {
                Some(n) => {
                    let mut r = BackendRef {
                        name: n.to_string(),
                        index: usize::MAX,
                        cond: None,
                        loc: loc.clone(),
                    };
                    match arg(2) {
                        None => px.use_backends.push(r),
                        Some("if") | Some("unless") => {
                            // The name is checked even if the condition is bad.
                            r.cond = parse_cond(px, &w[2..], loc, d);
                            px.use_backends.push(r);
                        }
                        Some(o) => d.error(
                            loc,
                            format!("'use_backend {n}': expected 'if' or 'unless' before '{o}'"),
                        ),
                    }
                }
                None => d.error(loc, "'use_backend' expects a backend name"),
            }
        }
        "acl" => {
            let mut ctx = crate::acl::ParseCtx::new(&px.name);
            let acls = std::sync::Arc::get_mut(&mut px.acls)
                .expect("a proxy's ACL table is its own while parsing");
            if let Err(e) = acls.define(&w[1..], &mut ctx) {
                d.error(loc, e);
            } else if let Some(n) = w.get(1) {
                px.acl_lines.push((n.clone(), loc.clone()));
            }
            for wn in ctx.warnings {
                d.warn(loc, wn);
            }
        }
        "cookie" => cookie_kw(px, w, loc, d),
        "monitor" => match arg(1) {
            Some("fail") => match arg(2) {
                Some("if") | Some("unless") => px.monitor_fail = parse_cond(px, &w[2..], loc, d),
                _ => d.error(
                    loc,
                    "'monitor fail' expects 'if' or 'unless' and a condition",
                ),
            },
            Some(o) => d.error(
                loc,
                format!("unknown 'monitor' action '{o}' (only 'monitor fail' exists)"),
            ),
            None => d.error(loc, "'monitor' expects 'fail if|unless CONDITION'"),
        },
        "http-request" => {
            if let Some(r) = http_rule(px, &w[1..], true, loc, d) {
                px.http_request.push(r);
            }
        }
        "tcp-request" => super::tcp_rules::tcp_request(px, w, loc, d),
        "http-response" => {
            if let Some(r) = http_rule(px, &w[1..], false, loc, d) {
                px.http_response.push(r);
            }
        }
        "redirect" => {
            // The old keyword is `http-request redirect` evaluated after the rules.
            let mut words = vec!["redirect".to_string()];
            words.extend_from_slice(&w[1..]);
            if let Some(r) = http_rule(px, &words, true, loc, d) {
                px.redirects.push(r);
            }
        }
        "stick-table" => stick_table_kw(px, w, loc, d),
        "stick" => stick_kw(px, w, loc, d),
        "disabled" => px.disabled = true,
        "enabled" => px.disabled = false,
        "description" => {}
        "id" => px.id = uint_arg(w, 1, 1, i32::MAX as u64, loc, d).map(|v| v as u32),
        _ => d.error(loc, format!("internal error: no handler for '{kw}'")),
    }
}

fn timeout_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let Some(name) = w.get(1).map(String::as_str) else {
        d.error(
            loc,
            "'timeout' expects a name (connect, client, server, ...) and a time",
        );
        return;
    };
    let Some(k) = keywords::find(keywords::TIMEOUT, name) else {
        let h = keywords::hint(name, keywords::TIMEOUT.iter().map(|k| k.name));
        d.error(loc, format!("unknown timeout 'timeout {name}'{h}"));
        return;
    };
    if !status_ok(k, &format!("timeout {name}"), loc, d) {
        return;
    }
    let Some(t) = time_arg(w, 2, loc, d) else {
        return;
    };
    if w.len() > 3 {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'timeout {name}'", w[3]),
        );
    }
    if k.sections & section_bit(px.kind) == 0 {
        let side = if k.sections & F != 0 {
            "frontend"
        } else {
            "backend"
        };
        d.warn(
            loc,
            format!(
                "'timeout {name}' is ignored: {} '{}' has no {side} capability",
                px.kind.name(),
                px.name
            ),
        );
        return;
    }
    // Zero means "no timeout", as in HAProxy.
    let t = if t.is_zero() { None } else { Some(t) };
    let to = &mut px.timeouts;
    let slot = match name {
        "connect" => &mut to.connect,
        "client" => &mut to.client,
        "server" => &mut to.server,
        "tunnel" => &mut to.tunnel,
        "client-fin" => &mut to.client_fin,
        "server-fin" => &mut to.server_fin,
        "queue" => &mut to.queue,
        "check" => &mut to.check,
        "http-request" => &mut to.http_request,
        "http-keep-alive" => &mut to.http_keep_alive,
        _ => &mut to.tarpit,
    };
    *slot = t;
}

fn option_kw(px: &mut Proxy, w: &[String], on: bool, loc: &Loc, d: &mut Diags) {
    let Some(name) = w.first().map(String::as_str) else {
        d.error(loc, "'option' expects an option name");
        return;
    };
    let Some(k) = keywords::find(keywords::OPTION, name) else {
        let h = keywords::hint(name, keywords::OPTION.iter().map(|k| k.name));
        d.error(loc, format!("unknown option '{name}'{h}"));
        return;
    };
    if k.sections & section_bit(px.kind) == 0 {
        d.warn(
            loc,
            format!(
                "'option {name}' is ignored in {} '{}' (it applies to {})",
                px.kind.name(),
                px.name,
                if k.sections & F != 0 {
                    "frontends"
                } else {
                    "backends"
                }
            ),
        );
        return;
    }
    if !status_ok(k, &format!("option {name}"), loc, d) {
        return;
    }
    let o = &mut px.options;
    match name {
        "redispatch" => {
            o.redispatch = if on {
                match w.get(1) {
                    None => Some(-1),
                    Some(v) => match v.parse::<i32>() {
                        Ok(0) => None,
                        Ok(n) => Some(n),
                        Err(_) => {
                            d.error(loc, format!("'option redispatch': invalid interval '{v}'"));
                            None
                        }
                    },
                }
            } else {
                None
            }
        }
        "tcplog" => {
            o.tcplog = on;
            // The last of log-format / option tcplog / option httplog wins, as in HAProxy.
            if on {
                px.logging.format = None;
            }
        }
        "httplog" => {
            px.http.httplog = on;
            px.logging.clf = false;
            if on {
                px.logging.format = None;
            }
            if let Some(a) = w.get(1) {
                if a == "clf" {
                    px.logging.clf = on;
                } else {
                    d.error(
                        loc,
                        format!("unexpected argument '{a}' after 'option httplog'"),
                    );
                }
            }
            return;
        }
        "forwardfor" | "originalto" => {
            let default = if name == "forwardfor" {
                "X-Forwarded-For"
            } else {
                "X-Original-To"
            };
            let mut h = AddrHeader {
                header: default.to_string(),
                except: None,
                if_none: false,
            };
            let mut i = 1;
            while i < w.len() {
                match (w[i].as_str(), w.get(i + 1)) {
                    ("except", Some(net)) => {
                        match IpNet::parse(net) {
                            Ok(n) => h.except = Some(n),
                            Err(e) => d.error(loc, format!("'option {name} except': {e}")),
                        }
                        i += 1;
                    }
                    ("header", Some(n)) => {
                        h.header = n.clone();
                        i += 1;
                    }
                    ("if-none", _) if name == "forwardfor" => h.if_none = true,
                    (a, _) => {
                        d.error(
                            loc,
                            format!("unexpected argument '{a}' after 'option {name}'"),
                        );
                        return;
                    }
                }
                i += 1;
            }
            let slot = if name == "forwardfor" {
                &mut px.http.forwardfor
            } else {
                &mut px.http.originalto
            };
            *slot = on.then_some(h);
            return;
        }
        "http-keep-alive" | "http-server-close" | "httpclose" => {
            px.http.conn_mode = if !on {
                ConnMode::KeepAlive
            } else {
                match name {
                    "http-keep-alive" => ConnMode::KeepAlive,
                    "http-server-close" => ConnMode::ServerClose,
                    _ => ConnMode::Close,
                }
            };
        }
        "dontlognull" => o.dontlognull = on,
        "socket-stats" => o.socket_stats = on,
        "tcpka" => {
            o.clitcpka = on;
            o.srvtcpka = on;
        }
        "clitcpka" => o.clitcpka = on,
        "srvtcpka" => o.srvtcpka = on,
        "allbackups" => o.allbackups = on,
        "log-health-checks" => o.log_health_checks = on,
        "httpchk" => {
            if on {
                px.check = CheckKind::Http;
                // option httpchk [<method>] [<uri>] [<version>] (one argument = the URI).
                let args = &w[1..];
                let hc = &mut px.http_check;
                match args.len() {
                    0 => {}
                    1 => hc.uri = args[0].clone(),
                    2 => {
                        hc.method = args[0].clone();
                        hc.uri = args[1].clone();
                    }
                    3 => {
                        hc.method = args[0].clone();
                        hc.uri = args[1].clone();
                        hc.version = args[2].clone();
                    }
                    _ => d.error(
                        loc,
                        format!("unexpected argument '{}' after 'option httpchk'", args[3]),
                    ),
                }
            } else if px.check == CheckKind::Http {
                px.check = CheckKind::Connect;
            }
            return;
        }
        "tcp-check" => {
            if on {
                px.check = CheckKind::Tcp;
            } else if px.check == CheckKind::Tcp {
                px.check = CheckKind::Connect;
            }
        }
        "splice-auto" => px.options.splice.auto = on,
        "splice-request" => px.options.splice.request = on,
        "splice-response" => px.options.splice.response = on,
        _ => d.error(
            loc,
            format!("internal error: no handler for 'option {name}'"),
        ),
    }
    let extra = if name == "redispatch" { 2 } else { 1 };
    if w.len() > extra {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'option {name}'", w[extra]),
        );
    }
}

/// `stats ...` in a proxy section (the global `stats socket|timeout|maxconn` are the
/// runtime API's). Every form but `admin` enables the page, as in HAProxy.
fn stats_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let arg = |i: usize| w.get(i).map(String::as_str);
    let rest = || w[2..].join(" ");
    let st = &mut px.stats;
    match arg(1) {
        Some("enable") => st.enabled = true,
        Some("disable") => st.enabled = false,
        Some("uri") => match arg(2) {
            Some(u) => {
                st.uri = Some(u.to_string());
                st.enabled = true;
            }
            None => d.error(loc, "'stats uri' expects a URI prefix"),
        },
        Some("realm") => match arg(2) {
            Some(_) => {
                st.realm = Some(rest());
                st.enabled = true;
            }
            None => d.error(loc, "'stats realm' expects a realm"),
        },
        Some("auth") => match arg(2).and_then(|a| a.split_once(':')) {
            Some((u, p)) => {
                st.auth.push((u.to_string(), p.to_string()));
                st.enabled = true;
            }
            None => d.error(loc, "'stats auth' expects 'user:password'"),
        },
        Some("refresh") => {
            if let Some(t) = time_arg(w, 2, loc, d) {
                st.refresh = Some(t);
                st.enabled = true;
            }
        }
        Some("hide-version") => {
            st.hide_version = true;
            st.enabled = true;
        }
        Some("show-legends") => {
            st.show_legends = true;
            st.enabled = true;
        }
        Some("show-node") => {
            st.show_node = Some(arg(2).unwrap_or("").to_string());
            st.enabled = true;
        }
        Some("show-desc") => {
            st.show_desc = Some(rest());
            st.enabled = true;
        }
        Some("scope") => match arg(2) {
            Some(n) => {
                st.scope.push(n.to_string());
                st.enabled = true;
            }
            None => d.error(loc, "'stats scope' expects a proxy name or '.'"),
        },
        Some("admin") => {
            if px.kind == Kind::Defaults {
                d.error(loc, "'stats admin' is not supported in a defaults section");
                return;
            }
            match arg(2) {
                Some("if") | Some("unless") => {
                    let c = parse_cond(px, &w[2..], loc, d);
                    px.stats.admin = c;
                }
                _ => d.error(
                    loc,
                    "'stats admin' expects 'if' or 'unless' and a condition",
                ),
            }
        }
        Some(o @ ("socket" | "timeout" | "maxconn" | "bind-process")) => {
            d.error(loc, format!("'stats {o}' belongs in the global section"))
        }
        Some(o @ "http-request") => d.error(
            loc,
            format!("'stats {o}' is not supported yet; use 'stats auth' and 'stats admin'"),
        ),
        Some(o) => {
            let h = keywords::hint(
                o,
                [
                    "enable",
                    "disable",
                    "uri",
                    "realm",
                    "auth",
                    "refresh",
                    "admin",
                    "hide-version",
                    "show-legends",
                    "show-node",
                    "show-desc",
                    "scope",
                ],
            );
            d.error(loc, format!("unknown 'stats' keyword '{o}'{h}"));
        }
        None => d.error(loc, "'stats' expects a keyword (enable, uri, auth, …)"),
    }
}

/// `stick-table ...`: one per proxy, named after it.
fn stick_table_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    if px.stick_table.is_some() {
        d.error(
            loc,
            format!(
                "'stick-table': only one table per proxy ('{}' has one)",
                px.name
            ),
        );
        return;
    }
    match super::stick::parse_table(&w[1..]) {
        Ok(t) => {
            if let Some(p) = &t.peers {
                d.warn(loc, format!("'stick-table ... peers {p}': corelb does not synchronize tables between processes yet; the table is local"));
            }
            px.stick_table = Some(t);
        }
        Err(e) => d.error(loc, e),
    }
}

/// `stick on|match|store-request PATTERN [table T] [if|unless COND]`.
fn stick_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let cond_at = w
        .iter()
        .skip(2)
        .position(|x| x == "if" || x == "unless")
        .map_or(w.len(), |p| p + 2);
    let (matches, stores, expr, table) = match super::stick::parse_rule(w, cond_at, &px.name) {
        Ok(r) => r,
        Err(e) => {
            d.error(loc, e);
            return;
        }
    };
    let cond = if cond_at < w.len() {
        match parse_cond(px, &w[cond_at..], loc, d) {
            Some(c) => Some(c),
            None => return,
        }
    } else {
        None
    };
    px.stick_rules.push(super::stick::StickRule {
        matches,
        stores,
        expr,
        table,
        cond,
        loc: loc.clone(),
    });
}

/// Parses `if|unless ...` against the proxy's ACLs; errors and warnings go to `d`.
pub(super) fn parse_cond(
    px: &Proxy,
    words: &[String],
    loc: &Loc,
    d: &mut Diags,
) -> Option<crate::acl::Cond> {
    let mut ctx = crate::acl::ParseCtx::new(&px.name);
    let r = crate::acl::Cond::parse(words, &px.acls, &mut ctx);
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
    match r {
        Ok(c) => Some(c),
        Err(e) => {
            d.error(loc, e);
            None
        }
    }
}

fn logformat(
    px: &Proxy,
    text: &str,
    what: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<crate::acl::LogFormat> {
    let mut ctx = crate::acl::ParseCtx::new(&px.name);
    let r = crate::acl::LogFormat::parse(text, &mut ctx);
    for wn in ctx.warnings {
        d.warn(loc, wn);
    }
    match r {
        Ok(f) => Some(f),
        Err(e) => {
            d.error(loc, format!("{what}: {e}"));
            None
        }
    }
}

/// Why corelb talks to no SPOE agent (`filter spoe`, `send-spoe-group`).
const NO_SPOE: &str =
    "corelb runs no SPOE filters (no external agents in the request path; use rules)";

/// Actions HAProxy has that corelb does not implement yet (an error names them).
const HTTP_ACTIONS_NOT_YET: &[&str] = &[
    "tarpit",
    "auth",
    "set-var",
    "set-var-fmt",
    "unset-var",
    "capture",
    "set-log-level",
    "add-acl",
    "del-acl",
    "set-map",
    "del-map",
    "cache-use",
    "cache-store",
    "set-bandwidth-limit",
    "early-hint",
    "normalize-uri",
    "set-dst",
    "set-dst-port",
    "set-src",
    "set-src-port",
    "set-nice",
    "set-tos",
    "set-mark",
    "silent-drop",
    "reject",
    "wait-for-body",
    "wait-for-handshake",
    "set-timeout",
    "replace-value",
    "replace-path",
    "replace-pathq",
    "replace-uri",
    "set-pathq",
    "strict-mode",
    "do-resolve",
    "set-priority-class",
    "set-priority-offset",
    "set-retries",
    "sc-add-gpc",
    "sc-set-gpt",
    "set-fc-mark",
    "set-fc-tos",
    "do-log",
    "pause",
];

/// One `http-request`/`http-response`/`redirect` rule: `ACTION args... [if|unless COND]`.
fn http_rule(
    px: &Proxy,
    w: &[String],
    request: bool,
    loc: &Loc,
    d: &mut Diags,
) -> Option<HttpRule> {
    let kw = if request {
        "http-request"
    } else {
        "http-response"
    };
    let Some(action) = w.first().map(String::as_str) else {
        d.error(loc, format!("'{kw}' expects an action"));
        return None;
    };
    // Where the condition starts: the first `if`/`unless` after the action's own words.
    let cond_at = |from: usize| {
        w.iter()
            .skip(from)
            .position(|x| x == "if" || x == "unless")
            .map(|p| p + from)
    };
    let arg = |i: usize| w.get(i).map(String::as_str);
    let need = |n: usize, usage: &str, d: &mut Diags| -> bool {
        let end = cond_at(1).unwrap_or(w.len());
        if end < 1 + n {
            d.error(loc, format!("'{kw} {action}' expects {usage}"));
            return false;
        }
        if end > 1 + n {
            d.error(
                loc,
                format!(
                    "'{kw} {action}': unexpected argument '{}' (expected 'if' or 'unless')",
                    w[1 + n]
                ),
            );
            return false;
        }
        true
    };
    let fmt = |text: &str, d: &mut Diags| logformat(px, text, &format!("'{kw} {action}'"), loc, d);
    let parsed: Option<HttpAction> = match action {
        "allow" => need(0, "no argument", d).then_some(HttpAction::Allow),
        "use-service" if request => match arg(1) {
            Some("prometheus-exporter") => {
                need(1, "a service name", d).then_some(HttpAction::UsePrometheus)
            }
            Some(o) if o.starts_with("lua.") => {
                let why = super::keywords::NO_LUA;
                d.error(
                    loc,
                    format!("'{kw} use-service {o}' is not supported: {why}"),
                );
                None
            }
            Some(o) => {
                d.error(
                    loc,
                    format!("'{kw} use-service': unknown service '{o}' (corelb has 'prometheus-exporter')"),
                );
                None
            }
            None => {
                d.error(loc, format!("'{kw} use-service' expects a service name"));
                None
            }
        },
        "disable-l7-retry" if request => {
            need(0, "no argument", d).then_some(HttpAction::DisableL7Retry)
        }
        "set-header" | "add-header" => {
            if !need(2, "a header name and a value", d) {
                return None;
            }
            let v = fmt(&w[2], d)?;
            Some(if action == "set-header" {
                HttpAction::SetHeader(w[1].clone(), v)
            } else {
                HttpAction::AddHeader(w[1].clone(), v)
            })
        }
        "del-header" => {
            if arg(2) == Some("-m") {
                d.error(
                    loc,
                    format!("'{kw} del-header ... -m' is not supported yet"),
                );
                return None;
            }
            need(1, "a header name", d).then(|| HttpAction::DelHeader(w[1].clone()))
        }
        "replace-header" => {
            if !need(3, "a header name, a regex and a replacement", d) {
                return None;
            }
            match regex::bytes::Regex::new(&w[2]) {
                Ok(r) => Some(HttpAction::ReplaceHeader(
                    w[1].clone(),
                    Regex(r),
                    w[3].clone(),
                )),
                Err(e) => {
                    d.error(
                        loc,
                        format!(
                            "'{kw} replace-header': invalid regular expression '{}': {e}",
                            w[2]
                        ),
                    );
                    None
                }
            }
        }
        "set-path" | "set-query" | "set-uri" | "set-method" if request => {
            if !need(1, "a value", d) {
                return None;
            }
            let v = fmt(&w[1], d)?;
            Some(match action {
                "set-path" => HttpAction::SetPath(v),
                "set-query" => HttpAction::SetQuery(v),
                "set-uri" => HttpAction::SetUri(v),
                _ => HttpAction::SetMethod(v),
            })
        }
        "set-status" if !request => {
            let end = cond_at(1).unwrap_or(w.len());
            let code = match arg(1).map(|c| parse_uint(c, 100, 999)) {
                Some(Ok(c)) => c as u16,
                _ => {
                    d.error(
                        loc,
                        "'http-response set-status' expects a status code (100-999)",
                    );
                    return None;
                }
            };
            let reason = match (arg(2), arg(3)) {
                (Some("reason"), Some(r)) if end >= 4 => Some(r.to_string()),
                _ if end == 2 => None,
                _ => {
                    d.error(loc, "'http-response set-status CODE [reason TEXT]'");
                    return None;
                }
            };
            Some(HttpAction::SetStatus(code, reason))
        }
        "redirect" => {
            parse_redirect(px, w, cond_at(1).unwrap_or(w.len()), loc, d).map(HttpAction::Redirect)
        }
        "deny" | "return" => {
            let end = cond_at(1).unwrap_or(w.len());
            let default_status = if action == "deny" { 403 } else { 200 };
            let reply = parse_reply(px, &w[1..end], default_status, action == "deny", kw, loc, d)?;
            Some(if action == "deny" {
                let simple = matches!(reply.body, ReplyBody::ErrorPage)
                    && reply.headers.is_empty()
                    && reply.content_type.is_none();
                HttpAction::Deny {
                    status: reply.status,
                    reply: (!simple).then_some(reply),
                }
            } else {
                HttpAction::Return(reply)
            })
        }
        a if super::stick::is_action(a) => {
            let end = cond_at(1).unwrap_or(w.len());
            match super::stick::parse_action(kw, &w[..end], &px.name) {
                Ok(a) => Some(HttpAction::Stick(a)),
                Err(e) => {
                    d.error(loc, e);
                    return None;
                }
            }
        }
        a if a == "lua" || a.starts_with("lua.") => {
            d.error(
                loc,
                format!("'{kw} {a}' is not supported: {}", super::keywords::NO_LUA),
            );
            return None;
        }
        a if a == "send-spoe-group" => {
            d.error(loc, format!("'{kw} {a}' is not supported: {NO_SPOE}"));
            return None;
        }
        a if HTTP_ACTIONS_NOT_YET.contains(&a) || a.starts_with("sc-") => {
            d.error(loc, format!("'{kw} {a}' is not supported yet"));
            return None;
        }
        a => {
            let known: &[&str] = if request {
                &[
                    "allow",
                    "deny",
                    "return",
                    "redirect",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "set-path",
                    "set-query",
                    "set-uri",
                    "set-method",
                    "disable-l7-retry",
                ]
            } else {
                &[
                    "allow",
                    "deny",
                    "return",
                    "redirect",
                    "set-header",
                    "add-header",
                    "del-header",
                    "replace-header",
                    "set-status",
                ]
            };
            let h = keywords::hint(a, known.iter().copied());
            d.error(loc, format!("unknown '{kw}' action '{a}'{h}"));
            return None;
        }
    };
    let action = parsed?;
    let cond = match cond_at(1) {
        Some(i) => Some(parse_cond(px, &w[i..], loc, d)?),
        None => None,
    };
    Some(HttpRule {
        action,
        cond,
        loc: loc.clone(),
    })
}

/// `redirect location|prefix|scheme TARGET [code N] [drop-query] [append-slash] ...`
fn parse_redirect(
    px: &Proxy,
    w: &[String],
    end: usize,
    loc: &Loc,
    d: &mut Diags,
) -> Option<Redirect> {
    let kind = match w.get(1).map(String::as_str) {
        Some("location") => RedirectKind::Location,
        Some("prefix") => RedirectKind::Prefix,
        Some("scheme") => RedirectKind::Scheme,
        other => {
            d.error(
                loc,
                format!("'redirect' expects location, prefix or scheme, not {other:?}"),
            );
            return None;
        }
    };
    let Some(target) = w.get(2).filter(|_| end > 2) else {
        d.error(
            loc,
            "'redirect' expects a target after location/prefix/scheme",
        );
        return None;
    };
    let target = logformat(px, target, "'redirect'", loc, d)?;
    let mut r = Redirect {
        kind,
        target,
        code: 302,
        drop_query: false,
        append_slash: false,
    };
    let mut i = 3;
    while i < end {
        match (w[i].as_str(), w.get(i + 1)) {
            ("code", Some(c)) => {
                match parse_uint(c, 300, 399) {
                    Ok(c) if matches!(c, 301 | 302 | 303 | 307 | 308) => r.code = c as u16,
                    _ => {
                        d.error(
                            loc,
                            format!("'redirect': code '{c}' (301, 302, 303, 307 or 308)"),
                        );
                        return None;
                    }
                }
                i += 1;
            }
            ("drop-query", _) => r.drop_query = true,
            ("append-slash", _) => r.append_slash = true,
            ("ignore-empty", _) => {}
            (o @ ("set-cookie" | "clear-cookie"), _) => {
                d.error(loc, format!("'redirect ... {o}' is not supported yet"));
                return None;
            }
            (o, _) => {
                d.error(loc, format!("unknown 'redirect' option '{o}'"));
                return None;
            }
        }
        i += 1;
    }
    Some(r)
}

/// The arguments of `return` and `deny`: `[status N] [deny_status N] [content-type T]
/// [string S | lf-string F | file F | lf-file F | errorfile F | default-errorfiles]
/// [hdr NAME FMT]...`
fn parse_reply(
    px: &Proxy,
    w: &[String],
    status: u16,
    deny: bool,
    kw: &str,
    loc: &Loc,
    d: &mut Diags,
) -> Option<Reply> {
    let mut r = Reply {
        status,
        content_type: None,
        body: if deny {
            ReplyBody::ErrorPage
        } else {
            ReplyBody::Empty
        },
        headers: Vec::new(),
    };
    let what = if deny { "deny" } else { "return" };
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let v = w.get(i + 1);
        let Some(v) = v else {
            if k == "default-errorfiles" {
                r.body = ReplyBody::ErrorPage;
                i += 1;
                continue;
            }
            d.error(loc, format!("'{kw} {what} {k}' expects a value"));
            return None;
        };
        match k {
            "status" | "deny_status" => match parse_uint(v, 200, 599) {
                Ok(c) => r.status = c as u16,
                Err(e) => {
                    d.error(loc, format!("'{kw} {what} {k}': {e}"));
                    return None;
                }
            },
            "content-type" => r.content_type = Some(v.clone()),
            "string" | "lf-string" => {
                let f = if k == "string" {
                    logformat(px, &v.replace('%', "%%"), kw, loc, d)?
                } else {
                    logformat(px, v, kw, loc, d)?
                };
                r.body = ReplyBody::Text(f);
            }
            "file" | "errorfile" => match std::fs::read(v) {
                Ok(b) => r.body = ReplyBody::File(b.into()),
                Err(e) => {
                    d.error(loc, format!("'{kw} {what} {k}': cannot read '{v}': {e}"));
                    return None;
                }
            },
            "hdr" => {
                let Some(val) = w.get(i + 2) else {
                    d.error(loc, format!("'{kw} {what} hdr' expects a name and a value"));
                    return None;
                };
                let f = logformat(px, val, kw, loc, d)?;
                r.headers.push((v.clone(), f));
                i += 1;
            }
            "default-errorfiles" => {
                r.body = ReplyBody::ErrorPage;
                i += 1;
                continue;
            }
            o => {
                d.error(loc, format!("unknown '{kw} {what}' option '{o}'"));
                return None;
            }
        }
        i += 2;
    }
    Some(r)
}

/// Status codes HAProxy accepts in `errorfile` (and that corelb may answer itself).
pub const ERRORFILE_CODES: &[u16] = &[
    200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 425, 429, 500, 501, 502, 503, 504,
];

/// `errorfile CODE FILE`: the file is a complete HTTP response, sent as it is.
fn errorfile_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let (Some(code), Some(file)) = (w.get(1), w.get(2)) else {
        d.error(loc, "'errorfile' expects <code> <file>");
        return;
    };
    let code = match parse_uint(code, 100, 599) {
        Ok(c) if ERRORFILE_CODES.contains(&(c as u16)) => c as u16,
        _ => {
            d.error(
                loc,
                format!(
                    "'errorfile': status code '{code}' cannot be customized (one of {})",
                    ERRORFILE_CODES
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return;
        }
    };
    match std::fs::read(file) {
        Ok(bytes) => {
            if !bytes.starts_with(b"HTTP/1.") {
                d.error(loc, format!("errorfile '{file}' is not an HTTP response (it must start with the status line)"));
                return;
            }
            px.http.errorfiles.retain(|(c, _)| *c != code);
            px.http.errorfiles.push((code, bytes.into()));
        }
        Err(e) => d.error(loc, format!("errorfile {code}: cannot read '{file}': {e}")),
    }
}

/// `expect [!] <kind> <pattern>` of http-check and tcp-check.
fn parse_expect(w: &[String], http: bool, loc: &Loc, d: &mut Diags) -> Option<Expect> {
    let who = if http {
        "http-check expect"
    } else {
        "tcp-check expect"
    };
    let mut i = 0;
    let mut negate = false;
    // Options HAProxy accepts before the matcher.
    while let Some(opt) = w.get(i).map(String::as_str) {
        match opt {
            "!" => {
                negate = true;
                i += 1;
            }
            "min-recv" | "comment" | "ok-status" | "error-status" | "tout-status"
            | "on-success" | "on-error" | "status-code" => {
                d.error(loc, format!("'{who} {opt}' is not supported yet"));
                return None;
            }
            _ => break,
        }
    }
    let (Some(kind), Some(pat)) = (w.get(i), w.get(i + 1)) else {
        d.error(loc, format!("'{who}' expects [!] <match> <pattern>"));
        return None;
    };
    if w.len() > i + 2 {
        d.error(
            loc,
            format!(
                "unexpected argument '{}' after '{who} {kind} {pat}'",
                w[i + 2]
            ),
        );
    }
    let regex = |p: &str, d: &mut Diags| match regex::bytes::Regex::new(p) {
        Ok(r) => Some(Regex(r)),
        Err(e) => {
            d.error(
                loc,
                format!("'{who}': invalid regular expression '{p}': {e}"),
            );
            None
        }
    };
    let matcher = match (kind.as_str(), http) {
        ("status", true) => {
            let mut ranges = Vec::new();
            for part in pat.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                match (parse_uint(a, 100, 599), parse_uint(b, 100, 599)) {
                    (Ok(a), Ok(b)) if a <= b => ranges.push((a as u16, b as u16)),
                    _ => {
                        d.error(
                            loc,
                            format!("'{who} status': invalid status code or range '{part}'"),
                        );
                        return None;
                    }
                }
            }
            ExpectMatch::Status(ranges)
        }
        ("rstatus", true) => ExpectMatch::StatusRegex(regex(pat, d)?),
        ("string", _) => ExpectMatch::String(pat.as_bytes().to_vec()),
        ("rstring", _) => ExpectMatch::Regex(regex(pat, d)?),
        ("binary", false) => match decode_hex(pat) {
            Some(b) => ExpectMatch::Binary(b),
            None => {
                d.error(
                    loc,
                    format!("'{who} binary': invalid hexadecimal string '{pat}'"),
                );
                return None;
            }
        },
        (k, _) => {
            let known: &[&str] = if http {
                &["status", "rstatus", "string", "rstring"]
            } else {
                &["string", "rstring", "binary"]
            };
            let h = keywords::hint(k, known.iter().copied());
            d.error(loc, format!("'{who} {k}' is not supported{h}"));
            return None;
        }
    };
    Some(Expect { negate, matcher })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `http-check send ...` and `http-check expect ...` (HAProxy 2.2+ syntax).
fn http_check_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    match w.first().map(String::as_str) {
        Some("expect") => {
            if let Some(e) = parse_expect(&w[1..], true, loc, d) {
                px.http_check.expect.push(e);
            }
        }
        Some("send") => {
            let hc = &mut px.http_check;
            let mut i = 1;
            while i < w.len() {
                let (k, v) = (w[i].as_str(), w.get(i + 1));
                match (k, v) {
                    ("meth", Some(v)) => hc.method = v.clone(),
                    ("uri", Some(v)) => hc.uri = v.clone(),
                    ("ver", Some(v)) => hc.version = v.clone(),
                    ("body", Some(v)) => hc.body = v.clone(),
                    ("hdr", Some(n)) => match w.get(i + 2) {
                        Some(val) => {
                            hc.headers.push((n.clone(), val.clone()));
                            i += 1;
                        }
                        None => {
                            d.error(loc, "'http-check send hdr' expects a name and a value");
                            return;
                        }
                    },
                    ("uri-lf" | "body-lf" | "comment", Some(_)) => {
                        d.error(loc, format!("'http-check send {k}' is not supported yet"));
                    }
                    (_, None) => {
                        d.error(loc, format!("'http-check send {k}' expects a value"));
                        return;
                    }
                    (other, _) => {
                        let h = keywords::hint(other, ["meth", "uri", "ver", "hdr", "body"]);
                        d.error(
                            loc,
                            format!("unknown 'http-check send' option '{other}'{h}"),
                        );
                        return;
                    }
                }
                i += 2;
            }
        }
        Some(
            k @ ("connect" | "disable-on-404" | "send-state" | "comment" | "set-var" | "unset-var"),
        ) => {
            d.error(loc, format!("'http-check {k}' is not supported yet"));
        }
        Some(k) => {
            let h = keywords::hint(
                k,
                ["send", "expect", "connect", "disable-on-404", "send-state"],
            );
            d.error(loc, format!("unknown 'http-check' action '{k}'{h}"));
        }
        None => d.error(loc, "'http-check' expects send or expect"),
    }
}

/// `tcp-check connect|send|send-binary|expect|comment ...`
fn tcp_check_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    match w.first().map(String::as_str) {
        Some("connect") => {
            let mut port = None;
            let mut send_proxy = false;
            let mut i = 1;
            while i < w.len() {
                match (w[i].as_str(), w.get(i + 1)) {
                    ("port", Some(p)) => match parse_uint(p, 1, 65535) {
                        Ok(v) => {
                            port = Some(v as u16);
                            i += 1;
                        }
                        Err(e) => d.error(loc, format!("'tcp-check connect port': {e}")),
                    },
                    ("send-proxy", _) => send_proxy = true,
                    ("comment", Some(_)) => i += 1,
                    (o, _) => {
                        d.error(loc, format!("'tcp-check connect {o}' is not supported yet"));
                        return;
                    }
                }
                i += 1;
            }
            px.tcp_check
                .push(TcpCheckRule::Connect { port, send_proxy });
        }
        Some("send") => match w.get(1) {
            Some(s) => px.tcp_check.push(TcpCheckRule::Send(s.as_bytes().to_vec())),
            None => d.error(loc, "'tcp-check send' expects a string"),
        },
        Some("send-binary") => match w.get(1).and_then(|s| decode_hex(s)) {
            Some(b) => px.tcp_check.push(TcpCheckRule::Send(b)),
            None => d.error(loc, "'tcp-check send-binary' expects a hexadecimal string"),
        },
        Some("expect") => {
            if let Some(e) = parse_expect(&w[1..], false, loc, d) {
                px.tcp_check.push(TcpCheckRule::Expect(e));
            }
        }
        Some("comment") => {}
        Some(k @ ("send-lf" | "send-binary-lf" | "set-var" | "unset-var")) => {
            d.error(loc, format!("'tcp-check {k}' is not supported yet"));
        }
        Some(k) => {
            let h = keywords::hint(k, ["connect", "send", "send-binary", "expect", "comment"]);
            d.error(loc, format!("unknown 'tcp-check' action '{k}'{h}"));
        }
        None => d.error(
            loc,
            "'tcp-check' expects connect, send, send-binary or expect",
        ),
    }
}

/// The arguments of `balance uri|url_param|hdr(NAME)`.
fn parse_hash_key(
    base: &str,
    full: &str,
    args: &[String],
    loc: &Loc,
    d: &mut Diags,
) -> Option<HashKey> {
    match base {
        "uri" => {
            let (mut len, mut depth, mut whole, mut path_only) = (None, None, false, false);
            let mut i = 0;
            while i < args.len() {
                match (args[i].as_str(), args.get(i + 1)) {
                    ("len", Some(v)) | ("depth", Some(v)) => {
                        let n = match parse_uint(v, 1, 1 << 20) {
                            Ok(n) => n as usize,
                            Err(e) => {
                                d.error(loc, format!("'balance uri {}': {e}", args[i]));
                                return None;
                            }
                        };
                        if args[i] == "len" {
                            len = Some(n)
                        } else {
                            depth = Some(n)
                        }
                        i += 1;
                    }
                    ("whole", _) => whole = true,
                    ("path-only", _) => path_only = true,
                    (o, _) => {
                        d.error(
                            loc,
                            format!(
                                "unknown 'balance uri' option '{o}' (len, depth, whole, path-only)"
                            ),
                        );
                        return None;
                    }
                }
                i += 1;
            }
            Some(HashKey::Uri {
                len,
                depth,
                whole,
                path_only,
            })
        }
        "url_param" => {
            let Some(name) = args.first() else {
                d.error(loc, "'balance url_param' expects a parameter name");
                return None;
            };
            if let Some(o) = args.get(1) {
                d.error(
                    loc,
                    format!("'balance url_param {name} {o}' is not supported yet"),
                );
                return None;
            }
            Some(HashKey::UrlParam(name.clone()))
        }
        _ => {
            let Some(name) = full
                .strip_prefix("hdr(")
                .and_then(|r| r.strip_suffix(')'))
                .filter(|n| !n.is_empty())
            else {
                d.error(
                    loc,
                    "'balance hdr' expects a header name in parentheses: hdr(NAME)",
                );
                return None;
            };
            let domain_only = match args.first().map(String::as_str) {
                None => false,
                Some("use_domain_only") => true,
                Some(o) => {
                    d.error(
                        loc,
                        format!("unknown 'balance hdr()' option '{o}' (use_domain_only)"),
                    );
                    return None;
                }
            };
            Some(HashKey::Header {
                name: name.to_string(),
                domain_only,
            })
        }
    }
}

/// `cookie NAME [insert|rewrite|prefix] [options...]` in a backend.
fn cookie_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let Some(name) = w.get(1) else {
        d.error(loc, "'cookie' expects a cookie name");
        return;
    };
    let mut c = CookieCfg {
        name: name.clone(),
        mode: CookieMode::Rewrite,
        indirect: false,
        nocache: false,
        postonly: false,
        preserve: false,
        httponly: false,
        secure: false,
        domains: Vec::new(),
        maxidle: None,
        maxlife: None,
        loc: loc.clone(),
    };
    let mut i = 2;
    while i < w.len() {
        match (w[i].as_str(), w.get(i + 1)) {
            ("insert", _) => c.mode = CookieMode::Insert,
            ("rewrite", _) => c.mode = CookieMode::Rewrite,
            ("prefix", _) => c.mode = CookieMode::Prefix,
            ("indirect", _) => c.indirect = true,
            ("nocache", _) => c.nocache = true,
            ("postonly", _) => c.postonly = true,
            ("preserve", _) => c.preserve = true,
            ("httponly", _) => c.httponly = true,
            ("secure", _) => c.secure = true,
            ("domain", Some(dm)) => {
                c.domains.push(dm.clone());
                i += 1;
            }
            (k @ ("maxidle" | "maxlife"), Some(t)) => {
                match parse_time(t, Duration::from_secs(1)) {
                    Ok(t) if !t.is_zero() => {
                        if k == "maxidle" {
                            c.maxidle = Some(t)
                        } else {
                            c.maxlife = Some(t)
                        }
                    }
                    Ok(_) => {}
                    Err(e) => d.error(loc, format!("'cookie {k}': {e}")),
                }
                i += 1;
            }
            (k @ ("dynamic" | "attr"), _) => {
                d.error(loc, format!("'cookie ... {k}' is not supported yet"));
                return;
            }
            (o, _) => {
                let h = keywords::hint(
                    o,
                    [
                        "insert", "rewrite", "prefix", "indirect", "nocache", "postonly",
                        "preserve", "httponly", "secure", "domain", "maxidle", "maxlife",
                    ],
                );
                d.error(loc, format!("unknown 'cookie' option '{o}'{h}"));
                return;
            }
        }
        i += 1;
    }
    if c.mode != CookieMode::Insert && (c.maxidle.is_some() || c.maxlife.is_some()) {
        d.error(loc, "'cookie ... maxidle/maxlife' only work with 'insert'");
        return;
    }
    px.cookie = Some(c);
}

fn balance_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags) {
    let Some(a) = w.get(1).map(String::as_str) else {
        d.error(loc, "'balance' expects an algorithm");
        return;
    };
    let base = a.split('(').next().unwrap_or(a);
    let algo = match base {
        "roundrobin" => Algo::RoundRobin,
        "static-rr" => Algo::StaticRr,
        "leastconn" => Algo::LeastConn,
        "first" => Algo::First,
        "source" => Algo::Source,
        "random" => {
            let draws = match a.strip_prefix("random(").and_then(|r| r.strip_suffix(')')) {
                Some(n) => match parse_uint(n, 1, 100) {
                    Ok(v) => v as u32,
                    Err(e) => {
                        d.error(loc, format!("'balance random(N)': {e}"));
                        return;
                    }
                },
                None if a == "random" => 2,
                None => {
                    d.error(loc, format!("invalid balance algorithm '{a}'"));
                    return;
                }
            };
            Algo::Random { draws }
        }
        "uri" | "url_param" | "hdr" => {
            if let Some(k) = parse_hash_key(base, a, &w[2..], loc, d) {
                px.balance.algo = Algo::RequestHash;
                px.balance.key = Some(k);
                px.balance.loc = Some(loc.clone());
            }
            return;
        }
        "rdp-cookie" | "hash" => {
            d.error(loc, format!("'balance {base}' is not supported yet"));
            return;
        }
        _ => {
            let h = keywords::hint(
                base,
                [
                    "roundrobin",
                    "static-rr",
                    "leastconn",
                    "first",
                    "source",
                    "random",
                    "uri",
                    "url_param",
                    "hdr",
                    "rdp-cookie",
                    "hash",
                ],
            );
            d.error(
                loc,
                format!("unknown balance algorithm '{a}' (roundrobin, static-rr, leastconn, first, source or random){h}"),
            );
            return;
        }
    };
    if base != "random" && a != base {
        d.error(loc, format!("invalid balance algorithm '{a}'"));
        return;
    }
    if w.len() > 2 {
        d.error(
            loc,
            format!("unexpected argument '{}' after 'balance {a}'", w[2]),
        );
    }
    px.balance.algo = algo;
    px.balance.loc = Some(loc.clone());
}

/// Bind parameters that take no argument; every other one takes exactly one.
const BIND_FLAGS: &[&str] = &[
    "v4v6",
    "v6only",
    "defer-accept",
    "tfo",
    "accept-proxy",
    "ssl",
    "transparent",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "no-tlsv12",
    "no-tlsv13",
    "no-tls-tickets",
    "strict-sni",
    "generate-certificates",
    "allow-0rtt",
];

fn bind_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let Some(addrs) = w.get(1) else {
        d.error(loc, "'bind' expects [ADDR]:PORT");
        return;
    };
    let mut proto = Bind {
        addr: addr::ListenAddr::Inet("0.0.0.0:0".parse().unwrap()),
        text: String::new(),
        perms: Default::default(),
        backlog: None,
        maxconn: None,
        v6only: None,
        defer_accept: false,
        tfo: false,
        interface: None,
        mss: None,
        name: None,
        accept_proxy: false,
        h2: false,
        tls: None,
        tls_config: None,
        loc: loc.clone(),
    };
    let mut i = 2;
    while i < w.len() {
        let p = w[i].as_str();
        let Some(k) = keywords::find(keywords::BIND, p) else {
            let h = keywords::hint(p, keywords::BIND.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{p}' on 'bind' line{h}"));
            return;
        };
        let tls_kw = crate::tls::options::BIND_KEYWORDS
            .iter()
            .find(|(n, _)| *n == p);
        let nargs = match tls_kw {
            Some((_, takes)) => usize::from(*takes),
            None if BIND_FLAGS.contains(&p) => 0,
            None => 1,
        };
        let val = w.get(i + 1).map(String::as_str);
        if nargs == 1 && val.is_none() {
            d.error(loc, format!("'bind' parameter '{p}' expects a value"));
            return;
        }
        i += 1 + nargs;
        if !status_ok(k, p, loc, d) {
            continue;
        }
        let val = val.unwrap_or("");
        let num = |d: &mut Diags, min: u64| match parse_uint(val, min, u32::MAX as u64) {
            Ok(v) => Some(v as u32),
            Err(e) => {
                d.error(loc, format!("'bind ... {p}': {e}"));
                None
            }
        };
        match p {
            "backlog" => proto.backlog = num(d, 1),
            "maxconn" => proto.maxconn = num(d, 1),
            "name" => proto.name = Some(val.to_string()),
            "id" => {
                num(d, 1);
            }
            "v4v6" => proto.v6only = Some(false),
            "v6only" => proto.v6only = Some(true),
            "defer-accept" => proto.defer_accept = true,
            "tfo" => proto.tfo = true,
            "interface" => proto.interface = Some(val.to_string()),
            "mss" => proto.mss = num(d, 1),
            "accept-proxy" => proto.accept_proxy = true,
            "mode" => match u32::from_str_radix(val, 8) {
                Ok(m) if m <= 0o7777 => proto.perms.mode = Some(m),
                _ => d.error(
                    loc,
                    format!("'bind ... mode': '{val}' is not an octal file mode"),
                ),
            },
            "uid" => proto.perms.uid = num(d, 0),
            "gid" => proto.perms.gid = num(d, 0),
            "user" => proto.perms.user = Some(val.to_string()),
            "group" => proto.perms.group = Some(val.to_string()),
            "proto" => match val {
                "h2" => proto.h2 = true,
                // HAProxy's default on a plain or ALPN-less bind.
                "h1" => proto.h2 = false,
                _ => d.error(
                    loc,
                    format!("'bind ... proto {val}': corelb speaks h1 and h2"),
                ),
            },
            _ if tls_kw.is_some() => {
                let t = proto.tls.get_or_insert_with(Default::default);
                match t.apply(g, p, (nargs == 1).then_some(val)) {
                    Ok(ws) => {
                        for wn in ws {
                            d.warn(loc, wn);
                        }
                    }
                    Err(e) => d.error(loc, format!("'bind ... {p}': {e}")),
                }
            }
            _ => d.error(
                loc,
                format!("internal error: no handler for bind parameter '{p}'"),
            ),
        }
    }
    for item in addrs.split(',').filter(|s| !s.is_empty()) {
        let other = addr::SockPath::parse(item)
            .map(|r| r.map(addr::ListenAddr::Path))
            .or_else(|| addr::parse_fd(item).map(|r| r.map(addr::ListenAddr::Fd)));
        if let Some(r) = other {
            match r {
                Ok(a) => {
                    let mut b = proto.clone();
                    b.addr = a;
                    b.text = item.to_string();
                    px.binds.push(b);
                }
                Err(e) => d.error(loc, format!("'bind': {e}")),
            }
            continue;
        }
        match addr::parse_bind(item) {
            Ok(spec) => {
                for port in spec.ports {
                    let mut b = proto.clone();
                    b.addr = addr::ListenAddr::Inet(std::net::SocketAddr::new(spec.ip, port));
                    b.text = item.to_string();
                    px.binds.push(b);
                }
            }
            Err(e) => d.error(loc, format!("'bind': {e}")),
        }
    }
}

/// Server parameters that take no argument; every other one takes exactly one.
const SERVER_FLAGS: &[&str] = &[
    "backup",
    "disabled",
    "enabled",
    "check",
    "no-check",
    "check-send-proxy",
    "check-ssl",
    "agent-check",
    "send-proxy",
    "send-proxy-v2",
    "send-proxy-v2-ssl",
    "ssl",
    "no-sslv3",
    "no-tlsv10",
    "no-tlsv11",
    "tfo",
];

fn server_kw(px: &mut Proxy, w: &[String], loc: &Loc, d: &mut Diags, g: &TlsGlobals) {
    let (Some(name), Some(address)) = (w.get(1), w.get(2)) else {
        d.error(
            loc,
            "'server' expects <name> and <addr>[:<port>] as arguments",
        );
        return;
    };
    check_proxy_name(name, "server", loc, d);
    if let Some(prev) = px.servers.iter().find(|s| &s.name == name) {
        d.error(
            loc,
            format!(
                "backend '{}' has two servers named '{name}' (the first at {})",
                px.name, prev.loc
            ),
        );
        return;
    }
    // A parameter keyword in the address slot means the address was forgotten.
    if keywords::find(keywords::SERVER, address).is_some() {
        d.error(
            loc,
            format!("'server {name}' has no address ('{address}' is a parameter); expected <name> <addr>[:<port>]"),
        );
        return;
    }
    let path = match addr::SockPath::parse(address).transpose() {
        Ok(p) => p,
        Err(e) => {
            d.error(loc, format!("'server {name}': {e}"));
            return;
        }
    };
    let spec = match path {
        Some(_) => addr::ServerSpec {
            host: address.clone(),
            port: None,
        },
        None => match addr::parse_server(address) {
            Ok(s) => s,
            Err(e) => {
                d.error(loc, format!("'server {name}': {e}"));
                return;
            }
        },
    };
    let mut params = px.default_server.clone();
    let id = server_params(&mut params, Some(name), &w[3..], loc, d, g);
    px.servers.push(Server {
        name: name.clone(),
        addr: ServerAddr {
            text: spec.host,
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port: spec.port,
            unresolved: false,
            path,
        },
        params,
        id,
        check_ip: None,
        tls_config: None,
        tls_sni: None,
        loc: loc.clone(),
    });
}

/// Parses server parameters into `p`; returns the `id` if one was given.
fn server_params(
    p: &mut ServerParams,
    name: Option<&String>,
    w: &[String],
    loc: &Loc,
    d: &mut Diags,
    g: &TlsGlobals,
) -> Option<u32> {
    let what = match name {
        Some(n) => format!("server {n}"),
        None => "default-server".to_string(),
    };
    let mut id = None;
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let Some(kwd) = keywords::find(keywords::SERVER, k) else {
            let h = keywords::hint(k, keywords::SERVER.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{k}' on '{what}' line{h}"));
            return id;
        };
        let tls_kw = crate::tls::options::SERVER_KEYWORDS
            .iter()
            .find(|(n, _)| *n == k);
        let nargs = match tls_kw {
            Some((_, takes)) => usize::from(*takes),
            None if SERVER_FLAGS.contains(&k) => 0,
            None => 1,
        };
        let val = w.get(i + 1).map(String::as_str);
        if nargs == 1 && val.is_none() {
            d.error(loc, format!("'{what}': '{k}' expects a value"));
            return id;
        }
        i += 1 + nargs;
        if !status_ok(kwd, k, loc, d) {
            continue;
        }
        let val = val.unwrap_or("");
        let num = |d: &mut Diags, min: u64, max: u64| match parse_uint(val, min, max) {
            Ok(v) => Some(v as u32),
            Err(e) => {
                d.error(loc, format!("'{what}': '{k}' {e}"));
                None
            }
        };
        if super::resolvers::server_kw(&mut p.dns, &what, k, val, loc, d) {
            continue;
        }
        match k {
            "weight" => {
                if let Some(v) = num(d, 0, 256) {
                    p.weight = v;
                }
            }
            "backup" => p.backup = true,
            "disabled" => p.disabled = true,
            "enabled" => p.disabled = false,
            "maxconn" => {
                if let Some(v) = num(d, 0, u32::MAX as u64) {
                    p.maxconn = v;
                }
            }
            "check" => p.check.enabled = true,
            "no-check" => p.check.enabled = false,
            "inter" | "fastinter" | "downinter" => match parse_time(val, MS) {
                Ok(t) if !t.is_zero() => match k {
                    "inter" => p.check.inter = t,
                    "fastinter" => p.check.fastinter = Some(t),
                    _ => p.check.downinter = Some(t),
                },
                Ok(_) => d.error(loc, format!("'{what}': '{k}' must be greater than zero")),
                Err(e) => d.error(loc, format!("'{what}': '{k}': {e}")),
            },
            "rise" => {
                if let Some(v) = num(d, 1, 1000) {
                    p.check.rise = v;
                }
            }
            "fall" => {
                if let Some(v) = num(d, 1, 1000) {
                    p.check.fall = v;
                }
            }
            "port" => {
                if let Some(v) = num(d, 1, 65535) {
                    p.check.port = Some(v as u16);
                }
            }
            "addr" => p.check.addr = Some(val.to_string()),
            "check-send-proxy" => p.check.send_proxy = true,
            "cookie" => p.cookie = Some(val.to_string()),
            _ if tls_kw.is_some() => {
                let t = p.tls.get_or_insert_with(Default::default);
                match t.apply(g, k, (nargs == 1).then_some(val)) {
                    Ok(ws) => {
                        for wn in ws {
                            d.warn(loc, wn);
                        }
                    }
                    Err(e) => d.error(loc, format!("'{what}': '{k}': {e}")),
                }
            }
            "send-proxy" => p.send_proxy = Some(ProxyVersion::V1),
            "send-proxy-v2" => p.send_proxy = Some(ProxyVersion::V2),
            "observe" => match val {
                "layer4" => p.observe.layer4 = true,
                "none" => p.observe.layer4 = false,
                "layer7" => d.error(loc, format!("'{what}': 'observe layer7' is not supported yet")),
                o => d.error(loc, format!("'{what}': 'observe' expects layer4 or layer7, not '{o}'")),
            },
            "on-error" => match val {
                "fastinter" => p.observe.on_error = OnError::FastInter,
                "fail-check" => p.observe.on_error = OnError::FailCheck,
                "sudden-death" => p.observe.on_error = OnError::SuddenDeath,
                "mark-down" => p.observe.on_error = OnError::MarkDown,
                o => d.error(
                    loc,
                    format!("'{what}': 'on-error' expects fastinter, fail-check, sudden-death or mark-down, not '{o}'"),
                ),
            },
            "error-limit" => {
                if let Some(v) = num(d, 1, 1_000_000) {
                    p.observe.error_limit = v;
                }
            }
            "id" => {
                if name.is_none() {
                    d.error(loc, "'id' is not allowed on 'default-server'");
                } else {
                    id = num(d, 1, i32::MAX as u64);
                }
            }
            _ => d.error(
                loc,
                format!("internal error: no handler for server parameter '{k}'"),
            ),
        }
    }
    id
}

#[cfg(test)]
pub(crate) fn parse_text(text: &str) -> (Option<Config>, Diags) {
    let mut p = Parser::new();
    p.parse_str("t.cfg", text);
    p.finish()
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn supported_keywords_have_handlers() {
        // Every keyword marked Supported reaches a handler (no "internal error").
        for k in keywords::GLOBAL
            .iter()
            .filter(|k| matches!(k.status, Status::Supported | Status::Stored(_)))
        {
            let (_, d) = parse_text(&format!("global\n {} 1\n", k.name));
            for e in &d.list {
                assert!(!e.msg.contains("internal error"), "{}: {e}", k.name);
            }
        }
        for k in keywords::PROXY
            .iter()
            .filter(|k| matches!(k.status, Status::Supported | Status::Stored(_)))
        {
            let (_, d) = parse_text(&format!("listen x\n {} 1\n", k.name));
            for e in &d.list {
                assert!(!e.msg.contains("internal error"), "{}: {e}", k.name);
            }
        }
        for k in keywords::OPTION
            .iter()
            .filter(|k| matches!(k.status, Status::Supported | Status::Stored(_)))
        {
            let (_, d) = parse_text(&format!("listen x\n option {}\n", k.name));
            for e in &d.list {
                assert!(!e.msg.contains("internal error"), "{}: {e}", k.name);
            }
        }
        for k in keywords::BIND
            .iter()
            .filter(|k| matches!(k.status, Status::Supported | Status::Stored(_)))
        {
            let (_, d) = parse_text(&format!("listen x\n bind :1 {} 1\n", k.name));
            for e in &d.list {
                assert!(!e.msg.contains("internal error"), "{}: {e}", k.name);
            }
        }
        for k in keywords::SERVER
            .iter()
            .filter(|k| matches!(k.status, Status::Supported | Status::Stored(_)))
        {
            let (_, d) = parse_text(&format!("backend x\n server s 127.0.0.1:1 {} 1\n", k.name));
            for e in &d.list {
                assert!(!e.msg.contains("internal error"), "{}: {e}", k.name);
            }
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
        let e = errors("frontend f\n bind :80\n compression algo gzip\n");
        assert_eq!(e[0], "t.cfg:3: 'compression' is not supported yet");
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
    fn tune_h2_and_bind_proto() {
        let (c, d) = parse_text(
            "global\n tune.h2.fe.max-concurrent-streams 20\n tune.h2.header-table-size 0\n tune.h2.fe.initial-window-size 1048576\n tune.h2.fe.glitches-threshold 0\nlisten x\n bind :1 proto h2\n bind :2\n",
        );
        assert_eq!(d.errors(), 0, "{:?}", d.list);
        let c = c.unwrap();
        let h2 = &c.global.h2;
        assert_eq!((h2.max_concurrent_streams, h2.header_table_size), (20, 0));
        assert_eq!(
            (h2.initial_window_size, h2.glitches_threshold),
            (1 << 20, 0)
        );
        let binds: Vec<bool> = c.proxies[0].binds.iter().map(|b| b.h2).collect();
        assert_eq!(binds, [true, false]);
        assert_eq!(crate::config::H2Tune::default().max_concurrent_streams, 100);
        for (bad, msg) in [
            (
                "global\n tune.h2.fe.max-concurrent-streams 0\n",
                "tune.h2.fe.max-concurrent-streams",
            ),
            (
                "global\n tune.h2.fe.max-concurrent-streams 10 rq-load auto\n",
                "no rq-load",
            ),
            (
                "global\n tune.h2.header-table-size 70000\n",
                "tune.h2.header-table-size",
            ),
            ("listen x\n bind :1 proto h3\n", "corelb speaks h1 and h2"),
        ] {
            let e = errors(bad);
            assert!(e.iter().any(|x| x.contains(msg)), "{bad}: {e:?}");
        }
    }
}
