use super::*;
use crate::tls::testutil::*;
use rustls::CipherSuite as C;
use rustls::pki_types::ServerName;

const SEED_CIPHERS: &str = "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:\
                            RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS";

/// A directory with an ECDSA certificate `site.pem` for www.example.com.
fn site() -> (TempDir, String) {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["www.example.com"]);
    let f = d.write("site.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    let path = f.to_str().unwrap().to_string();
    (d, path)
}

fn bind(g: &TlsGlobals, words: &[(&str, Option<&str>)]) -> Result<(BindTls, Vec<Warning>), String> {
    let mut b = BindTls::default();
    let mut w = Vec::new();
    for (k, v) in words {
        w.extend(b.apply(g, k, *v)?);
    }
    Ok((b, w))
}

fn suites(cfg: &ServerConfig) -> Vec<C> {
    cfg.crypto_provider()
        .cipher_suites
        .iter()
        .map(|s| s.suite())
        .collect()
}

/// A client limited to some versions (and suites) handshakes with `cfg`; returns the
/// negotiated version, suite and ALPN, or the error.
fn connect(
    cfg: Arc<ServerConfig>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&str],
) -> Result<(rustls::ProtocolVersion, C, Option<Vec<u8>>), rustls::Error> {
    let mut ccfg = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(crate::tls::provider())))
        .with_no_client_auth();
    ccfg.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut c = rustls::ClientConnection::new(
        Arc::new(ccfg),
        ServerName::try_from("www.example.com").unwrap(),
    )
    .unwrap();
    let mut s = rustls::ServerConnection::new(cfg).unwrap();
    pump(&mut c, &mut s)?;
    if c.is_handshaking() {
        return Err(rustls::Error::General("handshake did not finish".into()));
    }
    Ok((
        c.protocol_version().unwrap(),
        c.negotiated_cipher_suite().unwrap().suite(),
        c.alpn_protocol().map(|a| a.to_vec()),
    ))
}

const V12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const V13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

#[test]
fn seed_globals_and_a_bind_line() {
    let (_d, crt) = site();
    let mut g = TlsGlobals::default();
    let w = g
        .apply("ssl-default-bind-ciphers", &[SEED_CIPHERS])
        .unwrap();
    assert_eq!(w.len(), 1);
    assert!(
        w[0].starts_with(&format!(
            "ciphers '{SEED_CIPHERS}': rustls cannot offer RSA key exchange"
        )),
        "{w:?}"
    );
    assert!(
        g.apply("ssl-default-bind-options", &["no-sslv3"])
            .unwrap()
            .is_empty()
    );
    let (b, w) = bind(&g, &[("ssl", None), ("crt", Some(&crt))]).unwrap();
    assert!(w.is_empty(), "{w:?}");
    let (cfg, w) = b.build(&g).unwrap();
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(
        suites(&cfg),
        [
            C::TLS13_AES_256_GCM_SHA384,
            C::TLS13_AES_128_GCM_SHA256,
            C::TLS13_CHACHA20_POLY1305_SHA256,
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]
    );
    assert!(cfg.ignore_client_order);
    assert!(cfg.ticketer.enabled());
    let (v, s, _) = connect(cfg.clone(), V12, &[]).unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_2);
    assert_eq!(s, C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    let (v, _, _) = connect(cfg, V13, &[]).unwrap();
    assert_eq!(v, rustls::ProtocolVersion::TLSv1_3);
}

#[test]
fn per_bind_ciphers_override_the_default() {
    let (_d, crt) = site();
    let mut g = TlsGlobals::default();
    g.apply("ssl-default-bind-ciphers", &[SEED_CIPHERS])
        .unwrap();
    let (b, w) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("ciphers", Some("ECDHE-ECDSA-CHACHA20-POLY1305")),
            ("ciphersuites", Some("TLS_CHACHA20_POLY1305_SHA256")),
        ],
    )
    .unwrap();
    assert!(w.is_empty(), "{w:?}");
    let (cfg, _) = b.build(&g).unwrap();
    assert_eq!(
        suites(&cfg),
        [
            C::TLS13_CHACHA20_POLY1305_SHA256,
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        ]
    );
    assert_eq!(
        connect(cfg, V12, &[]).unwrap().1,
        C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
}

