//! `repair index` (restic 0.14's `rebuild-index`): a new index from the
//! packs that exist.
//!
//! Packs listed in a readable index file with the size stored there are
//! taken from it; the headers of all other packs (of every pack with
//! `read_all_packs`) are read. Index entries for packs that no longer
//! exist are dropped. The new index files are stored first and the old
//! ones deleted afterwards, so an interruption leaves a usable index.

use std::collections::HashMap;

use hbk_repo::{FileType, Id, IndexBlob, IndexFile, IndexPack, Repository};
use rayon::prelude::*;

use crate::lock::{LockKind, RepoLock};
use crate::Result;

/// Blobs per new index file, as restic keeps index files small.
const INDEX_MAX_BLOBS: usize = 50_000;

/// What `repair index` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairIndexOptions {
    /// Ignore the old index and read every pack's header.
    pub read_all_packs: bool,
}

/// What `repair index` did.
#[derive(Debug, Clone, Default)]
pub struct RepairIndexReport {
    /// Packs in the repository.
    pub packs: usize,
    /// Packs whose headers were read.
    pub packs_read: usize,
    /// Packs whose headers could not be read, with the reason; they are
    /// left out of the index (and left in place).
    pub damaged: Vec<(Id, String)>,
    /// Index entries dropped because their pack is gone.
    pub missing_packs: usize,
    /// Old index files that could not be read (and were replaced).
    pub unreadable_index_files: Vec<(Id, String)>,
    /// The new index files.
    pub new_index_files: Vec<Id>,
    /// Old index files deleted.
    pub deleted_index_files: usize,
}

/// The size a pack has according to its index entry: blobs, header
/// entries (41 bytes for compressed blobs, 37 otherwise), the header's
/// encryption overhead and the 4-byte length.
pub fn pack_size_from_index(blobs: &[IndexBlob]) -> u64 {
    let data: u64 = blobs.iter().map(|b| u64::from(b.length)).sum();
    let header: u64 = blobs
        .iter()
        .map(|b| {
            if b.uncompressed_length.is_some() {
                41
            } else {
                37
            }
        })
        .sum();
    data + header + SEAL_OVERHEAD + 4
}

/// What sealing adds to a plaintext: a 16-byte IV and a 16-byte MAC.
const SEAL_OVERHEAD: u64 = 32;

/// Rebuilds the index under `lock`, an exclusive lock on `repo`.
pub fn repair_index(
    repo: &Repository,
    lock: &RepoLock,
    opts: RepairIndexOptions,
) -> Result<RepairIndexReport> {
    lock.require(repo, LockKind::Exclusive)?;
    let mut report = RepairIndexReport::default();
    let old_files = repo.list(FileType::Index)?;
    let mut known: HashMap<Id, IndexPack> = HashMap::new();
    if !opts.read_all_packs {
        let loaded: Vec<_> = old_files
            .par_iter()
            .map(|(id, _)| (*id, repo.load_index_file(id)))
            .collect();
        for (id, file) in loaded {
            match file {
                Ok(f) => {
                    for p in f.packs {
                        known.entry(p.id).or_insert(p);
                    }
                }
                Err(e) => report.unreadable_index_files.push((id, e.to_string())),
            }
        }
    }
    let packs = repo.list(FileType::Pack)?;
    report.packs = packs.len();
    let exists: std::collections::HashSet<Id> = packs.iter().map(|(id, _)| *id).collect();
    report.missing_packs = known.keys().filter(|id| !exists.contains(id)).count();
    let (keep, read): (Vec<_>, Vec<_>) = packs.into_iter().partition(|(id, size)| {
        known
            .get(id)
            .is_some_and(|p| pack_size_from_index(&p.blobs) == *size)
    });
    report.packs_read = read.len();
    let headers: Vec<_> = read
        .par_iter()
        .map(|(id, size)| (*id, repo.pack_header(id, *size)))
        .collect();
    let mut new_packs: Vec<IndexPack> =
        keep.iter().filter_map(|(id, _)| known.remove(id)).collect();
    for (id, header) in headers {
        match header {
            Ok(blobs) => new_packs.push(IndexPack {
                id,
                blobs: blobs.iter().map(IndexBlob::from).collect(),
            }),
            Err(e) => report.damaged.push((id, e.to_string())),
        }
    }
    new_packs.sort_by_key(|p| p.id);
    let mut file = IndexFile::default();
    let mut blobs = 0;
    for p in new_packs {
        blobs += p.blobs.len();
        file.packs.push(p);
        if blobs >= INDEX_MAX_BLOBS {
            report
                .new_index_files
                .push(repo.save_unpacked(FileType::Index, &file.to_json()?)?);
            file = IndexFile::default();
            blobs = 0;
        }
    }
    if !file.packs.is_empty() {
        report
            .new_index_files
            .push(repo.save_unpacked(FileType::Index, &file.to_json()?)?);
    }
    for (id, _) in &old_files {
        if report.new_index_files.contains(id) {
            continue;
        }
        repo.backend()
            .remove(FileType::Index, id)
            .map_err(hbk_repo::Error::from)?;
        report.deleted_index_files += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::exclusive;
    use crate::testutil::sample;
    use hbk_repo::Backend;

    #[test]
    fn sizes_from_the_index_match_the_packs() {
        for v in [1, 2] {
            let s = sample(v);
            for p in [&s.data_pack, &s.tree_pack] {
                let size = s.t.pack_bytes(&p.id).len() as u64;
                assert_eq!(pack_size_from_index(&p.blobs), size);
            }
        }
    }

    #[test]
    fn rebuilds_a_deleted_index() {
        let s = sample(2);
        s.t.backend.remove(FileType::Index, &s.index).unwrap();
        let r = repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions::default(),
        )
        .unwrap();
        assert_eq!((r.packs, r.packs_read), (2, 2));
        assert_eq!(r.new_index_files.len(), 1);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        assert!(repo.tree(&s.root).is_ok());
        assert!(s.t.ids(FileType::Lock).is_empty());
    }

    #[test]
    fn keeps_good_entries_and_drops_missing_packs() {
        let s = sample(1);
        s.t.backend.remove(FileType::Pack, &s.data_pack.id).unwrap();
        let r = repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions::default(),
        )
        .unwrap();
        assert_eq!((r.packs, r.packs_read, r.missing_packs), (1, 0, 1));
        assert_eq!(r.deleted_index_files, 1);
        assert_eq!(s.t.ids(FileType::Index), r.new_index_files);
        let again = repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions {
                read_all_packs: true,
            },
        )
        .unwrap();
        assert_eq!(again.packs_read, 1);
        // Only the new file is left.
        assert_eq!(s.t.ids(FileType::Index), again.new_index_files);
    }

    #[test]
    fn damaged_packs_are_left_out() {
        let s = sample(2);
        s.t.backend.remove(FileType::Index, &s.index).unwrap();
        s.t.replace_pack(&s.data_pack.id, b"not a pack at all");
        let r = repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions::default(),
        )
        .unwrap();
        assert_eq!(r.damaged.len(), 1);
        assert_eq!(r.damaged[0].0, s.data_pack.id);
    }
}
