//! `show cache`: every cache section and its live objects, in HAProxy 2.6's layout
//! (`cli_io_handler_show_cache`). corelb's stores are per shard: each shard lists its own
//! objects on its thread (through its mailbox), and the lines of all shards are merged in
//! HAProxy's order, by primary hash (then shard), one line per stored copy: an object fetched
//! by two shards is listed twice, each copy with its own expiry.

use crate::cluster::Shared;
use crate::cluster::sessions::Job;
use crate::proxy::http::cache::{Listed, listing};
use std::fmt::Write;
use std::sync::mpsc;

/// HAProxy's cache block size (`CACHE_BLOCKSIZE`): what `available blocks` and an object's
/// `blocks` count.
const BLOCK: u64 = 1024;

pub fn show(sh: &Shared) -> String {
    let caches = &sh.cfg.caches;
    if caches.is_empty() {
        return String::new();
    }
    let n = caches.len();
    let waits: Vec<_> = sh
        .mailboxes
        .iter()
        .map(|m| {
            let (tx, rx) = mpsc::channel();
            m.post(Job::Run(Box::new(move || {
                let _ = tx.send(listing(n));
            })));
            rx
        })
        .collect();
    let mut per_cache: Vec<Vec<(usize, Listed)>> = (0..n).map(|_| Vec::new()).collect();
    for (shard, rx) in waits.into_iter().enumerate() {
        if let Ok(lists) = rx.recv_timeout(super::sess::WAIT) {
            for (i, l) in lists.into_iter().enumerate() {
                per_cache[i].extend(l.into_iter().map(|o| (shard, o)));
            }
        }
    }
    let mut s = String::new();
    for (c, mut objs) in caches.iter().zip(per_cache) {
        // No object is held between two steps of a connection in corelb (a hit is copied
        // out at once): every block is available, as in an idle HAProxy.
        let _ = writeln!(
            s,
            "{:p}: {} (shctx:{:p}, available blocks:{})",
            c,
            c.name,
            &c.total_max_size,
            c.total_max_size / BLOCK
        );
        objs.sort_by_key(|(shard, o)| (o.hash, *shard));
        for (_, o) in objs {
            let vary: String = o.vary.iter().map(|b| format!("{b:02x}")).collect();
            let _ = writeln!(
                s,
                "{:#x} hash:{} vary:0x{vary} size:{} ({} blocks), refcount:0, expire:{}",
                o.addr,
                o.hash,
                o.size,
                (o.size as u64).div_ceil(BLOCK),
                o.expire
            );
        }
    }
    s
}
