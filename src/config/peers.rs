//! `peers` sections (configuration manual 3.5) and global `localpeer`: the nodes that share
//! stick tables, and the tables a section declares itself (`table NAME ...`, referenced as
//! `SECTION/NAME`). Pure: a peer given by host name is resolved once, at load.
//!
//! HAProxy 2.6 is followed for what is accepted and for the `-c` messages; see
//! docs/stick-tables.md ("peers") for what is synchronized.

use super::diag::{Diags, Loc};
use super::keywords::{Kw, Status::*};
use super::model::Config;
use super::stick::StickTableCfg;
use std::net::SocketAddr;

const fn kw(name: &'static str) -> Kw {
    Kw {
        name,
        status: Supported(()),
        sections: 0,
    }
}

const PLAIN_TCP: &str = "corelb's peer connections are plain TCP with the default settings";

const fn ignored(name: &'static str, why: &'static str) -> Kw {
    Kw {
        name,
        status: Ignored(why),
        sections: 0,
    }
}

/// The keywords of a `peers` section (for `--list-keywords` and "did you mean").
pub static SECTION: &[Kw] = &[
    kw("peer"),
    kw("server"),
    kw("bind"),
    ignored("default-bind", PLAIN_TCP),
    ignored("default-server", PLAIN_TCP),
    kw("disabled"),
    kw("enabled"),
    ignored(
        "log",
        "corelb logs peer events to its own log, not to the section's",
    ),
    kw("table"),
];

/// A `peers NAME` section.
#[derive(Clone, Debug)]
pub struct Peers {
    pub name: String,
    pub loc: Loc,
    pub peers: Vec<Peer>,
    /// `table NAME ...` lines: tables of this section, named `SECTION/NAME`.
    pub tables: Vec<(String, StickTableCfg, Loc)>,
    /// `disabled`: the section exists for the tables, nothing is synchronized.
    pub disabled: bool,
    /// `bind ADDR:PORT`: where the local peer (a `server` line without address) listens.
    pub bind: Option<(SocketAddr, Loc)>,
    /// Whether `peer` lines were used (they cannot be mixed with `bind`).
    saw_peer: bool,
    /// Index into `peers` of the local peer, once the configuration is read.
    pub local: Option<usize>,
}

/// `peer NAME ADDR:PORT` or `server NAME [ADDR:PORT]`.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    /// `None` for a `server` line without address (the local peer, with `bind`) or an
    /// address without port (HAProxy accepts it for a remote peer, which it never reaches).
    pub addr: Option<SocketAddr>,
    /// The address as written, for messages.
    pub text: String,
    pub loc: Loc,
}

impl Peers {
    pub fn new(name: &str, loc: Loc) -> Peers {
        Peers {
            name: name.to_string(),
            loc,
            peers: Vec::new(),
            tables: Vec::new(),
            disabled: false,
            bind: None,
            saw_peer: false,
            local: None,
        }
    }

    /// The local peer's address (where it listens), when the section is usable.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        let l = &self.peers[self.local?];
        l.addr.or(self.bind.as_ref().map(|b| b.0))
    }

    /// The remote peers with an address.
    pub fn remotes(&self) -> impl Iterator<Item = &Peer> {
        self.peers
            .iter()
            .enumerate()
            .filter(move |(i, p)| Some(*i) != self.local && p.addr.is_some())
            .map(|(_, p)| p)
    }
}

/// One line inside a `peers` section.
pub fn section_kw(p: &mut Peers, w: &[String], loc: &Loc, d: &mut Diags) {
    match w[0].as_str() {
        kw @ ("peer" | "server") => {
            let Some(name) = w.get(1) else {
                d.error(
                    loc,
                    format!("'{kw}' expects <name> and <addr>:<port> as arguments"),
                );
                return;
            };
            if kw == "peer" {
                if p.bind.is_some() {
                    d.error(loc, "mixing \"peer\" and \"bind\" line is forbidden");
                    return;
                }
                p.saw_peer = true;
            }
            let text = match w.get(2) {
                Some(a) => a.clone(),
                None if kw == "server" => String::new(),
                None => {
                    d.error(
                        loc,
                        "'peer' expects <name> and <addr>:<port> as arguments",
                    );
                    return;
                }
            };
            if let Some(extra) = w.get(3) {
                d.error(
                    loc,
                    format!(
                        "'server {}/{name}' : unknown keyword '{extra}' (server parameters on peer lines are not supported)",
                        p.name
                    ),
                );
                return;
            }
            let addr = if text.is_empty() {
                None
            } else {
                match peer_addr(&text) {
                    Ok(a) => a,
                    Err(e) => {
                        d.error(loc, format!("'{kw} {name}' : {e} in '{text}'"));
                        return;
                    }
                }
            };
            p.peers.push(Peer {
                name: name.clone(),
                addr,
                text,
                loc: loc.clone(),
            });
        }
        "bind" => {
            if p.saw_peer {
                d.error(loc, "mixing \"peer\" and \"bind\" line is forbidden");
                return;
            }
            let Some(text) = w.get(1) else {
                d.error(loc, "'bind' expects <addr>:<port> as argument");
                return;
            };
            if let Some(extra) = w.get(2) {
                d.error(
                    loc,
                    format!("'bind {text}' : unknown keyword '{extra}' (bind parameters in peers sections are not supported)"),
                );
                return;
            }
            match peer_addr(text) {
                Ok(Some(a)) => p.bind = Some((a, loc.clone())),
                Ok(None) => d.error(
                    loc,
                    format!("'bind' : missing port specification in '{text}'"),
                ),
                Err(e) => d.error(loc, format!("'bind' : {e} in '{text}'")),
            }
        }
        kw @ ("default-bind" | "default-server") => {
            if let Some(opt) = w.get(1) {
                d.warn(
                    loc,
                    format!("'{kw} {opt}...' in peers section '{}' is ignored: {PLAIN_TCP}", p.name),
                );
            }
        }
        "disabled" => p.disabled = true,
        "enabled" => p.disabled = false,
        "log" => d.warn(
            loc,
            format!(
                "'log' in peers section '{}' is ignored: corelb logs peer events to its own log, not to the section's",
                p.name
            ),
        ),
        "table" => {
            let Some(name) = w.get(1) else {
                d.error(loc, "table: missing table name.");
                return;
            };
            if w[2..].iter().any(|a| a == "peers") {
                d.error(loc, "table: unknown argument 'peers'.");
                return;
            }
            if !w[2..].iter().any(|a| a == "size") {
                d.error(loc, "table: missing size.");
                return;
            }
            match super::stick::parse_table(&w[2..]) {
                Ok(mut t) => {
                    if p.tables.iter().any(|(n, _, _)| n == name) {
                        d.error(
                            loc,
                            format!("table '{name}' is already declared in peers section '{}'", p.name),
                        );
                        return;
                    }
                    t.peers = Some(p.name.clone());
                    p.tables.push((name.clone(), t, loc.clone()));
                }
                Err(e) => d.error(loc, e.replace("'stick-table'", "table")),
            }
        }
        kw => {
            let h = super::keywords::hint(kw, SECTION.iter().map(|k| k.name));
            d.error(loc, format!("unknown keyword '{kw}' in 'peers' section{h}"));
        }
    }
}

