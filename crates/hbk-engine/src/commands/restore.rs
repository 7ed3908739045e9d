//! `restore`: write a snapshot's tree into a directory.
//!
//! Restore is pack-centric. The plan maps each needed pack to the blobs
//! wanted from it and, for each blob, every file offset that needs it.
//! First the tree is walked and every selected node is created
//! (directories, symlinks, fifos, devices, files sized to their final
//! length) except the files whose content lies in a single pack. Worker
//! threads take one pack at a time, read the wanted byte ranges once,
//! decrypt and verify each blob and write it to all its places; a file
//! owned by the pack is created at its first blob and gets its metadata
//! at its last, through one descriptor, so a small file costs one path
//! lookup. Finally the remaining metadata is applied: owners, xattrs,
//! modes and times, for files first and for directories deepest first, so
//! that read-only directories and directory mtimes come out right.
//!
//! Memory stays bounded by the number of workers times the largest range
//! read at once, whatever the snapshot's size; the per-file bookkeeping is
//! the only part that grows with the number of files.
//!
//! A damaged blob fails only the files that need it: they are named in
//! [`RestoreStats::errors`] and everything else is restored.

mod apply;
mod node;
mod plan;

use std::path::{Path, PathBuf};

use hbk_repo::{Id, IndexedRepository};

use crate::filter::{PatternLists, Selection};
use crate::progress::Progress;
use crate::Result;

pub use plan::RestorePlan;

/// Options of [`restore`].
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// Restore only paths matching one of the include patterns (and their
    /// parents), skipping those matching an exclude pattern.
    pub patterns: PatternLists,
    /// After writing, read every restored file back and check its content.
    pub verify: bool,
    /// Leave holes for all-zero blobs instead of writing zeros.
    pub sparse: bool,
    /// Only plan: report what would be restored, write nothing.
    pub dry_run: bool,
    /// Restore owners (uid/gid). `None`: only when running as root.
    pub owners: Option<bool>,
    /// Packs processed at once.
    pub workers: usize,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            patterns: PatternLists::default(),
            verify: false,
            sparse: false,
            dry_run: false,
            owners: None,
            workers: 4,
        }
    }
}

/// A problem with one restored item; the rest of the restore went on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The path under the target directory.
    pub path: PathBuf,
    /// What went wrong.
    pub message: String,
}

/// What [`restore`] did.
#[derive(Debug, Clone, Default)]
pub struct RestoreStats {
    /// Regular files restored (hardlinks included).
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symlinks, fifos and devices restored.
    pub others: u64,
    /// Bytes of file content written (or, in a dry run, to be written).
    pub bytes: u64,
    /// Files whose content was read back and verified.
    pub verified: u64,
    /// Per-item problems.
    pub errors: Vec<ItemError>,
}

/// Restores the tree `tree` (a snapshot's root or a directory in it) into
/// `target`, creating `target` if needed.
pub fn restore(
    repo: &IndexedRepository,
    tree: &Id,
    target: &Path,
    opts: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreStats> {
    let p = &opts.patterns;
    let includes = !p.include.is_empty() || !p.iinclude.is_empty();
    let excludes = !p.exclude.is_empty() || !p.iexclude.is_empty();
    // Both refused as restic refuses them.
    if includes && excludes {
        return Err(crate::Error::invalid(
            "patterns",
            "exclude and include patterns are mutually exclusive",
        ));
    }
    if opts.dry_run && opts.verify {
        return Err(crate::Error::invalid(
            "options",
            "--dry-run and --verify are mutually exclusive",
        ));
    }
    let selection = Selection::from_lists(p)?;
    let mut plan = RestorePlan::build(repo, tree, &selection, opts.verify)?;
    let mut stats = plan.stats();
    progress.totals(stats.files, stats.bytes, true);
    if opts.dry_run {
        return Ok(stats);
    }
    let owners = opts
        .owners
        .unwrap_or_else(|| nix::unistd::geteuid().is_root());
    std::fs::create_dir_all(target).map_err(|e| crate::Error::io(target, e))?;
    let mut errors = plan.create_nodes(target);
    errors.extend(plan.write_contents(repo, target, opts, owners, progress));
    errors.extend(plan.link_hardlinks(target));
    errors.extend(plan.apply_metadata(target, owners));
    if opts.verify {
        let (verified, verify_errors) = plan.verify(repo, target, opts.workers);
        stats.verified = verified;
        errors.extend(verify_errors);
    }
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    errors.dedup();
    stats.errors = errors;
    Ok(stats)
}
