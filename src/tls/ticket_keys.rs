//! `tls-ticket-keys FILE` on a bind line: session tickets sealed with keys an operator
//! keeps in a file, so that several corelb nodes (or a restarted one) resume each other's
//! sessions, and keys rotate by appending a line and reloading.
//!
//! The file is HAProxy's: one base64 key per line, 48 bytes (16 of name, 16 of AES-128
//! key, 16 of HMAC key) or 80 bytes (16, 32, 32: AES-256), all of one size, at least 3.
//! As HAProxy (with its default `TLS_TICKETS_NO` of 3) does, the last 3 keys open tickets
//! and the second to last seals new ones: an appended key is accepted everywhere one
//! reload before it starts sealing.
//!
//! A ticket is laid out as OpenSSL's ticket callback lays it out (RFC 5077 section 4):
//! `key name (16) | IV (16) | AES-CBC(state) | HMAC-SHA256 (32)` over the rest. What it
//! seals is rustls' session state, which OpenSSL cannot read: HAProxy and corelb sharing
//! a file each resume their own sessions only.

use aws_lc_rs::cipher::{
    AES_128, AES_256, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey,
    PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use base64::Engine;
use rustls::server::ProducesTickets;
use std::path::Path;

/// How many of the file's last keys are in use (HAProxy's `TLS_TICKETS_NO`).
pub const KEYS_IN_USE: usize = 3;

struct Key {
    name: [u8; 16],
    /// AES key bytes (16 or 32).
    aes: Vec<u8>,
    hmac: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secrets stay out of debug output.
        f.debug_struct("Key")
            .field("bits", &(self.aes.len() * 8))
            .finish()
    }
}

/// The keys of one file: the last [`KEYS_IN_USE`], the sealing one at `seal`.
#[derive(Debug)]
pub struct TicketKeys {
    keys: Vec<Key>,
    seal: usize,
}

impl TicketKeys {
    /// Reads the file, with HAProxy's errors (the caller adds the bind line and file name).
    pub fn load(path: &Path) -> Result<TicketKeys, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|_| "unable to load ssl tickets keys file".to_string())?;
        TicketKeys::parse(&text)
    }

    /// The keys of the file's text.
    pub fn parse(text: &str) -> Result<TicketKeys, String> {
        let mut raw: Vec<Vec<u8>> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let b64 = line.trim_end_matches('\r');
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| format!("unable to decode base64 key on line {}", n + 1))?;
            let size_ok = matches!(bytes.len(), 48 | 80)
                && raw.first().is_none_or(|first| first.len() == bytes.len());
            if !size_ok {
                return Err(format!("wrong sized key on line {}", n + 1));
            }
            raw.push(bytes);
        }
        if raw.len() < KEYS_IN_USE {
            return Err(format!(
                "please supply at least {KEYS_IN_USE} keys in the tls-tickets-file"
            ));
        }
        let keys: Vec<Key> = raw[raw.len() - KEYS_IN_USE..]
            .iter()
            .map(|b| {
                let half = (b.len() - 16) / 2;
                Key {
                    name: b[..16].try_into().expect("16 bytes"),
                    aes: b[16..16 + half].to_vec(),
                    hmac: hmac::Key::new(hmac::HMAC_SHA256, &b[16 + half..]),
                }
            })
            .collect();
        Ok(TicketKeys {
            // The second to last.
            seal: KEYS_IN_USE - 2,
            keys,
        })
    }

    fn cipher_key(k: &Key) -> Option<UnboundCipherKey> {
        let alg = if k.aes.len() == 32 {
            &AES_256
        } else {
            &AES_128
        };
        UnboundCipherKey::new(alg, &k.aes).ok()
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    /// The lifetime hint; [`super::lifetime::Tickets`] wrapping this one announces
    /// `tune.ssl.lifetime`'s.
    fn lifetime(&self) -> u32 {
        super::lifetime::DEFAULT_SECS
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let k = &self.keys[self.seal];
        let mut iv = [0u8; 16];
        aws_lc_rs::rand::fill(&mut iv).ok()?;
        let sealer = PaddedBlockEncryptingKey::cbc_pkcs7(Self::cipher_key(k)?).ok()?;
        let mut body = plain.to_vec();
        sealer
            .less_safe_encrypt(&mut body, EncryptionContext::Iv128(FixedLength::from(iv)))
            .ok()?;
        let mut out = Vec::with_capacity(32 + body.len() + 32);
        out.extend_from_slice(&k.name);
        out.extend_from_slice(&iv);
        out.extend_from_slice(&body);
        let tag = hmac::sign(&k.hmac, &out);
        out.extend_from_slice(tag.as_ref());
        Some(out)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        // Name, IV, one block at least, the tag.
        if ticket.len() < 16 + 16 + 16 + 32 {
            return None;
        }
        let (sealed, tag) = ticket.split_at(ticket.len() - 32);
        let k = self.keys.iter().find(|k| k.name == sealed[..16])?;
        hmac::verify(&k.hmac, sealed, tag).ok()?;
        let iv: [u8; 16] = sealed[16..32].try_into().ok()?;
        let opener = PaddedBlockDecryptingKey::cbc_pkcs7(Self::cipher_key(k)?).ok()?;
        let mut body = sealed[32..].to_vec();
        let plain = opener
            .decrypt(&mut body, DecryptionContext::Iv128(FixedLength::from(iv)))
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(len: usize, fill: u8) -> String {
        base64::engine::general_purpose::STANDARD.encode(vec![fill; len])
    }

    #[test]
    fn the_second_to_last_key_seals_and_the_last_three_open() {
        let file = |keys: &[u8]| {
            keys.iter()
                .map(|&b| line(48, b))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let old = TicketKeys::parse(&file(&[1, 2, 3])).unwrap();
        let t = old.encrypt(b"session state").unwrap();
        assert_eq!(&t[..16], &[2u8; 16], "the penultimate key's name");
        assert_eq!(old.decrypt(&t).unwrap(), b"session state");
        // One key appended: the ticket still opens; two more: its key is gone.
        assert!(
            TicketKeys::parse(&file(&[1, 2, 3, 4]))
                .unwrap()
                .decrypt(&t)
                .is_some()
        );
        assert!(
            TicketKeys::parse(&file(&[1, 2, 3, 4, 5]))
                .unwrap()
                .decrypt(&t)
                .is_none()
        );
        // A changed byte fails the HMAC.
        let mut bad = t.clone();
        bad[40] ^= 1;
        assert!(old.decrypt(&bad).is_none());
    }

    #[test]
    fn aes256_keys_and_haproxys_errors() {
        let k = TicketKeys::parse(&[line(80, 7), line(80, 8), line(80, 9)].join("\n")).unwrap();
        let t = k.encrypt(&[5u8; 100]).unwrap();
        assert_eq!(k.decrypt(&t).unwrap(), vec![5u8; 100]);
        let e = |s: &str| TicketKeys::parse(s).unwrap_err();
        assert_eq!(
            e(&[line(48, 1), line(48, 2)].join("\n")),
            "please supply at least 3 keys in the tls-tickets-file"
        );
        assert_eq!(
            e(&[line(48, 1), line(80, 2), line(48, 3)].join("\n")),
            "wrong sized key on line 2"
        );
        assert_eq!(e(&line(40, 1)), "wrong sized key on line 1");
        assert_eq!(e("notbase64!!"), "unable to decode base64 key on line 1");
    }
}
