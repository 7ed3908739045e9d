//! Warming the file system's metadata caches for a backup's sources while
//! the repository opens.
//!
//! Opening a repository costs a key derivation (scrypt, on one core) and
//! loading the index, during which the sources sit untouched. On a cold
//! cache, a backup of many small files then waits for the disk on nearly
//! every directory and inode it stats, a few requests at a time. A
//! prefetch walks the sources meanwhile with several threads, listing
//! each directory and stat'ing its entries, so that the disk serves many
//! requests at once and the backup's own walk finds them cached. It only
//! reads metadata, stays on each source's file system, and stops when its
//! handle is dropped; what it misses the backup reads as before.
//!
//! On a warm cache there is nothing to gain and a second walk would only
//! cost CPU, so the walk stops by itself once the entries it stat'ed so
//! far came back at the speed of a cache.
//!
//! The walk keeps what it listed, up to [`KEEP_ENTRIES`] entries, for the
//! backup to take ([`Listings`]): a directory listed in full is not
//! listed and stat'ed again (on a cold cache that second pass was a tenth
//! of a no-op backup's CPU). An entry is then as the walk found it, a
//! little earlier than the backup would have, as for any walk of a live
//! file system.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Entries stat'ed before the walk judges whether the cache is warm…
const JUDGE_AFTER: u64 = 2_000;
/// …which it is when an entry took less than this on average (a cached
/// listing and stat take one or two microseconds, a disk read far more).
const WARM_NANOS_PER_ENTRY: u64 = 6_000;

/// Entries kept for the backup at most (about 300 bytes each, 15 MB in
/// all); beyond them the walk only warms the caches.
pub const KEEP_ENTRIES: usize = 50_000;

/// One directory's entries as listed: each name with its `lstat` result.
pub type Listing = Vec<(Vec<u8>, std::io::Result<Metadata>)>;

/// A directory as listed: its entries, the errors met reading it, and
/// whether the listing stopped before its end.
pub struct DirListing {
    /// Each entry's name with its `lstat` result.
    pub entries: Listing,
    /// Entries that could not be read from the directory.
    pub errors: Vec<std::io::Error>,
    /// Whether `go_on` stopped the listing ([`list_dir`]).
    pub stopped: bool,
}

/// Lists `dir` and stats each entry relative to the open directory, so
/// that no full path is walked per entry: the one listing both the
/// prefetch and the backup's walk make. `go_on` is asked before each
/// entry; the listing stops when it says no.
pub fn list_dir(dir: &Path, mut go_on: impl FnMut() -> bool) -> std::io::Result<DirListing> {
    let mut listed = DirListing {
        entries: Vec::new(),
        errors: Vec::new(),
        stopped: false,
    };
    for entry in std::fs::read_dir(dir)? {
        if !go_on() {
            listed.stopped = true;
            break;
        }
        match entry {
            Ok(e) => listed
                .entries
                .push((OsString::into_vec(e.file_name()), e.metadata())),
            Err(e) => listed.errors.push(e),
        }
    }
    Ok(listed)
}

/// A running prefetch; dropping it stops its threads.
pub struct MetadataPrefetch {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The walk's state, shared by its threads.
struct Shared {
    stop: AtomicBool,
    /// Entries stat'ed, and the time their listings took.
    entries: AtomicU64,
    nanos: AtomicU64,
    work: Mutex<Work>,
    changed: Condvar,
    kept: Mutex<Kept>,
}

/// Listings kept for the backup, by directory, and the entries they hold.
#[derive(Default)]
struct Kept {
    listings: HashMap<PathBuf, Listing>,
    entries: usize,
}

/// The listings a prefetch kept, for the backup's walk to take.
#[derive(Clone)]
pub struct Listings(Arc<Shared>);

impl Listings {
    /// The listing of `dir` (absolute and clean, as the backup walks it),
    /// if the walk listed it in full and kept it; each is taken once.
    pub fn take(&self, dir: &Path) -> Option<Listing> {
        let mut kept = self.0.kept.lock().unwrap_or_else(PoisonError::into_inner);
        let listing = kept.listings.remove(dir)?;
        kept.entries -= listing.len();
        Some(listing)
    }
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listings").finish_non_exhaustive()
    }
}

