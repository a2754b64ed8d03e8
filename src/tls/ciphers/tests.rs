use super::*;
use crate::tls::provider;
use crate::tls::testutil::openssl;
use rustls::CipherSuite as C;

const SEED: &str = "ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:\
                    RSA+AES:!aNULL:!MD5:!DSS";

fn names(spec: &str) -> Vec<&'static str> {
    evaluate(spec).0.iter().map(|c| c.name).collect()
}

fn suites12(spec: &str) -> (Vec<C>, Vec<Warning>) {
    let (s, w) = tls12_suites(spec, &provider());
    (s.iter().map(|s| s.suite()).collect(), w)
}

/// The evaluation agrees with the installed OpenSSL, order included, on the cipher
/// strings operators write (OpenSSL 3 lacks the legacy ciphers; they are left out of the
/// comparison).
#[test]
fn matches_the_openssl_cli() {
    let specs = [
        SEED,
        "HIGH:!aNULL",
        "HIGH:!aNULL:!MD5",
        "DEFAULT",
        "DEFAULT:!DHE",
        "ALL:!DH:!RSA",
        "ECDHE+AESGCM",
        "ECDH+AESGCM:ECDH+CHACHA20",
        "kEECDH+aRSA+AESGCM:-AES256",
        "AES:+AES256:!PSK:!SRP",
        "AES:-AES128:AES128-SHA",
        "HIGH:!aNULL:@STRENGTH",
        "ALL:COMPLEMENTOFALL",
        "EECDH+AESGCM:EDH+AESGCM",
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:\
         ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
         DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384",
        "TLSv1.2+ECDSA",
        "SSLv3:TLSv1",
        "CBC+ECDHE",
        "TLSv1",
        "eNULL:kPSK",
        "SHA256:eNULL",
    ];
    for spec in specs {
        let want: Vec<String> = openssl(&["ciphers", &format!("{spec}:@SECLEVEL=0")], "")
            .trim()
            .split(':')
            .filter(|n| !n.starts_with("TLS_"))
            .map(String::from)
            .collect();
        let got: Vec<&str> = evaluate(spec)
            .0
            .iter()
            .filter(|c| !c.legacy)
            .map(|c| c.name)
            .collect();
        assert_eq!(got, want, "cipher string {spec}");
    }
}

#[test]
fn seed_string_keeps_ecdhe_gcm_and_names_the_rest() {
    let (s, w) = suites12(SEED);
    assert_eq!(
        s,
        [
            C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ]
    );
    assert_eq!(w.len(), 1, "{w:?}");
    let w = &w[0];
    for part in [
        "RSA key exchange (",
        "finite-field DHE key exchange (",
        "CBC mode (",
        "AES-CCM (",
        "AES256-GCM-SHA384",
        "DHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES256-SHA384",
        "TLS 1.2 suites offered: ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
         ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
    ] {
        assert!(w.contains(part), "missing {part:?} in {w}");
    }
    // !DSS and !aNULL removed those: not named as left out.
    assert!(
        !w.contains("DSS authentication") && !w.contains("anonymous"),
        "{w}"
    );
}

#[test]
fn high_without_anull_offers_every_rustls_suite() {
    let (s, w) = suites12("HIGH:!aNULL");
    assert_eq!(s.len(), 6);
    assert_eq!(s[0], C::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384);
    assert!(s.contains(&C::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256));
    assert!(w[0].contains("RSA key exchange"), "{w:?}");
}

#[test]
fn explicit_names_keep_their_order() {
    let (s, w) = suites12("ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305");
    assert_eq!(
        s,
        [
            C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            C::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        ]
    );
    assert!(w.is_empty(), "{w:?}");
    // IANA names are accepted as well.
    let (s, _) = suites12("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    assert_eq!(s, [C::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]);
}

#[test]
fn legacy_ciphers_are_named() {
    let (s, w) = suites12("RC4-SHA:DES-CBC3-SHA:ECDHE-RSA-DES-CBC3-SHA:SEED-SHA");
    assert!(s.is_empty());
    for part in [
        "RC4 (",
        "3DES (2",
        "RSA key exchange (3",
        "CBC mode (",
        "TLS 1.2 suites offered: none",
    ] {
        assert!(w[0].contains(part), "missing {part:?} in {w:?}");
    }
}

#[test]
fn unknown_words_are_warned_and_skipped() {
    let (list, w) = evaluate("ECDHE+AESGCM:FOO+BAR:NOT-A-CIPHER");
    assert_eq!(list.len(), 4);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains("'FOO'") && w[1].contains("NOT-A-CIPHER"),
        "{w:?}"
    );
}

#[test]
fn kill_is_permanent_delete_is_not() {
    assert_eq!(
        names(
            "ECDHE-RSA-AES128-GCM-SHA256:-ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
        ),
        ["ECDHE-RSA-AES128-GCM-SHA256"]
    );
    assert!(names("!ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256").is_empty());
}

#[test]
fn tls13_lists() {
    let p = provider();
    let (s, w) = tls13_suites("TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256", &p).unwrap();
    let s: Vec<C> = s.iter().map(|s| s.suite()).collect();
    assert_eq!(
        s,
        [
            C::TLS13_CHACHA20_POLY1305_SHA256,
            C::TLS13_AES_128_GCM_SHA256
        ]
    );
    assert!(w.is_empty());
    let (s, w) = tls13_suites("TLS_AES_128_CCM_SHA256:TLS_AES_256_GCM_SHA384", &p).unwrap();
    assert_eq!(s.len(), 1);
    assert!(
        w[0].contains("AES-CCM") && w[0].contains("TLS_AES_128_CCM_SHA256"),
        "{w:?}"
    );
    let e = tls13_suites("TLS_AES_256_GCM_SHA384:TLS_BOGUS", &p).unwrap_err();
    assert!(e.contains("TLS_BOGUS"), "{e}");
}
