//! TLS end to end: `bind … ssl` in both modes, TLS versions, SNI, RSA and ECDSA, TLS to
//! servers and TLS health checks, bounded load through the bundled generator, config errors,
//! and the kTLS fallback on a kernel without it. Certificates come from a CA generated here.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A test CA and the leaf certificates it signs, as PEM files in a directory.
struct Pki {
    dir: TempDir,
    ca_key: rcgen::KeyPair,
    ca_params: rcgen::CertificateParams,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new("tls");
        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "corelb test CA");
        ca_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        ca_params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        dir.write("ca.pem", &ca.pem());
        Pki {
            dir,
            ca_key,
            ca_params,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.path("ca.pem")
    }

    /// A leaf for `names` with subject CN `cn`, chain and key in one PEM `file`.
    fn leaf(&self, file: &str, names: &[&str], cn: &str, rsa: bool) -> PathBuf {
        let key = if rsa {
            let pem = Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .output()
                .expect("openssl CLI (apt-get install openssl)");
            rcgen::KeyPair::from_pem(&String::from_utf8(pem.stdout).unwrap()).unwrap()
        } else {
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
        };
        let mut p =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        self.sign(file, p, key)
    }

    /// Signs `p` (valid 2020–2040) for `key`; the certificate and the key in one PEM `file`.
    fn sign(&self, file: &str, mut p: rcgen::CertificateParams, key: rcgen::KeyPair) -> PathBuf {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        let cert = p.signed_by(&key, &issuer).unwrap();
        self.dir
            .write(file, &format!("{}{}", cert.pem(), key.serialize_pem()))
    }
}

