//! `corelb-bench report`: reads results streams and writes vegeta's reports.

mod hist;
mod plot;
mod text;

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{PlotArgs, ReportArgs};
use crate::metrics::Metrics;
use crate::record::Decoder;

pub use hist::Buckets;

enum Kind {
    Text,
    Json,
    Plot,
    Hist(Buckets),
}

fn parse_kind(kind: &str, buckets: Option<&str>) -> Result<Kind, String> {
    match kind {
        "text" => Ok(Kind::Text),
        "json" => Ok(Kind::Json),
        "plot" => Ok(Kind::Plot),
        _ => {
            let Some(rest) = kind.strip_prefix("hist") else {
                return Err(format!(
                    "unknown report type {kind:?} (expected text, json, plot or hist[BUCKETS])"
                ));
            };
            let spec = if rest.is_empty() {
                buckets.ok_or(
                    "--type hist needs buckets: hist[0,1ms,5ms] or --buckets '[0,1ms,5ms]'",
                )?
            } else {
                rest
            };
            Ok(Kind::Hist(Buckets::parse(spec)?))
        }
    }
}

fn open_inputs(files: &[PathBuf]) -> io::Result<Box<dyn Read>> {
    if files.is_empty() || (files.len() == 1 && files[0] == Path::new("stdin")) {
        return Ok(Box::new(io::stdin().lock()));
    }
    // Streams may be concatenated: the decoder resets at each header.
    let mut chain: Box<dyn Read> = Box::new(io::empty());
    for f in files {
        let file =
            File::open(f).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", f.display())))?;
        chain = Box::new(chain.chain(file));
    }
    Ok(chain)
}

fn open_output(output: Option<&Path>) -> io::Result<Box<dyn Write>> {
    Ok(match output {
        None => Box::new(BufWriter::new(io::stdout().lock())),
        Some(p) if p == Path::new("stdout") => Box::new(BufWriter::new(io::stdout().lock())),
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).map_err(|e| {
                io::Error::new(e.kind(), format!("{}: {e}", p.display()))
            })?))
        }
    })
}

pub fn run(args: &ReportArgs) -> Result<(), String> {
    let kind = parse_kind(&args.kind, args.buckets.as_deref())?;
    generate(kind, &args.files, args.output.as_deref(), &args.title)
}

pub fn run_plot(args: &PlotArgs) -> Result<(), String> {
    generate(Kind::Plot, &args.files, args.output.as_deref(), &args.title)
}

fn generate(
    kind: Kind,
    files: &[PathBuf],
    output: Option<&Path>,
    title: &str,
) -> Result<(), String> {
    let input = open_inputs(files).map_err(|e| e.to_string())?;
    let mut decoder = Decoder::new(input);
    let mut metrics = Metrics::new();
    let mut points = plot::Points::default();
    let mut hist = match &kind {
        Kind::Hist(b) => Some(b.counter()),
        _ => None,
    };
    let keep_points = matches!(kind, Kind::Plot);
    while let Some(r) = decoder.next_record().map_err(|e| e.to_string())? {
        metrics.add(&r);
        if let Some(h) = hist.as_mut() {
            h.add(Duration::from_nanos(r.latency));
        }
        if keep_points {
            points.push(&r);
        }
    }
    if decoder.truncated > 0 {
        eprintln!(
            "corelb-bench report: warning: the results stream ends in the middle of a record ({} bytes ignored); the attack was probably killed",
            decoder.truncated
        );
    }
    let report = metrics.report(decoder.errors());
    let mut out = open_output(output).map_err(|e| e.to_string())?;
    let written = match kind {
        Kind::Text => text::write(&mut out, &report),
        Kind::Json => serde_json::to_writer(&mut out, &report)
            .map_err(io::Error::other)
            .and_then(|()| writeln!(out)),
        Kind::Hist(_) => hist.expect("made for hist").write(&mut out),
        Kind::Plot => plot::write(&mut out, title, &report, &metrics, &points),
    };
    written.and_then(|()| out.flush()).map_err(|e| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            String::new()
        } else {
            format!("writing the report: {e}")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_types() {
        assert!(matches!(parse_kind("text", None), Ok(Kind::Text)));
        assert!(matches!(parse_kind("json", None), Ok(Kind::Json)));
        assert!(matches!(parse_kind("plot", None), Ok(Kind::Plot)));
        assert!(matches!(parse_kind("hist[0,1ms]", None), Ok(Kind::Hist(_))));
        assert!(matches!(
            parse_kind("hist", Some("[0,1ms]")),
            Ok(Kind::Hist(_))
        ));
        assert!(parse_kind("hist", None).is_err());
        assert!(parse_kind("hist[1ms,0]", None).is_err());
        assert!(parse_kind("xml", None).is_err());
    }
}
