//! `copy`: snapshots from one repository into another, re-encrypted with
//! the target's key, transferring only blobs the target lacks.
//!
//! A snapshot is skipped when the target already holds a copy of it: a
//! snapshot whose `original` (or own id) is the source snapshot's
//! `original` (or id) and which describes the same backup (time, tree,
//! paths, host, user, tags). Blobs are read pack by pack from the source,
//! verified, and stored through the backup's [`BlobSaver`]; the copied
//! snapshot is saved only after its blobs and their index are stored, so
//! an interrupted copy leaves no snapshot pointing at missing data.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;

use hbk_repo::blob::decode_blob;
use hbk_repo::{
    BlobLocation, BlobType, Error as RepoError, FileType, Id, IndexedRepository, Repository,
    SnapshotFile,
};
use rayon::prelude::*;

use crate::lock::{LockKind, RepoLock};
use crate::pack_range::{cut, entry_end};
use crate::progress::{CopyOutcome, Progress};
use crate::reachable::reachable_blobs;
use crate::snapshots::{find_snapshot, list_snapshots, SnapshotFilter};
use crate::Result;
use hbk_repo::BlobSaver;

/// Source packs read at once.
const PARALLEL_READS: usize = 4;
/// Neighbouring blobs of one pack are fetched in one read up to this size.
const MAX_READ: u64 = 8 << 20;

/// What to copy.
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// Snapshots by id, prefix or `latest`; empty means all passing
    /// `filter`.
    pub ids: Vec<String>,
    /// Which source snapshots to consider.
    pub filter: SnapshotFilter,
    /// Target pack size.
    pub pack_size: u64,
    /// zstd level for data blobs in a v2 target (`None`: uncompressed).
    pub level: Option<i32>,
}

/// One source snapshot chosen for copying, and what the target holds of
/// it: made by [`plan_copies`], consumed by [`copy`].
#[derive(Debug, Clone)]
pub struct PendingCopy {
    /// The source snapshot's id.
    pub id: Id,
    /// The source snapshot.
    pub snapshot: SnapshotFile,
    /// The target's existing copy of it, if there is one (then nothing is
    /// copied).
    pub already_in_target: Option<Id>,
}

