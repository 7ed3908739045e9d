//! `backup`: archive files and directories into a new snapshot.
//!
//! The result is what restic writes: data and tree blobs in separate packs,
//! trees byte-identical to restic's for the same metadata, index files for
//! every pack, and the snapshot last. See [`archiver`] for the pipeline and
//! [`hbk_repo::BlobSaver`] for packing.

pub mod archiver;
pub mod command_input;
pub mod dir_states;
pub mod metadata;
mod options;
pub mod orphans;
pub mod prefetch;
mod read_ahead;
mod source_file;
pub mod targets;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use hbk_backend::limit::Limiter;
use hbk_repo::{BlobSaver, FileType, GoTime, Id, IndexedRepository, SnapshotFile};

use crate::filter::{compile_patterns, matches_any, Pattern};
use crate::lock::{LockKind, WriteMode};
use crate::progress::{Progress, Warning};
use crate::{Error, Result};

use crate::chunker::ChunkerFactory;
use archiver::{Archiver, Counters};
pub use options::{BackupOptions, CompressionMode};

/// Counts the files and bytes below `targets` (skipping what `excludes`
/// matches), reporting through `progress`, so progress can show a
/// percentage. Stops early when `stop` is set, and then returns `false`
/// (the totals are the backup's own). Entries are stat'ed relative to
/// their open directory, so no full path is walked per entry.
fn scan(
    targets: &[PathBuf],
    excludes: &[Pattern],
    stop: &std::sync::atomic::AtomicBool,
    progress: &dyn Progress,
) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let excluded = |p: &std::path::Path| matches_any(excludes, p.as_os_str().as_bytes());
    let (mut files, mut bytes) = (0u64, 0u64);
    let mut dirs: Vec<PathBuf> = Vec::new();
    for target in targets.iter().filter_map(|t| targets::absolute(t).ok()) {
        match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() && !excluded(&target) => dirs.push(target),
            Ok(m) if m.is_file() && !excluded(&target) => {
                files += 1;
                bytes += m.len();
            }
            _ => {}
        }
    }
    let mut last = Instant::now();
    while let Some(dir) = dirs.pop() {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if !(meta.is_dir() || meta.is_file()) {
                continue;
            }
            let path = entry.path();
            if excluded(&path) {
                continue;
            }
            if meta.is_dir() {
                dirs.push(path);
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
        if last.elapsed().as_millis() >= 200 {
            progress.totals(files, bytes, false);
            last = Instant::now();
        }
    }
    progress.totals(files, bytes, true);
    true
}

/// What a backup did, with restic's summary fields.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct BackupSummary {
    /// Files not in the parent.
    pub files_new: u64,
    /// Files changed since the parent.
    pub files_changed: u64,
    /// Files unchanged since the parent.
    pub files_unmodified: u64,
    /// Directories not in the parent.
    pub dirs_new: u64,
    /// Directories changed since the parent.
    pub dirs_changed: u64,
    /// Directories unchanged since the parent.
    pub dirs_unmodified: u64,
    /// New data blobs.
    pub data_blobs: u64,
    /// New tree blobs.
    pub tree_blobs: u64,
    /// Plaintext bytes added.
    pub data_added: u64,
    /// Bytes added to the repository (compressed and encrypted).
    pub data_added_packed: u64,
    /// Files processed.
    pub total_files_processed: u64,
    /// Bytes of files processed.
    pub total_bytes_processed: u64,
    /// Bytes of file content read (0 when nothing changed).
    pub total_bytes_read: u64,
    /// Seconds taken.
    pub total_duration: f64,
    /// When the backup started (restic 0.17+'s summary field).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_start: Option<GoTime>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_end: Option<GoTime>,
    /// The new snapshot (absent in a dry run, and when skipped as
    /// unchanged).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<String>,
    /// No snapshot was written: the tree equals the parent's and
    /// `--skip-if-unchanged` was given.
    #[serde(skip)]
    pub skipped_unchanged: bool,
    /// The parent snapshot used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Items that could not be backed up.
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// The chunker the repository's config asks for.
pub fn chunker_factory(repo: &hbk_repo::Repository) -> Result<ChunkerFactory> {
    crate::chunker::factory(repo.config())
}

/// What a parent snapshot must share with a new backup.
#[derive(Debug, Clone, Copy)]
pub struct ParentCriteria<'a> {
    /// The new snapshot's host.
    pub host: &'a str,
    /// Its sorted paths.
    pub paths: &'a [String],
    /// Its tags.
    pub tags: &'a [String],
    /// Which of those a parent must match (restic's `--group-by`).
    pub group_by: crate::commands::forget::GroupBy,
    /// The new snapshot's time: later snapshots are not parents.
    pub not_after: GoTime,
}

