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
//! The walk keeps what it listed, up to [`KEEP_ENTRIES`] entries (then it
//! waits for the backup to take some), for the backup to take
//! ([`Listings`]); what the backup leaves out is let go
//! ([`Listings::skip`]). A directory listed in full is not
//! listed and stat'ed again (on a cold cache that second pass was a tenth
//! of a no-op backup's CPU). An entry is then as the walk found it, a
//! little earlier than the backup would have, as for any walk of a live
//! file system.
//!
//! The backup's walk is parallel too, and its threads soon work far from
//! where the prefetch is (work stealing hands them the far end of a
//! directory's entries). A directory it reaches before the prefetch does
//! is therefore handed to the prefetch, listed next and kept whatever the
//! limit, while the backup waits for it: each directory is listed once,
//! by whichever thread gets to it first, and the prefetch follows where
//! the backup goes. Without that, over half of a cold no-op backup's
//! directories were listed twice, once by each walk, the kept listings
//! of those the backup had passed were never taken, and they filled the
//! limit.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::hash::BuildHasher;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Entries stat'ed before the walk judges whether the cache is warm…
const JUDGE_AFTER: u64 = 2_000;
/// …which it is when an entry took less than this on average (a cached
/// listing and stat take one or two microseconds, a disk read far more).
const WARM_NANOS_PER_ENTRY: u64 = 6_000;

/// Entries kept for the backup at most (about 300 bytes each, 15 MB in
/// all); the walk waits there until the backup takes some, listing
/// meanwhile only the directories the backup waits for.
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

/// Waits on `signal` for at most `timeout`, giving the walk's state back.
fn wait<'a>(
    signal: &Condvar,
    walk: MutexGuard<'a, Walk>,
    timeout: Duration,
) -> MutexGuard<'a, Walk> {
    signal
        .wait_timeout(walk, timeout)
        .map(|(w, _)| w)
        .unwrap_or_else(|p| p.into_inner().0)
}

/// A running prefetch; dropping it stops its threads.
pub struct MetadataPrefetch {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

/// The walk's state, shared by its threads and the backup.
struct Shared {
    stop: AtomicBool,
    /// Entries stat'ed, and the time their listings took.
    entries: AtomicU64,
    nanos: AtomicU64,
    state: Mutex<Walk>,
    /// Signalled when there is a directory to list or the walk stops.
    changed: Condvar,
    /// Signalled when a directory the backup waits for is listed, or
    /// could not be, and when a thread of the walk ends.
    listed: Condvar,
    /// Hashes directory paths for [`Walk::started`].
    hasher: RandomState,
}

/// Where the walk is.
#[derive(Default)]
struct Walk {
    /// Directories still to list, with the device the walk stays on below
    /// them; the next one last.
    dirs: Vec<(PathBuf, u64)>,
    /// Directories the backup waits for, listed before those in `dirs`.
    asked: Vec<(PathBuf, u64)>,
    /// The directories being listed now.
    busy: Vec<PathBuf>,
    /// Hashes of the paths of the directories listed or being listed: a
    /// directory is listed once, even when the backup hands it over while
    /// it also waits in `dirs`. (A collision only means the backup lists
    /// that directory itself.)
    started: HashSet<u64>,
    /// The threads still walking.
    live: usize,
    /// Listings kept for the backup, by directory.
    listings: HashMap<PathBuf, Listing>,
    /// Entries in `listings`.
    entries: usize,
    /// Directories the backup waits for: listed next, kept whatever the
    /// limit.
    wanted: HashSet<PathBuf>,
    /// Directories the backup leaves out: neither they nor anything below
    /// them is listed or kept.
    skipped: HashSet<PathBuf>,
}

impl Walk {
    /// Whether `dir` is or lies below a directory the backup leaves out.
    fn skips(&self, dir: &Path) -> bool {
        !self.skipped.is_empty() && dir.ancestors().any(|a| self.skipped.contains(a))
    }

    /// Counts `n` kept entries out (taken or let go); whether that lifts
    /// the limit the walk waits at.
    fn let_go(&mut self, n: usize) -> bool {
        let full = self.entries >= KEEP_ENTRIES;
        self.entries -= n;
        full && self.entries < KEEP_ENTRIES
    }

