//! `--type plot`: one self-contained HTML page (inline SVG, no script, no external resource)
//! showing latency over the attack's time line, so a reader sees *when* the tail happened.
//!
//! Top panel: per time bin, p50, p99 and max of the latency (log scale), plus every request in
//! the tail (above the overall p99, or every request for small runs) as a dot, errors in red.
//! Bottom panel: requests per second sent and failed per bin. Hovering a bin shows its numbers.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use crate::duration::{format, round_for_report};
use crate::metrics::{Metrics, Report};
use crate::record::Record;

/// What the plot keeps of each record (16 bytes).
#[derive(Default)]
pub struct Points {
    ts: Vec<u64>,
    /// Latency in ns, top bit set for a failure.
    lat: Vec<u64>,
}

const FAILED: u64 = 1 << 63;
const BINS: usize = 300;
const MAX_DOTS: usize = 20_000;

impl Points {
    pub fn push(&mut self, r: &Record) {
        let ok = (200..400).contains(&r.status);
        self.ts.push(r.timestamp);
        self.lat
            .push(r.latency.min(FAILED - 1) | if ok { 0 } else { FAILED });
    }
}

#[derive(Clone, Copy, Default)]
struct Bin {
    count: u64,
    failed: u64,
    p50: u64,
    p99: u64,
    max: u64,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn dur(ns: u64) -> String {
    format(round_for_report(Duration::from_nanos(ns)))
}

/// Log-scale mapping from latency (ns) to a y coordinate.
struct YAxis {
    lo: f64,
    hi: f64,
    top: f64,
    height: f64,
}

impl YAxis {
    fn y(&self, ns: u64) -> f64 {
        let v = (ns.max(1) as f64).log10().clamp(self.lo, self.hi);
        self.top + self.height * (1.0 - (v - self.lo) / (self.hi - self.lo))
    }
}

pub fn write(
    out: &mut dyn Write,
    title: &str,
    report: &Report,
    metrics: &Metrics,
    points: &Points,
) -> io::Result<()> {
    let n = points.ts.len();
    let t0 = points.ts.iter().copied().min().unwrap_or(0);
    let t1 = points.ts.iter().copied().max().unwrap_or(0);
    let span = (t1 - t0).max(1);
    let bin_of =
        |ts: u64| (((ts - t0) as u128 * BINS as u128 / (span as u128 + 1)) as usize).min(BINS - 1);

    // Sort request indexes by (bin, latency) once; every bin's quantiles are then slices.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by_key(|&i| {
        (
            bin_of(points.ts[i as usize]),
            points.lat[i as usize] & !FAILED,
        )
    });
    let mut bins = [Bin::default(); BINS];
    // Responses per bin by completion time: a stall shows as a gap, then a burst.
    let mut completed = [0u64; BINS];
    for (&ts, &l) in points.ts.iter().zip(&points.lat) {
        completed[bin_of(ts.saturating_add(l & !FAILED).min(t1))] += 1;
    }
    let mut i = 0;
    while i < n {
        let b = bin_of(points.ts[order[i] as usize]);
        let mut j = i;
        while j < n && bin_of(points.ts[order[j] as usize]) == b {
            j += 1;
        }
        let lat = |k: usize| points.lat[order[k] as usize] & !FAILED;
        let len = j - i;
        bins[b] = Bin {
            count: len as u64,
            failed: (i..j)
                .filter(|&k| points.lat[order[k] as usize] & FAILED != 0)
                .count() as u64,
            p50: lat(i + (len - 1) / 2),
            p99: lat(i + ((len as f64 * 0.99).ceil() as usize).clamp(1, len) - 1),
            max: lat(j - 1),
        };
        i = j;
    }

    // The tail: every request above the overall p99, the slowest first if there are too many.
    let threshold = if n <= MAX_DOTS {
        0
    } else {
        report.latencies.p99
    };
    let mut dots: Vec<u32> = (0..n as u32)
        .filter(|&i| points.lat[i as usize] & !FAILED >= threshold)
        .collect();
    if dots.len() > MAX_DOTS {
        dots.sort_unstable_by_key(|&i| std::cmp::Reverse(points.lat[i as usize] & !FAILED));
        dots.truncate(MAX_DOTS);
    }

    let (width, left, right) = (1100.0, 80.0, 20.0);
    let plot_w = width - left - right;
    let (lat_top, lat_h, gap, rate_h) = (20.0, 420.0, 50.0, 150.0);
    let rate_top = lat_top + lat_h + gap;
    let height = rate_top + rate_h + 40.0;
    let x = |ts: u64| left + plot_w * ((ts - t0) as f64 / span as f64);
    let bin_w = plot_w / BINS as f64;
    let bin_x = |b: usize| left + bin_w * b as f64;

    let min_lat = if n == 0 {
        1
    } else {
        report.latencies.min.max(1)
    };
    let max_lat = report.latencies.max.max(min_lat + 1);
    let mut y = YAxis {
        lo: (min_lat as f64).log10().floor(),
        hi: (max_lat as f64).log10().ceil(),
        top: lat_top,
        height: lat_h,
    };
    if y.hi - y.lo < 1.0 {
        y.hi = y.lo + 1.0;
    }

    let mut svg = String::with_capacity(64 * 1024 + dots.len() * 64);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"##
    );
    // Latency grid: 1-2-5 per decade.
    let mut decade = y.lo as i32;
    while f64::from(decade) <= y.hi {
        for m in [1u64, 2, 5] {
            let ns = m as f64 * 10f64.powi(decade);
            if ns.log10() > y.hi + 1e-9 || ns.log10() < y.lo - 1e-9 {
                continue;
            }
            let ns = ns as u64;
            let yy = y.y(ns);
            let stroke = if m == 1 { "#bbb" } else { "#e4e4e4" };
            let _ = write!(
                svg,
                r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="{stroke}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + plot_w,
                left - 6.0,
                yy + 4.0,
                esc(&format(Duration::from_nanos(ns)))
            );
        }
        decade += 1;
    }
    // Time axis ticks, shared by both panels.
    let span_s = span as f64 / 1e9;
    let step = nice_step(span_s / 10.0);
    let mut t = 0.0;
    while t <= span_s + 1e-9 {
        let xx = left + plot_w * (t / span_s.max(1e-9));
        for (top, h) in [(lat_top, lat_h), (rate_top, rate_h)] {
            let _ = write!(
                svg,
                r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{top}" y2="{:.1}" stroke="#eee"/>"##,
                top + h
            );
        }
        let _ = write!(
            svg,
            r##"<text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            rate_top + rate_h + 16.0,
            esc(&format(Duration::from_secs_f64(t)))
        );
        t += step;
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">time since the first request was due</text>"##,
        left + plot_w / 2.0,
        rate_top + rate_h + 34.0
    );
    let _ = write!(
        svg,
        r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">latency (log scale)</text>"##,
        lat_top + lat_h / 2.0,
        lat_top + lat_h / 2.0
    );
    let _ = write!(
        svg,
        r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">requests/s</text>"##,
        rate_top + rate_h / 2.0,
        rate_top + rate_h / 2.0
    );
    // Overall p99 and p99.9.
    // p99's label goes under its line and p99.9's over, so close values stay readable.
    for (label, ns, color, dy) in [
        ("p99", report.latencies.p99, "#e08000", 13.0),
        ("p99.9", report.latencies.p999, "#b00060", -4.0),
    ] {
        if n == 0 {
            break;
        }
        let yy = y.y(ns);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="{color}" stroke-dasharray="4 4" opacity="0.6"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{color}">overall {label} {}</text>"##,
            left + plot_w,
            left + plot_w - 4.0,
            yy + dy,
            esc(&dur(ns))
        );
    }
    // Tail dots.
    svg.push_str(r##"<g fill-opacity="0.45">"##);
    for &i in &dots {
        let (ts, l) = (points.ts[i as usize], points.lat[i as usize]);
        let color = if l & FAILED != 0 {
            "#d00000"
        } else {
            "#3060c0"
        };
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{color}"/>"##,
            x(ts),
            y.y(l & !FAILED)
        );
    }
    svg.push_str("</g>");
    // Per-bin quantile lines.
    for (pick, color, label, w) in [
        (0usize, "#208020", "p50 per bin", 1.5),
        (1, "#e08000", "p99 per bin", 1.5),
        (2, "#d00000", "max per bin", 1.0),
    ] {
        let mut path = String::new();
        for (b, bin) in bins.iter().enumerate() {
            if bin.count == 0 {
                continue;
            }
            let v = [bin.p50, bin.p99, bin.max][pick];
            let cmd = if path.is_empty() { 'M' } else { 'L' };
            let _ = write!(path, "{cmd}{:.1},{:.1}", bin_x(b) + bin_w / 2.0, y.y(v));
        }
        if !path.is_empty() {
            let _ = write!(
                svg,
                r##"<path d="{path}" fill="none" stroke="{color}" stroke-width="{w}"><title>{label}</title></path>"##
            );
        }
    }
    // Rate panel.
    let bin_secs = (span as f64 / 1e9 / BINS as f64).max(1e-9);
    let peak = bins
        .iter()
        .map(|b| b.count)
        .chain(completed.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64
        / bin_secs;
    let rate_step = nice_step(peak / 4.0);
    let rate_scale = |rps: f64| {
        rate_top + rate_h * (1.0 - rps / (rate_step * (peak / rate_step).ceil()).max(1e-9))
    };
    let mut r = 0.0;
    while r <= peak + rate_step * 0.999 {
        let yy = rate_scale(r);
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            yy + 4.0,
            si(r)
        );
        r += rate_step;
    }
    for (b, bin) in bins.iter().enumerate() {
        if bin.count == 0 {
            continue;
        }
        let sent = bin.count as f64 / bin_secs;
        let failed = bin.failed as f64 / bin_secs;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.2}" height="{:.1}" fill="#7090d0"/>"##,
            bin_x(b),
            rate_scale(sent),
            bin_w,
            rate_top + rate_h - rate_scale(sent)
        );
        if bin.failed > 0 {
            let _ = write!(
                svg,
                r##"<rect x="{:.1}" y="{:.1}" width="{:.2}" height="{:.1}" fill="#d00000"/>"##,
                bin_x(b),
                rate_scale(failed),
                bin_w,
                rate_top + rate_h - rate_scale(failed)
            );
        }
    }
    let mut path = String::new();
    for (b, &c) in completed.iter().enumerate() {
        let cmd = if path.is_empty() { 'M' } else { 'L' };
        let _ = write!(
            path,
            "{cmd}{:.1},{:.1}",
            bin_x(b) + bin_w / 2.0,
            rate_scale(c as f64 / bin_secs)
        );
    }
    if n > 0 {
        let _ = write!(
            svg,
            r##"<path d="{path}" fill="none" stroke="#202020" stroke-width="1.2"><title>responses completed per second</title></path>"##
        );
    }
    // Hover targets with each bin's numbers.
    for (b, bin) in bins.iter().enumerate() {
        if bin.count == 0 {
            continue;
        }
        let from = span as f64 / 1e9 * b as f64 / BINS as f64;
        let _ = write!(
            svg,
            r##"<rect x="{:.1}" y="{lat_top}" width="{:.2}" height="{:.1}" fill="transparent"><title>t = {} … {}
requests due {} ({}/s), failed {}, completed {}
p50 {}  p99 {}  max {}</title></rect>"##,
            bin_x(b),
            bin_w,
            rate_top + rate_h - lat_top,
            esc(&format(round_for_report(Duration::from_secs_f64(from)))),
            esc(&format(round_for_report(Duration::from_secs_f64(
                from + bin_secs
            )))),
            bin.count,
            si(bin.count as f64 / bin_secs),
            bin.failed,
            completed[b],
            esc(&dur(bin.p50)),
            esc(&dur(bin.p99)),
            esc(&dur(bin.max)),
        );
    }
    for (top, h) in [(lat_top, lat_h), (rate_top, rate_h)] {
        let _ = write!(
            svg,
            r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{h}" fill="none" stroke="#888"/>"##
        );
    }
    svg.push_str("</svg>");

    let mut summary = Vec::new();
    super::text::write(&mut summary, report)?;
    let summary = String::from_utf8_lossy(&summary);
    let hist = metrics.histogram();
    let mut table = String::new();
    if n > 0 {
        for q in [0.5, 0.9, 0.99, 0.999, 0.9999, 1.0] {
            let v = if q == 1.0 {
                report.latencies.max
            } else {
                hist.value_at_quantile(q).min(report.latencies.max)
            };
            let _ = write!(
                table,
                "<tr><td>{}</td><td>{}</td></tr>",
                q * 100.0,
                esc(&dur(v))
            );
        }
    }
    write!(
        out,
        r##"<!doctype html>
<html><head><meta charset="utf-8"><title>{t}</title>
<style>
body {{ font-family: sans-serif; margin: 20px; color: #222; }}
pre {{ background: #f6f6f6; padding: 10px; overflow-x: auto; }}
.legend span {{ margin-right: 18px; }}
.sw {{ display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }}
table {{ border-collapse: collapse; }} td {{ padding: 2px 10px; border-bottom: 1px solid #ddd; }}
</style></head>
<body>
<h1>{t}</h1>
<p class="legend">
<span><i class="sw" style="background:#208020"></i>p50 per time bin</span>
<span><i class="sw" style="background:#e08000"></i>p99 per time bin</span>
<span><i class="sw" style="background:#d00000"></i>max per time bin</span>
<span>dots: {dots_desc}, <b style="color:#3060c0">ok</b> / <b style="color:#d00000">failed</b></span>
<span>lower panel: requests due per second (bars; <b style="color:#d00000">failed</b>), responses completed per second (line)</span>
<span>hover a bin for its numbers</span>
</p>
{svg}
<h2>Summary</h2>
<pre>{summary}</pre>
<h2>Latency percentiles</h2>
<table>{table}</table>
<p>Latency is measured from when each request was due (open loop), so time spent waiting for a
free worker or connection counts. {n} requests, {bins} time bins of {bin_len}.</p>
</body></html>
"##,
        t = esc(title),
        dots_desc = if threshold == 0 {
            "every request".to_string()
        } else {
            format!(
                "the {} slowest requests (≥ overall p99 {})",
                dots.len(),
                esc(&dur(threshold))
            )
        },
        summary = esc(&summary),
        bins = BINS,
        bin_len = esc(&dur((span / BINS as u64).max(1))),
    )
}

/// 1, 2 or 5 × 10^k, the smallest not below `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= raw {
            return m * p;
        }
    }
    10.0 * p
}

fn si(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained_and_shows_the_tail() {
        let mut m = Metrics::new();
        let mut p = Points::default();
        for i in 0..50_000u64 {
            // A stall in the middle: requests due between 2.0 s and 2.1 s wait 500 ms.
            let ts = 1_000_000_000_000 + i * 100_000;
            let stalled = (20_000..21_000).contains(&i);
            let r = Record {
                timestamp: ts,
                latency: if stalled {
                    500_000_000
                } else {
                    200_000 + i % 1000
                },
                status: if i % 10_000 == 1 { 502 } else { 200 },
                bytes_out: 0,
                bytes_in: 64,
                error: u32::from(i % 10_000 == 1),
                ..Default::default()
            };
            m.add(&r);
            p.push(&r);
        }
        let report = m.report(&["502 Bad Gateway".into()]);
        let mut out = Vec::new();
        write(&mut out, "t<1>", &report, &m, &p).unwrap();
        let html = String::from_utf8(out).unwrap();
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("<title>t&lt;1&gt;</title>"));
        assert!(!html.contains("<script"));
        // Nothing is fetched: no scripts, sources or links.
        assert!(!html.contains(" src=") && !html.contains("href="));
        // The tail is drawn where it happened: the stalled bins' hover text says 500ms max.
        assert!(html.contains("max 500ms"));
        assert!(html.contains("502 Bad Gateway"));
        // Dots only for the tail (1000 stalled + failures + p99 boundary), not all 50k.
        let dots = html.matches("<circle").count();
        assert!((1000..=MAX_DOTS).contains(&dots), "{dots}");
    }

    #[test]
    fn empty_input_still_renders() {
        let m = Metrics::new();
        let mut out = Vec::new();
        write(&mut out, "empty", &m.report(&[]), &m, &Points::default()).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("</html>"));
    }

    #[test]
    fn steps() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(120.0), 200.0);
    }
}
