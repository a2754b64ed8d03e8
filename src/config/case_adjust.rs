//! `h1-case-adjust FROM TO` and `h1-case-adjust-file FILE` (global): the spelling some
//! header names get on HTTP/1 when a proxy has `option h1-case-adjust-bogus-client` (the
//! responses it sends clients) or `option h1-case-adjust-bogus-server` (the requests it
//! sends servers). HAProxy's errors, its typo included ("execpt").

use super::diag::{Diags, Loc};

/// One entry: the lowercase name and its spelling.
type Entry = (Box<[u8]>, Box<[u8]>);

/// The names to respell, sorted by their lowercase form.
#[derive(Clone, Debug, Default)]
pub struct CaseMap {
    entries: Vec<Entry>,
}

impl CaseMap {
    /// The spelling of `name` (any case), if it has one.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        let i = self
            .entries
            .binary_search_by(|(k, _)| {
                let lower = name.iter().map(u8::to_ascii_lowercase);
                k.iter().copied().cmp(lower)
            })
            .ok()?;
        Some(&self.entries[i].1)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one entry; the error in HAProxy's words when it cannot be.
    fn add(&mut self, from: &str, to: &str) -> Result<(), String> {
        if !from.eq_ignore_ascii_case(to) {
            return Err("<from> and <to> must not differ execpt the case".into());
        }
        let key = from.to_ascii_lowercase().into_bytes().into_boxed_slice();
        match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(_) => Err(format!("duplicate entry '{}'", from.to_ascii_lowercase())),
            Err(i) => {
                let to = to.as_bytes().into();
                self.entries.insert(i, (key, to));
                Ok(())
            }
        }
    }
}

/// `h1-case-adjust FROM TO`.
pub fn line(map: &mut CaseMap, w: &[String], loc: &Loc, d: &mut Diags) {
    let (Some(from), Some(to), None) = (w.get(1), w.get(2), w.get(3)) else {
        d.error(loc, "'h1-case-adjust' expects <from> and <to> as argument.");
        return;
    };
    if let Err(e) = map.add(from, to) {
        d.error(loc, e);
    }
}

/// `h1-case-adjust-file FILE` (the last one is read, when the configuration is complete):
/// a `FROM TO` per line; `#` lines and empty lines skipped, blanks around stripped.
pub fn file(map: &mut CaseMap, path: &str, loc: &Loc, d: &mut Diags) {
    let Ok(text) = std::fs::read_to_string(path) else {
        d.error(
            loc,
            format!("h1-headers-case-adjust-file '{path}': failed to open file."),
        );
        return;
    };
    for (n, l) in text.lines().enumerate() {
        let l = l.trim_matches([' ', '\t']);
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (from, to) = match l.split_once([' ', '\t']) {
            Some((f, t)) => (f, t.trim_start_matches([' ', '\t'])),
            None => (l, ""),
        };
        let r = if to.is_empty() {
            Err("expect <to>".to_string())
        } else {
            map.add(from, to)
        };
        if let Err(e) = r {
            let at = n + 1;
            d.error(
                loc,
                format!("h1-headers-case-adjust-file '{path}' : {e} at line {at}."),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_are_found_in_any_case_and_checked_as_haproxy() {
        let mut m = CaseMap::default();
        m.add("content-length", "Content-Length").unwrap();
        m.add("X-Foo", "X-FOO").unwrap();
        assert_eq!(m.get(b"CONTENT-length"), Some(&b"Content-Length"[..]));
        assert_eq!(m.get(b"x-foo"), Some(&b"X-FOO"[..]));
        assert_eq!(m.get(b"x-fo"), None);
        assert!(
            m.add("x-foo", "X-Foo")
                .unwrap_err()
                .contains("duplicate entry 'x-foo'")
        );
        assert!(
            m.add("x-bar", "X-Baz")
                .unwrap_err()
                .contains("execpt the case")
        );
    }
}