    /// The next directory to list: one the backup waits for, else the
    /// walk's next one unless the kept listings are at their limit.
    fn pop(&mut self) -> Option<(PathBuf, u64)> {
        self.asked.pop().or_else(|| {
            (self.entries < KEEP_ENTRIES)
                .then(|| self.dirs.pop())
                .flatten()
        })
    }
}

/// The listings a prefetch keeps, for the backup's walk to take.
#[derive(Clone)]
pub struct Listings(Arc<Shared>);

impl Listings {
    /// The listing of `dir` (absolute and clean, as the backup walks it;
    /// on device `dev`). A directory the walk has not come to yet is
    /// listed next, and this waits for it; `None` when the walk listed it
    /// without keeping it, could not list it whole, or has ended, and
    /// below a directory left out ([`Listings::skip`]); the backup then
    /// lists it itself. Each listing is taken once.
    pub fn take(&self, dir: &Path, dev: u64) -> Option<Listing> {
        let shared = &self.0;
        let mut walk = shared.lock();
        loop {
            if let Some(listing) = walk.listings.remove(dir) {
                if walk.let_go(listing.len()) {
                    shared.changed.notify_all();
                }
                return Some(listing);
            }
            if walk.live == 0 || shared.stop.load(Ordering::Relaxed) || walk.skips(dir) {
                return None;
            }
            if !walk.wanted.contains(dir) {
                if walk.busy.iter().all(|b| b != dir) {
                    if walk.started.contains(&shared.hasher.hash_one(dir)) {
                        return None;
                    }
                    walk.asked.push((dir.to_path_buf(), dev));
                    shared.changed.notify_one();
                }
                // Wanted, so that its listing is kept and signalled.
                walk.wanted.insert(dir.to_path_buf());
            }
            // Timed, so that a missed signal costs a moment, not the backup.
            walk = wait(&shared.listed, walk, Duration::from_millis(50));
        }
    }

    /// Tells the walk that the backup leaves `dir` out (an exclude rule):
    /// what it kept of it and below it is let go, and it lists nothing
    /// more there, so that listings nobody takes do not hold the walk at
    /// its limit.
    pub fn skip(&self, dir: &Path) {
        let shared = &self.0;
        let mut walk = shared.lock();
        let mut dropped = 0;
        walk.listings.retain(|path, listing| {
            let keep = !path.starts_with(dir);
            if !keep {
                dropped += listing.len();
            }
            keep
        });
        walk.skipped.insert(dir.to_path_buf());
        if walk.let_go(dropped) {
            shared.changed.notify_all();
        }
    }
}

impl std::fmt::Debug for Listings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listings").finish_non_exhaustive()
    }
}

