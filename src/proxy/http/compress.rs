//! HTTP compression of responses: `compression algo|type|offload` and `filter compression`, as
//! HAProxy 2.6's src/flt_http_comp.c decides and rewrites.
//!
//! - On the request ([`negotiate`], `select_compression_request_header`): the client's
//!   Accept-Encoding picks the algorithm (the token with the highest q-value that a configured
//!   algorithm answers to; `*` takes the preferred one; `identity` is implicit when
//!   configured), unless the User-Agent is an old `Mozilla/4` one; `offload` then hides the
//!   field from the server.
//! - On the response ([`response_ok`], `select_compression_response_header`): both messages
//!   HTTP/1.1 (HTTP/2 streams reach the exchange as 1.1), not HEAD, status 200–203, a body of
//!   known length (Content-Length above 0, or chunked), no Content-Encoding, no `Cache-Control:
//!   no-transform`, at most one well-formed ETag, not multipart and of a listed type (when
//!   types are listed, a response without Content-Type is left alone).
//! - The head ([`rewrite_head`], `set_compression_response_header`): Content-Length goes,
//!   the body is chunked, a strong ETag becomes weak, `Content-Encoding` (not for identity)
//!   and `Vary: Accept-Encoding` are added.
//! - The body ([`Encoder`]): compressed as it arrives, each read flushed (a sync flush, as
//!   HAProxy flushes each payload call) into one chunk, so nothing is held back and the memory
//!   of a stream is the deflate state plus one read's output. The level is
//!   `tune.comp.maxlevel` (1 by default, as HAProxy's).
//! - Memory ([`Encoder::new`]): with `maxzlibmem`, each compressing stream is charged what
//!   zlib allocates for one (HAProxy counts zlib's allocations), and a response that would
//!   go past the limit is sent as it is, uncompressed, until streams end and free theirs.
//!   The charge is process-wide (one atomic add when a response starts compressing).
//!
//! A cache hit is compressed the same way, whole ([`whole_answer`]).
//!
//! The backend's algorithms and types win over the frontend's when it has any; `offload` of
//! either applies. Trailers of a chunked server answer are not forwarded when the body is
//! compressed.

use crate::config::filters::{CompAlgo, Compression};
use crate::h1::{
    HeadLimits, Method, Parsed, RequestHead, ResponseHead, Version, parse_response, split_list,
};
use flate2::Compression as Level;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use std::io::Write;

/// What zlib allocates for one deflate stream at HAProxy's settings (windowBits 15,
/// memLevel 8): `(1 << (15 + 2)) + (1 << (8 + 9))` plus its state (~5.8 KB, `deflate_state`
/// on 64-bit). HAProxy's `maxzlibmem` counts these allocations.
pub const ZLIB_STREAM_BYTES: u64 = (1 << 17) + (1 << 17) + 5_828;

/// Bytes charged to the streams compressing now, in the whole process.
static ZLIB_USED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The memory charged to the streams compressing now under a `maxzlibmem`.
pub fn zlib_used() -> u64 {
    ZLIB_USED.load(std::sync::atomic::Ordering::Relaxed)
}

/// One stream's share of `maxzlibmem`, given back when the stream ends.
struct Charge;

