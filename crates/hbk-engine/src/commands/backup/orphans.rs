//! Adopting packs that an interrupted backup stored but never indexed.
//!
//! A backup writes index files every few packs; when it is killed, the
//! packs written since the last index file are on disk but unknown to the
//! index. Before a backup starts (holding its lock), their headers are read
//! and a new index file lists them, so their blobs are reused instead of
//! uploaded again. A pack whose header does not read is left alone (prune
//! removes it).

use std::collections::HashSet;

use hbk_repo::{FileType, IndexBlob, IndexFile, IndexPack, IndexedRepository};
use rayon::prelude::*;

use crate::lock::{LockKind, RepoLock};
use crate::Result;

/// Writes an index file for unindexed, readable packs and adds them to the
/// handle's index; returns how many packs it adopted.
pub fn adopt_orphan_packs(repo: &IndexedRepository, lock: &RepoLock) -> Result<usize> {
    lock.require(repo.repository(), LockKind::Shared)?;
    let indexed: HashSet<_> = repo.index().packs().into_iter().collect();
    let orphans: Vec<_> = repo
        .list(FileType::Pack)?
        .into_iter()
        .filter(|(id, _)| !indexed.contains(id))
        .collect();
    if orphans.is_empty() {
        return Ok(0);
    }
    let packs: Vec<IndexPack> = orphans
        .par_iter()
        .filter_map(|(id, size)| {
            let blobs = repo.pack_header(id, *size).ok()?;
            Some(IndexPack {
                id: *id,
                blobs: blobs.iter().map(IndexBlob::from).collect(),
            })
        })
        .collect();
    let n = packs.len();
    for p in &packs {
        repo.index().add_pack(p);
    }
    if n > 0 {
        let file = IndexFile {
            packs,
            ..Default::default()
        };
        repo.save_unpacked(FileType::Index, &file.to_json()?)?;
    }
    Ok(n)
}
