//! A local cache of a remote repository's metadata: snapshot and index
//! files, and packs holding tree blobs. Every command needs these, and on
//! S3 or a REST server fetching them again each time costs requests and
//! seconds; with the cache a second `snapshots` reads nothing but the
//! listing from the server.
//!
//! The cache is a directory per repository id laid out like a repository
//! (it is stored through a [`LocalBackend`]). Its files are the encrypted
//! files as the server holds them; a cached file whose content does not
//! hash to its name is discarded and fetched again. Listings always come
//! from the server, and cached files the server no longer lists are
//! deleted then (stale entries). Cache failures never fail a command:
//! the server is the truth, the cache only saves work.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hbk_repo::{Backend, BackendResult, FileSink, FileType, Id};

use crate::LocalBackend;

/// Packs up to this size are cached whole when a tree blob is read from
/// them (tree packs are small; a data pack is never asked for this way).
const MAX_CACHED_PACK: u64 = 64 << 20;
/// Cache directories of repositories not used for this long are removed.
pub const EXPIRE_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
/// The file whose modification time says when a cache was last used.
const LAST_USED: &str = "last-used";

/// A backend in front of which metadata is cached locally.
pub struct CachedBackend {
    inner: Arc<dyn Backend>,
    cache: LocalBackend,
}

impl CachedBackend {
    /// A cache in `base/<repository id>` in front of `inner`. Creates the
    /// directory, marks it as used now and removes caches of other
    /// repositories unused for [`EXPIRE_AFTER`].
    pub fn new(inner: Arc<dyn Backend>, base: &Path, repo_id: &Id) -> std::io::Result<Self> {
        let dir = repository_dir(base, repo_id)?;
        remove_expired(base, SystemTime::now());
        let cache = LocalBackend::new(&dir);
        if !dir.join("index").is_dir() {
            cache.create().map_err(std::io::Error::other)?;
        }
        Ok(CachedBackend { inner, cache })
    }

    /// The cache directory of this repository.
    pub fn dir(&self) -> &Path {
        self.cache.root()
    }

    fn cached(&self, t: FileType, id: &Id) -> Option<Vec<u8>> {
        let bytes = self.cache.read_full(t, id).ok()?;
        if Id::hash(&bytes) == *id {
            Some(bytes)
        } else {
            let _ = self.cache.remove(t, id);
            None
        }
    }

    fn keep(&self, t: FileType, id: &Id, bytes: &[u8]) {
        if Id::hash(bytes) == *id && self.cache.read_full(t, id).is_err() {
            let _ = self.cache.write(t, id, bytes);
        }
    }
}

/// The file types cached whole on first read.
fn cached_type(t: FileType) -> bool {
    matches!(t, FileType::Snapshot | FileType::Index)
}

impl Backend for CachedBackend {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn lists_writes_at_once(&self) -> bool {
        self.inner.lists_writes_at_once()
    }

    fn packs_in_flight(&self) -> usize {
        self.inner.packs_in_flight()
    }

    /// The inner backend's, for files the cache does not keep a copy of.
    fn file_sink(&self, t: FileType) -> BackendResult<Option<Box<dyn FileSink>>> {
        match cached_type(t) {
            true => Ok(None),
            false => self.inner.file_sink(t),
        }
    }

    fn create(&self) -> BackendResult<()> {
        self.inner.create()
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        let listed = self.inner.list(t)?;
        if cached_type(t) || t == FileType::Pack {
            let present: std::collections::HashSet<Id> = listed.iter().map(|e| e.0).collect();
            if let Ok(local) = self.cache.list(t) {
                for (id, _) in local {
                    if !present.contains(&id) {
                        let _ = self.cache.remove(t, &id);
                    }
                }
            }
        }
        Ok(listed)
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        if cached_type(t) || t == FileType::Pack {
            if let Some(bytes) = self.cached(t, id) {
                return Ok(bytes);
            }
        }
        let bytes = self.inner.read_full(t, id)?;
        if cached_type(t) {
            self.keep(t, id, &bytes);
        }
        Ok(bytes)
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        if t == FileType::Pack {
            if let Ok(bytes) = self.cache.read_range(t, id, offset, length) {
                return Ok(bytes);
            }
        }
        self.inner.read_range(t, id, offset, length)
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        if t == FileType::Pack {
            if let Ok(stream) = self.cache.read_range_stream(t, id, offset, length) {
                return Ok(stream);
            }
        }
        self.inner.read_range_stream(t, id, offset, length)
    }

