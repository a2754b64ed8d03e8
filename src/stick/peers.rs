//! The peers protocol (HAProxy's doc/peers-v2.0.txt, version 2.1 as HAProxy 2.6 speaks it):
//! the stick tables of a `peers` section are synchronized with the other peers.
//!
//! # Threads, not shards
//!
//! Peer connections never run on a shard: per section, one thread listens on the local
//! peer's address, one thread per remote peer connects to it, and each established session
//! has its thread (blocking sockets, 100 ms read timeouts). Shards are not told of changes:
//! every 100 ms a session scans its tables (lock-free reads of the shared map, as `show
//! table` does) and sends the entries whose data changed since it last sent them. A shard
//! therefore never waits for a peer, and nothing is queued on the request path; the price is
//! a scan of each synchronized table ten times a second per peer.
//!
//! # What is sent and learned
//!
//! Table definitions, then `UPDATE` messages (key and every stored data type, rates as
//! HAProxy encodes its `freq_ctr`: age of the current period, its count, the previous one's),
//! acknowledgements of what was learned, heartbeats every 3 s; a session silent for 5 s is
//! closed and the connector tries again. `UPDATE`, `INCUPDATE`, `UPDATE_TIMED` and
//! `INCUPDATE_TIMED` are understood; `conn_cur` is not learned (HAProxy keeps it local too);
//! `server_key` and the `gpt`/`gpc` arrays a peer sends are skipped (corelb stores neither).
//! An entry learned from a peer is not sent back to it nor pushed on to the others, but it is
//! taught with the rest when a peer asks for a full resync (each side asks once a session is
//! established, so that a restarted node learns everything again).

use super::table::{Entry, Key, Table};
use super::{Tables, now_ms};
use crate::config::Config;
use crate::config::stick::{DATA_TYPES, DataType, KeyType};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering::*};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

const CLASS_CONTROL: u8 = 0;
const CLASS_ERROR: u8 = 1;
const CLASS_STKT: u8 = 10;
const CTRL_RESYNCREQ: u8 = 0;
const CTRL_RESYNCFINISHED: u8 = 1;
const CTRL_RESYNCPARTIAL: u8 = 2;
const CTRL_RESYNCCONFIRM: u8 = 3;
const CTRL_HEARTBEAT: u8 = 4;
const STKT_UPDATE: u8 = 0x80;
const STKT_INCUPDATE: u8 = 0x81;
const STKT_DEFINE: u8 = 0x82;
const STKT_SWITCH: u8 = 0x83;
const STKT_ACK: u8 = 0x84;
const STKT_UPDATE_TIMED: u8 = 0x85;
const STKT_INCUPDATE_TIMED: u8 = 0x86;

const HEARTBEAT: Duration = Duration::from_secs(3);
const SILENCE: Duration = Duration::from_secs(5);
const RECONNECT: Duration = Duration::from_secs(1);
const SCAN: Duration = Duration::from_millis(100);
/// How often a session forgets what it knew of entries that are gone.
const PRUNE: Duration = Duration::from_secs(10);

/// HAProxy's data type ids that need more than a value: `server_key` (a dictionary entry,
/// which corelb does not store), the `gpt`, `gpc`, `gpc_rate` arrays. The others are
/// [`DataType`]'s order (`http_fail_cnt` 20, `http_fail_rate` 21).
const DT_SERVER_KEY: u64 = 19;
const DT_GPT: u64 = 22;
const DT_GPC: u64 = 23;
const DT_GPC_RATE: u64 = 24;

/// Encodes `i` as HAProxy's peers varint.
pub fn put_varint(out: &mut Vec<u8>, mut i: u64) {
    if i < 240 {
        out.push(i as u8);
        return;
    }
    out.push((i as u8) | 240);
    i = (i - 240) >> 4;
    while i >= 128 {
        out.push((i as u8) | 128);
        i = (i - 128) >> 7;
    }
    out.push(i as u8);
}

/// Decodes a varint at `*at`; `None` past the end.
pub fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut i = *b.get(*at)? as u64;
    *at += 1;
    if i >= 240 {
        let mut shift = 4;
        loop {
            let c = *b.get(*at)?;
            *at += 1;
            i = i.wrapping_add((c as u64) << shift);
            shift += 7;
            if c < 128 || shift > 70 {
                break;
            }
        }
    }
    Some(i)
}

