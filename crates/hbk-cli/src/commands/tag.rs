//! `hbk tag`: add, remove or set snapshot tags, as restic 0.14 does.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::tag::{tag, TagChange};
use hbk_engine::lock::LockKind;
use hbk_engine::snapshots::{select_snapshots, SnapshotFilter};

use crate::global::GlobalOpts;
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `tag`.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// Snapshots to change (id, prefix or `latest`; default: all passing the filters).
    pub snapshots: Vec<String>,
    /// Tags to add (`a,b`; repeatable).
    #[arg(long, value_name = "tags")]
    pub add: Vec<String>,
    /// Tags to remove (`a,b`; repeatable).
    #[arg(long, value_name = "tags")]
    pub remove: Vec<String>,
    /// Tags replacing the existing ones (`a,b`; repeatable; `--set ''` clears).
    #[arg(long, value_name = "tags")]
    pub set: Vec<String>,
    /// Filters (used when no snapshot is given, and for `latest`).
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Flattens `a,b` lists; `--set ''` stays one empty tag (clear all).
fn flatten(args: &[String], keep_empty: bool) -> Vec<String> {
    if keep_empty && args.iter().all(String::is_empty) && !args.is_empty() {
        return vec![String::new()];
    }
    SnapshotFilter::tag_sets(args)
        .into_iter()
        .flatten()
        .collect()
}

/// Changes the tags.
pub fn run(g: &GlobalOpts, a: TagArgs) -> Result<i32> {
    let change = TagChange {
        set: flatten(&a.set, true),
        add: flatten(&a.add, false),
        remove: flatten(&a.remove, false),
    };
    change
        .validate()
        .map_err(crate::flags::invalid_flag("--set/--add/--remove"))?;
    let repo = repo::open(g)?;
    // Lock first, so that the snapshots changed are the current ones.
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let (snapshots, warnings) =
        select_snapshots(&repo, &a.snapshots, &crate::selection::filter(&a.filter))?;
    for w in warnings {
        eprintln!("{w}");
    }
    let changed = tag(&repo, &lock, snapshots, &change)?;
    if g.json {
        // restic 0.19: a `changed` message per snapshot, then a summary.
        for (old, new) in &changed {
            let m = serde_json::json!({"message_type": "changed", "old_snapshot_id": old.to_hex(), "new_snapshot_id": new.to_hex()});
            println!("{m}");
        }
        let m = serde_json::json!({"message_type": "summary", "changed_snapshots": changed.len()});
        println!("{m}");
        return Ok(exit::OK);
    }
    if g.verbose > 1 {
        for (old, new) in &changed {
            println!("old snapshot ID: {old} -> new snapshot ID: {new}");
        }
    }
    if !g.quiet {
        if changed.is_empty() {
            println!("no snapshots were modified");
        } else {
            println!("modified tags on {} snapshots", changed.len());
        }
    }
    Ok(exit::OK)
}
