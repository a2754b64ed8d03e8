//! `resolvers` sections and the server keywords that use them (`resolvers`,
//! `resolve-prefer`, `resolve-net`, `resolve-opts`, `init-addr`), with HAProxy's defaults
//! (configuration manual 5.3). Pure: reading `/etc/resolv.conf` for `parse-resolv-conf` and
//! the `libc` step of `init-addr` (getaddrinfo, once at load) are the only I/O.

use super::addr;
use super::diag::{Diags, Loc};
use super::keywords::{Kw, Status::*};
use super::model::{Config, IpNet};
use super::units::{parse_size, parse_time, parse_uint};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The keywords of a `resolvers` section (for `--list-keywords` and "did you mean").
pub static SECTION: &[Kw] = &[
    Kw {
        name: "nameserver",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "parse-resolv-conf",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "resolve_retries",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "timeout",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "hold",
        status: Supported(()),
        sections: 0,
    },
    Kw {
        name: "accepted_payload_size",
        status: Supported(()),
        sections: 0,
    },
];

/// A `resolvers NAME` section.
#[derive(Clone, Debug)]
pub struct Resolvers {
    pub name: String,
    pub nameservers: Vec<Nameserver>,
    /// Queries sent for one resolution before it counts as timed out (default 3).
    pub resolve_retries: u32,
    /// `timeout resolve`: the pace at which due resolutions are looked at (default 1s).
    pub timeout_resolve: Duration,
    /// `timeout retry`: how long a query waits for its answer (default 1s).
    pub timeout_retry: Duration,
    pub hold: Hold,
    /// EDNS0 payload size announced in queries (default 512: no EDNS0 record).
    pub accepted_payload_size: u16,
    pub loc: Loc,
}

/// `nameserver ID [udp@|tcp@]ADDR[:PORT]` (port 53 by default).
#[derive(Clone, Debug)]
pub struct Nameserver {
    pub id: String,
    pub addr: SocketAddr,
    /// `tcp@`: DNS over TCP (each message after a 2-byte length), on a connection kept open.
    pub tcp: bool,
}

/// `hold STATUS PERIOD`: how long the last good answer stays in force after each kind of
/// failure, and (`valid`) how often a good answer is asked again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hold {
    pub valid: Duration,
    pub nx: Duration,
    pub other: Duration,
    pub refused: Duration,
    pub timeout: Duration,
    pub obsolete: Duration,
}

impl Default for Hold {
    fn default() -> Self {
        let s = Duration::from_secs;
        Hold {
            valid: s(10),
            nx: s(30),
            other: s(30),
            refused: s(30),
            timeout: s(30),
            obsolete: s(0),
        }
    }
}

impl Resolvers {
    pub fn new(name: &str, loc: Loc) -> Resolvers {
        Resolvers {
            name: name.to_string(),
            nameservers: Vec::new(),
            resolve_retries: 3,
            timeout_resolve: Duration::from_secs(1),
            timeout_retry: Duration::from_secs(1),
            hold: Hold::default(),
            accepted_payload_size: 512,
            loc,
        }
    }
}

/// `resolve-prefer`: the family asked first (HAProxy's default is ipv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Family {
    #[default]
    Ipv6,
    Ipv4,
}

/// One step of `init-addr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitAddr {
    /// The address saved in the server state file.
    Last,
    /// getaddrinfo at start.
    Libc,
    /// Start without an address, in maintenance until a `resolvers` answer gives one.
    None,
    Ip(IpAddr),
}

/// A server's DNS settings (also `default-server`'s).
#[derive(Clone, Debug, Default)]
pub struct ServerDns {
    /// `resolvers NAME`, and the section's index once the file is read.
    pub resolvers: Option<String>,
    pub resolvers_index: Option<usize>,
    pub prefer: Family,
    /// `resolve-net`: addresses in these networks are preferred, in this order.
    pub nets: Vec<IpNet>,
    /// `resolve-opts allow-dup-ip|ignore-weight|prevent-dup-ip`: by default two servers
    /// of a backend that follow the same name never take the same address.
    pub allow_dup_ip: bool,
    pub ignore_weight: bool,
    /// Empty: HAProxy's default `last,libc`.
    pub init_addr: Vec<InitAddr>,
}

