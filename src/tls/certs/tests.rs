//! Certificate loading and SNI selection, on certificates generated for each test (rcgen for
//! ECDSA; RSA keys and the PKCS#1/SEC1 encodings come from the `openssl` CLI, which the
//! tests need: `apt-get install openssl`).

use super::*;
use crate::tls::testutil::*;
use rustls::SignatureScheme as S;

const ECDSA_ONLY: &[S] = &[S::ECDSA_NISTP256_SHA256];
const RSA_ONLY: &[S] = &[S::RSA_PSS_SHA256, S::RSA_PKCS1_SHA256];
const BOTH: &[S] = &[S::ECDSA_NISTP256_SHA256, S::RSA_PSS_SHA256];

fn policy() -> LoadPolicy {
    LoadPolicy {
        now: at(2025, 6, 1),
        ..LoadPolicy::default()
    }
}

fn load_one(path: &Path, p: &LoadPolicy) -> Result<(LoadedCert, Vec<Warning>), String> {
    let mut w = Vec::new();
    load_cert_file(path, p, &mut w).map(|c| (c, w))
}

#[test]
fn ecdsa_pkcs8_in_one_pem() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["www.example.com", "*.example.org"]);
    let f = d.write("site.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    let (c, w) = load_one(&f, &policy()).unwrap();
    assert_eq!(c.kind, KeyKind::Ecdsa);
    assert_eq!(c.names, ["www.example.com", "*.example.org"]);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.key.cert.len(), 1);
}

#[test]
fn key_encodings_rsa_pkcs1_pkcs8_and_ec_sec1() {
    let d = TempDir::new();
    let rsa = Gen::rsa(&["rsa.example.com"]);
    let ec = Gen::ecdsa(&["ec.example.com"]);
    let cases = [
        (
            "rsa1.pem",
            &rsa,
            to_traditional(&rsa.key_pkcs8),
            "RSA PRIVATE KEY",
        ),
        ("rsa8.pem", &rsa, rsa.key_pkcs8.clone(), "BEGIN PRIVATE KEY"),
        (
            "ec1.pem",
            &ec,
            to_traditional(&ec.key_pkcs8),
            "EC PRIVATE KEY",
        ),
    ];
    for (name, g, key, marker) in cases {
        assert!(key.contains(marker), "{name}: openssl gave {key}");
        // Key first, then the certificate: HAProxy accepts either order.
        let f = d.write(name, &(key + &g.cert_pem));
        let (c, _) = load_one(&f, &policy()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.names, g.names, "{name}");
    }
    let (c, _) = load_one(&d.path("rsa1.pem"), &policy()).unwrap();
    assert_eq!(c.kind, KeyKind::Rsa);
}

#[test]
fn chain_is_kept_in_order() {
    let d = TempDir::new();
    let ca = Gen::ecdsa(&["ca.example"]);
    let leaf = Gen::ecdsa(&["leaf.example"]);
    let f = d.write(
        "chain.pem",
        &(leaf.cert_pem.clone() + &ca.cert_pem + &leaf.key_pkcs8),
    );
    let (c, _) = load_one(&f, &policy()).unwrap();
    assert_eq!(c.key.cert.len(), 2);
    assert_eq!(c.names, ["leaf.example"]);
}

#[test]
fn key_beside_the_certificate() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write("a.pem", &g.cert_pem);
    d.write("a.pem.key", &g.key_pkcs8);
    assert_eq!(load_one(&f, &policy()).unwrap().0.names, ["a.example"]);

    // ssl-load-extra-del-ext: foo.crt → foo.key
    let f = d.write("b.crt", &g.cert_pem);
    d.write("b.key", &g.key_pkcs8);
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(e.contains("b.crt.key"), "{e}");
    let p = LoadPolicy {
        extra_del_ext: true,
        ..policy()
    };
    assert_eq!(load_one(&f, &p).unwrap().0.names, ["a.example"]);
}

