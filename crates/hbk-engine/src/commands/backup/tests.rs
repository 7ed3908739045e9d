//! Backup through a library handle: what one command writes, the next sees.

use std::path::PathBuf;

use crate::commands::backup::{backup, BackupOptions};
use crate::commands::restore::{restore, RestoreOptions};
use crate::lock::{LockKind, RepoLock, WriteMode};
use crate::progress::NoProgress;
use crate::snapshots::{find_snapshot, SnapshotFilter};
use crate::testutil::TestRepo;

#[test]
fn backup_then_restore_on_one_handle() {
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("a.txt"), b"first file").unwrap();
    std::fs::create_dir(source.path().join("sub")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(source.path().join("sub/b.bin"), &big).unwrap();
    let targets = [source.path().to_path_buf()];

    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let summary = backup(
        &repo,
        mode,
        &targets,
        &BackupOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert!(summary.snapshot_id.is_some());
    assert!(summary.data_blobs > 0);

    let (_target, restored, files) = restore_latest(&repo, source.path());
    assert_eq!(files, 2);
    assert_eq!(
        std::fs::read(restored.join("a.txt")).unwrap(),
        b"first file"
    );
    assert_eq!(std::fs::read(restored.join("sub/b.bin")).unwrap(), big);

    // The handle also knows the blobs for deduplication: no data is added
    // (a tree may be, as /tmp itself changed).
    let again = backup(
        &repo,
        mode,
        &targets,
        &BackupOptions::default(),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(again.data_blobs, 0);
}

/// Restores the latest snapshot into a fresh directory (kept alive by the
/// first value): where the backed-up directory `source` landed, and how
/// many files were restored.
fn restore_latest(
    repo: &hbk_repo::IndexedRepository,
    source: &std::path::Path,
) -> (tempfile::TempDir, PathBuf, u64) {
    let (_, latest) = find_snapshot(repo, "latest", &SnapshotFilter::default()).unwrap();
    let target = tempfile::tempdir().unwrap();
    let stats = restore(
        repo,
        &latest.tree,
        target.path(),
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let restored = target.path().join(source.strip_prefix("/").unwrap());
    (target, restored, stats.files)
}

/// The tree of the backed-up directory `source` in snapshot `tree`.
fn source_tree(
    repo: &hbk_repo::IndexedRepository,
    root: hbk_repo::Id,
    source: &std::path::Path,
) -> hbk_repo::Tree {
    repo.tree(&source_tree_id(repo, root, source)).unwrap()
}

/// The id of [`source_tree`] (the snapshot's root changes with the
/// directories above the source, such as `/tmp`, which other tests
/// change).
fn source_tree_id(
    repo: &hbk_repo::IndexedRepository,
    root: hbk_repo::Id,
    source: &std::path::Path,
) -> hbk_repo::Id {
    let mut id = root;
    for part in source.iter().skip(1) {
        let tree = repo.tree(&id).unwrap();
        let node = tree
            .nodes
            .iter()
            .find(|n| n.name == part.as_encoded_bytes())
            .unwrap();
        id = node.subtree.unwrap();
    }
    id
}

/// The walk takes the listings a prefetch made instead of listing again:
/// a file created after the prefetch listed its directory is not seen by
/// that backup (as if it had come a little later), and is by the next.
#[test]
fn a_backup_takes_the_listings_made_ahead() {
    use crate::commands::backup::prefetch::MetadataPrefetch;
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir(source.path().join("sub")).unwrap();
    std::fs::write(source.path().join("sub/a"), b"a").unwrap();
    let targets = [source.path().to_path_buf()];
    let prefetch = MetadataPrefetch::start(&targets, 2);
    prefetch.wait();
    std::fs::write(source.path().join("sub/late"), b"late").unwrap();
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let names = |opts: &BackupOptions| {
        let s = backup(&repo, mode, &targets, opts, &NoProgress).unwrap();
        let id: hbk_repo::Id = s.snapshot_id.unwrap().parse().unwrap();
        let root = source_tree(&repo, repo.load_snapshot(&id).unwrap().tree, source.path());
        let sub = root.nodes.iter().find(|n| n.name == b"sub").unwrap();
        let sub = repo.tree(&sub.subtree.unwrap()).unwrap();
        sub.nodes.into_iter().map(|n| n.name).collect::<Vec<_>>()
    };
    let with_listings = BackupOptions {
        no_scan: true,
        listings: Some(prefetch.listings()),
        ..BackupOptions::default()
    };
    assert_eq!(names(&with_listings), [b"a".to_vec()]);
    let sub = crate::commands::backup::targets::absolute(&source.path().join("sub")).unwrap();
    assert!(
        prefetch.listings().take(&sub, 0).is_none(),
        "listing not taken"
    );
    assert_eq!(names(&with_listings), [b"a".to_vec(), b"late".to_vec()]);
}

/// A directory an exclude rule leaves out is let go by the prefetch: its
/// listing (and those below it) would otherwise stay kept, never taken.
#[test]
fn an_excluded_directory_is_let_go_by_the_prefetch() {
    use crate::commands::backup::prefetch::MetadataPrefetch;
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(source.path().join("cache/deep")).unwrap();
    std::fs::write(source.path().join("cache/deep/x"), b"x").unwrap();
    std::fs::write(source.path().join("a"), b"a").unwrap();
    let targets = [source.path().to_path_buf()];
    let prefetch = MetadataPrefetch::start(&targets, 2);
    prefetch.wait();
    let cache = crate::commands::backup::targets::absolute(&source.path().join("cache")).unwrap();
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let opts = BackupOptions {
        no_scan: true,
        excludes: vec![cache.to_string_lossy().into_owned()],
        listings: Some(prefetch.listings()),
        ..BackupOptions::default()
    };
    backup(
        &repo,
        WriteMode::Locked(&lock),
        &targets,
        &opts,
        &NoProgress,
    )
    .unwrap();
    let listings = prefetch.listings();
    assert!(listings.take(&cache, 0).is_none(), "excluded listing kept");
    assert!(listings.take(&cache.join("deep"), 0).is_none());
}

/// An unchanged directory reuses the parent's tree; a change that only
/// moves the ctime (an extended attribute, a mode) is still seen,
/// although unchanged entries' xattrs are taken from the parent.
#[test]
fn unchanged_trees_are_reused_and_metadata_changes_are_seen() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    let file = source.path().join("sub/f.txt");
    std::fs::create_dir(source.path().join("sub")).unwrap();
    std::fs::write(&file, b"content").unwrap();
    std::fs::write(source.path().join("g.txt"), b"other").unwrap();
    let xattrs = xattr::set(&file, "user.hbk", b"one").is_ok();
    let targets = [source.path().to_path_buf()];
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let opts = BackupOptions {
        no_scan: true,
        ..BackupOptions::default()
    };
    let run = || {
        let s = backup(&repo, mode, &targets, &opts, &NoProgress).unwrap();
        let id: hbk_repo::Id = s.snapshot_id.unwrap().parse().unwrap();
        repo.load_snapshot(&id).unwrap().tree
    };
    let first = source_tree(&repo, run(), source.path());
    let second = source_tree(&repo, run(), source.path());
    assert_eq!(first, second);
    let sub = |t: &hbk_repo::Tree| t.nodes.iter().find(|n| n.name == b"sub").unwrap().subtree;
    assert_eq!(
        sub(&first),
        sub(&second),
        "unchanged directory reuses its tree"
    );

    if xattrs {
        xattr::set(&file, "user.hbk", b"two").unwrap();
    } else {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let third = source_tree(&repo, run(), source.path());
    assert_ne!(
        sub(&second),
        sub(&third),
        "a metadata change makes a new tree"
    );
    let node = repo
        .tree(&sub(&third).unwrap())
        .unwrap()
        .nodes
        .into_iter()
        .find(|n| n.name == b"f.txt")
        .unwrap();
    if xattrs {
        assert_eq!(node.extended_attributes.len(), 1);
        assert_eq!(node.extended_attributes[0].value, b"two");
    } else {
        assert_eq!(node.mode & 0o777, 0o600);
    }
}

/// A source that counts how many of its kind are being read at once.
struct Watched<'a> {
    left: usize,
    now: &'a std::sync::atomic::AtomicUsize,
    max: &'a std::sync::atomic::AtomicUsize,
}

impl std::io::Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::sync::atomic::Ordering::SeqCst;
        let n = buf.len().min(self.left).min(4096);
        let at_once = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(at_once, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(1));
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = (self.left.wrapping_sub(i) % 251) as u8;
        }
        self.left -= n;
        self.now.fetch_sub(1, SeqCst);
        Ok(n)
    }
}

