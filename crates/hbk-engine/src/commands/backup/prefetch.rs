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

use std::collections::VecDeque;
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
}

/// Directories still to list (with the device they must be on), and how
/// many are being listed.
#[derive(Default)]
struct Work {
    dirs: VecDeque<(PathBuf, u64)>,
    busy: usize,
}

impl MetadataPrefetch {
    /// Starts walking the directories among `sources` with `threads`
    /// threads.
    pub fn start(sources: &[PathBuf], threads: usize) -> MetadataPrefetch {
        let mut work = Work::default();
        for s in sources {
            if let Ok(m) = std::fs::metadata(s) {
                if m.is_dir() {
                    work.dirs.push_back((s.clone(), m.dev()));
                }
            }
        }
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            entries: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            work: Mutex::new(work),
            changed: Condvar::new(),
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
                    if let Some(d) = work.dirs.pop_front() {
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
            let (found, entries) = self.list(&next.0, next.1);
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

    /// Stats every entry of `dir`; returns its subdirectories on `dev` and
    /// the number of entries.
    fn list(&self, dir: &Path, dev: u64) -> (Vec<(PathBuf, u64)>, u64) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (Vec::new(), 0);
        };
        let (mut dirs, mut n) = (Vec::new(), 0);
        for entry in entries.flatten() {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            n += 1;
            if let Ok(m) = entry.metadata() {
                if m.is_dir() && m.dev() == dev {
                    dirs.push((entry.path(), dev));
                }
            }
        }
        (dirs, n)
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