impl Pki {
    /// A client certificate (clientAuth) with subject `O=corelb tests, CN=cn` and the
    /// given serial, chain and key in one PEM `file` (what curl's `--cert` takes).
    fn client(&self, file: &str, cn: &str, serial: &[u8]) -> PathBuf {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "corelb tests");
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(file, p, key)
    }

    /// A CRL of this CA revoking `serials`.
    fn crl(&self, file: &str, serials: &[&[u8]]) -> PathBuf {
        let p = rcgen::CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2039, 1, 1),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| rcgen::RevokedCertParams {
                    serial_number: rcgen::SerialNumber::from_slice(s),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let issuer = rcgen::Issuer::from_params(&self.ca_params, &self.ca_key);
        self.dir
            .write(file, &p.signed_by(&issuer).unwrap().pem().unwrap())
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `openssl s_client` to `port` with `args`; its stdout and stderr together.
fn s_client(port: u16, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("openssl CLI");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const DEFAULTS: &str = "global\n  log stderr local0\ndefaults\n  log global\n  option httplog\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n";

#[test]
fn curl_over_tls_1_2_and_1_3_reaches_the_backend() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let be = Serve::start("b1", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request set-header X-Forwarded-Proto https if {{ ssl_fc }}\n  http-request set-header X-SNI %[ssl_fc_sni]\n  http-request set-header X-TLS %[ssl_fc_protocol]\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    for (args, proto) in [
        (&["--tlsv1.3"][..], "TLSv1.3"),
        (&["--tlsv1.2", "--tls-max", "1.2"][..], "TLSv1.2"),
    ] {
        let (out, err) = curl_tls(&pki.ca(), "localhost", port, "/echo", args);
        assert!(
            out.ends_with("200 0"),
            "{proto}: {out}\n{err}\n{}",
            lb.log()
        );
        assert!(out.contains("\"server\":\"b1\""), "{out}");
        assert!(
            out.contains(r#"["X-Forwarded-Proto","https"]"#),
            "X-Forwarded-Proto: {out}"
        );
        assert!(
            out.contains(r#"["X-SNI","localhost"]"#),
            "ssl_fc_sni: {out}"
        );
        assert!(
            out.contains(&format!(r#"["X-TLS","{proto}"]"#)),
            "ssl_fc_protocol: {out}"
        );
    }
    // The log marks TLS frontends with '~', as HAProxy does.
    assert!(lb.log().contains("fe~ be/b1"), "{}", lb.log());
}

#[test]
fn tls_1_1_is_refused_1_2_and_1_3_accepted() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let be = Serve::start("b1", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{port} ssl crt {}\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    // SECLEVEL=0 so that it is corelb, not the client, that refuses TLS 1.1.
    let old = s_client(port, &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]);
    assert!(
        old.contains("Cipher is (NONE)") || old.contains("alert"),
        "TLS 1.1 must be refused:\n{old}"
    );
    for (flag, proto) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(port, &[flag, "-servername", "localhost"]);
        assert!(
            out.contains(&format!("Protocol  : {proto}")) || out.contains(&format!("New, {proto}")),
            "{flag} must be accepted:\n{out}"
        );
        assert!(!out.contains("Cipher is (NONE)"), "{out}");
    }
    // The refused handshake is logged, as HAProxy logs it.
    let log = eventually(Duration::from_secs(3), || {
        let l = lb.log();
        l.contains("fe/1: SSL handshake failure").then_some(l)
    });
    assert!(log.is_some(), "{}", lb.log());
}

#[test]
fn sni_selects_the_certificate_rsa_and_ecdsa() {
    let pki = Pki::new();
    let a = pki.leaf("a.pem", &["a.example", "*.a.example"], "site A", false);
    let b = pki.leaf("b.pem", &["b.example"], "site B", true);
    let be = Serve::start("b1", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{port} ssl crt {} crt {}\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        a.display(),
        b.display(),
        be.port
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let subject = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("subject="))
            .unwrap_or("")
            .to_string()
    };
    let ca = pki.ca();
    let ca = ca.to_str().unwrap();
    for (sni, want, key) in [
        (Some("b.example"), "site B", "2048 bit"),
        (Some("a.example"), "site A", "256 bit"),
        (Some("www.a.example"), "site A", "256 bit"),
        // No SNI, or an unknown name: the first certificate.
        (None, "site A", "256 bit"),
        (Some("other.example"), "site A", "256 bit"),
    ] {
        let mut args = vec!["-CAfile", ca, "-tls1_3"];
        if let Some(n) = sni {
            args.extend(["-servername", n]);
        } else {
            args.push("-noservername");
        }
        let out = s_client(port, &args);
        assert!(
            subject(&out).contains(want),
            "SNI {sni:?}: want {want}, got {}\n{out}",
            subject(&out)
        );
        assert!(
            out.contains(&format!("Server public key is {key}")),
            "{sni:?}: {out}"
        );
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
    }
    // And a full request over each.
    for host in ["a.example", "b.example"] {
        let (out, err) = curl_tls(&pki.ca(), host, port, "/", &[]);
        assert!(out.ends_with("200 0"), "{host}: {out}\n{err}");
    }
}

/// Runs `corelb-bench attack` for a bounded schedule and returns the JSON report.
fn attack(target: &str, rate: &str, duration: &str, extra: &[&str]) -> String {
    let bench = bench_bin();
    let mut attack = Command::new(&bench)
        .args([
            "attack",
            "--cpus",
            "1",
            "--rate",
            rate,
            "--duration",
            duration,
        ])
        .args(["--timeout", "10s"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = attack.stdin.take().unwrap();
        writeln!(stdin, "GET {target}").unwrap();
    }
    let results = attack.wait_with_output().unwrap();
    assert!(results.status.success(), "attack failed");
    let mut report = Command::new(&bench)
        .args(["report", "--type", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        report
            .stdin
            .take()
            .unwrap()
            .write_all(&results.stdout)
            .unwrap();
    }
    let out = report.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn json_u64(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    json[at..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn bounded_tls_load_through_the_generator_has_no_failure() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost", "127.0.0.1"], "localhost", false);
    let be = Serve::start("b1", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{port} ssl crt {}\n  default_backend be\nbackend be\n  mode http\n  http-reuse always\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[port]);
    // The certificate names 127.0.0.1 too (an IP SAN), which the generator verifies.
    let target = format!("https://127.0.0.1:{port}/");
    let roots = format!("--root-certs={}", pki.ca().display());
    for (what, rate, duration, keepalive, want) in [
        ("keep-alive", "1000/s", "2s", "--keepalive=true", 2000),
        (
            "new connection per request",
            "300/s",
            "1s",
            "--keepalive=false",
            300,
        ),
    ] {
        let r = attack(
            &target,
            rate,
            duration,
            &[&roots, keepalive, "--max-workers", "64"],
        );
        let requests = json_u64(&r, "requests");
        assert_eq!(requests, Some(want), "{what}: {r}");
        assert!(
            r.contains("\"success\":1") || r.contains("\"success\": 1"),
            "{what}: every request must succeed: {r}\n{}",
            lb.log()
        );
        assert!(r.contains("\"200\":"), "{what}: {r}");
    }
}

#[test]
fn mode_tcp_terminates_tls_and_forwards_plain_tcp() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let be = Serve::start("plain", &[]);
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  option tcplog\nfrontend ft\n  mode tcp\n  bind 127.0.0.1:{port} ssl crt {}\n  default_backend bt\nbackend bt\n  mode tcp\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    // A 4 MiB body through the TLS tunnel, and the backend saw a plain connection.
    let (out, err) = curl_tls(
        &pki.ca(),
        "localhost",
        port,
        "/large?size=4194304",
        &["-o", "/dev/null"],
    );
    assert!(out.ends_with("200 0"), "{out}\n{err}\n{}", lb.log());
    let (out, _) = curl_tls(&pki.ca(), "localhost", port, "/echo", &[]);
    assert!(out.contains("\"tls\":false"), "{out}");
    assert!(out.contains("\"server\":\"plain\""), "{out}");
}

#[test]
fn redirect_to_https_unless_ssl_fc() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let be = Serve::start("b1", &[]);
    let (plain, tls) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{plain}\n  bind 127.0.0.1:{tls} ssl crt {}\n  http-request redirect scheme https unless {{ ssl_fc }}\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let _lb = Corelb::start(&cfg, &[], &[plain, tls]);
    let r = raw_exchange(
        plain,
        b"GET /x?y=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 302"), "{r}");
    assert!(
        r.to_ascii_lowercase()
            .contains("location: https://localhost/x?y=1"),
        "{r}"
    );
    let (out, err) = curl_tls(&pki.ca(), "localhost", tls, "/", &[]);
    assert!(out.ends_with("200 0"), "{out}\n{err}");
}

#[test]
fn tls_to_servers_and_tls_health_checks() {
    let pki = Pki::new();
    let site = pki.leaf("backend.pem", &["backend.test"], "backend", false);
    let tls_be = Serve::start("tls-backend", &["--tls-cert", site.to_str().unwrap()]);
    // A CA that did not sign the backend's certificate.
    let other = Pki::new();
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  option log-health-checks\nfrontend fe\n  mode http\n  bind 127.0.0.1:{port}\n  use_backend wrongca if {{ path_beg /wrong }}\n  use_backend insecure if {{ path_beg /insecure }}\n  default_backend good\nbackend good\n  mode http\n  server s1 127.0.0.1:{p} ssl verify required ca-file {ca} sni str(backend.test) check inter 300\nbackend wrongca\n  mode http\n  retries 0\n  server s1 127.0.0.1:{p} ssl verify required ca-file {oca} sni str(backend.test) check inter 300\nbackend insecure\n  mode http\n  server s1 127.0.0.1:{p} ssl verify none\n",
        p = tls_be.port,
        ca = pki.ca().display(),
        oca = other.ca().display(),
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    // The check over TLS fails for the wrong CA: the server goes DOWN with a Layer6 reason.
    let down = eventually(Duration::from_secs(5), || {
        let l = lb.log();
        l.contains("Server wrongca/s1 is DOWN, reason: Layer6")
            .then_some(l)
    });
    assert!(down.is_some(), "{}", lb.log());
    let r = raw_exchange(
        port,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "{r}\n{}", lb.log());
    assert!(r.contains("\"tls\":true"), "the backend saw TLS: {r}");
    let r = raw_exchange(
        port,
        b"GET /insecure/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 200"), "verify none: {r}");
    let r = raw_exchange(
        port,
        b"GET /wrong HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    // The good server's checks pass over TLS and it never went down.
    assert!(!lb.log().contains("Server good/s1 is DOWN"), "{}", lb.log());
}

#[test]
fn ktls_probe_is_logged_once_and_rustls_serves_without_it() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let be = Serve::start("b1", &[]);
    let (p1, p2) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{p1} ssl crt {s}\n  bind 127.0.0.1:{p2} ssl crt {s}\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        be.port,
        s = site.display(),
    );
    let lb = Corelb::start(&cfg, &["--shards", "2"], &[p1, p2]);
    for p in [p1, p2] {
        let (out, err) = curl_tls(&pki.ca(), "localhost", p, "/", &[]);
        assert!(out.ends_with("200 0"), "{out}\n{err}");
    }
    let log = lb.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("kTLS")).collect();
    assert_eq!(lines.len(), 1, "one kTLS line for the process:\n{log}");
    let kernel_has_tls = lines[0].contains("kTLS available");
    if !kernel_has_tls {
        assert!(
            lines[0].contains("kTLS unavailable") && lines[0].contains("rustls in user space"),
            "{}",
            lines[0]
        );
    }
    // `noktls` skips the probe: no line at all.
    let p3 = free_port();
    let cfg = format!(
        "global\n  noktls\n  log stderr local0\ndefaults\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\nfrontend fe\n  mode http\n  bind 127.0.0.1:{p3} ssl crt {}\n  default_backend be\nbackend be\n  mode http\n  server b1 127.0.0.1:{}\n",
        site.display(),
        be.port
    );
    let lb = Corelb::start(&cfg, &[], &[p3]);
    let (out, _) = curl_tls(&pki.ca(), "localhost", p3, "/", &[]);
    assert!(out.ends_with("200 0"), "{out}");
    assert!(!lb.log().contains("kTLS"), "{}", lb.log());
}

#[test]
fn certificate_errors_name_file_and_line() {
    let pki = Pki::new();
    let good = pki.leaf("good.pem", &["localhost"], "localhost", false);
    let other = pki.leaf("other.pem", &["localhost"], "localhost", false);
    let d = &pki.dir;
    // A certificate with another certificate's key.
    let text = |p: &Path| std::fs::read_to_string(p).unwrap();
    let cert_of =
        |s: &str| s[..s.find("-----END CERTIFICATE-----").unwrap() + 25].to_string() + "\n";
    let key_of = |s: &str| s[s.find("-----BEGIN PRIVATE KEY-----").unwrap()..].to_string();
    let mismatch = d.write(
        "mismatch.pem",
        &(cert_of(&text(&good)) + &key_of(&text(&other))),
    );
    let nokey = d.write("nokey.pem", &cert_of(&text(&good)));
    // Expired: signed by the CA, valid 2020–2021.
    let expired = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut p = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let issuer = rcgen::Issuer::from_params(&pki.ca_params, &pki.ca_key);
        let c = p.signed_by(&key, &issuer).unwrap();
        d.write("expired.pem", &(c.pem() + &key.serialize_pem()))
    };
    let ca = pki.ca().display().to_string();
    let client_auth = [
        ("verify required".to_string(), "no CA file specified"),
        (
            "verify sometimes".into(),
            "expects 'none', 'optional' or 'required'",
        ),
        (
            "verify optional ca-file /nonexistent/ca.pem".into(),
            "unable to load CA file",
        ),
        (
            format!("verify required ca-file {ca} crl-file /nonexistent/crl.pem"),
            "unable to load CRL file",
        ),
        (
            format!("verify required ca-file {ca} crt-ignore-err X509_V_ERR_NOPE"),
            "X509_V_ERR_NOPE",
        ),
    ];
    let certs = [
        (d.path("missing.pem"), "missing.pem"),
        (mismatch, "does not match"),
        (nokey, "key"),
        (expired, "expired"),
    ];
    let cases = certs
        .into_iter()
        .map(|(c, w)| (c, String::new(), w))
        .chain(client_auth.into_iter().map(|(x, w)| (good.clone(), x, w)));
    for (crt, extra, want) in cases {
        let cfg = d.write(
            "t.cfg",
            &format!(
                "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\nfrontend fe\n  bind 127.0.0.1:1 ssl crt {} {extra}\n  default_backend be\nbackend be\n  server s 127.0.0.1:2\n",
                crt.display()
            ),
        );
        let (code, out, err) = check_config(&cfg);
        let all = format!("{out}{err}");
        assert_eq!(code, 1, "{crt:?} must be an error:\n{all}");
        let line = all
            .lines()
            .find(|l| l.contains(want))
            .unwrap_or_else(|| panic!("no '{want}' in:\n{all}"));
        assert!(
            line.contains(&format!("{}:7:", cfg.display())),
            "the error names the file and the bind line: {line}"
        );
    }
}

#[test]
fn tools_are_here() {
    // The tests above need these; scripts/test.sh installs them.
    for t in ["curl", "openssl"] {
        assert!(have(t), "{t} is missing: apt-get install {t}");
    }
}

