//! The `global` section: one handler per keyword of [`keywords::GLOBAL`], and `cpu-map`.

use super::*;

/// The handler of a global keyword: the whole line (keyword first).
pub type GlobalFn = fn(&mut Parser, &[String], &Loc);

impl Parser {
    pub(super) fn global_kw(&mut self, w: &[String], loc: &Loc) {
        // The two global keywords HAProxy 2.6 lets `no` undo.
        if let ("no", Some(k @ ("set-dumpable" | "insecure-fork-wanted"))) =
            (w[0].as_str(), w.get(1).map(String::as_str))
        {
            if no_argument(self, &w[1..], loc) && k == "set-dumpable" {
                self.global.set_dumpable = false;
            }
            return;
        }
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
        if let Some(handle) = status_ok(k, kw, loc, &mut self.diags) {
            handle(self, w, loc);
        }
    }
}

/// The keywords of [`crate::tls::options::GLOBAL_KEYWORDS`], applied by the TLS settings.
pub(crate) fn tls(p: &mut Parser, w: &[String], loc: &Loc) {
    let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
    match p.global.tls.apply(&w[0], &args) {
        Ok(ws) => {
            for wn in ws {
                p.diags.warn(loc, wn);
            }
        }
        Err(e) => p.diags.error(loc, e),
    }
}

