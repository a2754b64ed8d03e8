//! mode http: HTTP/1.1 codec (sans-IO) and the proxy built on it.