/// mode tcp to a `server … ssl` (a TLS HTTP server here), and the request that comes back
/// through the tunnel: `(corelb, port of a plain bind, port of an accept-proxy bind)`.
fn tcp_to_tls_server(be: &Serve) -> (Corelb, u16, u16) {
    let (plain, proxied) = (free_port(), free_port());
    let cfg = format!(
        "{DEFAULTS}  option tcplog\nfrontend ft\n  mode tcp\n  bind 127.0.0.1:{plain}\n  bind 127.0.0.1:{proxied} accept-proxy\n  default_backend bt\nbackend bt\n  mode tcp\n  server s1 127.0.0.1:{} ssl verify none\n",
        be.port
    );
    (Corelb::start(&cfg, &[], &[plain, proxied]), plain, proxied)
}

const ECHO: &str =
    "GET /echo HTTP/1.1\r\nHost: backend.test\r\nX-Early: yes\r\nConnection: close\r\n\r\n";

#[test]
fn mode_tcp_to_a_tls_server() {
    let pki = Pki::new();
    let site = pki.leaf("backend.pem", &["backend.test"], "backend", false);
    let be = Serve::start("tls-backend", &["--tls-cert", site.to_str().unwrap()]);
    let (lb, plain, _) = tcp_to_tls_server(&be);
    let r = raw_exchange(plain, ECHO.as_bytes());
    assert!(r.starts_with("HTTP/1.1 200"), "{r}\n{}", lb.log());
    assert!(r.contains("\"tls\":true"), "the server saw TLS: {r}");
}

/// The bytes that arrive with the client's PROXY header (one write here) go to the server
/// through TLS after the handshake; they used to be written in clear before the
/// ClientHello, which broke the handshake and would have leaked them.
#[test]
fn mode_tcp_sends_early_bytes_to_a_tls_server_after_the_handshake() {
    let pki = Pki::new();
    let site = pki.leaf("backend.pem", &["backend.test"], "backend", false);
    let be = Serve::start("tls-backend", &["--tls-cert", site.to_str().unwrap()]);
    let (lb, _, proxied) = tcp_to_tls_server(&be);
    let first = format!("PROXY TCP4 192.0.2.7 127.0.0.1 40000 {proxied}\r\n{ECHO}");
    let r = raw_exchange(proxied, first.as_bytes());
    assert!(r.starts_with("HTTP/1.1 200"), "{r}\n{}", lb.log());
    assert!(r.contains("\"tls\":true"), "the server saw TLS: {r}");
    assert!(
        r.to_ascii_lowercase().contains("x-early"),
        "the early bytes arrived decrypted: {r}"
    );
}

/// A failed TLS handshake to a server is a failed connect, as in HAProxy: `retries` and
/// `option redispatch` apply in mode tcp as in mode http (it used to end the connection).
#[test]
fn mode_tcp_retries_a_failed_tls_handshake_on_another_server() {
    let pki = Pki::new();
    let site = pki.leaf("backend.pem", &["backend.test"], "backend", false);
    let good = Serve::start("good", &["--tls-cert", site.to_str().unwrap()]);
    // Answers plain text and closes: no handshake can succeed with it.
    let junk = Backend::named("junk");
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}  option tcplog\nlisten l\n  mode tcp\n  bind 127.0.0.1:{port}\n  balance roundrobin\n  retries 2\n  option redispatch\n  server junk 127.0.0.1:{} ssl verify none\n  server good 127.0.0.1:{} ssl verify none\n",
        junk.port, good.port
    );
    let lb = Corelb::start(&cfg, &[], &[port]);
    for _ in 0..4 {
        let r = raw_exchange(port, ECHO.as_bytes());
        assert!(r.starts_with("HTTP/1.1 200"), "{r}\n{}", lb.log());
        assert!(r.contains("\"server\":\"good\""), "{r}");
    }
    assert!(
        junk.accepted.load(std::sync::atomic::Ordering::Relaxed) >= 1,
        "the failing server was tried"
    );
}

/// `openssl s_server` serving `default` and, to clients that send the SNI `name`, `named`;
/// killed when dropped.
struct SniServer {
    child: std::process::Child,
    port: u16,
}

