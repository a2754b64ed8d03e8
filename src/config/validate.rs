//! Checks that span sections, after every line was read: references between proxies,
//! addresses, timeouts, users. Errors point at the line that made the reference.

use super::addr;
use super::diag::{Diags, Loc};
use super::keywords;
use super::model::*;

pub fn validate(cfg: &mut Config, d: &mut Diags) {
    resolve_backend_refs(cfg, d);
    resolve_fetch_backends(cfg, d);
    super::resolvers::validate(cfg, d);
    super::stick::resolve(cfg, d);
    dispatch(cfg, d);
    resolve_servers(cfg, d);
    dynamic_cookies(cfg);
    super::server_links::resolve(cfg, d);
    super::filters::check_caches(&mut cfg.caches, &cfg.proxies, d);
    for px in &mut cfg.proxies {
        super::uri_rules::check_use_servers(px, d);
        super::filters::check_proxy(px, d);
        px.waits_for_body =
            (px.http_response.iter()).any(|r| matches!(r.action, HttpAction::WaitForBody { .. }));
        px.waits_for_req_body =
            (px.http_request.iter()).any(|r| matches!(r.action, HttpAction::WaitForBody { .. }));
    }
    check_binds(cfg, d);
    build_tls(cfg, d);
    check_timeouts(cfg, d);
    check_global(cfg, d);
    external_checks(cfg, d);
    connect_tls(cfg, d);
}

/// `http-check connect ssl`: each server's TLS client configuration for it, from the
/// server's own TLS settings (HAProxy prepares the server's SSL context when a connect rule
/// asks for it, even without `ssl` or `check-ssl`).
fn connect_tls(cfg: &mut Config, d: &mut Diags) {
    let g = cfg.global.tls.clone();
    for px in &mut cfg.proxies {
        let Some(c) = px.http_check.connect.clone().filter(|c| c.ssl) else {
            continue;
        };
        if px.check != CheckKind::Http {
            continue;
        }
        for s in &mut px.servers {
            let base = s.params.tls.as_deref().cloned().unwrap_or_default();
            match base.build_for_connect(&g, c.alpn.as_ref(), c.default) {
                Ok(t) => s.params.check.connect_tls = Some(t),
                Err(e) => d.error(
                    &s.loc,
                    format!(
                        "server '{}/{}': TLS of 'http-check connect ssl': {e}",
                        px.name, s.name
                    ),
                ),
            }
        }
    }
}

/// `option external-check` needs the global `external-check` and a command: HAProxy 2.6's
/// errors, at the line of the option.
fn external_checks(cfg: &Config, d: &mut Diags) {
    for px in cfg
        .proxies
        .iter()
        .filter(|p| p.check == CheckKind::External)
    {
        let loc = px.external_check.loc.as_ref().unwrap_or(&px.loc);
        let mut missing = |what: &str| {
            d.error(
                loc,
                format!(
                    "Proxy '{}' : 'option external-check' unable to find required '{what}'.",
                    px.name
                ),
            )
        };
        if !cfg.global.external_check {
            missing("global.external-check");
        }
        if px.external_check.command.is_none() {
            missing("external-check command");
        }
    }
}