#[test]
fn no_key_anywhere_names_both_files() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write("nokey.pem", &g.cert_pem);
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(
        e.contains("nokey.pem'") && e.contains("nokey.pem.key"),
        "{e}"
    );
    assert!(e.contains("no private key"), "{e}");
}

#[test]
fn a_key_file_without_a_key_is_reported() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write("x.pem", &g.cert_pem);
    d.write("x.pem.key", &g.cert_pem);
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(
        e.contains("no private key") && e.contains("x.pem.key"),
        "{e}"
    );
}

#[test]
fn key_mismatch_is_an_error() {
    let d = TempDir::new();
    let a = Gen::ecdsa(&["a.example"]);
    let b = Gen::ecdsa(&["b.example"]);
    let f = d.write("mix.pem", &(a.cert_pem.clone() + &b.key_pkcs8));
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(e.contains("mix.pem") && e.contains("does not match"), "{e}");
    // RSA key with an ECDSA certificate
    let r = Gen::rsa(&["r.example"]);
    let f = d.write("mix2.pem", &(a.cert_pem.clone() + &r.key_pkcs8));
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(e.contains("does not match"), "{e}");
}

#[test]
fn missing_unreadable_and_malformed_files() {
    let d = TempDir::new();
    let e = load_crt(d.path("nope.pem").to_str().unwrap(), &policy()).unwrap_err();
    assert!(e.contains("nope.pem") && e.contains("no such file"), "{e}");
    let f = d.write("garbage.pem", "hello\n");
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(
        e.contains("garbage.pem") && e.contains("no certificate"),
        "{e}"
    );
    let f = d.write("trunc.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(
        e.contains("trunc.pem") && e.contains("malformed PEM"),
        "{e}"
    );
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write(
        "enc.pem",
        &(g.cert_pem.clone()
            + "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"),
    );
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(e.contains("encrypted"), "{e}");
    let f = d.write(
        "two.pem",
        &(g.cert_pem.clone() + &g.key_pkcs8 + &g.key_pkcs8),
    );
    let e = load_one(&f, &policy()).unwrap_err();
    assert!(e.contains("more than one private key"), "{e}");
}

#[test]
fn dh_parameters_are_named_in_a_warning() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write(
        "dh.pem",
        &(g.cert_pem.clone()
            + &g.key_pkcs8
            + "-----BEGIN DH PARAMETERS-----\nMAYCAQACAQI=\n-----END DH PARAMETERS-----\n"),
    );
    let (_, w) = load_one(&f, &policy()).unwrap();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("DH PARAMETERS"), "{w:?}");
}

#[test]
fn expiry_error_warning_and_opt_in() {
    let d = TempDir::new();
    // Valid 2020-01-01 .. 2030-01-01
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write("a.pem", &(g.cert_pem.clone() + &g.key_pkcs8));

    let soon = LoadPolicy {
        now: at(2029, 12, 20),
        ..policy()
    };
    let (_, w) = load_one(&f, &soon).unwrap();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("expires in 12 day(s)"), "{w:?}");

    let later = LoadPolicy {
        now: at(2031, 1, 1),
        ..policy()
    };
    let e = load_one(&f, &later).unwrap_err();
    assert!(e.contains("a.pem") && e.contains("expired on"), "{e}");
    assert!(e.contains("tune.corelb.allow-expired-certs"), "{e}");

    let allowed = LoadPolicy {
        allow_expired: true,
        ..later
    };
    let (_, w) = load_one(&f, &allowed).unwrap();
    assert!(
        w[0].contains("expired") && w[0].contains("served anyway"),
        "{w:?}"
    );

    let early = LoadPolicy {
        now: at(2019, 1, 1),
        ..policy()
    };
    let (_, w) = load_one(&f, &early).unwrap();
    assert!(w[0].contains("not valid yet"), "{w:?}");
}

