//! `hbk prune`, and the prune half of `forget --prune`.

use anyhow::Context;
use anyhow::Result;
use clap::Args;
use hbk_engine::commands::prune::{
    prune, prune_dry_run, prune_plan, Amount, PlanOptions, PruneOptions, PruneReport, UnusedLimit,
};
use hbk_engine::lock::{LockKind, RepoLock};
use hbk_engine::size::parse_size;
use hbk_repo::Repository;
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::format_bytes;
use crate::phase_bar::PhaseBar;
use crate::{exit, repo};

/// The tuning flags `prune` and `forget --prune` share.
#[derive(Args, Debug, Clone)]
pub struct PruneFlags {
    /// Tolerate this much unused data: a size (k/m/g/t), a percentage of
    /// the repository or `unlimited`.
    #[arg(long = "max-unused", value_name = "limit", default_value = "5%")]
    pub max_unused: String,
    /// Repack at most this much data (a size with k/m/g/t).
    #[arg(long = "max-repack-size", value_name = "size")]
    pub max_repack_size: Option<String>,
    /// Repack packs holding uncompressed data (repository v2).
    #[arg(long = "repack-uncompressed")]
    pub repack_uncompressed: bool,
    /// Also repack small packs.
    #[arg(long = "repack-small")]
    pub repack_small: bool,
}

/// `prune`.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// The tuning flags.
    #[command(flatten)]
    pub flags: PruneFlags,
    /// Decide and print what would be done, change nothing.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// With --dry-run: take no lock (write nothing at all).
    #[arg(long = "no-lock", requires = "dry_run")]
    pub no_lock: bool,
}

impl PruneFlags {
    /// The engine's options.
    pub fn options(&self, g: &GlobalOpts) -> Result<PruneOptions> {
        Ok(PruneOptions {
            plan: PlanOptions {
                max_unused: UnusedLimit::parse(&self.max_unused)
                    .with_context(|| format!("invalid --max-unused {:?}", self.max_unused))?,
                max_repack_size: self
                    .max_repack_size
                    .as_deref()
                    .map(parse_size)
                    .transpose()
                    .context("invalid --max-repack-size")?,
                repack_uncompressed: self.repack_uncompressed,
                repack_small: self.repack_small,
                pack_size: g.pack_size.unwrap_or(16) << 20,
            },
        })
    }
}

/// Prunes under an exclusive lock; a dry run follows the engine's rule
/// ([`prune_dry_run`]: exclusive lock unless `--no-lock`).
pub fn run(g: &GlobalOpts, a: PruneArgs) -> Result<i32> {
    let opts = a.flags.options(g)?;
    let repo = repo::open(g)?;
    let bar = PhaseBar::new(g.json, g.quiet);
    let report = if a.dry_run {
        prune_dry_run(&repo, a.no_lock, &opts, &bar).map_err(with_flags)?
    } else {
        let lock = RepoLock::acquire(&repo, LockKind::Exclusive)?;
        prune_and_print_report(&repo, &lock, false, &opts, &bar)?
    };
    print(g, &report);
    Ok(exit::OK)
}

/// Plans and (unless `dry_run`) carries out prune under `lock`, which the
/// caller took exclusively (`forget --prune`), and prints the report.
pub fn prune_and_print(
    g: &GlobalOpts,
    repo: &Repository,
    lock: &RepoLock,
    dry_run: bool,
    opts: &PruneOptions,
) -> Result<()> {
    let bar = PhaseBar::new(g.json, g.quiet);
    let report = prune_and_print_report(repo, lock, dry_run, opts, &bar)?;
    print(g, &report);
    Ok(())
}

fn prune_and_print_report(
    repo: &Repository,
    lock: &RepoLock,
    dry_run: bool,
    opts: &PruneOptions,
    bar: &PhaseBar,
) -> Result<PruneReport> {
    let plan = prune_plan(repo, Some(lock), opts, bar).map_err(with_flags)?;
    if dry_run {
        return Ok(plan.into_dry_run_report());
    }
    Ok(prune(repo, lock, plan, bar)?)
}

/// Names the flag behind an engine error that concerns one.
fn with_flags(e: hbk_engine::Error) -> anyhow::Error {
    match e {
        hbk_engine::Error::NeedsRepositoryV2 { .. } => {
            anyhow::Error::new(e).context("--repack-uncompressed")
        }
        e => e.into(),
    }
}

fn print(g: &GlobalOpts, report: &PruneReport) {
    if g.json {
        println!("{}", report_json(report));
    } else if !g.quiet {
        print_report(report);
    }
}

fn amount(a: Amount) -> String {
    format!("{:>10} blobs / {}", a.blobs, format_bytes(a.bytes))
}

fn print_report(r: &PruneReport) {
    let p = &r.plan;
    println!("snapshots: {} (their data is kept)", r.snapshots);
    println!();
    println!("used:         {}", amount(p.used));
    println!("unused:       {}", amount(p.unused));
    println!();
    println!("to repack:    {}", amount(p.to_repack));
    println!("this removes: {}", amount(p.repack_removes));
    println!("to delete:    {}", amount(p.to_delete));
    let total = Amount {
        blobs: p.repack_removes.blobs + p.to_delete.blobs,
        bytes: p.repack_removes.bytes + p.to_delete.bytes,
    };
    println!("total prune:  {}", amount(total));
    println!("remaining:    {}", amount(p.remaining));
    let share = if p.remaining.bytes == 0 {
        0.0
    } else {
        p.unused_after as f64 * 100.0 / p.remaining.bytes as f64
    };
    println!(
        "unused size after prune: {} ({share:.2}% of remaining size)",
        format_bytes(p.unused_after)
    );
    if !p.unreferenced.is_empty() {
        println!(
            "unreferenced packs: {} / {}",
            p.unreferenced.len(),
            format_bytes(p.unreferenced.iter().map(|u| u.1).sum())
        );
    }
    println!();
    println!(
        "packs: {} kept, {} to repack, {} to delete",
        p.keep.len(),
        p.repack.len(),
        p.remove.len() + p.unreferenced.len()
    );
    if r.dry_run {
        println!("dry run: nothing was changed");
    } else if p.is_noop() {
        println!("nothing to do");
    } else {
        println!(
            "wrote {} new packs and {} index files, deleted {} old index files and {} packs ({} freed)",
            r.packs_written,
            r.index_written,
            r.index_removed,
            r.packs_removed,
            format_bytes(p.bytes_freed())
        );
        println!("done");
    }
}

fn amount_json(a: Amount) -> serde_json::Value {
    json!({"blobs": a.blobs, "bytes": a.bytes})
}

fn report_json(r: &PruneReport) -> serde_json::Value {
    let p = &r.plan;
    json!({
        "message_type": "summary",
        "dry_run": r.dry_run,
        "snapshots": r.snapshots,
        "used": amount_json(p.used),
        "unused": amount_json(p.unused),
        "to_repack": amount_json(p.to_repack),
        "repack_removes": amount_json(p.repack_removes),
        "to_delete": amount_json(p.to_delete),
        "remaining": amount_json(p.remaining),
        "unused_after_bytes": p.unused_after,
        "packs_kept": p.keep.len(),
        "packs_to_repack": p.repack.len(),
        "packs_to_delete": p.remove.len(),
        "unreferenced_packs": p.unreferenced.len(),
        "packs_written": r.packs_written,
        "index_files_written": r.index_written,
        "index_files_deleted": r.index_removed,
        "packs_deleted": r.packs_removed,
        "bytes_freed": if r.dry_run { 0 } else { p.bytes_freed() },
    })
}
