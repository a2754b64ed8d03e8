//! What the response body passes through on its way to the client: the cache's copy
//! ([`super::cache::Capture`]), then compression ([`super::compress::Encoder`]), in HAProxy's
//! filter order (a cache filter always runs before the compression filter).

use super::cache::Capture;
use super::compress::Encoder;
use crate::h1::ResponseHead;

/// A response's fields called `name` (any case) as (name, value), merged duplicates left out:
/// what both filters decide on.
pub fn fields_named<'b>(
    res: &'b ResponseHead,
    buf: &'b [u8],
    name: &'static [u8],
) -> impl Iterator<Item = (&'b [u8], &'b [u8])> + 'b {
    res.headers()
        .iter()
        .filter(|h| !h.dropped)
        .map(move |h| (h.name(buf), h.value(buf)))
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
}

/// The response's body filters; both `None` for a body forwarded as it came.
#[derive(Default)]
pub struct BodyFilters {
    pub store: Option<Capture>,
    pub comp: Option<Encoder>,
}

impl BodyFilters {
    /// Whether some filter needs the body's data (de-chunked).
    pub fn active(&self) -> bool {
        self.store.is_some() || self.comp.is_some()
    }

    /// Body data, as received (without chunk framing).
    pub fn data(&mut self, d: &[u8]) {
        if let Some(c) = &mut self.store {
            c.data(d);
        }
        if let Some(e) = &mut self.comp {
            e.write(d);
        }
    }
}
