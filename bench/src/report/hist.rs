//! `--type hist[0,1ms,5ms]`: vegeta's latency histogram, counted exactly per bucket.

use std::io::{self, Write};
use std::time::Duration;

use crate::duration::format;

/// Bucket lower bounds, strictly increasing; the last bucket is open-ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buckets(Vec<Duration>);

impl Buckets {
    /// Parses `[0,1ms,5ms]` (brackets optional).
    pub fn parse(spec: &str) -> Result<Buckets, String> {
        let inner = spec.trim();
        let inner = inner
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| format!("bad buckets {spec:?} (expected e.g. [0,1ms,5ms])"))?;
        let mut edges = Vec::new();
        for part in inner.split(',') {
            let d = crate::duration::parse(part.trim())
                .map_err(|e| format!("bad buckets {spec:?}: {e}"))?;
            if edges.last().is_some_and(|&prev| d <= prev) {
                return Err(format!(
                    "bad buckets {spec:?}: bounds must increase ({} after {})",
                    format(d),
                    format(*edges.last().unwrap())
                ));
            }
            edges.push(d);
        }
        if edges.is_empty() {
            return Err(format!("bad buckets {spec:?}: no bounds"));
        }
        Ok(Buckets(edges))
    }

    pub fn counter(&self) -> Counter {
        Counter {
            edges: self.0.clone(),
            counts: vec![0; self.0.len()],
            total: 0,
        }
    }
}

pub struct Counter {
    edges: Vec<Duration>,
    counts: Vec<u64>,
    total: u64,
}

impl Counter {
    pub fn add(&mut self, latency: Duration) {
        // The bucket whose lower bound is the largest one ≤ latency; below the first bound
        // counts in the first bucket.
        let i = self
            .edges
            .partition_point(|&e| e <= latency)
            .saturating_sub(1);
        self.counts[i] += 1;
        self.total += 1;
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut rows = Vec::with_capacity(self.counts.len());
        for (i, &count) in self.counts.iter().enumerate() {
            let lo = format(self.edges[i]);
            let hi = self
                .edges
                .get(i + 1)
                .map_or("+Inf".to_string(), |&e| format(e));
            let ratio = if self.total == 0 {
                0.0
            } else {
                count as f64 / self.total as f64
            };
            rows.push([
                format!("[{lo},"),
                format!("{hi}]"),
                count.to_string(),
                format!("{:.2}%", ratio * 100.0),
                "#".repeat((ratio * 75.0) as usize),
            ]);
        }
        let header = ["Bucket", "", "#", "%", "Histogram"];
        let mut widths = [0usize; 4];
        for row in std::iter::once(&header.map(str::to_string)).chain(rows.iter()) {
            for (w, cell) in widths.iter_mut().zip(row.iter()) {
                *w = (*w).max(cell.chars().count() + 2);
            }
        }
        let line = |out: &mut dyn Write, row: &[String; 5]| -> io::Result<()> {
            for (cell, w) in row.iter().zip(widths) {
                write!(out, "{cell}{:pad$}", "", pad = w - cell.chars().count())?;
            }
            writeln!(out, "{}", row[4])
        };
        line(out, &header.map(str::to_string))?;
        for row in &rows {
            line(out, row)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_into_buckets() {
        let b = Buckets::parse("[0,1ms,5ms]").unwrap();
        let mut c = b.counter();
        for us in [10, 999, 1000, 4999, 5000, 100_000] {
            c.add(Duration::from_micros(us));
        }
        assert_eq!(c.counts, vec![2, 2, 2]);
        let mut out = Vec::new();
        c.write(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("Bucket"));
        assert!(lines[1].starts_with("[0s,"), "{}", lines[1]);
        assert!(lines[3].contains("+Inf]"), "{}", lines[3]);
        assert!(lines[3].contains("33.33%"), "{}", lines[3]);
        assert!(lines[3].ends_with(&"#".repeat(24)));
    }

    #[test]
    fn rejects_bad_buckets() {
        assert!(Buckets::parse("0,1ms").is_err());
        assert!(Buckets::parse("[5ms,1ms]").is_err());
        assert!(Buckets::parse("[1ms,1ms]").is_err());
        assert!(Buckets::parse("[x]").is_err());
    }
}