pub(crate) fn maxconn(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.maxconn = uint_arg(w, 1, 1, u32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
}

/// `localpeer NAME`: the name of this node in `peers` sections.
pub(crate) fn localpeer(p: &mut Parser, w: &[String], loc: &Loc) {
    match (w.get(1), w.get(2)) {
        (None, _) => p
            .diags
            .error(loc, "'localpeer' expects a name as an argument."),
        (Some(_), Some(x)) => p.diags.error(
            loc,
            format!("'localpeer' cannot handle unexpected argument '{x}'."),
        ),
        (Some(_), None) if crate::config::peers::cli_localpeer().is_some() => p.diags.warn(
            loc,
            "'localpeer' ignored since it is already set by using the '-L' command line argument.",
        ),
        (Some(_), None) if !p.peers.is_empty() => p.diags.warn(
            loc,
            "'localpeer' ignored since it is used after 'peers' section.",
        ),
        (Some(n), None) => p.global.localpeer = Some(n.clone()),
    }
}

/// `maxconnrate`, `maxsessrate`, `maxsslrate`: a number per second (0: no limit).
pub(crate) fn max_rate(p: &mut Parser, w: &[String], loc: &Loc) {
    let v = uint_arg(w, 1, 0, u32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
    match w[0].as_str() {
        "maxconnrate" => p.global.maxconnrate = v,
        "maxsessrate" => p.global.maxsessrate = v,
        _ => p.global.maxsslrate = v,
    }
}

/// `maxsslconn N`: TLS connections at once (0: no limit).
pub(crate) fn maxsslconn(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.maxsslconn = uint_arg(w, 1, 0, i32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
}

/// `tune.maxaccept N`: -1 accepts without a limit, 0 keeps HAProxy's default (4).
pub(crate) fn maxaccept(p: &mut Parser, w: &[String], loc: &Loc) {
    match w.get(1).map(|v| v.parse::<i64>()) {
        Some(Ok(-1)) => p.global.maxaccept = None,
        Some(Ok(0)) => p.global.maxaccept = Some(crate::config::model::DEFAULT_MAXACCEPT),
        Some(Ok(n)) if n > 0 && n <= i64::from(i32::MAX) => p.global.maxaccept = Some(n as u32),
        _ => p.diags.error(
            loc,
            "'tune.maxaccept' expects -1 or an integer from 0 to INT_MAX",
        ),
    }
}

pub(crate) fn nbthread(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 1, 4096, loc, &mut p.diags) {
        p.global.nbthread = Some((v as u32, loc.clone()));
    }
}

pub(crate) fn cpu_map(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(e) = parse_cpu_map(&w[1..], loc, &mut p.diags) {
        p.global.cpu_map.push(e);
    }
}

pub(crate) fn hard_stop_after(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.hard_stop_after = time_arg(w, 1, loc, &mut p.diags);
}

/// `set-var proc.NAME EXPR` and `set-var-fmt proc.NAME FMT`: set now, while parsing, as
/// HAProxy does (later lines see the value), from "internal" fetches only. A configuration
/// that then fails to load puts the `proc` variables back (see `Parser::finish`).
pub(crate) fn set_var(p: &mut Parser, w: &[String], loc: &Loc) {
    let kw = w[0].as_str();
    let what = if kw == "set-var" {
        "a sample expression"
    } else {
        "a format string"
    };
    let (Some(name), true) = (w.get(1), w.len() > 2) else {
        return p.diags.error(
            loc,
            format!("'{kw}' requires a process-wide variable name ('proc.<name>') and {what}."),
        );
    };
    if !name.starts_with("proc.") {
        return p.diags.error(
            loc,
            format!("'{kw}': cannot set variable '{name}', only scope 'proc' is permitted in the global section."),
        );
    }
    let mut ctx = crate::acl::ParseCtx::new("");
    let action = match crate::acl::VarAction::parse(&format!("{kw}({name})"), &w[2..], &mut ctx) {
        Ok(a) => a,
        Err(e) => return p.diags.error(loc, e),
    };
    for wn in ctx.warnings {
        p.diags.warn(loc, wn);
    }
    if let crate::acl::VarAction::Set(_, e, _) = &action
        && e.fetch.layer() != crate::acl::Layer::Internal
    {
        return p.diags.error(
            loc,
            format!("fetch method '{kw}({name})' extracts information from a connection or a request, none of which is available here"),
        );
    }
    p.proc_before.get_or_insert_with(crate::acl::proc_snapshot);
    action.apply(&crate::acl::Startup, &mut Vec::new());
}

/// `close-spread-time <time>|infinite`.
pub(crate) fn close_spread_time(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.close_spread_time = match w.get(1).map(String::as_str) {
        Some("infinite") => Some(Duration::MAX),
        _ => time_arg(w, 1, loc, &mut p.diags),
    };
}

/// `grace <time>`: on a soft stop (SIGUSR1), `stopping` is true this long while the
/// listeners still accept, then the stop proceeds.
pub(crate) fn grace(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.grace = time_arg(w, 1, loc, &mut p.diags);
}

pub(crate) fn pidfile(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.pidfile = path_arg(w, loc, &mut p.diags);
}

pub(crate) fn user(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.user = arg(w, 1)
        .map(|s| (s.to_string(), loc.clone()))
        .or_else(|| missing(w, "a user name", loc, &mut p.diags));
}

pub(crate) fn group(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.group = arg(w, 1)
        .map(|s| (s.to_string(), loc.clone()))
        .or_else(|| missing(w, "a group name", loc, &mut p.diags));
}

pub(crate) fn uid(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.uid = uint_arg(w, 1, 0, u32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
}

pub(crate) fn gid(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.gid = uint_arg(w, 1, 0, u32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
}

pub(crate) fn chroot(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.chroot = path_arg(w, loc, &mut p.diags).map(|c| (c, loc.clone()));
}

pub(crate) fn ulimit_n(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.ulimit_n = uint_arg(w, 1, 1, u32::MAX as u64, loc, &mut p.diags);
}

pub(crate) fn log(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(t) = parse_log(&w[1..], loc, &mut p.diags) {
        p.global.logs.push(t);
    }
}

pub(crate) fn log_send_hostname(p: &mut Parser, w: &[String], _: &Loc) {
    // Empty: the machine's name, read by the log senders.
    p.global.log_send_hostname = Some(arg(w, 1).unwrap_or("").to_string());
}

pub(crate) fn log_tag(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.log_tag = arg(w, 1)
        .map(str::to_string)
        .or_else(|| missing(w, "a tag", loc, &mut p.diags));
}

pub(crate) fn quiet(p: &mut Parser, _: &[String], _: &Loc) {
    p.global.quiet = true;
}

pub(crate) fn node(p: &mut Parser, w: &[String], _: &Loc) {
    p.global.node = arg(w, 1).map(str::to_string);
}

pub(crate) fn stats(p: &mut Parser, w: &[String], loc: &Loc) {
    let args: Vec<&str> = w[1..].iter().map(String::as_str).collect();
    if let Err(e) = crate::config::cli::global_stats(&mut p.global.cli, &args, loc) {
        p.diags.error(loc, e);
    }
}

pub(crate) fn server_state_file(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.cli.state_file = path_arg(w, loc, &mut p.diags);
}

/// `h1-case-adjust FROM TO`.
pub(crate) fn h1_case_adjust(p: &mut Parser, w: &[String], loc: &Loc) {
    crate::config::case_adjust::line(&mut p.global.h1_case_map, w, loc, &mut p.diags);
}

/// `h1-case-adjust-file FILE`: the last one is read once the configuration is complete.
pub(crate) fn h1_case_adjust_file(p: &mut Parser, w: &[String], loc: &Loc) {
    match (w.get(1), w.get(2)) {
        (Some(f), None) => p.global.h1_case_file = Some((f.clone(), loc.clone())),
        _ => p
            .diags
            .error(loc, "'h1-case-adjust-file' expects <file> as argument."),
    }
}

pub(crate) fn server_state_base(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.cli.state_base = path_arg(w, loc, &mut p.diags);
}

pub(crate) fn description(p: &mut Parser, w: &[String], loc: &Loc) {
    if w.len() < 2 {
        p.diags
            .error(loc, "'description' expects a string argument");
    }
    p.global.cli.description = Some(w[1..].join(" "));
}

/// `setenv` and `presetenv` (which keeps a variable that is already set).
pub(crate) fn setenv(p: &mut Parser, w: &[String], loc: &Loc) {
    let kw = w[0].as_str();
    match (arg(w, 1), arg(w, 2)) {
        (Some(k), Some(v)) => {
            let exists = lookup_env(&p.env, p.env_reset, k).is_some();
            if kw == "setenv" || !exists {
                p.env.insert(k.to_string(), Some(v.to_string()));
            }
        }
        _ => p
            .diags
            .error(loc, format!("'{kw}' expects a name and a value")),
    }
}

/// `resetenv [NAME...]`: every variable but those is gone for the lines that follow (the
/// process's own environment too: corelb starts no program that would inherit it).
pub(crate) fn resetenv(p: &mut Parser, w: &[String], _: &Loc) {
    let kept = w[1..]
        .iter()
        .map(|k| (k.clone(), lookup_env(&p.env, p.env_reset, k)))
        .filter(|(_, v)| v.is_some())
        .collect();
    p.env = kept;
    p.env_reset = true;
}

/// HAProxy's check of keywords that take no argument.
fn no_argument(p: &mut Parser, w: &[String], loc: &Loc) -> bool {
    match w.get(1) {
        Some(a) => {
            p.diags.error(
                loc,
                format!("'{}' cannot handle unexpected argument '{a}'.", w[0]),
            );
            false
        }
        None => true,
    }
}

/// `set-dumpable` (and `no set-dumpable`, by [`Parser::global_kw`]): core dumps stay
/// possible after the switch to `user`/`uid` (`PR_SET_DUMPABLE`), and the core and file
/// size limits are raised as far as allowed.
pub(crate) fn set_dumpable(p: &mut Parser, w: &[String], loc: &Loc) {
    if no_argument(p, w, loc) {
        p.global.set_dumpable = true;
    }
}

/// `insecure-fork-wanted`: nothing to allow: corelb forbids no process creation (its
/// external checks start theirs from a thread of their own, not from a shard).
pub(crate) fn insecure_fork_wanted(p: &mut Parser, w: &[String], loc: &Loc) {
    if no_argument(p, w, loc) {
        p.diags.warn(
            loc,
            "'insecure-fork-wanted' is ignored: corelb never forbids starting processes (external checks work without it)",
        );
    }
}

/// `tune.comp.maxlevel <1..9>`, with HAProxy's error.
pub(crate) fn comp_maxlevel(p: &mut Parser, w: &[String], loc: &Loc) {
    match w.get(1).map(|v| v.parse::<u32>()) {
        Some(Ok(n)) if (1..=9).contains(&n) => p.global.comp_maxlevel = n,
        _ => p.diags.error(
            loc,
            "'tune.comp.maxlevel' expects a numeric value between 1 and 9",
        ),
    }
}

/// `maxzlibmem <MB>`: the memory compression may take, in megabytes (0: no limit).
pub(crate) fn maxzlibmem(p: &mut Parser, w: &[String], loc: &Loc) {
    // HAProxy reads it with atol: what is not a number is 0 (no limit).
    match w.get(1) {
        Some(v) => {
            let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
            p.global.maxzlibmem = digits.parse::<u64>().unwrap_or(0) * 1024 * 1024;
        }
        None => p
            .diags
            .error(loc, format!("'{}' expects an integer argument.", w[0])),
    }
}

/// `external-check`: proxies may use `option external-check`.
pub(crate) fn external_check(p: &mut Parser, w: &[String], loc: &Loc) {
    if no_argument(p, w, loc) {
        p.global.external_check = true;
    }
}

pub(crate) fn unsetenv(p: &mut Parser, w: &[String], _: &Loc) {
    for k in &w[1..] {
        p.env.insert(k.clone(), None);
    }
}

pub(crate) fn tune_bufsize(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = size_arg(w, loc, &mut p.diags) {
        if !(1024..=(1 << 30)).contains(&v) {
            p.diags.error(loc, "tune.bufsize must be between 1k and 1g");
        } else {
            p.global.bufsize = v as usize;
        }
    }
}

/// `tune.h2.fe.max-concurrent-streams` and its older name `tune.h2.max-concurrent-streams`.
/// `tune.h2.fe.max-concurrent-streams <n> [rq-load ignore] [min <n>]`: `rq-load ignore`
/// (HAProxy's default) is accepted; a load target is not (no run-queue load measure here).
pub(crate) fn h2_max_concurrent_streams(p: &mut Parser, w: &[String], loc: &Loc) {
    let mut rest = w.get(2..).unwrap_or_default().iter().map(String::as_str);
    while let Some(opt) = rest.next() {
        let ok = match opt {
            "rq-load" => rest.next() == Some("ignore"),
            "min" => rest
                .next()
                .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
            _ => false,
        };
        if !ok {
            p.diags.error(
                loc,
                format!(
                    "'{}': after the number only 'rq-load ignore' and 'min <n>' are supported (no rq-load target: corelb does not measure run-queue load)",
                    w[0]
                ),
            );
            return;
        }
    }
    if let Some(v) = uint_arg(w, 1, 1, i32::MAX as u64, loc, &mut p.diags) {
        set_h2_side(&mut p.global.h2, &w[0], 1, v as u32);
    }
}

/// Sets a `tune.h2.*` value by its keyword's side: `what` 0 is the initial window, 1 the
/// concurrent streams; `tune.h2.fe.*` sets the client side, `tune.h2.be.*` the server
/// side, the common name each side not set by its own keyword.
fn set_h2_side(h2: &mut crate::config::H2Tune, kw: &str, what: usize, v: u32) {
    let sides: &[usize] = if kw.starts_with("tune.h2.fe.") {
        &[what]
    } else if kw.starts_with("tune.h2.be.") {
        &[what + 2]
    } else {
        &[what, what + 2]
    };
    let common = sides.len() == 2;
    for &i in sides {
        if common && h2.sides_set[i] {
            continue;
        }
        *match i {
            0 => &mut h2.initial_window_size,
            1 => &mut h2.max_concurrent_streams,
            2 => &mut h2.be_initial_window_size,
            _ => &mut h2.be_max_concurrent_streams,
        } = v;
        h2.sides_set[i] |= !common;
    }
}

/// `tune.h2.be.max-concurrent-streams`: 0 sets no limit of our own.
pub(crate) fn h2_be_max_concurrent_streams(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, i32::MAX as u64, loc, &mut p.diags) {
        set_h2_side(&mut p.global.h2, &w[0], 1, v as u32);
    }
}

/// `tune.h2.fe.max-total-streams`: 0 (no limit) up to HTTP/2's 2^30 client streams.
pub(crate) fn h2_max_total_streams(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, 1 << 30, loc, &mut p.diags) {
        p.global.h2.max_total_streams = v as u32;
    }
}

/// `tune.h2.max-frame-size`: 16384 to 16777215, as RFC 9113 allows.
pub(crate) fn h2_max_frame_size(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 16384, 16_777_215, loc, &mut p.diags) {
        p.global.h2.max_frame_size_set = Some(v as u32);
    }
}

pub(crate) fn h2_header_table_size(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, 65535, loc, &mut p.diags) {
        p.global.h2.header_table_size = v as u32;
    }
}

