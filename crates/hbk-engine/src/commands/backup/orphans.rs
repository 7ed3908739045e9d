//! Adopting packs that an interrupted backup stored but never indexed.
//!
//! A backup writes index files every few packs; when it is killed, the
//! packs written since the last index file are on disk but unknown to the
//! index. Before a backup starts (holding its lock), their headers are read
//! and a new index file lists them, so their blobs are reused instead of
//! uploaded again. A pack whose header does not read is left alone (prune
//! removes it).
//!
//! [`open_for_backup`] gets a repository ready for a backup: its index,
//! its lock and the listing of its packs are fetched at the same time.

use std::collections::HashSet;
use std::time::Duration;

use hbk_repo::{FileType, Id, IndexBlob, IndexFile, IndexPack, IndexedRepository, Repository};
use rayon::prelude::*;

use crate::lock::{LockKind, RepoLock};
use crate::pool::joined;
use crate::Result;

/// Loads `repo`'s index for a backup, under a shared lock (waiting up to
/// `lock_wait` for another holder's to go) unless `dry_run`, and adopts
/// orphan packs.
///
/// On a remote repository each of these is a round trip or more and the
/// lock pauses before its final check, so they run at once: the lock's
/// pause overlaps the index and the listing of packs. Nothing is written
/// but the lock before the lock holds; the listing only decides what to
/// adopt, and adopting happens under the lock. A lock that cannot be
/// taken is the error reported, before one loading the index.
pub fn open_for_backup(
    repo: Repository,
    dry_run: bool,
    lock_wait: Duration,
) -> Result<(IndexedRepository, Option<RepoLock>)> {
    let (indexed, lock, packs) = std::thread::scope(|s| {
        let locking = (!dry_run).then(|| s.spawn(|| take_lock(&repo, lock_wait)));
        let listing = (!dry_run).then(|| s.spawn(|| repo.list(FileType::Pack)));
        let indexed = repo.clone().into_indexed();
        let lock = locking.map(|h| joined(h.join())).transpose();
        let packs = listing.map(|h| joined(h.join())).transpose();
        (indexed, lock, packs)
    });
    let lock = lock?;
    let indexed = indexed?;
    if let (Some(lock), Some(packs)) = (&lock, packs?) {
        adopt_orphan_packs(&indexed, lock, packs)?;
    }
    Ok((indexed, lock))
}

/// The backup's shared lock. Without `--retry-lock` the backup goes on
/// during the lock's final check and writes nothing before it passes
/// ([`RepoLock::acquire_early`]); with it, a lock in the way at the final
/// check is waited for like one found at the first.
fn take_lock(repo: &Repository, wait: Duration) -> Result<RepoLock> {
    match wait.is_zero() {
        true => RepoLock::acquire_early(repo, LockKind::Shared),
        false => RepoLock::acquire_waiting(repo, LockKind::Shared, wait),
    }
}

/// Writes an index file for the unindexed, readable packs among `packs`
/// (the repository's listing, which may be taken before the lock) and
/// adds them to the handle's index; returns how many packs it adopted.
pub fn adopt_orphan_packs(
    repo: &IndexedRepository,
    lock: &RepoLock,
    packs: Vec<(Id, u64)>,
) -> Result<usize> {
    lock.require(repo.repository(), LockKind::Shared)?;
    let indexed: HashSet<_> = repo.index().packs().into_iter().collect();
    let orphans: Vec<_> = packs
        .into_iter()
        .filter(|(id, _)| !indexed.contains(id))
        .collect();
    if orphans.is_empty() {
        return Ok(0);
    }
    // Adopting writes an index file: only under a lock that is held.
    lock.confirmed()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestRepo;
    use hbk_repo::BlobType;

    #[test]
    fn opening_for_a_backup_adopts_unindexed_packs_under_the_lock() {
        let t = TestRepo::new(2);
        let indexed = t.write_pack(&[(BlobType::Data, b"indexed")], false);
        t.write_index(std::slice::from_ref(&indexed));
        let orphan = t.write_pack(&[(BlobType::Data, b"orphan")], true);
        let blob = orphan.blobs[0].id;

        // A dry run neither locks nor writes.
        let (repo, lock) = open_for_backup(t.repo.clone(), true, Duration::ZERO).unwrap();
        assert!(lock.is_none());
        assert!(repo.index().get(BlobType::Data, &blob).is_none());
        assert_eq!(t.ids(FileType::Index).len(), 1);

        let (repo, lock) = open_for_backup(t.repo.clone(), false, Duration::ZERO).unwrap();
        assert!(lock.is_some());
        assert_eq!(t.ids(FileType::Lock).len(), 1);
        assert_eq!(
            repo.index().get(BlobType::Data, &blob).unwrap().pack,
            orphan.id
        );
        assert_eq!(t.ids(FileType::Index).len(), 2);
        drop(lock);

        // An exclusive lock in the way is the error, and nothing is adopted.
        let t = TestRepo::new(2);
        t.write_pack(&[(BlobType::Data, b"orphan")], false);
        let _held = crate::testutil::exclusive(&t.repo);
        let opened = open_for_backup(t.repo.clone(), false, Duration::ZERO);
        assert!(matches!(opened, Err(crate::Error::Locked(_))));
        assert!(t.ids(FileType::Index).is_empty());
    }
}
