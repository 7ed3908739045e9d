//! `prune`: remove data no snapshot needs.
//!
//! Plan, then execute. [`prune_plan`] loads the index and every snapshot,
//! finds the blobs the snapshots reach and decides per pack ([`plan`]);
//! [`prune`], under the exclusive lock the plan was made under, copies the
//! used blobs out of the packs chosen for repacking, then
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

use crate::lock::{self, LockKind, RepoLock};
use crate::progress::Progress;
use crate::reachable::reachable_blobs;
use crate::{Damage, Error, Result};

/// Index files written by prune hold at most this many blobs.
const INDEX_MAX_BLOBS: usize = 50_000;

/// Options of [`prune_plan`], as restic's flags.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// What to repack and how much unused space to accept.
    pub plan: PlanOptions,
    /// restic's `--unsafe-recover-no-free-space`, for a repository on a
    /// full disk: nothing is repacked (no new pack needs room), the old
    /// index files go first and the new index is written last. An
    /// interruption in between leaves a repository without an index,
    /// which `repair index` rebuilds from the packs.
    pub unsafe_recovery: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            plan: PlanOptions {
                pack_size: 16 << 20,
                ..PlanOptions::default()
            },
            unsafe_recovery: false,
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

/// Everything prune decided, with what carrying it out needs: made by
/// [`prune_plan`], consumed by [`prune`] (or reported as a dry run), so
/// nothing is decided twice.
#[derive(Debug, Clone)]
pub struct PreparedPrune {
    snapshots: usize,
    plan: PrunePlan,
    pack_size: u64,
    unsafe_recovery: bool,
    made_under: Option<u64>,
}

impl PreparedPrune {
    /// The decision and its statistics.
    pub fn plan(&self) -> &PrunePlan {
        &self.plan
    }

    /// The report of a dry run: the decision, nothing done.
    pub fn into_dry_run_report(self) -> PruneReport {
        PruneReport {
            snapshots: self.snapshots,
            plan: self.plan,
            dry_run: true,
            ..PruneReport::default()
        }
    }
}

/// Decides what prune does; reads the repository, writes nothing. `lock`
/// is the exclusive lock the result is to be carried out under (so no
/// backup adds references to packs about to go between deciding and
/// doing); `None` makes a plan that can only be reported
/// ([`PreparedPrune::into_dry_run_report`]). Fails, before any change,
/// when packs or blobs are missing.
pub fn prune_plan(
    repo: &Repository,
    lock: Option<&RepoLock>,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PreparedPrune> {
    if let Some(lock) = lock {
        lock.require(repo, LockKind::Exclusive)?;
    }
    opts.plan.validate()?;
    let v2 = repo.config().version >= 2;
    if opts.plan.repack_uncompressed && !v2 {
        return Err(Error::NeedsRepositoryV2 {
            what: "repacking uncompressed data",
        });
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
    let mut plan_opts = opts.plan;
    if opts.unsafe_recovery {
        // Repacking writes before it frees: never on a full disk.
        plan_opts.max_repack_size = Some(0);
    }
    let plan = plan::plan(&index_files, &stored, &used, v2, &plan_opts);
    drop(index_files);
    if let Some(id) = plan.missing.first() {
        return Err(Error::RepositoryDamaged(Damage::MissingPacks {
            count: plan.missing.len(),
            first: *id,
        }));
    }
    if let Some(first) = plan.missing_blobs.first() {
        return Err(Error::RepositoryDamaged(Damage::MissingBlobs {
            count: plan.missing_blobs.len(),
            first: *first,
        }));
    }
    Ok(PreparedPrune {
        snapshots: snapshots.len(),
        plan,
        pack_size: opts.plan.pack_size,
        unsafe_recovery: opts.unsafe_recovery,
        made_under: lock::token_of(lock),
    })
}

/// Prune's dry run, one rule for the CLI and the plan: decide and report,
/// change no data. Unless `no_lock`, it holds an exclusive lock while
/// deciding, as restic does, so a concurrent backup cannot overtake the
/// numbers; with `no_lock` (restic ≥ 0.16's `prune --dry-run --no-lock`,
/// and the plan's dry runs) it writes nothing at all, not even a lock.
pub fn prune_dry_run(
    repo: &Repository,
    no_lock: bool,
    opts: &PruneOptions,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    let lock = if no_lock {
        None
    } else {
        Some(RepoLock::acquire(repo, LockKind::Exclusive)?)
    };
    Ok(prune_plan(repo, lock.as_ref(), opts, progress)?.into_dry_run_report())
}

/// Carries out `prepared`, which must have been made by [`prune_plan`]
/// under `lock` (an exclusive lock on `repo`).
pub fn prune(
    repo: &Repository,
    lock: &RepoLock,
    prepared: PreparedPrune,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    lock.require(repo, LockKind::Exclusive)?;
    if !lock::same_lock(lock, prepared.made_under) {
        return Err(Error::WrongLock {
            reason: "the prune plan was not made under this lock".into(),
        });
    }
    let PreparedPrune {
        snapshots,
        plan,
        pack_size,
        unsafe_recovery,
        ..
    } = prepared;
    let mut report = PruneReport {
        snapshots,
        ..Default::default()
    };
    if plan.is_noop() {
        report.plan = plan;
        return Ok(report);
    }

    if unsafe_recovery {
        return prune_to_free_space(repo, plan, report, progress);
    }
    let new_packs = repack::repack(repo, &plan.repack, pack_size, progress)?;
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

/// [`prune`] on a full disk: delete first (old index files, then unused
/// packs), write the new index last. The plan repacks nothing.
fn prune_to_free_space(
    repo: &Repository,
    plan: PrunePlan,
    mut report: PruneReport,
    progress: &dyn Progress,
) -> Result<PruneReport> {
    // The plan was made with no room to repack: every pack it keeps is
    // in `keep`, so the new index lists all of them.
    if !plan.repack.is_empty() {
        return Err(Error::invalid(
            "prune plan",
            "a plan that repacks cannot run without free space",
        ));
    }
    let old_index: Vec<Id> = repo
        .list(FileType::Index)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    report.index_removed = remove_all(
        repo,
        FileType::Index,
        &old_index,
        "deleting index files",
        progress,
    )?;
    let packs: Vec<Id> = plan
        .remove
        .iter()
        .map(|r| r.0)
        .chain(plan.unreferenced.iter().map(|r| r.0))
        .collect();
    report.packs_removed = remove_all(repo, FileType::Pack, &packs, "deleting packs", progress)?;
    report.index_written = write_index(repo, plan.keep.iter(), progress)?.len();
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