#[test]
fn common_name_when_no_san() {
    let d = TempDir::new();
    let g = Gen::ecdsa_cn_only("Legacy.Example.COM");
    let f = d.write("cn.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    assert_eq!(
        load_one(&f, &policy()).unwrap().0.names,
        ["legacy.example.com"]
    );
}

#[test]
fn crt_base_prefixes_relative_paths_only() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    d.write("a.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    let p = LoadPolicy {
        crt_base: Some(d.0.clone()),
        ..policy()
    };
    let (e, _) = load_crt("a.pem", &p).unwrap();
    assert_eq!(e[0].cert.path, d.path("a.pem"));
    let (e, _) = load_crt(d.path("a.pem").to_str().unwrap(), &p).unwrap();
    assert_eq!(e.len(), 1);
    assert!(load_crt("a.pem", &policy()).is_err());
}

#[test]
fn directory_loads_every_pem_and_skips_extra_files() {
    let d = TempDir::new();
    let a = Gen::ecdsa(&["a.example"]);
    let b = Gen::rsa(&["b.example"]);
    // b first on disk but a sorts first.
    d.write("b.pem", &(b.cert_pem.clone() + &b.key_pkcs8));
    d.write("a.pem", &a.cert_pem);
    d.write("a.pem.key", &a.key_pkcs8);
    d.write("a.pem.ocsp", "not a pem");
    d.write("a.pem.issuer", "not a pem");
    d.write("a.pem.sctl", "not a pem");
    std::fs::create_dir(d.path("sub")).unwrap();
    let (entries, w) = load_crt(d.0.to_str().unwrap(), &policy()).unwrap();
    // Read as a.pem's extra files, not as certificates: rustls has no use for the SCTs.
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("a.pem.sctl"), "{w:?}");
    let names: Vec<_> = entries.iter().map(|e| e.cert.names[0].as_str()).collect();
    assert_eq!(names, ["a.example", "b.example"]);

    // Anything else in the directory must be a certificate, as in HAProxy.
    d.write("README", "certificates live here\n");
    let e = load_crt(d.0.to_str().unwrap(), &policy()).unwrap_err();
    assert!(e.contains("README"), "{e}");

    let empty = TempDir::new();
    let e = load_crt(empty.0.to_str().unwrap(), &policy()).unwrap_err();
    assert!(e.contains("no certificate found in directory"), "{e}");
}

#[test]
fn multi_cert_bundle_files() {
    let d = TempDir::new();
    let r = Gen::rsa(&["x.example"]);
    let e = Gen::ecdsa(&["x.example"]);
    d.write("x.pem.rsa", &(r.cert_pem.clone() + &r.key_pkcs8));
    d.write("x.pem.ecdsa", &(e.cert_pem.clone() + &e.key_pkcs8));
    let (entries, _) = load_crt(d.path("x.pem").to_str().unwrap(), &policy()).unwrap();
    let kinds: Vec<_> = entries.iter().map(|e| e.cert.kind).collect();
    assert_eq!(kinds, [KeyKind::Rsa, KeyKind::Ecdsa]);
}

#[test]
fn crt_list_lines() {
    assert_eq!(
        parse_crt_list_line("site.pem").unwrap(),
        CrtListLine {
            cert: "site.pem".into(),
            filters: vec![],
            excluded: vec![]
        }
    );
    assert_eq!(
        parse_crt_list_line("/c/site.pem [] www.Example.com *.example.org !bad.example.org # x")
            .unwrap(),
        CrtListLine {
            cert: "/c/site.pem".into(),
            filters: vec!["www.example.com".into(), "*.example.org".into()],
            excluded: vec!["bad.example.org".into()]
        }
    );
    let e = parse_crt_list_line("site.pem [alpn h2 ssl-min-ver TLSv1.2] a.example").unwrap_err();
    assert!(
        e.contains("alpn h2 ssl-min-ver TLSv1.2") && e.contains("bind"),
        "{e}"
    );
    let e = parse_crt_list_line("site.pem [alpn h2 a.example").unwrap_err();
    assert!(e.contains("']'"), "{e}");
}

