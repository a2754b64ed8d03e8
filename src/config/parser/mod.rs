//! Reads HAProxy configuration text into the typed model, collecting every error and warning
//! with its file and line. Pure: the only I/O is reading the files and resolving server
//! names in [`super::validate`].
//!
//! This file reads lines and switches sections; each section's keywords are applied in their
//! own file: `global`, `proxy` (defaults/frontend/backend/listen, `timeout`, `stats`),
//! `options`, `balance` (balance, cookie, stick), `http_rules`, `checks`, `bind`, `server`,
//! `log_target` (the `log` line of both).

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

// The handlers of the keyword tables in `keywords` live in these files, which the tables name.
pub(super) mod balance;
pub(super) mod bind;
pub(super) mod checks;
pub(super) mod global;
pub(crate) mod http_rules;
mod log_target;
pub(super) mod options;
pub(super) mod proxy;
pub(super) mod server;
#[cfg(test)]
mod tests;
pub(super) mod timeouts;

use bind::bind_kw;
use checks::{http_check_kw, tcp_check_kw};
pub use global::parse_cpu_list;
pub use http_rules::ERRORFILE_CODES;
pub(crate) use http_rules::logformat;
use http_rules::{NO_SPOE, http_rule};
use log_target::parse_log;
pub(crate) use log_target::{level_name, log_addr_tcp, log_level, parse_log as parse_log_target};
use options::option_kw;
use proxy::proxy_kw;

const MS: Duration = Duration::from_millis(1);

/// `default-path`: the directory relative file names are read from while a configuration
/// file is parsed (HAProxy changes into it, and back after the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum DefaultPath {
    /// Where the process was started (the default).
    Current,
    /// The directory of the configuration file.
    Config,
    /// Its parent.
    Parent,
    /// This directory (relative to where the process was started).
    Origin(PathBuf),
}

/// Returns the process to a directory when dropped (a configuration file's end, or its
/// parse stopping early).
struct CwdGuard(Option<PathBuf>);

impl Drop for CwdGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            // The directory was entered before; failing to return leaves the process where
            // the file's default-path put it, as HAProxy does when chdir() fails.
            let _ = std::env::set_current_dir(d);
        }
    }
}

enum Cur {
    None,
    Global,
    Defaults,
    Proxy(usize),
    Resolvers(usize),
    Cache(usize),
    Mailers(usize),
    Ring(usize),
    LogForward(usize),
    Peers(usize),
    Userlist(usize),
    HttpErrors(usize),
    /// Inside a section corelb does not support: its lines are skipped (one error was given).
    Skip,
}

/// Sections corelb refuses by design, with the reason.
const NEVER_SECTIONS: &[(&str, &str)] = &[
    ("fcgi-app", super::keywords::NO_FASTCGI),
    (
        "program",
        "corelb has no master process to start programs: run them as services of their own",
    ),
];

/// Sections of later HAProxy versions.
const LATER_SECTIONS: &[&str] = &["crt-store", "traces", "acme", "dynamic-update"];
const SECTIONS: &[&str] = &["global", "defaults", "frontend", "backend", "listen"];

