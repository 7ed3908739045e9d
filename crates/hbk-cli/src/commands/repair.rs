//! `hbk repair index|packs|snapshots` and restic 0.14's `rebuild-index`.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use hbk_engine::commands::repair::index::{repair_index, RepairIndexOptions};
use hbk_engine::commands::repair::packs::{find_packs_to_repair, repair_packs, RepairPacksMessage};
use hbk_engine::commands::repair::snapshots::{
    repair_snapshots, RepairMessage, RepairSnapshotsOptions, Repaired,
};
use hbk_engine::lock::{LockKind, WriteMode};

use crate::global::GlobalOpts;
use crate::output::go_time_string;
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `repair`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// What to repair.
    #[command(subcommand)]
    pub command: RepairCommand,
}

/// Repair subcommands.
#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Build a new index from the pack files.
    Index(IndexArgs),
    /// Salvage the intact blobs of damaged pack files, then remove them.
    Packs(PacksArgs),
    /// Rewrite snapshots whose trees reference missing blobs.
    Snapshots(SnapshotsArgs),
}

/// `repair packs`.
#[derive(Args, Debug)]
pub struct PacksArgs {
    /// The damaged packs (full ids, as `check` names them). With a source
    /// repository and none named, every pack is read and the damaged and
    /// missing ones are repaired.
    pub packs: Vec<String>,
    /// Another repository holding the same blobs (a copy): blobs that do
    /// not read back here are taken from it, which heals the damage.
    #[command(flatten)]
    pub from: crate::repo::FromRepoArgs,
}

/// `repair index` and `rebuild-index`.
#[derive(Args, Debug)]
pub struct IndexArgs {
    /// Read all pack files to generate the new index from scratch.
    #[arg(long = "read-all-packs")]
    pub read_all_packs: bool,
}

/// `repair snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Snapshots to repair (default: all passing the filters).
    pub snapshots: Vec<String>,
    /// Remove the original snapshots after saving the repaired ones.
    #[arg(long)]
    pub forget: bool,
    /// Do not write anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Runs a repair subcommand.
pub fn run(g: &GlobalOpts, a: RepairArgs) -> Result<i32> {
    match a.command {
        RepairCommand::Index(i) => run_index(g, i),
        RepairCommand::Packs(p) => run_packs(g, p),
        RepairCommand::Snapshots(s) => run_snapshots(g, s),
    }
}