#[test]
fn versions() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    let base = [("ssl", None), ("crt", Some(crt.as_str()))];

    let (b, w) = bind(&g, &[base[0], base[1], ("ssl-min-ver", Some("TLSv1.0"))]).unwrap();
    assert!(w[0].contains("TLS 1.2 and TLS 1.3 only"), "{w:?}");
    assert!(b.build(&g).is_ok());

    let e = bind(&g, &[("ssl-max-ver", Some("TLSv1.1"))]).unwrap_err();
    assert!(e.contains("no protocol version"), "{e}");
    let e = bind(&g, &[("ssl-min-ver", Some("TLSv1.4"))]).unwrap_err();
    assert!(e.contains("unknown version 'TLSv1.4'"), "{e}");
    let e = bind(&g, &[("force-tlsv11", None)]).unwrap_err();
    assert!(e.contains("TLS 1.2 and TLS 1.3 only"), "{e}");

    let (b, _) = bind(&g, &[base[0], base[1], ("ssl-min-ver", Some("TLSv1.3"))]).unwrap();
    let (cfg, _) = b.build(&g).unwrap();
    assert!(connect(cfg.clone(), V12, &[]).is_err());
    assert!(connect(cfg, V13, &[]).is_ok());

    let (b, _) = bind(&g, &[base[0], base[1], ("no-tlsv13", None)]).unwrap();
    let (cfg, _) = b.build(&g).unwrap();
    assert!(connect(cfg.clone(), V13, &[]).is_err());
    assert!(connect(cfg, V12, &[]).is_ok());

    let (b, _) = bind(
        &g,
        &[base[0], base[1], ("no-tlsv13", None), ("no-tlsv12", None)],
    )
    .unwrap();
    let e = b.build(&g).unwrap_err();
    assert!(
        e.contains("no protocol version left") && e.contains("TLSv1.2 TLSv1.3"),
        "{e}"
    );

    // The no-* flags of ssl-default-bind-options add up with the bind's own.
    let mut g2 = TlsGlobals::default();
    g2.apply(
        "ssl-default-bind-options",
        &["no-tlsv12", "ssl-max-ver", "TLSv1.3"],
    )
    .unwrap();
    let (b, _) = bind(&g2, &[base[0], base[1], ("no-tlsv13", None)]).unwrap();
    assert!(b.build(&g2).is_err());
    let e = g2
        .apply("ssl-default-bind-options", &["no-sslv3", "bogus"])
        .unwrap_err();
    assert!(e.contains("'bogus'"), "{e}");
    let e = g2
        .apply("ssl-default-bind-options", &["ssl-min-ver"])
        .unwrap_err();
    assert!(e.contains("expects an argument"), "{e}");
}

#[test]
fn ciphers_that_leave_no_tls12_suite() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    let (b, w) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("ciphers", Some("RSA+AES")),
        ],
    )
    .unwrap();
    assert!(w[0].contains("RSA key exchange"), "{w:?}");
    let (cfg, w) = b.build(&g).unwrap();
    assert!(w[0].contains("TLS 1.2 is disabled"), "{w:?}");
    assert!(connect(cfg, V12, &[]).is_err());
    let (b, _) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("ciphers", Some("RSA+AES")),
            ("no-tlsv13", None),
        ],
    )
    .unwrap();
    let e = b.build(&g).unwrap_err();
    assert!(e.contains("no protocol version left"), "{e}");
}

#[test]
fn alpn_keeps_what_corelb_speaks() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    let (b, w) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("alpn", Some("h2,http/1.1,spdy/3")),
        ],
    )
    .unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("does not speak spdy/3"), "{w:?}");
    let (cfg, _) = b.build(&g).unwrap();
    assert_eq!(cfg.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    let (_, _, alpn) = connect(cfg.clone(), V13, &["h2", "http/1.1"]).unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"h2"[..]));
    let (_, _, alpn) = connect(cfg, V13, &["http/1.1"]).unwrap();
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));

    let (_, w) = bind(&g, &[("alpn", Some("spdy/3"))]).unwrap();
    assert!(w[0].contains("no ALPN is offered"), "{w:?}");
    assert!(bind(&g, &[("alpn", Some("http/1.1,,h2"))]).is_err());
}

#[test]
fn tickets_cache_and_client_order() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    let (b, _) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("no-tls-tickets", None),
            ("prefer-client-ciphers", None),
        ],
    )
    .unwrap();
    let (cfg, _) = b.build(&g).unwrap();
    assert!(!cfg.ticketer.enabled());
    assert!(!cfg.ignore_client_order);
    assert!(cfg.session_storage.can_cache());
}

/// A second connection resumes with the ticket of the first (stateless tickets on).
#[test]
fn session_resumption_with_tickets() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    for no_tickets in [false, true] {
        let mut words = vec![("ssl", None), ("crt", Some(crt.as_str()))];
        if no_tickets {
            words.push(("no-tls-tickets", None));
        }
        let (b, _) = bind(&g, &words).unwrap();
        let (cfg, _) = b.build(&g).unwrap();
        let ccfg = Arc::new(any_client(crate::tls::provider()));
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut c = rustls::ClientConnection::new(
                ccfg.clone(),
                ServerName::try_from("www.example.com").unwrap(),
            )
            .unwrap();
            let mut s = rustls::ServerConnection::new(cfg.clone()).unwrap();
            pump(&mut c, &mut s).unwrap();
            kinds.push(c.handshake_kind().unwrap());
        }
        // TLS 1.3 resumes either way: by ticket, or by session ID in the cache.
        assert_eq!(
            kinds,
            [rustls::HandshakeKind::Full, rustls::HandshakeKind::Resumed],
            "no-tls-tickets={no_tickets}"
        );
    }
}

