//! The plan's steps that act on repositories, as plain functions over
//! hbk-engine. The pipeline calls only these, so wiring a new engine
//! command is a change in this file alone.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use hbk_backend::RepoSpec;
use hbk_engine::commands::backup::{backup, BackupOptions, BackupSummary};
use hbk_engine::commands::check::{check, CheckOptions, CheckReport, ReadData};
use hbk_engine::commands::copy::{copy, plan_copies, CopyOptions};
use hbk_engine::commands::forget::{decide, forget, ForgetOptions, ForgetReport, KeepPolicy};
use hbk_engine::commands::prune::{prune, prune_dry_run, prune_plan, PruneOptions};
use hbk_engine::commands::repair::packs::{find_packs_to_repair, repair_packs};
use hbk_engine::lock::{LockKind, RepoLock, WriteMode};
use hbk_engine::progress::{CopyOutcome as EngineCopyOutcome, NoProgress};
use hbk_engine::snapshots::{list_snapshots, SnapshotFilter};
use hbk_repo::{GoTime, Id, Repository, SnapshotFile};

use crate::config::Retention;
use crate::secret::Secret;
use crate::{Error, Result};

/// A repository the run may use: it passed preflight and is open (its
/// key was derived once; every step works on a clone of the handle).
#[derive(Debug, Clone)]
pub struct RepoTarget {
    /// Its name in the plan.
    pub name: String,
    /// Its location, for messages (no secrets).
    pub location: String,
    /// Its password.
    pub password: Secret,
    /// The repository as the server holds it (what `check` reads).
    uncached: Repository,
    /// The same behind the metadata cache, if it has one.
    repo: Repository,
    /// Its directory of the local cache, where backups keep their record
    /// of directories ([`RepoSpec::local_state_dir`]).
    local_state: Option<std::path::PathBuf>,
}

impl RepoTarget {
    /// Opens the repository as `spec` says (reads its config and key;
    /// writes nothing but the local metadata cache).
    pub fn connect(name: &str, spec: &RepoSpec, password: Secret) -> Result<RepoTarget> {
        let uncached = spec
            .open_uncached(password.expose().as_bytes())
            .map_err(|e| match e {
                hbk_backend::Error::Repository(e) => Error::Repo(e),
                e => Error::Other(e.to_string()),
            })?;
        Ok(RepoTarget {
            name: name.to_string(),
            location: spec.location().to_string(),
            password,
            repo: spec.with_cache(uncached.clone()),
            local_state: spec.local_state_dir(&uncached),
            uncached,
        })
    }

    /// The open repository.
    pub fn open(&self) -> Result<Repository> {
        Ok(self.repo.clone())
    }

    /// The open repository without the metadata cache: what `check`
    /// must read, like `hbk check`.
    pub fn open_uncached(&self) -> Repository {
        self.uncached.clone()
    }
}

/// What one source's backup is.
#[derive(Debug, Clone)]
pub struct BackupJob {
    /// Paths to back up.
    pub paths: Vec<PathBuf>,
    /// Exclude patterns.
    pub excludes: Vec<String>,
    /// Tags (the plan's and the source's first).
    pub tags: Vec<String>,
    /// Host name recorded, if not this machine's.
    pub host: Option<String>,
    /// Snapshot time (the run's time).
    pub time: DateTime<Utc>,
    /// Ignore ctime when deciding whether a file changed (PBS chunks).
    pub ignore_ctime: bool,
    /// Stay on each path's file system.
    pub one_file_system: bool,
}

/// Backs up one source into `repo` under a shared lock.
pub fn backup_source(repo: &RepoTarget, job: &BackupJob) -> Result<BackupSummary> {
    let indexed = repo.open()?.into_indexed()?;
    let lock = RepoLock::acquire(&indexed, LockKind::Shared)?;
    let opts = BackupOptions {
        tags: job.tags.clone(),
        host: job.host.clone(),
        time: Some(GoTime(job.time.fixed_offset())),
        excludes: job.excludes.clone(),
        ignore_ctime: job.ignore_ctime,
        one_file_system: job.one_file_system,
        // Nothing shows progress: no walk for totals.
        no_scan: true,
        local_state: repo.local_state.clone(),
        ..BackupOptions::default()
    };
    Ok(backup(
        &indexed,
        WriteMode::Locked(&lock),
        &job.paths,
        &opts,
        &NoProgress,
    )?)
}