#[test]
fn crt_list_file_with_base_comments_and_line_numbers() {
    let d = TempDir::new();
    let a = Gen::ecdsa(&["a.example"]);
    let b = Gen::ecdsa(&["b.example"]);
    d.write("a.pem", &(a.cert_pem.clone() + &a.key_pkcs8));
    d.write("b.pem", &(b.cert_pem.clone() + &b.key_pkcs8));
    let list = d.write(
        "list.txt",
        "# certificates\n\na.pem\n  b.pem other.example !b.example\n",
    );
    let p = LoadPolicy {
        crt_base: Some(d.0.clone()),
        ..policy()
    };
    let (entries, _) = load_crt_list(list.to_str().unwrap(), &p).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].names(), ["other.example"]);
    assert_eq!(entries[1].excluded, ["b.example"]);

    let list = d.write("bad.txt", "a.pem\nmissing.pem\n");
    let e = load_crt_list(list.to_str().unwrap(), &p).unwrap_err();
    assert!(e.contains("bad.txt:2:") && e.contains("missing.pem"), "{e}");

    let list = d.write("opts.txt", "a.pem\n\nb.pem [verify none]\n");
    let e = load_crt_list(list.to_str().unwrap(), &p).unwrap_err();
    assert!(
        e.contains("opts.txt:3:") && e.contains("verify none"),
        "{e}"
    );

    let e = load_crt_list(d.path("none.txt").to_str().unwrap(), &p).unwrap_err();
    assert!(e.contains("none.txt"), "{e}");

    let list = d.write("empty.txt", "# nothing\n");
    let e = load_crt_list(list.to_str().unwrap(), &p).unwrap_err();
    assert!(e.contains("names no certificate"), "{e}");

    // A warning from a certificate carries the list's line.
    let soon = LoadPolicy {
        now: at(2029, 12, 20),
        ..p
    };
    let list = d.write("w.txt", "a.pem\n");
    let (_, w) = load_crt_list(list.to_str().unwrap(), &soon).unwrap();
    assert!(
        w[0].starts_with(&format!("{}:1: ", list.display())),
        "{w:?}"
    );
}

fn store(d: &TempDir, specs: &[(&str, &[&str], bool)], strict: bool) -> CertStore {
    let mut entries = Vec::new();
    for (file, names, rsa) in specs {
        let g = if *rsa {
            Gen::rsa(names)
        } else {
            Gen::ecdsa(names)
        };
        let f = d.write(file, &(g.cert_pem.clone() + &g.key_pkcs8));
        entries.extend(load_crt(f.to_str().unwrap(), &policy()).unwrap().0);
    }
    CertStore::new(entries, strict).unwrap()
}

fn chosen(s: &CertStore, sni: Option<&str>, schemes: &[S]) -> Option<String> {
    s.lookup(sni, schemes).map(|e| {
        e.cert
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    })
}

#[test]
fn sni_exact_wildcard_and_default() {
    let d = TempDir::new();
    let s = store(
        &d,
        &[
            ("default.pem", &["default.example"], false),
            ("www.pem", &["www.example.com", "example.com"], false),
            ("wild.pem", &["*.example.com"], false),
        ],
        false,
    );
    let c = |n| chosen(&s, n, ECDSA_ONLY).unwrap();
    assert_eq!(c(Some("www.example.com")), "www.pem");
    assert_eq!(c(Some("WWW.Example.Com.")), "www.pem");
    assert_eq!(c(Some("example.com")), "www.pem");
    assert_eq!(c(Some("api.example.com")), "wild.pem");
    // A wildcard covers one label only.
    assert_eq!(c(Some("a.b.example.com")), "default.pem");
    assert_eq!(c(Some("unknown.test")), "default.pem");
    assert_eq!(c(None), "default.pem");
}