/// `tune.h2.fe.initial-window-size`, `tune.h2.be.initial-window-size` and the common
/// `tune.h2.initial-window-size`.
pub(crate) fn h2_initial_window_size(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, i32::MAX as u64, loc, &mut p.diags) {
        set_h2_side(&mut p.global.h2, &w[0], 0, v as u32);
    }
}

pub(crate) fn h2_glitches_threshold(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, u32::MAX as u64, loc, &mut p.diags) {
        p.global.h2.glitches_threshold = v as u32;
    }
}

pub(crate) fn http_maxhdr(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 1, 32767, loc, &mut p.diags) {
        p.global.maxhdr = v as usize;
    }
}

pub(crate) fn pipesize(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = size_arg(w, loc, &mut p.diags) {
        p.global.pipesize = v as usize;
    }
}

pub(crate) fn maxpipes(p: &mut Parser, w: &[String], loc: &Loc) {
    p.global.maxpipes = uint_arg(w, 1, 0, u32::MAX as u64, loc, &mut p.diags).map(|v| v as u32);
}

/// `tune.pool-high-fd-ratio N`: a percentage, 0 to 100 as HAProxy checks it.
pub(crate) fn pool_high_fd_ratio(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, 100, loc, &mut p.diags) {
        p.global.pool_high_fd_ratio = v as u32;
    }
}

