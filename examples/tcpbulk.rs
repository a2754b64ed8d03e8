//! Bulk TCP transfer tool for measuring mode tcp (scripts/bench-compare.sh, scenario d):
//!
//!   tcpbulk sink ADDR              accept connections, read to EOF, print bytes and checksum
//!   tcpbulk source ADDR BYTES      accept connections, send BYTES to each, then close
//!   tcpbulk send ADDR BYTES [N]    N parallel connections each send BYTES, then shut down
//!   tcpbulk recv ADDR [N]          N parallel connections each read to EOF
//!
//! Data is a deterministic pseudo-random stream so both ends agree on the checksum; I/O uses
//! 1 MiB buffers so the tool itself costs little CPU per GiB.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

const BUF: usize = 1 << 20;

/// The i-th 8-byte word of the stream.
fn word(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fill(buf: &mut [u8], offset: u64) {
    for (k, chunk) in buf.chunks_mut(8).enumerate() {
        let w = word(offset / 8 + k as u64).to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
}

/// Order-sensitive checksum over a byte stream fed in arbitrary pieces.
#[derive(Default)]
struct Sum {
    h: u64,
    n: u64,
}
impl Sum {
    fn add(&mut self, b: &[u8]) {
        for &x in b {
            self.h = (self.h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.n += b.len() as u64;
    }
}

fn send(mut s: TcpStream, bytes: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; BUF];
    let mut off = 0;
    while off < bytes {
        let n = BUF.min((bytes - off) as usize);
        fill(&mut buf[..n], off);
        s.write_all(&buf[..n])?;
        off += n as u64;
    }
    s.shutdown(Shutdown::Write)?;
    // Wait for the peer to close so that every byte is known delivered.
    let _ = s.read(&mut buf);
    Ok(())
}

fn recv(mut s: TcpStream, check: bool) -> std::io::Result<Sum> {
    let mut buf = vec![0u8; BUF];
    let mut sum = Sum::default();
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(sum);
        }
        if check {
            sum.add(&buf[..n]);
        } else {
            sum.n += n as u64;
        }
    }
}

fn expected(bytes: u64) -> u64 {
    let mut sum = Sum::default();
    let mut buf = vec![0u8; BUF];
    let mut off = 0;
    while off < bytes {
        let n = BUF.min((bytes - off) as usize);
        fill(&mut buf[..n], off);
        sum.add(&buf[..n]);
        off += n as u64;
    }
    sum.h
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let check = std::env::var("TCPBULK_NOCHECK").is_err();
    match a.get(1).map(String::as_str) {
        Some("sink") => {
            let l = TcpListener::bind(&a[2]).expect("bind");
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let t = Instant::now();
                    let sum = recv(s, check).expect("recv");
                    println!(
                        "sink: {} bytes checksum {:016x} in {:.2?}",
                        sum.n,
                        sum.h,
                        t.elapsed()
                    );
                });
            }
        }
        Some("source") => {
            let l = TcpListener::bind(&a[2]).expect("bind");
            let bytes: u64 = a[3].parse().expect("BYTES");
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let _ = send(s, bytes);
                });
            }
        }
        Some("send") => {
            let bytes: u64 = a[3].parse().expect("BYTES");
            let n: usize = a.get(4).map(|v| v.parse().expect("N")).unwrap_or(1);
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let addr = a[2].clone();
                    std::thread::spawn(move || {
                        send(TcpStream::connect(addr).expect("connect"), bytes)
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap().expect("send");
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "send: {n}x{bytes} bytes in {secs:.2}s = {:.2} GiB/s, checksum {:016x}",
                (n as f64 * bytes as f64) / secs / (1u64 << 30) as f64,
                if check { expected(bytes) } else { 0 }
            );
        }
        Some("recv") => {
            let n: usize = a.get(3).map(|v| v.parse().expect("N")).unwrap_or(1);
            let t = Instant::now();
            let hs: Vec<_> = (0..n)
                .map(|_| {
                    let addr = a[2].clone();
                    std::thread::spawn(move || {
                        recv(TcpStream::connect(addr).expect("connect"), check)
                    })
                })
                .collect();
            let mut total = 0;
            for h in hs {
                let s = h.join().unwrap().expect("recv");
                total += s.n;
                println!("recv: {} bytes checksum {:016x}", s.n, s.h);
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "recv: {total} bytes in {secs:.2}s = {:.2} GiB/s",
                total as f64 / secs / (1u64 << 30) as f64
            );
        }
        _ => {
            eprintln!(
                "usage: tcpbulk sink ADDR | source ADDR BYTES | send ADDR BYTES [N] | recv ADDR [N]"
            );
            std::process::exit(2);
        }
    }
}
