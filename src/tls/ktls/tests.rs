use super::*;
use crate::tls::options::{BindTls, TlsGlobals};
use crate::tls::testutil::*;
use std::os::fd::AsFd;
use std::sync::Arc;

/// A descriptor for hand-offs that must decline before they touch the socket (a UDP
/// socket: were a kTLS option tried on it, the kernel would refuse it).
fn unused_socket() -> std::net::UdpSocket {
    std::net::UdpSocket::bind("127.0.0.1:0").unwrap()
}

/// On these build machines the kernel has no CONFIG_TLS: the probe must say so cleanly
/// (and say why); where the kernel has it, it must find at least AES-GCM-128.
#[test]
fn probe_reports_this_kernel() {
    let s = probe_now();
    let summary = s.summary();
    let has_tls_ulp = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_ulp")
        .map(|u| u.split_whitespace().any(|x| x == "tls"))
        .unwrap_or(false);
    match &s.ulp {
        Err(e) => {
            assert!(!s.available());
            assert!(
                summary.starts_with("kTLS unavailable on kernel "),
                "{summary}"
            );
            assert!(summary.contains("rustls in user space"), "{summary}");
            assert!(
                e.contains("ENOENT") || e.contains("loopback") || e.contains("TCP_ULP"),
                "{e}"
            );
            assert!(
                !has_tls_ulp,
                "the kernel lists the tls ULP but the probe failed: {e}"
            );
        }
        Ok(()) => {
            assert!(
                s.ok.contains(&(KtlsVersion::Tls13, KtlsCipher::AesGcm128)),
                "{summary}"
            );
            assert!(s.available());
        }
    }
    // The cached probe agrees.
    assert_eq!(probe().available(), s.available());
}

#[test]
fn disabled_support_says_why() {
    let s = KtlsSupport::disabled("noktls");
    assert!(!s.available());
    assert!(!s.supports(
        ProtocolVersion::TLSv1_3,
        CipherSuite::TLS13_AES_128_GCM_SHA256
    ));
    assert!(s.summary().contains("noktls"));
}

#[test]
fn record_boundary_bookkeeping() {
    let mut b = RecordBoundary::default();
    assert!(b.at_boundary());
    assert_eq!(b.limit(), 5);
    b.advance(&[22, 3, 3]);
    assert_eq!(b.limit(), 2);
    assert!(!b.at_boundary());
    b.advance(&[0, 4]);
    assert_eq!(b.limit(), 4);
    b.advance(&[1, 2, 3]);
    assert_eq!(b.limit(), 1);
    b.advance(&[4]);
    assert!(b.at_boundary());
    // Two records in one slice, the second cut in its header.
    b.advance(&[23, 3, 3, 0, 1, 0xaa, 23, 3]);
    assert_eq!(b.limit(), 3);
    b.advance(&[3, 0, 0]);
    assert!(b.at_boundary(), "an empty record ends at its header");
}

fn server_config() -> (TempDir, Arc<rustls::ServerConfig>) {
    let d = TempDir::new();
    let g = Gen::ecdsa(&["k.example"]);
    let f = d.write("k.pem", &(g.cert_pem.clone() + &g.key_pkcs8));
    let globals = TlsGlobals::default();
    let mut b = BindTls::default();
    b.apply(&globals, "ssl", None).unwrap();
    b.apply(&globals, "crt", f.to_str()).unwrap();
    let (cfg, _) = b.build(&globals).unwrap();
    (d, cfg)
}

fn client() -> rustls::ClientConnection {
    rustls::ClientConnection::new(
        Arc::new(any_client(crate::tls::provider())),
        rustls::pki_types::ServerName::try_from("k.example").unwrap(),
    )
    .unwrap()
}

