//! `server … redir PREFIX`: GET and HEAD requests that balancing sends to such a server
//! are answered with HAProxy 2.6's 302 to PREFIX followed by the request's path (a prefix
//! of "/" keeps the path alone), and the connection closes; other methods go to the server.

/// The request's path and query, without the scheme and authority of an absolute-form
/// target.
fn path(target: &[u8]) -> &[u8] {
    if target.first() == Some(&b'/') {
        return target;
    }
    match memchr::memmem::find(target, b"://") {
        Some(i) => {
            let rest = &target[i + 3..];
            match rest.iter().position(|&b| b == b'/' || b == b'?') {
                Some(j) => &rest[j..],
                None => b"/",
            }
        }
        None => target,
    }
}

/// The whole 302 answer for `target`, byte for byte as HAProxy 2.6 puts it on the wire
/// (its H1 mux writes the header names in lower case and `connection` last).
pub fn response(prefix: &str, target: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + prefix.len() + target.len());
    out.extend_from_slice(
        b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: ",
    );
    if prefix != "/" {
        out.extend_from_slice(prefix.as_bytes());
    }
    out.extend_from_slice(path(target));
    out.extend_from_slice(b"\r\nconnection: close\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_then_path_and_query() {
        // What Debian's HAProxy 2.6 sends for `redir https://b.example` and GET /a/b?c=1.
        let r = response("https://b.example", b"/a/b?c=1");
        assert_eq!(
            r,
            b"HTTP/1.1 302 Found\r\ncache-control: no-cache\r\ncontent-length: 0\r\nlocation: https://b.example/a/b?c=1\r\nconnection: close\r\n\r\n"
        );
        let end = b"\r\nconnection: close\r\n\r\n";
        let r = response("/", b"http://x.example/p");
        assert!(r.ends_with(&[&b"location: /p"[..], end].concat()));
        let r = response("http://y", b"http://x.example");
        assert!(r.ends_with(&[&b"location: http://y/"[..], end].concat()));
    }
}
