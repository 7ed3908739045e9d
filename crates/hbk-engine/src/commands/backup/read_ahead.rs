//! Asking the disk for a directory's small changed files before they are
//! read.
//!
//! A small file is read with one `read`, which on a cold cache waits for
//! the disk: one request in flight per worker, and a two-core machine
//! spent a fifth of a backup of mixed data waiting for such reads. So a
//! directory's entries are archived in windows; before a window is
//! archived, the small files of the next one that the backup will read
//! (new or changed since the parent snapshot, by size, times and inode)
//! are opened and the kernel is asked to read them into its cache
//! (`POSIX_FADV_WILLNEED`, which only queues the reads). Their reads then
//! find the data cached, and the disk serves many requests at once.
//!
//! Files read with direct I/O ([`super::source_file::DIRECT_MIN`] bytes
//! and more) bypass the cache and are left alone, and so are files the
//! parent says are unchanged (a no-op backup asks for nothing) and files
//! an exclude rule leaves out. The files
//! opened ahead are capped ([`MAX_OPEN_AHEAD`]) so that a deep tree of
//! windows cannot run the process out of descriptors; past the cap files
//! are opened when read, as before. A guess that misses costs one wasted
//! request or one uncached read, never a different result: whether a file
//! is read is still decided by the archiver.

use std::fs::{File, Metadata};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use hbk_repo::{GoTime, Node, NodeType};
use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};

use super::options::BackupOptions;
use super::prefetch::Listing;
use super::source_file::{open_noatime, DIRECT_MIN};

/// Files asked for ahead in one window at most…
const WINDOW_FILES: usize = 32;
/// …and bytes.
const WINDOW_BYTES: u64 = 4 << 20;
/// Files opened ahead and not yet read, in the whole backup, at most.
pub const MAX_OPEN_AHEAD: usize = 256;

/// One directory entry waiting to be archived.
pub struct Pending<'a> {
    /// The entry's name.
    pub name: Vec<u8>,
    /// Its `lstat` result.
    pub meta: std::io::Result<Metadata>,
    /// Its node in the parent snapshot, if any.
    pub prev: Option<&'a Node>,
    /// The file, opened ahead and asked for, when it was.
    pub file: Option<OpenAhead<'a>>,
    /// Whether it is to be asked for ahead.
    ahead: bool,
}

/// A file opened ahead; counts against [`MAX_OPEN_AHEAD`] until it is
/// taken for reading or dropped.
pub struct OpenAhead<'a> {
    file: Option<File>,
    open: &'a AtomicUsize,
}

impl OpenAhead<'_> {
    /// The open file, for reading.
    pub fn into_file(mut self) -> Option<File> {
        self.file.take()
    }
}

impl Drop for OpenAhead<'_> {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the archiver will likely read the file `meta` describes, and
/// through the page cache: a small non-empty regular file that is new or
/// differs from `prev`, its node in the parent snapshot, as `opts`
/// compare them (`--ignore-ctime`, `--ignore-inode`).
fn will_read(meta: &Metadata, prev: Option<&Node>, opts: &BackupOptions) -> bool {
    if !meta.is_file() || meta.len() == 0 || meta.len() >= DIRECT_MIN {
        return false;
    }
    let Some(p) = prev else {
        return true;
    };
    let differs = |t: &GoTime, secs: i64, nanos: i64| {
        t.unix_seconds() != secs || i64::from(t.nanos()) != nanos
    };
    p.node_type != NodeType::File
        || p.size != meta.len()
        || differs(&p.mtime, meta.mtime(), meta.mtime_nsec())
        || (!opts.ignore_ctime && differs(&p.ctime, meta.ctime(), meta.ctime_nsec()))
        || (!opts.ignore_inode && p.inode != meta.ino())
}