fn resolve_backend_refs(cfg: &mut Config, d: &mut Diags) {
    let backends: Vec<(String, Mode)> = cfg
        .proxies
        .iter()
        .map(|p| (p.name.clone(), p.mode))
        .collect();
    let kinds: Vec<Kind> = cfg.proxies.iter().map(|p| p.kind).collect();
    for i in 0..cfg.proxies.len() {
        let px = &mut cfg.proxies[i];
        let fe_name = px.name.clone();
        let fe_mode = px.mode;
        let refs = px
            .default_backend
            .iter_mut()
            .chain(px.use_backends.iter_mut());
        for r in refs.filter(|r| r.dynamic.is_none()) {
            let found = backends
                .iter()
                .enumerate()
                .position(|(j, (n, _))| *n == r.name && kinds[j].is_backend());
            match found {
                Some(j) => {
                    r.index = j;
                    if fe_mode == Mode::Http && backends[j].1 == Mode::Tcp {
                        d.error(
                            &r.loc,
                            format!(
                                "frontend '{fe_name}' is in mode http but backend '{}' is in mode tcp",
                                r.name
                            ),
                        );
                    }
                }
                None => {
                    let names = backends
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| kinds[*j].is_backend())
                        .map(|(_, (n, _))| n.as_str());
                    let h = keywords::hint(&r.name, names);
                    d.error(
                        &r.loc,
                        format!(
                            "backend '{}' not found (used by frontend '{fe_name}'){h}",
                            r.name
                        ),
                    );
                }
            }
        }
        // A frontend that only serves the stats page or the exporter needs no backend.
        let answers_itself = px.mode == Mode::Http
            && (px.stats.enabled
                || px
                    .http_request
                    .iter()
                    .any(|r| matches!(r.action, HttpAction::UsePrometheus)));
        if px.kind == Kind::Frontend
            && px.default_backend.is_none()
            && px.use_backends.is_empty()
            && !px.disabled
            && !answers_itself
        {
            d.warn(
                &px.loc,
                format!("frontend '{}' has no default_backend nor use_backend: its connections will be closed", px.name),
            );
        }
        if px.kind.is_frontend() && px.binds.is_empty() && !px.disabled {
            d.warn(
                &px.loc,
                format!(
                    "{} '{}' has no 'bind' directive{}",
                    px.kind.name(),
                    px.name,
                    if px.kind == Kind::Frontend {
                        ". Please declare it as a backend if this was intended"
                    } else {
                        ""
                    }
                ),
            );
        }
    }
}

/// `nbsrv(NAME)` in ACLs, conditions and log-format values: the backend's index.
fn resolve_fetch_backends(cfg: &mut Config, d: &mut Diags) {
    let names: Vec<(String, bool, bool)> = cfg
        .proxies
        .iter()
        .map(|p| (p.name.clone(), p.kind.is_backend(), p.stick_table.is_some()))
        .chain(super::peers::section_tables(cfg).map(|(n, _)| (n, false, true)))
        .collect();
    let frontends: Vec<(String, Vec<String>)> = cfg
        .proxies
        .iter()
        .map(|p| {
            let name = if p.kind.is_frontend() {
                &p.name[..]
            } else {
                ""
            };
            let servers = p.servers.iter().map(|s| s.name.clone()).collect();
            (name.to_string(), servers)
        })
        .collect();
    // Stick fetches name tables (their proxy) through the same resolver; the proxy and
    // server fetches frontends and `BACKEND/SERVER`.
    let lookup = |n: &str| {
        if let Some(t) = n.strip_prefix(crate::acl::TABLE_PREFIX) {
            return names.iter().position(|(name, _, st)| *st && name == t);
        }
        if let Some(f) = n.strip_prefix(crate::acl::FRONTEND_PREFIX) {
            return frontends
                .iter()
                .position(|(name, _)| !name.is_empty() && name == f);
        }
        if let Some(bs) = n.strip_prefix(crate::acl::SERVER_PREFIX) {
            let (b, srv) = bs.rsplit_once('/')?;
            let i = names.iter().position(|(name, be, _)| *be && name == b)?;
            return frontends[i].1.iter().position(|s| s == srv);
        }
        names.iter().position(|(name, be, _)| *be && name == n)
    };
    for px in &mut cfg.proxies {
        let at = px.loc.clone();
        if let Some(acls) = std::sync::Arc::get_mut(&mut px.acls) {
            let lines = &px.acl_lines;
            acls.resolve_backends_each(&lookup, &mut |name, e| {
                let l = lines
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(&at, |(_, l)| l);
                d.error(l, e);
            });
        }
        let mut conds: Vec<(&mut crate::acl::Cond, Loc)> = Vec::new();
        for r in &mut px.use_backends {
            let l = r.loc.clone();
            if let Some(c) = r.cond.as_mut() {
                conds.push((c, l));
            }
        }
        for r in &mut px.use_servers {
            let l = r.loc.clone();
            if let Some(c) = r.cond.as_mut() {
                conds.push((c, l));
            }
        }
        if let Some(c) = px.monitor_fail.as_mut() {
            conds.push((c, at.clone()));
        }
        let mut formats: Vec<(&mut crate::acl::LogFormat, Loc)> = Vec::new();
        for r in px
            .http_request
            .iter_mut()
            .chain(px.http_response.iter_mut())
            .chain(px.http_after_response.iter_mut())
            .chain(px.redirects.iter_mut())
        {
            let l = r.loc.clone();
            if let Some(c) = r.cond.as_mut() {
                conds.push((c, l.clone()));
            }
            match &mut r.action {
                HttpAction::SetHeader(_, f)
                | HttpAction::AddHeader(_, f)
                | HttpAction::SetPath(f)
                | HttpAction::SetQuery(f)
                | HttpAction::SetUri(f)
                | HttpAction::SetMethod(f)
                | HttpAction::SetPathQ(f)
                | HttpAction::ReplaceTarget(_, _, f) => formats.push((f, l)),
                HttpAction::Redirect(rd) => formats.push((&mut rd.target, l)),
                HttpAction::Return(rep)
                | HttpAction::Deny {
                    reply: Some(rep), ..
                }
                | HttpAction::Tarpit {
                    reply: Some(rep), ..
                } => {
                    if let ReplyBody::Text(f) = &mut rep.body {
                        formats.push((f, l.clone()));
                    }
                    for (_, f) in &mut rep.headers {
                        formats.push((f, l.clone()));
                    }
                }
                _ => {}
            }
        }
        // The access-log formats (`log-format`, `log-format-sd`, `error-log-format`,
        // `unique-id-format`), compiled already.
        let lg = &mut px.logging;
        let loc_of = |t: &Option<(String, Loc)>| t.as_ref().map_or(at.clone(), |(_, l)| l.clone());
        let (l_line, l_sd, l_err, l_uid) = (
            loc_of(&lg.format),
            loc_of(&lg.sd),
            loc_of(&lg.error_format),
            loc_of(&lg.unique_id),
        );
        for (f, l) in [
            (&mut lg.line, l_line),
            (&mut lg.sd_line, l_sd),
            (&mut lg.error_line, l_err),
            (&mut lg.unique_id_line, l_uid),
        ] {
            if let Some(f) = f {
                formats.push((f, l));
            }
        }
        for (c, l) in conds {
            if let Err(e) = c.resolve_backends(&lookup) {
                d.error(&l, e);
            }
        }
        for (f, l) in formats {
            if let Err(e) = f.resolve_backends(&lookup) {
                d.error(&l, e);
            }
        }
    }
}

