//! `hbk prune`, and the prune half of `forget --prune`.

use anyhow::Context;
use anyhow::Result;
use clap::Args;
use hbk_engine::commands::prune::{
    prune, prune_dry_run, prune_plan, PlanOptions, PruneOptions, PruneReport, UnusedLimit,
};
use hbk_engine::lock::{LockKind, RepoLock};
use hbk_engine::size::parse_size;
use hbk_repo::Repository;

use crate::global::GlobalOpts;
use crate::phase_bar::PhaseBar;
use crate::{exit, repo};
use report::{print_report, report_json};

mod report;

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
    /// Repack packs smaller than this (a size with k/m/g/t; at most the
    /// pack size).
    #[arg(long = "repack-smaller-than", value_name = "below-limit")]
    pub repack_smaller_than: Option<String>,
    /// Only repack packs of trees (the ones caches hold); partly used
    /// data packs stay as they are.
    #[arg(long = "repack-cacheable-only")]
    pub repack_cacheable_only: bool,
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
    /// UNSAFE: free space on a full disk (repack nothing, delete the index
    /// before writing the new one); takes the repository's id. Try
    /// `--max-repack-size 0` first.
    #[arg(long = "unsafe-recover-no-free-space", value_name = "repository id")]
    pub unsafe_recover_no_free_space: Option<String>,
}

impl PruneFlags {
    /// The engine's options.
    pub fn options(&self, g: &GlobalOpts) -> Result<PruneOptions> {
        Ok(PruneOptions {
            unsafe_recovery: false,
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
                small_below: self
                    .repack_smaller_than
                    .as_deref()
                    .map(parse_size)
                    .transpose()
                    .context("invalid --repack-smaller-than")?,
                cacheable_only: self.repack_cacheable_only,
                pack_size: g.pack_size_mib()?.unwrap_or(16) << 20,
            },
        })
    }
}

/// Prunes under an exclusive lock; a dry run follows the engine's rule
/// ([`prune_dry_run`]: exclusive lock unless `--no-lock`).
pub fn run(g: &GlobalOpts, a: PruneArgs) -> Result<i32> {
    let mut opts = a.flags.options(g)?;
    let repo = repo::open(g)?;
    if let Some(given) = &a.unsafe_recover_no_free_space {
        let id = repo.config().id.to_hex();
        if *given != id {
            anyhow::bail!("must pass id {id:?} to --unsafe-recover-no-free-space");
        }
        opts.unsafe_recovery = true;
    }
    let bar = PhaseBar::new(g.json, g.quiet);
    if g.no_lock && !a.dry_run {
        anyhow::bail!(
            "--no-lock is only applicable in combination with --dry-run for prune command"
        );
    }
    let report = if a.dry_run {
        prune_dry_run(&repo, g.no_lock, &opts, &bar).map_err(with_flags)?
    } else {
        let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
        prune_and_print_report(&repo, &lock, false, &opts, &bar)?
    };
    print(g, &report);
    Ok(exit::OK)
}

/// A dry run without a lock (`forget --prune --dry-run --no-lock`),
/// printed.
pub fn dry_run_unlocked_and_print(
    g: &GlobalOpts,
    repo: &Repository,
    opts: &PruneOptions,
) -> Result<()> {
    let bar = PhaseBar::new(g.json, g.quiet);
    let report = prune_dry_run(repo, true, opts, &bar).map_err(with_flags)?;
    print(g, &report);
    Ok(())
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
