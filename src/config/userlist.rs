//! `userlist` sections (configuration manual 3.4): `group G [users U,...]` and
//! `user U [password HASH | insecure-password PW] [groups G,...]`. The lists themselves and
//! the password check are `acl::auth`'s; this file reads the lines and, once every section
//! is read, links users and groups and hands each list to the fetches that name it.

use super::diag::{Diags, Loc};
use crate::acl::auth::{Password, User, Userlist, UserlistRef, hash_supported};
use std::sync::Arc;

/// A `userlist` section being read.
#[derive(Debug)]
pub struct UserlistConf {
    pub list: Userlist,
    pub loc: Loc,
    /// `group G users U,...`: memberships to check once the users are known.
    members: Vec<(String, Vec<String>, Loc)>,
    /// Where each user was declared (for `groups` naming an unknown group).
    user_locs: Vec<Loc>,
}

impl UserlistConf {
    pub fn new(name: &str, loc: Loc) -> UserlistConf {
        UserlistConf {
            list: Userlist {
                name: name.to_string(),
                ..Userlist::default()
            },
            loc,
            members: Vec::new(),
            user_locs: Vec::new(),
        }
    }
}

fn names(v: &str) -> Vec<String> {
    v.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// One line of a `userlist` section.
pub fn section_kw(u: &mut UserlistConf, w: &[String], loc: &Loc, d: &mut Diags) {
    let kw = w[0].as_str();
    let Some(name) = w.get(1) else {
        d.error(loc, format!("'{kw}': missing name"));
        return;
    };
    match kw {
        "group" => {
            if u.list.groups.contains(name) {
                d.error(
                    loc,
                    format!("userlist '{}': duplicate group '{name}'", u.list.name),
                );
                return;
            }
            let users = match (w.get(2).map(String::as_str), w.get(3)) {
                (None, _) => Vec::new(),
                (Some("users"), Some(v)) if w.len() == 4 => names(v),
                (Some(o), _) => {
                    d.error(
                        loc,
                        format!(
                            "'group': unexpected argument '{o}' (expected 'users <user>,<user>...')"
                        ),
                    );
                    return;
                }
            };
            u.list.groups.push(name.clone());
            u.members.push((name.clone(), users, loc.clone()));
        }
        "user" => {
            if u.list.users.iter().any(|x| &x.name == name) {
                d.error(
                    loc,
                    format!("userlist '{}': duplicate user '{name}'", u.list.name),
                );
                return;
            }
            let mut user = User {
                name: name.clone(),
                password: Password::None,
                groups: Vec::new(),
            };
            let mut i = 2;
            while i < w.len() {
                let (k, v) = (w[i].as_str(), w.get(i + 1));
                let Some(v) = v else {
                    d.error(loc, format!("'user {name}': '{k}' expects a value"));
                    return;
                };
                match k {
                    "password" => {
                        if !hash_supported(v) {
                            d.error(
                                loc,
                                format!("'user {name}': corelb cannot check this password hash (it verifies crypt(3) '$1$' MD5, '$5$' SHA-256, '$6$' SHA-512, '$2a$/$2b$/$2y$' bcrypt and DES hashes)"),
                            );
                            return;
                        }
                        user.password = Password::Crypt(v.clone());
                    }
                    "insecure-password" => user.password = Password::Clear(v.clone()),
                    "groups" => user.groups = names(v),
                    o => {
                        d.error(
                            loc,
                            format!("'user {name}': unexpected argument '{o}' (expected 'password', 'insecure-password' or 'groups')"),
                        );
                        return;
                    }
                }
                i += 2;
            }
            u.list.users.push(user);
            u.user_locs.push(loc.clone());
        }
        o => {
            let h = super::keywords::hint(o, ["user", "group"]);
            d.error(
                loc,
                format!("unknown keyword '{o}' in 'userlist' section{h}"),
            );
        }
    }
}

/// Links users and groups (HAProxy's `userlist_postinit`) and gives each fetch in `refs`
/// its list; a name no section declares is an error at the line that used it (log formats,
/// compiled after the sections, have no line).
pub fn finish(lists: Vec<UserlistConf>, refs: Vec<(UserlistRef, Option<Loc>)>, d: &mut Diags) {
    let mut done: Vec<Arc<Userlist>> = Vec::new();
    for mut u in lists {
        let l = &mut u.list;
        for (user, at) in l.users.iter().zip(&u.user_locs) {
            for g in &user.groups {
                if !l.groups.contains(g) {
                    d.error(
                        at,
                        format!(
                            "userlist '{}': no such group '{g}' specified in user '{}'",
                            l.name, user.name
                        ),
                    );
                }
            }
        }
        for (g, users, at) in &u.members {
            for name in users {
                match l.users.iter_mut().find(|x| &x.name == name) {
                    Some(user) => {
                        if !user.groups.contains(g) {
                            user.groups.push(g.clone());
                        }
                    }
                    None => d.error(
                        at,
                        format!(
                            "userlist '{}': no such user '{name}' specified in group '{g}'",
                            l.name
                        ),
                    ),
                }
            }
        }
        done.push(Arc::new(u.list));
    }
    for (r, at) in refs {
        match done.iter().find(|l| *l.name == *r.name) {
            Some(l) => {
                let _ = r.list.set(l.clone());
            }
            None => {
                let e = format!(
                    "unable to find userlist '{}' (referenced by http_auth)",
                    r.name
                );
                match at {
                    Some(at) => d.error(&at, e),
                    None => d.error_global(format!("{e} in a log format")),
                }
            }
        }
    }
}