/// `dispatch <addr>:<port>`, as HAProxy 2.6 uses it: without a `balance` line every
/// connection the balancing would place goes there (a cookie or `use-server` still names a
/// server), so it becomes a nameless server (`<NOSRV>` in the logs, in no statistics) that
/// the balancing alone knows; with `balance`, it is ignored with HAProxy's warning.
fn dispatch(cfg: &mut Config, d: &mut Diags) {
    for px in cfg.proxies.iter_mut().filter(|p| p.kind.is_backend()) {
        // `option transparent`, the same without a fixed address: a nameless server at
        // 0.0.0.0 with no port connects where the client's connection was going.
        if px.options.transparent {
            if px.balance.loc.is_some() {
                d.error(
                    &px.loc,
                    format!(
                        "backend '{}' cannot use both transparent and balance mode.",
                        px.name
                    ),
                );
                continue;
            }
            if px.dispatch.is_none() {
                px.dispatch_server = Some(px.servers.len());
                let loc = px.loc.clone();
                px.servers.push(nosrv("0.0.0.0".into(), None, loc));
                continue;
            }
        }
        let Some((text, loc)) = px.dispatch.clone() else {
            continue;
        };
        let spec = match addr::parse_server(&text) {
            Ok(s) if s.port.is_some_and(|p| p != 0) => s,
            Ok(_) => {
                d.error(&loc, format!("'dispatch' : missing port in '{text}'"));
                continue;
            }
            Err(e) => {
                d.error(&loc, format!("'dispatch' : {e}"));
                continue;
            }
        };
        if px.balance.loc.is_some() {
            d.warn(
                &loc,
                format!(
                    "dispatch address of backend '{}' will be ignored in balance mode.",
                    px.name
                ),
            );
            continue;
        }
        px.dispatch_server = Some(px.servers.len());
        px.servers.push(nosrv(spec.host, spec.port, loc));
    }
}

