//! `userlist` sections and the fetches that check a request's credentials against one
//! (`http_auth(L)`, `http_auth_group(L)`, `http_auth_user`, `http_auth_pass`,
//! `http_auth_type`), as HAProxy 2.6 defines them (src/auth.c, src/http_fetch.c).
//!
//! A fetch names its userlist before the parser may have read it (HAProxy resolves the name
//! after the whole configuration). The fetch holds a [`UserlistRef`]: a name and a slot the
//! configuration parser fills once every section is read ([`take_refs`] hands it the slots
//! made while it parsed). After that the slots are read-only: nothing here is shared
//! mutably between shards.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use super::Sample;

/// One `user` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub password: Password,
    /// The user's groups (from `user ... groups` and `group ... users`), by name.
    pub groups: Vec<String>,
}

/// How a user's password is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    /// `insecure-password`: compared as it is.
    Clear(String),
    /// `password`: a crypt(3) hash (`$1$`, `$5$`, `$6$`, `$2a$/$2b$/$2y$`, DES).
    Crypt(String),
    /// No password given: nobody logs in as this user.
    None,
}

/// A `userlist` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Userlist {
    pub name: String,
    pub users: Vec<User>,
    /// Declared groups, by name.
    pub groups: Vec<String>,
}

impl Userlist {
    /// HAProxy's `check_user`: the user exists and `pass` is its password. A crypt hash is
    /// computed on every call (HAProxy caches nothing either); callers evaluate it only when
    /// a rule's condition asks.
    pub fn check(&self, user: &[u8], pass: &[u8]) -> Option<&User> {
        let u = self.users.iter().find(|u| u.name.as_bytes() == user)?;
        let ok = match &u.password {
            Password::Clear(p) => {
                use subtle::ConstantTimeEq;
                bool::from(p.as_bytes().ct_eq(pass))
            }
            Password::Crypt(h) => match std::str::from_utf8(pass) {
                Ok(p) => pwhash::unix::verify(p, h),
                Err(_) => false,
            },
            Password::None => false,
        };
        ok.then_some(u)
    }
}

/// Whether a crypt(3) hash is in a format corelb can verify: `pwhash` hashes a password
/// with the hash as its setting only for a format it knows (`unix::verify` would just say
/// false for the others).
pub fn hash_supported(hash: &str) -> bool {
    pwhash::unix::crypt("probe", hash).is_ok()
}

/// A userlist named by a fetch, filled after the configuration is read.
#[derive(Clone, Debug)]
pub struct UserlistRef {
    pub name: Box<str>,
    pub list: Arc<OnceLock<Arc<Userlist>>>,
}

impl PartialEq for UserlistRef {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name
    }
}
impl Eq for UserlistRef {}

thread_local! {
    /// Slots made by fetches since the last [`take_refs`] (the parser runs on one thread).
    static REFS: RefCell<Vec<UserlistRef>> = const { RefCell::new(Vec::new()) };
}

impl UserlistRef {
    pub(crate) fn new(name: &str) -> UserlistRef {
        let r = UserlistRef {
            name: name.into(),
            list: Arc::new(OnceLock::new()),
        };
        REFS.with(|v| v.borrow_mut().push(r.clone()));
        r
    }
}

/// The userlist slots fetches made since the last call, for the parser to fill (and to
/// report an unknown name at the line that used it).
pub fn take_refs() -> Vec<UserlistRef> {
    REFS.with(|v| std::mem::take(&mut *v.borrow_mut()))
}

/// What an `Authorization` header carries (HAProxy's `get_http_auth`).
pub(crate) enum Credentials {
    Basic(Vec<u8>, Vec<u8>),
    Bearer,
}

/// The first `Authorization` field, parsed: `None` when absent or malformed.
pub(crate) fn credentials(s: &dyn Sample) -> Option<Credentials> {
    let mut found: Option<Vec<u8>> = None;
    s.for_each_header(b"authorization", &mut |v| {
        found = Some(v.to_vec());
        false
    });
    let v = found?;
    let sp = memchr::memchr(b' ', &v).filter(|&i| i > 0)?;
    let (method, rest) = (&v[..sp], v[sp..].trim_ascii_start());
    if method.eq_ignore_ascii_case(b"basic") {
        use base64::Engine as _;
        let dec = base64::engine::general_purpose::STANDARD
            .decode(rest.trim_ascii_end())
            .ok()?;
        let c = memchr::memchr(b':', &dec)?;
        Some(Credentials::Basic(dec[..c].to_vec(), dec[c + 1..].to_vec()))
    } else if method.eq_ignore_ascii_case(b"bearer") {
        Some(Credentials::Bearer)
    } else {
        // Digest and the others: HAProxy does not parse them either.
        None
    }
}

/// The authenticated user of `s` in list `r` (a valid Basic user and password), if any.
pub(crate) fn authenticated<'a>(r: &'a UserlistRef, s: &dyn Sample) -> Option<&'a User> {
    let list = r.list.get()?;
    match credentials(s)? {
        Credentials::Basic(u, p) => list.check(&u, &p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> Userlist {
        Userlist {
            name: "L".into(),
            groups: vec!["G1".into()],
            users: vec![
                User {
                    name: "scott".into(),
                    password: Password::Clear("elgato".into()),
                    groups: vec!["G1".into()],
                },
                User {
                    name: "tiger".into(),
                    // `openssl passwd -6 -salt k6y3o.eP secret`
                    password: Password::Crypt(
                        "$6$k6y3o.eP$PBB.tfeKmQRT5Xl/drYaLsOKR8cBcdOOeaq7JYq7eJWgGHSNlC/M/GdNHKlBiA17WQ1tWOULAGr76LPTfQgB5."
                            .into(),
                    ),
                    groups: vec![],
                },
            ],
        }
    }

    #[test]
    fn clear_and_crypt_passwords() {
        let l = list();
        assert!(l.check(b"scott", b"elgato").is_some());
        assert!(l.check(b"scott", b"elgat").is_none());
        assert!(l.check(b"nobody", b"elgato").is_none());
        assert!(l.check(b"tiger", b"secret").is_some());
        assert!(l.check(b"tiger", b"Secret").is_none());
    }

    /// Hashes made by `openssl passwd -1/-5` and libxcrypt's bcrypt, all of "secret".
    #[test]
    fn hash_formats() {
        for h in [
            "$1$abc$iCQ2D3nhptRYi27fDYv2s1",
            "$5$abcdefgh$gruCpC7VkOTspMQTTSAR8mtlO9Upms.fwqE5y16JVM.",
            "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
            "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a",
        ] {
            assert!(hash_supported(h), "{h}");
            let mut l = list();
            l.users[1].password = Password::Crypt(h.into());
            assert!(l.check(b"tiger", b"secret").is_some(), "{h}");
            assert!(l.check(b"tiger", b"secreT").is_none(), "{h}");
        }
        assert!(!hash_supported("$y$j9T$abc$def"));
    }
}
