//! The runtime API's commands: one line in, HAProxy's reply text out. No I/O here except
//! through [`Ctx`] (the current generation's shared state, and requests to the main thread
//! for what only it owns: the listening sockets). A change goes to the shared atomics
//! (server state, weight, maxconn, address) or to the certificate slots, so every shard
//! sees it at its next connection.

use super::Ctx;
use crate::cluster::ServerState;
use crate::cluster::state::admin;
use crate::cluster::{BackendRt, Shared};
use crate::config::cli::{CliLevel, CliSeverity};
use crate::config::units::strtol;
use crate::log::syslog::{ERR, INFO, WARNING};
use std::fmt::Write;
use std::sync::Arc;

/// A command's text, and whether HAProxy prints it as a message (`cli_msg`, `cli_err`: with
/// a syslog severity, which `severity-output` prefixes) or as data (`show map`, `get
/// weight`…: never prefixed).
pub struct Answer {
    pub sev: Option<u8>,
    pub text: String,
}

impl Answer {
    pub fn data(text: impl Into<String>) -> Answer {
        Answer {
            sev: None,
            text: text.into(),
        }
    }

    pub fn msg(sev: u8, text: impl Into<String>) -> Answer {
        Answer {
            sev: Some(sev),
            text: text.into(),
        }
    }

    /// HAProxy's `cli_err`: severity `err`.
    pub fn err(text: impl Into<String>) -> Answer {
        Answer::msg(ERR, text)
    }
}

impl From<Result<String, String>> for Answer {
    /// Data, or an error message.
    fn from(r: Result<String, String>) -> Answer {
        match r {
            Ok(s) => Answer::data(s),
            Err(e) => Answer::err(e),
        }
    }
}

/// What the session does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Then {
    Continue,
    /// As `Continue`, without the empty line (HAProxy 2.6's `show events` for a sink it
    /// does not have).
    Bare,
    /// `prompt`: toggles the interactive mode.
    TogglePrompt,
    Quit,
}

pub struct Reply {
    /// The command's text; the session adds the empty line that ends every reply.
    pub out: String,
    /// A message's severity (`None`: data).
    pub sev: Option<u8>,
    pub then: Then,
}

impl Reply {
    fn answer(a: Answer) -> Reply {
        Reply {
            out: a.text,
            sev: a.sev,
            then: Then::Continue,
        }
    }

    fn then(then: Then) -> Reply {
        Reply {
            out: String::new(),
            sev: None,
            then,
        }
    }

    /// The text the client gets under `severity-output` (HAProxy's `cli_output_msg`): a
    /// message's severity before it, data as it is.
    pub fn rendered(&self, severity: CliSeverity) -> String {
        match (self.sev, severity) {
            (Some(sev), CliSeverity::Number) if !self.out.is_empty() => {
                format!("[{sev}]: {}", self.out)
            }
            (Some(sev), CliSeverity::String) if !self.out.is_empty() => {
                match crate::config::parser::level_name(sev) {
                    Some(name) => format!("[{name}]: {}", self.out),
                    None => format!("[{sev}]: {}", self.out),
                }
            }
            _ => self.out.clone(),
        }
    }
}

fn err(text: impl Into<String>) -> Reply {
    Reply::answer(Answer::err(text))
}