/// The nameless server of `dispatch` and `option transparent` (`<NOSRV>` in the logs).
fn nosrv(text: String, port: Option<u16>, loc: Loc) -> Server {
    Server {
        name: "<NOSRV>".into(),
        addr: ServerAddr {
            text,
            ip: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            port,
            unresolved: false,
            port_offset: 0,
            path: None,
        },
        params: ServerParams::default(),
        id: None,
        check_ip: None,
        tls_config: None,
        tls_sni: None,
        loc,
    }
}

/// `cookie … dynamic` with `dynamic-cookie-key`: each server without a `cookie` value, at
/// an IP address, gets the one HAProxy derives from the key, its address and its port.
fn dynamic_cookies(cfg: &mut Config) {
    for px in cfg.proxies.iter_mut().filter(|p| p.kind.is_backend()) {
        let (Some(c), Some(key)) = (&px.cookie, &px.dynamic_cookie_key) else {
            continue;
        };
        if !c.dynamic {
            continue;
        }
        for s in &mut px.servers {
            if s.params.cookie.is_none() && s.addr.path.is_none() && !s.addr.unresolved {
                let port = s.addr.port.unwrap_or(0);
                s.params.cookie = Some(super::dyncookie::value(key, s.addr.ip, port));
            }
        }
    }
}

fn resolve_servers(cfg: &mut Config, d: &mut Diags) {
    for px in cfg.proxies.iter_mut().filter(|p| p.kind.is_backend()) {
        if px.mode == Mode::Tcp
            && px.balance.algo == Algo::RequestHash
            && !matches!(
                px.balance.key,
                Some(HashKey::RdpCookie(_) | HashKey::Expr(_))
            )
        {
            d.warn(
                px.balance.loc.as_ref().unwrap_or(&px.loc),
                format!("backend '{}' is in mode tcp: 'balance uri/url_param/hdr' hash HTTP requests and fall back to round-robin here", px.name),
            );
        }
        if px.mode == Mode::Tcp
            && let Some(c) = &px.cookie
        {
            d.warn(
                &c.loc,
                format!("'cookie' is ignored in mode tcp (backend '{}')", px.name),
            );
        }
        if px.mode == Mode::Tcp && px.options.abortonclose {
            d.warn(
                &px.loc,
                format!(
                    "backend '{}': 'option abortonclose' works in mode http only in corelb: here a queued connection whose client closed still goes to its server",
                    px.name
                ),
            );
        }
        if px.check != CheckKind::Http && !px.http_check.expect.is_empty() {
            d.warn(
                &px.loc,
                format!(
                    "backend '{}': 'http-check' rules are ignored without 'option httpchk'",
                    px.name
                ),
            );
        }
        if px.check != CheckKind::Tcp && !px.tcp_check.is_empty() {
            d.warn(
                &px.loc,
                format!(
                    "backend '{}': 'tcp-check' rules are ignored without 'option tcp-check'",
                    px.name
                ),
            );
        }
        let mut ids: Vec<(u32, String)> = Vec::new();
        for s in &mut px.servers {
            if s.params.check.enabled
                && s.params.check.port.is_none()
                && s.addr.port.is_none()
                && s.addr.path.is_none()
            {
                d.error(
                    &s.loc,
                    format!(
                        "server '{}/{}' has no port, so its health checks need one: add 'port N'",
                        px.name, s.name
                    ),
                );
            }
            if s.params.check.send_proxy && !s.params.check.enabled {
                d.warn(
                    &s.loc,
                    format!(
                        "server '{}/{}': 'check-send-proxy' has no effect without 'check'",
                        px.name, s.name
                    ),
                );
            }
            // HAProxy 2.6: a check's protocol must suit the check (an HTTP check speaks h1
            // or h2, any other `none`); a fatal error once the server is checked.
            let http = px.check == CheckKind::Http;
            if let Some(p) = s.params.check.proto
                && s.params.check.enabled
                && (p == CheckProto::None) == http
            {
                d.error(
                    &s.loc,
                    format!(
                        "server '{}/{}': 'check-proto {}' does not suit its {} check",
                        px.name,
                        s.name,
                        match p {
                            CheckProto::H1 => "h1",
                            CheckProto::H2 => "h2",
                            CheckProto::None => "none",
                        },
                        if http { "HTTP" } else { "TCP" }
                    ),
                );
            }
            if let Some(a) = &s.params.check.addr {
                match addr::resolve(a) {
                    Ok(ip) => s.check_ip = Some(ip),
                    Err(e) => d.error(
                        &s.loc,
                        format!("server '{}/{}': check 'addr': {e}", px.name, s.name),
                    ),
                }
            }
            if let Some(id) = s.id {
                if let Some((_, other)) = ids.iter().find(|(i, _)| *i == id) {
                    d.error(
                        &s.loc,
                        format!(
                            "server '{}/{}' uses id {id}, already used by server '{other}'",
                            px.name, s.name
                        ),
                    );
                }
                ids.push((id, s.name.clone()));
            }
        }
    }
}