#[test]
fn secret_extraction_follows_ktls() {
    let (_d, crt) = site();
    let mut g = TlsGlobals::default();
    let (b, _) = bind(&g, &[("ssl", None), ("crt", Some(&crt))]).unwrap();
    assert!(b.build(&g).unwrap().0.enable_secret_extraction);
    let (b, _) = bind(
        &g,
        &[("ssl", None), ("crt", Some(&crt)), ("ktls", Some("off"))],
    )
    .unwrap();
    assert!(!b.build(&g).unwrap().0.enable_secret_extraction);
    g.apply("noktls", &[]).unwrap();
    let (b, _) = bind(&g, &[("ssl", None), ("crt", Some(&crt))]).unwrap();
    assert!(!b.ktls_wanted(&g));
    let (b, _) = bind(
        &g,
        &[("ssl", None), ("crt", Some(&crt)), ("ktls", Some("on"))],
    )
    .unwrap();
    assert!(b.ktls_wanted(&g));
    assert!(bind(&g, &[("ktls", Some("maybe"))]).is_err());
}

#[test]
fn bind_errors() {
    let (d, _crt) = site();
    let g = TlsGlobals::default();
    let e = bind(
        &g,
        &[("crt", Some(d.path("missing.pem").to_str().unwrap()))],
    )
    .unwrap_err();
    assert!(e.contains("missing.pem"), "{e}");
    let (b, _) = bind(&g, &[("ssl", None)]).unwrap();
    assert!(
        b.build(&g)
            .unwrap_err()
            .contains("at least one certificate")
    );
    let (b, _) = bind(&g, &[("ciphers", Some("HIGH"))]).unwrap();
    assert!(b.build(&g).unwrap_err().contains("without 'ssl'"));
    assert!(
        bind(&g, &[("crt", None)])
            .unwrap_err()
            .contains("expects an argument")
    );
    assert!(
        bind(&g, &[("no-tlsv10", Some("x"))])
            .unwrap_err()
            .contains("no argument")
    );
    assert!(
        bind(&g, &[("backlog", Some("10"))])
            .unwrap_err()
            .contains("not a TLS bind keyword")
    );
    // crt-base from the globals
    let mut g = TlsGlobals::default();
    g.apply("crt-base", &[d.0.to_str().unwrap()]).unwrap();
    assert!(bind(&g, &[("crt", Some("site.pem"))]).is_ok());
}

#[test]
fn curves() {
    let (_d, crt) = site();
    let g = TlsGlobals::default();
    let (b, w) = bind(
        &g,
        &[
            ("ssl", None),
            ("crt", Some(&crt)),
            ("curves", Some("P-521:X25519")),
        ],
    )
    .unwrap();
    assert!(w[0].contains("P-521"), "{w:?}");
    let (cfg, _) = b.build(&g).unwrap();
    let names: Vec<_> = cfg
        .crypto_provider()
        .kx_groups
        .iter()
        .map(|k| k.name())
        .collect();
    assert_eq!(names, [rustls::NamedGroup::X25519]);
    assert!(bind(&g, &[("curves", Some("X448"))]).is_err());
    assert!(
        bind(&g, &[("curves", Some("nope"))])
            .unwrap_err()
            .contains("unknown curve")
    );
}

#[test]
fn globals() {
    let mut g = TlsGlobals::default();
    assert!(g.apply("tune.ssl.cachesize", &["many"]).is_err());
    g.apply("tune.ssl.cachesize", &["100"]).unwrap();
    assert_eq!(g.session_cache_size, 100);
    assert!(g.apply("ssl-server-verify", &["maybe"]).is_err());
    assert!(g.apply("crt-base", &[]).is_err());
    assert!(g.apply("noktls", &["x"]).is_err());
    g.apply("tune.corelb.allow-expired-certs", &[]).unwrap();
    assert!(g.load_policy().allow_expired);
    let w = g
        .apply(
            "ssl-default-bind-ciphersuites",
            &["TLS_AES_128_CCM_SHA256:TLS_AES_128_GCM_SHA256"],
        )
        .unwrap();
    assert!(w[0].contains("AES-CCM"), "{w:?}");
    for k in GLOBAL_KEYWORDS {
        // every listed keyword is handled (argument errors are fine)
        if let Err(e) = g.apply(k, &["x", "y"]) {
            assert!(!e.contains("not a TLS global keyword"), "{k}: {e}");
        }
    }
}