impl ServerDns {
    pub fn init_steps(&self) -> Vec<InitAddr> {
        if self.init_addr.is_empty() {
            // HAProxy (2.6 too) adds `none` when a `resolvers` section follows the name,
            // so such a server starts in resolution maintenance rather than failing.
            let mut steps = vec![InitAddr::Last, InitAddr::Libc];
            if self.resolvers.is_some() {
                steps.push(InitAddr::None);
            }
            steps
        } else {
            self.init_addr.clone()
        }
    }

    /// Of the addresses of an answer, the one to use: the current one while it is still
    /// there (a server does not move when a name has several), else the first in the
    /// `resolve-net` networks, else the first.
    pub fn pick(&self, current: Option<IpAddr>, ips: &[IpAddr]) -> Option<IpAddr> {
        if let Some(c) = current.filter(|c| ips.contains(c)) {
            return Some(c);
        }
        self.nets
            .iter()
            .find_map(|n| ips.iter().copied().find(|ip| n.contains(*ip)))
            .or_else(|| ips.first().copied())
    }

    /// Spreads the addresses of one answer over the servers that follow the name
    /// (`currents`: their addresses now), as HAProxy does without `allow-dup-ip`: a server
    /// keeps its address while the answer still has it, the others take the addresses
    /// nobody holds, and a server left without one gets `None` (maintenance).
    pub fn spread(&self, currents: &[Option<IpAddr>], ips: &[IpAddr]) -> Vec<Option<IpAddr>> {
        if self.allow_dup_ip {
            return currents.iter().map(|c| self.pick(*c, ips)).collect();
        }
        let mut out: Vec<Option<IpAddr>> = vec![None; currents.len()];
        let mut free: Vec<IpAddr> = Vec::new();
        for ip in ips {
            if !free.contains(ip) {
                free.push(*ip);
            }
        }
        for (i, c) in currents.iter().enumerate() {
            if let Some(pos) = c.and_then(|c| free.iter().position(|f| *f == c)) {
                out[i] = Some(free.remove(pos));
            }
        }
        for slot in out.iter_mut().filter(|o| o.is_none()) {
            if let Some(ip) = self.pick(None, &free) {
                free.retain(|f| *f != ip);
                *slot = Some(ip);
            }
        }
        out
    }
}

