//! HAProxy's configuration language → the typed model in [`model`], with `FILE:LINE` errors.
//!
//! Owns the model every other layer reads; built from `acl` and `tls` (conditions and TLS
//! configurations are parsed into it) and `sys`; used by everything above it (`log`,
//! `cluster`, `net`, `stats`, `proxy`, `health`, `runtime`), never the other way.
//!
//! `lexer` splits lines into words, `cond` keeps the `.if` blocks and evaluates their
//! expressions, `parser` applies keywords section by section (tables of what is supported
//! live in `keywords`), `logging` compiles the access-log formats, `validate` checks what
//! spans sections.

pub mod addr;
pub mod case_adjust;
pub mod check_presets;
pub mod cli;
pub mod cond;
pub mod diag;
pub mod dyncookie;
pub mod errors;
pub mod filters;
pub mod keywords;
pub mod lexer;
pub mod log_forward;
pub mod logging;
pub mod mailers;
pub mod model;
pub mod parser;
pub mod peers;
pub mod resolvers;
pub mod ring;
pub mod server_links;
pub mod stick;
mod tcp_response;
mod tcp_rules;
pub mod units;
pub(crate) mod uri_rules;
pub mod userlist;
pub mod validate;
pub(crate) mod vars;

pub use diag::{Diag, Diags, Level, Loc};
pub use model::*;

use std::path::PathBuf;

/// Reads the files in order (like several `-f` for HAProxy) and returns the configuration
/// when it has no error, with every diagnostic either way.
pub fn load(paths: &[PathBuf]) -> (Option<Config>, Diags) {
    let mut p = parser::Parser::new();
    for path in paths {
        if path.is_dir() {
            // HAProxy loads every *.cfg of a directory, in lexical order.
            let mut files: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "cfg"))
                    .collect(),
                Err(e) => {
                    p.diags.error_global(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            files.sort();
            for f in files {
                p.parse_file(&f);
            }
        } else {
            p.parse_file(path);
        }
    }
    p.finish()
}
