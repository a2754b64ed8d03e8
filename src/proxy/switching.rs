//! The backend switching rules of a frontend (`use_backend`, `default_backend`), as HAProxy
//! 2.6's `process_switching_rules` runs them: the first rule whose condition holds decides;
//! a dynamic name (`use_backend be_%[var(txn.x)]`) is rendered on the request and looked up
//! among the backends, and a name that matches none stops the rules and leaves the request
//! to `default_backend`. Without either, a `listen` section serves itself.

use crate::acl::Sample;
use crate::config::{Config, Mode};

/// The backend index for a request of frontend `fe` (a proxy index), or `None`.
/// `scratch` receives rendered names.
pub fn choose(cfg: &Config, fe: usize, s: &dyn Sample, scratch: &mut Vec<u8>) -> Option<usize> {
    let px = &cfg.proxies[fe];
    let mut chosen = None;
    for u in &px.use_backends {
        if !u.cond.as_ref().is_none_or(|c| c.eval(&px.acls, s)) {
            continue;
        }
        chosen = match &u.dynamic {
            None => Some(u.index),
            Some(f) => {
                scratch.clear();
                f.render(s, scratch);
                by_name(cfg, scratch, px.mode)
            }
        };
        break;
    }
    chosen
        .or(px.default_backend.as_ref().map(|r| r.index))
        .or(px.kind.is_backend().then_some(fe))
}

/// The server a backend's `use-server` rules pick for a request (HAProxy's
/// `process_server_rules`): the first rule whose condition holds and whose server is
/// usable (any, with `force`: `force-persist` or `option persist`); a rule naming a server
/// that is down lets the next rules try.
pub fn use_server(
    px: &crate::config::Proxy,
    be: &crate::cluster::BackendRt,
    s: &dyn Sample,
    force: bool,
) -> Option<usize> {
    px.use_servers
        .iter()
        .filter(|u| u.cond.as_ref().is_none_or(|c| c.eval(&px.acls, s)))
        .find_map(|u| {
            let i = be.lb.servers.iter().position(|sv| sv.name == u.server)?;
            (force || be.lb.servers[i].usable()).then_some(i)
        })
}

/// A backend called `name` that a frontend in mode `mode` may use (an HTTP frontend cannot
/// hand its requests to a mode tcp backend: the configuration check refuses that for plain
/// names).
fn by_name(cfg: &Config, name: &[u8], mode: Mode) -> Option<usize> {
    cfg.proxies.iter().position(|p| {
        p.kind.is_backend()
            && p.name.as_bytes() == name
            && !(mode == Mode::Http && p.mode == Mode::Tcp)
    })
}