pub struct Parser {
    pub diags: Diags,
    global: Global,
    defaults: Proxy,
    named_defaults: HashMap<String, Proxy>,
    proxies: Vec<Proxy>,
    resolvers: Vec<super::resolvers::Resolvers>,
    caches: Vec<super::filters::CacheSection>,
    mailers: Vec<super::mailers::Mailers>,
    rings: Vec<super::ring::Ring>,
    log_forwards: Vec<super::log_forward::LogForward>,
    pub(super) peers: Vec<super::peers::Peers>,
    userlists: Vec<super::userlist::UserlistConf>,
    http_errors: Vec<super::errors::HttpErrors>,
    /// `http_auth(L)` fetches read so far, with their lines (none for log formats, which
    /// are compiled at the end).
    auth_refs: Vec<(crate::acl::auth::UserlistRef, Option<Loc>)>,
    cur: Cur,
    env: HashMap<String, Option<String>>,
    /// `resetenv` was read: the process's environment is no longer looked at, only `env`.
    env_reset: bool,
    files: Vec<PathBuf>,
    /// `default-path`: where relative file names of each configuration file are read from.
    pub(super) default_path: DefaultPath,
    /// The directory the process was in before the first `default-path` moved it.
    pub(super) initial_cwd: Option<PathBuf>,
    /// Warned-about unset variables, to warn once per name.
    unset_seen: Vec<String>,
    /// The `proc` variables before the first global `set-var` ran, put back if this
    /// configuration does not load.
    pub(super) proc_before: Option<Arc<crate::acl::ProcVars>>,
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
            caches: Vec::new(),
            mailers: Vec::new(),
            rings: Vec::new(),
            log_forwards: Vec::new(),
            peers: Vec::new(),
            userlists: Vec::new(),
            http_errors: Vec::new(),
            auth_refs: {
                // Forget the slots of an earlier parse on this thread.
                crate::acl::auth::take_refs();
                crate::acl::patref::take();
                Vec::new()
            },
            cur: Cur::None,
            env: HashMap::new(),
            env_reset: false,
            files: Vec::new(),
            default_path: DefaultPath::Current,
            initial_cwd: None,
            unset_seen: Vec::new(),
            proc_before: None,
        }
    }

    pub fn parse_file(&mut self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => {
                self.files.push(path.to_path_buf());
                let text = String::from_utf8_lossy(&bytes);
                let name = path.display().to_string();
                // HAProxy changes directory for each file as `default-path` says, and goes
                // back when the file ends (the guard's drop).
                if let Err(e) = self.apply_default_path(&name, None) {
                    self.diags.error(
                        &Loc::new(&Arc::from(name.as_str()), 0),
                        format!("failed to apply default-path: {e}."),
                    );
                    return;
                }
                let _back = CwdGuard(self.initial_cwd.clone());
                self.parse_str(&name, &text);
            }
            Err(e) => self.diags.error_global(format!(
                "{}: cannot read configuration file: {e}",
                path.display()
            )),
        }
    }

    /// HAProxy's `cfg_apply_default_path`: back to the directory the process started in,
    /// then into the one the policy names for configuration file `file` (`origin`, when
    /// given, replaces the `origin` directory).
    pub(super) fn apply_default_path(
        &mut self,
        file: &str,
        origin: Option<&str>,
    ) -> Result<(), String> {
        match &self.initial_cwd {
            None => {
                let cwd = std::env::current_dir()
                    .map_err(|e| format!("Impossible to retrieve startup directory name: {e}"))?;
                self.initial_cwd = Some(cwd);
            }
            Some(c) => std::env::set_current_dir(c).map_err(|e| {
                format!(
                    "Impossible to get back to initial directory '{}': {e}",
                    c.display()
                )
            })?,
        }
        if let (DefaultPath::Origin(o), Some(new)) = (&mut self.default_path, origin) {
            *o = PathBuf::from(new);
        }
        // The file's directory: up to its last slash, or none.
        let dir = file.rfind('/').map(|i| &file[..i]);
        let to = match &self.default_path {
            DefaultPath::Current => return Ok(()),
            DefaultPath::Origin(o) => o.clone(),
            DefaultPath::Config => match dir {
                Some(d) => PathBuf::from(if d.is_empty() { "/" } else { d }),
                None => return Ok(()),
            },
            DefaultPath::Parent => PathBuf::from(match dir {
                Some(d) => format!("{d}/.."),
                None => "..".to_string(),
            }),
        };
        std::env::set_current_dir(&to)
            .map_err(|e| format!("Impossible to change to directory '{}': {e}", to.display()))
    }

    /// Parses configuration text; `name` is used in messages. Each file starts outside any
    /// section, as in HAProxy.
    pub fn parse_str(&mut self, name: &str, text: &str) {
        let file: Arc<str> = Arc::from(name);
        self.cur = Cur::None;
        let mut blocks = super::cond::Blocks::default();
        for (n, raw) in text.lines().enumerate() {
            let loc = Loc::new(&file, n as u32 + 1);
            crate::acl::patref::set_line(name, loc.line);
            let (env, reset) = (&self.env, self.env_reset);
            let getenv = |k: &str| lookup_env(env, reset, k);
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
        self.line_in_section(w, loc);
        for r in crate::acl::auth::take_refs() {
            self.auth_refs.push((r, Some(loc.clone())));
        }
    }

    /// `userlist NAME` and `http-errors NAME` open their sections.
    fn named_section(&mut self, w: &[String], loc: &Loc) {
        let kw = w[0].as_str();
        let Some(name) = w.get(1) else {
            self.diags
                .error(loc, format!("missing name for {kw} section"));
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, kw, loc, &mut self.diags);
        if kw == "userlist" {
            if let Some(u) = self.userlists.iter().find(|u| &u.list.name == name) {
                self.diags.error(
                    loc,
                    format!("userlist '{name}' is already declared at {}", u.loc),
                );
            }
            self.userlists
                .push(super::userlist::UserlistConf::new(name, loc.clone()));
            self.cur = Cur::Userlist(self.userlists.len() - 1);
        } else {
            if let Some(e) = self.http_errors.iter().find(|e| &e.name == name) {
                self.diags.error(
                    loc,
                    format!(
                        "http-errors section '{name}' already exists (declared at {})",
                        e.loc
                    ),
                );
            }
            self.http_errors.push(super::errors::HttpErrors {
                name: name.clone(),
                loc: loc.clone(),
                pages: Vec::new(),
            });
            self.cur = Cur::HttpErrors(self.http_errors.len() - 1);
        }
    }

    fn line_in_section(&mut self, w: &[String], loc: &Loc) {
        let kw = w[0].as_str();
        if SECTIONS.contains(&kw) {
            self.section(w, loc);
            return;
        }
        if kw == "resolvers" {
            self.resolvers_section(w, loc);
            return;
        }
        if kw == "cache" {
            self.cache_section(w, loc);
            return;
        }
        if kw == "mailers" {
            self.mailers_section(w, loc);
            return;
        }
        if kw == "peers" {
            self.peers_section(w, loc);
            return;
        }
        if kw == "ring" {
            self.ring_section(w, loc);
            return;
        }
        if kw == "log-forward" {
            self.log_forward_section(w, loc);
            return;
        }
        if kw == "userlist" || kw == "http-errors" {
            self.named_section(w, loc);
            return;
        }
        if let Some((_, why)) = NEVER_SECTIONS.iter().find(|(s, _)| *s == kw) {
            self.diags
                .error(loc, format!("'{kw}' sections are not supported: {why}"));
            self.cur = Cur::Skip;
            return;
        }
        if LATER_SECTIONS.contains(&kw) {
            self.diags.error(
                loc,
                format!("'{kw}' sections are not in HAProxy 2.6 (a later version added them)"),
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
            Cur::Cache(i) => super::filters::cache_kw(&mut self.caches[i], w, loc, &mut self.diags),
            Cur::Mailers(i) => {
                super::mailers::section_kw(&mut self.mailers[i], w, loc, &mut self.diags)
            }
            Cur::Peers(i) => super::peers::section_kw(&mut self.peers[i], w, loc, &mut self.diags),
            Cur::Ring(i) => super::ring::section_kw(&mut self.rings[i], w, loc, &mut self.diags),
            Cur::LogForward(i) => {
                super::log_forward::section_kw(&mut self.log_forwards[i], w, loc, &mut self.diags)
            }
            Cur::Userlist(i) => {
                super::userlist::section_kw(&mut self.userlists[i], w, loc, &mut self.diags)
            }
            Cur::HttpErrors(i) => {
                super::errors::section_kw(&mut self.http_errors[i], w, loc, &mut self.diags)
            }
            Cur::Defaults => {
                let mut px = std::mem::replace(&mut self.defaults, placeholder());
                px.experimental = self.global.experimental;
                proxy_kw(&mut px, w, loc, &mut self.diags, &self.global.tls);
                if !px.name.is_empty() {
                    self.named_defaults.insert(px.name.clone(), px.clone());
                }
                self.defaults = px;
            }
            Cur::Proxy(i) => {
                let mut px = std::mem::replace(&mut self.proxies[i], placeholder());
                px.experimental = self.global.experimental;
                proxy_kw(&mut px, w, loc, &mut self.diags, &self.global.tls);
                self.proxies[i] = px;
            }
        }
    }

    fn cache_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1).filter(|n| !n.is_empty() && w.len() == 2) else {
            self.diags.error(loc, "'cache' expects a <name> argument");
            self.cur = Cur::Skip;
            return;
        };
        if let Some(c) = self.caches.iter().find(|c| &c.name == name) {
            let e = format!(
                "Duplicate cache name '{name}' (first declared at {}).",
                c.loc
            );
            self.diags.error(loc, e);
        }
        let c = super::filters::CacheSection::new(name, loc.clone());
        self.caches.push(c);
        self.cur = Cur::Cache(self.caches.len() - 1);
    }

    fn mailers_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags.error(loc, "'mailers' expects a name");
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, "mailers", loc, &mut self.diags);
        if let Some(m) = self.mailers.iter().find(|m| &m.name == name) {
            let e = format!(
                "mailers section '{name}' has the same name as another mailers section declared at {}.",
                m.loc
            );
            self.diags.error(loc, e);
        }
        self.mailers
            .push(super::mailers::Mailers::new(name, loc.clone()));
        self.cur = Cur::Mailers(self.mailers.len() - 1);
    }

    /// `ring NAME` (HAProxy 2.6's errors: src/sink.c).
    fn ring_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags.error(loc, "missing ring name.");
            self.cur = Cur::Skip;
            return;
        };
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_.:".contains(*c)))
        {
            let e = format!("character '{bad}' is not permitted in ring name '{name}'.");
            self.diags.error(loc, e);
            self.cur = Cur::Skip;
            return;
        }
        if self.rings.iter().any(|r| &r.name == name) || name == "stdout" || name == "stderr" {
            self.diags
                .error(loc, format!("sink named '{name}' already exists."));
            self.cur = Cur::Skip;
            return;
        }
        self.rings.push(super::ring::Ring::new(name, loc.clone()));
        self.cur = Cur::Ring(self.rings.len() - 1);
    }

    /// `log-forward NAME` (HAProxy 2.6's words, its "ip-forward" included).
    fn log_forward_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags
                .error(loc, "missing name for ip-forward section.");
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, "log-forward", loc, &mut self.diags);
        if let Some(f) = self.log_forwards.iter().find(|f| &f.name == name) {
            let e = format!(
                "log-forward section '{name}' has the same name as another log-forward section declared at {}.",
                f.loc
            );
            self.diags.error(loc, e);
        }
        self.log_forwards
            .push(super::log_forward::LogForward::new(name, loc.clone()));
        self.cur = Cur::LogForward(self.log_forwards.len() - 1);
    }

    fn peers_section(&mut self, w: &[String], loc: &Loc) {
        let Some(name) = w.get(1).filter(|n| !n.is_empty()) else {
            self.diags.error(loc, "'peers' expects a name");
            self.cur = Cur::Skip;
            return;
        };
        check_proxy_name(name, "peers", loc, &mut self.diags);
        if let Some(m) = self.peers.iter().find(|m| &m.name == name) {
            let e = format!(
                "peers section '{name}' has the same name as another peers section declared at {}.",
                m.loc
            );
            self.diags.error(loc, e);
        }
        self.peers.push(super::peers::Peers::new(name, loc.clone()));
        self.cur = Cur::Peers(self.peers.len() - 1);
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

    /// Ends parsing: checks what spans sections and returns the model when there is no error.
    pub fn finish(mut self) -> (Option<Config>, Diags) {
        let mut cfg = Config {
            global: self.global,
            proxies: std::mem::take(&mut self.proxies),
            files: self.files,
            resolvers: std::mem::take(&mut self.resolvers),
            caches: std::mem::take(&mut self.caches),
            mailers: std::mem::take(&mut self.mailers),
            rings: std::mem::take(&mut self.rings),
            log_forwards: std::mem::take(&mut self.log_forwards),
            peers: std::mem::take(&mut self.peers),
            localpeer: String::new(),
            pat_refs: Vec::new(),
        };
        // The `env()` fetch sees the environment as the configuration left it.
        crate::acl::set_config_env(self.env.clone(), self.env_reset);
        crate::acl::set_var_limits(cfg.global.var_limits);
        super::peers::resolve(&mut cfg, &mut self.diags);
        super::mailers::resolve(&mut cfg, &mut self.diags);
        super::ring::resolve(&cfg, &mut self.diags);
        // HAProxy 2.6 announces frames as large as its buffers (16384 at least), or
        // `tune.h2.max-frame-size` when smaller than them.
        let g = &mut cfg.global;
        let buf = u32::try_from(g.bufsize).unwrap_or(u32::MAX).max(16384);
        g.h2.max_frame_size = g.h2.max_frame_size_set.map_or(buf, |v| v.min(buf));
        if let Some((path, loc)) = cfg.global.h1_case_file.take() {
            let map = &mut cfg.global.h1_case_map;
            super::case_adjust::file(map, &path, &loc, &mut self.diags);
        }
        super::errors::resolve(&mut cfg, &self.http_errors, &mut self.diags);
        super::logging::compile(&mut cfg, &mut self.diags);
        let from_logs = crate::acl::auth::take_refs().into_iter().map(|r| (r, None));
        self.auth_refs.extend(from_logs);
        super::userlist::finish(
            std::mem::take(&mut self.userlists),
            std::mem::take(&mut self.auth_refs),
            &mut self.diags,
        );
        super::validate::validate(&mut cfg, &mut self.diags);
        // After the log formats and the servers' `sni`, whose map converters load files
        // after the sections are read (HAProxy 2.6 numbers those references last too).
        cfg.pat_refs = crate::acl::patref::take();
        if self.diags.has_errors() {
            if let Some(p) = self.proc_before.take() {
                crate::acl::proc_restore(p);
            }
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

/// One parameter of a `bind`, `server` or `default-server` line, for its handler.
pub struct Param<'a> {
    /// The parameter's name.
    pub kw: &'a str,
    /// Its value when it takes one (the next word, or "" at the end of the line, otherwise).
    pub val: &'a str,
    pub takes_value: bool,
    /// The line as messages name it: `bind`, `server NAME` or `default-server`.
    pub what: &'a str,
    pub loc: &'a Loc,
    pub g: &'a TlsGlobals,
}

/// Reports ignored/not-yet/removed keywords; the handler when the keyword is to be handled.
fn status_ok<H: Copy>(k: &Kw<H>, shown: &str, loc: &Loc, d: &mut Diags) -> Option<H> {
    match k.status {
        Status::Supported(h) => Some(h),
        Status::Ignored(why) => {
            d.warn(loc, format!("'{shown}' is ignored: {why}"));
            None
        }
        Status::Stored(why, h) => {
            d.warn(loc, format!("'{shown}' is ignored: {why}"));
            Some(h)
        }
        Status::NotYet => {
            d.error(loc, format!("'{shown}' is not supported yet"));
            None
        }
        Status::Removed(by) => {
            d.error(
                loc,
                format!("'{shown}' is not supported anymore since HAProxy 2.1; use '{by}' instead"),
            );
            None
        }
        Status::Never(why) => {
            d.error(loc, format!("'{shown}' is not supported: {why}"));
            None
        }
        Status::Gone(why) => {
            d.error(loc, why);
            None
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

/// The word at `i`, if the line has one.
/// A variable as the configuration sees it: `setenv`/`unsetenv` first, then the process's
/// environment unless `resetenv` cleared it.
fn lookup_env(env: &HashMap<String, Option<String>>, reset: bool, k: &str) -> Option<String> {
    match env.get(k) {
        Some(v) => v.clone(),
        None if reset => None,
        None => std::env::var(k).ok(),
    }
}

fn arg(w: &[String], i: usize) -> Option<&str> {
    w.get(i).map(String::as_str)
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

/// Parses `if|unless ...` against the proxy's ACLs; errors and warnings go to `d`.
pub(crate) fn parse_cond(
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

#[cfg(test)]
pub(crate) fn parse_text(text: &str) -> (Option<Config>, Diags) {
    let mut p = Parser::new();
    p.parse_str("t.cfg", text);
    p.finish()
}
