//! Aggregating results into vegeta's metrics (the JSON report is this, field for field, plus
//! `99.9th`). Latency quantiles come from an HdrHistogram (3 significant digits); min, max, mean
//! and totals are exact.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{Proto, Record};

/// vegeta's `Metrics` JSON. Durations are nanoseconds, as in vegeta.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub latencies: Latencies,
    pub bytes_in: ByteMetrics,
    pub bytes_out: ByteMetrics,
    /// RFC 3339, UTC: the earliest and latest due time, and the latest completion.
    pub earliest: String,
    pub latest: String,
    pub end: String,
    /// `latest − earliest`: how long requests were being sent.
    pub duration: u64,
    /// `end − latest`: how long the last responses took after the last request was sent.
    pub wait: u64,
    pub requests: u64,
    /// Requests per second sent.
    pub rate: f64,
    /// Successful responses per second, over `duration + wait`.
    pub throughput: f64,
    /// Ratio of responses with a status in 200..400.
    pub success: f64,
    pub status_codes: BTreeMap<String, u64>,
    /// Distinct error messages in order of first appearance.
    pub errors: Vec<String>,
    /// Responses (status ≠ 0) per protocol, e.g. `"HTTP/2.0": 1000`: not in vegeta's report,
    /// and left out when every response came over HTTP/1.1 without h2 being offered.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub protocols: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latencies {
    pub total: u64,
    pub mean: u64,
    #[serde(rename = "50th")]
    pub p50: u64,
    #[serde(rename = "90th")]
    pub p90: u64,
    #[serde(rename = "95th")]
    pub p95: u64,
    #[serde(rename = "99th")]
    pub p99: u64,
    #[serde(rename = "99.9th")]
    pub p999: u64,
    pub max: u64,
    pub min: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ByteMetrics {
    pub total: u64,
    pub mean: f64,
}

/// Running totals over a stream of records.
pub struct Metrics {
    hist: Histogram<u64>,
    requests: u64,
    success: u64,
    latency_total: u128,
    min: u64,
    max: u64,
    bytes_in: u64,
    bytes_out: u64,
    earliest: u64,
    latest: u64,
    end: u64,
    status_codes: BTreeMap<u16, u64>,
    /// Error ids (as the decoder numbers them) in order of first appearance.
    error_order: Vec<u32>,
    error_seen: Vec<bool>,
    /// Responses per protocol (`Proto` as the index).
    protocols: [u64; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            // 1 ns to 1 hour at 3 significant digits (≈200 KiB); longer latencies are counted
            // at 1 hour (max stays exact).
            hist: Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
                .expect("valid histogram bounds"),
            requests: 0,
            success: 0,
            latency_total: 0,
            min: u64::MAX,
            max: 0,
            bytes_in: 0,
            bytes_out: 0,
            earliest: u64::MAX,
            latest: 0,
            end: 0,
            status_codes: BTreeMap::new(),
            error_order: Vec::new(),
            error_seen: Vec::new(),
            protocols: [0; 3],
        }
    }

    pub fn add(&mut self, r: &Record) {
        self.requests += 1;
        *self.status_codes.entry(r.status).or_insert(0) += 1;
        self.latency_total += u128::from(r.latency);
        self.min = self.min.min(r.latency);
        self.max = self.max.max(r.latency);
        // Saturating: a stall beyond an hour is recorded at the histogram's top, not dropped.
        self.hist.saturating_record(r.latency.max(1));
        self.bytes_in = self.bytes_in.saturating_add(r.bytes_in);
        self.bytes_out = self.bytes_out.saturating_add(r.bytes_out);
        self.earliest = self.earliest.min(r.timestamp);
        self.latest = self.latest.max(r.timestamp);
        self.end = self.end.max(r.timestamp.saturating_add(r.latency));
        if (200..400).contains(&r.status) {
            self.success += 1;
        }
        if r.status != 0 {
            self.protocols[r.proto as usize] += 1;
        }
        if r.error != 0 {
            let i = r.error as usize;
            if self.error_seen.len() <= i {
                self.error_seen.resize(i + 1, false);
            }
            if !self.error_seen[i] {
                self.error_seen[i] = true;
                self.error_order.push(r.error);
            }
        }
    }

    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// The report; `errors` is the decoder's error table (id − 1 indexes it).
    pub fn report(&self, errors: &[String]) -> Report {
        let n = self.requests;
        let q = |q: f64| {
            if n == 0 {
                0
            } else {
                // HdrHistogram answers with the top of the value's bucket; never above the max.
                self.hist.value_at_quantile(q).min(self.max)
            }
        };
        let (earliest, latest, end) = if n == 0 {
            (0, 0, 0)
        } else {
            (self.earliest, self.latest, self.end)
        };
        let duration = latest - earliest;
        let wait = end.saturating_sub(latest);
        let per_sec = |count: u64, ns: u64| {
            if ns == 0 {
                count as f64
            } else {
                count as f64 / (ns as f64 / 1e9)
            }
        };
        let mean = |total: u64| if n == 0 { 0.0 } else { total as f64 / n as f64 };
        Report {
            latencies: Latencies {
                total: u64::try_from(self.latency_total).unwrap_or(u64::MAX),
                mean: if n == 0 {
                    0
                } else {
                    (self.latency_total / u128::from(n)) as u64
                },
                p50: q(0.50),
                p90: q(0.90),
                p95: q(0.95),
                p99: q(0.99),
                p999: q(0.999),
                max: self.max,
                min: if n == 0 { 0 } else { self.min },
            },
            bytes_in: ByteMetrics {
                total: self.bytes_in,
                mean: mean(self.bytes_in),
            },
            bytes_out: ByteMetrics {
                total: self.bytes_out,
                mean: mean(self.bytes_out),
            },
            earliest: rfc3339(earliest),
            latest: rfc3339(latest),
            end: rfc3339(end),
            duration,
            wait,
            requests: n,
            rate: per_sec(n, duration),
            throughput: per_sec(self.success, duration + wait),
            success: if n == 0 {
                0.0
            } else {
                self.success as f64 / n as f64
            },
            status_codes: self
                .status_codes
                .iter()
                .map(|(code, count)| (code.to_string(), *count))
                .collect(),
            errors: self
                .error_order
                .iter()
                .filter_map(|&id| errors.get(id as usize - 1).cloned())
                .collect(),
            // Plain HTTP/1.1 runs keep vegeta's report as it was.
            protocols: if self.protocols[Proto::Http2 as usize] == 0
                && self.protocols[Proto::Http1Fallback as usize] == 0
            {
                BTreeMap::new()
            } else {
                [Proto::Http1, Proto::Http2, Proto::Http1Fallback]
                    .into_iter()
                    .filter(|&p| self.protocols[p as usize] > 0)
                    .map(|p| (p.label().to_string(), self.protocols[p as usize]))
                    .collect()
            },
        }
    }
}