impl SniServer {
    fn start(default: &Path, name: &str, named: &Path) -> SniServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(default)
            .arg("-key")
            .arg(default)
            .arg("-cert2")
            .arg(named)
            .arg("-key2")
            .arg(named)
            .args(["-servername", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let up = eventually(Duration::from_secs(10), || listening(port).then_some(()));
        assert!(up.is_some(), "openssl s_server did not listen on {port}");
        SniServer { child, port }
    }
}

impl Drop for SniServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn check_ssl_sends_check_sni_and_verifies_the_certificate() {
    let pki = Pki::new();
    let good = pki.leaf("good.pem", &["good.test"], "good", false);
    let dflt = pki.leaf("default.pem", &["default.test"], "default", false);
    let other = Pki::new();
    // Each server presents good.test's certificate only to a client that asks for it
    // (one s_server per checked server: it serves one connection at a time).
    let lines = [
        ("named", "verify required ca-file {ca} check-sni good.test"),
        (
            "othername",
            "verify required ca-file {ca} check-sni other.test",
        ),
        (
            "wrongca",
            "verify required ca-file {oca} check-sni good.test",
        ),
        ("unverified", "verify none check-sni other.test"),
        ("nosni", "verify required ca-file {ca} verifyhost good.test"),
    ];
    let mut servers = Vec::new();
    let port = free_port();
    let mut cfg = format!(
        "{DEFAULTS}  timeout check 2s\nlisten l\n  mode tcp\n  bind 127.0.0.1:{port}\n  default-server check check-ssl inter 500 rise 1 fall 1\n"
    );
    for (name, opts) in lines {
        let srv = SniServer::start(&dflt, "good.test", &good);
        let opts = opts
            .replace("{ca}", &pki.ca().display().to_string())
            .replace("{oca}", &other.ca().display().to_string());
        cfg.push_str(&format!("  server {name} 127.0.0.1:{} {opts}\n", srv.port));
        servers.push(srv);
    }
    let lb = Corelb::start(&cfg, &[], &[port]);
    // A certificate for another name, one from another CA, and (no SNI sent) the default
    // certificate: each check fails its handshake.
    for s in ["othername", "wrongca", "nosni"] {
        let needle = format!("Server l/{s} is DOWN, reason: Layer6 invalid response");
        let seen = eventually(Duration::from_secs(10), || {
            lb.log().contains(&needle).then_some(())
        });
        assert!(seen.is_some(), "no '{needle}':\n{}", lb.log());
    }
    std::thread::sleep(Duration::from_millis(600));
    let log = lb.log();
    // check-sni good.test got good.test's certificate, verified against the CA.
    assert!(!log.contains("Server l/named is DOWN"), "{log}");
    assert!(!log.contains("Server l/unverified is DOWN"), "{log}");
}

/// The client-certificate configuration of `client_certificates_verify_*`: three binds
/// (`verify required`, `verify optional`, `verify required` + `crl-file`) that answer with
/// what the `ssl_c_*` fetches say.
fn client_cert_config(pki: &Pki, site: &Path, crl: &Path, ports: [u16; 4]) -> String {
    let ca = pki.ca();
    let (crt, ca) = (site.display(), ca.display());
    format!(
        "{DEFAULTS}frontend fe\n  mode http\n\
         \x20 bind 127.0.0.1:{} ssl crt {crt} verify required ca-file {ca}\n\
         \x20 bind 127.0.0.1:{} ssl crt {crt} verify optional ca-file {ca}\n\
         \x20 bind 127.0.0.1:{} ssl crt {crt} verify required ca-file {ca} crl-file {}\n\
         \x20 bind 127.0.0.1:{} ssl crt {crt} verify required ca-file {ca} crt-ignore-err all\n\
         \x20 http-request return status 200 content-type text/plain lf-string \"used=%[ssl_c_used] verify=%[ssl_c_verify] s=%[ssl_c_s_dn] cn=%[ssl_c_s_dn(CN)] o=%[ssl_c_s_dn(O)] rfc=%[ssl_c_s_dn(,0,rfc2253)] i=%[ssl_c_i_dn] icn=%[ssl_c_i_dn(CN)] serial=%[ssl_c_serial,hex] sha1=%[ssl_c_sha1,hex] nb=%[ssl_c_notbefore] na=%[ssl_c_notafter] v=%[ssl_c_version]\" if {{ ssl_c_used }}\n\
         \x20 http-request return status 200 content-type text/plain lf-string \"used=%[ssl_c_used] verify=%[ssl_c_verify] s=%[ssl_c_s_dn]\"\n",
        ports[0],
        ports[1],
        ports[2],
        crl.display(),
        ports[3]
    )
}

/// Every case of the client-certificate test, against one running balancer: a label and
/// what curl got (body + "\nSTATUS VERIFY").
fn client_cert_cases(
    pki: &Pki,
    good: &Path,
    revoked: &Path,
    foreign: &Path,
    ports: [u16; 4],
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let cases: [(&str, u16, Option<&Path>); 9] = [
        ("required+good", ports[0], Some(good)),
        ("required+none", ports[0], None),
        ("required+foreign", ports[0], Some(foreign)),
        ("optional+good", ports[1], Some(good)),
        ("optional+none", ports[1], None),
        ("optional+foreign", ports[1], Some(foreign)),
        ("crl+good", ports[2], Some(good)),
        ("crl+revoked", ports[2], Some(revoked)),
        ("ignore+foreign", ports[3], Some(foreign)),
    ];
    for (label, port, cert) in cases {
        let mut args = vec!["--tlsv1.2".to_string()];
        if let Some(c) = cert {
            args.push("--cert".into());
            args.push(c.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (body, _) = curl_tls(&pki.ca(), "localhost", port, "/", &args);
        out.push((label.to_string(), body));
    }
    out
}

#[test]
fn client_certificates_verify_required_optional_and_crl() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["localhost"], "localhost", false);
    let good = pki.client("good.pem", "client one", &[0x0a, 0xbc, 0xde, 0x01]);
    let revoked = pki.client("revoked.pem", "client two", &[0x0a, 0xbc, 0xde, 0x02]);
    let crl = pki.crl("crl.pem", &[&[0x0a, 0xbc, 0xde, 0x02]]);
    let other = Pki::new();
    let foreign = other.client("foreign.pem", "stranger", &[0x05]);
    let ports = [free_port(), free_port(), free_port(), free_port()];
    let cfg = client_cert_config(&pki, &site, &crl, ports);
    let lb = Corelb::start(&cfg, &[], &ports);
    let got = client_cert_cases(&pki, &good, &revoked, &foreign, ports);
    let get = |l: &str| got.iter().find(|(k, _)| k == l).unwrap().1.clone();

    // What the certificate says, independently of both proxies: the openssl CLI.
    let x509 = |arg: &str| {
        let o = Command::new("openssl")
            .args(["x509", "-noout", arg, "-in"])
            .arg(&good)
            .output()
            .expect("openssl CLI");
        let t = String::from_utf8(o.stdout).unwrap();
        t.trim().split('=').nth(1).unwrap().replace(':', "")
    };
    let ok = get("required+good");
    assert!(ok.ends_with("\n200 0"), "{ok}\n{}", lb.log());
    assert!(
        ok.starts_with(&format!(
            "used=1 verify=0 s=/CN=client one/O=corelb tests cn=client one o=corelb tests \
             rfc=O=corelb tests,CN=client one i=/CN=corelb test CA icn=corelb test CA \
             serial={} sha1={} nb=200101000000Z na=400101000000Z v=3",
            x509("-serial"),
            x509("-fingerprint")
        )),
        "{ok}"
    );
    // No certificate: refused under 'required', let in under 'optional'.
    assert!(
        get("required+none").ends_with("\n000 0"),
        "{}",
        get("required+none")
    );
    assert!(
        get("optional+none").starts_with("used=0 verify=0 s=\n200"),
        "{}",
        get("optional+none")
    );
    assert!(get("optional+good").starts_with("used=1 verify=0 s=/CN=client one/O=corelb tests"));
    // A certificate from another CA fails the handshake under both.
    for l in ["required+foreign", "optional+foreign", "crl+revoked"] {
        assert!(get(l).ends_with("\n000 0"), "{l}: {}", get(l));
    }
    assert!(
        get("crl+good").starts_with("used=1 verify=0"),
        "{}",
        get("crl+good")
    );
    // 'crt-ignore-err all' lets the stranger in, and says what was wrong: its CA has the
    // same name as ours, so the signature fails (7, X509_V_ERR_CERT_SIGNATURE_FAILURE).
    let ignored = get("ignore+foreign");
    assert!(
        ignored.starts_with("used=1 verify=7 s=/CN=stranger/"),
        "{ignored}"
    );
    // HAProxy's wording for a refused certificate, and for a missing one.
    let log = eventually(Duration::from_secs(5), || {
        let l = lb.log();
        (l.matches("fe/3: SSL client certificate not trusted")
            .count()
            == 1
            && l.matches("SSL client certificate not trusted").count() == 3)
            .then_some(l)
    });
    assert!(log.is_some(), "{}", lb.log());
    assert!(
        lb.log().contains("fe/1: SSL handshake failure"),
        "{}",
        lb.log()
    );
    drop(lb);

    // HAProxy 2.6 on the same configuration: the same answers, byte for byte.
    let Some(hp) = common::haproxy::Haproxy::start(&cfg, &ports) else {
        return;
    };
    let theirs = client_cert_cases(&pki, &good, &revoked, &foreign, ports);
    for ((label, a), (_, b)) in got.iter().zip(&theirs) {
        assert_eq!(a, b, "{label}: corelb vs haproxy\n{}", hp.log());
    }
}

/// One `openssl s_client` connection (TLS `version`: `-tls1_2` or `-tls1_3`) that saves its
/// session to `out` or resumes the one in `inp`: ("New"/"Reused", the ticket lifetime hint).
fn s_client_session(
    port: u16,
    version: &str,
    inp: Option<&Path>,
    out: Option<&Path>,
) -> (String, String) {
    let mut cmd = Command::new("sh");
    let mut line = format!("sleep 0.5 | openssl s_client {version} -connect 127.0.0.1:{port}");
    if let Some(p) = inp {
        line += &format!(" -sess_in {}", p.display());
    }
    if let Some(p) = out {
        line += &format!(" -sess_out {}", p.display());
    }
    let o = cmd.arg("-c").arg(line + " 2>/dev/null").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let kind = text
        .lines()
        .find(|l| l.starts_with("New,") || l.starts_with("Reused,"))
        .map(|l| l.split(',').next().unwrap().to_string())
        .unwrap_or_default();
    let hint = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("TLS session ticket lifetime hint: "))
        .and_then(|h| h.split(' ').next())
        .unwrap_or("")
        .to_string();
    (kind, hint)
}

/// `tune.ssl.lifetime`: the tickets' lifetime hint (OpenSSL's 7200 s without it, as Debian's
/// HAProxy shows), and a session is resumed within the lifetime and not after it, from a
/// TLS 1.2 ticket as from a TLS 1.3 one. TLS 1.2 compared with HAProxy step by step.
#[test]
fn tune_ssl_lifetime_bounds_resumption_like_haproxy() {
    let dir = TempDir::new("lifetime");
    let pem = self_signed_pem(&dir, "c.pem", &["localhost"]);
    let run = |prog: &str, global: &str, version: &str, wait: bool| -> Vec<(String, String)> {
        let port = free_port();
        let cfg = format!(
            "global\n{global}defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend f\n  bind 127.0.0.1:{port} ssl crt {}\n  http-request return status 200\n",
            pem.display()
        );
        let path = dir.write(&format!("{port}.cfg"), &cfg);
        let extra: &[&str] = if prog == "haproxy" {
            &["-db"]
        } else {
            &["--shards", "1"]
        };
        let mut child = Command::new(prog)
            .args(extra)
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(Duration::from_secs(10), || listening(port).then_some(()));
        assert!(up.is_some(), "{prog} did not start");
        let sess = dir.path(&format!("{port}.sess"));
        let mut seen = vec![s_client_session(port, version, None, Some(&sess))];
        if wait {
            seen.push(s_client_session(port, version, Some(&sess), None));
            std::thread::sleep(Duration::from_millis(2600));
            seen.push(s_client_session(port, version, Some(&sess), None));
        }
        let _ = child.kill();
        let _ = child.wait();
        seen
    };
    let haproxy = Command::new("haproxy").arg("-v").output().is_ok();
    let new = |hint: &str| ("New".to_string(), hint.to_string());
    // The hint, without and with the setting.
    for (global, hint) in [("", "7200"), ("  tune.ssl.lifetime 5m\n", "300")] {
        for v in ["-tls1_2", "-tls1_3"] {
            let ours = run(corelb_bin(), global, v, false);
            assert_eq!(ours, [new(hint)], "{global} {v}");
            if haproxy {
                assert_eq!(run("haproxy", global, v, false), ours, "{global} {v}");
            }
        }
    }
    // Resumed at once, refused once the 2 s have passed.
    let global = "  tune.ssl.lifetime 2\n";
    let reused = ("Reused".to_string(), "2".to_string());
    let ours = run(corelb_bin(), global, "-tls1_2", true);
    assert_eq!(ours, [new("2"), reused.clone(), new("2")], "TLS 1.2");
    if haproxy {
        assert_eq!(run("haproxy", global, "-tls1_2", true), ours);
    }
    let ours = run(corelb_bin(), global, "-tls1_3", true);
    assert_eq!(ours, [new("2"), reused, new("2")], "TLS 1.3");
}