impl MetadataPrefetch {
    /// Starts walking the directories among `sources` with `threads`
    /// threads.
    pub fn start(sources: &[PathBuf], threads: usize) -> MetadataPrefetch {
        let threads = threads.max(1);
        let mut work = Walk {
            live: threads,
            ..Walk::default()
        };
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
        let shared = Arc::new(Shared::new(work));
        let threads = (0..threads)
            .filter_map(|i| {
                let walker = Arc::clone(&shared);
                let spawned = std::thread::Builder::new()
                    .name(format!("hbk-prefetch-{i}"))
                    .spawn(move || walker.run());
                if spawned.is_err() {
                    shared.ended();
                }
                spawned.ok()
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
        self.shared.listed.notify_all();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Shared {
    fn new(walk: Walk) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            entries: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            state: Mutex::new(walk),
            changed: Condvar::new(),
            listed: Condvar::new(),
            hasher: RandomState::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Walk> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a thread of the walk out, waking a backup waiting for it.
    fn ended(&self) {
        self.lock().live -= 1;
        self.listed.notify_all();
    }

    /// Walks until no directory is left and none is being listed (which
    /// could add more), or until stopped.
    fn run(&self) {
        while let Some((dir, dev)) = self.next() {
            let started = Instant::now();
            let (mut found, entries) = self.list(&dir, dev);
            // Depth first, in name order, as the backup walks: the
            // listings kept are the ones it takes next.
            found.sort_unstable_by(|a, b| b.0.cmp(&a.0));
            self.judge(entries, started.elapsed());
            let mut walk = self.lock();
            walk.dirs.extend(found);
            drop(walk);
            self.changed.notify_all();
        }
        self.ended();
    }

    /// The next directory to list ([`Walk::pop`]), waiting while others
    /// are listed (they may add some) or the limit holds; `None` when the
    /// walk is over.
    fn next(&self) -> Option<(PathBuf, u64)> {
        let mut walk = self.lock();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            while let Some((dir, dev)) = walk.pop() {
                if !walk.skips(&dir) && walk.started.insert(self.hasher.hash_one(&dir)) {
                    walk.busy.push(dir.clone());
                    return Some((dir, dev));
                }
            }
            if walk.busy.is_empty() && walk.dirs.is_empty() {
                return None;
            }
            walk = wait(&self.changed, walk, Duration::from_millis(20));
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
        let listed = list_dir(dir, || !self.stop.load(Ordering::Relaxed));
        let Ok(listed) = listed else {
            self.keep(dir, None);
            return (Vec::new(), 0);
        };
        let dirs = listed
            .entries
            .iter()
            .filter(|(_, m)| m.as_ref().is_ok_and(|m| m.is_dir() && m.dev() == dev))
            .map(|(name, _)| (dir.join(OsStr::from_bytes(name)), dev))
            .collect();
        let n = listed.entries.len() as u64;
        let whole = !listed.stopped && listed.errors.is_empty();
        self.keep(dir, whole.then_some(listed.entries));
        (dirs, n)
    }

    /// Ends the listing of `dir`: keeps it for the backup when it is
    /// whole (`Some`). Only here can the kept entries pass
    /// [`KEEP_ENTRIES`], by one listing, or by those the backup waits for.
    fn keep(&self, dir: &Path, listing: Option<Listing>) {
        let mut walk = self.lock();
        walk.busy.retain(|b| b != dir);
        let wanted = walk.wanted.remove(dir);
        if let Some(listing) = listing.filter(|_| !walk.skips(dir)) {
            walk.entries += listing.len();
            // Should a directory be listed twice, its listing is replaced.
            if let Some(old) = walk.listings.insert(dir.to_path_buf(), listing) {
                walk.entries -= old.len();
            }
        }
        drop(walk);
        if wanted {
            self.listed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state of a walk with one thread: the test's.
    fn walking() -> Shared {
        Shared::new(Walk {
            live: 1,
            ..Walk::default()
        })
    }

    /// A listed entry.
    fn entry() -> (Vec<u8>, std::io::Result<Metadata>) {
        (b"x".to_vec(), std::fs::symlink_metadata("/"))
    }

    /// A listing that fills the limit by itself.
    fn full() -> Option<Listing> {
        Some((0..KEEP_ENTRIES).map(|_| entry()).collect())
    }

    /// A listing's names, sorted.
    fn names(listing: &Listing) -> Vec<&[u8]> {
        let mut names: Vec<&[u8]> = listing.iter().map(|(n, _)| n.as_slice()).collect();
        names.sort();
        names
    }

    /// The next directory of `shared`'s walk, once there is one.
    fn next_of(shared: &Shared) -> (PathBuf, u64) {
        loop {
            match shared.next() {
                Some(next) => return next,
                None => std::thread::sleep(Duration::from_millis(1)),
            }
        }
    }

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
        let walk = p.shared.lock();
        assert!(walk.dirs.is_empty() && walk.busy.is_empty() && walk.live == 0);
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
        let dev = std::fs::symlink_metadata(&root).unwrap().dev();
        let mut top = listings.take(&root, dev).unwrap();
        assert_eq!(names(&top), [&b"d"[..], b"f"]);
        top.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(top[1].1.as_ref().unwrap().len(), 5);
        assert!(listings.take(&root, dev).is_none(), "taken twice");
        assert_eq!(listings.take(&root.join("d"), dev).unwrap().len(), 1);
        assert_eq!(p.shared.lock().entries, 0);
    }

    /// At [`KEEP_ENTRIES`] kept entries the walk lists only what the
    /// backup waits for, and goes on once the backup takes some.
    #[test]
    fn the_walk_waits_at_the_limit() {
        let shared = walking();
        shared.keep(Path::new("/a"), full());
        let mut walk = shared.lock();
        walk.dirs.push((PathBuf::from("/next"), 0));
        walk.asked.push((PathBuf::from("/asked"), 0));
        assert_eq!(walk.pop(), Some((PathBuf::from("/asked"), 0)));
        assert_eq!(walk.pop(), None, "at the limit");
        drop(walk);
        let listings = Listings(Arc::new(shared));
        assert_eq!(
            listings.take(Path::new("/a"), 0).map(|l| l.len()),
            Some(KEEP_ENTRIES)
        );
        let shared = &listings.0;
        assert_eq!(shared.lock().pop(), Some((PathBuf::from("/next"), 0)));
        // A listing made again replaces the first one in the count too.
        shared.keep(Path::new("/c"), Some(vec![entry(), entry()]));
        shared.keep(Path::new("/c"), Some(vec![entry()]));
        assert_eq!(shared.lock().entries, 1);
    }

    /// A directory the backup reaches before the walk does is listed
    /// next, kept beyond the limit and handed over; once listed, it is
    /// not waited for again.
    #[test]
    fn the_walk_lists_next_what_the_backup_waits_for() {
        let dir = tempfile::tempdir().unwrap();
        let wanted = dir.path().join("w");
        std::fs::create_dir_all(wanted.join("sub")).unwrap();
        std::fs::write(wanted.join("f"), b"x").unwrap();
        let dev = std::fs::symlink_metadata(&wanted).unwrap().dev();
        // One thread walking (this test's), and the limit reached.
        let shared = Arc::new(Shared::new(Walk {
            live: 1,
            entries: KEEP_ENTRIES,
            ..Walk::default()
        }));
        let listings = Listings(Arc::clone(&shared));
        std::thread::scope(|s| {
            let taker = s.spawn(|| listings.take(&wanted, dev));
            let (next, next_dev) = next_of(&shared);
            assert_eq!((next.as_path(), next_dev), (wanted.as_path(), dev));
            let (found, n) = shared.list(&next, next_dev);
            assert_eq!((found.len(), n), (1, 2));
            let listing = taker.join().unwrap().expect("handed over");
            assert_eq!(names(&listing), [&b"f"[..], b"sub"]);
        });
        assert!(listings.take(&wanted, dev).is_none(), "listed already");
        assert!(shared.lock().wanted.is_empty());
        // Come to again, a directory listed already is skipped.
        let mut walk = shared.lock();
        walk.entries = 0;
        walk.dirs.push((wanted.clone(), dev));
        drop(walk);
        assert!(shared.next().is_none());
    }

    /// A directory the backup reaches while the walk lists it is waited
    /// for and handed over, whatever the limit.
    #[test]
    fn a_directory_being_listed_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        let dev = std::fs::symlink_metadata(dir.path()).unwrap().dev();
        let shared = Arc::new(walking());
        let listings = Listings(Arc::clone(&shared));
        shared.lock().dirs.push((dir.path().to_path_buf(), dev));
        let (next, next_dev) = shared.next().unwrap();
        shared.lock().entries = KEEP_ENTRIES;
        std::thread::scope(|s| {
            let taker = s.spawn(|| listings.take(dir.path(), dev));
            while !shared.lock().wanted.contains(dir.path()) {
                std::thread::sleep(Duration::from_millis(1));
            }
            shared.list(&next, next_dev);
            assert_eq!(taker.join().unwrap().map(|l| l.len()), Some(1));
        });
    }

    /// A directory the backup leaves out is let go with all below it, and
    /// the walk neither lists nor keeps anything there any more.
    #[test]
    fn a_skipped_directory_is_let_go() {
        let shared = walking();
        shared.keep(Path::new("/s/a"), Some(Vec::new()));
        shared.keep(Path::new("/s/a/b"), full());
        shared.keep(Path::new("/s/ab"), Some(vec![entry()]));
        let listings = Listings(Arc::new(shared));
        listings.skip(Path::new("/s/a"));
        let shared = &listings.0;
        assert_eq!(shared.lock().entries, 1, "/s/ab stays");
        shared.lock().dirs.extend([
            (PathBuf::from("/s/ab/c"), 0),
            (PathBuf::from("/s/a/b/c"), 0),
        ]);
        assert_eq!(shared.next().map(|d| d.0), Some(PathBuf::from("/s/ab/c")));
        shared.keep(Path::new("/s/a/d"), Some(vec![entry()]));
        assert!(listings.take(Path::new("/s/a/d"), 0).is_none());
        assert_eq!(
            listings.take(Path::new("/s/ab"), 0).map(|l| l.len()),
            Some(1)
        );
    }

    /// A directory that cannot be listed, or a walk that has ended, leaves
    /// the backup to list for itself, without waiting.
    #[test]
    fn the_backup_lists_what_the_walk_cannot() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let shared = Arc::new(walking());
        let listings = Listings(Arc::clone(&shared));
        std::thread::scope(|s| {
            let taker = s.spawn(|| listings.take(&missing, 0));
            let (next, dev) = next_of(&shared);
            assert_eq!(shared.list(&next, dev), (Vec::new(), 0));
            assert!(taker.join().unwrap().is_none());
        });
        shared.ended();
        assert!(listings.take(dir.path(), 0).is_none(), "the walk has ended");
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
