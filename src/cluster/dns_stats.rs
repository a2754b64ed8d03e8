//! Per-nameserver counters of the resolver thread (`dns`), read by `show resolvers` (HAProxy's
//! names and layout). Only the resolver thread writes them; relaxed atomics suffice.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// HAProxy's counter names, in its order.
pub const NAMES: [&str; 15] = [
    "sent",
    "snd_error",
    "valid",
    "update",
    "cname",
    "cname_error",
    "any_err",
    "nx",
    "timeout",
    "refused",
    "other",
    "invalid",
    "too_big",
    "truncated",
    "outdated",
];

/// Indexes into [`NAMES`].
#[derive(Clone, Copy, Debug)]
pub enum Counter {
    Sent = 0,
    SndError = 1,
    Valid = 2,
    Update = 3,
    Cname = 4,
    Nx = 7,
    Timeout = 8,
    Refused = 9,
    Other = 10,
    Invalid = 11,
    Truncated = 13,
    Outdated = 14,
}

#[derive(Debug, Default)]
pub struct Nameserver {
    counts: [AtomicU64; NAMES.len()],
}

impl Nameserver {
    pub fn add(&self, c: Counter) {
        self.counts[c as usize].fetch_add(1, Relaxed);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.counts[c as usize].load(Relaxed)
    }
}

/// The counters of every nameserver of every `resolvers` section of a generation.
#[derive(Debug, Default)]
pub struct Stats {
    /// (section name, [(nameserver id, counters)]), in file order.
    pub sections: Vec<(String, Vec<(String, Nameserver)>)>,
}

impl Stats {
    pub fn new(sections: &[crate::config::resolvers::Resolvers]) -> Stats {
        Stats {
            sections: sections
                .iter()
                .map(|r| {
                    let ns = r
                        .nameservers
                        .iter()
                        .map(|n| (n.id.clone(), Nameserver::default()));
                    (r.name.clone(), ns.collect())
                })
                .collect(),
        }
    }

    /// `show resolvers [id]`, in HAProxy's words.
    pub fn render(&self, only: Option<&str>) -> String {
        if self.sections.is_empty() {
            return "No resolvers found\n".into();
        }
        if only.is_some_and(|o| !self.sections.iter().any(|(n, _)| n == o)) {
            return "Can't find that resolvers section\n".into();
        }
        let mut s = String::new();
        for (name, nss) in self
            .sections
            .iter()
            .filter(|(n, _)| only.is_none_or(|o| o == n))
        {
            let _ = writeln!(s, "Resolvers section {name}");
            for (id, ns) in nss {
                let _ = writeln!(s, " nameserver {id}:");
                for (k, c) in NAMES.iter().zip(&ns.counts) {
                    let _ = writeln!(s, "  {:<13}{}", format!("{k}:"), c.load(Relaxed));
                }
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolvers::{Nameserver as Ns, Resolvers};

    #[test]
    fn renders_haproxys_layout() {
        let loc = crate::config::Loc {
            file: "t".into(),
            line: 1,
        };
        let mut r = Resolvers::new("dns", loc);
        r.nameservers.push(Ns {
            id: "ns1".into(),
            addr: "127.0.0.1:53".parse().unwrap(),
            tcp: false,
        });
        let st = Stats::new(&[r]);
        st.sections[0].1[0].1.add(Counter::Sent);
        st.sections[0].1[0].1.add(Counter::Outdated);
        let out = st.render(None);
        assert!(
            out.starts_with(
                "Resolvers section dns\n nameserver ns1:\n  sent:        1\n  snd_error:   0\n"
            ),
            "{out}"
        );
        assert!(
            out.ends_with("  truncated:   0\n  outdated:    1\n"),
            "{out}"
        );
        assert_eq!(
            st.render(Some("other")),
            "Can't find that resolvers section\n"
        );
        assert_eq!(Stats::default().render(None), "No resolvers found\n");
    }
}