/// Splits a directory's entries into windows, each with at most
/// [`WINDOW_FILES`] files and [`WINDOW_BYTES`] bytes to ask for ahead;
/// `prev` finds an entry's node in the parent snapshot (once an entry:
/// each keeps it). A directory with nothing to read is one window.
pub fn windows<'a>(
    entries: Listing,
    prev: impl Fn(&[u8]) -> Option<&'a Node>,
    opts: &BackupOptions,
) -> Vec<Vec<Pending<'a>>> {
    let mut windows = Vec::new();
    let mut current: Vec<Pending<'a>> = Vec::new();
    let (mut files, mut bytes) = (0, 0);
    for (name, meta) in entries {
        let size = meta.as_ref().map_or(0, Metadata::len);
        let node = prev(&name);
        let ahead = meta.as_ref().is_ok_and(|m| will_read(m, node, opts));
        if ahead && (files == WINDOW_FILES || bytes + size > WINDOW_BYTES) && files > 0 {
            windows.push(std::mem::take(&mut current));
            (files, bytes) = (0, 0);
        }
        if ahead {
            files += 1;
            bytes += size;
        }
        current.push(Pending {
            name,
            meta,
            prev: node,
            file: None,
            ahead,
        });
    }
    if !current.is_empty() || windows.is_empty() {
        windows.push(current);
    }
    windows
}