/// Copies the `pending` snapshots from `src` to `dst` under shared (or
/// exclusive) locks on both, `src_lock` and `dst_lock`. Returns each
/// source snapshot with its outcome, in the order of `pending`.
pub fn copy(
    src: &IndexedRepository,
    src_lock: &RepoLock,
    dst: &IndexedRepository,
    dst_lock: &RepoLock,
    pending: Vec<PendingCopy>,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<Vec<(Id, CopyOutcome)>> {
    src_lock.require(src, LockKind::Shared)?;
    dst_lock.require(dst, LockKind::Shared)?;
    let saver = BlobSaver::new(dst, dst.index(), opts.pack_size, level(dst, opts), false);
    let mut out = Vec::new();
    for p in pending {
        progress.copy_started(&p.id, &p.snapshot);
        let outcome = match p.already_in_target {
            Some(target) => CopyOutcome::AlreadyCopied { target },
            None => {
                let original = p.snapshot.original.unwrap_or(p.id);
                copy_one(src, dst, &saver, &p.snapshot, original, progress)?
            }
        };
        progress.copy_done(&p.id, &outcome);
        out.push((p.id, outcome));
    }
    Ok(out)
}

/// The source snapshots `opts` selects, oldest first, each with the id of
/// its existing copy in `dst` if there is one. Reads only snapshot files:
/// a dry run of [`copy`], and its plan.
pub fn plan_copies(
    src: &Repository,
    dst: &Repository,
    opts: &CopyOptions,
) -> Result<Vec<PendingCopy>> {
    let existing = copies_in(dst)?;
    Ok(choose(src, opts)?
        .into_iter()
        .map(|(id, snapshot)| {
            let already_in_target = existing
                .get(&snapshot.original.unwrap_or(id))
                .and_then(|list| list.iter().find(|(_, c)| same_backup(c, &snapshot)))
                .map(|(target, _)| *target);
            PendingCopy {
                id,
                snapshot,
                already_in_target,
            }
        })
        .collect())
}

fn level(dst: &Repository, opts: &CopyOptions) -> Option<i32> {
    (dst.config().version >= 2).then_some(opts.level).flatten()
}

/// The source snapshots to copy, oldest first.
fn choose(src: &Repository, opts: &CopyOptions) -> Result<Vec<(Id, SnapshotFile)>> {
    if opts.ids.is_empty() {
        return list_snapshots(src, &opts.filter);
    }
    let mut chosen: BTreeMap<Id, SnapshotFile> = BTreeMap::new();
    for spec in &opts.ids {
        let (id, sn) = find_snapshot(src, spec, &opts.filter)?;
        chosen.insert(id, sn);
    }
    let mut v: Vec<_> = chosen.into_iter().collect();
    v.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    Ok(v)
}

/// The target's snapshots keyed by the snapshot they are copies of (their
/// `original`, or themselves).
fn copies_in(dst: &Repository) -> Result<HashMap<Id, Vec<(Id, SnapshotFile)>>> {
    let mut map: HashMap<Id, Vec<(Id, SnapshotFile)>> = HashMap::new();
    for (id, sn) in dst.snapshots()? {
        map.entry(sn.original.unwrap_or(id))
            .or_default()
            .push((id, sn));
    }
    Ok(map)
}

/// Whether two snapshot files describe the same backup.
fn same_backup(a: &SnapshotFile, b: &SnapshotFile) -> bool {
    a.time == b.time
        && a.tree == b.tree
        && a.paths == b.paths
        && a.hostname == b.hostname
        && a.username == b.username
        && a.tags == b.tags
}

fn copy_one(
    src: &IndexedRepository,
    dst: &IndexedRepository,
    saver: &BlobSaver<'_>,
    sn: &SnapshotFile,
    original: Id,
    progress: &dyn Progress,
) -> Result<CopyOutcome> {
    progress.phase_start("finding blobs to copy", None);
    let has_tree = |id: &Id| saver.has(BlobType::Tree, id);
    let needed = reachable_blobs(src, [sn.tree], &has_tree, &|| progress.phase_advance(1))?;
    progress.phase_finish();
    let mut wanted: Vec<(BlobType, Id, BlobLocation)> = Vec::new();
    for (t, ids) in [
        (BlobType::Data, &needed.data),
        (BlobType::Tree, &needed.trees),
    ] {
        for id in ids {
            if saver.has(t, id) {
                continue;
            }
            let loc = src.index().get(t, id).ok_or(RepoError::BlobNotFound {
                blob_type: t,
                id: *id,
            })?;
            wanted.push((t, *id, loc));
        }
    }
    let blobs = wanted.len() as u64;
    let bytes = transfer(src, saver, wanted, progress)?;
    saver.flush()?;

    let mut copy = sn.clone();
    copy.original = Some(original);
    let target = dst.save_unpacked(FileType::Snapshot, &copy.to_json()?)?;
    Ok(CopyOutcome::Copied {
        target,
        blobs,
        bytes,
    })
}

/// Reads `wanted` pack by pack, verifies each blob and saves it; returns
/// the plaintext bytes moved.
fn transfer(
    src: &IndexedRepository,
    saver: &BlobSaver<'_>,
    wanted: Vec<(BlobType, Id, BlobLocation)>,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut by_pack: BTreeMap<Id, Vec<(BlobType, Id, BlobLocation)>> = BTreeMap::new();
    let total = wanted.len() as u64;
    for w in wanted {
        by_pack.entry(w.2.pack).or_default().push(w);
    }
    progress.phase_start("copying blobs", Some(total));
    let moved = crate::pool::install(PARALLEL_READS, || {
        by_pack
            .into_par_iter()
            .map(|(pack, mut blobs)| {
                blobs.sort_by_key(|b| b.2.offset);
                let mut moved = 0u64;
                for run in runs(&blobs) {
                    moved += copy_run(src, saver, pack, run)?;
                    progress.phase_advance(run.len() as u64);
                }
                Ok::<_, crate::Error>(moved)
            })
            .try_reduce(|| 0, |a, b| Ok(a + b))
    })?;
    progress.phase_finish();
    Ok(moved)
}

/// Splits blobs sorted by offset into runs read with one request each.
fn runs(blobs: &[(BlobType, Id, BlobLocation)]) -> Vec<&[(BlobType, Id, BlobLocation)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=blobs.len() {
        let split = i == blobs.len() || {
            let first = &blobs[start].2;
            let end = blobs[i]
                .2
                .offset
                .saturating_add(u64::from(blobs[i].2.length));
            end.saturating_sub(first.offset) > MAX_READ
        };
        if split {
            out.push(&blobs[start..i]);
            start = i;
        }
    }
    out
}

fn copy_run(
    src: &IndexedRepository,
    saver: &BlobSaver<'_>,
    pack: Id,
    run: &[(BlobType, Id, BlobLocation)],
) -> Result<u64> {
    let Some(first) = run.first().map(|b| b.2.offset) else {
        return Ok(0);
    };
    let corrupt = |reason: String| RepoError::Corrupt {
        file_type: FileType::Pack,
        id: pack,
        reason,
    };
    let mut end = first;
    for (_, id, loc) in run {
        end = end.max(entry_end(id, loc).map_err(|e| corrupt(e.to_string()))?);
    }
    let bytes = src
        .backend()
        .read_range(FileType::Pack, &pack, first, end - first)
        .map_err(RepoError::from)?;
    let ranges = cut(first, bytes.len(), run.iter().map(|(_, id, loc)| (id, loc)));
    let mut moved = 0;
    for ((t, id, loc), range) in run.iter().zip(ranges) {
        let range = range.map_err(|e| corrupt(e.to_string()))?;
        let mut sealed = bytes
            .get(range)
            .ok_or_else(|| corrupt(format!("short read for blob {id}")))?
            .to_vec();
        let ulen: Option<NonZeroU32> = loc.uncompressed_length;
        let plain =
            decode_blob(src.key(), id, ulen, &mut sealed).map_err(|e| RepoError::CorruptBlob {
                blob_type: *t,
                id: *id,
                pack,
                reason: e.to_string(),
            })?;
        moved += plain.len() as u64;
        saver.save_with_id(*t, *id, &plain)?;
    }
    Ok(moved)
}

#[cfg(test)]
mod tests;