impl Charge {
    /// Takes a stream's share if `limit` allows it. Without a limit (0) nothing is counted
    /// (nor touched: no shared atomic on the path).
    fn take(limit: u64) -> Option<Option<Charge>> {
        use std::sync::atomic::Ordering::Relaxed;
        if limit == 0 {
            return Some(None);
        }
        let took = ZLIB_USED.fetch_update(Relaxed, Relaxed, |used| {
            let next = used + ZLIB_STREAM_BYTES;
            (next <= limit).then_some(next)
        });
        took.ok().map(|_| Some(Charge))
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        ZLIB_USED.fetch_sub(ZLIB_STREAM_BYTES, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `tune.comp.maxlevel` and `maxzlibmem` (bytes; 0: no limit).
#[derive(Clone, Copy, Debug)]
pub struct Tune {
    pub level: u32,
    pub maxzlibmem: u64,
}

impl Tune {
    pub fn of(g: &crate::config::Global) -> Tune {
        Tune {
            level: g.comp_maxlevel,
            maxzlibmem: g.maxzlibmem,
        }
    }
}

/// What applies to a request: the backend's settings, else the frontend's (HAProxy's
/// priority, setting by setting).
#[derive(Clone, Copy)]
pub struct Settings<'a> {
    algos: &'a [CompAlgo],
    types: &'a [String],
    offload: bool,
}

impl<'a> Settings<'a> {
    /// `compression offload`: the server must not see Accept-Encoding once an algorithm is
    /// chosen (HAProxy removes it only then).
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// None when neither proxy compresses.
    pub fn of(fe: Option<&'a Compression>, be: Option<&'a Compression>) -> Option<Settings<'a>> {
        if fe.is_none() && be.is_none() {
            return None;
        }
        let pick = |f: fn(&'a Compression) -> bool| be.filter(|c| f(c)).or(fe);
        Some(Settings {
            algos: pick(|c| !c.algos.is_empty()).map_or(&[], |c| &c.algos),
            types: pick(|c| !c.types.is_empty()).map_or(&[], |c| &c.types),
            offload: be.is_some_and(|c| c.offload) || fe.is_some_and(|c| c.offload),
        })
    }
}

/// The algorithm for this request, if any. `fields` are the request's fields as the rules
/// left them. With an algorithm and [`Settings::offload`], the caller removes Accept-Encoding.
pub fn negotiate<'f>(
    s: &Settings<'_>,
    fields: impl Iterator<Item = (&'f [u8], &'f [u8])> + Clone,
) -> Option<CompAlgo> {
    if let Some((_, ua)) = fields
        .clone()
        .find(|(n, _)| n.eq_ignore_ascii_case(b"user-agent"))
        && old_mozilla(ua)
    {
        return None;
    }
    let mut best: Option<(CompAlgo, u32)> = None;
    for (_, v) in fields
        .clone()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"accept-encoding"))
    {
        for item in split_list(v).filter(|i| !i.is_empty()) {
            let tok_len = item.iter().take_while(|&&b| is_token(b)).count();
            let (tok, params) = item.split_at(tok_len);
            let q = qvalue(params);
            if q <= best.map_or(0, |b| b.1) {
                continue;
            }
            if let Some(&a) = s
                .algos
                .iter()
                .find(|a| item.starts_with(b"*") || tok.eq_ignore_ascii_case(a.token().as_bytes()))
            {
                best = Some((a, q));
            }
        }
    }
    match best {
        Some((a, _)) => Some(a),
        // identity needs no header.
        None => s.algos.iter().copied().find(|&a| a == CompAlgo::Identity),
    }
}

/// HAProxy's list of user agents that mishandle compressed answers: "Mozilla/4" unless MSIE 6
/// SV1 or MSIE 7 and later.
fn old_mozilla(ua: &[u8]) -> bool {
    ua.starts_with(b"Mozilla/4")
        && (ua.len() < 31
            || &ua[25..30] != b"MSIE "
            || ua[30] < b'6'
            || (ua[30] == b'6' && (ua.len() < 54 || &ua[51..54] != b"SV1")))
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The `q=` parameter after a token, in thousandths (HAProxy's `http_parse_qvalue`); 1000
/// without one.
fn qvalue(params: &[u8]) -> u32 {
    for p in params.split(|&b| b == b';').skip(1) {
        let p = p.trim_ascii();
        let Some(v) = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q=")) else {
            continue;
        };
        return match v.split_first() {
            Some((b'1', _)) => 1000,
            Some((b'0', rest)) => {
                let digits = rest.strip_prefix(b".").unwrap_or_default();
                let mut q = 0;
                for (i, &d) in digits.iter().take(3).enumerate() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    q += u32::from(d - b'0') * [100, 10, 1][i];
                }
                q
            }
            _ => 0,
        };
    }
    1000
}

