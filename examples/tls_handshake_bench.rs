//! rustls' own ceiling for full TLS 1.3 handshakes on this machine, in memory (no sockets,
//! no event loop): the server side's CPU time per handshake, for ECDSA P-256 and RSA-2048
//! certificates, with X25519 and with rustls' default groups (X25519MLKEM768 first). What
//! corelb spends per handshake above this is its own overhead (sockets, io_uring, tasks).
//!
//!   cargo run --release --example tls_handshake_bench [handshakes]
//!
//! Needs the openssl CLI for the RSA key (rcgen's default backend cannot generate one).

use rustls::crypto::aws_lc_rs as provider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn key(rsa: bool) -> rcgen::KeyPair {
    if rsa {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl CLI");
        rcgen::KeyPair::from_pem(&String::from_utf8(out.stdout).unwrap()).unwrap()
    } else {
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
    }
}

fn configs(rsa: bool, x25519_only: bool) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let k = key(rsa);
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&k)
        .unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let mut p = provider::default_provider();
    if x25519_only {
        p.kx_groups = vec![provider::kx_group::X25519];
    }
    let p = Arc::new(p);
    let mut server = ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![der.clone()],
            PrivateKeyDer::try_from(k.serialize_der()).unwrap(),
        )
        .unwrap();
    // As corelb with tickets: the server sends them, which is part of its handshake cost.
    server.send_tls13_tickets = 2;
    let mut roots = RootCertStore::empty();
    roots.add(der).unwrap();
    let mut client = ClientConfig::builder_with_provider(p)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Every handshake is a full one, as in the proxy benchmark.
    client.resumption = rustls::client::Resumption::disabled();
    (Arc::new(server), Arc::new(client))
}

/// One full handshake in memory; returns the time spent in the server's calls.
fn handshake(s: &Arc<ServerConfig>, c: &Arc<ClientConfig>, buf: &mut Vec<u8>) -> Duration {
    let mut client =
        ClientConnection::new(c.clone(), ServerName::try_from("localhost").unwrap()).unwrap();
    let mut server_time = Duration::ZERO;
    let t = Instant::now();
    let mut server = ServerConnection::new(s.clone()).unwrap();
    server_time += t.elapsed();
    while client.is_handshaking() || server.is_handshaking() || server.wants_write() {
        buf.clear();
        while client.wants_write() {
            client.write_tls(buf).unwrap();
        }
        let t = Instant::now();
        let mut rd = &buf[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).unwrap();
        }
        server.process_new_packets().unwrap();
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).unwrap();
        }
        server_time += t.elapsed();
        let mut rd = &out[..];
        while !rd.is_empty() {
            client.read_tls(&mut rd).unwrap();
        }
        client.process_new_packets().unwrap();
    }
    server_time
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    println!("{n} full TLS 1.3 handshakes each, in memory, server side only\n");
    println!("| certificate | key exchange      | server µs/handshake | handshakes/s per core |");
    println!("|-------------|-------------------|--------------------:|----------------------:|");
    for (rsa, cert) in [(false, "ECDSA P-256"), (true, "RSA-2048")] {
        for (x, kx) in [(true, "X25519"), (false, "rustls default")] {
            let (s, c) = configs(rsa, x);
            let mut buf = Vec::with_capacity(16384);
            for _ in 0..50 {
                handshake(&s, &c, &mut buf);
            }
            let mut total = Duration::ZERO;
            for _ in 0..n {
                total += handshake(&s, &c, &mut buf);
            }
            let us = total.as_secs_f64() * 1e6 / n as f64;
            println!(
                "| {cert:<11} | {kx:<17} | {us:>19.1} | {:>21.0} |",
                1e6 / us
            );
        }
    }
}