#[test]
fn read_concurrency_bounds_the_files_read_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let opts = BackupOptions {
        read_concurrency: 2,
        ..BackupOptions::default()
    };
    let archiver = super::archiver(&repo, &opts, true, &|| Ok(()), &NoProgress).unwrap();
    let (now, max) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                let source = Watched {
                    left: 64 << 10,
                    now: &now,
                    max: &max,
                };
                let content = archiver.read_stream(source).unwrap().unwrap();
                assert_eq!(content.size, 64 << 10);
            });
        }
    });
    let max = max.load(SeqCst);
    assert!((1..=2).contains(&max), "{max} sources read at once");
}

#[test]
fn missing_sources_are_skipped_and_none_left_is_refused() {
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("a.txt"), b"present").unwrap();
    let missing = source.path().join("gone/deeper");
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let opts = BackupOptions::default();

    // Nothing exists: refused, and no snapshot written.
    let err = backup(
        &repo,
        mode,
        std::slice::from_ref(&missing),
        &opts,
        &NoProgress,
    )
    .unwrap_err();
    assert!(matches!(err, crate::Error::NoSourceData), "{err}");
    assert!(find_snapshot(&repo, "latest", &SnapshotFilter::default()).is_err());

    // One of two exists: the snapshot holds it, the missing one is named
    // in a warning (the whole path, not its first missing parent) and
    // left out of the snapshot's paths.
    let present = source.path().join("a.txt");
    let summary = backup(
        &repo,
        mode,
        &[present.clone(), missing.clone()],
        &opts,
        &NoProgress,
    )
    .unwrap();
    assert!(summary.snapshot_id.is_some());
    assert_eq!(summary.warnings.len(), 1);
    assert_eq!(summary.warnings[0].path, missing);
    let (_, latest) = find_snapshot(&repo, "latest", &SnapshotFilter::default()).unwrap();
    assert_eq!(latest.paths, vec![present.to_string_lossy().into_owned()]);
}

