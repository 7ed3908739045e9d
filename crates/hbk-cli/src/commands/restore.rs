//! `hbk restore`.

use anyhow::{bail, Result};
use clap::Args;
use hbk_engine::commands::restore::{restore, RestoreOptions, RestoreStats, XattrFilter};
use hbk_engine::snapshots::find_snapshot;
use hbk_engine::walk::resolve_path;
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::{format_bytes, go_time_string};
use crate::selection::{pattern_lists, ExcludeArgs, FilterArgs, IncludeArgs};
use crate::{exit, progress, repo};
use std::path::PathBuf;

/// `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// SNAPSHOT[:SUBPATH]: id, prefix or `latest`.
    pub snapshot: String,
    /// Directory to restore into.
    #[arg(short, long)]
    pub target: PathBuf,
    /// `--include`, `--iinclude` and their `-file` forms.
    #[command(flatten)]
    pub includes: IncludeArgs,
    /// `--exclude`, `--iexclude` and their `-file` forms.
    #[command(flatten)]
    pub excludes: ExcludeArgs,
    /// Read restored files back and verify them.
    #[arg(long)]
    pub verify: bool,
    /// Restore all-zero blocks as holes.
    #[arg(long)]
    pub sparse: bool,
    /// Show what would be restored, write nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// What to do with existing files: always, if-changed (keep those of
    /// equal size and mtime), if-newer, never.
    #[arg(long, default_value = "always")]
    pub overwrite: String,
    /// Delete what the target holds and the snapshot does not (with
    /// patterns: only what they select).
    #[arg(long)]
    pub delete: bool,
    /// Restore only the extended attributes matching a pattern
    /// (repeatable).
    #[arg(long = "include-xattr", value_name = "pattern")]
    pub include_xattr: Vec<String>,
    /// Do not restore the extended attributes matching a pattern
    /// (repeatable).
    #[arg(long = "exclude-xattr", value_name = "pattern")]
    pub exclude_xattr: Vec<String>,
    /// Restore owners by user and group name rather than by id.
    #[arg(long = "ownership-by-name")]
    pub ownership_by_name: bool,
    /// Filters for `latest`.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// restic 0.19's `summary` message: counts of zero are left out.
fn restore_summary_json(
    stats: &RestoreStats,
    total: u64,
    restored: u64,
    written: u64,
    took: std::time::Duration,
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("message_type".into(), json!("summary"));
    for (key, value) in [
        ("seconds_elapsed", took.as_secs()),
        ("total_files", total),
        ("files_restored", restored),
        ("files_skipped", stats.files_skipped),
        ("files_deleted", stats.deleted.len() as u64),
        ("total_bytes", stats.bytes + stats.bytes_skipped),
        ("bytes_restored", written),
        ("bytes_skipped", stats.bytes_skipped),
    ] {
        if value != 0 {
            m.insert(key.into(), json!(value));
        }
    }
    serde_json::Value::Object(m)
}

/// restic 0.19's closing line: `Summary: Restored N files/dirs (SIZE) in
/// M:SS`, with what was skipped and deleted.
fn restore_summary_text(
    stats: &RestoreStats,
    total: u64,
    restored: u64,
    written: u64,
    took: std::time::Duration,
) -> String {
    let secs = took.as_secs();
    let time = match secs / 3600 {
        0 => format!("{}:{:02}", secs / 60, secs % 60),
        h => format!("{h}:{:02}:{:02}", secs / 60 % 60, secs % 60),
    };
    let all_bytes = stats.bytes + stats.bytes_skipped;
    let mut line = if restored == total && written == all_bytes {
        format!(
            "Summary: Restored {total} files/dirs ({}) in {time}",
            format_bytes(all_bytes)
        )
    } else {
        format!(
            "Summary: Restored {restored} / {total} files/dirs ({} / {}) in {time}",
            format_bytes(written),
            format_bytes(all_bytes)
        )
    };
    if stats.files_skipped > 0 {
        line += &format!(
            ", skipped {} files/dirs {}",
            stats.files_skipped,
            format_bytes(stats.bytes_skipped)
        );
    }
    if !stats.deleted.is_empty() {
        line += &format!(", deleted {} files/dirs", stats.deleted.len());
    }
    line
}

/// Restores a snapshot or a directory of it.
pub fn run(g: &GlobalOpts, a: RestoreArgs) -> Result<i32> {
    let (repo, _lock) = repo::open_indexed_read(g)?;
    let (spec, subpath) = crate::selection::split_snapshot_path(&a.snapshot);
    let (id, sn) = find_snapshot(&repo, spec, &crate::selection::filter(&a.filter))?;
    let (tree, file) = resolve_path(&repo, &sn.tree, subpath.unwrap_or("/").as_bytes(), spec)?;
    if file.is_some() {
        bail!("{} is not a directory", a.snapshot);
    }
    if !g.quiet && !g.json {
        println!(
            "restoring <Snapshot {} of [{}] at {} by {}@{}> to {}",
            id.short(),
            sn.paths.join(" "),
            go_time_string(&sn.time),
            sn.username,
            sn.hostname,
            a.target.display()
        );
    }
    let opts = RestoreOptions {
        patterns: pattern_lists(&a.includes, &a.excludes)?,
        verify: a.verify,
        sparse: a.sparse,
        dry_run: a.dry_run,
        overwrite: a
            .overwrite
            .parse()
            .map_err(crate::flags::invalid_flag("--overwrite"))?,
        delete: a.delete,
        xattrs: XattrFilter::new(&a.include_xattr, &a.exclude_xattr)?,
        ownership_by_name: a.ownership_by_name,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let verbosity = progress::verbosity(g.quiet, g.verbose);
    let (progress, reporter) = progress::start(
        progress::Job::Restore,
        progress::mode(g.json, g.quiet),
        verbosity,
    );
    let stats = restore(&repo, &tree, &a.target, &opts, &progress);
    drop(reporter);
    let stats = stats?;
    for e in &stats.errors {
        if g.json {
            eprintln!("{}", progress::error_json("restore", &e.path, &e.message));
        } else {
            eprintln!("ignoring error for {}: {}", e.path.display(), e.message);
        }
    }
    let total = stats.files + stats.dirs + stats.others;
    let written = if a.dry_run { 0 } else { stats.bytes };
    let restored = if a.dry_run {
        0
    } else {
        total.saturating_sub(stats.files_skipped)
    };
    if g.json {
        println!(
            "{}",
            restore_summary_json(&stats, total, restored, written, started.elapsed())
        );
    } else if !g.quiet {
        if !a.dry_run {
            println!(
                "{}",
                restore_summary_text(&stats, total, restored, written, started.elapsed())
            );
        }
        if a.dry_run {
            println!(
                "would restore {} files, {} directories, {} other nodes, {} bytes",
                stats.files, stats.dirs, stats.others, stats.bytes
            );
        }
        if a.verify {
            println!(
                "verified {} files in {}",
                stats.verified,
                a.target.display()
            );
        }
    }
    if !stats.errors.is_empty() {
        eprintln!("Fatal: There were {} errors", stats.errors.len());
        return Ok(exit::ERROR);
    }
    Ok(exit::OK)
}
