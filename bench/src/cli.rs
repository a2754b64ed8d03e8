//! The command line: vegeta's flags and spellings, through clap.
//!
//! Go's flag package takes `-rate` and `--rate` alike, and booleans only as `-flag` or
//! `-flag=false`; [`normalize_args`] rewrites vegeta's single-dash spellings so clap sees
//! `--rate`, and the boolean flags below take an optional `=VALUE` in Go's forms.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};

use crate::pacer::Rate;

#[derive(Parser, Debug)]
#[command(
    name = "corelb-bench",
    version,
    about = "Load generator and test backend for corelb: vegeta-style `attack` and `report` (HTTP/1.1 and HTTP/2), and a fast `serve`",
    long_about = None,
)]
pub struct Cli {
    /// Cores (shards) to use: one pinned glommio executor each [default: all cores]
    #[arg(long, global = true, visible_alias = "shards", value_name = "N")]
    pub cpus: Option<usize>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Send requests at a fixed rate (open loop) or as fast as possible, and stream the results
    Attack(AttackArgs),
    /// Summarize a results stream: text, JSON, histogram or an HTML latency plot
    Report(ReportArgs),
    /// Write the HTML latency plot of a results stream (same as `report --type plot`)
    Plot(PlotArgs),
    /// Run a fast thread-per-core HTTP/1.1 (and, with --http2, HTTP/2) backend for tests and benchmarks
    Serve(ServeArgs),
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{s:?} is not a boolean (true or false)")),
    }
}

fn go_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

fn header(s: &str) -> Result<(String, String), String> {
    crate::targets::parse_header(s)
}

