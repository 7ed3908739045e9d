//! `hbk forget`: remove snapshots by id or by a keep policy, with restic
//! 0.14's flags, tables and `--json` shape.

use std::time::Instant;

use anyhow::Result;
use hbk_engine::commands::forget::{forget, ForgetOptions, GroupBy};
use hbk_engine::snapshots::SnapshotFilter;
use hbk_repo::Id;
use serde_json::Value;

use crate::commands::prune::prune_and_print;
use crate::global::GlobalOpts;
use crate::{exit, repo};
use hbk_engine::lock::{LockKind, WriteMode};
use output::{group_json, print_group_header, print_snapshots};

mod output;

mod args;
mod policy;

pub use args::ForgetArgs;

/// Forgets snapshots and prints what was kept and removed.
pub fn run(g: &GlobalOpts, a: ForgetArgs) -> Result<i32> {
    let prune_opts = a.prune.then(|| a.prune_flags.options(g)).transpose()?;
    let started = Instant::now();
    let opts = ForgetOptions {
        ids: a.ids.clone(),
        policy: policy::policy(&a)?,
        group_by: a.group_by.parse::<GroupBy>()?,
        filter: SnapshotFilter {
            hosts: a.host.clone(),
            tags: SnapshotFilter::tag_sets(&a.tag),
            paths: a.path.clone(),
        },
        allow_remove_all: a.unsafe_allow_remove_all,
    };
    if g.no_lock && !a.dry_run {
        anyhow::bail!(
            "--no-lock is only applicable in combination with --dry-run for forget command"
        );
    }
    let repo = repo::open(g)?;
    // With --prune, one exclusive lock covers both halves; a dry run
    // without --prune (or with --no-lock) takes none.
    let lock = if (prune_opts.is_some() && !g.no_lock) || (!a.dry_run && opts.may_remove()) {
        Some(crate::repo::lock(g, &repo, LockKind::Exclusive)?)
    } else {
        None
    };
    let mode = match (&lock, a.dry_run) {
        (Some(l), false) => WriteMode::Locked(l),
        _ => WriteMode::DryRun,
    };
    let report = forget(&repo, mode, &opts)?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    let talk = !g.quiet && !g.json;
    if opts.ids.is_empty() && talk {
        println!("Applying Policy: {}", opts.policy);
    }
    for group in &report.groups {
        if talk && g.verbose > 0 {
            print_group_header(group);
        }
        if talk && !group.keep.is_empty() {
            println!("keep {} snapshots:", group.keep.len());
            print_snapshots(&group.keep, Some(group), a.compact);
            println!();
        }
        if talk && !group.remove.is_empty() {
            println!("remove {} snapshots:", group.remove.len());
            print_snapshots(&group.remove, None, a.compact);
            println!();
        }
    }
    if !report.removed.is_empty() && !g.json {
        let n = report.removed.len();
        if a.dry_run {
            let ids: Vec<String> = report.removed.iter().map(Id::short).collect();
            println!(
                "Would have removed the following snapshots:\n{{{}}}\n",
                ids.join(" ")
            );
        } else if !g.quiet {
            let secs = started.elapsed().as_secs();
            println!(
                "[{}:{:02}] 100.00%  {n} / {n} files deleted\n",
                secs / 60,
                secs % 60
            );
        }
    }
    if g.json && !report.groups.is_empty() {
        let groups: Vec<Value> = report.groups.iter().map(group_json).collect();
        let mut out = hbk_repo::gojson::to_vec(&groups)?;
        out.push(b'\n');
        std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    }
    if let (Some(prune_opts), false) = (prune_opts, report.removed.is_empty()) {
        if !g.quiet && !g.json {
            println!(
                "{} snapshots have been removed, running prune",
                report.removed.len()
            );
        }
        match &lock {
            Some(lock) => prune_and_print(g, &repo, lock, a.dry_run, &prune_opts)?,
            None => crate::commands::prune::dry_run_unlocked_and_print(g, &repo, &prune_opts)?,
        }
    }
    drop(lock);
    Ok(exit::OK)
}
