//! `prune`: remove data no snapshot needs.
//!
//! Under an exclusive lock: load the index and every snapshot, find the
//! blobs the snapshots reach, decide per pack ([`plan`]), copy the used
//! blobs out of the packs chosen for repacking, then
//!
//! 1. write a complete new index (kept packs and new packs),
//! 2. delete the index files that existed before it,
//! 3. delete the packs no index file mentions any more.
//!
//! The order makes every intermediate state a valid repository: until
//! step 2 ends, old and new index files overlap and describe only packs
//! that exist; packs are deleted only after no index refers to them. A
//! killed prune leaves at worst duplicates and unreferenced packs, which
//! the next prune removes.

mod plan;
mod repack;

use hbk_repo::{FileType, Id, Index, IndexFile, IndexPack, IndexedRepository, Repository};

pub use plan::{plan, Amount, PlanOptions, PrunePlan, Repack, UnusedLimit, SMALL_PACK_PERCENT};

use crate::lock::RepoLock;
use crate::progress::Progress;
use crate::reachable::reachable_blobs;
use crate::{Error, Result};

/// Index files written by prune hold at most this many blobs.
const INDEX_MAX_BLOBS: usize = 50_000;

/// Options of [`prune`], as restic's flags.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// What to repack and how much unused space to accept.
    pub plan: PlanOptions,
    /// Decide and report, change nothing.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            plan: PlanOptions {
                pack_size: 16 << 20,
                ..PlanOptions::default()
            },
            dry_run: false,
        }
    }
}

/// What prune decided and did.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Snapshots whose data was kept.
    pub snapshots: usize,
    /// The decision and its statistics.
    pub plan: PrunePlan,
    /// New packs written by repacking.
    pub packs_written: usize,
    /// Index files written.
    pub index_written: usize,
    /// Index files deleted.
    pub index_removed: usize,
    /// Packs deleted.
    pub packs_removed: usize,
    /// Whether nothing was changed on purpose.
    pub dry_run: bool,
}

/// Prunes under an exclusive lock (taken for a dry run too, as restic
/// does, so the numbers are not overtaken by a concurrent backup).
pub fn prune(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let _lock = RepoLock::acquire(repo, true)?;
    prune_locked(repo, opts, progress)
}

/// [`prune`] for a caller that holds an exclusive lock already (`forget
/// --prune`).
pub fn prune_locked(
    repo: &Repository,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let v2 = repo.config().version >= 2;
    if opts.plan.repack_uncompressed && !v2 {
        return Err(Error::InvalidOptions(
            "--repack-uncompressed needs a repository of version 2; upgrade it first".into(),
        ));
    }
    let index_files: Vec<IndexFile> = repo.index_files()?.into_iter().map(|(_, f)| f).collect();
    let indexed = IndexedRepository::with_index(repo.clone(), Index::from_files(&index_files));

    // Any snapshot that cannot be read stops prune: its data must stay.
    let snapshots = repo.snapshots()?;
    progress.phase_start("finding data in use", None);
    let used = reachable_blobs(
        &indexed,
        snapshots.iter().map(|s| s.1.tree),
        &|_| false,
        &|| progress.phase_advance(1),
    )?;
    progress.phase_finish();
    drop(indexed);

    let stored = repo.list(FileType::Pack)?;
    let plan = plan::plan(&index_files, &stored, &used, v2, &opts.plan);
    drop(index_files);
    if let Some(id) = plan.missing.first() {
        return Err(Error::InvalidOptions(format!(
            "{} pack(s) listed in the index are missing from the repository (first: {id}); \
             run `hbk repair index` first",
            plan.missing.len()
        )));
    }
    if let Some((t, id)) = plan.missing_blobs.first() {
        return Err(Error::InvalidOptions(format!(
            "{} blob(s) used by snapshots are not in the index (first: {t} {id}); \
             run `hbk repair index` and `hbk check`",
            plan.missing_blobs.len()
        )));
    }
    let mut report = PruneReport {
        snapshots: snapshots.len(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if opts.dry_run || plan.is_noop() {
        report.plan = plan;
        return Ok(report);
    }

    let new_packs = repack::repack(repo, &plan.repack, opts.plan.pack_size, progress)?;
    report.packs_written = new_packs.len();

    let old_index = repo.list(FileType::Index)?;
    let written = write_index(repo, plan.keep.iter().chain(&new_packs), progress)?;
    report.index_written = written.len();

    let obsolete: Vec<Id> = old_index
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| !written.contains(id))
        .collect();
    report.index_removed = remove_all(
        repo,
        FileType::Index,
        &obsolete,
        "deleting old index files",
        progress,
    )?;

    let packs: Vec<Id> = plan
        .repack
        .iter()
        .map(|r| r.pack)
        .chain(plan.remove.iter().map(|r| r.0))
        .chain(plan.unreferenced.iter().map(|r| r.0))
        .collect();
    report.packs_removed = remove_all(repo, FileType::Pack, &packs, "deleting packs", progress)?;
    report.plan = plan;
    Ok(report)
}

/// Writes index files describing `packs`; returns their ids.
fn write_index<'a>(
    repo: &Repository,
    packs: impl Iterator<Item = &'a IndexPack>,
    progress: &dyn Progress,
) -> Result<Vec<Id>> {
    progress.phase_start("writing index", None);
    let mut written = Vec::new();
    let mut file = IndexFile::default();
    let mut blobs = 0;
    let mut save = |file: &mut IndexFile| -> Result<()> {
        let f = std::mem::take(file);
        written.push(repo.save_unpacked(FileType::Index, &f.to_json()?)?);
        progress.phase_advance(1);
        Ok(())
    };
    for p in packs {
        blobs += p.blobs.len();
        file.packs.push(p.clone());
        if blobs >= INDEX_MAX_BLOBS {
            save(&mut file)?;
            blobs = 0;
        }
    }
    if !file.packs.is_empty() {
        save(&mut file)?;
    }
    progress.phase_finish();
    Ok(written)
}

/// Deletes files; one already gone counts as deleted (a previous prune
/// may have been interrupted after deleting it).
fn remove_all(
    repo: &Repository,
    t: FileType,
    ids: &[Id],
    phase: &str,
    progress: &dyn Progress,
) -> Result<usize> {
    progress.phase_start(phase, Some(ids.len() as u64));
    for id in ids {
        match repo.backend().remove(t, id) {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(hbk_repo::Error::from(e).into()),
        }
        progress.phase_advance(1);
    }
    progress.phase_finish();
    Ok(ids.len())
}

#[cfg(test)]
mod tests;