#[test]
fn strict_sni_has_no_default() {
    let d = TempDir::new();
    let s = store(&d, &[("a.pem", &["a.example"], false)], true);
    assert_eq!(chosen(&s, Some("a.example"), ECDSA_ONLY).unwrap(), "a.pem");
    assert_eq!(chosen(&s, Some("b.example"), ECDSA_ONLY), None);
    assert_eq!(chosen(&s, None, ECDSA_ONLY), None);
}

/// One name served by an ECDSA (ec.pem) and an RSA (rsa.pem) certificate.
fn dual_store(d: &TempDir) -> CertStore {
    store(
        d,
        &[
            ("ec.pem", &["dual.example"], false),
            ("rsa.pem", &["dual.example"], true),
        ],
        false,
    )
}

#[test]
fn ecdsa_or_rsa_by_the_clients_schemes() {
    let d = TempDir::new();
    let s = dual_store(&d);
    assert_eq!(chosen(&s, Some("dual.example"), BOTH).unwrap(), "ec.pem");
    assert_eq!(
        chosen(&s, Some("dual.example"), ECDSA_ONLY).unwrap(),
        "ec.pem"
    );
    assert_eq!(
        chosen(&s, Some("dual.example"), RSA_ONLY).unwrap(),
        "rsa.pem"
    );
    // The default group is both files (same names): RSA-only clients without SNI too.
    assert_eq!(chosen(&s, None, RSA_ONLY).unwrap(), "rsa.pem");
}

#[test]
fn a_committed_certificate_is_chosen_by_its_own_key() {
    // `commit ssl cert` swaps the keys' types: ec.pem now serves an RSA key, rsa.pem an
    // ECDSA one. An ECDSA-only client must get the slot whose key it can verify now.
    let d = TempDir::new();
    let s = dual_store(&d);
    let key_of = |file: &str, rsa: bool| {
        let g = if rsa {
            Gen::rsa(&["dual.example"])
        } else {
            Gen::ecdsa(&["dual.example"])
        };
        let f = d.write(file, &(g.cert_pem.clone() + &g.key_pkcs8));
        load_crt(f.to_str().unwrap(), &policy()).unwrap().0[0]
            .cert
            .key
            .clone()
    };
    let (new_rsa, new_ec) = (key_of("new-rsa.pem", true), key_of("new-ec.pem", false));
    let path = |f: &str| {
        s.entries
            .iter()
            .find(|e| e.cert.path.ends_with(f))
            .unwrap()
            .cert
            .path
            .clone()
    };
    assert_eq!(replace_live(&path("ec.pem"), new_rsa), 1);
    assert_eq!(replace_live(&path("rsa.pem"), new_ec), 1);
    for schemes in [ECDSA_ONLY, RSA_ONLY] {
        let i = s.lookup_index(Some("dual.example"), schemes).unwrap();
        assert!(
            s.live[i].load().key.choose_scheme(schemes).is_some(),
            "{:?} serves a key that cannot sign with {schemes:?}",
            s.entries[i].cert.path
        );
    }
}

#[test]
fn crt_list_filters_replace_names_and_negative_filters_exclude() {
    let d = TempDir::new();
    let a = Gen::ecdsa(&["*.example.com"]);
    let b = Gen::ecdsa(&["b.example"]);
    d.write("a.pem", &(a.cert_pem.clone() + &a.key_pkcs8));
    d.write("b.pem", &(b.cert_pem.clone() + &b.key_pkcs8));
    let list = d.write(
        "l.txt",
        "b.pem\na.pem !secret.example.com\nb.pem only.example.net\n",
    );
    let p = LoadPolicy {
        crt_base: Some(d.0.clone()),
        ..policy()
    };
    let (entries, _) = load_crt_list(list.to_str().unwrap(), &p).unwrap();
    let s = CertStore::new(entries, false).unwrap();
    let idx = |n| {
        let e = s.lookup(Some(n), ECDSA_ONLY).unwrap();
        s.entries().iter().position(|x| std::ptr::eq(x, e)).unwrap()
    };
    assert_eq!(idx("www.example.com"), 1);
    // Excluded from the wildcard: falls back to the default (line 1).
    assert_eq!(idx("secret.example.com"), 0);
    assert_eq!(idx("only.example.net"), 2);
    assert_eq!(idx("b.example"), 0);
}

