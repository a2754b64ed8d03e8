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

/// The whole 302 answer for `target`.
pub fn response(prefix: &str, target: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + prefix.len() + target.len());
    out.extend_from_slice(
        b"HTTP/1.1 302 Found\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-length: 0\r\nLocation: ",
    );
    if prefix != "/" {
        out.extend_from_slice(prefix.as_bytes());
    }
    out.extend_from_slice(path(target));
    out.extend_from_slice(b"\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_then_path_and_query() {
        let r = response("https://b.example", b"/a/b?c=1");
        assert!(r.ends_with(b"Location: https://b.example/a/b?c=1\r\n\r\n"));
        let r = response("/", b"http://x.example/p");
        assert!(r.ends_with(b"Location: /p\r\n\r\n"));
        assert!(
            response("http://y", b"http://x.example").ends_with(b"Location: http://y/\r\n\r\n")
        );
    }
}