/// A backend that reads a PROXY v2 header, hands its bytes to the test, answers one line and
/// closes.
fn pp2_recorder() -> (Backend, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let be = Backend::start(move |mut s| {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut head = [0u8; 16];
        if s.read_exact(&mut head).is_err() {
            return;
        }
        let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
        let mut rest = vec![0u8; len];
        if s.read_exact(&mut rest).is_err() {
            return;
        }
        let mut all = head.to_vec();
        all.extend_from_slice(&rest);
        let _ = tx.lock().unwrap().send(all);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nok\n");
    });
    (be, rx)
}

/// The TLVs of a PROXY v2 header, with the SSL TLV's sub-TLVs spelled out: (type, value)
/// in wire order; the CRC32C value is replaced by whether it verifies (the addresses it
/// covers differ from run to run).
fn pp2_tlvs(h: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(&h[..12], b"\r\n\r\n\0\r\nQUIT\n", "v2 signature");
    let addr_len = match h[13] {
        0x11 => 12,
        0x21 => 36,
        _ => 0,
    };
    let mut out = Vec::new();
    let mut rest = &h[16 + addr_len..];
    while rest.len() >= 3 {
        let (t, n) = (rest[0], usize::from(u16::from_be_bytes([rest[1], rest[2]])));
        let v = &rest[3..3 + n];
        match t {
            0x03 => {
                let mut z = h.to_vec();
                let at = h.len() - rest.len() + 3;
                z[at..at + 4].fill(0);
                let ok = crc32c(&z) == u32::from_be_bytes(v.try_into().unwrap());
                out.push((t, vec![ok as u8]));
            }
            0x20 => {
                out.push((t, v[..5].to_vec()));
                let mut sub = &v[5..];
                while sub.len() >= 3 {
                    let (st, sn) = (sub[0], usize::from(u16::from_be_bytes([sub[1], sub[2]])));
                    out.push((st, sub[3..3 + sn].to_vec()));
                    sub = &sub[3 + sn..];
                }
            }
            _ => out.push((t, v.to_vec())),
        }
        rest = &rest[3 + n..];
    }
    out
}

/// CRC32C (Castagnoli), bit by bit.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// `send-proxy-v2-ssl`, `send-proxy-v2-ssl-cn` and `proxy-v2-options`: the TLVs a server
/// gets for a TLS client with a certificate, for a TLS client without one and for a clear
/// one, byte for byte as Debian's HAProxy 2.6 writes them (ALPN, AUTHORITY from the SNI,
/// UNIQUE_ID, the SSL TLV with its version, CN, key and signature algorithms and cipher, and
/// a CRC32C that verifies).
#[test]
fn send_proxy_v2_ssl_tlvs_are_written_as_haproxy_writes_them() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["lb.test"], "lb.test", true);
    let alice = pki.client("alice.pem", "alice", &[7]);
    let (be, rx) = pp2_recorder();
    let ports = [free_port(), free_port()];
    let cfg = format!(
        "{DEFAULTS}frontend tls\n  mode tcp\n\
         \x20 bind 127.0.0.1:{} ssl crt {} verify optional ca-file {} alpn http/1.1 ciphersuites TLS_AES_128_GCM_SHA256\n\
         \x20 unique-id-format id-%ci\n  default_backend full\n\
         frontend clear\n  mode tcp\n  bind 127.0.0.1:{}\n  default_backend plain\n\
         backend full\n  mode tcp\n\
         \x20 server s1 127.0.0.1:{} send-proxy-v2-ssl-cn proxy-v2-options ssl-cipher,cert-sig,cert-key,authority,crc32c,unique-id\n\
         backend plain\n  mode tcp\n  server s1 127.0.0.1:{} send-proxy-v2-ssl\n",
        ports[0],
        site.display(),
        pki.ca().display(),
        ports[1],
        be.port,
        be.port
    );
    let run = |rx: &std::sync::mpsc::Receiver<Vec<u8>>| {
        let mut got = Vec::new();
        let alice = alice.display().to_string();
        for extra in [&["--cert", alice.as_str()][..], &[]] {
            let (out, err) = curl_tls(&pki.ca(), "lb.test", ports[0], "/", extra);
            assert!(out.starts_with("ok\n"), "{out} {err}");
            got.push(pp2_tlvs(&rx.recv_timeout(Duration::from_secs(5)).unwrap()));
        }
        let out = raw_exchange(ports[1], b"GET / HTTP/1.0\r\n\r\n");
        assert!(out.contains("ok"), "{out}");
        got.push(pp2_tlvs(&rx.recv_timeout(Duration::from_secs(5)).unwrap()));
        got
    };
    let lb = Corelb::start(&cfg, &[], &ports);
    let ours = run(&rx);
    drop(lb);
    // What Debian's HAProxy 2.6 writes (compared below when it is installed).
    let s = |v: &str| v.as_bytes().to_vec();
    let with_cert = vec![
        (0x03, vec![1]),
        (0x01, s("http/1.1")),
        (0x02, s("lb.test")),
        (0x05, s("id-127.0.0.1")),
        (0x20, vec![0x07, 0, 0, 0, 0]),
        (0x21, s("TLSv1.3")),
        (0x22, s("alice")),
        (0x25, s("RSA2048")),
        (0x24, s("ecdsa-with-SHA256")),
        (0x23, s("TLS_AES_128_GCM_SHA256")),
    ];
    assert_eq!(ours[0], with_cert);
    let mut no_cert = with_cert.clone();
    no_cert.retain(|t| t.0 != 0x22);
    no_cert[4].1[0] = 0x01;
    assert_eq!(ours[1], no_cert);
    assert_eq!(ours[2], vec![(0x20, vec![0, 0, 0, 0, 0])]);
    let Some(hp) = common::haproxy::Haproxy::start(&cfg, &ports) else {
        return;
    };
    let theirs = run(&rx);
    assert_eq!(ours, theirs, "corelb vs haproxy\n{}", hp.log());
}

/// Global `maxsslconn 1`: while one TLS connection is open, a second one to a TLS listener
/// waits (it is not answered, nor refused) and a clear listener is not held back, as with
/// Debian's HAProxy 2.6; corelb then serves the waiting one as soon as the first ends
/// (HAProxy 2.6 leaves it hanging until the client gives up: not compared).
#[test]
fn maxsslconn_holds_back_tls_connections_beyond_the_limit() {
    let pki = Pki::new();
    let site = pki.leaf("site.pem", &["lb.test"], "lb.test", false);
    let ports = [free_port(), free_port()];
    let cfg = format!(
        "global\n  maxsslconn 1\ndefaults\n  mode http\n  timeout connect 2s\n  timeout client 20s\n  timeout server 5s\n\
         frontend f\n  bind 127.0.0.1:{} ssl crt {}\n  bind 127.0.0.1:{}\n  \
         http-request return status 200 content-type text/plain string ok\n",
        ports[0],
        site.display(),
        ports[1]
    );
    // (waiting, clear answered, what the waiting one got once the first ended)
    let run = || {
        // The first TLS connection, held open by openssl s_client (which ignores the end of
        // its input with -quiet) until it is killed.
        let mut first = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{}", ports[0]))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl CLI (apt-get install openssl)");
        std::thread::sleep(Duration::from_millis(700));
        let ca = pki.ca();
        let port = ports[0];
        let second =
            std::thread::spawn(move || curl_tls(&ca, "lb.test", port, "/", &["-m", "4"]).0);
        std::thread::sleep(Duration::from_millis(1500));
        let waiting = !second.is_finished();
        let clear = raw_exchange(ports[1], b"GET / HTTP/1.0\r\n\r\n");
        let _ = first.kill();
        let _ = first.wait();
        let later = second.join().unwrap();
        (waiting, clear.starts_with("HTTP/1.1 200"), later)
    };
    let lb = Corelb::start(&cfg, &[], &ports);
    let ours = run();
    assert_eq!(ours, (true, true, "ok\n200 0".to_string()), "{}", lb.log());
    drop(lb);
    let Some(hp) = common::haproxy::Haproxy::start(&cfg, &ports) else {
        return;
    };
    let theirs = run();
    assert_eq!(
        (theirs.0, theirs.1),
        (ours.0, ours.1),
        "corelb vs haproxy\n{}",
        hp.log()
    );
}

