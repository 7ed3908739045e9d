//! [`CacheBackend`]: a local copy of a remote repository's snapshot and
//! index files, so that reading a repository twice fetches its metadata
//! once.
//!
//! Files live under `DIR/<repository key>/{snapshots,index}/ID`. The
//! repository key is the SHA-256 of the stored (encrypted) config file:
//! the config never changes after `init` and is unique per repository,
//! and it is readable before any password is known. Every cached file is
//! content-addressed, so a hit is checked against its id before it is
//! used; a damaged entry is dropped and fetched again. Listing a type
//! removes cached files the repository no longer has.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hbk_repo::{Backend, BackendResult, FileType, Id};

/// A backend decorator caching snapshot and index files on local disk.
pub struct CacheBackend<B> {
    inner: B,
    base: PathBuf,
    dir: OnceLock<Option<PathBuf>>,
}

fn cached_type(t: FileType) -> bool {
    matches!(t, FileType::Snapshot | FileType::Index)
}

impl<B: Backend> CacheBackend<B> {
    /// Caches `inner`'s metadata under `base` (created when needed).
    pub fn new(inner: B, base: impl Into<PathBuf>) -> Self {
        CacheBackend {
            inner,
            base: base.into(),
            dir: OnceLock::new(),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// This repository's cache directory, once its config can be read;
    /// `None` (no caching) before `init` or if the config is unreadable.
    fn dir(&self) -> Option<&Path> {
        if let Some(d) = self.dir.get() {
            return d.as_deref();
        }
        let config = self
            .inner
            .read_full(FileType::Config, &Id::default())
            .ok()?;
        let dir = self.base.join(Id::hash(&config).to_hex());
        self.dir.get_or_init(|| Some(dir)).as_deref()
    }

    fn path(&self, t: FileType, id: &Id) -> Option<PathBuf> {
        Some(self.dir()?.join(t.dir_name()).join(id.to_hex()))
    }

    /// A cached copy that still matches its id.
    fn load(&self, t: FileType, id: &Id) -> Option<Vec<u8>> {
        let p = self.path(t, id)?;
        let data = fs::read(&p).ok()?;
        if Id::hash(&data) == *id {
            Some(data)
        } else {
            let _ = fs::remove_file(&p);
            None
        }
    }

    /// Stores a copy (best effort: the cache never fails an operation).
    fn store(&self, t: FileType, id: &Id, data: &[u8]) {
        let Some(p) = self.path(t, id) else { return };
        let Some(dir) = p.parent() else { return };
        if fs::create_dir_all(dir).is_err() {
            return;
        }
        let tmp = dir.join(format!(
            ".{}-tmp-{:016x}",
            id.to_hex(),
            rand::random::<u64>()
        ));
        let ok = fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(data))
            .and_then(|_| fs::rename(&tmp, &p));
        if ok.is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

impl<B: Backend> Backend for CacheBackend<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn create(&self) -> BackendResult<()> {
        self.inner.create()
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        let list = self.inner.list(t)?;
        if cached_type(t) {
            if let Some(dir) = self.dir().map(|d| d.join(t.dir_name())) {
                let keep: std::collections::HashSet<String> =
                    list.iter().map(|(id, _)| id.to_hex()).collect();
                for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if !keep.contains(&*e.file_name().to_string_lossy()) {
                        let _ = fs::remove_file(e.path());
                    }
                }
            }
        }
        Ok(list)
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        if !cached_type(t) {
            return self.inner.read_full(t, id);
        }
        if let Some(data) = self.load(t, id) {
            return Ok(data);
        }
        let data = self.inner.read_full(t, id)?;
        if Id::hash(&data) == *id {
            self.store(t, id, &data);
        }
        Ok(data)
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        if cached_type(t) {
            if let Some(data) = self.load(t, id) {
                let start = usize::try_from(offset).unwrap_or(usize::MAX);
                let end = start.saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
                if let Some(slice) = data.get(start..end) {
                    return Ok(slice.to_vec());
                }
            }
        }
        self.inner.read_range(t, id, offset, length)
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.inner.write(t, id, data)?;
        if cached_type(t) {
            self.store(t, id, data);
        }
        Ok(())
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        if let Some(p) = self.path(t, id).filter(|_| cached_type(t)) {
            let _ = fs::remove_file(p);
        }
        self.inner.remove(t, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalBackend;

    /// Counts reads that reach the wrapped backend.
    struct Counting(LocalBackend, std::sync::atomic::AtomicUsize);

    impl Backend for Counting {
        fn location(&self) -> String {
            self.0.location()
        }
        fn create(&self) -> BackendResult<()> {
            self.0.create()
        }
        fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
            self.0.list(t)
        }
        fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
            if t != FileType::Config {
                self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            self.0.read_full(t, id)
        }
        fn read_range(&self, t: FileType, id: &Id, o: u64, l: u64) -> BackendResult<Vec<u8>> {
            self.0.read_range(t, id, o, l)
        }
        fn write(&self, t: FileType, id: &Id, d: &[u8]) -> BackendResult<()> {
            self.0.write(t, id, d)
        }
        fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
            self.0.remove(t, id)
        }
    }

    #[test]
    fn second_read_is_local_and_stale_entries_go() {
        let dir = tempfile::tempdir().unwrap();
        let repo = LocalBackend::new(dir.path().join("repo"));
        repo.create().unwrap();
        repo.write(FileType::Config, &Id::default(), b"config")
            .unwrap();
        let idx = Id::hash(b"index file");
        repo.write(FileType::Index, &idx, b"index file").unwrap();
        let c = CacheBackend::new(Counting(repo, Default::default()), dir.path().join("cache"));
        let reads = || c.inner().1.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(c.read_full(FileType::Index, &idx).unwrap(), b"index file");
        assert_eq!(c.read_full(FileType::Index, &idx).unwrap(), b"index file");
        assert_eq!(reads(), 1);
        // A damaged cache entry is fetched again.
        let p = c.path(FileType::Index, &idx).unwrap();
        fs::write(&p, b"garbage").unwrap();
        assert_eq!(c.read_full(FileType::Index, &idx).unwrap(), b"index file");
        assert_eq!(reads(), 2);
        // Removed from the repository behind the cache's back: dropped on list.
        c.inner().0.remove(FileType::Index, &idx).unwrap();
        assert!(c.list(FileType::Index).unwrap().is_empty());
        assert!(!p.exists());
    }
}
