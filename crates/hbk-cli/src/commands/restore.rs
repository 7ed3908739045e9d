//! `hbk restore`.

use anyhow::{bail, Result};
use hbk_engine::commands::restore::{restore, RestoreOptions};
use hbk_engine::progress::NoProgress;
use hbk_engine::snapshots::find_snapshot;
use hbk_engine::walk::resolve_path;
use serde_json::json;

use crate::cli::{GlobalOpts, RestoreArgs};
use crate::output::go_time_string;
use crate::{exit, repo};

/// Restores a snapshot or a directory of it.
pub fn run(g: &GlobalOpts, a: RestoreArgs) -> Result<i32> {
    let repo = repo::open_indexed(g)?;
    let (spec, subpath) = super::split_snapshot_path(&a.snapshot);
    let (id, sn) = find_snapshot(&repo, spec, &super::filter(&a.filter))?;
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
        include: a.include,
        exclude: a.exclude,
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
