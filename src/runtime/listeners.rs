//! Listening sockets: one per `bind` address per shard, all with SO_REUSEPORT so the kernel
//! spreads connections over the shards. Built with socket2 in the main thread (so a bind
//! error stops everything before a shard starts, naming the bind line) and handed to each
//! shard, which wraps its own with glommio.

use crate::config::{Bind, Config};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsFd;

pub struct Listener {
    /// Index of the frontend/listen proxy in `Config::proxies`.
    pub proxy: usize,
    pub addr: std::net::SocketAddr,
    /// `accept-proxy` on this bind.
    pub accept_proxy: bool,
    /// `ssl`: TLS is terminated on this bind.
    pub tls: Option<crate::net::tls::ListenerTls>,
    /// The bind's `name`, else its number in the proxy (1, 2, …), as HAProxy logs it.
    pub label: std::sync::Arc<str>,
    pub sock: Socket,
}

fn open(b: &Bind, backlog: u32) -> std::io::Result<Socket> {
    let domain = if b.addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let s = Socket::new(
        domain,
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    if let (true, Some(v6)) = (b.addr.is_ipv6(), b.v6only) {
        s.set_only_v6(v6)?;
    }
    if let Some(dev) = &b.interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(mss) = b.mss {
        s.set_mss(mss)?;
    }
    s.bind(&b.addr.into())?;
    if b.defer_accept {
        // Wake the acceptor only when data arrives (1 s is the usual value).
        crate::sys::setsockopt_int(s.as_fd(), libc::IPPROTO_TCP, libc::TCP_DEFER_ACCEPT, 1)?;
    }
    if b.tfo {
        crate::sys::setsockopt_int(
            s.as_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_FASTOPEN,
            backlog as i32,
        )?;
    }
    s.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(s)
}

/// The main thread's own copy (a dup) of every listening socket of a generation, by
/// (shard, address): a reload gives the next generation the same sockets, so the kernel's
/// accept queues carry over and no connection is refused or reset.
#[derive(Default)]
pub struct Registry {
    sockets: HashMap<(usize, SocketAddr), Socket>,
    /// The frontend (proxy index) and backlog of each address.
    owners: HashMap<SocketAddr, (usize, u32)>,
}

impl Registry {
    /// Copies of every listening socket, for `_getsocks`.
    pub fn dup_all(&self) -> std::io::Result<Vec<std::os::fd::OwnedFd>> {
        self.sockets
            .values()
            .map(|s| s.try_clone().map(std::os::fd::OwnedFd::from))
            .collect()
    }

    /// The sockets received from an old process (`-x`), by their address: the k-th one of
    /// an address goes to shard k, where `bind_all` reuses it.
    pub fn inherited(fds: Vec<std::os::fd::OwnedFd>) -> Registry {
        let mut r = Registry::default();
        let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
        for fd in fds {
            let sock = Socket::from(fd);
            let Some(addr) = sock.local_addr().ok().and_then(|a| a.as_socket()) else {
                continue;
            };
            let n = seen.entry(addr).or_insert(0);
            r.sockets.insert((*n, addr), sock);
            *n += 1;
        }
        r
    }

    /// `disable|enable frontend`: stops or resumes listening on every socket of frontend
    /// `proxy`, for every shard at once. Pausing is HAProxy's trick on Linux: shutdown(2)
    /// takes a listening socket out of its SO_REUSEPORT group (new connections are
    /// refused, queued ones reset) while it keeps its address; listen(2) puts it back.
    pub fn pause(&self, proxy: usize, enable: bool) -> std::io::Result<usize> {
        let mut n = 0;
        for ((_, addr), sock) in &self.sockets {
            let Some(&(p, backlog)) = self.owners.get(addr) else {
                continue;
            };
            if p != proxy {
                continue;
            }
            if enable {
                sock.listen(backlog.min(i32::MAX as u32) as i32)?;
            } else {
                crate::sys::shutdown(sock.as_fd(), libc::SHUT_RD)?;
            }
            n += 1;
        }
        Ok(n)
    }
}

/// Binds every address of every enabled frontend, `shards` times, reusing the sockets of
/// `previous` where the same (shard, address) existed. The error names the `bind` line.
pub fn bind_all(
    cfg: &Config,
    shards: usize,
    global_maxconn: u32,
    previous: Option<&Registry>,
) -> Result<(Vec<Vec<Listener>>, Registry), String> {
    let mut registry = Registry::default();
    let mut per_shard: Vec<Vec<Listener>> = (0..shards).map(|_| Vec::new()).collect();
    for (i, px) in cfg.frontends() {
        if px.disabled {
            continue;
        }
        let fe_maxconn = px.maxconn.unwrap_or(global_maxconn);
        for (k, b) in px.binds.iter().enumerate() {
            let label: std::sync::Arc<str> = b.name.clone().unwrap_or((k + 1).to_string()).into();
            let tls = match (&b.tls, &b.tls_config) {
                (Some(t), Some(c)) => Some(crate::net::tls::ListenerTls {
                    config: c.clone(),
                    // The probe runs once, here in the main thread, and logs its one line.
                    ktls: t.ktls_wanted(&cfg.global.tls) && crate::tls::ktls::probe().available(),
                }),
                _ => None,
            };
            // HAProxy: the bind's backlog, else the frontend's, else its maxconn.
            let backlog = b.backlog.or(px.backlog).unwrap_or(fe_maxconn.max(1));
            for (n, shard) in per_shard.iter_mut().enumerate() {
                let reused = previous
                    .and_then(|r| r.sockets.get(&(n, b.addr)))
                    .and_then(|s| s.try_clone().ok());
                let sock = match reused {
                    Some(s) => {
                        // Same socket, new owner: only the backlog may have changed.
                        let _ = s.listen(backlog.min(i32::MAX as u32) as i32);
                        s
                    }
                    None => open(b, backlog).map_err(|e| {
                        format!(
                            "{}: cannot bind '{}' for {} '{}': {e}",
                            b.loc,
                            b.addr,
                            px.kind.name(),
                            px.name
                        )
                    })?,
                };
                let keep = sock.try_clone().map_err(|e| {
                    format!(
                        "{}: cannot duplicate the socket of '{}': {e}",
                        b.loc, b.addr
                    )
                })?;
                registry.sockets.insert((n, b.addr), keep);
                registry.owners.insert(b.addr, (i, backlog));
                shard.push(Listener {
                    proxy: i,
                    addr: b.addr,
                    accept_proxy: b.accept_proxy,
                    tls: tls.clone(),
                    label: label.clone(),
                    sock,
                });
            }
        }
    }
    Ok((per_shard, registry))
}