/// A line inside a `resolvers` section.
pub fn section_kw(r: &mut Resolvers, w: &[String], loc: &Loc, d: &mut Diags) {
    let kw = w[0].as_str();
    let arg = |i: usize| w.get(i).map(String::as_str);
    let time = |d: &mut Diags, v: Option<&str>, what: &str| -> Option<Duration> {
        match v.map(|v| parse_time(v, Duration::from_millis(1))) {
            Some(Ok(t)) => Some(t),
            Some(Err(e)) => {
                d.error(loc, format!("'{what}': {e}"));
                None
            }
            None => {
                d.error(loc, format!("'{what}' expects a time"));
                None
            }
        }
    };
    match kw {
        "nameserver" => {
            let (Some(id), Some(a)) = (arg(1), arg(2)) else {
                d.error(loc, "'nameserver' expects <id> and <addr>[:port]");
                return;
            };
            if r.nameservers.iter().any(|n| n.id == id) {
                d.error(
                    loc,
                    format!(
                        "resolvers '{}': nameserver '{id}' is declared twice",
                        r.name
                    ),
                );
                return;
            }
            match nameserver_addr(a) {
                Ok((addr, tcp)) => r.nameservers.push(Nameserver {
                    id: id.to_string(),
                    addr,
                    tcp,
                }),
                Err(e) => d.error(loc, format!("'nameserver {id}': {e}")),
            }
        }
        "parse-resolv-conf" => match std::fs::read_to_string("/etc/resolv.conf") {
            Ok(text) => {
                for (n, ip) in resolv_conf(&text).into_iter().enumerate() {
                    r.nameservers.push(Nameserver {
                        id: format!("resolv.conf-{}", n + 1),
                        addr: SocketAddr::new(ip, 53),
                        tcp: false,
                    });
                }
            }
            Err(e) => d.warn(
                loc,
                format!("'parse-resolv-conf': cannot read /etc/resolv.conf: {e}"),
            ),
        },
        "resolve_retries" => match arg(1).map(|v| parse_uint(v, 1, 1000)) {
            Some(Ok(v)) => r.resolve_retries = v as u32,
            Some(Err(e)) => d.error(loc, format!("'resolve_retries' {e}")),
            None => d.error(loc, "'resolve_retries' expects a number"),
        },
        "timeout" => match arg(1) {
            Some("resolve") => {
                if let Some(t) = time(d, arg(2), "timeout resolve") {
                    r.timeout_resolve = t;
                }
            }
            Some("retry") => {
                if let Some(t) = time(d, arg(2), "timeout retry") {
                    r.timeout_retry = t;
                }
            }
            other => d.error(
                loc,
                format!(
                    "'timeout {}' in a resolvers section: expects 'resolve' or 'retry'",
                    other.unwrap_or("")
                ),
            ),
        },
        "hold" => {
            let h = &mut r.hold;
            let slot = match arg(1) {
                Some("valid") => &mut h.valid,
                Some("nx") => &mut h.nx,
                Some("other") => &mut h.other,
                Some("refused") => &mut h.refused,
                Some("timeout") => &mut h.timeout,
                Some("obsolete") => &mut h.obsolete,
                other => {
                    d.error(loc, format!("'hold {}': expects 'nx', 'other', 'refused', 'timeout', 'valid' or 'obsolete'", other.unwrap_or("")));
                    return;
                }
            };
            if let Some(t) = time(d, arg(2), "hold") {
                *slot = t;
            }
        }
        "accepted_payload_size" => match arg(1).map(parse_size) {
            Some(Ok(v)) if (512..=65535).contains(&v) => r.accepted_payload_size = v as u16,
            Some(Ok(v)) => d.error(
                loc,
                format!("'accepted_payload_size' must be between 512 and 65535 (got {v})"),
            ),
            Some(Err(e)) => d.error(loc, format!("'accepted_payload_size': {e}")),
            None => d.error(loc, "'accepted_payload_size' expects a number"),
        },
        _ => {
            let h = super::keywords::hint(kw, SECTION.iter().map(|k| k.name));
            d.error(
                loc,
                format!("unknown keyword '{kw}' in 'resolvers' section{h}"),
            );
        }
    }
}

/// The address of a nameserver, and whether it is a TCP one.
fn nameserver_addr(a: &str) -> Result<(SocketAddr, bool), String> {
    let (a, tcp) = match a.split_once('@') {
        None => (a, false),
        Some(("udp" | "udp4" | "udp6", rest)) => (rest, false),
        Some(("tcp" | "tcp4" | "tcp6", rest)) => (rest, true),
        Some((proto, _)) => {
            return Err(format!(
                "address '{a}': unsupported protocol '{proto}@' for a nameserver (udp@ or tcp@)"
            ));
        }
    };
    Ok((nameserver_ip(a)?, tcp))
}

fn nameserver_ip(a: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = a.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    let spec = addr::parse_server(a)?;
    let ip = spec
        .host
        .parse::<IpAddr>()
        .map_err(|_| format!("invalid nameserver address '{a}' (an IP address expected)"))?;
    Ok(SocketAddr::new(ip, spec.port.unwrap_or(53)))
}

