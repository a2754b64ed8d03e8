//! The `global` section: one handler per keyword of [`keywords::GLOBAL`], and `cpu-map`.

use super::*;

impl Parser {
    pub(super) fn global_kw(&mut self, w: &[String], loc: &Loc) {
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
                if let Err(e) = crate::config::cli::global_stats(&mut g.cli, &args, loc) {
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
