//! The runtime API's commands: one line in, HAProxy's reply text out. No I/O here except
//! through [`Ctx`] (the current generation's shared state, and requests to the main thread
//! for what only it owns: the listening sockets). A change goes to the shared atomics
//! (server state, weight, maxconn, address) or to the certificate slots, so every shard
//! sees it at its next connection.

use super::Ctx;
use crate::cluster::ServerState;
use crate::cluster::state::admin;
use crate::cluster::{BackendRt, Shared};
use crate::config::cli::CliLevel;
use std::fmt::Write;
use std::sync::Arc;

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
    pub then: Then,
}

impl Reply {
    fn text(out: impl Into<String>) -> Reply {
        Reply {
            out: out.into(),
            then: Then::Continue,
        }
    }
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
        "set ssl cert",
        CliLevel::Admin,
        "  set ssl cert <certfile> <payload>       : replace a certificate file",
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
/// a line ending in `<<`. `level` may be lowered by `operator`/`user`.
pub fn run(ctx: &Ctx, level: &mut CliLevel, line: &str, payload: Option<&str>) -> Reply {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Reply::text("");
    }
    let Some((name, need, _)) = COMMANDS.iter().find(|(name, _, _)| {
        let n: Vec<&str> = name.split(' ').collect();
        words.len() >= n.len() && words[..n.len()] == n[..]
    }) else {
        return Reply::text(unknown(&words));
    };
    if *level < *need {
        return Reply::text("Permission denied\n");
    }
    let args = &words[name.split(' ').count()..];
    match *name {
        "help" => Reply::text(help()),
        "prompt" => Reply {
            out: String::new(),
            then: Then::TogglePrompt,
        },
        "quit" => Reply {
            out: String::new(),
            then: Then::Quit,
        },
        "operator" | "user" => {
            let to = if *name == "user" {
                CliLevel::User
            } else {
                CliLevel::Operator
            };
            // A session can lower its level, never raise it.
            if to > *level {
                return Reply::text("Permission denied\n");
            }
            *level = to;
            Reply::text("")
        }
        "show cli level" => Reply::text(match level {
            CliLevel::User => "user\n",
            CliLevel::Operator => "operator\n",
            CliLevel::Admin => "admin\n",
        }),
        "show version" => Reply::text(format!("{}\n", env!("CARGO_PKG_VERSION"))),
        "show events" => match super::events::show(args) {
            Ok(s) => Reply::text(s),
            Err(s) => Reply {
                out: s,
                then: Then::Bare,
            },
        },
        _ => {
            let Some(sh) = ctx.current.load_full() else {
                return Reply::text("The process is starting; try again.\n");
            };
            Reply::text(with_shared(ctx, &sh, *level, name, args, payload, line))
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
) -> String {
    match name {
        "show info" => super::info::show_info(ctx, sh),
        "show errors" => crate::cluster::errors::render(sh),
        "show stat" => show_stat(sh, args),
        "show sess" => super::sess::show(sh, args.first().copied()),
        "shutdown session" => super::sess::shutdown(sh, args.first().copied()),
        "show map" | "get map" | "set map" | "add map" | "del map" | "clear map" | "show acl"
        | "get acl" | "add acl" | "del acl" | "clear acl" => {
            super::maps::run(&sh.cfg.pat_refs, name, args, payload)
        }
        "show table" => super::table::show(&sh.stick, args, level, &|t, id| server_name(sh, t, id)),
        "clear table" => super::table::clear(&sh.stick, args, level),
        "clear counters" => match args {
            [] => {
                sh.counters.clear(false);
                String::new()
            }
            ["all", ..] if level < CliLevel::Admin => "Permission denied\n".into(),
            ["all", ..] => {
                sh.counters.clear(true);
                String::new()
            }
            // HAProxy 2.6 reads only "all"; any other word clears the max counters.
            _ => {
                sh.counters.clear(false);
                String::new()
            }
        },
        "show backend" => {
            let mut s = String::from("# name\n");
            for be in sh.backends.iter().flatten() {
                let _ = writeln!(s, "{}", be.name);
            }
            s
        }
        "show resolvers" => sh.dns.render(args.first().copied()),
        "show servers state" => match args.first() {
            None => super::state_file::render(sh, None),
            Some(b) => match sh.backend_by_name(b) {
                Some(be) => super::state_file::render(sh, Some(be)),
                None => "Can't find backend.\n".into(),
            },
        },
        "get weight" => match server(sh, args.first()) {
            Ok((_, s)) => format!("{} (initial {})\n", s.user_weight(), s.configured_weight),
            Err(e) => e,
        },
        "set weight" => match server(sh, args.first()) {
            Ok((be, s)) => set_weight(be, &s, args.get(1).copied()),
            Err(e) => e,
        },
        "disable server" | "enable server" => match server(sh, args.first()) {
            Ok((be, s)) => {
                if name == "disable server" {
                    s.set_admin(admin::FMAINT, 0);
                } else {
                    s.set_admin(0, admin::MAINT);
                }
                changed(be);
                String::new()
            }
            Err(e) => e,
        },
        "disable health" | "enable health" => match server(sh, args.first()) {
            Ok((be, s)) => {
                s.set_checks(name == "enable health");
                changed(be);
                String::new()
            }
            Err(e) => e,
        },
        "set server" => set_server(sh, args),
        "shutdown sessions server" => match server(sh, args.first()) {
            Ok((_, s)) => {
                s.shutdown_sessions(crate::log::term::Cause::Killed);
                sh.control.wake_all();
                String::new()
            }
            Err(e) => e,
        },
        "set maxconn frontend" => {
            let Some(f) = args.first() else {
                return "A frontend name is expected.\n".into();
            };
            let Some(fe) = sh.frontends.iter().flatten().find(|fe| fe.name == *f) else {
                return "No such frontend.\n".into();
            };
            match args.get(1).and_then(|v| v.parse::<u32>().ok()) {
                Some(v) => {
                    fe.slots.set_max(v);
                    String::new()
                }
                None => "Integer value expected.\n".into(),
            }
        }
        "set maxconn server" => match server(sh, args.first()) {
            Ok((be, s)) => match args.get(1).and_then(|v| v.parse::<u32>().ok()) {
                Some(v) => {
                    s.set_maxconn(v);
                    be.queue.wake_all();
                    String::new()
                }
                None => "'set maxconn server' expects an integer value.\n".into(),
            },
            Err(e) => e,
        },
        "set maxconn global" => match args.first().and_then(|v| v.parse::<u32>().ok()) {
            Some(v) => {
                if v == 0 || v > sh.hard_maxconn {
                    return "Value out of range.\n".into();
                }
                sh.slots.set_max(v);
                String::new()
            }
            None => "Expects an integer value.\n".into(),
        },
        "disable frontend" | "enable frontend" => {
            let Some(f) = args.first() else {
                return "A frontend name is expected.\n".into();
            };
            let Some(fe) = sh.frontends.iter().flatten().find(|fe| fe.name == *f) else {
                return "No such frontend.\n".into();
            };
            match ctx.ask_main(super::MainReq::Frontend {
                proxy: fe.proxy,
                enable: name == "enable frontend",
            }) {
                Ok(_) => String::new(),
                Err(e) => format!("{e}\n"),
            }
        }
        "set ssl cert" => super::certs::set(ctx, sh, args.first().copied(), payload),
        "commit ssl cert" => super::certs::commit(ctx, args.first().copied()),
        "abort ssl cert" => super::certs::abort(ctx, args.first().copied()),
        _ => unknown(&line.split_whitespace().collect::<Vec<_>>()),
    }
}

/// `show stat [desc|json|no-maint|typed|up]* [{<proxy>|<iid>|-1} <type> <sid>]`: the
/// rows of a snapshot in HAProxy's CSV, typed lines or JSON. `type` is HAProxy's bitmask
/// (1 frontends, 2 backends, 4 servers, 8 listeners); `sid` -1 is every server.
fn show_stat(sh: &Shared, args: &[&str]) -> String {
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
                return "No such proxy.\n".into();
            }
            Some((
                iid,
                ty.parse::<u32>().unwrap_or(0),
                sid.parse::<i64>().unwrap_or(0),
            ))
        }
        _ => return "Expects '{<proxy>|-1} <type> <sid>' after the options.\n".into(),
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
    if json {
        crate::stats::json::render(rows)
    } else if typed {
        crate::stats::typed::render(rows, desc)
    } else {
        crate::stats::csv::render(rows)
    }
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
fn set_weight(be: &BackendRt, s: &ServerState, arg: Option<&str>) -> String {
    let Some(a) = arg else {
        return "Require <weight> or <weight%>.\n".into();
    };
    let (num, pct) = match a.strip_suffix('%') {
        Some(n) => (n, true),
        None => (a, false),
    };
    let Ok(v) = num.parse::<i64>() else {
        // HAProxy's words, without a line end: the reply's empty line ends it.
        return "Empty weight string empty or preceded by garbage".into();
    };
    let w = if pct {
        if !(0..=100).contains(&v) {
            return "Relative weight can only be set between 0 and 100% inclusive.\n".into();
        }
        (s.configured_weight as i64 * v / 100) as u32
    } else {
        if !(0..=256).contains(&v) {
            return "Absolute weight can only be between 0 and 256 inclusive.\n".into();
        }
        v as u32
    };
    s.set_user_weight(w);
    changed(be);
    String::new()
}

const SET_SERVER_USAGE: &str = "usage: set server <backend>/<server> addr | agent | agent-addr | agent-port | agent-send | check-addr | check-port | fqdn | health | ssl | state | weight\n";

fn set_server(sh: &Shared, args: &[&str]) -> String {
    let (be, s) = match server(sh, args.first()) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match args.get(1).copied() {
        Some("state") => {
            match args.get(2).copied() {
                Some("ready") => s.set_admin(0, admin::MAINT | admin::FDRAIN),
                Some("drain") => s.set_admin(admin::FDRAIN, admin::MAINT),
                Some("maint") => s.set_admin(admin::FMAINT, admin::FDRAIN),
                _ => {
                    return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n"
                        .into();
                }
            }
            changed(be);
            String::new()
        }
        Some("health") => {
            match args.get(2).copied() {
                Some("up") => s.force_health(true, false),
                Some("stopping") => s.force_health(true, true),
                Some("down") => s.force_health(false, false),
                _ => {
                    return "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n"
                        .into();
                }
            }
            changed(be);
            String::new()
        }
        Some("weight") => set_weight(be, &s, args.get(2).copied()),
        Some("addr") => {
            let Some(a) = args.get(2) else {
                return "set server <b>/<s> addr requires an address and optionally a port.\n"
                    .into();
            };
            let Ok(ip) = a.parse::<std::net::IpAddr>() else {
                return format!("Invalid addr '{a}' by 'stats socket command'\n");
            };
            let old_port = s.ip_port().1;
            let port = match (args.get(3).copied(), args.get(4)) {
                (Some("port"), Some(p)) => match p.parse::<u16>() {
                    Ok(p) if p > 0 => Some(p),
                    _ => return format!("Invalid port '{p}' by 'stats socket command'\n"),
                },
                (None, _) => old_port,
                _ => return SET_SERVER_USAGE.into(),
            };
            match s.change_addr(ip, port) {
                None => "no need to change the addr\n".into(),
                Some(what) => format!("{what} by 'stats socket command'\n"),
            }
        }
        _ => SET_SERVER_USAGE.into(),
    }
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