/// `tune.pool-low-fd-ratio N`: likewise.
pub(crate) fn pool_low_fd_ratio(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, 100, loc, &mut p.diags) {
        p.global.pool_low_fd_ratio = v as u32;
    }
}

/// `tune.peers.max-updates-at-once N` (read as HAProxy's atoi: leading digits).
pub(crate) fn peers_max_updates(p: &mut Parser, w: &[String], loc: &Loc) {
    match w.get(1).map(|v| crate::config::units::atol(v)) {
        Some(n) if n > 0 && n <= i32::MAX as i64 => p.global.peers_max_updates = n as usize,
        _ => p.diags.error(
            loc,
            "'tune.peers.max-updates-at-once' expects an integer argument greater than 0.",
        ),
    }
}

pub(crate) fn spread_checks(p: &mut Parser, w: &[String], loc: &Loc) {
    if let Some(v) = uint_arg(w, 1, 0, 50, loc, &mut p.diags) {
        p.global.spread_checks = v as u32;
    }
}

/// `max-spread-checks DELAY` (milliseconds, or with a unit): the longest the first health
/// checks are spread over, whatever the servers' intervals.
pub(crate) fn max_spread_checks(p: &mut Parser, w: &[String], loc: &Loc) {
    let Some(v) = arg(w, 1) else {
        p.diags.error(
            loc,
            "'max-spread-checks' expects an integer argument (0..50).",
        );
        return;
    };
    match crate::config::units::parse_time(v, Duration::from_millis(1)) {
        Ok(d) => p.global.max_spread_checks = (!d.is_zero()).then_some(d),
        Err(_) => {
            let c = v.chars().find(|c| !c.is_ascii_digit()).unwrap_or(' ');
            p.diags.error(
                loc,
                format!(
                    "unsupported character '{c}' in 'max-spread-checks' (wants an integer delay)."
                ),
            );
        }
    }
}