/// `openssl s_server -Verify 1 -www` on a free port: a TLS server that requires a client
/// certificate (any: it does not verify it) and answers with a page that shows it.
struct SServer(std::process::Child, u16);

impl SServer {
    fn start(pem: &Path) -> SServer {
        let port = free_port();
        let child = Command::new("openssl")
            .args([
                "s_server",
                "-accept",
                &port.to_string(),
                "-Verify",
                "1",
                "-www",
            ])
            .arg("-cert")
            .arg(pem)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl");
        let s = SServer(child, port);
        eventually(Duration::from_secs(10), || listening(port).then_some(()))
            .expect("openssl s_server listening");
        s
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Server `crt FILE`: the client certificate corelb presents to a TLS server that requires
/// one, as HAProxy 2.6 does; without it the server ends the connection after the
/// handshake (TLS 1.3) and the answer is a 502. Differential through Debian's HAProxy:
/// the same answer with the certificate (the server saw it) and a refusal without.
#[test]
fn server_crt_presents_a_client_certificate_as_haproxy() {
    let dir = TempDir::new("srvcrt");
    let srv = self_signed_pem(&dir, "srv.pem", &["srv.test"]);
    let client = self_signed_pem(&dir, "client.pem", &["client.test"]);
    let config = |fe: u16, port: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  use_backend with if {{ path /crt }}\n  default_backend without\n\
backend with\n  server s 127.0.0.1:{port} ssl verify none crt {}\n\
backend without\n  server s 127.0.0.1:{port} ssl verify none\n",
            client.display()
        )
    };
    let run = |start: &dyn Fn(&str, u16) -> Box<dyn std::any::Any>| {
        let s = SServer::start(&srv);
        let fe = free_port();
        let _lb = start(&config(fe, s.1), fe);
        let get = |path: &str| {
            let out = Command::new("curl")
                .args(["-s", "--max-time", "5", "-w", "\n%{http_code}"])
                .arg(format!("http://127.0.0.1:{fe}{path}"))
                .output()
                .expect("curl");
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, code) = text.rsplit_once('\n').unwrap_or_default();
            (code.to_string(), body.contains("Client certificate"))
        };
        (get("/crt"), get("/nocrt"))
    };
    // A file that is not there is an error at its line.
    expect_check(
        &dir,
        "defaults\n  mode http\nbackend b\n  server s 127.0.0.1:1 ssl verify none crt /nonexistent/c.pem\n",
        1,
        "c.cfg:4:",
    );
    let ours = run(&|cfg, fe| Box::new(Corelb::start(cfg, &[], &[fe])));
    assert_eq!(
        ours,
        (("200".to_string(), true), ("502".to_string(), false)),
        "corelb"
    );
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let theirs =
            run(&|cfg, fe| Box::new(common::haproxy::Haproxy::start(cfg, &[fe]).expect("haproxy")));
        // Without the certificate HAProxy answers 502 or 503 by timing: 503 when the
        // server's alert ends the connection while HAProxy still counts it as connecting
        // (and retries), 502 when the request was already sent. Either is a refusal.
        assert_eq!(theirs.0, ours.0, "HAProxy 2.6 with crt");
        assert!(
            matches!(theirs.1.0.as_str(), "502" | "503") && !theirs.1.1,
            "HAProxy 2.6 without crt: {theirs:?}"
        );
    }
}

/// `openssl s_server -www` with `pem` on a free port, no client certificate asked.
fn plain_s_server(pem: &Path) -> SServer {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-accept", &port.to_string(), "-www"])
        .arg("-cert")
        .arg(pem)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl");
    let s = SServer(child, port);
    eventually(Duration::from_secs(10), || listening(port).then_some(()))
        .expect("openssl s_server listening");
    s
}

/// Server `crl-file`: a server whose certificate the CRL revokes is refused (the request
/// gets a 503 once the retries are spent), one it does not revoke is reached; as HAProxy
/// 2.6 does. Before, `crl-file` on a server line was an unknown keyword.
#[test]
fn server_crl_file_refuses_a_revoked_server_certificate_as_haproxy() {
    let pki = Pki::new();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["srv.test".to_string()]).unwrap();
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x42]));
    let srv = pki.sign("srv.pem", p, key);
    let revoking = pki.crl("revoking.pem", &[&[0x42]]);
    let other = pki.crl("other.pem", &[&[0x43]]);
    let s = plain_s_server(&srv);
    let config = |fe: u16| {
        format!(
            "defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\n  retries 1\n\
frontend fe\n  bind 127.0.0.1:{fe}\n  use_backend revoked if {{ path /revoked }}\n  default_backend fine\n\
backend revoked\n  server s 127.0.0.1:{p} ssl verify required ca-file {ca} verifyhost srv.test crl-file {r}\n\
backend fine\n  server s 127.0.0.1:{p} ssl verify required ca-file {ca} verifyhost srv.test crl-file {o} no-ssl-reuse\n",
            p = s.1,
            ca = pki.ca().display(),
            r = revoking.display(),
            o = other.display(),
        )
    };
    let statuses = |fe: u16| {
        ["/revoked", "/fine", "/fine"].map(|path| {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "--max-time",
                    "8",
                    "-w",
                    "%{http_code}",
                ])
                .arg(format!("http://127.0.0.1:{fe}{path}"))
                .output()
                .expect("curl");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    let fe = free_port();
    let lb = Corelb::start(&config(fe), &[], &[fe]);
    let ours = statuses(fe);
    assert_eq!(ours, ["503", "200", "200"], "{}", lb.log());
    if Command::new("haproxy").arg("-v").output().is_ok() {
        let fe = free_port();
        let _h = common::haproxy::Haproxy::start(&config(fe), &[fe]).expect("haproxy");
        assert_eq!(statuses(fe), ours, "HAProxy 2.6");
    }
}

/// `corelb` (one shard) or `haproxy` on `cfg`, killed when dropped.
struct Running(std::process::Child);

