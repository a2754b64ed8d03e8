//! The request rate (`-rate 1000/1s`) and the open-loop schedule derived from it.
//!
//! Request `k` (0-based, counted over all shards) is due at `k * per / freq` after the start,
//! computed exactly in integers so the schedule never drifts, however long the attack runs.
//! Shard `s` of `n` takes the requests `k ≡ s (mod n)`, so the shards together keep the exact
//! aggregate rate and each shard's requests are evenly spread.

use std::time::Duration;

/// A number of requests per time unit; `freq == 0` means "as fast as possible" (closed loop).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub freq: u64,
    pub per: Duration,
}

impl Rate {
    /// vegeta's forms: `50/1s`, `50/s`, `50` (per second), `50/100ms`, `0` or `infinity`.
    pub fn parse(s: &str) -> Result<Rate, String> {
        if s == "infinity" {
            return Ok(Rate {
                freq: 0,
                per: Duration::from_secs(1),
            });
        }
        let (freq, per) = s.split_once('/').unwrap_or((s, "1s"));
        let freq: u64 = freq.trim().parse().map_err(|_| {
            format!("bad rate {s:?}: {freq:?} is not a non-negative whole number (e.g. 1000/1s)")
        })?;
        let per = match per {
            "ns" | "us" | "µs" | "ms" | "s" | "m" | "h" => format!("1{per}"),
            other => other.to_string(),
        };
        let per = crate::duration::parse(&per).map_err(|e| format!("bad rate {s:?}: {e}"))?;
        if freq > 0 && per.is_zero() {
            return Err(format!(
                "bad rate {s:?}: rate frequency and time unit must be bigger than zero"
            ));
        }
        Ok(Rate { freq, per })
    }

    pub fn is_unlimited(&self) -> bool {
        self.freq == 0
    }

    /// When request `k` is due, as an offset from the start of the attack.
    pub fn offset(&self, k: u64) -> Duration {
        let ns = u128::from(k) * self.per.as_nanos() / u128::from(self.freq.max(1));
        Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// How many requests an attack of `duration` sends (`None` = until interrupted).
    /// Like vegeta, `-rate 500/1s -duration 2s` sends exactly 1000.
    pub fn total(&self, duration: Duration) -> Option<u64> {
        if duration.is_zero() {
            return None;
        }
        let n = duration.as_nanos() * u128::from(self.freq) / self.per.as_nanos().max(1);
        Some(u64::try_from(n).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vegeta_rate_forms() {
        let r = |s| Rate::parse(s).unwrap();
        assert_eq!(r("1000/1s").freq, 1000);
        assert_eq!(r("1000/1s").per, Duration::from_secs(1));
        assert_eq!(r("50/s").per, Duration::from_secs(1));
        assert_eq!(r("50").per, Duration::from_secs(1));
        assert_eq!(r("5/100ms").per, Duration::from_millis(100));
        assert_eq!(r("100/m").per, Duration::from_secs(60));
        assert!(r("0").is_unlimited());
        assert!(r("infinity").is_unlimited());
        assert!(Rate::parse("abc").is_err());
        assert!(Rate::parse("-5/1s").is_err());
        assert!(Rate::parse("5/0s").is_err());
        assert!(Rate::parse("5/1x").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn schedule_is_exact_and_does_not_drift() {
        let r = Rate::parse("3/1s").unwrap();
        assert_eq!(r.offset(0), Duration::ZERO);
        assert_eq!(r.offset(1), Duration::from_nanos(333_333_333));
        assert_eq!(r.offset(3), Duration::from_secs(1));
        assert_eq!(r.offset(3_000_000), Duration::from_secs(1_000_000));
    }

    #[test]
    fn total_matches_vegeta() {
        let r = Rate::parse("500/1s").unwrap();
        assert_eq!(r.total(Duration::from_secs(2)), Some(1000));
        assert_eq!(r.total(Duration::ZERO), None);
        let r = Rate::parse("7/100ms").unwrap();
        assert_eq!(r.total(Duration::from_millis(1050)), Some(73));
    }
}