/// Whether the response may be compressed (the request chose an algorithm already).
pub fn response_ok(s: &Settings<'_>, req: &RequestHead, res: &ResponseHead, buf: &[u8]) -> bool {
    use crate::h1::BodyKind;
    if req.version() != Version::Http11 || res.version() != Version::Http11 {
        return false;
    }
    if req.method() == Method::Head || !(200..=203).contains(&res.status()) {
        return false;
    }
    // A known length (HAProxy's XFER_LEN), and a body: `Content-Length: 0` is body-less.
    if !matches!(
        res.body_kind(req.method()),
        BodyKind::ContentLength(1..) | BodyKind::Chunked
    ) {
        return false;
    }
    let named = |name: &'static [u8]| super::filters::fields_named(res, buf, name);
    if named(b"content-encoding").next().is_some() {
        return false;
    }
    if named(b"cache-control")
        .any(|(_, v)| split_list(v).any(|t| t.eq_ignore_ascii_case(b"no-transform")))
    {
        return false;
    }
    let mut etags = named(b"etag");
    if etags.next().is_some_and(|(_, v)| !etag_valid(v)) || etags.next().is_some() {
        return false;
    }
    match named(b"content-type").next() {
        Some((_, ct)) => {
            let has_prefix =
                |p: &[u8]| ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
            !has_prefix(b"multipart")
                && (s.types.is_empty() || s.types.iter().any(|t| has_prefix(t.as_bytes())))
        }
        None => s.types.is_empty(),
    }
}

/// `"…"` or `W/"…"` (HAProxy's `http_get_etag_type` other than invalid).
fn etag_valid(v: &[u8]) -> bool {
    let v = v.strip_prefix(b"W/").unwrap_or(v);
    v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"'
}

/// Rewrites a serialized response head (status line to the empty line, CRLF lines, as the
/// serializer writes them) in place for a compressed body.
pub fn rewrite_head(head: &mut Vec<u8>, algo: CompAlgo) {
    let old = std::mem::take(head);
    let mut lines = old.split_inclusive(|&b| b == b'\n');
    if let Some(status) = lines.next() {
        head.extend_from_slice(status);
    }
    for line in lines {
        if line == b"\r\n" {
            break;
        }
        let colon = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii_start();
        if name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"transfer-encoding")
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"etag") && value.starts_with(b"\"") {
            head.extend_from_slice(name);
            head.extend_from_slice(b": W/");
            head.extend_from_slice(value);
            continue;
        }
        head.extend_from_slice(line);
    }
    if algo != CompAlgo::Identity {
        head.extend_from_slice(b"Content-Encoding: ");
        head.extend_from_slice(algo.token().as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"Transfer-Encoding: chunked\r\nVary: Accept-Encoding\r\n\r\n");
}

/// A whole answer corelb makes itself from a stored object (a cache hit; HAProxy's
/// compression filter runs after its cache): compressed when a server's answer would be.
/// `answer` is an HTTP/1.1 response with its whole body.
pub fn whole_answer(
    s: &Settings<'_>,
    algo: CompAlgo,
    req: &RequestHead,
    answer: Vec<u8>,
    limits: &HeadLimits,
    tune: Tune,
) -> Vec<u8> {
    let mut res = ResponseHead::with_capacity(limits);
    let head_len = match parse_response(&answer, limits, &mut res) {
        Ok(Parsed::Complete { head_len }) => head_len,
        _ => return answer,
    };
    if !response_ok(s, req, &res, &answer) {
        return answer;
    }
    let Some(mut e) = Encoder::new(algo, tune) else {
        return answer;
    };
    let mut out = answer[..head_len].to_vec();
    rewrite_head(&mut out, algo);
    e.write(&answer[head_len..]);
    e.flush_into(&mut out, true);
    out
}

/// One response body's compressor; its output goes out as HTTP/1.1 chunks.
pub struct Encoder {
    kind: Kind,
    /// Its share of `maxzlibmem` (none for identity).
    _charge: Option<Charge>,
}

enum Kind {
    Identity(Vec<u8>),
    Gzip(GzEncoder<Vec<u8>>),
    Zlib(ZlibEncoder<Vec<u8>>),
    Raw(DeflateEncoder<Vec<u8>>),
}

impl Encoder {
    /// A compressor at `tune.comp.maxlevel`; `None` when `maxzlibmem` has no room for one
    /// more stream (the response then goes as it is).
    pub fn new(algo: CompAlgo, tune: Tune) -> Option<Encoder> {
        let l = Level::new(tune.level);
        let charge = match algo {
            CompAlgo::Identity => None,
            _ => Charge::take(tune.maxzlibmem)?,
        };
        let kind = match algo {
            CompAlgo::Identity => Kind::Identity(Vec::new()),
            CompAlgo::Gzip => Kind::Gzip(GzEncoder::new(Vec::new(), l)),
            CompAlgo::Deflate => Kind::Zlib(ZlibEncoder::new(Vec::new(), l)),
            CompAlgo::RawDeflate => Kind::Raw(DeflateEncoder::new(Vec::new(), l)),
        };
        Some(Encoder {
            kind,
            _charge: charge,
        })
    }