pub(crate) fn pump(p: &mut Parser, w: &[String], loc: &Loc) {
    match arg(w, 1) {
        Some("auto") => p.global.pump = PumpKind::Auto,
        Some("splice") => p.global.pump = PumpKind::Splice,
        Some("copy") => p.global.pump = PumpKind::Copy,
        _ => p
            .diags
            .error(loc, "'tune.corelb.pump' expects 'auto', 'splice' or 'copy'"),
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
pub(super) fn parse_cpu_map(args: &[String], loc: &Loc, d: &mut Diags) -> Option<CpuMapEntry> {
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

/// `default-path current|config|parent|origin DIR`: relative file names (certificates,
/// CA files, maps, error files) are read from that directory while each configuration file
/// is parsed, from this line on (HAProxy changes into it at once).
pub(crate) fn default_path(p: &mut Parser, w: &[String], loc: &Loc) {
    let mode = w.get(1).map(String::as_str).unwrap_or("");
    p.default_path = match mode {
        "current" => DefaultPath::Current,
        "config" => DefaultPath::Config,
        "parent" => DefaultPath::Parent,
        "origin" => DefaultPath::Origin(PathBuf::new()),
        _ => {
            let what = if mode.is_empty() {
                "missing"
            } else {
                "unsupported"
            };
            p.diags.error(
                loc,
                format!("{what} default-path mode '{mode}' for 'default-path', supported modes include 'current', 'config', 'parent', and 'origin'."),
            );
            return;
        }
    };
    let origin = w.get(2).map(String::as_str);
    let file = loc.file.to_string();
    let res = match (mode, origin) {
        ("origin", None) => {
            p.diags.error(
                loc,
                "'default-path origin' expects a directory as an argument.",
            );
            return;
        }
        ("origin", Some(dir)) => p
            .apply_default_path(&file, Some(dir))
            .map_err(|e| format!("couldn't set 'default-path' to origin '{dir}': {e}.")),
        _ => p
            .apply_default_path(&file, None)
            .map_err(|e| format!("couldn't set 'default-path' to '{mode}': {e}.")),
    };
    if let Err(e) = res {
        p.diags.error(loc, e);
    }
}

/// `tune.vars.{global,proc,sess,txn,reqres}-max-size <size>`: bytes (HAProxy reads a plain
/// number with strtoll(): no unit, nothing after it; empty is 0, a negative one no limit).
pub(crate) fn vars_max_size(p: &mut Parser, w: &[String], loc: &Loc) {
    let kw = w[0].as_str();
    let v = w.get(1).map(String::as_str).unwrap_or("");
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return p
            .diags
            .error(loc, format!("{kw}: '{v}' is an invalid size"));
    }
    let n = match digits.parse() {
        _ if v.starts_with('-') || digits.is_empty() => 0,
        Ok(n) => n,
        Err(_) => usize::MAX,
    };
    let l = &mut p.global.var_limits;
    match kw {
        "tune.vars.global-max-size" => l.global = n,
        "tune.vars.proc-max-size" => l.proc = n,
        "tune.vars.sess-max-size" => l.sess = n,
        "tune.vars.txn-max-size" => l.txn = n,
        _ => l.reqres = n,
    }
}

/// `pp2-never-send-local`: health checks with `check-send-proxy` send a PROXY v2 header
/// with the PROXY command and the check's addresses instead of the LOCAL command (HAProxy's
/// behaviour before 2.2, for servers that do not handle LOCAL).
pub(crate) fn pp2_never_send_local(p: &mut Parser, w: &[String], loc: &Loc) {
    if no_argument(p, w, loc) {
        p.global.pp2_never_send_local = true;
    }
}

/// `expose-experimental-directives` (HAProxy reads no argument, and refuses none).
pub(crate) fn experimental(p: &mut Parser, _: &[String], _: &Loc) {
    p.global.experimental = true;
}

/// `h1-accept-payload-with-any-method`: HTTP/1.0 GET, HEAD and DELETE requests with a body
/// are let through instead of answered 413.
pub(crate) fn h1_accept_payload(p: &mut Parser, w: &[String], loc: &Loc) {
    if no_argument(p, w, loc) {
        p.global.h1_accept_payload_with_any_method = true;
    }
}