/// The `nameserver` addresses of resolv.conf text.
fn resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver"))
                .then(|| w.next().and_then(|a| a.split('%').next()?.parse().ok()))
                .flatten()
        })
        .collect()
}

/// A DNS server keyword of a `server` / `default-server` line; false when `k` is not one.
pub fn server_kw(
    p: &mut ServerDns,
    what: &str,
    k: &str,
    val: &str,
    loc: &Loc,
    d: &mut Diags,
) -> bool {
    match k {
        "resolvers" => p.resolvers = Some(val.to_string()),
        "resolve-prefer" => match val {
            "ipv4" => p.prefer = Family::Ipv4,
            "ipv6" => p.prefer = Family::Ipv6,
            _ => d.error(
                loc,
                format!("'{what}': 'resolve-prefer' expects 'ipv4' or 'ipv6', got '{val}'"),
            ),
        },
        "resolve-net" => {
            p.nets.clear();
            for n in val.split(',') {
                match IpNet::parse(n) {
                    Ok(net) => p.nets.push(net),
                    Err(e) => d.error(loc, format!("'{what}': 'resolve-net': {e}")),
                }
            }
        }
        "resolve-opts" => {
            for o in val.split(',') {
                match o {
                    "allow-dup-ip" => p.allow_dup_ip = true,
                    "prevent-dup-ip" => p.allow_dup_ip = false,
                    "ignore-weight" => p.ignore_weight = true,
                    _ => d.error(loc, format!("'{what}': 'resolve-opts': unknown option '{o}' (allow-dup-ip, ignore-weight or prevent-dup-ip)")),
                }
            }
        }
        "init-addr" => {
            p.init_addr.clear();
            for m in val.split(',') {
                let step = match m {
                    "last" => InitAddr::Last,
                    "libc" => InitAddr::Libc,
                    "none" => InitAddr::None,
                    ip => match ip.parse() {
                        Ok(ip) => InitAddr::Ip(ip),
                        Err(_) => {
                            d.error(loc, format!("'{what}': 'init-addr': unknown method '{m}' (last, libc, none or an IP address)"));
                            continue;
                        }
                    },
                };
                if p.init_addr.contains(&step) {
                    d.error(loc, format!("'{what}': 'init-addr': '{m}' is given twice"));
                }
                p.init_addr.push(step);
            }
        }
        _ => return false,
    }
    true
}

/// `server-template PREFIX NUM|FIRST-LAST FQDN[:PORT] …`: the names of the servers it
/// declares (PREFIX1 … PREFIXNUM, or PREFIXFIRST … PREFIXLAST).
pub fn template_names(w: &[String]) -> Result<Vec<String>, String> {
    const USAGE: &str = "'server-template' expects <prefix> <num | range> <fqdn>[:<port>]";
    let (Some(prefix), Some(n), Some(_)) = (w.get(1), w.get(2), w.get(3)) else {
        return Err(USAGE.into());
    };
    let num = |v: &str| v.parse::<u32>().ok().filter(|v| *v > 0);
    let (first, last) = match n.split_once('-') {
        Some((a, b)) => (num(a), num(b)),
        None => (Some(1), num(n)),
    };
    match (first, last) {
        (Some(a), Some(b)) if a <= b && b - a < 65536 => {
            Ok((a..=b).map(|i| format!("{prefix}{i}")).collect())
        }
        _ => Err(format!(
            "'server-template {prefix}': invalid number or range '{n}' (N or FIRST-LAST, from 1)"
        )),
    }
}

/// `http-request do-resolve(VAR,RESOLVERS[,ipv4|ipv6]) EXPR`: the address of the name the
/// expression gives, into VAR (left unset when it does not resolve).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoResolve {
    pub var: crate::acl::VarRef,
    pub resolvers: String,
    /// The section's index, once the file is read.
    pub section: usize,
    /// The family asked first (HAProxy's default: ipv6, then the other).
    pub prefer: Family,
    pub expr: crate::acl::FetchExpr,
}