impl Running {
    fn start(prog: &str, path: &Path, port: u16) -> Running {
        let extra: &[&str] = if prog == "haproxy" {
            &["-db"]
        } else {
            &["--shards", "1"]
        };
        let child = Command::new(prog)
            .args(extra)
            .arg("-f")
            .arg(path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(Duration::from_secs(10), || listening(port).then_some(()));
        assert!(up.is_some(), "{prog} did not start on {}", path.display());
        Running(child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tls-ticket-keys FILE`: a session ticket from one process is resumed by another that
/// reads the same file (without it, each process has keys of its own), still after a key is
/// appended (the last 3 keys open tickets, the second to last seals them), and no more
/// after two: as Debian's HAProxy does with the same files, over TLS 1.2 and TLS 1.3.
#[test]
fn tls_ticket_keys_are_shared_and_rotate_like_haproxy() {
    use base64::Engine;
    let dir = TempDir::new("tickets");
    let pem = self_signed_pem(&dir, "c.pem", &["localhost"]);
    let key = |i: u8| base64::engine::general_purpose::STANDARD.encode([i; 48]);
    let file = |name: &str, keys: &[u8]| {
        let text: Vec<String> = keys.iter().map(|&i| key(i)).collect();
        dir.write(name, &(text.join("\n") + "\n"))
    };
    let (k3, k4, k5) = (
        file("k3", &[1, 2, 3]),
        file("k4", &[1, 2, 3, 4]),
        file("k5", &[1, 2, 3, 4, 5]),
    );
    let run = |prog: &str, version: &str| -> Vec<String> {
        let start = |keys: Option<&Path>| {
            let port = free_port();
            let keys = keys.map_or(String::new(), |k| {
                format!(" tls-ticket-keys {}", k.display())
            });
            let cfg = format!(
                "defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend f\n  bind 127.0.0.1:{port} ssl crt {}{keys}\n  http-request return status 200\n",
                pem.display()
            );
            let path = dir.write(&format!("{port}.cfg"), &cfg);
            (Running::start(prog, &path, port), port)
        };
        let sess = dir.path(&format!("{prog}{version}.sess"));
        let (first, p1) = start(Some(&k3));
        let mut seen = vec![s_client_session(p1, version, None, Some(&sess)).0];
        drop(first);
        for keys in [Some(&k3), None, Some(&k4), Some(&k5)] {
            let (_other, p) = start(keys.map(PathBuf::as_path));
            seen.push(s_client_session(p, version, Some(&sess), None).0);
        }
        seen
    };
    let want = ["New", "Reused", "New", "Reused", "New"];
    let haproxy = Command::new("haproxy").arg("-v").output().is_ok();
    for v in ["-tls1_2", "-tls1_3"] {
        assert_eq!(run(corelb_bin(), v), want, "corelb {v}");
        if haproxy {
            assert_eq!(run("haproxy", v), want, "HAProxy {v}");
        }
    }
    // HAProxy's errors, with the line.
    let bad = [
        (
            file("two", &[1, 2]),
            "please supply at least 3 keys in the tls-tickets-file",
        ),
        (
            dir.write("b64", "notbase64!!\n"),
            "unable to decode base64 key on line 1",
        ),
        (dir.path("missing"), "unable to load ssl tickets keys file"),
    ];
    for (path, msg) in bad {
        expect_check(
            &dir,
            &format!(
                "frontend f\n  mode http\n  bind 127.0.0.1:1 ssl crt {} tls-ticket-keys {}\n",
                pem.display(),
                path.display()
            ),
            1,
            "c.cfg:3: ",
        );
        let (_, out, err) = check_config(&dir.path("c.cfg"));
        assert!(
            format!("{out}{err}").contains(&format!("'{}' : {msg}", path.display())),
            "{out}{err}"
        );
    }
}

/// Relays one connection from a port of its own to `to`, and sends back the length of each
/// TLS application-data record the server sent (TLS 1.2: after the handshake, all of them).
fn record_sizes_relay(to: u16) -> (u16, std::sync::mpsc::Receiver<Vec<usize>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut c, _) = l.accept().unwrap();
        let mut s = std::net::TcpStream::connect(("127.0.0.1", to)).unwrap();
        let (mut c2, mut s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c2, &mut s2);
            let _ = s2.shutdown(std::net::Shutdown::Write);
        });
        let mut sizes = Vec::new();
        let mut head = [0u8; 5];
        while s.read_exact(&mut head).is_ok() {
            let len = u16::from_be_bytes([head[3], head[4]]) as usize;
            let mut body = vec![0u8; len];
            if s.read_exact(&mut body).is_err() {
                break;
            }
            if head[0] == 23 {
                sizes.push(len);
            }
            if c.write_all(&head).and_then(|_| c.write_all(&body)).is_err() {
                break;
            }
        }
        let _ = c.shutdown(std::net::Shutdown::Write);
        let _ = tx.send(sizes);
    });
    (port, rx)
}

/// `tune.ssl.hard-maxrecord 1000`: no record carries more than 1000 bytes of a 20 kB answer
/// (1024 on the wire with AES-128-GCM's nonce and tag); `tune.ssl.maxrecord 1000`: the first
/// one does not (HAProxy lets later ones grow; corelb keeps every record to it); without
/// them, records are full-sized: compared with Debian's HAProxy.
#[test]
fn tune_ssl_maxrecord_limits_the_records_like_haproxy() {
    let dir = TempDir::new("maxrecord");
    let pem = self_signed_pem(&dir, "c.pem", &["localhost"]);
    let body = "x".repeat(20000);
    let be = Backend::start(move |mut s| {
        use std::io::{BufRead, Write};
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).is_ok_and(|n| n > 2) {
            line.clear();
        }
        let _ = write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    let run = |prog: &str, global: &str| -> Vec<usize> {
        let port = free_port();
        let cfg = format!(
            "global\n{global}defaults\n  mode http\n  timeout client 5s\n  timeout server 5s\n  timeout connect 5s\nfrontend f\n  bind 127.0.0.1:{port} ssl crt {}\n  default_backend b\nbackend b\n  server s 127.0.0.1:{}\n",
            pem.display(),
            be.port
        );
        let path = dir.write(&format!("{port}.cfg"), &cfg);
        let _p = Running::start(prog, &path, port);
        let (relay, sizes) = record_sizes_relay(port);
        let out = Command::new("curl")
            .args(["-sk", "--max-time", "10", "--tls-max", "1.2"])
            .args([
                "--ciphers",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "-o",
                "/dev/null",
            ])
            .args(["-H", "Connection: close", "-w", "%{size_download}"])
            .arg(format!("https://127.0.0.1:{relay}/"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "20000",
            "{prog} {global}"
        );
        sizes.recv_timeout(Duration::from_secs(10)).unwrap()
    };
    let haproxy = Command::new("haproxy").arg("-v").output().is_ok();
    let largest = |v: &[usize]| v.iter().copied().max().unwrap_or(0);
    let ours = run(corelb_bin(), "  tune.ssl.hard-maxrecord 1000\n");
    assert_eq!(largest(&ours), 1024, "{ours:?}");
    if haproxy {
        assert_eq!(
            largest(&run("haproxy", "  tune.ssl.hard-maxrecord 1000\n")),
            1024
        );
    }
    let ours = run(corelb_bin(), "  tune.ssl.maxrecord 1000\n");
    assert!(ours.len() > 2 && ours[1] <= 1024, "{ours:?}");
    if haproxy {
        let theirs = run("haproxy", "  tune.ssl.maxrecord 1000\n");
        assert!(theirs.len() > 2 && theirs[1] <= 1024, "HAProxy {theirs:?}");
    }
    // Without a limit, records as large as what is there to send (which follows how much
    // the buffers hold when written, and varies from run to run, for both proxies): far
    // above the limits above.
    let ours = run(corelb_bin(), "");
    assert!(largest(&ours) > 4000, "{ours:?}");
}

/// A root CA, an intermediate it signs, a leaf (`localhost`) the intermediate signs and a
/// client certificate the root signs, made by the openssl CLI (which writes the Subject and
/// Authority Key Identifiers that `issuers-chain-path` matches on); an OCSP response for the
/// leaf; and the layouts HAProxy reads:
/// - `leafonly.pem`: leaf and key (its chain from `issuers/int-chain.pem`: intermediate, root);
/// - `split.pem` + `split.pem.key`: the leaf and its intermediate, the key beside;
/// - `full.pem`: leaf, intermediate, root and key;
/// - `stapled.pem` + `stapled.pem.ocsp`: leaf and intermediate, key, the OCSP response.
fn chain_pki() -> TempDir {
    let dir = TempDir::new("chain");
    let script = r#"set -e
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
openssl req -x509 $ec -keyout root.key -out root.pem -subj "/CN=t14 root" -days 3650 \
  -addext basicConstraints=critical,CA:TRUE
printf "basicConstraints=critical,CA:TRUE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nkeyUsage=keyCertSign,cRLSign,digitalSignature\n" > ca.ext
openssl req $ec -keyout int.key -out int.csr -subj "/CN=t14 intermediate"
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem -days 3650 -extfile ca.ext
printf "subjectAltName=DNS:localhost\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n" > leaf.ext
openssl req $ec -keyout leaf.key -out leaf.csr -subj "/CN=localhost"
openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf.pem -days 3650 -extfile leaf.ext
printf "extendedKeyUsage=clientAuth\nauthorityKeyIdentifier=keyid\n" > client.ext
openssl req $ec -keyout client.key -out client.csr -subj "/CN=t14 client"
openssl x509 -req -in client.csr -CA root.pem -CAkey root.key -CAcreateserial -out client.crt -days 3650 -extfile client.ext
cat client.crt client.key > client.pem
mkdir issuers
cat int.pem root.pem > issuers/int-chain.pem
cat leaf.pem leaf.key > leafonly.pem
cat leaf.pem int.pem > split.pem
cp leaf.key split.pem.key
cat leaf.pem int.pem root.pem leaf.key > full.pem
cat leaf.pem int.pem leaf.key > stapled.pem
serial=$(openssl x509 -in leaf.pem -noout -serial | cut -d= -f2)
printf "V\t350101000000Z\t\t$serial\tunknown\t/CN=localhost\n" > index.txt
openssl ocsp -index index.txt -rsigner int.pem -rkey int.key -CA int.pem -issuer int.pem \
  -cert leaf.pem -respout stapled.pem.ocsp -ndays 3650
"#;
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir.path(""))
        .output()
        .expect("sh and the openssl CLI");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// What a client sees of a TLS listener: the chain (subject and issuer of each certificate),
/// the CA names of the CertificateRequest, and the stapled OCSP status (`openssl s_client
/// -showcerts -status`).
fn tls_view(port: u16) -> Vec<String> {
    let out = s_client(port, &["-servername", "localhost", "-showcerts", "-status"]);
    let mut v = Vec::new();
    let mut in_names = false;
    for l in out.lines() {
        let t = l.trim();
        if t.starts_with("Requested Signature Algorithms") {
            in_names = false;
        }
        if in_names
            || t.starts_with("Acceptable client certificate CA names")
            || t.starts_with("No client certificate CA names sent")
            || t.starts_with("OCSP response: no response sent")
            || t.starts_with("OCSP Response Status:")
            || t.starts_with("Cert Status:")
            || (t.len() > 2 && t.as_bytes()[0].is_ascii_digit() && t[1..].starts_with(" s:"))
            || t.starts_with("i:")
        {
            v.push(t.to_string());
        }
        if t.starts_with("Acceptable client certificate CA names") {
            in_names = true;
        }
    }
    v
}

/// Starts `prog` (corelb or haproxy) on a frontend with one `bind … ssl <b>` per entry of
/// `binds` under the global lines `global`, and returns what a client sees of each.
fn tls_views(prog: &str, global: &str, binds: &[String]) -> Vec<Vec<String>> {
    let ports: Vec<u16> = binds.iter().map(|_| free_port()).collect();
    let mut cfg = format!(
        "global\n{global}defaults\n  mode http\n  timeout connect 2s\n  timeout client 5s\n  timeout server 5s\nfrontend fe\n"
    );
    for (b, p) in binds.iter().zip(&ports) {
        cfg.push_str(&format!("  bind 127.0.0.1:{p} ssl {b}\n"));
    }
    cfg.push_str("  http-request return status 200\n");
    let _run: Box<dyn std::any::Any> = if prog == "haproxy" {
        Box::new(common::haproxy::Haproxy::start(&cfg, &ports).expect("haproxy"))
    } else {
        Box::new(Corelb::start(&cfg, &[], &ports))
    };
    ports.iter().map(|&p| tls_view(p)).collect()
}

fn chain_of(names: &[(&str, &str)]) -> Vec<String> {
    names
        .iter()
        .enumerate()
        .flat_map(|(i, (s, is))| [format!("{i} s:CN = {s}"), format!("i:CN = {is}")])
        .collect()
}

#[test]
fn extra_files_issuers_chain_path_and_self_issued_cas_as_haproxy() {
    let pki = chain_pki();
    let f = |n: &str| pki.path(n).display().to_string();
    let binds = [
        format!("crt {}", f("leafonly.pem")),
        format!("crt {}", f("split.pem")),
        format!("crt {}", f("full.pem")),
        format!("crt {}", f("stapled.pem")),
    ];
    let issuers = format!("  issuers-chain-path {}\n", f("issuers"));
    let skip = format!("{issuers}  ssl-skip-self-issued-ca\n");
    let only_key = "  ssl-load-extra-files key\n".to_string();
    let cases = [
        ("defaults", String::new(), &binds[..]),
        ("issuers", issuers, &binds[..]),
        ("skip", skip, &binds[..]),
        // The OCSP response is not read without 'ocsp'.
        ("key only", only_key, &binds[..]),
    ];
    let (leaf, int, root) = (
        ("localhost", "t14 intermediate"),
        ("t14 intermediate", "t14 root"),
        ("t14 root", "t14 root"),
    );
    let no_names = "No client certificate CA names sent".to_string();
    let no_ocsp = "OCSP response: no response sent".to_string();
    let stapled = [
        "OCSP Response Status: successful (0x0)".to_string(),
        "Cert Status: good".to_string(),
    ];
    // s_client prints the OCSP status first.
    let with = |chain: Vec<String>, ocsp: &[String]| {
        let mut v = ocsp.to_vec();
        v.extend(chain);
        v.push(no_names.clone());
        v
    };
    let want = [
        // Without issuers-chain-path a leaf-only PEM sends the leaf alone; the key beside
        // split.pem is read; the OCSP response beside stapled.pem is stapled.
        vec![
            with(chain_of(&[leaf]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int, root]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), &stapled),
        ],
        // The leaf-only PEM is completed from the issuers directory (only it: the others
        // have a chain already).
        vec![
            with(chain_of(&[leaf, int, root]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int, root]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), &stapled),
        ],
        // The root is left out, from the issuers' chain and from the PEM's.
        vec![
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), &stapled),
        ],
        vec![
            with(chain_of(&[leaf]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int, root]), std::slice::from_ref(&no_ocsp)),
            with(chain_of(&[leaf, int]), std::slice::from_ref(&no_ocsp)),
        ],
    ];
    let haproxy = Command::new("haproxy").arg("-v").output().is_ok();
    for ((label, global, binds), want) in cases.iter().zip(&want) {
        let ours = tls_views("corelb", global, binds);
        assert_eq!(&ours, want, "{label}");
        if haproxy {
            assert_eq!(
                tls_views("haproxy", global, binds),
                ours,
                "{label}: HAProxy"
            );
        }
    }

    // 'none': the key beside the certificate is not read either; HAProxy's words.
    let dir = TempDir::new("extra-none");
    expect_check(
        &dir,
        &format!(
            "global\n  ssl-load-extra-files none\ndefaults\n  mode http\nfrontend fe\n  bind 127.0.0.1:1 ssl crt {}\n",
            f("split.pem")
        ),
        1,
        &format!(
            "c.cfg:6: 'bind ... crt': No Private Key found in '{}'.",
            f("split.pem")
        ),
    );
    for (line, err) in [
        (
            "ssl-load-extra-files none all",
            "c.cfg:2: 'ssl-load-extra-files' 'none' and 'all' can be only used alone",
        ),
        (
            "ssl-load-extra-files key bogus",
            "c.cfg:2: 'ssl-load-extra-files' expects one or multiple arguments (none, all, bundle, sctl, ocsp, issuer).",
        ),
        (
            "issuers-chain-path /nonexistent",
            "c.cfg:2: global statement 'issuers-chain-path' expects a directory path as an argument.",
        ),
    ] {
        expect_check(&dir, &format!("global\n  {line}\n"), 1, err);
    }
}