/// The rustls configurations of TLS listeners and servers, built once per line (a port
/// range shares one, and so its session tickets).
fn build_tls(cfg: &mut Config, d: &mut Diags) {
    use crate::config::model::ServerSni;
    use crate::tls::options::Sni;
    let g = cfg.global.tls.clone();
    type Built = (
        std::sync::Arc<rustls::ServerConfig>,
        std::sync::Arc<crate::tls::certs::CertStore>,
    );
    let mut built: Vec<(Loc, Built)> = Vec::new();
    for px in &mut cfg.proxies {
        for b in &mut px.binds {
            let Some(t) = &b.tls else { continue };
            if let Some((_, (c, store))) = built.iter().find(|(l, _)| *l == b.loc) {
                b.tls_config = Some(c.clone());
                b.tls_certs = Some(store.clone());
                continue;
            }
            if d.has_error_at(&b.loc) {
                continue;
            }
            if !t.ssl {
                d.error(
                    &b.loc,
                    format!("'bind {}': TLS parameters without 'ssl'", b.text),
                );
                continue;
            }
            match t.build_serving(&g) {
                Ok((c, store, ws)) => {
                    for w in ws {
                        d.warn(&b.loc, w);
                    }
                    built.push((b.loc.clone(), (c.clone(), store.clone())));
                    b.tls_config = Some(c);
                    b.tls_certs = Some(store);
                }
                Err(e) => d.error(&b.loc, format!("'bind {}': {e}", b.text)),
            }
        }
        for s in &mut px.servers {
            let Some(t) = &s.params.tls else {
                if s.params.check.sni.is_some() {
                    d.warn(&s.loc, format!("server '{}/{}': 'check-sni' has no effect without 'check-ssl' or 'ssl'", px.name, s.name));
                }
                continue;
            };
            if d.has_error_at(&s.loc) {
                continue;
            }
            if !t.enabled() {
                d.warn(&s.loc, format!("server '{}/{}': TLS parameters have no effect without 'ssl' or 'check-ssl'", px.name, s.name));
                continue;
            }
            match t.build(&g) {
                Ok((c, ws)) => {
                    for w in ws {
                        d.warn(&s.loc, format!("server '{}/{}': {w}", px.name, s.name));
                    }
                    s.tls_config = Some(c);
                    let sni = s.params.check.sni.as_deref();
                    match t.build_for_checks(&g, sni) {
                        Ok(c) => s.params.check.tls = c,
                        Err(e) => d.error(
                            &s.loc,
                            format!(
                                "server '{}/{}': TLS of checks{}: {e}",
                                px.name,
                                s.name,
                                sni.map(|n| format!(" ('check-sni {n}')"))
                                    .unwrap_or_default()
                            ),
                        ),
                    }
                    s.tls_sni = match &t.sni {
                        None => None,
                        Some(Sni::Fixed(n)) => Some(ServerSni::Fixed(n.clone())),
                        Some(Sni::Expr(e)) => {
                            let mut ctx = crate::acl::ParseCtx::new(&px.name);
                            match crate::acl::LogFormat::parse(&format!("%[{e}]"), &mut ctx) {
                                Ok(f) => Some(ServerSni::Expr(f)),
                                Err(err) => {
                                    d.error(
                                        &s.loc,
                                        format!(
                                            "server '{}/{}': 'sni {e}': {err}",
                                            px.name, s.name
                                        ),
                                    );
                                    None
                                }
                            }
                        }
                    };
                }
                Err(e) => d.error(&s.loc, format!("server '{}/{}': {e}", px.name, s.name)),
            }
        }
    }
}