/// Small files read ahead, in several windows of one directory, are
/// stored as they are: a second backup after some changed (one grew, one
/// kept its size) reads exactly those, and a restore gives every byte.
#[test]
fn files_read_ahead_in_windows_are_stored_as_they_are() {
    let t = TestRepo::new(2);
    let repo = t.repo.clone().into_indexed().unwrap();
    let source = tempfile::tempdir().unwrap();
    let content = |i: usize, round: u8| {
        format!("file {i} round {round} ")
            .repeat(i + 1)
            .into_bytes()
    };
    for i in 0..100 {
        std::fs::write(source.path().join(format!("f{i:03}")), content(i, 0)).unwrap();
    }
    let targets = [source.path().to_path_buf()];
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let opts = BackupOptions::default();
    let first = backup(&repo, mode, &targets, &opts, &NoProgress).unwrap();
    assert_eq!(first.files_new, 100);

    // Round 1 keeps each length ("0" → "1"), so only times tell.
    std::thread::sleep(std::time::Duration::from_millis(20));
    for i in [3, 40, 77] {
        std::fs::write(source.path().join(format!("f{i:03}")), content(i, 1)).unwrap();
    }
    std::fs::write(source.path().join("f050"), b"grown and new").unwrap();
    let second = backup(&repo, mode, &targets, &opts, &NoProgress).unwrap();
    assert_eq!(
        (
            second.files_new,
            second.files_changed,
            second.files_unmodified
        ),
        (0, 4, 96)
    );

    let (_target, restored, _) = restore_latest(&repo, source.path());
    for i in 0..100 {
        let name = format!("f{i:03}");
        assert_eq!(
            std::fs::read(restored.join(&name)).unwrap(),
            std::fs::read(source.path().join(&name)).unwrap(),
            "{name}"
        );
    }
}

