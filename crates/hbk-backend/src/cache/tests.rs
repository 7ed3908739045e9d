use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::*;

/// A local backend that counts the reads that reach it.
struct Counting {
    inner: LocalBackend,
    reads: Mutex<Vec<FileType>>,
    lists: AtomicUsize,
}

impl Counting {
    fn reads_of(&self, t: FileType) -> usize {
        self.reads
            .lock()
            .unwrap()
            .iter()
            .filter(|r| **r == t)
            .count()
    }
}

impl Backend for Counting {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn create(&self) -> BackendResult<()> {
        self.inner.create()
    }
    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list(t)
    }
    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        self.reads.lock().unwrap().push(t);
        self.inner.read_full(t, id)
    }
    fn read_range(&self, t: FileType, id: &Id, o: u64, l: u64) -> BackendResult<Vec<u8>> {
        self.reads.lock().unwrap().push(t);
        self.inner.read_range(t, id, o, l)
    }
    fn write(&self, t: FileType, id: &Id, d: &[u8]) -> BackendResult<()> {
        self.inner.write(t, id, d)
    }
    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.inner.remove(t, id)
    }
}

fn setup() -> (tempfile::TempDir, Arc<Counting>, CachedBackend) {
    let dir = tempfile::tempdir().unwrap();
    let remote = Arc::new(Counting {
        inner: LocalBackend::new(dir.path().join("remote")),
        reads: Mutex::new(Vec::new()),
        lists: AtomicUsize::new(0),
    });
    remote.create().unwrap();
    let cached = CachedBackend::new(
        remote.clone(),
        &dir.path().join("cache"),
        &Id::hash(b"repo"),
    )
    .unwrap();
    (dir, remote, cached)
}

#[test]
fn metadata_is_fetched_once() {
    let (_dir, remote, cached) = setup();
    let snap = b"sealed snapshot".to_vec();
    let id = Id::hash(&snap);
    remote.write(FileType::Snapshot, &id, &snap).unwrap();
    for _ in 0..3 {
        assert_eq!(cached.read_full(FileType::Snapshot, &id).unwrap(), snap);
    }
    assert_eq!(remote.reads_of(FileType::Snapshot), 1);

    // Written through the cache: never fetched.
    let index = b"sealed index".to_vec();
    let iid = Id::hash(&index);
    cached.write(FileType::Index, &iid, &index).unwrap();
    assert_eq!(cached.read_full(FileType::Index, &iid).unwrap(), index);
    assert_eq!(remote.reads_of(FileType::Index), 0);
}

#[test]
fn tree_packs_are_cached_whole_and_data_reads_pass_through() {
    let (_dir, remote, cached) = setup();
    let pack: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let id = Id::hash(&pack);
    remote.write(FileType::Pack, &id, &pack).unwrap();
    assert_eq!(
        cached
            .read_metadata_range(FileType::Pack, &id, 10, 5)
            .unwrap(),
        &pack[10..15]
    );
    assert_eq!(
        cached
            .read_metadata_range(FileType::Pack, &id, 500, 20)
            .unwrap(),
        &pack[500..520]
    );
    assert_eq!(
        cached.read_range(FileType::Pack, &id, 0, 3).unwrap(),
        &pack[..3]
    );
    assert_eq!(remote.reads_of(FileType::Pack), 1);
}

#[test]
fn stale_and_damaged_entries_are_dropped() {
    let (_dir, remote, cached) = setup();
    let snap = b"sealed snapshot".to_vec();
    let id = Id::hash(&snap);
    remote.write(FileType::Snapshot, &id, &snap).unwrap();
    cached.read_full(FileType::Snapshot, &id).unwrap();
    let path = cached.dir().join("snapshots").join(id.to_hex());
    assert!(path.exists());

    // Damaged in the cache: fetched again, and right.
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"garbage").unwrap();
    assert_eq!(cached.read_full(FileType::Snapshot, &id).unwrap(), snap);
    assert_eq!(remote.reads_of(FileType::Snapshot), 2);

    // Gone from the server: the listing removes it from the cache.
    remote.remove(FileType::Snapshot, &id).unwrap();
    assert!(cached.list(FileType::Snapshot).unwrap().is_empty());
    assert!(!path.exists());
}

#[test]
fn unused_caches_expire() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join(Id::hash(b"old").to_hex());
    std::fs::create_dir_all(&old).unwrap();
    let stamp = std::fs::File::create(old.join(LAST_USED)).unwrap();
    stamp
        .set_modified(SystemTime::now() - EXPIRE_AFTER - Duration::from_secs(60))
        .unwrap();
    let fresh = dir.path().join(Id::hash(b"fresh").to_hex());
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::File::create(fresh.join(LAST_USED)).unwrap();
    remove_expired(dir.path(), SystemTime::now());
    assert!(!old.exists());
    assert!(fresh.exists());
}