#[derive(Args, Debug)]
#[command(after_help = "\
Protocols: https:// targets offer h2 and http/1.1 over ALPN (--http2, on by default as in \
vegeta) and speak HTTP/2 when the server selects h2, else HTTP/1.1 (said on stderr, and the \
report's Protocols line counts it as \"HTTP/1.1 (h2 not negotiated)\"); --http2=false \
offers http/1.1 only. http:// targets speak HTTP/1.1, or HTTP/2 with prior knowledge \
(h2c) with --h2c. Over HTTP/2 each shard keeps ceil(workers / --max-streams) connections \
per host, each worker sending on its own connection's streams: --max-workers 64 \
--max-streams 10 is 64 requests in flight over 7 connections.

Targets are read from stdin unless --targets is given, in vegeta's format:
  GET http://host:port/path
  Header-Name: value
  @body-file

Examples:
  echo \"GET http://127.0.0.1:8080/\" | corelb-bench attack -rate=1000/1s -duration=5s | corelb-bench report
  corelb-bench attack --targets t.txt --rate 0 --max-workers 64 --duration 10s --output r.bin")]
pub struct AttackArgs {
    /// Requests per time unit: N/1s, N/s, N (per second), N/100ms; 0 = as fast as possible
    /// (closed loop, needs --max-workers)
    #[arg(long, default_value = "50/1s", value_parser = Rate::parse, value_name = "RATE")]
    pub rate: Rate,

    /// Duration of the attack [0 = until interrupted]
    #[arg(long, default_value = "0s", value_parser = go_duration, value_name = "DURATION")]
    pub duration: Duration,

    /// Targets file in vegeta's HTTP format ["stdin" or absent = standard input]
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,

    /// Targets format (only vegeta's "http" format is supported)
    #[arg(long, default_value = "http", value_parser = ["http"])]
    pub format: String,

    /// Where the results stream goes ["stdout" or absent = standard output]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Request body file, for targets without their own @body
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,

    /// Request header "Name: value" (repeatable)
    #[arg(long = "header", value_parser = header, value_name = "HEADER")]
    pub headers: Vec<(String, String)>,

    /// Initial number of workers (split across shards)
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub workers: u64,

    /// Maximum number of workers, i.e. of requests in flight (split across shards) [default: unlimited]
    #[arg(long, value_name = "N")]
    pub max_workers: Option<u64>,

    /// Max idle keep-alive connections per target host, per shard
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub connections: usize,

    /// Request timeout, from the start of the request to the end of the response [0 = none]
    #[arg(long, default_value = "30s", value_parser = go_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Use persistent connections; false = a new connection (and TLS handshake) per request
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    pub keepalive: bool,

    /// HTTPS: offer h2 over ALPN and speak HTTP/2 when the server selects it (HTTP/1.1 when
    /// it does not); false = HTTP/1.1 only
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    pub http2: bool,

    /// Plain http:// targets: HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    pub h2c: bool,

    /// HTTP/2: requests in flight on one connection (h2load's -m). A shard's workers share
    /// connections this many at a time; the server's SETTINGS_MAX_CONCURRENT_STREAMS, if
    /// lower, makes the others wait (100 is HAProxy's and most servers' default limit)
    #[arg(
        long,
        visible_alias = "h2-streams",
        default_value_t = 100,
        value_name = "N"
    )]
    pub max_streams: usize,

    /// Do not verify the server's certificate (its signature is still checked)
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    pub insecure: bool,

    /// TLS root certificate PEM files (comma separated or repeated) [default: the system's]
    #[arg(long, value_delimiter = ',', value_name = "FILES")]
    pub root_certs: Vec<PathBuf>,

    /// TLS client certificate PEM file (for mutual TLS)
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// TLS client private key PEM file [default: the --cert file]
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,

    /// Allow TLS session resumption (tickets/IDs). Off by default, like Go's client, so that
    /// with --keepalive=false every request is a full handshake
    #[arg(long, visible_alias = "tls-resume", default_value_t = false, num_args = 0..=1,
          require_equals = true, default_missing_value = "true", value_parser = go_bool,
          action = ArgAction::Set, value_name = "BOOL")]
    pub session_tickets: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Report type: text, json, plot, hist[BUCKETS] (e.g. 'hist[0,1ms,5ms,10ms]')
    #[arg(long = "type", default_value = "text", value_name = "TYPE")]
    pub kind: String,

    /// Histogram buckets for --type hist, e.g. '[0,1ms,5ms]'
    #[arg(long, value_name = "BUCKETS")]
    pub buckets: Option<String>,

    /// Output file [default: standard output]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Title of the plot page
    #[arg(long, default_value = "corelb-bench plot")]
    pub title: String,

    /// Results files ["stdin" or none = standard input]; several are reported as one
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// Output file [default: standard output]
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Title of the page
    #[arg(long, default_value = "corelb-bench plot")]
    pub title: String,

    /// Results files [none = standard input]
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
#[command(after_help = "\
Endpoints (every response carries X-Server: NAME):
  /health               200 \"OK\"
  /echo                 JSON with the request line, the headers in order (duplicates kept),
                        the peer address and the number of body bytes
  /large?size=BYTES     a body of BYTES bytes (also /bytes/BYTES)
  /sink                 reads and discards the body (Content-Length or chunked), answers the count
  /status/CODE          an empty response with that status
  anything else         the fixed body of --body-size bytes
  /stats                this shard's connections and HTTP/2 streams so far (and the most
                        streams one connection had in flight), as JSON (--cpus 1: the server's)
  ?delay=DURATION       on any path: answer after this delay instead of --delay")]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// Name reported in the X-Server header of every response
    #[arg(long, default_value = "corelb-bench")]
    pub name: String,

    /// Size of the default response body
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    pub body_size: usize,

    /// Delay before each response
    #[arg(long, default_value = "0s", value_parser = go_duration, value_name = "DURATION")]
    pub delay: Duration,

    /// Close keep-alive connections idle for this long [0 = never]
    #[arg(long, default_value = "0s", value_parser = go_duration, value_name = "DURATION")]
    pub idle_timeout: Duration,

    /// Serve HTTPS with this PEM certificate chain (the key may be in the same file)
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert [default: the --tls-cert file]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Also speak HTTP/2: h2 offered first over ALPN with --tls-cert, and HTTP/2 with prior
    /// knowledge (h2c) on plain connections that start with its preface
    #[arg(long, default_value_t = false, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = go_bool, action = ArgAction::Set,
          value_name = "BOOL")]
    pub http2: bool,
}

