//! The `corelb` command: HAProxy-style flags (`-f`, `-c`, `-V`, `-d`, `-q`, `-p`, `-sf`,
//! `-st`, `-x`) plus `--shards`/`--cpus` for the shard layout.

#![deny(unsafe_code)]

use clap::Parser;
use corelb::config::{self, Level};
use corelb::runtime::{self, RunOptions};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "corelb",
    about = "A shard-per-core TCP/TLS/HTTP load balancer that reads haproxy.cfg",
    disable_version_flag = true
)]
struct Cli {
    /// Configuration file or directory (repeatable; directories load every *.cfg).
    #[arg(short = 'f', value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Check the configuration, print every error and warning, and exit (0 = valid).
    #[arg(short = 'c')]
    check: bool,
    /// Verbose: more messages at startup and shutdown.
    #[arg(short = 'V')]
    verbose: bool,
    /// Debug: log every connection.
    #[arg(short = 'd')]
    debug: bool,
    /// Quiet: only errors.
    #[arg(short = 'q')]
    quiet: bool,
    /// Write the process id to this file.
    #[arg(short = 'p', value_name = "PIDFILE")]
    pidfile: Option<PathBuf>,
    /// Once listening, tell these old processes to stop accepting and finish their
    /// connections (seamless reload).
    #[arg(long = "sf", value_name = "PID", num_args = 1..)]
    soft_stop: Vec<i32>,
    /// Take the listening sockets over from the process serving this stats socket (it
    /// needs `expose-fd listeners`), so that none closes during an upgrade.
    #[arg(short = 'x', value_name = "SOCKET")]
    takeover: Option<PathBuf>,
    /// Once listening, tell these old processes to stop now.
    #[arg(long = "st", value_name = "PID", num_args = 1..)]
    hard_stop: Vec<i32>,
    /// Number of shards (one glommio executor per core); default: nbthread, else one per
    /// available CPU.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// CPUs to pin shards to, e.g. 0-3 or 0,2,4,6 (the same list as tuning/irq-affinity.sh).
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Accepted for HAProxy compatibility; corelb always runs in the foreground.
    #[arg(short = 'D', hide = true)]
    daemon: bool,
    /// Accepted for HAProxy compatibility (master-worker); corelb is a single process.
    #[arg(short = 'W', hide = true)]
    master_worker: bool,
    /// Evaluate one conditional expression (as on a `.if` line) and exit: 0 when true, 1 when
    /// false, 2 when it cannot be evaluated.
    #[arg(long = "cc", value_name = "EXPR", allow_hyphen_values = true)]
    check_condition: Option<String>,
    /// The local peer name (default: the host name), exported as HAPROXY_LOCALPEER.
    #[arg(short = 'L', value_name = "NAME")]
    localpeer: Option<String>,
    /// Print the version.
    #[arg(short = 'v', long = "version")]
    version: bool,
    /// Print the Markdown table of configuration keywords and their status.
    #[arg(long, hide = true)]
    list_keywords: bool,
}

/// HAProxy's two-letter single-dash flags (`-sf`, `-st`, `-Ws`) become long options.
fn normalize_args() -> Vec<String> {
    std::env::args()
        .map(|a| match a.as_str() {
            "-sf" => "--sf".to_string(),
            "-st" => "--st".to_string(),
            "-Ws" => "-W".to_string(),
            "-cc" => "--cc".to_string(),
            _ => a,
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(normalize_args());
    if cli.version {
        println!("corelb version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if cli.list_keywords {
        print!("{}", config::keywords::markdown_table());
        return ExitCode::SUCCESS;
    }
    // Before anything reads the environment: `.if defined(HAPROXY_LOCALPEER)` sees it.
    let localpeer = cli
        .localpeer
        .clone()
        .or_else(corelb::log::hostname)
        .unwrap_or_default();
    corelb::sys::setenv_at_start("HAPROXY_LOCALPEER", &localpeer);
    if let Some(l) = &cli.localpeer {
        config::peers::set_cli_localpeer(l);
    }
    let verbosity = if cli.quiet {
        QUIET
    } else if cli.debug {
        5
    } else if cli.verbose {
        4
    } else {
        3
    };
    corelb::log::init(verbosity);
    if let Some(expr) = &cli.check_condition {
        return check_condition(expr);
    }
    if cli.files.is_empty() {
        eprintln!("corelb: no configuration file given (use -f FILE)");
        return ExitCode::from(1);
    }
    if cli.daemon || cli.master_worker {
        log::warn!("-D/-W are ignored: corelb runs in the foreground as one process");
    }
    let cpus = match cli.cpus.as_deref().map(|c| {
        let words: Vec<&str> = c.split_whitespace().collect();
        config::parser::parse_cpu_list(&words)
    }) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            eprintln!("corelb: --cpus: {e}");
            return ExitCode::from(1);
        }
    };
    let (cfg, diags) = config::load(&cli.files);
    if cli.check {
        for d in &diags.list {
            eprintln!("{d}");
        }
        let (e, w) = (diags.errors(), diags.warnings());
        return match cfg {
            Some(_) => {
                if w > 0 {
                    println!(
                        "Configuration file is valid ({w} warning{}).",
                        if w == 1 { "" } else { "s" }
                    );
                } else {
                    println!("Configuration file is valid.");
                }
                ExitCode::SUCCESS
            }
            None => {
                eprintln!(
                    "{e} error{}, {w} warning{}: configuration is not valid.",
                    plural(e),
                    plural(w)
                );
                ExitCode::from(1)
            }
        };
    }
    // `quiet` in global is -q, unless -d or -V on the command line asks for more (HAProxy
    // keeps <debug> over <quiet> too).
    if cfg.as_ref().is_some_and(|c| c.global.quiet) && !cli.debug && !cli.verbose {
        corelb::log::init(QUIET);
    }
    for d in &diags.list {
        match d.level {
            Level::Error => log::error!("{d}"),
            Level::Warning => log::warn!("{d}"),
            Level::Notice => log::info!("{d}"),
        }
    }
    let Some(cfg) = cfg else {
        log::error!("fatal errors found in configuration");
        return ExitCode::from(1);
    };
    let opts = RunOptions {
        files: cli.files.clone(),
        shards: cli.shards,
        cpus,
        pidfile: cli.pidfile,
        soft_stop_pids: cli.soft_stop,
        hard_stop_pids: cli.hard_stop,
        takeover: cli.takeover,
    };
    ExitCode::from(runtime::run(cfg, opts) as u8)
}

/// `-cc EXPR`: split like a configuration line (quotes, escapes, `"$VAR"`), then evaluated
/// as the words of a `.if` joined by spaces; HAProxy's exit codes.
fn check_condition(expr: &str) -> ExitCode {
    let getenv = |k: &str| std::env::var(k).ok();
    let words = match config::lexer::split(expr, &getenv) {
        Ok(l) => l.words,
        Err(e) => {
            log::error!("Syntax Error in condition: {e}");
            return ExitCode::from(2);
        }
    };
    match config::cond::eval(&words.join(" "), &getenv) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            log::error!("Failed to evaluate condition: {e}");
            ExitCode::from(2)
        }
    }
}

/// Verbosity of -q: errors only.
const QUIET: usize = 1;

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
