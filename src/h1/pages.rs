//! Responses the proxy writes itself: HAProxy's built-in error pages and small responses
//! such as redirects.
//!
//! The pages are HAProxy's `http_err_msgs` (src/http.c), byte for byte, quirks included (the
//! 400 says "Bad request", the 431 body has a stray `>`, the 501 body a stray `.`), so that
//! clients and monitoring that match on them see what HAProxy sends. HAProxy has no 505 page;
//! corelb's follows the same pattern. These are what an `errorfile` replaces.

use super::serialize::write_u64;

/// One built-in page: status, and the raw message.
struct Page {
    status: u16,
    message: &'static str,
}

const PAGES: &[Page] = &[
    Page {
        status: 200,
        message: "HTTP/1.1 200 OK\r\nContent-length: 58\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
    },
    Page {
        status: 400,
        message: "HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
    },
    Page {
        status: 401,
        message: "HTTP/1.1 401 Unauthorized\r\nContent-length: 112\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
    },
    Page {
        status: 403,
        message: "HTTP/1.1 403 Forbidden\r\nContent-length: 93\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
    },
    Page {
        status: 404,
        message: "HTTP/1.1 404 Not Found\r\nContent-length: 83\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n",
    },
    Page {
        status: 405,
        message: "HTTP/1.1 405 Method Not Allowed\r\nContent-length: 146\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n",
    },
    Page {
        status: 407,
        message: "HTTP/1.1 407 Unauthorized\r\nContent-length: 112\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
    },
    Page {
        status: 408,
        message: "HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
    },
    Page {
        status: 410,
        message: "HTTP/1.1 410 Gone\r\nContent-length: 114\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n",
    },
    Page {
        status: 413,
        message: "HTTP/1.1 413 Payload Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n",
    },
    Page {
        status: 414,
        message: "HTTP/1.1 414 URI Too Long\r\nContent-length: 110\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>414 URI Too Long</h1>\nThe URI provided was too long for the server to process.\n</body></html>\n",
    },
    Page {
        status: 421,
        message: "HTTP/1.1 421 Misdirected Request\r\nContent-length: 104\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>421 Misdirected Request</h1>\nRequest sent to a non-authoritative server.\n</body></html>\n",
    },
    Page {
        status: 422,
        message: "HTTP/1.1 422 Unprocessable Content\r\nContent-length: 116\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n",
    },
    Page {
        status: 425,
        message: "HTTP/1.1 425 Too Early\r\nContent-length: 80\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
    },
    Page {
        status: 429,
        message: "HTTP/1.1 429 Too Many Requests\r\nContent-length: 117\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n",
    },
    Page {
        status: 431,
        message: "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>431 Request Header Fields Too Large</h1>\n>Request Header Fields Too Large.\n</body></html>\n",
    },
    Page {
        status: 500,
        message: "HTTP/1.1 500 Internal Server Error\r\nContent-length: 97\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n",
    },
    Page {
        status: 501,
        message: "HTTP/1.1 501 Not Implemented\r\nContent-length: 136\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n",
    },
    Page {
        status: 502,
        message: "HTTP/1.1 502 Bad Gateway\r\nContent-length: 107\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
    },
    Page {
        status: 503,
        message: "HTTP/1.1 503 Service Unavailable\r\nContent-length: 107\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    },
    Page {
        status: 504,
        message: "HTTP/1.1 504 Gateway Time-out\r\nContent-length: 92\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
    },
    // Not in HAProxy (which accepts any HTTP/x.y); corelb's, in the same pattern.
    Page {
        status: 505,
        message: "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-length: 117\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>505 HTTP Version Not Supported</h1>\nThe HTTP version of the request is not supported.\n</body></html>\n",
    },
];

/// The interim response the proxy sends itself for `Expect: 100-continue` (HAProxy's
/// `HTTP_100`).
pub const CONTINUE_100: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// HAProxy's built-in page for `status`, as raw bytes ready to send. Statuses without a page
/// get the 500 page, as in HAProxy (`http_get_status_idx`).
pub fn error_page(status: u16) -> &'static [u8] {
    PAGES
        .iter()
        .find(|p| p.status == status)
        .or_else(|| PAGES.iter().find(|p| p.status == 500))
        .map_or(&b""[..], |p| p.message.as_bytes())
}