fn get_u32(b: &[u8], at: &mut usize) -> Option<u32> {
    let v = b.get(*at..*at + 4)?;
    *at += 4;
    Some(u32::from_be_bytes(v.try_into().ok()?))
}

/// A table shared by a section: its index in [`Tables`] and the name peers know it by.
#[derive(Clone, Debug)]
struct SharedTable {
    idx: usize,
    nid: String,
}

/// One `peers` section at run time.
struct Section {
    name: String,
    local: String,
    /// `tune.peers.max-updates-at-once`: updates sent per round (per [`SCAN`]) at most.
    max_updates: usize,
    /// Remote peers: name and address.
    remotes: Vec<(String, Option<SocketAddr>)>,
    tables: Vec<SharedTable>,
    store: Weak<Tables>,
    /// Per table: key → the data signature last learned from a peer (not to be sent back).
    learned: Mutex<HashMap<(usize, Key), Vec<u64>>>,
    /// Sessions alive per remote peer (the connector waits while one is).
    alive: Vec<AtomicU32>,
}

/// Starts the peers of every usable section (local peer present, not `disabled`) for this
/// generation; the threads end when the generation's tables are dropped.
pub fn start(cfg: &Config, tables: &Arc<Tables>) {
    let mut first_section_table = cfg.proxies.len();
    for s in &cfg.peers {
        let own = s.tables.len();
        let base = first_section_table;
        first_section_table += own;
        let (Some(li), Some(addr)) = (s.local, s.listen_addr()) else {
            continue;
        };
        let mut shared: Vec<SharedTable> = cfg
            .proxies
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.stick_table
                    .as_ref()
                    .is_some_and(|t| t.peers.as_deref() == Some(&s.name))
            })
            .map(|(i, p)| SharedTable {
                idx: i,
                nid: p.name.clone(),
            })
            .collect();
        shared.extend(
            s.tables
                .iter()
                .enumerate()
                .map(|(k, (n, _, _))| SharedTable {
                    idx: base + k,
                    nid: n.clone(),
                }),
        );
        let remotes: Vec<(String, Option<SocketAddr>)> = s
            .peers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != li)
            .map(|(_, p)| (p.name.clone(), p.addr))
            .collect();
        let sec = Arc::new(Section {
            name: s.name.clone(),
            local: s.peers[li].name.clone(),
            max_updates: cfg.global.peers_max_updates,
            alive: remotes.iter().map(|_| AtomicU32::new(0)).collect(),
            remotes,
            tables: shared,
            store: Arc::downgrade(tables),
            learned: Mutex::new(HashMap::new()),
        });
        let l = sec.clone();
        spawn(&format!("corelb-peers-{}", s.name), move || listen(l, addr));
        for i in 0..sec.remotes.len() {
            if sec.remotes[i].1.is_some() {
                let c = sec.clone();
                spawn(&format!("corelb-peer-{}", sec.remotes[i].0), move || {
                    connector(c, i)
                });
            }
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        log::warn!("peers: cannot start thread {name}: {e}");
    }
}

impl Section {
    fn alive(&self) -> bool {
        self.store.strong_count() > 0
    }
}