/// Directories still to list (with the device they must be on), the next
/// one last, and how many are being listed.
#[derive(Default)]
struct Work {
    dirs: Vec<(PathBuf, u64)>,
    busy: usize,
}

impl MetadataPrefetch {
    /// Starts walking the directories among `sources` with `threads`
    /// threads.
    pub fn start(sources: &[PathBuf], threads: usize) -> MetadataPrefetch {
        let mut work = Work::default();
        for s in sources {
            // Named as the backup names them, so that it finds the listings.
            let Ok(s) = super::targets::absolute(s) else {
                continue;
            };
            if let Ok(m) = std::fs::symlink_metadata(&s) {
                if m.is_dir() {
                    work.dirs.push((s, m.dev()));
                }
            }
        }
        work.dirs.sort_unstable_by(|a, b| b.0.cmp(&a.0));
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            entries: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            work: Mutex::new(work),
            changed: Condvar::new(),
            kept: Mutex::new(Kept::default()),
        });
        let threads = (0..threads.max(1))
            .filter_map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("hbk-prefetch-{i}"))
                    .spawn(move || shared.run())
                    .ok()
            })
            .collect();
        MetadataPrefetch { shared, threads }
    }

    /// Waits until every thread of the walk has ended.
    #[cfg(test)]
    pub(crate) fn wait(&self) {
        while !self.threads.iter().all(JoinHandle::is_finished) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The listings this walk keeps, for [`BackupOptions::listings`](
    /// super::BackupOptions::listings).
    pub fn listings(&self) -> Listings {
        Listings(Arc::clone(&self.shared))
    }
}

impl Drop for MetadataPrefetch {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.shared.changed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Work> {
        self.work.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes directories until none is left and none is being listed
    /// (which could add more), or until stopped.
    fn run(&self) {
        loop {
            let next = {
                let mut work = self.lock();
                loop {
                    if self.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    if let Some(d) = work.dirs.pop() {
                        work.busy += 1;
                        break d;
                    }
                    if work.busy == 0 {
                        return;
                    }
                    work = self
                        .changed
                        .wait_timeout(work, Duration::from_millis(20))
                        .map(|(w, _)| w)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
            };
            let started = Instant::now();
            let (mut found, entries) = self.list(&next.0, next.1);
            // Depth first, in name order, as the backup walks: the
            // listings kept are the ones it takes next.
            found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
            self.judge(entries, started.elapsed());
            let mut work = self.lock();
            work.busy -= 1;
            work.dirs.extend(found);
            drop(work);
            self.changed.notify_all();
        }
    }

    /// Counts a listing of `entries` that took `took`, and stops the walk
    /// when the cache turns out to be warm.
    fn judge(&self, entries: u64, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let total = self.entries.fetch_add(entries, Ordering::Relaxed) + entries;
        let spent = self
            .nanos
            .fetch_add(nanos, Ordering::Relaxed)
            .saturating_add(nanos);
        if total >= JUDGE_AFTER && spent / total < WARM_NANOS_PER_ENTRY {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    /// Stats every entry of `dir` and keeps the listing when it is whole;
    /// returns its subdirectories on `dev` and the number of entries.
    fn list(&self, dir: &Path, dev: u64) -> (Vec<(PathBuf, u64)>, u64) {
        let Ok(listed) = list_dir(dir, || !self.stop.load(Ordering::Relaxed)) else {
            return (Vec::new(), 0);
        };
        let dirs = listed
            .entries
            .iter()
            .filter(|(_, m)| m.as_ref().is_ok_and(|m| m.is_dir() && m.dev() == dev))
            .map(|(name, _)| (dir.join(OsStr::from_bytes(name)), dev))
            .collect();
        let n = listed.entries.len() as u64;
        if !listed.stopped && listed.errors.is_empty() {
            self.keep(dir, listed.entries);
        }
        (dirs, n)
    }

    /// Keeps the listing of `dir` for the backup, unless that would hold
    /// more than [`KEEP_ENTRIES`] entries.
    fn keep(&self, dir: &Path, listing: Listing) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.entries + listing.len() <= KEEP_ENTRIES {
            kept.entries += listing.len();
            // A directory listed twice (nested sources) replaces its listing.
            if let Some(old) = kept.listings.insert(dir.to_path_buf(), listing) {
                kept.entries -= old.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_every_directory_and_stops_when_done() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            let d = dir.path().join(format!("a{i}/b/c"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), b"x").unwrap();
        }
        let p = MetadataPrefetch::start(&[dir.path().to_path_buf(), dir.path().join("none")], 4);
        // Every thread ends by itself once the tree is walked.
        for t in &p.threads {
            while !t.is_finished() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let work = p.shared.lock();
        assert!(work.dirs.is_empty() && work.busy == 0);
        assert_eq!(p.shared.entries.load(Ordering::Relaxed), 20 * 3 + 20);
    }

    /// Whole listings are kept by the directory's absolute path, each
    /// entry with its metadata, and taken once.
    #[test]
    fn listings_are_kept_for_the_backup_and_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("f"), b"12345").unwrap();
        std::fs::write(root.join("d/g"), b"").unwrap();
        let p = MetadataPrefetch::start(std::slice::from_ref(&root), 2);
        p.wait();
        let listings = p.listings();
        let mut top = listings.take(&root).unwrap();
        top.sort_by(|a, b| a.0.cmp(&b.0));
        let names: Vec<&[u8]> = top.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(names, [&b"d"[..], b"f"]);
        assert_eq!(top[1].1.as_ref().unwrap().len(), 5);
        assert!(listings.take(&root).is_none(), "taken twice");
        assert_eq!(listings.take(&root.join("d")).unwrap().len(), 1);
        assert_eq!(p.shared.kept.lock().unwrap().entries, 0);
    }

    /// Beyond [`KEEP_ENTRIES`] the walk keeps no more listings.
    #[test]
    fn kept_listings_are_bounded() {
        let p = MetadataPrefetch::start(&[], 1);
        let entry = || (b"x".to_vec(), std::fs::symlink_metadata("/"));
        p.shared.keep(
            Path::new("/a"),
            (0..KEEP_ENTRIES).map(|_| entry()).collect(),
        );
        p.shared.keep(Path::new("/b"), vec![entry()]);
        let listings = p.listings();
        assert!(listings.take(Path::new("/b")).is_none());
        assert_eq!(
            listings.take(Path::new("/a")).map(|l| l.len()),
            Some(KEEP_ENTRIES)
        );
        // A listing made again replaces the first one in the count too.
        p.shared.keep(Path::new("/c"), vec![entry(), entry()]);
        p.shared.keep(Path::new("/c"), vec![entry()]);
        assert_eq!(p.shared.kept.lock().unwrap().entries, 1);
    }

    #[test]
    fn a_warm_cache_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        let p = MetadataPrefetch::start(&[dir.path().to_path_buf()], 1);
        p.shared.judge(JUDGE_AFTER - 1, Duration::from_millis(1));
        assert!(!p.shared.stop.load(Ordering::Relaxed), "judged too early");
        p.shared.judge(1, Duration::ZERO);
        assert!(p.shared.stop.load(Ordering::Relaxed));
        let slow = MetadataPrefetch::start(&[], 1);
        slow.shared.judge(JUDGE_AFTER, Duration::from_secs(1));
        assert!(
            !slow.shared.stop.load(Ordering::Relaxed),
            "a slow disk is walked"
        );
    }

    #[test]
    fn dropping_it_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("d")).unwrap();
        let p = MetadataPrefetch::start(&[dir.path().to_path_buf()], 2);
        drop(p);
    }
}