/// A rustls handshake read through BoundaryReader stops at a record boundary even when
/// the client's data records follow its Finished in the same flight.
#[test]
fn handshake_through_boundary_reader_stops_between_records() {
    use std::io::Write;
    let (_d, cfg) = server_config();
    assert!(cfg.enable_secret_extraction);
    let mut client = client();
    let mut server = rustls::ServerConnection::new(cfg).unwrap();
    // A byte pipe standing in for the socket.
    let mut to_server: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    let mut boundary = RecordBoundary::default();
    let mut sent_data = false;
    for _ in 0..50 {
        while client.wants_write() {
            client.write_tls(&mut to_server).unwrap();
        }
        if !client.is_handshaking() && !sent_data {
            client
                .writer()
                .write_all(b"GET / HTTP/1.1\r\n\r\n")
                .unwrap();
            client.writer().write_all(&[b'x'; 40000]).unwrap();
            while client.wants_write() {
                client.write_tls(&mut to_server).unwrap();
            }
            sent_data = true;
        }
        if server.is_handshaking() && pos < to_server.len() {
            let mut r = BoundaryReader {
                inner: &to_server[pos..],
                boundary,
            };
            let n = server.read_tls(&mut r).unwrap();
            boundary = r.boundary;
            pos += n;
            server.process_new_packets().unwrap();
        }
        let mut back = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut back).unwrap();
        }
        if !back.is_empty() {
            client.read_tls(&mut &back[..]).unwrap();
            client.process_new_packets().unwrap();
        }
        if sent_data && !server.is_handshaking() {
            break;
        }
    }
    assert!(!server.is_handshaking());
    assert!(boundary.at_boundary());
    // What is left for the kernel starts with a record header (23: application data).
    assert_eq!(to_server.get(pos), Some(&23u8));
    // No kernel support: declined, the connection handed back intact.
    match handoff(
        unused_socket().as_fd(),
        server,
        &KtlsSupport::disabled("test"),
        true,
    ) {
        Err(HandoffError::Declined { conn, reason, .. }) => {
            assert!(matches!(reason, Declined::Unsupported(..)), "{reason:?}");
            assert!(!conn.is_handshaking());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn declines_while_handshaking_with_pending_output_or_mid_record() {
    let (_d, cfg) = server_config();
    let all = KtlsSupport {
        kernel: "test".into(),
        ulp: Ok(()),
        ok: vec![
            (KtlsVersion::Tls13, KtlsCipher::AesGcm256),
            (KtlsVersion::Tls13, KtlsCipher::AesGcm128),
        ],
        failed: vec![],
    };
    let server = rustls::ServerConnection::new(cfg.clone()).unwrap();
    let r = handoff(unused_socket().as_fd(), server, &all, true);
    assert!(matches!(
        r,
        Err(HandoffError::Declined {
            reason: Declined::Handshaking,
            ..
        })
    ));

    let mut c = client();
    let mut server = rustls::ServerConnection::new(cfg).unwrap();
    pump(&mut c, &mut server).unwrap();
    let mut conn: rustls::Connection = server.into();
    conn.send_close_notify();
    let r = handoff(unused_socket().as_fd(), conn, &all, true);
    let Err(HandoffError::Declined {
        mut conn,
        reason: Declined::PendingOutput,
        ..
    }) = r
    else {
        panic!("{r:?}")
    };
    assert!(!pending_output(&mut conn).is_empty());
    let r = handoff(unused_socket().as_fd(), *conn, &all, false);
    assert!(matches!(
        r,
        Err(HandoffError::Declined {
            reason: Declined::NotAtRecordBoundary,
            ..
        })
    ));
}

/// With the kernel refusing the ULP (as here), a hand-off that passes every other check
/// fails at TCP_ULP and gives the connection back (not lost).
#[test]
fn ulp_refusal_gives_the_connection_back() {
    if probe().available() {
        return; // a kTLS kernel: covered by the VM test instead
    }
    use std::net::{TcpListener, TcpStream};
    let (_d, cfg) = server_config();
    let mut c = client();
    let mut server = rustls::ServerConnection::new(cfg).unwrap();
    pump(&mut c, &mut server).unwrap();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let _peer = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (sock, _) = l.accept().unwrap();
    let pretend = KtlsSupport {
        kernel: "test".into(),
        ulp: Ok(()),
        ok: vec![
            (KtlsVersion::Tls13, KtlsCipher::AesGcm256),
            (KtlsVersion::Tls13, KtlsCipher::AesGcm128),
            (KtlsVersion::Tls13, KtlsCipher::Chacha20Poly1305),
        ],
        failed: vec![],
    };
    match handoff(sock.as_fd(), server, &pretend, true) {
        Err(HandoffError::Declined {
            conn,
            reason: Declined::Ulp(e),
            ..
        }) => {
            assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
            assert!(!conn.is_handshaking());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn crypto_info_layout() {
    use rustls::crypto::cipher::{AeadKey, Iv};
    let iv = Iv::new([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let s = ConnectionTrafficSecrets::Aes256Gcm {
        key: AeadKey::from([0x11; 32]),
        iv,
    };
    let Some(TlsCryptoInfo::AesGcm256(i)) = crypto_info(KtlsVersion::Tls13, 0x0102, &s) else {
        panic!()
    };
    assert_eq!(i.info.version, 0x0304);
    assert_eq!(i.info.cipher_type, 52);
    assert_eq!(i.salt, [1, 2, 3, 4]);
    assert_eq!(i.iv, [5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(i.key, [0x11; 32]);
    assert_eq!(i.rec_seq, [0, 0, 0, 0, 0, 0, 1, 2]);
    let s = ConnectionTrafficSecrets::Chacha20Poly1305 {
        key: AeadKey::from([0x22; 32]),
        iv: Iv::new([7; 12]),
    };
    let Some(TlsCryptoInfo::Chacha20Poly1305(i)) = crypto_info(KtlsVersion::Tls12, 9, &s) else {
        panic!()
    };
    assert_eq!(i.info.version, 0x0303);
    assert_eq!(i.info.cipher_type, 54);
    assert_eq!(i.iv, [7; 12]);
    assert_eq!(i.rec_seq[7], 9);
}

#[test]
fn records_are_classified() {
    assert_eq!(classify(21, &[1, 0]), Record::CloseNotify);
    assert_eq!(classify(21, &[2, 40]), Record::Alert(2, 40));
    assert_eq!(classify(22, &[4, 0, 0, 1, 0]), Record::NewSessionTicket);
    assert_eq!(
        classify(22, &[24, 0, 0, 1, 1]),
        Record::KeyUpdate { requested: true }
    );
    assert_eq!(
        classify(22, &[24, 0, 0, 1, 0]),
        Record::KeyUpdate { requested: false }
    );
    assert_eq!(classify(22, &[1, 0, 0, 0]), Record::Handshake(1));
    assert_eq!(classify(23, b"abc"), Record::Data(3));
    assert_eq!(classify(20, &[1]), Record::Other(20));
    assert_eq!(Record::CloseNotify.action(), Action::Eof);
    assert_eq!(Record::NewSessionTicket.action(), Action::Continue);
    assert!(matches!(
        Record::KeyUpdate { requested: false }.action(),
        Action::Close(_)
    ));
    assert!(matches!(Record::Alert(2, 40).action(), Action::Close(_)));
}