/// A backup that keeps a record of its directories reads no tree of an
/// unchanged directory from the parent snapshot, and comes to the same
/// trees and counts as one without the record, whatever changed.
#[test]
fn the_record_of_directories_skips_unchanged_trees_and_changes_nothing() {
    let t = TestRepo::new(2);
    let reads = std::sync::Arc::new(CountedReads {
        inner: t.backend.clone(),
        reads: Default::default(),
    });
    let counted = reads.clone();
    let repo = t
        .repo
        .clone()
        .map_backend(|_| counted)
        .into_indexed()
        .unwrap();
    let source = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let s = source.path();
    for d in ["a/b/c", "a/d", "e"] {
        std::fs::create_dir_all(s.join(d)).unwrap();
    }
    for (i, f) in ["a/1", "a/b/2", "a/b/c/3", "a/b/c/4", "a/d/5", "e/6", "7"]
        .iter()
        .enumerate()
    {
        std::fs::write(s.join(f), format!("content {i}")).unwrap();
    }
    std::os::unix::fs::symlink("a/1", s.join("a/link")).unwrap();
    let targets = [s.to_path_buf()];
    let lock = RepoLock::acquire(&repo, LockKind::Shared).unwrap();
    let mode = WriteMode::Locked(&lock);
    let recorded = BackupOptions {
        local_state: Some(state.path().to_path_buf()),
        ..BackupOptions::default()
    };
    let run = |opts: &BackupOptions| {
        let before = reads.count();
        let summary = backup(&repo, mode, &targets, opts, &NoProgress).unwrap();
        let read = reads.count() - before;
        let id: hbk_repo::Id = summary.snapshot_id.as_ref().unwrap().parse().unwrap();
        let tree = source_tree_id(&repo, repo.load_snapshot(&id).unwrap().tree, s);
        let counts = (
            [
                summary.files_new,
                summary.files_changed,
                summary.files_unmodified,
            ],
            [
                summary.dirs_new,
                summary.dirs_changed,
                summary.dirs_unmodified,
            ],
            summary.total_files_processed,
            summary.total_bytes_processed,
        );
        (tree, counts, read, id)
    };
    let first = run(&recorded);
    assert_eq!(first.1 .0, [7, 0, 0]);
    assert_eq!(std::fs::read_dir(state.path()).unwrap().count(), 1);

    // Nothing changed: the trees of the six source directories are not
    // read (those of the levels above the source are).
    let second = run(&recorded);
    let slow = run(&BackupOptions::default());
    assert_eq!(second.0, first.0);
    assert_eq!(second.1, slow.1);
    assert_eq!(second.1 .0, [0, 0, 7]);
    assert_eq!(slow.2 - second.2, 6, "{} {}", slow.2, second.2);

    // Changes deep down, beside and at the top; then the same state is
    // backed up again from the same parent without the record.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(s.join("a/b/c/3"), b"changed content").unwrap();
    std::fs::write(s.join("a/d/new"), b"new file").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(s.join("7"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let third = run(&recorded);
    let from_same_parent = BackupOptions {
        parent: Some(second.3),
        ..BackupOptions::default()
    };
    let again = run(&from_same_parent);
    assert_eq!(third.0, again.0);
    assert_eq!(third.1, again.1);
    assert_eq!(third.1 .0, [1, 2, 5]);

    // Unchanged since: the record of the third backup holds.
    let fourth = run(&recorded);
    assert_eq!(fourth.0, third.0);
    assert_eq!(fourth.1 .0, [0, 0, 8]);
    assert_eq!(slow.2 - fourth.2, 6);

    // Other exclude rules: the record is not used, and the result is the
    // slow path's; then it is, with the same result.
    let excluding = |local_state, parent| BackupOptions {
        excludes: vec!["*/d".into()],
        local_state,
        parent,
        ..BackupOptions::default()
    };
    let fifth = run(&excluding(Some(state.path().into()), None));
    let slow = run(&excluding(None, Some(fourth.3)));
    assert_eq!(fifth.0, slow.0);
    assert_eq!(fifth.1, slow.1);
    assert_eq!(fifth.2, slow.2);
    assert_eq!(fifth.1 .1, [0, 3, 3]);
    let sixth = run(&excluding(Some(state.path().into()), Some(fifth.3)));
    assert_eq!(sixth.0, slow.0);
    assert_eq!(sixth.1 .1, [0, 0, 6]);
    assert_eq!(slow.2 - sixth.2, 5);

    let (_target, restored, files) = restore_latest(&repo, s);
    assert_eq!(files, 6);
    assert_eq!(
        std::fs::read(restored.join("a/b/c/3")).unwrap(),
        b"changed content"
    );
}

/// A backend counting the ranges of packs read through it.
struct CountedReads {
    inner: std::sync::Arc<hbk_backend::MemoryBackend>,
    reads: std::sync::atomic::AtomicUsize,
}

impl CountedReads {
    fn count(&self) -> usize {
        self.reads.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl hbk_repo::Backend for CountedReads {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> hbk_repo::BackendResult<()> {
        self.inner.create()
    }
    fn list(&self, t: hbk_repo::FileType) -> hbk_repo::BackendResult<Vec<(hbk_repo::Id, u64)>> {
        self.inner.list(t)
    }
    fn read_full(
        &self,
        t: hbk_repo::FileType,
        id: &hbk_repo::Id,
    ) -> hbk_repo::BackendResult<Vec<u8>> {
        self.inner.read_full(t, id)
    }
    fn read_range(
        &self,
        t: hbk_repo::FileType,
        id: &hbk_repo::Id,
        offset: u64,
        length: u64,
    ) -> hbk_repo::BackendResult<Vec<u8>> {
        self.reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.read_range(t, id, offset, length)
    }
    fn write(
        &self,
        t: hbk_repo::FileType,
        id: &hbk_repo::Id,
        data: &[u8],
    ) -> hbk_repo::BackendResult<()> {
        self.inner.write(t, id, data)
    }
    fn remove(&self, t: hbk_repo::FileType, id: &hbk_repo::Id) -> hbk_repo::BackendResult<()> {
        self.inner.remove(t, id)
    }
}