/// `IP:PORT` or `HOST:PORT`; `None` when there is no port.
fn peer_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    use std::net::ToSocketAddrs as _;
    let s = s
        .strip_prefix("ipv4@")
        .or(s.strip_prefix("ipv6@"))
        .or(s.strip_prefix("tcp@"))
        .unwrap_or(s);
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(Some(sa));
    }
    let Some((host, port)) = s.rsplit_once(':').filter(|(h, _)| !h.contains(':')) else {
        if s.parse::<std::net::IpAddr>().is_ok() {
            return Ok(None);
        }
        return Err("invalid address".into());
    };
    let port: u16 = port.parse().map_err(|_| format!("invalid port '{port}'"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|_| format!("invalid address: '{host}'"))?
        .collect();
    Ok(addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied())
}

static CLI_LOCALPEER: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `-L NAME` of the command line, which wins over `localpeer` (set once, at start).
pub fn set_cli_localpeer(name: &str) {
    let _ = CLI_LOCALPEER.set(name.to_string());
}

pub fn cli_localpeer() -> Option<&'static str> {
    CLI_LOCALPEER.get().map(String::as_str)
}

/// The local peer's name: `-L`, else `localpeer` in global, else the host name.
pub fn local_name(cfg: &Config) -> String {
    cli_localpeer()
        .map(str::to_string)
        .or_else(|| cfg.global.localpeer.clone())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_default()
}

/// After parsing: finds each section's local peer (a section without one is unusable, with
/// HAProxy's warning), and checks that every `stick-table ... peers P` names a section.
pub fn resolve(cfg: &mut Config, d: &mut Diags) {
    let me = local_name(cfg);
    cfg.localpeer = me.clone();
    for s in &mut cfg.peers {
        s.local = s.peers.iter().position(|p| p.name == me);
        match s.local {
            None => {
                if !s.peers.is_empty() {
                    d.warn(
                        &s.loc,
                        format!(
                            "Removing incomplete section 'peers {}' (no peer named '{me}').",
                            s.name
                        ),
                    );
                }
            }
            Some(i) => {
                let p = &s.peers[i];
                if p.addr.is_none() && s.bind.is_none() {
                    let e = if p.text.is_empty() {
                        format!(
                            "peers section '{}': the local peer '{me}' has no address and there is no 'bind' line",
                            s.name
                        )
                    } else {
                        format!("'peer {me}' : missing port specification in '{}'", p.text)
                    };
                    d.error(&p.loc, e);
                }
            }
        }
        if s.disabled {
            s.local = None;
        }
    }
    for px in &cfg.proxies {
        let Some(t) = &px.stick_table else { continue };
        let Some(name) = &t.peers else { continue };
        if !cfg.peers.iter().any(|s| &s.name == name) {
            d.error(
                &px.loc,
                format!("Proxy '{}': unable to find sync peers '{name}'.", px.name),
            );
        }
    }
}

/// Every table of the configuration after the proxies' own: `(name, cfg)` in the order of
/// [`crate::stick::Tables`] (index `proxies.len() + k` for the k-th table of the sections).
pub fn section_tables(cfg: &Config) -> impl Iterator<Item = (String, &StickTableCfg)> {
    cfg.peers.iter().flat_map(|s| {
        s.tables
            .iter()
            .map(move |(n, t, _)| (format!("{}/{n}", s.name), t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_addresses() {
        assert_eq!(
            peer_addr("127.0.0.1:1024").unwrap(),
            Some("127.0.0.1:1024".parse().unwrap())
        );
        assert_eq!(peer_addr("127.0.0.1").unwrap(), None);
        assert_eq!(
            peer_addr(":1024").unwrap(),
            Some("0.0.0.0:1024".parse().unwrap())
        );
        assert!(peer_addr("127.0.0.1:x").is_err());
    }
}
