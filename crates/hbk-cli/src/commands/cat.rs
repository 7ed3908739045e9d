//! `hbk cat`: internal objects, decrypted.

use std::io::Write;

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Args;
use hbk_engine::snapshots::{find_id, find_snapshot, SnapshotFilter};
use hbk_engine::walk::resolve_path;
use hbk_repo::{BlobType, FileType, Id};
use serde_json::json;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    /// config, index, snapshot, key, masterkey, lock, pack, blob or tree.
    pub kind: String,
    /// The object's id (for `tree`: SNAPSHOT[:PATH]).
    pub id: Option<String>,
}

fn pretty(bytes: &[u8]) -> Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(bytes)?;
    let mut out = serde_json::to_vec_pretty(&v)?;
    out.push(b'\n');
    Ok(out)
}

/// Prints one object to stdout.
pub fn run(g: &GlobalOpts, a: CatArgs) -> Result<i32> {
    let need_id = || a.id.clone().context("an id is required");
    let (repo, _lock) = repo::open_read(g)?;
    let out: Vec<u8> = match a.kind.as_str() {
        "config" => pretty(&repo.config().to_json()?)?,
        "masterkey" => {
            let k = repo.key();
            let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
            let v = json!({"mac": {"k": b64(k.mac_k()), "r": b64(k.mac_r())}, "encrypt": b64(k.encrypt_key())});
            let mut o = serde_json::to_vec_pretty(&v)?;
            o.push(b'\n');
            o
        }
        "snapshot" => {
            let (_, sn) = find_snapshot(&repo, &need_id()?, &SnapshotFilter::default())?;
            pretty(&sn.to_json()?)?
        }
        "index" | "lock" => {
            let t = if a.kind == "index" { FileType::Index } else { FileType::Lock };
            let id = find_id(&repo, t, &need_id()?)?;
            repo.load_unpacked(t, &id)?
        }
        "key" => {
            let id = find_id(&repo, FileType::Key, &need_id()?)?;
            let kf = repo.load_key_file(&id)?.file;
            pretty(&kf.to_json()?)?
        }
        "pack" => {
            let id = find_id(&repo, FileType::Pack, &need_id()?)?;
            repo.load_raw(FileType::Pack, &id)?
        }
        "blob" => {
            let id: Id = need_id()?.parse()?;
            let repo = repo.into_indexed()?;
            match repo.blob(BlobType::Data, &id) {
                Ok(b) => b,
                Err(hbk_repo::Error::BlobNotFound { .. }) => repo.blob(BlobType::Tree, &id)?,
                Err(e) => return Err(e.into()),
            }
        }
        "tree" => {
            let spec = need_id()?;
            let (snap, path) = crate::selection::split_snapshot_path(&spec);
            let repo = repo.into_indexed()?;
            let (_, sn) = find_snapshot(&repo, snap, &SnapshotFilter::default())?;
            let (tree, file) = resolve_path(&repo, &sn.tree, path.unwrap_or("/").as_bytes(), snap)?;
            if file.is_some() {
                bail!("{spec} is not a directory");
            }
            repo.blob(BlobType::Tree, &tree)?
        }
        other => bail!("invalid type {other:?}: expected config, index, snapshot, key, masterkey, lock, pack, blob or tree"),
    };
    std::io::stdout().lock().write_all(&out)?;
    Ok(exit::OK)
}
