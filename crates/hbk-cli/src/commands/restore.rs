//! `hbk restore`.

use anyhow::{bail, Result};
use clap::Args;
use hbk_engine::commands::restore::{restore, RestoreOptions};
use hbk_engine::progress::NoProgress;
use hbk_engine::snapshots::find_snapshot;
use hbk_engine::walk::resolve_path;
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::go_time_string;
use crate::selection::{pattern_lists, ExcludeArgs, FilterArgs, IncludeArgs};
use crate::{exit, repo};
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
    /// Filters for `latest`.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Restores a snapshot or a directory of it.
pub fn run(g: &GlobalOpts, a: RestoreArgs) -> Result<i32> {
    let repo = repo::open_indexed(g)?;
    let (spec, subpath) = crate::selection::split_snapshot_path(&a.snapshot);
    let (id, sn) = find_snapshot(&repo, spec, &crate::selection::filter(&a.filter))?;
    let (tree, file) = resolve_path(&repo, &sn.tree, subpath.unwrap_or("/"), spec)?;
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
        ..Default::default()
    };
    let stats = restore(&repo, &tree, &a.target, &opts, &NoProgress)?;
    for e in &stats.errors {
        eprintln!("ignoring error for {}: {}", e.path.display(), e.message);
    }
    if g.json {
        println!(
            "{}",
            json!({
                "message_type": "summary",
                "total_files": stats.files + stats.dirs + stats.others,
                "files_restored": stats.files + stats.dirs + stats.others,
                "total_bytes": stats.bytes,
                "bytes_restored": if a.dry_run { 0 } else { stats.bytes },
                "errors": stats.errors.len(),
            })
        );
    } else if !g.quiet {
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