impl DoResolve {
    /// `action` is `do-resolve(…)`, `args` the words after it up to `if`/`unless`.
    pub fn parse(action: &str, args: &[String], proxy: &str) -> Result<DoResolve, String> {
        let inner = action
            .strip_prefix("do-resolve(")
            .and_then(|a| a.strip_suffix(')'))
            .ok_or("'do-resolve' expects '(<var>,<resolvers>[,ipv4|ipv6])'")?;
        let parts: Vec<&str> = inner.split(',').collect();
        let (var, resolvers, prefer) = match parts[..] {
            [v, r] => (v, r, Family::Ipv6),
            [v, r, "ipv4"] => (v, r, Family::Ipv4),
            [v, r, "ipv6"] => (v, r, Family::Ipv6),
            [_, _, f] => return Err(format!("'do-resolve': unknown family '{f}' (ipv4 or ipv6)")),
            _ => return Err("'do-resolve' expects '(<var>,<resolvers>[,ipv4|ipv6])'".into()),
        };
        if resolvers.is_empty() {
            return Err("'do-resolve': a resolvers section name is expected".into());
        }
        let var = crate::acl::VarRef::parse(var)?;
        let e = match args {
            [e] => e,
            [] => return Err("'do-resolve' expects a sample expression".into()),
            [_, extra, ..] => {
                return Err(format!(
                    "'do-resolve': unexpected argument '{extra}' (expected 'if' or 'unless')"
                ));
            }
        };
        let expr = crate::acl::FetchExpr::parse(e, proxy)
            .map_err(|err| format!("failed to parse sample expression <{e}> : {err}"))?;
        Ok(DoResolve {
            var,
            resolvers: resolvers.to_string(),
            section: 0,
            prefer,
            expr,
        })
    }
}

/// `_service._proto.name`: a name asked for SRV records, as HAProxy tells them apart.
pub fn is_srv_name(host: &str) -> bool {
    host.starts_with('_')
}

