//! Progress of every command, through one trait: a front end implements
//! the events it shows and ignores the rest; [`NoProgress`] shows nothing.
//!
//! * phases (prune, copy, check): each has a name and counts items, so a
//!   front end can draw one bar per phase or print JSON status lines;
//! * files and bytes (backup, restore): the size of the job, the file at
//!   hand, bytes processed, and items that could not be backed up;
//! * snapshots (copy): each source snapshot and what became of it.

use std::path::{Path, PathBuf};

use hbk_repo::{Id, SnapshotFile};

/// Receives progress; called from worker threads. Every method does
/// nothing by default.
pub trait Progress: Sync {
    /// A phase begins; `total` items when known.
    fn phase_start(&self, _phase: &str, _total: Option<u64>) {}
    /// `items` more items of the current phase are done.
    fn phase_advance(&self, _items: u64) {}
    /// The current phase is over.
    fn phase_finish(&self) {}

    /// The size of the job so far: a backup scans alongside its work and
    /// calls this repeatedly with growing numbers, last with `done`; a
    /// restore calls it once, with `done`, after walking its tree.
    fn totals(&self, _files: u64, _bytes: u64, _done: bool) {}
    /// Reading a file's content starts (backup).
    fn file_started(&self, _path: &Path) {}
    /// A file is done (backup; `read`: its content was read, not reused).
    fn file_done(&self, _path: &Path, _size: u64, _read: bool) {}
    /// `n` more bytes of file content were read (backup) or written
    /// (restore).
    fn bytes_done(&self, _n: u64) {}
    /// An item could not be backed up; the backup goes on without it.
    fn warning(&self, _w: &Warning) {}

    /// A source snapshot is about to be copied or skipped.
    fn copy_started(&self, _id: &Id, _sn: &SnapshotFile) {}
    /// What became of a source snapshot.
    fn copy_done(&self, _id: &Id, _outcome: &CopyOutcome) {}
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// A problem with one source item; the backup went on without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The item.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// What happened to one source snapshot of a copy.
#[derive(Debug, Clone)]
pub enum CopyOutcome {
    /// Copied; the new snapshot's id in the target.
    Copied {
        /// The new snapshot.
        target: Id,
        /// Blobs transferred for it.
        blobs: u64,
        /// Plaintext bytes transferred for it.
        bytes: u64,
    },
    /// The target already holds this snapshot as `target`.
    AlreadyCopied {
        /// The existing copy.
        target: Id,
    },
}
