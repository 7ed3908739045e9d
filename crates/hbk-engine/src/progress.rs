//! Progress of every command, through one trait: a front end implements
//! the events it shows and ignores the rest; [`NoProgress`] shows nothing.
//!
//! * phases (prune, copy, check): each has a name and counts items, so a
//!   front end can draw one bar per phase or print JSON status lines;
//! * files and bytes (backup, restore): the size of the job, the file at
//!   hand, bytes processed, and items that could not be backed up;
//! * snapshots (copy): each source snapshot and what became of it;
//! * items (backup, restore): each file and directory as it is done, and
//!   what an exclude rule left out, for `-v` listings; only asked for when
//!   [`Progress::wants_items`] says so, since it costs a little per item.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// calls this repeatedly with growing numbers of files, last with
    /// `done`; a restore calls it once, with `done`, after walking its
    /// tree, counting every item (directories and others too).
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

    /// Whether the front end lists items ([`Progress::backed_up`],
    /// [`Progress::excluded`], [`Progress::restored`]); when not, the
    /// engine neither times items nor looks at what a restore replaces.
    fn wants_items(&self) -> bool {
        false
    }
    /// A file or directory is in the backup (with [`Progress::wants_items`]).
    fn backed_up(&self, _item: &BackedUpItem<'_>) {}
    /// An exclude rule left out this source item (with
    /// [`Progress::wants_items`]).
    fn excluded(&self, _path: &Path) {}
    /// Restore is done with an item (with [`Progress::wants_items`]).
    fn restored(&self, _item: &RestoredItem<'_>) {}

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

/// How a backed-up item compares with the parent snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemChange {
    /// Not in the parent.
    New,
    /// As in the parent (a file's content was not read).
    Unchanged,
    /// In the parent, but different.
    Modified,
}

/// A file or directory a backup is done with, and what it added to the
/// repository (restic's per-item `verbose_status`).
#[derive(Debug, Clone, Copy)]
pub struct BackedUpItem<'a> {
    /// The source path.
    pub path: &'a Path,
    /// A directory (its tree is stored) rather than a file.
    pub is_dir: bool,
    /// Against the parent snapshot.
    pub change: ItemChange,
    /// From starting the item to being done with it.
    pub duration: Duration,
    /// Plaintext bytes of the file's content blobs that were new.
    pub data_added: u64,
    /// What those blobs take in the repository.
    pub data_stored: u64,
    /// Plaintext bytes of the directory's tree, when it was new.
    pub tree_added: u64,
    /// What that tree takes in the repository.
    pub tree_stored: u64,
}

/// What restore did with one item (restic's restore actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreAction {
    /// Created where nothing was.
    Restored,
    /// Written over what was there.
    Updated,
    /// What was there stays (the overwrite rule), metadata maybe applied.
    Unchanged,
    /// Removed (`delete`): the snapshot does not hold it.
    Deleted,
}

/// An item restore is done with.
#[derive(Debug, Clone, Copy)]
pub struct RestoredItem<'a> {
    /// The path relative to the restore's target.
    pub path: &'a Path,
    /// A regular file (listings give files a size).
    pub is_file: bool,
    /// What was done.
    pub action: RestoreAction,
    /// The file's size (0 for a second name of a hardlinked file).
    pub size: u64,
}
