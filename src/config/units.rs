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

/// What C's `strtol` read from a prefix (see [`strtol`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CLong {
    /// The value, held at `i64::MIN`/`i64::MAX` when it overflows, as C holds it at
    /// `LONG_MIN`/`LONG_MAX`.
    pub value: i64,
    /// The bytes read (C's `end - s`).
    pub used: usize,
    /// C's `ERANGE`.
    pub overflow: bool,
}

/// C's `strtol(s, &end, base)`, which HAProxy uses to read numbers on its CLI and in
/// conditions (`atoi` and `strtoul` are built on it below their callers): leading blanks,
/// an optional sign, then digits of `base` (10, 16 or 8; 0 reads `0x` as hex, a leading
/// `0` as octal, else decimal). None when no digit was read.
pub fn strtol(s: &[u8], base: u32) -> Option<CLong> {
    let mut i = s
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let hex_prefix = s[i..].starts_with(b"0x") || s[i..].starts_with(b"0X");
    // A `0x` with no hex digit after it is the number 0 followed by `x`, as in C.
    let hex_prefix = hex_prefix && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
    let radix = match base {
        0 if hex_prefix => 16,
        0 if s.get(i) == Some(&b'0') => 8,
        0 => 10,
        b => b,
    };
    if radix == 16 && hex_prefix {
        i += 2;
    }
    let start = i;
    // Accumulated as a magnitude: LONG_MIN's is one more than LONG_MAX's.
    let limit = if neg { 1u64 << 63 } else { i64::MAX as u64 };
    let (mut v, mut overflow) = (0u64, false);
    while let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(radix)) {
        match v
            .checked_mul(radix as u64)
            .and_then(|v| v.checked_add(d as u64))
        {
            Some(n) if n <= limit => v = n,
            _ => overflow = true,
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    let value = match (overflow, neg) {
        (true, true) => i64::MIN,
        (true, false) => i64::MAX,
        (false, true) => (v as i64).wrapping_neg(),
        (false, false) => v as i64,
    };
    Some(CLong {
        value,
        used: i,
        overflow,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_reads_as_c_does() {
        let r = |s: &str, b| strtol(s.as_bytes(), b).map(|c| (c.value, c.used, c.overflow));
        assert_eq!(r(" \t-12x", 10), Some((-12, 5, false)));
        assert_eq!(r("+7", 10), Some((7, 2, false)));
        assert_eq!(r("0x1f", 0), Some((31, 4, false)));
        assert_eq!(r("0x", 0), Some((0, 1, false)));
        assert_eq!(r("017", 0), Some((15, 3, false)));
        assert_eq!(r("017", 10), Some((17, 3, false)));
        assert_eq!(r("x", 10), None);
        assert_eq!(r("-", 10), None);
        assert_eq!(r("", 0), None);
        assert_eq!(r("9223372036854775807", 10), Some((i64::MAX, 19, false)));
        assert_eq!(r("9223372036854775808", 10), Some((i64::MAX, 19, true)));
        assert_eq!(r("-9223372036854775808", 10), Some((i64::MIN, 20, false)));
        assert_eq!(r("-99999999999999999999", 10), Some((i64::MIN, 21, true)));
    }

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