/// Accepts peers on the local peer's address (retrying the bind while an older generation
/// still holds it).
fn listen(sec: Arc<Section>, addr: SocketAddr) {
    let mut tries = 0u32;
    let listener = loop {
        if !sec.alive() {
            return;
        }
        match bind(addr) {
            Ok(l) => break l,
            Err(e) => {
                // For a moment at a reload, the older generation holds the address: a notice
                // then, a warning if it lasts (5 s).
                tries += 1;
                if tries == 1 {
                    log::info!(
                        "peers '{}': cannot listen on {addr} yet ({e}); retrying",
                        sec.name
                    );
                } else if tries == 25 {
                    log::warn!(
                        "peers '{}': still cannot listen on {addr} ({e}); peers cannot connect to this node until it can",
                        sec.name
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    let _ = listener.set_nonblocking(true);
    while sec.alive() {
        match listener.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                let c = sec.clone();
                spawn("corelb-peer-in", move || accept(c, s));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(16)?;
    Ok(s.into())
}

/// The server side of the handshake: the hello's three lines, then a status line.
fn accept(sec: Arc<Section>, s: TcpStream) {
    let _ = s.set_read_timeout(Some(SILENCE));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    let line = |r: &mut BufReader<TcpStream>| -> Option<String> {
        let mut l = String::new();
        r.read_line(&mut l).ok().filter(|n| *n > 0)?;
        Some(l.trim_end_matches(['\r', '\n']).to_string())
    };
    let (Some(l1), Some(l2), Some(l3)) = (line(&mut r), line(&mut r), line(&mut r)) else {
        return;
    };
    let status = match l1.split_once(' ') {
        Some(("HAProxyS", v)) if v.split('.').next() == Some("2") => {
            if l2 != sec.local {
                503
            } else {
                match sec
                    .remotes
                    .iter()
                    .position(|(n, _)| Some(n.as_str()) == l3.split(' ').next())
                {
                    Some(i) => {
                        if w.write_all(b"200\n").is_ok() {
                            session(&sec, i, r, w, false);
                        }
                        return;
                    }
                    None => 504,
                }
            }
        }
        Some(("HAProxyS", _)) => 502,
        _ => 501,
    };
    let _ = w.write_all(format!("{status}\n").as_bytes());
}

/// Connects to remote peer `i` whenever no session with it is alive.
fn connector(sec: Arc<Section>, i: usize) {
    let (name, Some(addr)) = sec.remotes[i].clone() else {
        return;
    };
    while sec.alive() {
        if sec.alive[i].load(Acquire) == 0
            && let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        {
            let _ = s.set_nodelay(true);
            let hello = format!(
                "HAProxyS 2.1\n{name}\n{} {} 1\n",
                sec.local,
                std::process::id()
            );
            let _ = s.set_read_timeout(Some(SILENCE));
            if let Ok(mut w) = s.try_clone()
                && w.write_all(hello.as_bytes()).is_ok()
            {
                let mut r = BufReader::new(s);
                let mut status = String::new();
                if r.read_line(&mut status).is_ok() {
                    match status.trim() {
                        "200" => session(&sec, i, r, w, true),
                        other => log::info!(
                            "peers '{}': peer '{name}' answered {other:?} to the handshake",
                            sec.name
                        ),
                    }
                }
            }
        }
        std::thread::sleep(RECONNECT);
    }
}

/// What a peer announced of one of its tables.
#[derive(Clone, Debug, Default)]
struct RemoteTable {
    /// Index into `Section::tables`, when we share a table of that name and key.
    local: Option<usize>,
    data: u64,
    /// Elements of the array data types.
    nbelem: HashMap<u64, u64>,
    /// The last update id learned, to acknowledge.
    last_get: Option<u32>,
    acked: Option<u32>,
}

struct Sess<'a> {
    sec: &'a Section,
    w: TcpStream,
    out: Vec<u8>,
    /// Per shared table: whether its definition was sent, and the last update id used.
    defined: Vec<bool>,
    upd: Vec<u32>,
    last_table: Option<usize>,
    /// What was last sent of each entry (its data signature).
    sent: HashMap<(usize, Key), Vec<u64>>,
    remote: HashMap<u64, RemoteTable>,
    cur_remote: Option<u64>,
    resync_asked: bool,
    last_tx: Instant,
    /// When `sent` and `learned` last forgot the entries that left their tables.
    last_prune: Instant,
}

fn session(sec: &Section, peer: usize, mut r: BufReader<TcpStream>, w: TcpStream, initiator: bool) {
    sec.alive[peer].fetch_add(1, AcqRel);
    log::info!(
        "peers '{}': session with '{}' established",
        sec.name,
        sec.remotes[peer].0
    );
    let _ = r.get_ref().set_read_timeout(Some(SCAN));
    let mut s = Sess {
        sec,
        w,
        out: Vec::new(),
        defined: vec![false; sec.tables.len()],
        upd: vec![0; sec.tables.len()],
        last_table: None,
        sent: HashMap::new(),
        remote: HashMap::new(),
        cur_remote: None,
        resync_asked: false,
        last_tx: Instant::now(),
        last_prune: Instant::now(),
    };
    // Either side may have restarted empty: each asks the other for everything it knows.
    s.out.extend_from_slice(&[CLASS_CONTROL, CTRL_RESYNCREQ]);
    log::debug!(
        "peers '{}': resync requested (initiator: {initiator})",
        sec.name
    );
    let mut buf: Vec<u8> = r.buffer().to_vec();
    let n = buf.len();
    r.consume(n);
    let mut r = r.into_inner();
    let mut last_rx = Instant::now();
    let mut chunk = [0u8; 16384];
    let why = loop {
        if !sec.alive() {
            break "reload";
        }
        match r.read(&mut chunk) {
            Ok(0) => break "closed by the peer",
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                last_rx = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break "read error",
        }
        let mut at = 0;
        let mut err = None;
        while let Some((class, kind, body, end)) = next_msg(&buf[at..]) {
            let body = &buf[at + body.0..at + body.1];
            if let Err(e) = s.handle(class, kind, body) {
                err = Some(e);
                break;
            }
            at += end;
        }
        buf.drain(..at);
        if let Some(e) = err {
            let _ = s.w.write_all(&[CLASS_ERROR, 0]);
            break e;
        }
        if last_rx.elapsed() >= SILENCE {
            break "silent for 5 s";
        }
        s.push();
        s.acks();
        if s.out.is_empty() && s.last_tx.elapsed() >= HEARTBEAT {
            s.out.extend_from_slice(&[CLASS_CONTROL, CTRL_HEARTBEAT]);
        }
        if !s.out.is_empty() {
            if s.w.write_all(&s.out).is_err() {
                break "write error";
            }
            s.out.clear();
            s.last_tx = Instant::now();
        }
    };
    log::info!(
        "peers '{}': session with '{}' ended ({why})",
        sec.name,
        sec.remotes[peer].0
    );
    let _ = s.w.shutdown(std::net::Shutdown::Both);
    sec.alive[peer].fetch_sub(1, AcqRel);
}

/// The next complete message of `b`: (class, type, body range, length), or `None` if more
/// bytes are needed.
fn next_msg(b: &[u8]) -> Option<(u8, u8, (usize, usize), usize)> {
    let (&class, &kind) = (b.first()?, b.get(1)?);
    if kind < 0x80 {
        return Some((class, kind, (2, 2), 2));
    }
    let mut at = 2;
    let len = get_varint(b, &mut at)? as usize;
    if b.len() < at + len {
        return None;
    }
    Some((class, kind, (at, at + len), at + len))
}

/// HAProxy's network key type and key size of a table.
fn key_def(t: &Table) -> (u64, u64) {
    match t.cfg.key {
        KeyType::Integer => (2, 4),
        KeyType::Ip => (4, 4),
        KeyType::Ipv6 => (5, 16),
        KeyType::String => (6, t.cfg.key_len as u64 + 1),
        KeyType::Binary => (7, t.cfg.key_len as u64),
    }
}

/// The values of an entry that peers exchange, to tell whether it changed.
fn signature(t: &Table, e: &Entry) -> Vec<u64> {
    let mut v = Vec::new();
    for &(dt, _) in &t.cfg.store {
        for i in 0..t.nb(dt) {
            if let Some((tick, c, p)) = t.rate_raw_at(e, dt, i) {
                v.extend([tick as u64, c as u64, p as u64]);
            } else if dt != DataType::ConnCur
                && let Some(x) = t.get_at(e, dt, i, 0)
            {
                v.push(x);
            }
        }
    }
    v
}

impl Sess<'_> {
    fn tables(&self) -> Option<Arc<Tables>> {
        self.sec.store.upgrade()
    }

    fn msg(&mut self, kind: u8, body: &[u8]) {
        self.out.extend_from_slice(&[CLASS_STKT, kind]);
        put_varint(&mut self.out, body.len() as u64);
        self.out.extend_from_slice(body);
    }

    fn define(&mut self, ti: usize, t: &Table) {
        let mut b = Vec::new();
        put_varint(&mut b, ti as u64 + 1);
        let nid = self.sec.tables[ti].nid.as_bytes();
        put_varint(&mut b, nid.len() as u64);
        b.extend_from_slice(nid);
        let (kt, ks) = key_def(t);
        put_varint(&mut b, kt);
        put_varint(&mut b, ks);
        let mut bits = 0u64;
        let mut params = Vec::new();
        // HAProxy's `peer_prepare_definemsg`: a rate's type and period, an array's type and
        // size (and its period for `gpc_rate`).
        for &(dt, period) in &t.cfg.store {
            bits |= 1 << dt as u64;
            if dt.is_rate() || dt.is_array() {
                put_varint(&mut params, dt as u64);
                if dt.is_array() {
                    put_varint(&mut params, t.nb(dt) as u64);
                }
                if dt.is_rate() {
                    put_varint(&mut params, period as u64);
                }
            }
        }
        put_varint(&mut b, bits);
        put_varint(&mut b, t.expire_ms().unwrap_or(0));
        b.extend_from_slice(&params);
        self.msg(STKT_DEFINE, &b);
        self.defined[ti] = true;
    }

    /// Sends the entries whose data changed since they were last sent (all of them at
    /// first), `tune.peers.max-updates-at-once` of them at most, and 64 KiB at most; the
    /// rest go in the next rounds.
    fn push(&mut self) {
        let Some(tables) = self.tables() else { return };
        let now = now_ms();
        let mut finished = self.resync_asked;
        let mut budget = self.sec.max_updates;
        'tables: for ti in 0..self.sec.tables.len() {
            let Some(t) = tables.get(self.sec.tables[ti].idx) else {
                continue;
            };
            for e in t.entries() {
                if e.refs() == 0 && t.remaining(&e, now) == 0 && t.expire_ms().is_some() {
                    continue;
                }
                let sig = signature(t, &e);
                let k = (ti, e.key.clone());
                if self.sent.get(&k) == Some(&sig) {
                    continue;
                }
                // Learned from a peer: not pushed on, but taught when a peer asks for all.
                let learned =
                    !self.resync_asked && self.sec.learned.lock().unwrap().get(&k) == Some(&sig);
                if learned {
                    self.sent.insert(k, sig);
                    continue;
                }
                if !self.defined[ti] {
                    self.define(ti, t);
                } else if self.last_table != Some(ti) {
                    let mut b = Vec::new();
                    put_varint(&mut b, ti as u64 + 1);
                    self.msg(STKT_SWITCH, &b);
                }
                self.last_table = Some(ti);
                self.upd[ti] = self.upd[ti].wrapping_add(1).max(1);
                let b = encode_update(t, &e, self.upd[ti], now);
                self.msg(STKT_UPDATE, &b);
                self.sent.insert(k, sig);
                budget -= 1;
                if self.out.len() > 64 * 1024 || budget == 0 {
                    finished = false;
                    break 'tables;
                }
            }
        }
        if self.last_prune.elapsed() >= PRUNE {
            self.last_prune = Instant::now();
            let mut present = std::collections::HashSet::new();
            for (ti, st) in self.sec.tables.iter().enumerate() {
                if let Some(t) = tables.get(st.idx) {
                    present.extend(t.entries().into_iter().map(|e| (ti, e.key.clone())));
                }
            }
            self.sent.retain(|k, _| present.contains(k));
            self.sec
                .learned
                .lock()
                .unwrap()
                .retain(|k, _| present.contains(k));
        }
        if finished {
            self.out
                .extend_from_slice(&[CLASS_CONTROL, CTRL_RESYNCFINISHED]);
            self.resync_asked = false;
        }
    }

    fn acks(&mut self) {
        let mut due = Vec::new();
        for (id, rt) in self.remote.iter_mut() {
            if let Some(g) = rt.last_get
                && rt.acked != Some(g)
            {
                rt.acked = Some(g);
                due.push((*id, g));
            }
        }
        for (id, g) in due {
            let mut b = Vec::new();
            put_varint(&mut b, id);
            b.extend_from_slice(&g.to_be_bytes());
            self.msg(STKT_ACK, &b);
        }
    }

    fn handle(&mut self, class: u8, kind: u8, body: &[u8]) -> Result<(), &'static str> {
        match (class, kind) {
            (CLASS_CONTROL, CTRL_RESYNCREQ) => {
                // Teach everything again, then say so.
                self.sent.clear();
                self.resync_asked = true;
            }
            (CLASS_CONTROL, CTRL_RESYNCFINISHED | CTRL_RESYNCPARTIAL) => {
                self.out
                    .extend_from_slice(&[CLASS_CONTROL, CTRL_RESYNCCONFIRM]);
            }
            (CLASS_CONTROL, _) => {}
            (CLASS_ERROR, _) => return Err("protocol error reported by the peer"),
            (CLASS_STKT, STKT_DEFINE) => self.on_define(body).ok_or("bad table definition")?,
            (CLASS_STKT, STKT_SWITCH) => {
                let mut at = 0;
                let id = get_varint(body, &mut at).ok_or("bad switch")?;
                self.cur_remote = Some(id);
            }
            (CLASS_STKT, STKT_ACK) => {}
            (
                CLASS_STKT,
                STKT_UPDATE | STKT_INCUPDATE | STKT_UPDATE_TIMED | STKT_INCUPDATE_TIMED,
            ) => self.on_update(kind, body).ok_or("bad update")?,
            (CLASS_STKT, _) => {}
            _ => return Err("unknown message class"),
        }
        Ok(())
    }

    fn on_define(&mut self, b: &[u8]) -> Option<()> {
        let mut at = 0;
        let id = get_varint(b, &mut at)?;
        let len = get_varint(b, &mut at)? as usize;
        let name = std::str::from_utf8(b.get(at..at + len)?).ok()?.to_string();
        at += len;
        let kt = get_varint(b, &mut at)?;
        let ks = get_varint(b, &mut at)?;
        let data = get_varint(b, &mut at)?;
        let mut rt = RemoteTable {
            data,
            ..Default::default()
        };
        // Optional: expire, then the parameters of rates and arrays.
        if get_varint(b, &mut at).is_some() {
            while at < b.len() {
                let dt = get_varint(b, &mut at)?;
                if matches!(dt, DT_GPT | DT_GPC | DT_GPC_RATE) {
                    rt.nbelem.insert(dt, get_varint(b, &mut at)?);
                    if dt == DT_GPC_RATE {
                        get_varint(b, &mut at)?;
                    }
                } else {
                    get_varint(b, &mut at)?;
                }
            }
        }
        let tables = self.tables()?;
        rt.local = self.sec.tables.iter().position(|st| {
            st.nid == name && tables.get(st.idx).is_some_and(|t| key_def(t) == (kt, ks))
        });
        if rt.local.is_none() {
            log::info!(
                "peers '{}': table '{name}' of a peer is not shared here (or its key differs); its updates are ignored",
                self.sec.name
            );
        }
        self.remote.insert(id, rt);
        self.cur_remote = Some(id);
        Some(())
    }

    fn on_update(&mut self, kind: u8, b: &[u8]) -> Option<()> {
        let id = self.cur_remote?;
        let rt = self.remote.get(&id)?.clone();
        let mut at = 0;
        let upd = if matches!(kind, STKT_UPDATE | STKT_UPDATE_TIMED) {
            get_u32(b, &mut at)?
        } else {
            rt.last_get.unwrap_or(0).wrapping_add(1)
        };
        let expire = if matches!(kind, STKT_UPDATE_TIMED | STKT_INCUPDATE_TIMED) {
            Some(get_u32(b, &mut at)? as u64)
        } else {
            None
        };
        if let Some(r) = self.remote.get_mut(&id) {
            r.last_get = Some(upd);
        }
        let Some(ti) = rt.local else {
            return Some(());
        };
        let tables = self.tables()?;
        let t = tables.get(self.sec.tables[ti].idx)?;
        let key = match t.cfg.key {
            KeyType::Ip => {
                let k: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
                at += 4;
                Key::V4(k)
            }
            KeyType::Ipv6 => {
                let k: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
                at += 16;
                Key::V6(k)
            }
            KeyType::Integer => Key::Int(get_u32(b, &mut at)?),
            KeyType::String => {
                let n = get_varint(b, &mut at)? as usize;
                let s = b.get(at..at + n)?;
                at += n;
                Key::Bytes(s[..n.min(t.cfg.key_len)].into())
            }
            KeyType::Binary => {
                let n = t.cfg.key_len;
                let s = b.get(at..at + n)?;
                at += n;
                Key::Bytes(s.into())
            }
        };
        let now = now_ms();
        let now32 = now as u32;
        // Decode every value the peer sends, then apply those this table stores.
        let mut counters: Vec<(DataType, usize, u64)> = Vec::new();
        let mut rates: Vec<(DataType, usize, u32, u32, u32)> = Vec::new();
        for dt in 0..64u64 {
            if rt.data & (1 << dt) == 0 {
                continue;
            }
            let known = DATA_TYPES.get(dt as usize).map(|d| d.0);
            match dt {
                DT_SERVER_KEY => {
                    let n = get_varint(b, &mut at)? as usize;
                    at += n;
                    b.get(..at)?;
                }
                // Arrays: their elements in order (as many as the peer's table has; those
                // past ours are dropped).
                _ => {
                    let d = known?;
                    let n = if d.is_array() {
                        rt.nbelem.get(&dt).copied().unwrap_or(0) as usize
                    } else {
                        1
                    };
                    for i in 0..n {
                        if d.is_rate() {
                            let age = get_varint(b, &mut at)? as u32;
                            let c = get_varint(b, &mut at)? as u32;
                            let p = get_varint(b, &mut at)? as u32;
                            rates.push((d, i, now32.wrapping_sub(age), c, p));
                        } else {
                            counters.push((d, i, get_varint(b, &mut at)?));
                        }
                    }
                }
            }
        }
        let Some(e) = t.get_or_create(&key, now) else {
            return Some(());
        };
        for (d, i, v) in counters {
            if d != DataType::ConnCur {
                t.set_at(&e, d, i, v);
            }
        }
        for (d, i, tick, c, p) in rates {
            t.set_rate_raw_at(&e, d, i, tick, c, p);
        }
        if let (Some(rem), Some(x)) = (expire, t.expire_ms()) {
            e.touch((now + rem.min(x)).saturating_sub(x));
        }
        let sig = signature(t, &e);
        let k = (ti, key);
        self.sent.insert(k.clone(), sig.clone());
        self.sec.learned.lock().unwrap().insert(k, sig);
        Some(())
    }
}

/// Sends one entry: update id, key, then every stored value in data type order.
fn encode_update(t: &Table, e: &Entry, id: u32, now: u64) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    match &e.key {
        Key::V4(a) => b.extend_from_slice(a),
        Key::V6(a) => b.extend_from_slice(a),
        Key::Int(i) => b.extend_from_slice(&i.to_be_bytes()),
        Key::Bytes(s) => {
            if t.cfg.key == KeyType::String {
                put_varint(&mut b, s.len() as u64);
                b.extend_from_slice(s);
            } else {
                let mut v = s.to_vec();
                v.resize(t.cfg.key_len, 0);
                b.extend_from_slice(&v);
            }
        }
    }
    // Every stored value in data type order, an array's elements one after the other.
    for &(dt, _) in &t.cfg.store {
        for i in 0..t.nb(dt) {
            if let Some((tick, c, p)) = t.rate_raw_at(e, dt, i) {
                put_varint(&mut b, (now as u32).wrapping_sub(tick) as u64);
                put_varint(&mut b, c as u64);
                put_varint(&mut b, p as u64);
            } else if let Some(v) = t.get_at(e, dt, i, now) {
                put_varint(&mut b, v);
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_as_haproxy_encodes_them() {
        for (v, want) in [
            (0u64, vec![0u8]),
            (239, vec![239]),
            (240, vec![240, 0]),
            (2287, vec![255, 127]),
            (2288, vec![240, 128, 0]),
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b, want, "{v}");
            let mut at = 0;
            assert_eq!(get_varint(&b, &mut at), Some(v));
            assert_eq!(at, b.len());
        }
        for v in [
            264_432u64,
            33_818_864,
            4_328_786_160,
            u32::MAX as u64,
            1 << 40,
        ] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut at = 0;
            assert_eq!(get_varint(&b, &mut at), Some(v), "{v}");
        }
        let mut at = 0;
        assert_eq!(get_varint(&[240], &mut at), None, "truncated");
    }
}