/// Append the built-in page for `status` to `out`. With `close`, the page announces
/// `Connection: close` (RFC 9112 §9.6: a server that is going to close says so); the 400 and
/// 408 pages already do.
pub fn write_error(out: &mut Vec<u8>, status: u16, close: bool) {
    let page = error_page(status);
    let has_close = memchr::memmem::find(page, b"\r\nConnection: close\r\n").is_some();
    if !close || has_close {
        out.extend_from_slice(page);
        return;
    }
    let line_end = memchr::memmem::find(page, b"\r\n").map_or(0, |i| i + 2);
    out.reserve(page.len() + 19);
    out.extend_from_slice(&page[..line_end]);
    out.extend_from_slice(b"Connection: close\r\n");
    out.extend_from_slice(&page[line_end..]);
}

/// Append a complete small response: status line, `headers` in order, Content-Length of
/// `body` (unless the status forbids a body: 1xx, 204, 304), `Connection: close` if `close`,
/// and the body. For redirects and `http-request return`; `headers` must not hold
/// Content-Length or Connection, and names and values must be valid (they come from the
/// configuration, which checked them).
pub fn write_response(
    out: &mut Vec<u8>,
    status: u16,
    reason: &[u8],
    headers: &[(&[u8], &[u8])],
    body: &[u8],
    close: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    write_u64(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    let bodyless = status < 200 || status == 204 || status == 304;
    if !bodyless {
        out.extend_from_slice(b"Content-Length: ");
        write_u64(out, body.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(body);
    }
}

/// HAProxy's reason phrase for `status` (`http_get_reason`, as Debian's HAProxy 2.6.12
/// answers `http-request return status N` for every N from 200 to 599): a phrase of its
/// own for the codes it names, else the class's ("Client Error"…). Its redirects say
/// otherwise for 302 ("Found"): see [`redirect_reason`].
pub fn reason_phrase(status: u16) -> &'static str {
    named_reason(status).unwrap_or(match status / 100 {
        1 => "Informational",
        2 => "Success",
        3 => "Redirection",
        4 => "Client Error",
        5 => "Server Error",
        _ => "Other",
    })
}

/// The codes [`reason_phrase`] has a phrase of its own for.
fn named_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        450 => "Blocked by Windows Parental Controls",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        520 => "Web server is returning an unknown error",
        _ => return None,
    })
}

/// The reason of a redirect's status line (HAProxy's `http_apply_redirect_rule` has its
/// own, which differs from [`reason_phrase`] for 302).
pub fn redirect_reason(status: u16) -> &'static str {
    match status {
        302 => "Found",
        s => reason_phrase(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each page is a well-formed response whose Content-length is its body's length, and
    /// whose status line carries its status.
    #[test]
    fn pages_are_consistent() {
        for p in PAGES {
            let m = p.message;
            let (head, body) = m.split_once("\r\n\r\n").expect("head ends");
            let status_line = head.lines().next().unwrap();
            assert!(
                status_line.starts_with(&format!("HTTP/1.1 {} ", p.status)),
                "{m}"
            );
            let cl: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-length: "))
                .expect("has Content-length")
                .trim_end()
                .parse()
                .unwrap();
            assert_eq!(cl, body.len(), "page {}", p.status);
        }
    }

    /// The texts HAProxy users and monitors match on.
    #[test]
    fn haproxy_texts() {
        assert_eq!(
            error_page(400),
            &b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\n\
               Connection: close\r\nContent-Type: text/html\r\n\r\n\
               <html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n\
               </body></html>\n"[..]
        );
        let page = std::str::from_utf8(error_page(502)).unwrap();
        assert!(page.ends_with(
            "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or \
             incomplete response.\n</body></html>\n"
        ));
        // No page: HAProxy falls back to 500.
        assert!(error_page(418).starts_with(b"HTTP/1.1 500 "));
    }

    #[test]
    fn error_with_close() {
        let mut out = Vec::new();
        write_error(&mut out, 431, true);
        assert!(out.starts_with(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-length: 106\r\n"
        ));
        let mut out = Vec::new();
        write_error(&mut out, 400, true);
        assert_eq!(out, error_page(400));
        let mut out = Vec::new();
        write_error(&mut out, 503, false);
        assert_eq!(out, error_page(503));
    }

    #[test]
    fn small_response() {
        let mut out = Vec::new();
        write_response(
            &mut out,
            302,
            b"Found",
            &[(b"Location", b"https://example.com/")],
            b"",
            false,
        );
        assert_eq!(
            out,
            b"HTTP/1.1 302 Found\r\nLocation: https://example.com/\r\nContent-Length: 0\r\n\r\n"
        );
        let mut out = Vec::new();
        write_response(&mut out, 204, b"No Content", &[], b"ignored", true);
        assert_eq!(out, b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    }
}
