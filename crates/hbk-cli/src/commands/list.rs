//! `hbk list`: the ids of one type of object, one a line, as restic prints
//! them.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;
use hbk_engine::lock::LockKind;
use hbk_repo::FileType;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// blobs, packs, index, snapshots, keys or locks.
    pub kind: Option<String>,
}

/// Lists ids: files of a type, or for `blobs` every index entry as
/// `data <id>` / `tree <id>` (an entry in several index files is listed
/// once per file, as restic does).
pub fn run(g: &GlobalOpts, a: ListArgs) -> Result<i32> {
    let Some(kind) = a.kind else {
        bail!("type not specified, usage: list [flags] [blobs|packs|index|snapshots|keys|locks]");
    };
    let repo = repo::open(g)?;
    let file_type = match kind.as_str() {
        "blobs" => None,
        "packs" => Some(FileType::Pack),
        "index" => Some(FileType::Index),
        "snapshots" => Some(FileType::Snapshot),
        "keys" => Some(FileType::Key),
        "locks" => Some(FileType::Lock),
        _ => bail!("invalid type"),
    };
    // restic takes a shared lock, except for listing the locks.
    let _lock = if file_type == Some(FileType::Lock) || g.no_lock {
        None
    } else {
        Some(crate::repo::lock(g, &repo, LockKind::Shared)?)
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match file_type {
        Some(t) => {
            for (id, _) in repo.list(t)? {
                writeln!(out, "{id}")?;
            }
        }
        None => {
            for (_, file) in repo.index_files()? {
                for pack in &file.packs {
                    for b in &pack.blobs {
                        writeln!(out, "{} {}", b.blob_type, b.id)?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(exit::OK)
}
