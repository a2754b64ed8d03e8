//! HAProxy's value syntaxes: times (`us ms s m h d`, bare numbers in a default unit), sizes
//! (`k m g`, binary), and plain integers. Errors are messages meant to follow the keyword.

use std::time::Duration;

/// Parses a time such as `5s`, `100ms`, `2m`, `1h`, `3d`, `250us` or a bare number expressed in
/// `default_unit` (milliseconds for timeouts).
pub fn parse_time(s: &str, default_unit: Duration) -> Result<Duration, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "'{s}' is not a valid time (expected a number with an optional unit us, ms, s, m, h or d)"
        ));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("time '{s}' is too large"))?;
    let unit = match &s[digits..] {
        "" => default_unit,
        "us" => Duration::from_micros(1),
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86400),
        other => {
            return Err(format!(
                "unexpected character '{}' in time '{s}' (units are us, ms, s, m, h, d)",
                other.chars().next().unwrap_or('?')
            ));
        }
    };
    let nanos = (unit.as_nanos())
        .checked_mul(n as u128)
        .filter(|&v| v < (i32::MAX as u128) * 1_000_000)
        .ok_or_else(|| {
            format!("time '{s}' is too large (the limit is about 24 days, as in HAProxy)")
        })?;
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a size such as `16384`, `16k`, `1m`, `2g` (binary multiples, as HAProxy).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "'{s}' is not a valid size (expected a number with an optional k, m or g suffix)"
        ));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("size '{s}' is too large"))?;
    let mult: u64 = match &s[digits..] {
        "" => 1,
        "k" | "K" => 1 << 10,
        "m" | "M" => 1 << 20,
        "g" | "G" => 1 << 30,
        other => {
            return Err(format!(
                "unexpected suffix '{other}' in size '{s}' (k, m or g expected)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' is too large"))
}

/// Parses an unsigned decimal integer within `[min, max]`.
pub fn parse_uint(s: &str, min: u64, max: u64) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a valid number"));
    }
    let v: u64 = s
        .parse()
        .map_err(|_| format!("'{s}' is out of range ({min}..{max})"))?;
    if v < min || v > max {
        return Err(format!("'{s}' is out of range ({min}..{max})"));
    }
    Ok(v)
}

/// C's `atol`: leading blanks, a sign, then decimal digits up to the first other byte (0
/// when there is none), saturating instead of overflowing.
pub fn atol(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { -v } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;
    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn times() {
        assert_eq!(parse_time("5000", MS), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("5s", MS), Ok(Duration::from_secs(5)));
        assert_eq!(parse_time("250us", MS), Ok(Duration::from_micros(250)));
        assert_eq!(parse_time("100ms", MS), Ok(Duration::from_millis(100)));
        assert_eq!(parse_time("2m", MS), Ok(Duration::from_secs(120)));
        assert_eq!(parse_time("1h", MS), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_time("1d", MS), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_time("0", MS), Ok(Duration::ZERO));
        assert!(
            parse_time("5x", MS)
                .unwrap_err()
                .contains("unexpected character 'x'")
        );
        assert!(parse_time("s", MS).is_err());
        assert!(parse_time("-5s", MS).is_err());
        assert!(parse_time("30d", MS).unwrap_err().contains("too large"));
        assert!(parse_time("99999999999999999999999", MS).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16k"), Ok(16384));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("1t").is_err());
        assert!(parse_size("k").is_err());
    }

    #[test]
    fn uints() {
        assert_eq!(parse_uint("42", 0, 100), Ok(42));
        assert!(parse_uint("101", 0, 100).is_err());
        assert!(parse_uint("1x", 0, 100).is_err());
        assert!(parse_uint("-1", 0, 100).is_err());
        assert!(parse_uint("", 0, 100).is_err());
    }
}