    fn read_metadata_range(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>> {
        if let Ok(bytes) = self.cache.read_range(t, id, offset, length) {
            return Ok(bytes);
        }
        let end = offset.saturating_add(length);
        if t != FileType::Pack || end > MAX_CACHED_PACK {
            return self.inner.read_range(t, id, offset, length);
        }
        let whole = self.inner.read_full(t, id)?;
        self.keep(t, id, &whole);
        match whole.get(offset as usize..end as usize) {
            Some(part) => Ok(part.to_vec()),
            // The pack is shorter than the index says: let the backend
            // report the short read as it reports it for everyone.
            None => self.inner.read_range(t, id, offset, length),
        }
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.inner.write(t, id, data)?;
        if cached_type(t) {
            self.keep(t, id, data);
        }
        Ok(())
    }

    fn write_bytes(&self, t: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        self.inner.write_bytes(t, id, data.clone())?;
        if cached_type(t) {
            self.keep(t, id, &data);
        }
        Ok(())
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        let _ = self.cache.remove(t, id);
        self.inner.remove(t, id)
    }

    fn discard(&self, t: FileType, id: &Id) -> BackendResult<()> {
        let _ = self.cache.remove(t, id);
        self.inner.discard(t, id)
    }
}

/// The directory of the repository `repo_id` in the cache `base`, made
/// (with `base` marked as a cache) and stamped as used now: where the
/// metadata cache of a remote repository lives, and where commands keep
/// local state about any repository (a backup's record of directories).
pub fn repository_dir(base: &Path, repo_id: &Id) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(base)?;
    mark_cache_dir(base)?;
    let dir = base.join(repo_id.to_hex());
    std::fs::create_dir_all(&dir)?;
    let stamp = std::fs::File::create(dir.join(LAST_USED))?;
    stamp.set_modified(SystemTime::now())?;
    Ok(dir)
}

/// Marks `base` as a cache directory (CACHEDIR.TAG), so backup tools skip it.
fn mark_cache_dir(base: &Path) -> std::io::Result<()> {
    let tag = base.join("CACHEDIR.TAG");
    if !tag.exists() {
        std::fs::write(
            tag,
            "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by hbk.\n",
        )?;
    }
    Ok(())
}

/// One repository's cache directory, as `hbk cache` lists it.
#[derive(Debug, Clone)]
pub struct CacheDir {
    /// The repository id (the directory's name).
    pub repo_id: Id,
    /// The directory.
    pub path: PathBuf,
    /// When a command last opened it (its `last-used` stamp, else the
    /// directory's own modification time).
    pub last_used: SystemTime,
}

impl CacheDir {
    /// Whether it went unused for longer than `max_age` before `now`.
    pub fn older_than(&self, max_age: Duration, now: SystemTime) -> bool {
        now.duration_since(self.last_used)
            .is_ok_and(|age| age > max_age)
    }

    /// The bytes of the files in it (0 for what cannot be read).
    pub fn size(&self) -> u64 {
        fn walk(dir: &Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return 0;
            };
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
                    Err(_) => 0,
                })
                .sum()
        }
        walk(&self.path)
    }
}

/// The repository caches under `base`, least recently used first; none
/// when `base` does not exist. Other entries (`CACHEDIR.TAG`, foreign
/// directories) are not caches and are left out.
pub fn list_caches(base: &Path) -> std::io::Result<Vec<CacheDir>> {
    let entries = match std::fs::read_dir(base) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut dirs: Vec<CacheDir> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| {
            let repo_id = e.file_name().to_str()?.parse::<Id>().ok()?;
            let path = e.path();
            let last_used = std::fs::metadata(path.join(LAST_USED))
                .or_else(|_| e.metadata())
                .and_then(|m| m.modified())
                .ok()?;
            Some(CacheDir {
                repo_id,
                path,
                last_used,
            })
        })
        .collect();
    dirs.sort_by_key(|d| d.last_used);
    Ok(dirs)
}

/// Removes the caches under `base` unused for longer than `max_age`;
/// returns those removed and, for each that could not be, the error.
pub fn remove_caches_older_than(
    base: &Path,
    max_age: Duration,
    now: SystemTime,
) -> std::io::Result<Vec<(CacheDir, std::io::Result<()>)>> {
    Ok(list_caches(base)?
        .into_iter()
        .filter(|d| d.older_than(max_age, now))
        .map(|d| {
            let removed = std::fs::remove_dir_all(&d.path);
            (d, removed)
        })
        .collect())
}

/// Removes the caches of repositories not used since `now - EXPIRE_AFTER`.
fn remove_expired(base: &Path, now: SystemTime) {
    let _ = remove_caches_older_than(base, EXPIRE_AFTER, now);
}

/// The default cache directory: `$HBK_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/hbk`, else `~/.cache/hbk`. hbk keeps its own cache
/// rather than sharing restic's.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("HBK_CACHE_DIR").filter(|d| !d.is_empty()) {
        return Some(d.into());
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("hbk"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("hbk"))
}

#[cfg(test)]
mod tests;
