//! What server parameters mean once every backend is known: `track [BACKEND/]SERVER`
//! resolved to indices (as HAProxy: the target exists, has checks or tracks a server that
//! has, and the chain has no loop; a tracking server runs no checks of its own), and
//! `minconn`/`maxconn` made consistent as HAProxy makes them (`minconn` alone, or above
//! `maxconn`, becomes `maxconn`; `maxconn` alone is also the floor).

use super::diag::Diags;
use super::model::*;

pub fn resolve(cfg: &mut Config, d: &mut Diags) {
    let names: Vec<(String, bool, Vec<String>)> = cfg
        .proxies
        .iter()
        .map(|p| {
            let names = p.servers.iter().map(|s| s.name.clone()).collect();
            (p.name.clone(), p.kind.is_backend(), names)
        })
        .collect();
    for pi in 0..cfg.proxies.len() {
        for si in 0..cfg.proxies[pi].servers.len() {
            let px_name = cfg.proxies[pi].name.clone();
            let s = &mut cfg.proxies[pi].servers[si];
            let p = &mut s.params;
            if p.minconn > p.maxconn {
                p.maxconn = p.minconn;
            } else if p.maxconn > 0 && p.minconn == 0 {
                p.minconn = p.maxconn;
            }
            let what = format!("server '{px_name}/{}'", s.name);
            if p.agent.enabled && p.agent.port.is_none() {
                d.error(
                    &s.loc,
                    format!("{what} does not have agent port ('agent-port N')"),
                );
            }
            if let Some(a) = &p.agent.addr {
                match super::addr::resolve(a) {
                    Ok(ip) => p.agent.ip = Some(ip),
                    Err(e) => d.error(&s.loc, format!("{what}: 'agent-addr': {e}")),
                }
            }
            let Some((be, srv)) = p.track.clone() else {
                continue;
            };
            let bi = match &be {
                None => Some(pi),
                Some(b) => names.iter().position(|(n, is_be, _)| n == b && *is_be),
            };
            let Some(bi) = bi else {
                let b = be.unwrap_or_default();
                d.error(
                    &s.loc,
                    format!("{what}: unable to find required proxy '{b}' for tracking"),
                );
                continue;
            };
            let Some(ti) = names[bi].2.iter().position(|n| *n == srv) else {
                d.error(
                    &s.loc,
                    format!(
                        "{what}: unable to find required server '{}/{srv}' for tracking",
                        names[bi].0
                    ),
                );
                continue;
            };
            if p.check.enabled {
                d.error(
                    &s.loc,
                    format!("{what}: unable to enable checks and tracking at the same time"),
                );
                continue;
            }
            p.track_ref = Some((bi, ti));
        }
    }
    // Each chain must end at a server with checks, without a loop.
    for pi in 0..cfg.proxies.len() {
        for si in 0..cfg.proxies[pi].servers.len() {
            let Some(mut at) = cfg.proxies[pi].servers[si].params.track_ref else {
                continue;
            };
            let mut steps = 0;
            let end = loop {
                let t = &cfg.proxies[at.0].servers[at.1];
                match t.params.track_ref {
                    Some(next) if steps < 64 && next != (pi, si) => {
                        at = next;
                        steps += 1;
                    }
                    Some(_) => break None,
                    None => break Some(t),
                }
            };
            let s = &cfg.proxies[pi].servers[si];
            let what = format!("server '{}/{}'", cfg.proxies[pi].name, s.name);
            let t = &cfg.proxies[at.0].servers[at.1];
            let target = format!("{}/{}", cfg.proxies[at.0].name, t.name);
            match end {
                None => d.error(
                    &s.loc,
                    format!("{what}: unable to track {target}: the tracking chain loops"),
                ),
                Some(e) if !e.params.check.enabled && !e.params.agent.enabled => d.error(
                    &s.loc,
                    format!(
                        "{what}: unable to use {target} for tracking as it does not have any check nor agent enabled"
                    ),
                ),
                Some(_) => {}
            }
        }
    }
}