fn check_binds(cfg: &Config, d: &mut Diags) {
    let mut seen: Vec<(&super::addr::ListenAddr, &str, &super::diag::Loc)> = Vec::new();
    for (_, px) in cfg.frontends() {
        for b in &px.binds {
            if let Some((_, other, loc)) = seen.iter().find(|(a, _, _)| **a == b.addr) {
                d.warn(
                    &b.loc,
                    format!(
                        "'{}' is also bound by '{other}' at {loc}: the kernel will spread connections between them (SO_REUSEPORT)",
                        b.addr
                    ),
                );
            }
            seen.push((&b.addr, &px.name, &b.loc));
        }
    }
}

fn check_timeouts(cfg: &Config, d: &mut Diags) {
    for px in &cfg.proxies {
        if px.disabled {
            continue;
        }
        let t = &px.timeouts;
        let mut missing = Vec::new();
        if px.kind.is_frontend() && t.client.is_none() {
            missing.push("'client'");
        }
        if px.kind.is_backend() && t.connect.is_none() {
            missing.push("'connect'");
        }
        if px.kind.is_backend() && t.server.is_none() {
            missing.push("'server'");
        }
        if !missing.is_empty() {
            d.warn(
                &px.loc,
                format!(
                    "missing timeouts for {} '{}': set {} to a non-zero value, or idle connections are never closed",
                    px.kind.name(),
                    px.name,
                    missing.join(", ")
                ),
            );
        }
    }
}

fn check_global(cfg: &Config, d: &mut Diags) {
    let g = &cfg.global;
    if let Some((u, loc)) = &g.user
        && crate::sys::user_id(u).is_none()
    {
        d.error(loc, format!("cannot find user id for '{u}'"));
    }
    if let Some((gname, loc)) = &g.group
        && crate::sys::group_id(gname).is_none()
    {
        d.error(loc, format!("cannot find group id for '{gname}'"));
    }
    for s in &g.cli.sockets {
        super::cli::check_socket(s, d);
    }
    if let Some((dir, loc)) = &g.chroot
        && !dir.is_dir()
    {
        d.error(
            loc,
            format!("chroot directory '{}' does not exist", dir.display()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::parser::parse_text;

    #[test]
    fn missing_backend_is_an_error_at_the_reference() {
        let (cfg, d) =
            parse_text("frontend f\n bind 127.0.0.1:1\n default_backend nope\nbackend bk\n");
        assert!(cfg.is_none());
        let e = d.list.iter().find(|x| x.msg.contains("not found")).unwrap();
        assert_eq!(e.loc.as_ref().unwrap().line, 3);
        let (_, d) = parse_text("frontend f\n bind 127.0.0.1:1\n use_backend bak\nbackend bk\n");
        let e = d.list.iter().find(|x| x.msg.contains("not found")).unwrap();
        assert!(e.msg.contains("did you mean 'bk'"), "{}", e.msg);
    }

    #[test]
    fn unresolvable_server() {
        let (cfg, d) = parse_text("backend b\n server s1 no-such-host.invalid:80\n");
        assert!(cfg.is_none());
        assert!(d.list[0].msg.contains("could not resolve"), "{:?}", d.list);
    }

    #[test]
    fn unknown_user_is_reported() {
        let (_, d) = parse_text("global\n user corelb-no-such-user\n");
        assert!(
            d.list[0]
                .to_string()
                .starts_with("t.cfg:2: cannot find user id")
        );
    }
}
