//! `corelb-bench`: the load generator and test backend of corelb.
//!
//! - `attack`: vegeta's open-loop (or closed-loop) HTTP/1.1 or HTTP/2 load over TCP or TLS,
//!   thread per core on glommio, results streamed in a compact binary format (`record`);
//! - `report` / `plot`: vegeta's text, JSON and histogram reports and an HTML latency plot;
//! - `serve`: a fast thread-per-core HTTP/1.1 (and HTTP/2) backend for tests, demos and
//!   benchmarks.

// `sys` holds the crate's only unsafe code.
#![deny(unsafe_code)]

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod attack;
mod cli;
mod duration;
mod http1;
mod metrics;
mod pacer;
mod record;
mod report;
mod runtime;
mod serve;
#[allow(unsafe_code)]
mod sys;
mod targets;
mod tls;

use clap::Parser;

fn main() {
    let args = cli::normalize_args(std::env::args_os());
    let cli = cli::Cli::parse_from(args);
    let (what, result) = match &cli.command {
        cli::Command::Attack(a) => ("attack", attack::run(a, cli.cpus)),
        cli::Command::Report(r) => ("report", report::run(r)),
        cli::Command::Plot(p) => ("plot", report::run_plot(p)),
        cli::Command::Serve(s) => ("serve", serve::run(s, cli.cpus)),
    };
    if let Err(e) = result {
        // An empty message is a closed pipe on output: nothing to say, like `head` upstream.
        if !e.is_empty() {
            eprintln!("corelb-bench {what}: {e}");
        }
        std::process::exit(1);
    }
}