fn run_packs(g: &GlobalOpts, a: PacksArgs) -> Result<i32> {
    let ids = a
        .packs
        .iter()
        .map(|s| {
            s.parse::<hbk_repo::Id>()
                .map_err(|e| anyhow::anyhow!("invalid pack id {s:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let from = a.from.open(g)?;
    if ids.is_empty() && from.is_none() {
        anyhow::bail!("no ids specified");
    }
    let repo = repo::open(g)?;
    let heal_from = match from {
        Some(f) if f.config().id == repo.config().id => {
            anyhow::bail!("the source of the blobs is this repository itself")
        }
        Some(f) => {
            let source_lock = crate::repo::lock(g, &f, LockKind::Shared)?;
            Some((
                f.into_indexed().context("loading the source index")?,
                source_lock,
            ))
        }
        None => None,
    };
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let quiet = g.quiet;
    let ids = match ids.is_empty() {
        false => ids,
        true => {
            if !quiet {
                println!("reading every pack to find the damaged and missing ones");
            }
            let packs = find_packs_to_repair(&repo)?;
            if packs.is_empty() {
                if !quiet {
                    println!("no damaged or missing packs: nothing to repair");
                }
                return Ok(exit::OK);
            }
            packs
        }
    };
    if !quiet {
        println!("saving backup copies of pack files to current folder");
        println!("salvaging intact data from specified pack files");
    }
    let here = std::env::current_dir()?;
    let source = heal_from.as_ref().map(|(r, _)| r);
    let r = repair_packs(&repo, &lock, &ids, Some(&here), source, &mut |m| match m {
        RepairPacksMessage::Unreadable(id, e) => {
            eprintln!("will remove packfile {id} due to failed download: {e}")
        }
        RepairPacksMessage::BlobFailed(b, pack, e) => {
            eprintln!("failed to load blob {} of pack {}: {e}", b.id, pack.short())
        }
        RepairPacksMessage::IncompleteIndexEntry(id) => {
            eprintln!("repairing incomplete index entry for pack {id}")
        }
        RepairPacksMessage::NoBlobs(id) => eprintln!("no blobs found for pack {id}"),
        RepairPacksMessage::Healed(b, pack) if !quiet => {
            println!(
                "healed blob {} of pack {} from the source repository",
                b.id,
                pack.short()
            )
        }
        RepairPacksMessage::Healed(..) => {}
    })?;
    for (id, e) in &r.not_removed {
        eprintln!("failed to delete pack file {id}: {e}");
    }
    if !quiet {
        println!(
            "salvaged {} blobs ({}{} held by other packs as well), removed {} pack files",
            r.salvaged,
            match source {
                Some(_) => format!("{} of them from the source repository, ", r.healed),
                None => String::new(),
            },
            r.elsewhere,
            r.removed.len()
        );
    }
    if !r.lost.is_empty() {
        eprintln!("{} blobs could not be salvaged:", r.lost.len());
        for l in &r.lost {
            eprintln!(
                "  {} blob {} from pack {}: {}",
                l.blob_type,
                l.id,
                l.pack.short(),
                l.reason
            );
        }
        if r.affected.is_empty() {
            eprintln!("no snapshot uses them");
        } else {
            eprintln!("they were used by:");
            for p in &r.affected {
                eprintln!("  snapshot {}: {}", p.snapshot.short(), p.path);
            }
        }
    }
    if !quiet {
        eprintln!(
            "\nUse `hbk repair snapshots --forget` to remove the corrupted data blobs from all snapshots"
        );
    }
    Ok(exit::OK)
}

/// Rebuilds the index.
pub fn run_index(g: &GlobalOpts, a: IndexArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let say = |s: &str| {
        if !g.quiet {
            println!("{s}");
        }
    };
    say(if a.read_all_packs {
        "reading all pack files"
    } else {
        "loading indexes and reading unindexed pack files"
    });
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let r = repair_index(
        &repo,
        &lock,
        RepairIndexOptions {
            read_all_packs: a.read_all_packs,
        },
    )?;
    for (id, e) in &r.unreadable_index_files {
        eprintln!("index {} could not be read: {e}", id.short());
    }
    for (id, e) in &r.damaged {
        eprintln!("pack {} left out: {e}", id.short());
    }
    say(&format!(
        "{} packs, {} read, {} index entries for missing packs dropped",
        r.packs, r.packs_read, r.missing_packs
    ));
    let ids: Vec<String> = r.new_index_files.iter().map(|i| i.short()).collect();
    say(&format!("saved new indexes as [{}]", ids.join(" ")));
    say(&format!(
        "removed {} old index files",
        r.deleted_index_files
    ));
    say("done");
    Ok(exit::OK)
}

fn run_snapshots(g: &GlobalOpts, a: SnapshotsArgs) -> Result<i32> {
    let (repo, lock, snapshots) = repo::open_for_snapshot_rewrite(
        g,
        LockKind::Exclusive,
        a.dry_run,
        &a.snapshots,
        &a.filter,
    )?;
    let mode = lock.as_ref().map_or(WriteMode::DryRun, WriteMode::Locked);
    let opts = RepairSnapshotsOptions { forget: a.forget };
    let quiet = g.quiet;
    let results = repair_snapshots(&repo, mode, snapshots, opts, &mut |m| {
        if quiet {
            return;
        }
        match m {
            RepairMessage::Snapshot(id, sn) => println!(
                "\nsnapshot {} of [{}] at {}",
                id.short(),
                sn.paths.join(" "),
                go_time_string(&sn.time)
            ),
            RepairMessage::Line(l) => println!("{l}"),
        }
    })?;
    let mut changed = 0;
    for (id, r) in &results {
        match r {
            Repaired::Unchanged => {}
            Repaired::Rewritten(new) => {
                changed += 1;
                if let Some(new) = new {
                    if !quiet {
                        println!("snapshot {} saved as {}", id.short(), new.short());
                    }
                }
            }
            Repaired::RootUnreadable { deleted } => {
                changed += 1;
                if !quiet && *deleted {
                    println!(
                        "removed snapshot {} (its root tree is unreadable)",
                        id.short()
                    );
                }
            }
        }
    }
    if !quiet {
        println!();
        match (changed, a.dry_run) {
            (0, false) => println!("no snapshots were modified"),
            (0, true) => println!("no snapshots would be modified"),
            (n, false) => println!("modified {n} snapshots"),
            (n, true) => println!("would modify {n} snapshots"),
        }
    }
    Ok(exit::OK)
}
