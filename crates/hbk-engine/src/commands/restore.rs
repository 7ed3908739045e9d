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
    /// What to do with files that already exist at the target.
    pub overwrite: Overwrite,
    /// Delete what the target holds and the snapshot does not (only
    /// paths the patterns select, when there are patterns).
    pub delete: bool,
    /// Which extended attributes to restore.
    pub xattrs: XattrFilter,
    /// Give files the owner and group of the names the snapshot records,
    /// as this system knows them (ids where it does not).
    pub ownership_by_name: bool,
}

/// Which extended attributes restore sets, by name (restic's
/// `--include-xattr` / `--exclude-xattr`, its pattern syntax).
#[derive(Debug, Clone, Default)]
pub struct XattrFilter {
    include: Vec<crate::filter::Pattern>,
    exclude: Vec<crate::filter::Pattern>,
}

impl XattrFilter {
    /// Keeps the attributes `include` matches (all when empty), less those
    /// `exclude` matches; refuses both at once, as restic does.
    pub fn new(include: &[String], exclude: &[String]) -> Result<XattrFilter> {
        if !include.is_empty() && !exclude.is_empty() {
            return Err(crate::Error::invalid(
                "xattr patterns",
                "exclude and include xattr patterns are mutually exclusive",
            ));
        }
        let compile = |v: &[String]| crate::filter::compile_patterns(v, &[]);
        Ok(XattrFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// Whether the attribute `name` is restored.
    pub fn keeps(&self, name: &[u8]) -> bool {
        let matches = |p: &crate::filter::Pattern| p.matches(name).0;
        if !self.include.is_empty() {
            return self.include.iter().any(matches);
        }
        !self.exclude.iter().any(matches)
    }
}

/// What restore does with a file that already exists at the target
/// (restic's `--overwrite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Replace it (the default).
    #[default]
    Always,
    /// Keep its content when size and modification time match the
    /// snapshot's (metadata is still applied); replace it otherwise.
    IfChanged,
    /// Replace it only when the snapshot's copy is newer.
    IfNewer,
    /// Leave it alone.
    Never,
}

impl std::str::FromStr for Overwrite {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Overwrite> {
        Ok(match s {
            "always" => Overwrite::Always,
            "if-changed" => Overwrite::IfChanged,
            "if-newer" => Overwrite::IfNewer,
            "never" => Overwrite::Never,
            other => {
                return Err(crate::Error::invalid(
                    "overwrite behaviour",
                    format!(
                        "invalid overwrite behavior {other:?}: expected always, if-changed, if-newer or never"
                    ),
                ))
            }
        })
    }
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
            overwrite: Overwrite::Always,
            delete: false,
            xattrs: XattrFilter::default(),
            ownership_by_name: false,
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
    /// Regular files restored (hardlinks included; also those
    /// `overwrite` left as they were).
    pub files: u64,
    /// Directories restored.
    pub dirs: u64,
    /// Symlinks, fifos and devices restored.
    pub others: u64,
    /// Bytes of file content written (or, in a dry run, to be written).
    pub bytes: u64,
    /// Files whose content was read back and verified.
    pub verified: u64,
    /// Existing files (and other nodes) left as they were or whose
    /// content was kept (`overwrite`).
    pub files_skipped: u64,
    /// Their bytes, not counted in `bytes`.
    pub bytes_skipped: u64,
    /// What `delete` removed (or would remove, in a dry run), relative to
    /// the target.
    pub deleted: Vec<PathBuf>,
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
    if opts.delete && !includes && !excludes && target == Path::new("/") {
        return Err(crate::Error::invalid(
            "options",
            "'--target / --delete' must be combined with an include or exclude filter",
        ));
    }
    let selection = Selection::from_lists(p)?;
    let mut plan =
        RestorePlan::build(repo, tree, &selection, target, opts, progress.wants_items())?;
    let mut stats = plan.stats();
    progress.totals(stats.files + stats.dirs + stats.others, stats.bytes, true);
    if opts.dry_run {
        plan.report_all(progress);
        if opts.delete {
            stats.deleted = plan.delete_extra(target, &selection, true).0;
            report_deleted(&stats.deleted, progress);
        }
        return Ok(stats);
    }
    let owners = opts
        .owners
        .unwrap_or_else(|| nix::unistd::geteuid().is_root());
    std::fs::create_dir_all(target).map_err(|e| crate::Error::io(target, e))?;
    let mut errors = Vec::new();
    plan.report_kept(progress);
    if opts.delete {
        errors.extend(plan.clear_replaced_dirs(target));
    }
    errors.extend(plan.create_nodes(target, opts.sparse));
    errors.extend(plan.write_contents(repo, target, opts, owners, progress));
    errors.extend(plan.link_hardlinks(target, progress));
    // Before the metadata: deleting changes the directories' mtimes.
    if opts.delete {
        let (deleted, delete_errors) = plan.delete_extra(target, &selection, false);
        report_deleted(&deleted, progress);
        stats.deleted = deleted;
        errors.extend(delete_errors);
    }
    errors.extend(plan.apply_metadata(target, owners, progress));
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

/// Reports what `delete` removed (or would remove), when the front end
/// lists items.
fn report_deleted(deleted: &[PathBuf], progress: &dyn Progress) {
    if !progress.wants_items() {
        return;
    }
    for path in deleted {
        progress.restored(&crate::progress::RestoredItem {
            path,
            is_file: false,
            action: crate::progress::RestoreAction::Deleted,
            size: 0,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;
    use crate::testutil::sample;
    use filetime::{set_file_mtime, FileTime};

    fn run(
        repo: &IndexedRepository,
        root: &Id,
        target: &Path,
        opts: RestoreOptions,
    ) -> RestoreStats {
        let stats = restore(repo, root, target, &opts, &NoProgress).unwrap();
        assert!(stats.errors.is_empty(), "{:?}", stats.errors);
        stats
    }

    #[test]
    fn overwrite_rules_decide_about_existing_files() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        run(&repo, &s.root, t, RestoreOptions::default());
        let f = t.join("d/f");
        let original = std::fs::read(&f).unwrap();
        let snapshot_mtime = FileTime::from_last_modification_time(&std::fs::metadata(&f).unwrap());
        let with = |overwrite| RestoreOptions {
            overwrite,
            ..Default::default()
        };

        std::fs::write(&f, b"local").unwrap();
        let st = run(&repo, &s.root, t, with(Overwrite::Never));
        assert!(st.files_skipped == 1 && std::fs::read(&f).unwrap() == b"local");
        // The local file is newer: kept; older: replaced.
        run(&repo, &s.root, t, with(Overwrite::IfNewer));
        assert!(std::fs::read(&f).unwrap() == b"local");
        set_file_mtime(&f, FileTime::from_unix_time(946_684_800, 0)).unwrap();
        run(&repo, &s.root, t, with(Overwrite::IfNewer));
        assert!(std::fs::read(&f).unwrap() == original);
        // Same size and mtime are taken as the same content (the sample's
        // node records size 0).
        std::fs::write(&f, b"").unwrap();
        set_file_mtime(&f, snapshot_mtime).unwrap();
        let st = run(&repo, &s.root, t, with(Overwrite::IfChanged));
        assert_eq!((st.files_skipped, std::fs::read(&f).unwrap().len()), (1, 0));
        std::fs::write(&f, b"other size").unwrap();
        set_file_mtime(&f, snapshot_mtime).unwrap();
        run(&repo, &s.root, t, with(Overwrite::IfChanged));
        assert!(std::fs::read(&f).unwrap() == original);
        std::fs::write(&f, b"x").unwrap();
        run(&repo, &s.root, t, with(Overwrite::Always));
        assert!(std::fs::read(&f).unwrap() == original);
    }

    #[test]
    fn delete_removes_what_the_snapshot_lacks_and_patterns_limit_it() {
        let s = sample(1);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        std::fs::create_dir_all(t.join("d/f/in-the-way")).unwrap();
        std::fs::create_dir_all(t.join("x/y")).unwrap();
        std::fs::write(t.join("d/extra"), b"e").unwrap();
        std::fs::write(t.join("d/kept"), b"k").unwrap();
        let opts = |dry_run, exclude: &str| RestoreOptions {
            delete: true,
            dry_run,
            patterns: PatternLists {
                exclude: vec![exclude.into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let dry = run(&repo, &s.root, t, opts(true, "/d/kept"));
        assert_eq!(dry.deleted, [Path::new("x"), Path::new("d/extra")]);
        assert!(t.join("x/y").is_dir() && t.join("d/extra").exists());
        let st = run(&repo, &s.root, t, opts(false, "/d/kept"));
        assert_eq!(st.deleted, [Path::new("x"), Path::new("d/extra")]);
        assert!(!t.join("x").exists() && !t.join("d/extra").exists());
        assert!(t.join("d/kept").exists(), "excluded paths are not deleted");
        assert!(
            t.join("d/f").is_file(),
            "a directory in the way was replaced"
        );
        let refused = restore(
            &repo,
            &s.root,
            Path::new("/"),
            &RestoreOptions {
                delete: true,
                ..Default::default()
            },
            &NoProgress,
        );
        assert!(refused.is_err());
    }
}
