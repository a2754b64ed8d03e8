//! Listening sockets: one per `bind` address per shard, all with SO_REUSEPORT so the kernel
//! spreads connections over the shards. Built with socket2 in the main thread (so a bind
//! error stops everything before a shard starts, naming the bind line) and handed to each
//! shard, which wraps its own with glommio.
//!
//! A unix or abstract socket (`bind unix@/path`, `abns@name`) and an inherited socket
//! (`fd@N`) are one socket, not one per shard: SO_REUSEPORT does not spread unix
//! connections, and an inherited socket exists once. Every shard accepts from that one
//! socket (each holds a dup); whichever is idle takes the next connection.

use crate::config::addr::{ListenAddr, SockPath, UnixPerms};
use crate::config::{Bind, Config};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::AsFd;

pub struct Listener {
    /// Index of the frontend/listen proxy in `Config::proxies`.
    pub proxy: usize,
    pub addr: ListenAddr,
    /// `accept-proxy` on this bind.
    pub accept_proxy: bool,
    /// `proto`: HTTP/2 from the first byte, HTTP/1 only, or either.
    pub proto: crate::config::model::BindProto,
    /// `ssl`: TLS is terminated on this bind.
    pub tls: Option<crate::net::tls::ListenerTls>,
    /// The bind's `name`, else its number in the proxy (1, 2, …), as HAProxy logs it.
    pub label: std::sync::Arc<str>,
    /// The bind's position in the proxy (0, 1, …): its listener counters' index.
    pub index: usize,
    pub sock: Socket,
}

/// Binds and listens on a unix or abstract socket. A unix socket is bound beside its path
/// and renamed over it once its owner and mode are set, so that a process replacing another
/// (reload, `-sf`, `-x`) takes the path over without a moment where it is missing or open
/// to anyone.
pub fn bind_path(path: &SockPath, perms: &UnixPerms, backlog: u32) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::UNIX, Type::STREAM.nonblocking().cloexec(), None)?;
    let backlog = backlog.min(i32::MAX as u32) as i32;
    let SockPath::Unix(p) = path else {
        s.bind(&path.sockaddr()?)?;
        s.listen(backlog)?;
        return Ok(s);
    };
    let tmp = std::path::PathBuf::from(format!("{}.{}.tmp", p.display(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    s.bind(&socket2::SockAddr::unix(&tmp)?)?;
    let uid = perms
        .uid
        .or_else(|| perms.user.as_deref().and_then(crate::sys::user_id));
    let gid = perms
        .gid
        .or_else(|| perms.group.as_deref().and_then(crate::sys::group_id));
    let set = || -> std::io::Result<()> {
        if uid.is_some() || gid.is_some() {
            std::os::unix::fs::chown(&tmp, uid, gid)?;
        }
        if let Some(m) = perms.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(m))?;
        }
        s.listen(backlog)?;
        std::fs::rename(&tmp, p)
    };
    set().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(s)
}

/// An inherited socket (`fd@N`): a dup of it, so that descriptor N stays open for the next
/// generation, made non-blocking and listening (it may come bound only).
pub fn inherited_fd(n: i32, backlog: u32) -> std::io::Result<Socket> {
    let s = Socket::from(crate::sys::dup_inherited(n)?);
    s.set_nonblocking(true)?;
    s.listen(backlog.min(i32::MAX as u32) as i32)?;
    Ok(s)
}

fn open(b: &Bind, backlog: u32) -> std::io::Result<Socket> {
    let addr = match &b.addr {
        ListenAddr::Inet(a) => *a,
        ListenAddr::Path(p) => return bind_path(p, &b.perms, backlog),
        ListenAddr::Fd(n) => return inherited_fd(*n, backlog),
    };
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let make = || {
        Socket::new(
            domain,
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        )
    };
    let s = match &b.namespace {
        Some(ns) => crate::sys::in_netns(ns, make)??,
        None => make()?,
    };
    s.set_reuse_address(true)?;
    if b.transparent {
        let (level, opt) = if addr.is_ipv6() {
            (libc::SOL_IPV6, libc::IPV6_TRANSPARENT)
        } else {
            (libc::SOL_IP, libc::IP_TRANSPARENT)
        };
        crate::sys::setsockopt_int(s.as_fd(), level, opt, 1)?;
    }
    s.set_reuse_port(true)?;
    if let (true, Some(v6)) = (addr.is_ipv6(), b.v6only) {
        s.set_only_v6(v6)?;
    }
    if let Some(dev) = &b.interface {
        s.bind_device(Some(dev.as_bytes()))?;
    }
    if let Some(mss) = b.mss {
        s.set_mss(mss)?;
    }
    s.bind(&addr.into())?;
    if let Some(ut) = b.tcp_ut {
        // Accepted connections inherit it from the listening socket, as in HAProxy.
        let ms = i32::try_from(ut.as_millis()).unwrap_or(i32::MAX);
        crate::sys::setsockopt_int(s.as_fd(), libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms)?;
    }
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
    sockets: HashMap<(usize, ListenAddr), Socket>,
    /// The frontend (proxy index) and backlog of each address.
    owners: HashMap<ListenAddr, (usize, u32)>,
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
            r.sockets.insert((*n, ListenAddr::Inet(addr)), sock);
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
                    certs: b.tls_certs.clone(),
                    // The probe runs once, here in the main thread, and logs its one line.
                    ktls: t.ktls_wanted(&cfg.global.tls) && crate::tls::ktls::probe().available(),
                    // (The configuration's verifier built without error: so does this one.)
                    client_verify: t
                        .client_auth
                        .verifier()
                        .ok()
                        .flatten()
                        .filter(|v| v.ignores_errors()),
                }),
                _ => None,
            };
            // HAProxy: the bind's backlog, else the frontend's, else its maxconn.
            let backlog = b.backlog.or(px.backlog).unwrap_or(fe_maxconn.max(1));
            let mut first: Option<Socket> = None;
            for (n, shard) in per_shard.iter_mut().enumerate() {
                let reused = previous
                    .and_then(|r| r.sockets.get(&(n, b.addr.clone())))
                    .and_then(|s| s.try_clone().ok());
                // One socket for all shards (see the module's comment).
                let shared = first.as_ref().and_then(|s| s.try_clone().ok());
                let sock = match reused.or(shared) {
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
                if b.addr.inet().is_some() {
                    // `option tcp-smart-accept` (on by default for mode http and TLS binds):
                    // no quick ACK of the handshake, so the first answer carries it; set
                    // either way, as HAProxy does, since a reload may reuse the socket.
                    let smart = px
                        .options
                        .tcp_smart_accept
                        .unwrap_or(px.mode == crate::config::Mode::Http || b.tls.is_some());
                    let fd = std::os::fd::AsFd::as_fd(&sock);
                    let on = i32::from(!smart);
                    let _ =
                        crate::sys::setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_QUICKACK, on);
                }
                let keep = sock.try_clone().map_err(|e| {
                    format!(
                        "{}: cannot duplicate the socket of '{}': {e}",
                        b.loc, b.addr
                    )
                })?;
                if b.addr.inet().is_none() && first.is_none() {
                    first = sock.try_clone().ok();
                }
                registry.sockets.insert((n, b.addr.clone()), keep);
                registry.owners.insert(b.addr.clone(), (i, backlog));
                shard.push(Listener {
                    proxy: i,
                    addr: b.addr.clone(),
                    accept_proxy: b.accept_proxy,
                    proto: b.proto,
                    tls: tls.clone(),
                    label: label.clone(),
                    index: k,
                    sock,
                });
            }
        }
    }
    Ok((per_shard, registry))
}