/// One help line per command, HAProxy 2.6's exact text, in its order; the level a
/// command needs.
const COMMANDS: &[(&str, CliLevel, &str)] = &[
    (
        "abort ssl cert",
        CliLevel::Admin,
        "  abort ssl cert <certfile>               : abort a transaction for a certificate file",
    ),
    (
        "add acl",
        CliLevel::User,
        "  add acl [@<ver>] <acl> <pattern>        : add an acl entry",
    ),
    (
        "add map",
        CliLevel::User,
        "  add map [@<ver>] <map> <key> <val>      : add a map entry (payload supported instead of key/val)",
    ),
    (
        "clear acl",
        CliLevel::User,
        "  clear acl [@<ver>] <acl>                : clear the contents of this acl",
    ),
    (
        "clear counters",
        CliLevel::Operator,
        "  clear counters [all]                    : clear max statistics counters (or all counters)",
    ),
    (
        "clear map",
        CliLevel::User,
        "  clear map [@<ver>] <map>                : clear the contents of this map",
    ),
    (
        "clear table",
        // Checked by the table code: a user's `clear table T` removes nothing, silently.
        CliLevel::User,
        "  clear table <table> [<filter>]*         : remove an entry from a table (filter: data/key)",
    ),
    (
        "commit acl",
        CliLevel::User,
        "  commit acl @<ver> <acl>                 : commit the ACL at this version",
    ),
    (
        "commit map",
        CliLevel::User,
        "  commit map @<ver> <map>                 : commit the map at this version",
    ),
    (
        "commit ssl cert",
        CliLevel::Admin,
        "  commit ssl cert <certfile>              : commit a certificate file",
    ),
    (
        "del acl",
        CliLevel::User,
        "  del acl <acl> [<key>|#<ref>]            : delete acl entries matching <key>",
    ),
    (
        "del map",
        CliLevel::User,
        "  del map <map> [<key>|#<ref>]            : delete map entries matching <key>",
    ),
    (
        "disable frontend",
        CliLevel::Admin,
        "  disable frontend <frontend>             : temporarily disable specific frontend",
    ),
    (
        "disable health",
        CliLevel::Admin,
        "  disable health                          : disable health checks",
    ),
    (
        "disable server",
        CliLevel::Admin,
        "  disable server (DEPRECATED)             : disable a server for maintenance (use 'set server' instead)",
    ),
    (
        "enable frontend",
        CliLevel::Admin,
        "  enable frontend <frontend>              : re-enable specific frontend",
    ),
    (
        "enable health",
        CliLevel::Admin,
        "  enable health                           : enable health checks",
    ),
    (
        "enable server",
        CliLevel::Admin,
        "  enable server  (DEPRECATED)             : enable a disabled server (use 'set server' instead)",
    ),
    (
        "get acl",
        CliLevel::User,
        "  get acl <acl> <value>                   : report the patterns matching a sample for an ACL",
    ),
    (
        "get map",
        CliLevel::User,
        "  get map <acl> <value>                   : report the keys and values matching a sample for a map",
    ),
    (
        "get weight",
        CliLevel::User,
        "  get weight <bk>/<srv>                   : report a server's current weight",
    ),
    (
        "operator",
        CliLevel::User,
        "  operator                                : lower the level of the current CLI session to operator",
    ),
    (
        "prepare acl",
        CliLevel::User,
        "  prepare acl <acl>                       : prepare a new version for atomic ACL replacement",
    ),
    (
        "prepare map",
        CliLevel::User,
        "  prepare map <acl>                       : prepare a new version for atomic map replacement",
    ),
    (
        "set map",
        CliLevel::User,
        "  set map <map> [<key>|#<ref>] <value>    : modify a map entry",
    ),
    (
        "set maxconn frontend",
        CliLevel::Admin,
        "  set maxconn frontend <frontend> <value> : change a frontend's maxconn setting",
    ),
    (
        "set maxconn global",
        CliLevel::Admin,
        "  set maxconn global <value>              : change the per-process maxconn setting",
    ),
    (
        "set maxconn server",
        CliLevel::Admin,
        "  set maxconn server <bk>/<srv>           : change a server's maxconn setting",
    ),
    (
        "set server",
        CliLevel::Admin,
        "  set server <bk>/<srv> [opts]            : change a server's state, weight, address or ssl",
    ),
    (
        "set severity-output",
        CliLevel::User,
        "  set severity-output [none|number|string]: set presence of severity level in feedback information",
    ),
    (
        "set ssl cert",
        CliLevel::Admin,
        "  set ssl cert <certfile> <payload>       : replace a certificate file",
    ),
    (
        "set table",
        // Checked by the table code: HAProxy 2.6 reads the key before it refuses a user.
        CliLevel::User,
        "  set table <table> key <k> [data.* <v>]* : update or create a table entry's data",
    ),
    (
        "set weight",
        CliLevel::Admin,
        "  set weight <bk>/<srv>  (DEPRECATED)     : change a server's weight (use 'set server' instead)",
    ),
    (
        "show acl",
        CliLevel::User,
        "  show acl [@<ver>] <acl>]                : report available acls or dump an acl's contents",
    ),
    (
        "show backend",
        CliLevel::User,
        "  show backend                            : list backends in the current running config",
    ),
    (
        "show cache",
        CliLevel::Admin,
        "  show cache                              : show cache status",
    ),
    (
        "show cli level",
        CliLevel::User,
        "  show cli level                          : display the level of the current CLI session",
    ),
    (
        "show errors",
        CliLevel::Operator,
        "  show errors [<px>] [request|response]   : report last request and/or response errors for each proxy",
    ),
    (
        "show events",
        CliLevel::User,
        "  show events [<sink>] [-w] [-n]          : show event sink state",
    ),
    (
        "show info",
        CliLevel::User,
        "  show info [desc|json|typed|float]*      : report information about the running process",
    ),
    (
        "show map",
        CliLevel::User,
        "  show map [@ver] [map]                   : report available maps or dump a map's contents",
    ),
    (
        "show resolvers",
        CliLevel::User,
        "  show resolvers [id]                     : dumps counters from all resolvers section and associated name servers",
    ),
    (
        "show servers state",
        CliLevel::User,
        "  show servers state [<backend>]          : dump volatile server information (all or for a single backend)",
    ),
    (
        "show sess",
        CliLevel::Operator,
        "  show sess [id]                          : report the list of current sessions or dump this exact session",
    ),
    (
        "show stat",
        CliLevel::User,
        "  show stat [desc|json|no-maint|typed|up]*: report counters for each proxy and server",
    ),
    (
        "show table",
        CliLevel::User,
        "  show table <table> [<filter>]*          : report table usage stats or dump this table's contents (filter: data/key)",
    ),
    (
        "show version",
        CliLevel::User,
        "  show version                            : show version of the current process",
    ),
    (
        "shutdown session",
        CliLevel::Admin,
        "  shutdown session [id]                   : kill a specific session",
    ),
    (
        "shutdown sessions server",
        CliLevel::Admin,
        "  shutdown sessions server <bk>/<srv>     : kill sessions on a server",
    ),
    (
        "user",
        CliLevel::User,
        "  user                                    : lower the level of the current CLI session to user",
    ),
    (
        "help",
        CliLevel::User,
        "  help [<command>]                        : list matching or all commands",
    ),
    (
        "prompt",
        CliLevel::User,
        "  prompt                                  : toggle interactive mode with prompt",
    ),
    (
        "quit",
        CliLevel::User,
        "  quit                                    : disconnect",
    ),
];