/// After parsing: links servers to their `resolvers` sections and gives each server its
/// address at start by its `init-addr` steps. A name that no step resolves is an error at
/// the server's line, as in HAProxy.
pub fn validate(cfg: &mut Config, d: &mut Diags) {
    for r in &cfg.resolvers {
        if r.nameservers.is_empty() {
            d.error(&r.loc, format!("resolvers '{}' has no nameserver ('nameserver ID ADDR[:PORT]' or 'parse-resolv-conf')", r.name));
        }
    }
    let has_state_file = cfg.global.cli.state_file.is_some();
    let names: Vec<String> = cfg.resolvers.iter().map(|r| r.name.clone()).collect();
    for px in &mut cfg.proxies {
        let http = px
            .http_request
            .iter_mut()
            .filter_map(|rule| match &mut rule.action {
                super::model::HttpAction::DoResolve(r) => Some(("http-request", r, &rule.loc)),
                _ => None,
            });
        let tcp = px
            .tcp_request
            .content
            .iter_mut()
            .filter_map(|rule| match &mut rule.action {
                super::model::TcpAction::DoResolve(r) => {
                    Some(("tcp-request content", r, &rule.loc))
                }
                _ => None,
            });
        for (rules, r, loc) in http.chain(tcp) {
            match names.iter().position(|n| *n == r.resolvers) {
                Some(i) => r.section = i,
                None => {
                    let h = super::keywords::hint(&r.resolvers, names.iter().map(String::as_str));
                    d.error(
                        loc,
                        format!(
                            "'{rules} do-resolve' in proxy '{}': can't find resolvers section '{}'{h}",
                            px.name, r.resolvers
                        ),
                    );
                }
            }
        }
    }
    for px in cfg.proxies.iter_mut().filter(|p| p.kind.is_backend()) {
        let pname = px.name.clone();
        let state_file = has_state_file || px.state_file_name.is_some();
        for s in &mut px.servers {
            let dns = &mut s.params.dns;
            if let Some(r) = &dns.resolvers {
                match names.iter().position(|n| n == r) {
                    Some(i) => dns.resolvers_index = Some(i),
                    None => {
                        let h = super::keywords::hint(r, names.iter().map(String::as_str));
                        d.error(
                            &s.loc,
                            format!(
                                "'server {pname}/{}': unable to find required resolvers '{r}'{h}",
                                s.name
                            ),
                        );
                    }
                }
            }
            if s.addr.path.is_some() {
                continue;
            }
            if let Ok(ip) = s.addr.text.parse::<IpAddr>() {
                s.addr.ip = ip;
                continue;
            }
            let mut found = false;
            // Whether a step was tried and failed (HAProxy's words differ with it).
            let mut failed = false;
            for step in dns.init_steps() {
                match step {
                    // The state file is read when the generation starts and sets the
                    // address then (runtime::cli::state_file); until it does, the server
                    // waits in resolution maintenance.
                    InitAddr::Last => {}
                    // An SRV name has no address of its own (HAProxy skips libc for it).
                    InitAddr::Libc if is_srv_name(&s.addr.text) => {}
                    InitAddr::Libc => {
                        // getaddrinfo's answer, IPv4 first (as HAProxy's str2ip2 reads it).
                        match addr::resolve(&s.addr.text) {
                            Ok(ip) => {
                                s.addr.ip = ip;
                                found = true;
                            }
                            Err(_) => failed = true,
                        }
                    }
                    InitAddr::None => {
                        s.addr.unresolved = true;
                        found = true;
                        if failed {
                            d.warn(
                                &s.loc,
                                format!(
                                    "'server {pname}/{}': could not resolve address '{}', disabling server",
                                    s.name, s.addr.text
                                ),
                            );
                        }
                    }
                    InitAddr::Ip(ip) => {
                        s.addr.ip = ip;
                        found = true;
                    }
                }
                if found {
                    break;
                }
            }
            if !found && state_file && dns.init_steps().contains(&InitAddr::Last) {
                s.addr.unresolved = true;
                found = true;
            }
            if !found {
                let what = if failed {
                    "could not resolve address"
                } else {
                    "no method found to resolve address"
                };
                d.error(
                    &s.loc,
                    format!("'server {pname}/{}': {what} '{}'", s.name, s.addr.text),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc() -> Loc {
        Loc::new(&"t".into(), 1)
    }

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn section_defaults_and_keywords() {
        let mut r = Resolvers::new("dns", loc());
        assert_eq!(r.hold.valid, Duration::from_secs(10));
        assert_eq!(r.hold.nx, Duration::from_secs(30));
        assert_eq!(r.resolve_retries, 3);
        let mut d = Diags::default();
        for l in [
            "nameserver ns1 127.0.0.1:5353",
            "nameserver ns2 10.0.0.2",
            "nameserver ns3 tcp@127.0.0.1:5353",
            "resolve_retries 5",
            "timeout retry 200ms",
            "timeout resolve 2s",
            "hold valid 1s",
            "hold obsolete 5s",
            "accepted_payload_size 8192",
        ] {
            section_kw(&mut r, &words(l), &loc(), &mut d);
        }
        assert_eq!(d.errors(), 0, "{:?}", d.list);
        assert_eq!(r.nameservers[0].addr, "127.0.0.1:5353".parse().unwrap());
        assert_eq!(r.nameservers[1].addr, "10.0.0.2:53".parse().unwrap());
        assert!(!r.nameservers[1].tcp && r.nameservers[2].tcp);
        assert_eq!(r.resolve_retries, 5);
        assert_eq!(r.timeout_retry, Duration::from_millis(200));
        assert_eq!(r.hold.valid, Duration::from_secs(1));
        assert_eq!(r.hold.obsolete, Duration::from_secs(5));
        assert_eq!(r.accepted_payload_size, 8192);
        for bad in [
            "hold forever 1s",
            "accepted_payload_size 100",
            "nameserver ns1 1.2.3.4",
            "timeout connect 1s",
            "nameservr x 1.1.1.1",
            "nameserver ns9 quic@1.2.3.4",
        ] {
            let mut d = Diags::default();
            section_kw(&mut r, &words(bad), &loc(), &mut d);
            assert_eq!(d.errors(), 1, "{bad}");
        }
    }

    #[test]
    fn template_ranges() {
        let names = |l: &str| template_names(&words(l));
        assert_eq!(
            names("server-template web 3 app:80").unwrap(),
            ["web1", "web2", "web3"]
        );
        assert_eq!(names("server-template w 5-6 app").unwrap(), ["w5", "w6"]);
        for bad in [
            "server-template w 0 app",
            "server-template w 3-1 app",
            "server-template w x app",
            "server-template w 3",
        ] {
            assert!(names(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolv_conf_lines() {
        assert_eq!(
            resolv_conf("# c\nsearch x\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\n"),
            vec![
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "fe80::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn server_keywords() {
        let mut p = ServerDns::default();
        let mut d = Diags::default();
        assert_eq!(p.init_steps(), vec![InitAddr::Last, InitAddr::Libc]);
        for (k, v) in [
            ("init-addr", "last,none,10.0.0.1"),
            ("resolve-prefer", "ipv4"),
            ("resolve-net", "10.0.0.0/8,192.168.0.0/16"),
        ] {
            assert!(server_kw(&mut p, "server s", k, v, &loc(), &mut d));
        }
        assert!(!server_kw(
            &mut p,
            "server s",
            "weight",
            "1",
            &loc(),
            &mut d
        ));
        assert_eq!(d.errors(), 0);
        assert_eq!(
            p.init_addr,
            vec![
                InitAddr::Last,
                InitAddr::None,
                InitAddr::Ip("10.0.0.1".parse().unwrap())
            ]
        );
        assert_eq!(p.prefer, Family::Ipv4);
        server_kw(
            &mut p,
            "server s",
            "init-addr",
            "libc,bogus",
            &loc(),
            &mut d,
        );
        assert_eq!(d.errors(), 1);
    }

    #[test]
    fn picks_the_current_then_the_preferred_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut p = ServerDns::default();
        let ips = [ip("172.16.0.1"), ip("10.1.1.1"), ip("192.168.1.1")];
        assert_eq!(p.pick(None, &ips), Some(ip("172.16.0.1")));
        assert_eq!(
            p.pick(Some(ip("192.168.1.1")), &ips),
            Some(ip("192.168.1.1"))
        );
        p.nets = vec![IpNet::parse("10.0.0.0/8").unwrap()];
        assert_eq!(p.pick(Some(ip("10.9.9.9")), &ips), Some(ip("10.1.1.1")));
        assert_eq!(p.pick(None, &[]), None);
    }

    #[test]
    fn spreads_records_over_servers() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let ips: Vec<IpAddr> = ["10.0.0.1", "10.0.0.2"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut p = ServerDns::default();
        // Three slots, two records: the third waits in maintenance.
        assert_eq!(
            p.spread(&[None, None, None], &ips),
            vec![ip("10.0.0.1"), ip("10.0.0.2"), None]
        );
        // A server keeps an address still in the answer; the others share what is left.
        assert_eq!(
            p.spread(&[None, ip("10.0.0.1"), ip("10.0.0.9")], &ips),
            vec![ip("10.0.0.2"), ip("10.0.0.1"), None]
        );
        p.allow_dup_ip = true;
        assert_eq!(
            p.spread(&[None, None], &ips),
            vec![ip("10.0.0.1"), ip("10.0.0.1")]
        );
    }
}