/// The latest snapshot matching `c`, as restic picks the parent: same
/// host and paths by default, and with `--group-by` whichever of host,
/// paths and tags it names.
pub fn find_parent(repo: &IndexedRepository, c: &ParentCriteria<'_>) -> Result<Option<Id>> {
    let mut best: Option<(Id, SnapshotFile)> = None;
    for (id, sn) in repo.snapshots()? {
        let mut p = sn.paths.clone();
        p.sort();
        let matches = (!c.group_by.host || sn.hostname == c.host)
            && (!c.group_by.paths || p == c.paths)
            && (!c.group_by.tags || c.tags.iter().all(|t| sn.tags.contains(t)))
            && sn.time <= c.not_after;
        if matches && best.as_ref().is_none_or(|(_, b)| sn.time > b.time) {
            best = Some((id, sn));
        }
    }
    Ok(best.map(|(id, _)| id))
}

/// What a backup is about, resolved before archiving.
struct Plan {
    time: GoTime,
    host: String,
    paths: Vec<String>,
    parent: Option<Id>,
    parent_tree: Option<Id>,
}

fn plan(repo: &IndexedRepository, paths: Vec<String>, opts: &BackupOptions) -> Result<Plan> {
    let host = opts.host.clone().unwrap_or_else(crate::lock::hostname);
    let time = opts.time.unwrap_or_else(GoTime::now);
    let criteria = ParentCriteria {
        host: &host,
        paths: &paths,
        tags: &opts.tags,
        group_by: opts.group_by,
        not_after: time,
    };
    let parent = match (opts.force, opts.parent) {
        (true, _) => None,
        (false, Some(p)) => Some(p),
        (false, None) => find_parent(repo, &criteria)?,
    };
    let parent_tree = match parent {
        Some(id) => Some(repo.load_snapshot(&id)?.tree),
        None => None,
    };
    Ok(Plan {
        time,
        host,
        paths,
        parent,
        parent_tree,
    })
}

/// The record of directories a backup of `paths` keeps
/// ([`dir_states`]): the last one, when it holds and the backup has a
/// parent, and the one this backup writes. Neither for a dry run (its
/// trees are not stored) nor with `--ignore-ctime` (nodes then take link
/// targets and extended attributes from the files, not the parent).
fn dir_record(
    repo: &IndexedRepository,
    opts: &BackupOptions,
    paths: &[String],
    has_parent: bool,
    dry_run: bool,
) -> (
    Option<dir_states::DirStates>,
    Option<dir_states::DirStateLog>,
) {
    if dry_run || opts.ignore_ctime {
        return (None, None);
    }
    let (Some(dir), Some(index_files)) = (&opts.local_state, repo.known_index_files()) else {
        return (None, None);
    };
    let file = dir_states::file_for(dir, paths);
    let fingerprint = dir_states::fingerprint(opts);
    let last = has_parent
        .then(|| dir_states::DirStates::load(&file, &fingerprint, &index_files))
        .flatten();
    (last, dir_states::DirStateLog::create(&file, fingerprint))
}

fn archiver<'a>(
    repo: &'a IndexedRepository,
    opts: &'a BackupOptions,
    dry_run: bool,
    gate: &'a hbk_repo::WriteGate<'a>,
    progress: &'a dyn Progress,
) -> Result<Archiver<'a>> {
    Ok(Archiver {
        repo,
        saver: BlobSaver::new(
            repo,
            repo.index(),
            opts.pack_size,
            opts.compression.level(),
            dry_run,
        )
        .writing_after(gate),
        opts,
        excludes: compile_patterns(&opts.excludes, &opts.iexcludes)?,
        chunkers: chunker_factory(repo)?,
        names: Default::default(),
        counters: Counters::default(),
        warnings: Mutex::new(Vec::new()),
        progress,
        lists_items: progress.wants_items(),
        read_slots: (opts.read_concurrency > 0).then(|| Limiter::new(opts.read_concurrency)),
        batches: Default::default(),
        open_ahead: Default::default(),
        dir_states: None,
        dir_log: None,
    })
}

fn thread_pool(opts: &BackupOptions) -> Result<rayon::ThreadPool> {
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
    } else {
        opts.threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("hbk-backup-{i}"))
        .build()
        .map_err(|e| Error::ThreadPool(e.to_string()))
}