#[test]
fn ca_verify_file_and_no_ca_names_as_haproxy() {
    let pki = chain_pki();
    let f = |n: &str| pki.path(n).display().to_string();
    let crt = f("full.pem");
    let binds = [
        // The intermediate is named, the root only trusted.
        format!(
            "crt {crt} verify optional ca-file {} ca-verify-file {}",
            f("int.pem"),
            f("root.pem")
        ),
        format!(
            "crt {crt} verify optional ca-file {} no-ca-names",
            f("int.pem")
        ),
        // Only a ca-verify-file: nothing is named, and it verifies.
        format!("crt {crt} verify required ca-verify-file {}", f("root.pem")),
    ];
    let names = |n: &[&str]| {
        let mut v = vec!["OCSP response: no response sent".to_string()];
        v.extend(chain_of(&[
            ("localhost", "t14 intermediate"),
            ("t14 intermediate", "t14 root"),
            ("t14 root", "t14 root"),
        ]));
        if n.is_empty() {
            v.push("No client certificate CA names sent".into());
        } else {
            v.push("Acceptable client certificate CA names".into());
            v.extend(n.iter().map(|s| s.to_string()));
        }
        v
    };
    let want = vec![names(&["CN = t14 intermediate"]), names(&[]), names(&[])];
    let ours = tls_views("corelb", "", &binds);
    assert_eq!(ours, want);
    if Command::new("haproxy").arg("-v").output().is_ok() {
        assert_eq!(tls_views("haproxy", "", &binds), ours, "HAProxy");
    }
    // The root of ca-verify-file verifies the client's certificate (signed by the root):
    // in with it, refused without one under 'required'.
    let port = free_port();
    let cfg = format!(
        "{DEFAULTS}frontend fe\n  mode http\n  bind 127.0.0.1:{port} ssl {}\n  http-request return status 200 content-type text/plain lf-string \"verify=%[ssl_c_verify] s=%[ssl_c_s_dn(CN)]\"\n",
        binds[2]
    );
    let _lb = Corelb::start(&cfg, &[], &[port]);
    let (body, _) = curl_tls(
        &pki.path("root.pem"),
        "localhost",
        port,
        "/",
        &["--cert", &f("client.pem")],
    );
    assert_eq!(body, "verify=0 s=t14 client\n200 0");
    let (body, _) = curl_tls(&pki.path("root.pem"), "localhost", port, "/", &[]);
    assert!(body.ends_with("\n000 0"), "{body}");

    let dir = TempDir::new("ca-verify");
    expect_check(
        &dir,
        "defaults\n  mode http\nfrontend fe\n  bind 127.0.0.1:1 ssl crt x.pem ca-verify-file\n",
        1,
        "c.cfg:4: 'bind' parameter 'ca-verify-file' expects a value",
    );
}
