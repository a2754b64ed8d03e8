//! Go's duration syntax (`time.ParseDuration`, `Duration.String`), because the command line and
//! the text report follow vegeta, which inherits both from Go.

use std::time::Duration;

/// Parses a Go duration such as `500ms`, `2s`, `1m30s`, `1.5h` or `0`.
///
/// Negative durations are refused: no flag of this tool has a use for them.
pub fn parse(s: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {s:?} (expected e.g. 500ms, 2s, 1m30s)");
    let mut rest = s;
    if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    } else if rest.starts_with('-') {
        return Err(format!("negative duration {s:?} is not allowed"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(a) => {
                let n = a.bytes().take_while(u8::is_ascii_digit).count();
                a.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let unit_ns: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("missing unit in duration {s:?} (e.g. 2s, 500ms)")),
            _ => return Err(format!("unknown unit {unit:?} in duration {s:?}")),
        };
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        // Go keeps nanosecond precision: digits past it are dropped.
        let mut frac_ns: u128 = 0;
        let mut scale: u128 = 1;
        for d in frac_part.bytes().take(30) {
            frac_ns = frac_ns * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        total = total
            .checked_add(int.checked_mul(unit_ns).ok_or_else(invalid)?)
            .and_then(|t| t.checked_add(frac_ns * unit_ns / scale))
            .ok_or_else(invalid)?;
        rest = after;
    }
    let ns = u64::try_from(total).map_err(|_| invalid())?;
    Ok(Duration::from_nanos(ns))
}

/// Formats like Go's `Duration.String`: `0s`, `812ns`, `1.5µs`, `3.25ms`, `2.5s`, `1m30s`, `1h0m0s`.
pub fn format(d: Duration) -> String {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    if ns == 0 {
        return "0s".to_string();
    }
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns, 6));
    }
    let secs = ns / 1_000_000_000;
    let sub = ns % 1_000_000_000;
    let s = frac(secs % 60 * 1_000_000_000 + sub, 9);
    let mins = secs / 60;
    if mins == 0 {
        return format!("{s}s");
    }
    let hours = mins / 60;
    if hours == 0 {
        return format!("{}m{s}s", mins % 60);
    }
    format!("{hours}h{}m{s}s", mins % 60)
}

/// `v / 10^prec` in decimal without trailing zeros.
fn frac(v: u64, prec: u32) -> String {
    let p = 10u64.pow(prec);
    let (int, mut f) = (v / p, v % p);
    if f == 0 {
        return int.to_string();
    }
    let mut digits = prec as usize;
    while f % 10 == 0 {
        f /= 10;
        digits -= 1;
    }
    format!("{int}.{f:0digits$}")
}

/// vegeta's text report rounds each duration to the unit below its largest one, so `1.234567ms`
/// prints as `1.235ms` and `14.9961234s` as `14.996s`.
pub fn round_for_report(d: Duration) -> Duration {
    const UNITS: [u64; 6] = [
        3_600_000_000_000,
        60_000_000_000,
        1_000_000_000,
        1_000_000,
        1_000,
        1,
    ];
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    for w in UNITS.windows(2) {
        if ns >= w[0] {
            let m = w[1];
            // Go's Duration.Round: halves away from zero.
            let r = ns % m;
            let down = ns - r;
            let rounded = if r + r < m {
                down
            } else {
                down.saturating_add(m)
            };
            return Duration::from_nanos(rounded);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn parses_go_forms() {
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("500ms").unwrap(), ms(500));
        assert_eq!(parse("2s").unwrap(), ms(2000));
        assert_eq!(parse("1m").unwrap(), ms(60_000));
        assert_eq!(parse("1m30s").unwrap(), ms(90_000));
        assert_eq!(parse("1.5h").unwrap(), ms(5_400_000));
        assert_eq!(parse("250us").unwrap(), Duration::from_micros(250));
        assert_eq!(parse("250µs").unwrap(), Duration::from_micros(250));
        assert_eq!(parse("10ns").unwrap(), Duration::from_nanos(10));
        assert_eq!(parse(".5s").unwrap(), ms(500));
        assert_eq!(parse("+3s").unwrap(), ms(3000));
        assert_eq!(parse("1h2m3s4ms").unwrap(), ms(3_723_004));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in ["", "5", "s", "1x", "-1s", "1..5s", "ms5", "1s2"] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse("5").unwrap_err().contains("missing unit"));
        assert!(parse("3d").unwrap_err().contains("unknown unit \"d\""));
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format(Duration::ZERO), "0s");
        assert_eq!(format(Duration::from_nanos(812)), "812ns");
        assert_eq!(format(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(format(Duration::from_nanos(428_250)), "428.25µs");
        assert_eq!(format(Duration::from_micros(3_250)), "3.25ms");
        assert_eq!(format(ms(2_500)), "2.5s");
        assert_eq!(format(ms(90_000)), "1m30s");
        assert_eq!(format(ms(3_600_000)), "1h0m0s");
        assert_eq!(
            format(Duration::from_nanos(14_996_000_001)),
            "14.996000001s"
        );
    }

    #[test]
    fn rounds_like_vegeta() {
        let r = |ns| format(round_for_report(Duration::from_nanos(ns)));
        assert_eq!(r(1_234_567), "1.235ms");
        assert_eq!(r(14_996_123_456), "14.996s");
        assert_eq!(r(428_250), "428.25µs");
        assert_eq!(r(999), "999ns");
        // Above a minute, to the second, halves away from zero (Go's Duration.Round).
        assert_eq!(r(61_500_000_000), "1m2s");
        assert_eq!(r(61_400_000_000), "1m1s");
    }

    #[test]
    fn round_trips_through_format() {
        for ns in [
            1,
            999,
            1_000,
            1_001,
            123_456_789,
            59_999_999_999,
            3_723_004_000_000,
        ] {
            let d = Duration::from_nanos(ns);
            assert_eq!(parse(&format(d)).unwrap(), d, "{}", format(d));
        }
    }
}