/// The filter selecting this plan's snapshots.
pub fn plan_filter(tag: &str) -> SnapshotFilter {
    SnapshotFilter {
        tags: vec![vec![tag.to_string()]],
        ..SnapshotFilter::default()
    }
}

/// `forget` with the repository's policy, limited to this plan's
/// snapshots (tag `plan_tag`).
pub fn forget_plan_snapshots(
    repo: &RepoTarget,
    retention: &Retention,
    plan_tag: &str,
    dry_run: bool,
) -> Result<ForgetReport> {
    if retention.policy.is_empty() {
        // No retention for this repository: keep everything (forget
        // itself refuses an empty policy, as restic does).
        return Ok(ForgetReport {
            policy_empty: true,
            ..ForgetReport::default()
        });
    }
    let r = repo.open()?;
    let opts = ForgetOptions {
        policy: retention.policy.clone(),
        filter: plan_filter(plan_tag),
        ..ForgetOptions::default()
    };
    if dry_run {
        return Ok(forget(&r, WriteMode::DryRun, &opts)?);
    }
    let lock = RepoLock::acquire(&r, LockKind::Exclusive)?;
    Ok(forget(&r, WriteMode::Locked(&lock), &opts)?)
}

/// What a prune freed.
#[derive(Debug, Clone, Default)]
pub struct PruneOutcome {
    /// Bytes removed from the repository.
    pub bytes_freed: u64,
}

/// `prune`: remove data no snapshot needs, planned and carried out under
/// one exclusive lock. A dry run is the engine's no-lock dry run
/// ([`prune_dry_run`]): it decides and writes nothing.
pub fn prune_repository(repo: &RepoTarget, dry_run: bool) -> Result<PruneOutcome> {
    let r = repo.open()?;
    let opts = PruneOptions::default();
    if dry_run {
        prune_dry_run(&r, true, &opts, &NoProgress)?;
        return Ok(PruneOutcome { bytes_freed: 0 });
    }
    let lock = RepoLock::acquire(&r, LockKind::Exclusive)?;
    let plan = prune_plan(&r, Some(&lock), &opts, &NoProgress)?;
    let report = prune(&r, &lock, plan, &NoProgress)?;
    Ok(PruneOutcome {
        bytes_freed: report.plan.bytes_freed(),
    })
}

/// What a copy did.
#[derive(Debug, Clone, Default)]
pub struct CopyOutcome {
    /// Snapshots copied.
    pub snapshots: Vec<String>,
    /// Bytes of new data stored in the target.
    pub bytes_added: u64,
}

/// `copy`: the snapshots `ids` of `from` (full hex ids: every snapshot of
/// this plan in the primary) into `to`, skipping those `to` already holds,
/// under shared locks on both. `CopyOutcome::snapshots` lists the ones
/// copied (or, in a dry run, that would be; a dry run writes nothing).
pub fn copy_snapshots(
    from: &RepoTarget,
    to: &RepoTarget,
    ids: &[String],
    dry_run: bool,
) -> Result<CopyOutcome> {
    let src = from.open()?;
    let dst = to.open()?;
    let opts = CopyOptions {
        ids: ids.to_vec(),
        pack_size: 16 << 20,
        level: Some(3),
        ..CopyOptions::default()
    };
    if ids.is_empty() {
        return Ok(CopyOutcome::default());
    }
    if dry_run {
        let pending = plan_copies(&src, &dst, &opts)?;
        return Ok(CopyOutcome {
            snapshots: pending
                .into_iter()
                .filter(|p| p.already_in_target.is_none())
                .map(|p| p.id.to_hex())
                .collect(),
            bytes_added: 0,
        });
    }
    let src_lock = RepoLock::acquire(&src, LockKind::Shared)?;
    let dst_lock = RepoLock::acquire(&dst, LockKind::Shared)?;
    let pending = plan_copies(&src, &dst, &opts)?;
    let src = src.into_indexed()?;
    let dst = dst.into_indexed()?;
    let mut outcome = CopyOutcome::default();
    for (id, result) in copy(
        &src,
        &src_lock,
        &dst,
        &dst_lock,
        pending,
        &opts,
        &NoProgress,
    )? {
        if let EngineCopyOutcome::Copied { bytes, .. } = result {
            outcome.snapshots.push(id.to_hex());
            outcome.bytes_added += bytes;
        }
    }
    Ok(outcome)
}

