//! `set ssl cert FILE <<` / `commit ssl cert FILE` / `abort ssl cert FILE`: a certificate
//! renewed without a reload. `set` parses and checks the new certificate into a transaction
//! (one at a time, as in HAProxy); `commit` swaps it into every listener slot loaded from
//! FILE (`tls::certs::replace_live`), which every shard reads at its next handshake.
//! Connections already established keep their certificate.

use super::Ctx;
use super::commands::Answer;
use crate::cluster::Shared;
use crate::log::syslog::NOTICE;
use std::path::PathBuf;
use std::sync::Arc;

pub struct CertTxn {
    /// The name the operator gave.
    name: String,
    /// The file the running listeners loaded it from.
    path: PathBuf,
    key: Arc<rustls::sign::CertifiedKey>,
}

pub fn set(ctx: &Ctx, sh: &Shared, file: Option<&str>, payload: Option<&str>) -> Answer {
    let (Some(file), Some(payload)) = (file, payload) else {
        // (HAProxy 2.6's words, its quote unclosed.)
        return Answer::err("'set ssl cert expects a filename and a certificate as a payload\n");
    };
    let policy = sh.cfg.global.tls.load_policy();
    let Some(path) = [PathBuf::from(file), policy.resolve(file)]
        .into_iter()
        .find(|p| crate::tls::certs::is_live(p))
    else {
        return Answer::err(
            "Can't replace a certificate which is not referenced by the configuration!\n",
        );
    };
    let mut txn = ctx.txn.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = txn.as_ref()
        && t.name != file
    {
        return Answer::err(format!(
            "The ongoing transaction is about '{}' but you are trying to set '{file}'\n",
            t.name
        ));
    }
    let loaded = match crate::tls::certs::load_cert_pem(&path, payload.as_bytes(), &policy) {
        Ok(l) => l,
        Err(e) => return Answer::err(format!("{e}\nCan't update {file}!\n")),
    };
    let verb = if txn.is_some() { "updated" } else { "created" };
    *txn = Some(CertTxn {
        name: file.to_string(),
        path,
        key: loaded.key,
    });
    Answer::msg(
        NOTICE,
        format!("Transaction {verb} for certificate {file}!\n"),
    )
}

pub fn commit(ctx: &Ctx, file: Option<&str>) -> Answer {
    let Some(file) = file else {
        return Answer::err("'commit ssl cert expects a filename\n");
    };
    let mut txn = ctx.txn.lock().unwrap_or_else(|e| e.into_inner());
    match txn.take() {
        Some(t) if t.name == file => {
            let n = crate::tls::certs::replace_live(&t.path, t.key);
            log::info!("runtime API: certificate '{file}' replaced in {n} listener(s)");
            // HAProxy's commit prints from its I/O handler: data, not a message.
            Answer::data(format!("Committing {file}.\nSuccess!\n"))
        }
        other => {
            *txn = other;
            Answer::err(format!("No ongoing transaction! !\nCan't commit {file}!\n"))
        }
    }
}

pub fn abort(ctx: &Ctx, file: Option<&str>) -> Answer {
    let Some(file) = file else {
        return Answer::err("'abort ssl cert' expects a filename\n");
    };
    let mut txn = ctx.txn.lock().unwrap_or_else(|e| e.into_inner());
    match txn.as_ref() {
        Some(t) if t.name == file => {
            *txn = None;
            Answer::msg(
                NOTICE,
                format!("Transaction aborted for certificate '{file}'!\n"),
            )
        }
        _ => Answer::err("No ongoing transaction!\n"),
    }
}