#[test]
fn empty_store_is_an_error() {
    let e = CertStore::new(Vec::new(), false).unwrap_err();
    assert!(e.contains("crt"), "{e}");
}

/// The resolver serves a real rustls handshake with the certificate the SNI asks for.
#[test]
fn resolver_in_a_rustls_handshake() {
    let d = TempDir::new();
    let s = Arc::new(store(
        &d,
        &[
            ("one.pem", &["one.example"], false),
            ("two.pem", &["two.example"], true),
        ],
        false,
    ));
    for (sni, want) in [
        ("one.example", "one.example"),
        ("two.example", "two.example"),
    ] {
        let cfg = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(s.clone());
        let got = handshake_peer_names(Arc::new(cfg), sni);
        assert_eq!(got, [want]);
    }
}

#[test]
fn ssl_load_extra_files_arguments_as_haproxy() {
    let all = ExtraFiles::default();
    assert_eq!(ExtraFiles::parse(&["all"]), Ok(all));
    let none = ExtraFiles::parse(&["none"]).unwrap();
    assert!(!(none.key || none.ocsp || none.sctl || none.issuer || none.bundle));
    let some = ExtraFiles::parse(&["key", "ocsp"]).unwrap();
    assert!(some.key && some.ocsp && !some.bundle && !some.sctl && !some.issuer);
    let usage = "'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).";
    assert_eq!(ExtraFiles::parse(&[]).unwrap_err(), usage);
    assert_eq!(ExtraFiles::parse(&["key", "x"]).unwrap_err(), usage);
    assert_eq!(
        ExtraFiles::parse(&["key", "none"]).unwrap_err(),
        "'ssl-load-extra-files' 'none' and 'all' can be only used alone"
    );
}

#[test]
fn extra_files_beside_the_certificate_follow_ssl_load_extra_files() {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["a.example"]);
    let f = d.write("a.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    d.write("a.pem.ocsp", "not checked, stapled as it is");
    d.write("a.pem.sctl", "");
    let (c, w) = load_one(&f, &policy()).unwrap();
    assert_eq!(
        c.key.ocsp.as_deref(),
        Some(&b"not checked, stapled as it is"[..])
    );
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("a.pem.sctl") && w[0].contains("Signed Certificate Timestamps"));
    let only_key = LoadPolicy {
        extra: ExtraFiles::parse(&["key"]).unwrap(),
        ..policy()
    };
    let (c, w) = load_one(&f, &only_key).unwrap();
    assert!(c.key.ocsp.is_none() && w.is_empty(), "{w:?}");

    // Without 'key', no key is looked for beside the certificate; without 'bundle', no
    // FILE.ecdsa for a FILE that does not exist.
    let split = d.write("b.pem", &g.cert_pem);
    d.write("b.pem.key", &g.key_pkcs8);
    d.write("c.ecdsa", &(g.cert_pem.clone() + &g.key_pkcs8));
    let none = LoadPolicy {
        extra: ExtraFiles::parse(&["none"]).unwrap(),
        ..policy()
    };
    assert_eq!(
        load_one(&split, &none).unwrap_err(),
        format!("No Private Key found in '{}'.", split.display())
    );
    let mut w = Vec::new();
    let bundle = d.path("c").display().to_string();
    assert_eq!(load_crt(&bundle, &policy()).map(|(c, _)| c.len()), Ok(1));
    assert!(load_cert_path(&d.path("c"), &none, &mut w).is_err());
}
