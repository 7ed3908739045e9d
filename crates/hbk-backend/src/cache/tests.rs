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

#[test]
fn caches_are_listed_oldest_first_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let now = SystemTime::now();
    let make = |name: &[u8], age_days: u64, bytes: usize| {
        let path = dir.path().join(Id::hash(name).to_hex());
        std::fs::create_dir_all(path.join("index")).unwrap();
        std::fs::write(path.join("index").join("f"), vec![0u8; bytes]).unwrap();
        let stamp = std::fs::File::create(path.join(LAST_USED)).unwrap();
        stamp
            .set_modified(now - Duration::from_secs(age_days * 86_400))
            .unwrap();
        path
    };
    make(b"new", 1, 10);
    make(b"old", 40, 1000);
    std::fs::create_dir(dir.path().join("not-a-cache")).unwrap();
    mark_cache_dir(dir.path()).unwrap();

    let caches = list_caches(dir.path()).unwrap();
    let ids: Vec<Id> = caches.iter().map(|c| c.repo_id).collect();
    assert_eq!(ids, [Id::hash(b"old"), Id::hash(b"new")]);
    assert_eq!(caches[0].size(), 1000);
    assert!(caches[0].older_than(Duration::from_secs(30 * 86_400), now));
    assert!(!caches[1].older_than(Duration::from_secs(30 * 86_400), now));

    let removed =
        remove_caches_older_than(dir.path(), Duration::from_secs(30 * 86_400), now).unwrap();
    assert_eq!(removed.len(), 1);
    assert!(removed[0].1.is_ok());
    assert_eq!(list_caches(dir.path()).unwrap().len(), 1);
    assert!(dir.path().join("not-a-cache").exists());
    assert!(list_caches(&dir.path().join("missing")).unwrap().is_empty());
}

#[test]
fn a_repository_directory_is_made_marked_and_listed() {
    let base = tempfile::tempdir().unwrap();
    let nested = base.path().join("a/b");
    let id = Id::hash(b"local repository");
    let dir = repository_dir(&nested, &id).unwrap();
    assert_eq!(dir, nested.join(id.to_hex()));
    assert!(dir.join(LAST_USED).is_file());
    let tag = std::fs::read_to_string(nested.join("CACHEDIR.TAG")).unwrap();
    assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
    // Made again, it is kept as it is, and it is a cache `hbk cache` lists.
    std::fs::write(dir.join("kept"), b"x").unwrap();
    assert_eq!(repository_dir(&nested, &id).unwrap(), dir);
    assert!(dir.join("kept").is_file());
    let listed = list_caches(&nested).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].repo_id, id);
}
