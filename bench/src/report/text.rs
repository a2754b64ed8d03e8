//! vegeta's text report, with the 99.9th percentile added to the latency line.

use std::io::{self, Write};
use std::time::Duration;

use crate::duration::{format, round_for_report};
use crate::metrics::Report;

fn d(ns: u64) -> String {
    format(round_for_report(Duration::from_nanos(ns)))
}

pub fn write(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let l = &r.latencies;
    let mut rows: Vec<(&str, &str, String)> = vec![
        (
            "Requests",
            "[total, rate, throughput]",
            format!("{}, {:.2}, {:.2}", r.requests, r.rate, r.throughput),
        ),
        (
            "Duration",
            "[total, attack, wait]",
            format!(
                "{}, {}, {}",
                d(r.duration + r.wait),
                d(r.duration),
                d(r.wait)
            ),
        ),
        (
            "Latencies",
            "[min, mean, 50, 90, 95, 99, 99.9, max]",
            [l.min, l.mean, l.p50, l.p90, l.p95, l.p99, l.p999, l.max]
                .map(d)
                .join(", "),
        ),
        (
            "Bytes In",
            "[total, mean]",
            format!("{}, {:.2}", r.bytes_in.total, r.bytes_in.mean),
        ),
        (
            "Bytes Out",
            "[total, mean]",
            format!("{}, {:.2}", r.bytes_out.total, r.bytes_out.mean),
        ),
        ("Success", "[ratio]", format!("{:.2}%", r.success * 100.0)),
        (
            "Status Codes",
            "[code:count]",
            r.status_codes
                .iter()
                .map(|(code, count)| format!("{code}:{count}  "))
                .collect(),
        ),
    ];
    // Only when h2 was involved: an HTTP/1.1 report stays vegeta's, line for line.
    if !r.protocols.is_empty() {
        rows.push((
            "Protocols",
            "[protocol:count]",
            r.protocols
                .iter()
                .map(|(p, count)| format!("{p}:{count}  "))
                .collect(),
        ));
    }
    // Go's tabwriter with padding 2, as vegeta uses it.
    let w1 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0) + 2;
    let w2 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0) + 2;
    for (name, fields, values) in &rows {
        writeln!(out, "{name:<w1$}{fields:<w2$}{values}")?;
    }
    writeln!(out, "Error Set:")?;
    for e in &r.errors {
        writeln!(out, "{e}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::record::Record;

    #[test]
    fn looks_like_vegeta() {
        let mut m = Metrics::new();
        for i in 0..3000u64 {
            m.add(&Record {
                timestamp: 1_000_000_000_000 + i * 5_000_000,
                latency: 1_000_000 + i * 100,
                status: if i < 2990 { 200 } else { 0 },
                bytes_out: 0,
                bytes_in: 47,
                error: u32::from(i >= 2990),
                ..Default::default()
            });
        }
        let r = m.report(&["GET http://x/: connection refused".into()]);
        let mut out = Vec::new();
        write(&mut out, &r).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Requests      [total, rate, throughput]               3000, 200.07, 199.38"
        );
        assert_eq!(
            lines[1],
            "Duration      [total, attack, wait]                   14.996s, 14.995s, 1.3ms"
        );
        assert!(
            lines[2]
                .starts_with("Latencies     [min, mean, 50, 90, 95, 99, 99.9, max]  1ms, 1.15ms, ")
        );
        assert!(lines[2].ends_with(", 1.3ms"), "{}", lines[2]);
        assert_eq!(
            lines[5],
            "Success       [ratio]                                 99.67%"
        );
        assert_eq!(
            lines[6],
            "Status Codes  [code:count]                            0:10  200:2990  "
        );
        assert_eq!(lines[7], "Error Set:");
        assert_eq!(lines[8], "GET http://x/: connection refused");
    }

    #[test]
    fn protocols_line_only_when_h2_was_involved() {
        let mut m = Metrics::new();
        let r = Record {
            status: 200,
            latency: 1,
            ..Default::default()
        };
        m.add(&r);
        let text = |m: &Metrics| {
            let mut out = Vec::new();
            write(&mut out, &m.report(&[])).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert!(!text(&m).contains("Protocols"));
        m.add(&Record {
            proto: crate::record::Proto::Http2,
            ..r
        });
        let t = text(&m);
        let line = t.lines().find(|l| l.starts_with("Protocols")).unwrap();
        assert_eq!(
            line,
            "Protocols     [protocol:count]                        HTTP/1.1:1  HTTP/2.0:1  "
        );
    }
}