/// What healing a repository did.
#[derive(Debug, Clone, Default)]
pub struct HealOutcome {
    /// Packs found damaged or missing.
    pub packs: usize,
    /// Blobs stored again (from the damaged packs or the source).
    pub salvaged: usize,
    /// Of those, blobs taken from the source.
    pub healed: usize,
    /// Snapshot paths that used blobs no repository could give back.
    pub lost_paths: Vec<String>,
}

/// Heals `repo` from `source` (a repository holding the same blob ids),
/// under an exclusive lock: the blobs of the damaged or missing packs are
/// stored again, from the packs where they still verify, else from
/// `source`. The packs are `known` ones (as a check named them), or, when
/// none are known, those a check reading every pack finds. Copies of the
/// damaged packs go to `copies_to` first.
pub fn heal_repository(
    repo: &RepoTarget,
    source: &RepoTarget,
    known: &[Id],
    copies_to: &std::path::Path,
) -> Result<HealOutcome> {
    let r = repo.open_uncached();
    let lock = RepoLock::acquire(&r, LockKind::Exclusive)?;
    let packs = match known.is_empty() {
        false => known.to_vec(),
        true => find_packs_to_repair(&r)?,
    };
    if packs.is_empty() {
        return Ok(HealOutcome::default());
    }
    let src = source.open()?;
    let _src_lock = RepoLock::acquire(&src, LockKind::Shared)?;
    let src = src.into_indexed()?;
    std::fs::create_dir_all(copies_to).map_err(|e| Error::io(copies_to, e))?;
    let done = repair_packs(&r, &lock, &packs, Some(copies_to), Some(&src), &mut |_| {})?;
    Ok(HealOutcome {
        packs: packs.len(),
        salvaged: done.salvaged,
        healed: done.healed,
        lost_paths: done
            .affected
            .iter()
            .map(|a| format!("{} {}", a.snapshot.short(), a.path))
            .collect(),
    })
}

/// `check`, reading `subset` of the data.
pub fn check_repository(repo: &RepoTarget, subset: ReadData) -> Result<CheckReport> {
    let r = repo.open_uncached();
    let opts = CheckOptions {
        read_data: subset,
        ..Default::default()
    };
    Ok(check(&r, &opts, &NoProgress)?)
}

/// The ids of the snapshots in `list` that `policy` keeps (all of
/// them when it has no keep rules), decided as the target's own `forget`
/// decides. A copy target is offered only these: copying what its
/// retention forgets right after would copy it again on every run.
pub fn kept_by(policy: &KeepPolicy, list: &[(Id, SnapshotFile)]) -> Vec<String> {
    let report = decide(
        list.to_vec(),
        policy,
        ForgetOptions::default().group_by,
        GoTime::now().0,
    );
    let removed: std::collections::HashSet<Id> = report.removed.into_iter().collect();
    list.iter()
        .filter(|(id, _)| !removed.contains(id))
        .map(|(id, _)| id.to_hex())
        .collect()
}

/// This plan's snapshots in `repo`, oldest first.
pub fn plan_snapshots(repo: &RepoTarget, plan_tag: &str) -> Result<Vec<(Id, SnapshotFile)>> {
    let r = repo.open()?;
    let mut s = list_snapshots(&r, &plan_filter(plan_tag))?;
    s.sort_by_key(|(_, sn)| sn.time.0);
    Ok(s)
}

/// Bytes the repository's packs take (one listing).
pub fn repository_size(repo: &RepoTarget) -> Result<u64> {
    let r = repo.open_uncached();
    Ok(r.list(hbk_repo::FileType::Pack)?
        .iter()
        .map(|(_, size)| *size)
        .sum())
}