/// Flushes the packs, writes the snapshot (unless a dry run) and builds
/// the summary.
fn finish(
    repo: &IndexedRepository,
    archiver: Archiver<'_>,
    plan: Plan,
    tree: Id,
    opts: &BackupOptions,
    dry_run: bool,
    start: Instant,
) -> Result<BackupSummary> {
    archiver.saver.flush()?;
    repo.index_files_written(&archiver.saver.written_index_files());
    let c = &archiver.counters;
    let s = &archiver.saver.stats;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let backup_end = GoTime::now();
    let elapsed = chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
    let backup_start = GoTime(backup_end.0 - elapsed);
    let mut summary = BackupSummary {
        files_new: get(&c.files_new),
        files_changed: get(&c.files_changed),
        files_unmodified: get(&c.files_unmodified),
        dirs_new: get(&c.dirs_new),
        dirs_changed: get(&c.dirs_changed),
        dirs_unmodified: get(&c.dirs_unmodified),
        data_blobs: get(&s.data_blobs),
        tree_blobs: get(&s.tree_blobs),
        data_added: get(&s.data_added),
        data_added_packed: get(&s.data_added_packed),
        total_files_processed: get(&c.total_files),
        total_bytes_processed: get(&c.total_bytes),
        total_bytes_read: get(&c.bytes_read),
        total_duration: start.elapsed().as_secs_f64(),
        backup_start: Some(backup_start),
        backup_end: Some(backup_end),
        snapshot_id: None,
        skipped_unchanged: false,
        parent: plan.parent.map(|id| id.to_hex()),
        warnings: Vec::new(),
    };
    if opts.skip_if_unchanged && plan.parent_tree == Some(tree) {
        summary.skipped_unchanged = true;
        commit_dir_record(repo, &archiver);
        summary.warnings = archiver.warnings.into_inner().unwrap_or_default();
        return Ok(summary);
    }
    let snapshot = SnapshotFile {
        time: plan.time,
        parent: plan.parent,
        tree,
        paths: plan.paths,
        hostname: plan.host,
        username: crate::lock::username(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        excludes: opts.excludes.clone(),
        tags: opts.tags.clone(),
        original: None,
        program_version: format!("hbk {}", env!("CARGO_PKG_VERSION")),
        summary: Some(snapshot_summary(&summary)),
        extra: Default::default(),
    };
    if !dry_run {
        let id = repo.save_unpacked(FileType::Snapshot, &snapshot.to_json()?)?;
        summary.snapshot_id = Some(id.to_hex());
        commit_dir_record(repo, &archiver);
    }
    summary.warnings = archiver.warnings.into_inner().unwrap_or_default();
    Ok(summary)
}

/// Puts the backup's record of directories in place of the last one, with
/// the index files it depends on: the repository's at the start and those
/// the backup wrote (noted on the handle by [`finish`]). A record that
/// cannot be written is only a hint lost.
fn commit_dir_record(repo: &IndexedRepository, archiver: &Archiver<'_>) {
    let (Some(log), Some(index_files)) = (&archiver.dir_log, repo.known_index_files()) else {
        return;
    };
    let _ = log.commit(&index_files);
}

/// The statistics restic 0.17+ stores in a snapshot (`summary`), which
/// its `snapshots` command shows as the size.
fn snapshot_summary(s: &BackupSummary) -> serde_json::Value {
    let time = |t: &Option<GoTime>| serde_json::to_value(t).unwrap_or_default();
    serde_json::json!({
        "backup_start": time(&s.backup_start),
        "backup_end": time(&s.backup_end),
        "files_new": s.files_new,
        "files_changed": s.files_changed,
        "files_unmodified": s.files_unmodified,
        "dirs_new": s.dirs_new,
        "dirs_changed": s.dirs_changed,
        "dirs_unmodified": s.dirs_unmodified,
        "data_blobs": s.data_blobs,
        "tree_blobs": s.tree_blobs,
        "data_added": s.data_added,
        "data_added_packed": s.data_added_packed,
        "total_files_processed": s.total_files_processed,
        "total_bytes_processed": s.total_bytes_processed,
    })
}

/// The warning for a source that does not exist (restic's words).
const MISSING_SOURCE: &str = "does not exist, skipping";

/// What the saver asks before each write: whether the lock is held (its
/// final check may still run when the backup starts, see
/// [`crate::lock::RepoLock::acquire_early`]).
fn lock_gate(mode: WriteMode<'_>) -> impl Fn() -> hbk_repo::Result<()> + Sync + '_ {
    move || {
        mode.confirmed()
            .map_err(|e| hbk_repo::Error::Other(e.to_string()))
    }
}

/// `result`, unless the lock turned out not to be held: then that is the
/// error (the saver's own error only said that it stopped writing).
fn lock_error_first<T>(mode: WriteMode<'_>, result: Result<T>) -> Result<T> {
    if result.is_err() {
        mode.confirmed()?;
    }
    result
}

/// Backs up `targets` into a new snapshot.
pub fn backup(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    targets: &[PathBuf],
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupSummary> {
    lock_error_first(mode, backup_locked(repo, mode, targets, opts, progress))
}

fn backup_locked(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    targets: &[PathBuf],
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupSummary> {
    let start = Instant::now();
    let (targets, missing) = targets::split_missing(targets);
    if targets.is_empty() && !missing.is_empty() {
        for m in &missing {
            progress.warning(&Warning {
                path: m.clone(),
                message: MISSING_SOURCE.into(),
            });
        }
        return Err(Error::NoSourceData);
    }
    mode.require(repo.repository(), LockKind::Shared)?;
    let dry_run = mode.is_dry_run();
    let root = targets::build(&targets)?;
    let mut paths = targets
        .iter()
        .map(|t| targets::absolute(t).map(|p| p.to_string_lossy().into_owned()))
        .collect::<Result<Vec<_>>>()?;
    paths.sort();
    paths.dedup();
    let plan = plan(repo, paths, opts)?;
    let gate = lock_gate(mode);
    let mut archiver = archiver(repo, opts, dry_run, &gate, progress)?;
    let has_parent = plan.parent_tree.is_some();
    (archiver.dir_states, archiver.dir_log) =
        dir_record(repo, opts, &plan.paths, has_parent, dry_run);
    for m in &missing {
        archiver.warn(m, MISSING_SOURCE);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let pool = thread_pool(opts)?;
    let tree = std::thread::scope(|s| {
        let scanner = (!opts.no_scan)
            .then(|| s.spawn(|| scan(&targets, &archiver.excludes, &stop, progress)));
        let tree = pool.install(|| archiver.archive_root(&root, plan.parent_tree.as_ref()));
        stop.store(true, Ordering::Relaxed);
        if scanner.is_some_and(|s| !s.join().unwrap_or(false)) && tree.is_ok() {
            // The backup got through before the scan: its counts are the
            // totals.
            let c = &archiver.counters;
            let total = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
            progress.totals(total(&c.total_files), total(&c.total_bytes), true);
        }
        tree
    })?;
    // The snapshot is written even when no pack was: the lock first.
    mode.confirmed()?;
    finish(repo, archiver, plan, tree, opts, dry_run, start)
}

/// Backs up everything `reader` yields as one file named `filename` at the
/// root of a new snapshot (restic's `backup --stdin`).
pub fn backup_stdin<R: Read + Send>(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    reader: R,
    filename: &str,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupSummary> {
    let result = backup_stdin_locked(repo, mode, reader, filename, opts, progress);
    lock_error_first(mode, result)
}

fn backup_stdin_locked<R: Read + Send>(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    reader: R,
    filename: &str,
    opts: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupSummary> {
    let start = Instant::now();
    if filename.is_empty() || filename.contains('/') {
        return Err(Error::invalid(
            "file name",
            format!("invalid file name {filename:?} for standard input"),
        ));
    }
    mode.require(repo.repository(), LockKind::Shared)?;
    let dry_run = mode.is_dry_run();
    let plan = plan(repo, vec![format!("/{filename}")], opts)?;
    let gate = lock_gate(mode);
    let archiver = archiver(repo, opts, dry_run, &gate, progress)?;
    // Chunks are processed in parallel on rayon's global pool while the
    // next batch is read.
    let started = archiver.clock();
    let content = archiver
        .read_stream(reader)?
        .map_err(|e| Error::io("stdin", e))?;
    let size = content.size;
    let now = GoTime::now();
    let uid = nix::unistd::getuid().as_raw();
    let gid = nix::unistd::getgid().as_raw();
    let node = hbk_repo::Node {
        mode: 0o644,
        mtime: now,
        atime: now,
        ctime: now,
        uid,
        gid,
        user: archiver.names.user(uid),
        group: archiver.names.group(gid),
        size,
        content: Some(content.ids),
        ..hbk_repo::Node::new(filename.as_bytes().to_vec(), hbk_repo::NodeType::File)
    };
    archiver.stdin_done(filename, content.added, started);
    archiver.counters.files_new.fetch_add(1, Ordering::Relaxed);
    archiver
        .counters
        .total_files
        .fetch_add(1, Ordering::Relaxed);
    archiver
        .counters
        .total_bytes
        .fetch_add(size, Ordering::Relaxed);
    let (tree, _) = archiver.save_tree(vec![node])?;
    // The snapshot is written even when no pack was: the lock first.
    mode.confirmed()?;
    finish(repo, archiver, plan, tree, opts, dry_run, start)
}
