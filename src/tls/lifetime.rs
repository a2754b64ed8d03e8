//! `tune.ssl.lifetime`: how long a TLS session may be resumed, from a session ticket or from
//! the session cache. rustls' ticketer rotates its keys every 6 hours and its memory cache
//! keeps entries until they are pushed out, neither by age; both are wrapped here so that a
//! ticket or cache entry carries the time it was made and is refused once older than the
//! lifetime, which is also the lifetime hint the tickets announce (as OpenSSL's session
//! timeout is, in HAProxy).
//!
//! What it costs: 8 bytes in each ticket and cache entry, and one clock read when a session
//! is issued or resumed; nothing per request.

use std::sync::Arc;

use rustls::server::{ProducesTickets, StoresServerSessions};

/// OpenSSL's default session timeout, what HAProxy 2.6 uses without `tune.ssl.lifetime`.
pub const DEFAULT_SECS: u32 = 7200;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `stamp || value`, for the age check of [`unstamp`].
fn stamp(value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + value.len());
    v.extend_from_slice(&now().to_be_bytes());
    v.extend_from_slice(value);
    v
}

/// The value of a stamped one made less than `lifetime` seconds ago.
fn unstamp(mut v: Vec<u8>, lifetime: u32) -> Option<Vec<u8>> {
    let made = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    if now().saturating_sub(made) >= u64::from(lifetime) {
        return None;
    }
    v.drain(..8);
    Some(v)
}

/// Session tickets that expire after the lifetime.
#[derive(Debug)]
pub struct Tickets {
    inner: Arc<dyn ProducesTickets>,
    lifetime: u32,
}

impl Tickets {
    pub fn new(inner: Arc<dyn ProducesTickets>, lifetime: u32) -> Arc<Tickets> {
        Arc::new(Tickets { inner, lifetime })
    }
}

impl ProducesTickets for Tickets {
    fn enabled(&self) -> bool {
        self.inner.enabled()
    }

    fn lifetime(&self) -> u32 {
        self.lifetime
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(&stamp(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.decrypt(cipher)?, self.lifetime)
    }
}

/// A session cache whose entries expire after the lifetime.
#[derive(Debug)]
pub struct Cache {
    inner: Arc<dyn StoresServerSessions>,
    lifetime: u32,
}

impl Cache {
    pub fn new(inner: Arc<dyn StoresServerSessions>, lifetime: u32) -> Arc<Cache> {
        Arc::new(Cache { inner, lifetime })
    }
}

impl StoresServerSessions for Cache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, stamp(&value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.get(key)?, self.lifetime)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        unstamp(self.inner.take(key)?, self.lifetime)
    }

    fn can_cache(&self) -> bool {
        self.inner.can_cache()
    }
}

/// `tune.ssl.lifetime`'s value: seconds, or a time with a unit (`us ms s m h d`), as
/// HAProxy's `parse_time_err` in seconds reads it.
pub fn parse(v: &str) -> Result<u32, String> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(
            "'tune.ssl.lifetime' expects ssl sessions <lifetime> in seconds as argument.".into(),
        );
    }
    let n: u64 = v[..digits]
        .parse()
        .map_err(|_| format!("timer overflow in argument <{v}> to <tune.ssl.lifetime> (maximum value is 2147483647 s or ~68 years)."))?;
    let ms_per = match &v[digits..] {
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "ms" => 1,
        "us" => 0,
        rest => {
            return Err(format!(
                "unexpected character '{}' in argument to <tune.ssl.lifetime>.",
                rest.chars().next().unwrap_or('?')
            ));
        }
    };
    let secs = n.saturating_mul(ms_per) / 1000;
    u32::try_from(secs)
        .ok()
        .filter(|&s| s <= i32::MAX as u32)
        .ok_or_else(|| format!("timer overflow in argument <{v}> to <tune.ssl.lifetime> (maximum value is 2147483647 s or ~68 years)."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_values_expire() {
        let v = stamp(b"abc");
        assert_eq!(unstamp(v.clone(), 10).as_deref(), Some(&b"abc"[..]));
        assert_eq!(unstamp(v, 0), None);
        let mut old = stamp(b"x");
        old[..8].copy_from_slice(&(now() - 11).to_be_bytes());
        assert_eq!(unstamp(old, 10), None);
        assert_eq!(unstamp(vec![1, 2], 10), None);
    }

    #[test]
    fn lifetimes_parse_as_haproxy() {
        assert_eq!(parse("300"), Ok(300));
        assert_eq!(parse("5m"), Ok(300));
        assert_eq!(parse("2h"), Ok(7200));
        assert_eq!(parse("1500ms"), Ok(1));
        assert!(
            parse("1x")
                .unwrap_err()
                .contains("unexpected character 'x'")
        );
        assert!(parse("").is_err());
    }
}