    /// Takes body bytes (writing into a Vec cannot fail).
    pub fn write(&mut self, data: &[u8]) {
        let _ = match &mut self.kind {
            Kind::Identity(v) => {
                v.extend_from_slice(data);
                Ok(())
            }
            Kind::Gzip(e) => e.write_all(data),
            Kind::Zlib(e) => e.write_all(data),
            Kind::Raw(e) => e.write_all(data),
        };
    }

    /// Flushes what was written into one chunk appended to `out`; with `last`, ends the
    /// stream and the chunked body.
    pub fn flush_into(&mut self, out: &mut Vec<u8>, last: bool) {
        let _ = match (&mut self.kind, last) {
            (Kind::Identity(_), _) => Ok(()),
            (Kind::Gzip(e), false) => e.flush(),
            (Kind::Gzip(e), true) => e.try_finish(),
            (Kind::Zlib(e), false) => e.flush(),
            (Kind::Zlib(e), true) => e.try_finish(),
            (Kind::Raw(e), false) => e.flush(),
            (Kind::Raw(e), true) => e.try_finish(),
        };
        let buf = self.output();
        if !buf.is_empty() {
            let _ = write!(out, "{:x}\r\n", buf.len());
            out.extend_from_slice(buf);
            out.extend_from_slice(b"\r\n");
            buf.clear();
        }
        if last {
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }

    fn output(&mut self) -> &mut Vec<u8> {
        match &mut self.kind {
            Kind::Identity(v) => v,
            Kind::Gzip(e) => e.get_mut(),
            Kind::Zlib(e) => e.get_mut(),
            Kind::Raw(e) => e.get_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn settings(algos: &[CompAlgo], types: &[&str]) -> Compression {
        Compression {
            algos: algos.to_vec(),
            types: types.iter().map(|t| t.to_string()).collect(),
            offload: false,
        }
    }

    fn pick(c: &Compression, fields: &[(&str, &str)]) -> Option<CompAlgo> {
        let s = Settings::of(Some(c), None).unwrap();
        let it = fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        negotiate(&s, it)
    }

    #[test]
    fn maxzlibmem_charges_each_stream_and_frees_it_at_its_end() {
        let tune = |maxzlibmem| Tune {
            level: 9,
            maxzlibmem,
        };
        let base = zlib_used();
        let room = base + 2 * ZLIB_STREAM_BYTES;
        let a = Encoder::new(CompAlgo::Gzip, tune(room)).unwrap();
        let b = Encoder::new(CompAlgo::Deflate, tune(room)).unwrap();
        assert!(Encoder::new(CompAlgo::Gzip, tune(room)).is_none());
        // Identity takes nothing; without a limit nothing is counted.
        assert!(Encoder::new(CompAlgo::Identity, tune(room)).is_some());
        drop(a);
        let c = Encoder::new(CompAlgo::Gzip, tune(room)).unwrap();
        drop((b, c));
        assert_eq!(zlib_used(), base);
    }

    #[test]
    fn accept_encoding_picks_by_q_then_client_order() {
        use CompAlgo::*;
        // `compression algo gzip deflate`: deflate is first in HAProxy's list.
        let c = settings(&[Deflate, Gzip], &[]);
        let ae = |v| pick(&c, &[("Accept-Encoding", v)]);
        assert_eq!(ae("gzip, deflate"), Some(Gzip));
        assert_eq!(ae("deflate, gzip"), Some(Deflate));
        assert_eq!(ae("deflate;q=0.5, gzip"), Some(Gzip));
        assert_eq!(ae("gzip;q=0, deflate;q=0.001"), Some(Deflate));
        assert_eq!(ae("gzip;q=0"), None);
        assert_eq!(ae("br"), None);
        assert_eq!(ae("*"), Some(Deflate));
        assert_eq!(ae("GZIP ; Q=0.9"), Some(Gzip));
        assert_eq!(pick(&c, &[]), None);
        let id = settings(&[Gzip, Identity], &[]);
        assert_eq!(pick(&id, &[("Accept-Encoding", "br")]), Some(Identity));
        let old = [
            ("User-Agent", "Mozilla/4.0 (compatible)"),
            ("Accept-Encoding", "gzip"),
        ];
        assert_eq!(pick(&c, &old), None);
        let ie7 = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)";
        assert_eq!(
            pick(&c, &[("User-Agent", ie7), ("Accept-Encoding", "gzip")]),
            Some(Gzip)
        );
    }

    #[test]
    fn backend_settings_win_one_by_one() {
        let fe = Compression {
            algos: vec![CompAlgo::Gzip],
            types: vec!["text/".into()],
            offload: true,
        };
        let be = settings(&[], &["application/json"]);
        let s = Settings::of(Some(&fe), Some(&be)).unwrap();
        assert_eq!(s.algos, &[CompAlgo::Gzip]);
        assert_eq!(s.types, &["application/json".to_string()]);
        assert!(s.offload);
        assert!(Settings::of(None, None).is_none());
    }

    #[test]
    fn head_is_rechunked_with_weak_etag_and_vary() {
        let mut h =
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: \"x\"\r\nX-A: 1\r\n\r\n".to_vec();
        rewrite_head(&mut h, CompAlgo::Gzip);
        assert_eq!(
            h,
            b"HTTP/1.1 200 OK\r\nETag: W/\"x\"\r\nX-A: 1\r\nContent-Encoding: gzip\r\n\
              Transfer-Encoding: chunked\r\nVary: Accept-Encoding\r\n\r\n"
        );
        let mut h =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: W/\"y\"\r\n\r\n".to_vec();
        rewrite_head(&mut h, CompAlgo::Identity);
        assert_eq!(
            h,
            b"HTTP/1.1 200 OK\r\nETag: W/\"y\"\r\nTransfer-Encoding: chunked\r\n\
              Vary: Accept-Encoding\r\n\r\n"
        );
    }

    /// De-chunks `body` (well-formed, no extensions or trailers).
    fn dechunk(mut body: &[u8]) -> Vec<u8> {
        let mut data = Vec::new();
        loop {
            let eol = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
            if n == 0 {
                assert_eq!(&body[eol..], b"\r\n\r\n");
                return data;
            }
            data.extend_from_slice(&body[eol + 2..eol + 2 + n]);
            body = &body[eol + 4 + n..];
        }
    }

    #[test]
    fn each_flush_yields_a_decodable_prefix_and_finish_the_whole() {
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("line {i}\n").into_bytes())
            .collect();
        for algo in [
            CompAlgo::Gzip,
            CompAlgo::Deflate,
            CompAlgo::RawDeflate,
            CompAlgo::Identity,
        ] {
            let tune = Tune {
                level: 1,
                maxzlibmem: 0,
            };
            let mut e = Encoder::new(algo, tune).unwrap();
            let mut out = Vec::new();
            for part in text.chunks(7000) {
                e.write(part);
                e.flush_into(&mut out, false);
            }
            e.flush_into(&mut out, true);
            let z = dechunk(&out);
            let mut back = Vec::new();
            match algo {
                CompAlgo::Gzip => flate2::read::GzDecoder::new(&z[..]).read_to_end(&mut back),
                CompAlgo::Deflate => flate2::read::ZlibDecoder::new(&z[..]).read_to_end(&mut back),
                CompAlgo::RawDeflate => {
                    flate2::read::DeflateDecoder::new(&z[..]).read_to_end(&mut back)
                }
                CompAlgo::Identity => {
                    back = z.clone();
                    Ok(0)
                }
            }
            .unwrap();
            assert_eq!(back, text, "{algo:?}");
            if algo != CompAlgo::Identity {
                assert!(z.len() < text.len() / 3, "{algo:?}: {}", z.len());
            }
        }
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue(b""), 1000);
        assert_eq!(qvalue(b";q=0.5"), 500);
        assert_eq!(qvalue(b"; level=1; q=0.25"), 250);
        assert_eq!(qvalue(b";q=1.0"), 1000);
        assert_eq!(qvalue(b";q=0"), 0);
    }
}