/// The last three lines of every help text.
const ALWAYS: &[&str] = &["help", "prompt", "quit"];

/// `help`: every command, as HAProxy 2.6 lists them.
pub fn help() -> String {
    let mut s = String::from("The following commands are valid at this level:\n");
    for (_, _, line) in COMMANDS {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// An unknown command: HAProxy 2.6's answer, with the commands whose names are closest
/// to the words typed.
pub fn unknown(words: &[&str]) -> String {
    let typed = words.join(" ");
    let mut scored: Vec<(f64, &str)> = COMMANDS
        .iter()
        .filter(|(name, _, _)| !ALWAYS.contains(name))
        .map(|(name, _, line)| {
            let n = name.split(' ').count().min(words.len().max(1));
            let prefix = words[..n.min(words.len())].join(" ");
            (
                strsim::jaro_winkler(&prefix, name).max(strsim::jaro_winkler(&typed, name)),
                *line,
            )
        })
        .filter(|(score, _)| *score > 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut s = if scored.is_empty() {
        return format!(
            "Unknown command. Please enter one of the following commands only :\n{}",
            help().split_once('\n').map(|x| x.1).unwrap_or_default()
        );
    } else {
        String::from("Unknown command, but maybe one of the following ones is a better match:\n")
    };
    for (_, line) in scored.iter().take(5) {
        s.push_str(line);
        s.push('\n');
    }
    for (name, _, line) in COMMANDS {
        if ALWAYS.contains(name) {
            s.push_str(line);
            s.push('\n');
        }
    }
    s
}

/// Runs one command (already split from its neighbours on `;`). `payload` is what followed
/// a line ending in `<<`. `level` may be lowered by `operator`/`user`, `severity` changed by
/// `set severity-output`.
pub fn run(
    ctx: &Ctx,
    level: &mut CliLevel,
    severity: &mut CliSeverity,
    line: &str,
    payload: Option<&str>,
) -> Reply {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Reply::answer(Answer::data(""));
    }
    let Some((name, need, _)) = COMMANDS.iter().find(|(name, _, _)| {
        let n: Vec<&str> = name.split(' ').collect();
        words.len() >= n.len() && words[..n.len()] == n[..]
    }) else {
        return Reply::answer(Answer::msg(INFO, unknown(&words)));
    };
    if *level < *need {
        return err("Permission denied\n");
    }
    let args = &words[name.split(' ').count()..];
    match *name {
        "help" => Reply::answer(Answer::msg(INFO, help())),
        "prompt" => Reply::then(Then::TogglePrompt),
        "quit" => Reply::then(Then::Quit),
        "set severity-output" => match args.first().and_then(|w| CliSeverity::from_word(w)) {
            Some(s) => {
                *severity = s;
                Reply::answer(Answer::data(""))
            }
            None => err("one of 'none', 'number', 'string' is a required argument\n"),
        },
        "operator" | "user" => {
            let to = if *name == "user" {
                CliLevel::User
            } else {
                CliLevel::Operator
            };
            // A session can lower its level, never raise it.
            if to > *level {
                return err("Permission denied\n");
            }
            *level = to;
            Reply::answer(Answer::data(""))
        }
        // HAProxy prints the level with `cli_msg`.
        "show cli level" => Reply::answer(Answer::msg(
            INFO,
            match level {
                CliLevel::User => "user\n",
                CliLevel::Operator => "operator\n",
                CliLevel::Admin => "admin\n",
            },
        )),
        "show version" => Reply::answer(Answer::data(format!("{}\n", env!("CARGO_PKG_VERSION")))),
        "show events" => match super::events::show(args) {
            Ok(s) => Reply::answer(Answer::data(s)),
            Err(s) => Reply {
                then: Then::Bare,
                ..err(s)
            },
        },
        _ => {
            let Some(sh) = ctx.current.load_full() else {
                return err("The process is starting; try again.\n");
            };
            Reply::answer(with_shared(ctx, &sh, *level, name, args, payload, line))
        }
    }
}

/// The name of server `id` of the backend whose `stick` rules store into table `t` (the first
/// such backend), for `show table`'s `server_key=`.
fn server_name(sh: &Shared, t: &crate::stick::Table, id: u64) -> Option<String> {
    let be = sh.backends.iter().flatten().find(|b| {
        sh.cfg.proxies[b.proxy]
            .stick_rules
            .iter()
            .any(|r| r.table.name == t.name)
    })?;
    be.lb
        .servers
        .iter()
        .find(|s| s.id as u64 == id)
        .map(|s| s.name.clone())
}

fn with_shared(
    ctx: &Ctx,
    sh: &Shared,
    level: CliLevel,
    name: &str,
    args: &[&str],
    payload: Option<&str>,
    line: &str,
) -> Answer {
    let data = Answer::data;
    let nothing = || Answer::data("");
    match name {
        "show info" => data(super::info::show_info(ctx, sh)),
        "show errors" => data(crate::cluster::errors::render(sh)),
        "show stat" => show_stat(sh, args).into(),
        "show sess" => data(super::sess::show(sh, args.first().copied())),
        "show cache" => data(super::cache::show(sh)),
        "shutdown session" => super::sess::shutdown(sh, args.first().copied()).into(),
        "show map" | "get map" | "set map" | "add map" | "del map" | "clear map"
        | "prepare map" | "commit map" | "show acl" | "get acl" | "add acl" | "del acl"
        | "clear acl" | "prepare acl" | "commit acl" => {
            super::maps::run(&sh.cfg.pat_refs, name, args, payload)
        }
        "show table" => {
            super::table::show(&sh.stick, args, level, &|t, id| server_name(sh, t, id)).into()
        }
        "clear table" => super::table::clear(&sh.stick, args, level).into(),
        "set table" => super::table::set(&sh.stick, args, level).into(),
        "clear counters" => match args {
            ["all", ..] if level < CliLevel::Admin => Answer::err("Permission denied\n"),
            ["all", ..] => {
                sh.counters.clear(true);
                nothing()
            }
            // HAProxy 2.6 reads only "all"; any other word clears the max counters.
            _ => {
                sh.counters.clear(false);
                nothing()
            }
        },
        "show backend" => {
            let mut s = String::from("# name\n");
            for be in sh.backends.iter().flatten() {
                let _ = writeln!(s, "{}", be.name);
            }
            data(s)
        }
        "show resolvers" => data(sh.dns.render(args.first().copied())),
        "show servers state" => match args.first() {
            None => data(super::state_file::render(sh, None)),
            Some(b) => match sh.backend_by_name(b) {
                Some(be) => data(super::state_file::render(sh, Some(be))),
                None => Answer::err("Can't find backend.\n"),
            },
        },
        "get weight" => match server(sh, args.first()) {
            Ok((_, s)) => data(format!(
                "{} (initial {})\n",
                s.user_weight(),
                s.configured_weight
            )),
            Err(e) => Answer::err(e),
        },
        "set weight" => match server(sh, args.first()) {
            Ok((be, s)) => set_weight(be, &s, args.get(1).copied()).into(),
            Err(e) => Answer::err(e),
        },
        "disable server" | "enable server" => match server(sh, args.first()) {
            Ok((be, s)) => {
                if name == "disable server" {
                    s.set_admin(admin::FMAINT, 0);
                } else {
                    s.set_admin(0, admin::MAINT);
                }
                changed(be);
                nothing()
            }
            Err(e) => Answer::err(e),
        },
        "disable health" | "enable health" => match server(sh, args.first()) {
            Ok((_, s)) if name == "enable health" && !s.checked => {
                Answer::err("Health check was not configured on this server, cannot enable.\n")
            }
            Ok((be, s)) => {
                s.set_checks(name == "enable health");
                changed(be);
                nothing()
            }
            Err(e) => Answer::err(e),
        },
        "set server" => set_server(sh, args),
        "shutdown sessions server" => match server(sh, args.first()) {
            Ok((_, s)) => {
                s.shutdown_sessions(crate::log::term::Cause::Killed);
                sh.control.wake_all();
                nothing()
            }
            Err(e) => Answer::err(e),
        },
        "set maxconn frontend" => {
            let Some(f) = args.first() else {
                return Answer::err("A frontend name is expected.\n");
            };
            let Some(fe) = sh.frontends.iter().flatten().find(|fe| fe.name == *f) else {
                return Answer::err("No such frontend.\n");
            };
            match args.get(1).and_then(|v| v.parse::<u32>().ok()) {
                Some(v) => {
                    fe.slots.set_max(v);
                    nothing()
                }
                None => Answer::err("Integer value expected.\n"),
            }
        }
        "set maxconn server" => match server(sh, args.first()) {
            Ok((be, s)) => match args.get(1).and_then(|v| v.parse::<u32>().ok()) {
                Some(v) => {
                    s.set_maxconn(v);
                    be.queue.wake_all();
                    nothing()
                }
                None => Answer::err("'set maxconn server' expects an integer value.\n"),
            },
            Err(e) => Answer::err(e),
        },
        "set maxconn global" => match args.first().filter(|v| !v.is_empty()) {
            // HAProxy reads it with atoi: what does not start with digits is 0, and 0 or
            // less is the hard limit.
            Some(v) => {
                let v = strtol(v.as_bytes(), 10).map_or(0, |c| c.value as i32);
                if i64::from(v) > i64::from(sh.hard_maxconn) {
                    return Answer::err("Value out of range.\n");
                }
                sh.slots
                    .set_max(if v <= 0 { sh.hard_maxconn } else { v as u32 });
                nothing()
            }
            None => Answer::err("Expects an integer value.\n"),
        },
        "disable frontend" | "enable frontend" => {
            let Some(f) = args.first() else {
                return Answer::err("A frontend name is expected.\n");
            };
            let Some(fe) = sh.frontends.iter().flatten().find(|fe| fe.name == *f) else {
                return Answer::err("No such frontend.\n");
            };
            match ctx.ask_main(super::MainReq::Frontend {
                proxy: fe.proxy,
                enable: name == "enable frontend",
            }) {
                Ok(_) => nothing(),
                Err(e) => Answer::err(format!("{e}\n")),
            }
        }
        "set ssl cert" => super::certs::set(ctx, sh, args.first().copied(), payload),
        "commit ssl cert" => super::certs::commit(ctx, args.first().copied()),
        "abort ssl cert" => super::certs::abort(ctx, args.first().copied()),
        _ => Answer::msg(INFO, unknown(&line.split_whitespace().collect::<Vec<_>>())),
    }
}

/// `show stat [desc|json|no-maint|typed|up]* [{<proxy>|<iid>|-1} <type> <sid>]`: the
/// rows of a snapshot in HAProxy's CSV, typed lines or JSON. `type` is HAProxy's bitmask
/// (1 frontends, 2 backends, 4 servers, 8 listeners); `sid` -1 is every server.
fn show_stat(sh: &Shared, args: &[&str]) -> Result<String, String> {
    use crate::stats::ObjType;
    let (mut json, mut typed, mut up, mut no_maint, mut desc) = (false, false, false, false, false);
    let mut bound = Vec::new();
    for a in args {
        match *a {
            "json" => json = true,
            "typed" => typed = true,
            "up" => up = true,
            "no-maint" => no_maint = true,
            // HAProxy adds the descriptions to the typed output only.
            "desc" => desc = true,
            x => bound.push(x),
        }
    }
    let filter = match bound[..] {
        [] => None,
        [px, ty, sid] => {
            let iid = match sh
                .backends
                .iter()
                .flatten()
                .map(|b| (b.name.as_str(), b.id))
                .chain(
                    sh.frontends
                        .iter()
                        .flatten()
                        .map(|f| (f.name.as_str(), f.id)),
                )
                .find(|(n, _)| *n == px)
            {
                Some((_, id)) => id as i64,
                None => px.parse::<i64>().unwrap_or(0),
            };
            if iid == 0 {
                return Err("No such proxy.\n".into());
            }
            Some((
                iid,
                ty.parse::<u32>().unwrap_or(0),
                sid.parse::<i64>().unwrap_or(0),
            ))
        }
        _ => return Err("Expects '{<proxy>|-1} <type> <sid>' after the options.\n".into()),
    };
    let snap = crate::stats::take(sh);
    let rows = snap.rows.iter().filter(|r| {
        if r.obj == ObjType::Server
            && ((no_maint || up) && r.status() == "MAINT" || up && r.status().starts_with("DOWN"))
        {
            return false;
        }
        let Some((iid, ty, sid)) = filter else {
            return true;
        };
        let bit = match r.obj {
            ObjType::Frontend => 1,
            ObjType::Backend => 2,
            ObjType::Server => 4,
            ObjType::Listener => 8,
        };
        (iid == -1 || iid == r.iid as i64)
            && ty & bit != 0
            && (r.obj != ObjType::Server || sid == -1 || sid == r.sid as i64)
    });
    Ok(if json {
        crate::stats::json::render(rows)
    } else if typed {
        crate::stats::typed::render(rows, desc)
    } else {
        crate::stats::csv::render(rows)
    })
}

/// A state or weight changed: the backend's tables follow, and connections queued for a
/// slot look again.
fn changed(be: &BackendRt) {
    be.lb.rebuild();
    be.queue.wake_all();
}

/// `backend/server` → the backend and the server, or HAProxy's error text.
fn server<'a>(
    sh: &'a Shared,
    arg: Option<&&str>,
) -> Result<(&'a Arc<BackendRt>, Arc<ServerState>), String> {
    let Some((b, s)) = arg.and_then(|a| a.split_once('/')) else {
        return Err("Require 'backend/server'.\n".into());
    };
    let Some(be) = sh.backend_by_name(b) else {
        return Err("No such backend.\n".into());
    };
    match be.lb.servers.iter().find(|x| x.name == s) {
        Some(x) => Ok((be, x.clone())),
        None => Err("No such server.\n".into()),
    }
}

/// `set weight B/S N[%]` (and `set server B/S weight`): HAProxy's parsing and messages.
fn set_weight(be: &BackendRt, s: &ServerState, arg: Option<&str>) -> Result<String, String> {
    let Some(a) = arg else {
        return Err("Require <weight> or <weight%>.\n".into());
    };
    let (num, pct) = match a.strip_suffix('%') {
        Some(n) => (n, true),
        None => (a, false),
    };
    let Ok(v) = num.parse::<i64>() else {
        // HAProxy's words, without a line end: the reply's empty line ends it.
        return Err("Empty weight string empty or preceded by garbage".into());
    };
    let w = if pct {
        if !(0..=100).contains(&v) {
            return Err("Relative weight can only be set between 0 and 100% inclusive.\n".into());
        }
        (s.configured_weight as i64 * v / 100) as u32
    } else {
        if !(0..=256).contains(&v) {
            return Err("Absolute weight can only be between 0 and 256 inclusive.\n".into());
        }
        v as u32
    };
    s.set_user_weight(w);
    changed(be);
    Ok(String::new())
}

const SET_SERVER_USAGE: &str = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";

fn set_server(sh: &Shared, args: &[&str]) -> Answer {
    let (be, s) = match server(sh, args.first()) {
        Ok(x) => x,
        Err(e) => return Answer::err(e),
    };
    match args.get(1).copied() {
        Some("state") => {
            match args.get(2).copied() {
                Some("ready") => s.set_admin(0, admin::MAINT | admin::FDRAIN),
                Some("drain") => s.set_admin(admin::FDRAIN, admin::MAINT),
                Some("maint") => s.set_admin(admin::FMAINT, admin::FDRAIN),
                _ => {
                    return Answer::err(
                        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n",
                    );
                }
            }
            changed(be);
            Answer::data("")
        }
        Some("health") => {
            match args.get(2).copied() {
                Some("up") => s.force_health(true, false),
                Some("stopping") => s.force_health(true, true),
                Some("down") => s.force_health(false, false),
                _ => {
                    return Answer::err(
                        "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n",
                    );
                }
            }
            changed(be);
            Answer::data("")
        }
        Some("weight") => set_weight(be, &s, args.get(2).copied()).into(),
        Some("addr") => {
            let Some(a) = args.get(2).filter(|a| !a.is_empty()) else {
                return Answer::err(
                    "set server <b>/<s> addr requires an address and optionally a port.\n",
                );
            };
            // As HAProxy: a port only after the word `port` (an absent one is empty).
            let port = (args.get(3) == Some(&"port")).then(|| args.get(4).copied().unwrap_or(""));
            update_addr_port(sh, be, &s, a, port)
        }
        _ => Answer::err(SET_SERVER_USAGE),
    }
}

/// `set server B/S addr A [port P]`: HAProxy 2.6's srv_update_addr_port, its messages
/// (a warning, whatever happened) and its effects: a port that does not read as a number
/// leaves the port, not an address change before it; a number is cut to 16 bits, as its
/// `uint16_t`.
fn update_addr_port(
    sh: &Shared,
    be: &BackendRt,
    s: &ServerState,
    addr: &str,
    port: Option<&str>,
) -> Answer {
    let warn = |m: String| Answer::msg(WARNING, format!("{m} by 'stats socket command'\n"));
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else {
        return warn(format!("Invalid addr '{addr}'"));
    };
    let (old_ip, old_port) = s.ip_port();
    let mut msg = if ip == old_ip {
        "no need to change the addr".to_string()
    } else {
        format!("IP changed from '{old_ip}' to '{ip}'")
    };
    let mut new_port = old_port;
    if let Some(p) = port {
        msg.push_str(", ");
        // A server without a port of its own follows the client's (HAProxy's port map,
        // whose `svc_port` is the offset).
        let mapped = old_port.is_none();
        let current = old_port.unwrap_or(s.port_offset as u16);
        match strtol10(p) {
            None => msg.push_str(&format!("problem converting port '{p}' to an int")),
            Some(v) => {
                let (n, signed) = (v as u16, p.starts_with(['+', '-']));
                if signed && !mapped && !has_check_port(sh, be, s) {
                    msg.push_str("can't change <port> to port map because it is incompatible with current health check port configuration (use 'port' statement from the 'server' directive.");
                } else if signed && (!mapped || current != n) {
                    // corelb's port offsets come from the configuration only.
                    return Answer::err(
                        "corelb cannot change a server's port map (+N/-N) at run time.\n",
                    );
                } else if current == n {
                    msg.push_str("no need to change the port");
                } else {
                    let plus = if mapped { "+" } else { "" };
                    msg.push_str(&format!("port changed from '{plus}{current}' to '{n}'"));
                    new_port = Some(n);
                }
            }
        }
    }
    if (ip, new_port) != (old_ip, old_port) {
        s.set_addr(ip, new_port);
    }
    warn(msg)
}

/// C's `strtol(s, &end, 10)` as HAProxy checks it: `None` when no digit was read or the
/// value overflows a `long` (ERANGE).
fn strtol10(s: &str) -> Option<i64> {
    strtol(s.as_bytes(), 10)
        .filter(|c| !c.overflow)
        .map(|c| c.value)
}

/// The server's checks have a port of their own (`port` on its line), which HAProxy needs
/// to move it to a port map; a server added at run time has none here.
fn has_check_port(sh: &Shared, be: &BackendRt, s: &ServerState) -> bool {
    (sh.cfg.proxies.get(be.proxy)).is_some_and(|px| {
        (px.servers.iter()).any(|c| c.name == s.name && c.params.check.port.is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_is_haproxys_layout() {
        let h = help();
        assert!(h.starts_with("The following commands are valid at this level:\n"));
        // Every help line puts its colon at column 42, as HAProxy's does.
        for l in h.lines().skip(1) {
            assert_eq!(&l[42..44], ": ", "{l}");
        }
        assert!(h.ends_with("  quit                                    : disconnect\n"));
    }

    #[test]
    fn unknown_commands_suggest_close_ones() {
        let u = unknown(&["show", "servers", "stat"]);
        assert!(u.starts_with("Unknown command, but maybe"), "{u}");
        assert!(u.contains("show servers state [<backend>]"), "{u}");
        assert!(u.ends_with("  quit                                    : disconnect\n"));
    }
}