pub fn rfc3339(unix_ns: u64) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(unix_ns)).to_string()
}

/// Nanoseconds since the Unix epoch.
pub fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ts_ms: u64, latency_us: u64, status: u16, error: u32) -> Record {
        Record {
            timestamp: 1_700_000_000_000_000_000 + ts_ms * 1_000_000,
            latency: latency_us * 1_000,
            status,
            bytes_out: 10,
            bytes_in: if status == 200 { 64 } else { 0 },
            error,
            ..Default::default()
        }
    }

    #[test]
    fn computes_vegeta_metrics() {
        let mut m = Metrics::new();
        // 1000 requests over 999 ms, latencies 1..=1000 µs; 10 of them failed.
        for i in 0..1000u64 {
            let failed = i % 100 == 99;
            m.add(&rec(
                i,
                i + 1,
                if failed { 0 } else { 200 },
                u32::from(failed),
            ));
        }
        let r = m.report(&["connection refused".to_string()]);
        assert_eq!(r.requests, 1000);
        assert_eq!(r.duration, 999_000_000);
        // The last one is due at 999 ms and takes 1000 µs.
        assert_eq!(r.wait, 1_000_000);
        assert!((r.rate - 1000.0 / 0.999).abs() < 1e-9);
        assert!((r.throughput - 990.0).abs() < 1e-9);
        assert!((r.success - 0.99).abs() < 1e-12);
        assert_eq!(r.latencies.min, 1_000);
        assert_eq!(r.latencies.max, 1_000_000);
        assert_eq!(r.latencies.mean, 500_500);
        // 3 significant digits.
        let close = |got: u64, want: u64| (got as f64 - want as f64).abs() / (want as f64) < 0.002;
        assert!(close(r.latencies.p50, 500_000), "{}", r.latencies.p50);
        assert!(close(r.latencies.p90, 900_000), "{}", r.latencies.p90);
        assert!(close(r.latencies.p99, 990_000), "{}", r.latencies.p99);
        assert!(close(r.latencies.p999, 999_000), "{}", r.latencies.p999);
        assert_eq!(r.status_codes.get("200"), Some(&990));
        assert_eq!(r.status_codes.get("0"), Some(&10));
        assert_eq!(r.errors, vec!["connection refused"]);
        assert_eq!(r.bytes_in.total, 990 * 64);
        assert_eq!(r.bytes_out.total, 10_000);
        assert_eq!(r.earliest, "2023-11-14T22:13:20.000000000Z");
    }

    #[test]
    fn json_round_trips() {
        let mut m = Metrics::new();
        for i in 0..100 {
            m.add(&rec(
                i * 7,
                100 + i * i,
                if i % 3 == 0 { 503 } else { 200 },
                0,
            ));
        }
        let r = m.report(&[]);
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for key in [
            "50th", "90th", "95th", "99th", "99.9th", "max", "min", "mean",
        ] {
            assert!(v["latencies"][key].is_u64(), "{key}");
        }
        assert_eq!(v["status_codes"]["503"], 34);
    }

    #[test]
    fn protocols_are_counted_only_when_h2_was_involved() {
        let mut m = Metrics::new();
        m.add(&rec(0, 1, 200, 0));
        assert!(m.report(&[]).protocols.is_empty());
        let json = serde_json::to_value(m.report(&[])).unwrap();
        assert!(json.get("protocols").is_none(), "{json}");
        for (proto, status) in [
            (Proto::Http2, 200),
            (Proto::Http2, 503),
            (Proto::Http2, 0), // no response: no protocol
            (Proto::Http1Fallback, 200),
        ] {
            m.add(&Record {
                proto,
                ..rec(1, 1, status, 0)
            });
        }
        let r = m.report(&[]);
        assert_eq!(r.protocols.len(), 3, "{:?}", r.protocols);
        assert_eq!(r.protocols["HTTP/1.1"], 1);
        assert_eq!(r.protocols["HTTP/2.0"], 2);
        assert_eq!(r.protocols["HTTP/1.1 (h2 not negotiated)"], 1);
    }

    #[test]
    fn empty_input_reports_zeros() {
        let r = Metrics::new().report(&[]);
        assert_eq!(r.requests, 0);
        assert_eq!(r.latencies.p99, 0);
        assert_eq!(r.success, 0.0);
        serde_json::to_string(&r).unwrap();
    }
}