/// Opens the files of `window` (in directory `dir`) that are to be read
/// and asks the kernel to read them into its cache, while fewer than
/// [`MAX_OPEN_AHEAD`] files are open ahead (`open` counts them). Files
/// an exclude rule leaves out (`excluded`, given the path and metadata)
/// are not asked for. A file that cannot be opened is left to be opened,
/// and reported, when read.
pub fn ask_ahead<'a>(
    dir: &Path,
    window: &mut [Pending<'a>],
    open: &'a AtomicUsize,
    excluded: impl Fn(&Path, &Metadata) -> bool,
) {
    for p in window.iter_mut().filter(|p| p.ahead && p.file.is_none()) {
        let path = dir.join(std::ffi::OsStr::from_bytes(&p.name));
        if p.meta.as_ref().is_ok_and(|m| excluded(&path, m)) {
            continue;
        }
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_OPEN_AHEAD {
            open.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        match open_noatime(&path) {
            Ok(file) => {
                // Only a hint: a kernel that ignores it reads the file
                // when it is read.
                let _ = posix_fadvise(
                    file.as_raw_fd(),
                    0,
                    0,
                    PosixFadviseAdvice::POSIX_FADV_WILLNEED,
                );
                p.file = Some(OpenAhead {
                    file: Some(file),
                    open,
                });
            }
            Err(_) => {
                open.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` files named f000… in a fresh directory, `size` bytes each,
    /// listed as the archiver lists them.
    fn files(n: usize, size: usize) -> (tempfile::TempDir, Listing) {
        let dir = tempfile::tempdir().unwrap();
        let mut entries = Vec::new();
        for i in 0..n {
            let name = format!("f{i:03}");
            let path = dir.path().join(&name);
            std::fs::write(&path, vec![b'x'; size]).unwrap();
            entries.push((name.into_bytes(), std::fs::symlink_metadata(&path)));
        }
        (dir, entries)
    }

    /// A node as the parent snapshot would hold it for `meta`.
    fn node_of(name: &[u8], meta: &Metadata) -> Node {
        let names = super::super::metadata::NameCache::default();
        super::super::metadata::node_from_metadata(Path::new("x"), name, meta, &names, None).0
    }

    fn ahead(windows: &[Vec<Pending<'_>>]) -> Vec<Vec<bool>> {
        windows
            .iter()
            .map(|w| w.iter().map(|p| p.ahead).collect())
            .collect()
    }

    #[test]
    fn new_small_files_are_asked_for_in_windows() {
        let (_dir, entries) = files(WINDOW_FILES * 2 + 1, 10);
        let w = windows(entries, |_| None, &BackupOptions::default());
        assert_eq!(
            w.iter().map(Vec::len).collect::<Vec<_>>(),
            [WINDOW_FILES, WINDOW_FILES, 1]
        );
        assert!(ahead(&w).iter().flatten().all(|a| *a));
    }

    #[test]
    fn a_window_holds_at_most_its_bytes() {
        // Four such files fit in a window, a fifth does not.
        let size = (WINDOW_BYTES / 5 + 1) as usize;
        assert!((size as u64) < DIRECT_MIN);
        let (_dir, entries) = files(9, size);
        let w = windows(entries, |_| None, &BackupOptions::default());
        assert_eq!(w.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 1]);
    }

    #[test]
    fn unchanged_empty_and_large_files_are_left_alone() {
        let (_dir, mut entries) = files(3, 10);
        let (_big_dir, big) = files(1, DIRECT_MIN as usize);
        let (_empty_dir, empty) = files(1, 0);
        let parent: Vec<Node> = entries
            .iter()
            .take(2)
            .map(|(n, m)| node_of(n, m.as_ref().unwrap()))
            .collect();
        let mut changed = parent[1].clone();
        changed.size += 1;
        let parent = [parent[0].clone(), changed];
        entries.extend(big.into_iter().map(|(_, m)| (b"g".to_vec(), m)));
        entries.extend(empty.into_iter().map(|(_, m)| (b"h".to_vec(), m)));
        let find = |name: &[u8]| parent.iter().find(|n| n.name == name);
        let w = windows(entries, find, &BackupOptions::default());
        // f000 unchanged, f001 changed, f002 new, g large, h empty.
        assert_eq!(ahead(&w), [vec![false, true, true, false, false]]);
    }

    #[test]
    fn a_changed_ctime_or_inode_counts_unless_ignored() {
        let (_dir, entries) = files(1, 10);
        let meta = entries[0].1.as_ref().unwrap();
        let mut node = node_of(&entries[0].0, meta);
        node.inode += 1;
        let read = |opts: &BackupOptions| will_read(meta, Some(&node), opts);
        assert!(read(&BackupOptions::default()));
        assert!(!read(&BackupOptions {
            ignore_inode: true,
            ..BackupOptions::default()
        }));
        node.inode -= 1;
        node.ctime = GoTime::from_unix(1, 0, 0).unwrap();
        assert!(will_read(meta, Some(&node), &BackupOptions::default()));
        assert!(!will_read(
            meta,
            Some(&node),
            &BackupOptions {
                ignore_ctime: true,
                ..BackupOptions::default()
            }
        ));
    }

    #[test]
    fn files_opened_ahead_are_counted_and_capped() {
        let (dir, entries) = files(4, 10);
        let open = AtomicUsize::new(MAX_OPEN_AHEAD - 2);
        let mut w = windows(entries, |_| None, &BackupOptions::default());
        ask_ahead(dir.path(), &mut w[0], &open, |_, _| false);
        let opened: Vec<bool> = w[0].iter().map(|p| p.file.is_some()).collect();
        assert_eq!(opened, [true, true, false, false]);
        assert_eq!(open.load(Ordering::Relaxed), MAX_OPEN_AHEAD);
        let first = w[0][0].file.take().unwrap().into_file().unwrap();
        assert_eq!(open.load(Ordering::Relaxed), MAX_OPEN_AHEAD - 1);
        drop(first);
        drop(w);
        assert_eq!(open.load(Ordering::Relaxed), MAX_OPEN_AHEAD - 2);
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_left_for_its_read() {
        let (dir, entries) = files(2, 10);
        std::fs::remove_file(dir.path().join("f000")).unwrap();
        let open = AtomicUsize::new(0);
        let mut w = windows(entries, |_| None, &BackupOptions::default());
        ask_ahead(dir.path(), &mut w[0], &open, |_, _| false);
        assert!(w[0][0].file.is_none());
        assert!(w[0][1].file.is_some());
        assert_eq!(open.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn excluded_files_are_not_asked_for() {
        let (dir, entries) = files(3, 10);
        let open = AtomicUsize::new(0);
        let mut w = windows(entries, |_| None, &BackupOptions::default());
        ask_ahead(dir.path(), &mut w[0], &open, |path, _| {
            path.ends_with("f001")
        });
        let opened: Vec<bool> = w[0].iter().map(|p| p.file.is_some()).collect();
        assert_eq!(opened, [true, false, true]);
        assert_eq!(open.load(Ordering::Relaxed), 2);
    }
}