/// `server … ssl`: a real handshake against a server configuration built here.
fn backend_handshake(
    cfg: Arc<ClientConfig>,
    name: &str,
    server: Arc<ServerConfig>,
) -> Result<(), rustls::Error> {
    let mut c = rustls::ClientConnection::new(cfg, ServerName::try_from(name.to_string()).unwrap())
        .unwrap();
    let mut s = rustls::ServerConnection::new(server).unwrap();
    pump(&mut c, &mut s)?;
    assert!(!c.is_handshaking());
    Ok(())
}

fn server(
    g: &TlsGlobals,
    words: &[(&str, Option<&str>)],
) -> Result<(ServerTls, Vec<Warning>), String> {
    let mut s = ServerTls::default();
    let mut w = Vec::new();
    for (k, v) in words {
        w.extend(s.apply(g, k, *v)?);
    }
    Ok((s, w))
}

#[test]
fn server_side_verify() {
    let (d, crt) = site();
    // The backend: www.example.com, self-signed; its certificate is its own CA.
    let g = TlsGlobals::default();
    let (b, _) = bind(&g, &[("ssl", None), ("crt", Some(&crt))]).unwrap();
    let (backend, _) = b.build(&g).unwrap();
    let mut g = TlsGlobals::default();
    g.apply("ca-base", &[d.0.to_str().unwrap()]).unwrap();

    // verify required is the default and needs a CA file.
    let (s, _) = server(&g, &[("ssl", None)]).unwrap();
    assert!(s.build(&g).unwrap_err().contains("ca-file"));

    // verify none: anything goes.
    let (s, _) = server(&g, &[("ssl", None), ("verify", Some("none"))]).unwrap();
    let (cfg, _) = s.build(&g).unwrap();
    assert!(!cfg.enable_sni);
    backend_handshake(cfg, "10.0.0.1", backend.clone()).unwrap();

    // ca-file relative to ca-base; the name is checked against the SNI.
    let (s, _) = server(
        &g,
        &[
            ("ssl", None),
            ("ca-file", Some("site.pem")),
            ("sni", Some("str(www.example.com)")),
        ],
    )
    .unwrap();
    assert_eq!(s.sni, Some(Sni::Fixed("www.example.com".into())));
    let (cfg, w) = s.build(&g).unwrap();
    assert!(w.is_empty(), "{w:?}");
    backend_handshake(cfg.clone(), "www.example.com", backend.clone()).unwrap();
    assert!(backend_handshake(cfg, "other.example.com", backend.clone()).is_err());

    // No sni, no verifyhost: the chain is checked, not the name (HAProxy's rule).
    let (s, _) = server(&g, &[("ssl", None), ("ca-file", Some("site.pem"))]).unwrap();
    let (cfg, w) = s.build(&g).unwrap();
    assert!(w[0].contains("not its name"), "{w:?}");
    backend_handshake(cfg, "10.0.0.1", backend.clone()).unwrap();

    // verifyhost wins over whatever name the connection uses.
    let (s, _) = server(
        &g,
        &[
            ("ssl", None),
            ("ca-file", Some("site.pem")),
            ("verifyhost", Some("other.example")),
        ],
    )
    .unwrap();
    let (cfg, _) = s.build(&g).unwrap();
    assert!(backend_handshake(cfg, "www.example.com", backend.clone()).is_err());

    // A CA that did not sign the backend's certificate.
    let other = Gen::ecdsa(&["ca.example"]);
    d.write("other-ca.pem", &other.cert_pem);
    let (s, _) = server(&g, &[("ssl", None), ("ca-file", Some("other-ca.pem"))]).unwrap();
    let (cfg, _) = s.build(&g).unwrap();
    assert!(backend_handshake(cfg, "www.example.com", backend.clone()).is_err());

    // Bad CA files are reported on the server line.
    let e = server(&g, &[("ca-file", Some("nope.pem"))]).unwrap_err();
    assert!(e.contains("nope.pem"), "{e}");
    d.write("empty.pem", "nothing\n");
    let e = server(&g, &[("ca-file", Some("empty.pem"))]).unwrap_err();
    assert!(e.contains("no usable certificate"), "{e}");

    // ssl-server-verify none as the default
    let mut g2 = g.clone();
    g2.apply("ssl-server-verify", &["none"]).unwrap();
    let (s, _) = server(&g2, &[("ssl", None), ("alpn", Some("h2,http/1.1"))]).unwrap();
    let (cfg, _) = s.build(&g2).unwrap();
    assert_eq!(cfg.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
    let (s, _) = server(&g2, &[("check-ssl", None), ("sni", Some("req.hdr(host)"))]).unwrap();
    assert!(s.enabled() && !s.ssl);
    assert_eq!(s.sni, Some(Sni::Expr("req.hdr(host)".into())));
}
