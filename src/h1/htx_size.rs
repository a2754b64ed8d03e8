//! What HAProxy 2.6 counts of an HTTP message: the size of its HTX form, not of its bytes on
//! the wire. Its `%U`/`%B` and its stick tables' `bytes_in_cnt`/`bytes_out_cnt` add what
//! the H1 mux put in the channel (`htx->data`): the start line as a 20-byte `htx_sl` and its
//! three parts, each header as its name and trimmed value, one byte of end-of-headers, then
//! the body's data. The mux drops the `close` and `keep-alive` tokens of `Connection`
//! (H1_MF_CLEAN_CONN_HDR), and the header with them when nothing else is left.

/// `sizeof(struct htx_sl)` in HAProxy 2.6.
const HTX_SL: u64 = 20;
/// The end-of-headers block's one byte.
const HTX_EOH: u64 = 1;

/// The HTX size of a well-formed HTTP/1 head (start line to the empty line, CRLF or LF).
pub fn htx_head_size(head: &[u8]) -> u64 {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let Some(start) = lines.next() else {
        return 0;
    };
    // Its three parts without the two spaces between them.
    let parts: usize = start.splitn(3, |&b| b == b' ').map(<[u8]>::len).sum();
    let mut size = HTX_SL + parts as u64 + HTX_EOH;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"connection") {
            // What the mux keeps: the other tokens, joined by ", ".
            let kept = value
                .split(|&b| b == b',')
                .map(<[u8]>::trim_ascii)
                .filter(|t| {
                    !t.is_empty()
                        && !t.eq_ignore_ascii_case(b"close")
                        && !t.eq_ignore_ascii_case(b"keep-alive")
                });
            let (n, len) = kept.fold((0, 0), |(n, len), t| (n + 1, len + t.len()));
            if n > 0 {
                size += (name.len() + len + 2 * (n - 1)) as u64;
            }
            continue;
        }
        size += (name.len() + value.len()) as u64;
    }
    size
}

/// The HTX size of a whole answer made here (head and body in `bytes`, the body as it is).
pub fn htx_answer_size(bytes: &[u8]) -> u64 {
    match bytes.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => htx_head_size(&bytes[..i + 4]) + (bytes.len() - i - 4) as u64,
        None => htx_head_size(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts Debian's haproxy 2.6 shows for these messages (`%U`, `%B`, `show table`).
    #[test]
    fn sizes_are_haproxys() {
        let req = b"GET /srv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        assert_eq!(htx_head_size(req), 41);
        let req = b"GET /srv HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: aaaaaaaaaa\r\n\r\n";
        assert_eq!(htx_head_size(req), 56);
        let res = b"HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\n\
            Date: Tue, 08 Dec 2026 01:11:56 GMT\r\nContent-Length: 10\r\n\r\n0123456789";
        assert_eq!(htx_answer_size(res), 125);
        assert_eq!(htx_answer_size(crate::h1::error_page(403)), 192);
        // Other tokens stay, the header with them.
        let req = b"GET / HTTP/1.1\r\nConnection: close, Upgrade\r\n\r\n";
        assert_eq!(htx_head_size(req), 20 + 12 + 1 + 10 + 7);
    }
}