/// Rewrites vegeta's `-rate=5` / `-rate 5` into `--rate=5` / `--rate 5` for every long option
/// clap knows, leaving short flags (`-h`), values and everything after `--` alone.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let cmd = Cli::command();
    let mut longs: HashSet<String> = HashSet::new();
    let mut collect = |c: &clap::Command| {
        for a in c.get_arguments() {
            if let Some(l) = a.get_long() {
                longs.insert(l.to_string());
            }
            if let Some(aliases) = a.get_all_aliases() {
                longs.extend(aliases.into_iter().map(str::to_string));
            }
        }
    };
    collect(&cmd);
    for sub in cmd.get_subcommands() {
        collect(sub);
    }
    longs.insert("help".into());
    longs.insert("version".into());

    let mut out = Vec::new();
    let mut rest_verbatim = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || rest_verbatim {
            out.push(arg);
            continue;
        }
        let rewritten = arg.to_str().and_then(|s| {
            if s == "--" {
                return None;
            }
            let word = s.strip_prefix('-').filter(|w| !w.starts_with('-'))?;
            let name = word.split_once('=').map_or(word, |(n, _)| n);
            longs
                .contains(name)
                .then(|| OsString::from(format!("-{s}")))
        });
        if arg == "--" {
            rest_verbatim = true;
        }
        out.push(rewritten.unwrap_or(arg));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let argv = normalize_args(
            std::iter::once("corelb-bench")
                .chain(args.iter().copied())
                .map(OsString::from),
        );
        Cli::try_parse_from(argv)
    }

    fn attack(args: &[&str]) -> AttackArgs {
        let mut v = vec!["attack"];
        v.extend_from_slice(args);
        match parse(&v).unwrap().command {
            Command::Attack(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn vegeta_single_dash_spellings() {
        let a = attack(&[
            "-rate=1000/1s",
            "-duration",
            "3s",
            "-keepalive=false",
            "-insecure",
        ]);
        assert_eq!(a.rate.freq, 1000);
        assert_eq!(a.duration, Duration::from_secs(3));
        assert!(!a.keepalive);
        assert!(a.insecure);
        assert!(a.http2);
    }

    #[test]
    fn double_dash_spellings() {
        let a = attack(&[
            "--rate",
            "5/100ms",
            "--duration=1m30s",
            "--keepalive=false",
            "--http2=false",
            "--header",
            "X-A: 1",
            "--header=Host: h",
            "--max-workers",
            "8",
            "--root-certs",
            "a.pem,b.pem",
            "--tls-resume",
        ]);
        assert_eq!(a.rate.per, Duration::from_millis(100));
        assert_eq!(a.duration, Duration::from_secs(90));
        assert!(!a.keepalive && !a.http2 && a.session_tickets);
        assert_eq!(a.headers.len(), 2);
        assert_eq!(a.max_workers, Some(8));
        assert_eq!(a.root_certs.len(), 2);
        let a = attack(&["-h2c", "-max-streams=10"]);
        assert!(a.h2c && a.http2);
        assert_eq!(a.max_streams, 10);
    }

    #[test]
    fn defaults_match_vegeta() {
        let a = attack(&[]);
        assert_eq!(a.rate.freq, 50);
        assert_eq!(a.duration, Duration::ZERO);
        assert_eq!(a.timeout, Duration::from_secs(30));
        assert_eq!(a.workers, 10);
        assert_eq!(a.max_workers, None);
        assert_eq!(a.connections, 10_000);
        assert!(a.keepalive && !a.insecure && !a.session_tickets);
        // vegeta's default: HTTP/2 where TLS negotiates it; h2c only when asked.
        assert!(a.http2 && !a.h2c);
        assert_eq!(a.max_streams, 100);
    }

    #[test]
    fn global_cpus_before_the_subcommand() {
        let cli = parse(&["-cpus=2", "attack", "-rate=100"]).unwrap();
        assert_eq!(cli.cpus, Some(2));
        let cli = parse(&["serve", "--shards", "1", "--listen", "127.0.0.1:0"]).unwrap();
        assert_eq!(cli.cpus, Some(1));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(parse(&["attack", "-rate=fast"]).is_err());
        assert!(parse(&["attack", "-duration=10"]).is_err());
        assert!(parse(&["attack", "-keepalive=maybe"]).is_err());
        assert!(parse(&["attack", "-header", "nocolon"]).is_err());
        assert!(parse(&["attack", "-no-such-flag"]).is_err());
    }

    #[test]
    fn values_that_look_like_flags_are_left_alone() {
        // "-x" is not a known long option, so it stays a value.
        let a = attack(&["--header", "X-Dash: -rate"]);
        assert_eq!(a.headers[0].1, "-rate");
        let cli = parse(&["report", "--", "-rate"]).unwrap();
        match cli.command {
            Command::Report(r) => assert_eq!(r.files, vec![PathBuf::from("-rate")]),
            other => panic!("{other:?}"),
        }
    }
}
