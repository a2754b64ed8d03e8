//! HTTPS: `serve --tls-cert` and `attack` with SNI, ALPN, --root-certs and --insecure.

mod common;

use common::*;

#[test]
fn https_with_root_certs_keepalive_and_new_connections() {
    let dir = temp_dir("tls");
    let (cert, key) = certificate(&dir);
    let (_serve, port) = serve(&["--tls-cert", &cert, "--tls-key", &key, "--name", "t1"]);
    let target = format!("GET https://localhost:{port}/\n");

    let report = attack_json(
        &target,
        &["-rate=200/1s", "-duration=1s", "-root-certs", &cert],
    );
    assert_eq!(report["requests"], 200);
    assert_eq!(report["success"], 1.0, "{report}");
    assert_eq!(report["bytes_in"]["total"], 200 * 64);

    // A new connection and a full handshake per request.
    let report = attack_json(
        &target,
        &[
            "-rate=100/1s",
            "-duration=1s",
            "-root-certs",
            &cert,
            "-keepalive=false",
        ],
    );
    assert_eq!(report["requests"], 100);
    assert_eq!(report["success"], 1.0, "{report}");

    // --insecure needs no roots.
    let report = attack_json(
        &target,
        &[
            "-rate=50/1s",
            "-duration=1s",
            "-insecure",
            "-keepalive=false",
            "--tls-resume",
        ],
    );
    assert_eq!(report["success"], 1.0, "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_untrusted_certificate_is_an_error_per_request() {
    let dir = temp_dir("tls-untrusted");
    let (cert, key) = certificate(&dir);
    let (_serve, port) = serve(&["--tls-cert", &cert, "--tls-key", &key]);
    // Trust a different CA than the one that signed the server's certificate.
    let other = temp_dir("tls-other");
    let (other_cert, _) = certificate(&other);
    let report = attack_json(
        &format!("GET https://localhost:{port}/\n"),
        &["-rate=20/1s", "-duration=1s", "-root-certs", &other_cert],
    );
    assert_eq!(report["requests"], 20);
    assert_eq!(report["success"], 0.0);
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .all(|e| e.as_str().unwrap().contains("TLS handshake")),
        "{errors:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn sni_and_alpn_reach_the_server() {
    // The echo endpoint reports tls=true; the handshake succeeding against a certificate for
    // "localhost" only means SNI/verification used the URL's host.
    let dir = temp_dir("tls-echo");
    let (cert, key) = certificate(&dir);
    let (_serve, port) = serve(&["--tls-cert", &cert, "--tls-key", &key]);
    let report = attack_json(
        &format!("GET https://localhost:{port}/echo\n"),
        &["-rate=10/1s", "-duration=1s", "-root-certs", &cert],
    );
    assert_eq!(report["success"], 1.0, "{report}");
    let out = std::process::Command::new("curl")
        .args(["-s", "--http1.1", "--cacert", &cert])
        .arg(format!("https://localhost:{port}/echo"))
        .output();
    // curl is a convenience here, not a requirement of the suite.
    if let Ok(out) = out
        && out.status.success()
    {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tls"], true);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
