//! `hbk rewrite`: new snapshots without excluded paths, or with a new host
//! or time (restic 0.15+).

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::rewrite::{rewrite_snapshots, RewriteMessage, RewriteOptions, Rewritten};
use hbk_engine::lock::WriteMode;

use crate::global::GlobalOpts;
use crate::output::go_time_string;
use crate::selection::{pattern_lists, ExcludeArgs, FilterArgs, IncludeArgs};
use crate::{exit, repo};

/// `rewrite`.
#[derive(Args, Debug)]
pub struct RewriteArgs {
    /// Snapshots to rewrite (default: all passing the filters).
    pub snapshots: Vec<String>,
    /// Remove the original snapshots after creating new ones.
    #[arg(long)]
    pub forget: bool,
    /// Do not write anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Replace the host name.
    #[arg(long = "new-host")]
    pub new_host: Option<String>,
    /// Replace the time of the backup ("2006-01-02 15:04:05", local time).
    #[arg(long = "new-time")]
    pub new_time: Option<String>,
    /// Create a snapshot summary record if it does not exist.
    #[arg(short = 's', long = "snapshot-summary")]
    pub snapshot_summary: bool,
    /// Include patterns.
    #[command(flatten)]
    pub includes: IncludeArgs,
    /// Exclude patterns.
    #[command(flatten)]
    pub excludes: ExcludeArgs,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs `rewrite`.
pub fn run(g: &GlobalOpts, a: RewriteArgs) -> Result<i32> {
    let opts = RewriteOptions {
        patterns: pattern_lists(&a.includes, &a.excludes)?,
        forget: a.forget,
        new_host: a.new_host.clone().filter(|h| !h.is_empty()),
        new_time: a
            .new_time
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(crate::selection::parse_snapshot_time)
            .transpose()?,
        snapshot_summary: a.snapshot_summary,
    };
    // Usage errors before the repository is opened.
    opts.validate()?;
    let (repo, lock, snapshots) =
        repo::open_for_snapshot_rewrite(g, opts.lock_kind(), a.dry_run, &a.snapshots, &a.filter)?;
    let mode = lock.as_ref().map_or(WriteMode::DryRun, WriteMode::Locked);
    let (quiet, verbose, dry_run) = (g.quiet, g.verbose, a.dry_run);
    let results = rewrite_snapshots(&repo, mode, snapshots, &opts, &mut |m| {
        if quiet {
            return;
        }
        match m {
            RewriteMessage::Snapshot(id, sn) => println!(
                "\nsnapshot {} of [{}] at {} by {}@{}",
                id.short(),
                sn.paths.join(" "),
                go_time_string(&sn.time),
                sn.username,
                sn.hostname
            ),
            RewriteMessage::Excluded(p) if verbose >= 2 => println!("excluding {p:?}"),
            RewriteMessage::Excluded(_) => {}
            RewriteMessage::Saved(None) => println!("would save new snapshot"),
            RewriteMessage::Saved(Some(id)) => println!("saved new snapshot {}", id.short()),
            RewriteMessage::RemovedOld(_) if dry_run => println!("would remove old snapshot"),
            RewriteMessage::RemovedOld(id) => println!("removed old snapshot {}", id.short()),
        }
    })?;
    let changed = results
        .iter()
        .filter(|(_, r)| matches!(r, Rewritten::Saved(_)))
        .count();
    if !quiet {
        println!();
        match (changed, dry_run) {
            (0, false) => println!("no snapshots were modified"),
            (0, true) => println!("no snapshots would be modified"),
            (n, false) => println!("modified {n} snapshots"),
            (n, true) => println!("would modify {n} snapshots"),
        }
    }
    Ok(exit::OK)
}
