//! `generate-certificates` + `ca-sign-file`: a client asking by SNI for a name no
//! certificate serves gets one made on the spot and signed by the CA, with the default
//! certificate's key; names a `crt` serves, and clients without SNI, get what they got
//! before. What clients saw, compared with Debian's HAProxy on the same configuration.

mod common;
use common::haproxy::Haproxy;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// A CA (certificate and key in one PEM file) and the CA certificate alone, for clients.
fn make_ca(dir: &TempDir) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "corelb test CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2040, 1, 1);
    let cert = p.self_signed(&key).unwrap();
    let both = dir.write("ca.pem", &format!("{}{}", cert.pem(), key.serialize_pem()));
    let crt = dir.write("ca.crt", &cert.pem());
    (both, crt)
}

/// What `openssl s_client` saw for `sni` (none: no SNI): the leaf's issuer, subject CN and
/// DNS names, whether its key is the default certificate's, and the chain's length.
fn seen(port: u16, sni: Option<&str>, default_pubkey: &str) -> String {
    let mut args = vec![
        "s_client".to_string(),
        "-connect".into(),
        format!("127.0.0.1:{port}"),
        "-showcerts".into(),
    ];
    match sni {
        Some(n) => args.extend(["-servername".into(), n.to_string()]),
        None => args.push("-noservername".into()),
    }
    let out = Command::new("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let chain = text.matches("-----BEGIN CERTIFICATE-----").count();
    let leaf = text
        .split("-----END CERTIFICATE-----")
        .next()
        .and_then(|s| s.split("-----BEGIN CERTIFICATE-----").nth(1))
        .map(|b| format!("-----BEGIN CERTIFICATE-----{b}-----END CERTIFICATE-----\n"))
        .unwrap_or_default();
    let x509 = |args: &[&str]| {
        let mut c = Command::new("openssl")
            .arg("x509")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(leaf.as_bytes()).unwrap();
        String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout)
            .trim()
            .to_string()
    };
    let issuer = x509(&["-noout", "-issuer", "-nameopt", "RFC2253"]);
    let san = x509(&["-noout", "-ext", "subjectAltName"]);
    let san = san
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .to_string();
    let same_key = x509(&["-noout", "-pubkey"]) == default_pubkey;
    let text = x509(&["-noout", "-text"]);
    let not_ca = text.contains("CA:FALSE");
    format!("{issuer} | {san} | default key: {same_key} | CA:FALSE {not_ca} | chain {chain}")
}

fn pubkey(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(pem)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn certificates_are_made_for_unknown_names_as_haproxy_makes_them() {
    let dir = TempDir::new("gencerts");
    let (ca, ca_crt) = make_ca(&dir);
    let default = self_signed_pem(&dir, "default.pem", &["default.example"]);
    let other = self_signed_pem(&dir, "other.pem", &["other.example"]);
    let default_key = pubkey(&default);
    let mut results = Vec::new();
    for who in ["corelb", "haproxy"] {
        let port = free_port();
        let cfg = format!(
            "defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 1s\n\
             frontend fe\n  bind 127.0.0.1:{port} ssl crt {} crt {} generate-certificates ca-sign-file {}\n  \
             http-request return status 200 content-type text/plain string ok\n",
            default.display(),
            other.display(),
            ca.display()
        );
        let _p: Box<dyn std::any::Any> = match who {
            "corelb" => Box::new(Corelb::start(&cfg, &[], &[port])),
            _ => match Haproxy::start(&cfg, &[port]) {
                Some(h) => Box::new(h),
                None => continue,
            },
        };
        // A client that trusts the CA reaches a name nobody configured. (Debian's HAProxy
        // 2.6.12 often drops the connection after a handshake with a certificate it has
        // just made, so only the certificates are compared with it.)
        if who == "corelb" {
            for name in ["made.example.org", "again.example.org", "made.example.org"] {
                let (out, err) = curl_tls(&ca_crt, name, port, "/", &[]);
                assert_eq!(out, "ok\n200 0", "{who} {name}: {err}");
            }
        }
        let got = [
            seen(port, Some("made.example.org"), &default_key),
            seen(port, Some("Other.Example"), &default_key),
            seen(port, None, &default_key),
        ];
        results.push((who, got));
    }
    let (_, lb) = &results[0];
    assert_eq!(
        lb[0],
        "issuer=CN=corelb test CA | DNS:made.example.org | default key: true | CA:FALSE true | chain 2"
    );
    assert!(
        lb[1].contains("DNS:other.example") && !lb[1].contains("test CA"),
        "{}",
        lb[1]
    );
    assert!(
        lb[2].contains("DNS:default.example") && lb[2].contains("chain 1"),
        "{}",
        lb[2]
    );
    if let Some((_, hap)) = results.get(1) {
        assert_eq!(lb, hap, "corelb, then HAProxy");
    }
    // Without the CA, generation cannot be on; an encrypted CA key is not read yet.
    let bind = format!(
        "frontend fe\n  bind 127.0.0.1:1 ssl crt {} generate-certificates",
        default.display()
    );
    expect_check(
        &dir,
        &format!("{bind}\n"),
        1,
        "c.cfg:2: 'bind 127.0.0.1:1': cannot enable certificate generation, no CA certificate File configured",
    );
    expect_check(
        &dir,
        &format!("{bind} ca-sign-file {} ca-sign-pass secret\n", ca.display()),
        1,
        "'ca-sign-pass': encrypted CA keys are not supported yet",
    );
}

/// The serial of the certificate served for `sni`.
fn serial(port: u16, sni: &str) -> String {
    let line = format!(
        "openssl s_client -connect 127.0.0.1:{port} -servername {sni} </dev/null 2>/dev/null | openssl x509 -noout -serial"
    );
    let out = Command::new("sh").arg("-c").arg(line).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `tune.ssl.ssl-ctx-cache-size 1`: a made certificate is forgotten when another is made,
/// so a name asked for again gets a new one (another serial); with the default 1000 it gets
/// the same: as Debian's HAProxy.
#[test]
fn ssl_ctx_cache_size_bounds_the_made_certificates_like_haproxy() {
    let dir = TempDir::new("ctxcache");
    let (ca, _) = make_ca(&dir);
    let default = self_signed_pem(&dir, "default.pem", &["default.example"]);
    let run = |who: &str, global: &str| -> Option<bool> {
        let port = free_port();
        let cfg = format!(
            "global\n{global}defaults\n  mode http\n  timeout connect 1s\n  timeout client 5s\n  timeout server 1s\n\
             frontend fe\n  bind 127.0.0.1:{port} ssl crt {} generate-certificates ca-sign-file {}\n  \
             http-request return status 200 content-type text/plain string ok\n",
            default.display(),
            ca.display()
        );
        let _p: Box<dyn std::any::Any> = match who {
            "corelb" => Box::new(Corelb::start(&cfg, &[], &[port])),
            _ => Box::new(Haproxy::start(&cfg, &[port])?),
        };
        let first = serial(port, "a.example.org");
        assert!(first.starts_with("serial="), "{who}: {first:?}");
        serial(port, "b.example.org");
        Some(serial(port, "a.example.org") == first)
    };
    assert_eq!(run("corelb", ""), Some(true), "kept");
    assert_eq!(
        run("corelb", "  tune.ssl.ssl-ctx-cache-size 1\n"),
        Some(false),
        "forgotten"
    );
    if let Some(kept) = run("haproxy", "") {
        assert!(kept, "HAProxy keeps it");
        assert_eq!(
            run("haproxy", "  tune.ssl.ssl-ctx-cache-size 1\n"),
            Some(false),
            "HAProxy"
        );
    }
}
