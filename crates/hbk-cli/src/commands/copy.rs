//! `hbk copy`: snapshots from `--from-repo` into the repository.

use anyhow::{Context, Result};
use clap::Args;
use hbk_engine::commands::copy::{copy, plan_copies, CopyOptions};
use hbk_engine::lock::LockKind;
use hbk_engine::progress::{CopyOutcome, Progress};
use hbk_repo::{Id, SnapshotFile};
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::{format_bytes, human_time};
use crate::phase_bar::PhaseBar;
use crate::repo::FromRepoArgs;
use crate::selection::filter;
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `copy`.
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// Snapshots to copy (id, prefix or `latest`); all when none given.
    pub snapshots: Vec<String>,
    /// The source repository.
    #[command(flatten)]
    pub from: FromRepoArgs,
    /// Which source snapshots to copy.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Prints restic's lines per snapshot (or JSON) and draws phase bars.
struct Reporter {
    bar: PhaseBar,
    json: bool,
    quiet: bool,
}

impl Progress for Reporter {
    fn phase_start(&self, phase: &str, total: Option<u64>) {
        self.bar.phase_start(phase, total);
    }
    fn phase_advance(&self, items: u64) {
        self.bar.phase_advance(items);
    }
    fn phase_finish(&self) {
        self.bar.phase_finish();
    }

    fn copy_started(&self, id: &Id, sn: &SnapshotFile) {
        if !self.json && !self.quiet {
            println!(
                "\nsnapshot {} of {:?} at {} by {}@{}",
                id.short(),
                sn.paths,
                human_time(&sn.time),
                sn.username,
                sn.hostname
            );
        }
    }

    fn copy_done(&self, id: &Id, outcome: &CopyOutcome) {
        match outcome {
            CopyOutcome::Copied {
                target,
                blobs,
                bytes,
            } => {
                if self.json {
                    println!(
                        "{}",
                        json!({"message_type": "snapshot_copied", "source": id.to_hex(), "target": target.to_hex(), "blobs": blobs, "bytes": bytes})
                    );
                } else if !self.quiet {
                    println!(
                        "  copied {blobs} blobs ({})\nsnapshot {} saved",
                        format_bytes(*bytes),
                        target.short()
                    );
                }
            }
            CopyOutcome::AlreadyCopied { target } => {
                if self.json {
                    println!(
                        "{}",
                        json!({"message_type": "snapshot_skipped", "source": id.to_hex(), "target": target.to_hex()})
                    );
                } else if !self.quiet {
                    println!(
                        "skipping snapshot {}, was already copied to snapshot {}",
                        id.short(),
                        target.short()
                    );
                }
            }
        }
    }
}

/// Copies snapshots under shared locks on both repositories.
pub fn run(g: &GlobalOpts, a: CopyArgs) -> Result<i32> {
    let src = a.from.open(g)?.context(
        "Please specify a source repository location (--from-repo or --from-repository-file)",
    )?;
    let dst = repo::open(g)?;
    if src.config().id == dst.config().id {
        anyhow::bail!("source and destination are the same repository");
    }
    let src_lock = crate::repo::lock(g, &src, LockKind::Shared)?;
    let dst_lock = crate::repo::lock(g, &dst, LockKind::Shared)?;
    let src = src.into_indexed().context("loading the source index")?;
    let dst = dst
        .into_indexed()
        .context("loading the destination index")?;
    let opts = CopyOptions {
        ids: a.snapshots.clone(),
        filter: filter(&a.filter),
        pack_size: g.pack_size_mib()?.unwrap_or(16) << 20,
        level: crate::commands::backup::compression(g)?.level(),
    };
    let reporter = Reporter {
        bar: PhaseBar::new(g.json, g.quiet),
        json: g.json,
        quiet: g.quiet,
    };
    let pending = plan_copies(&src, &dst, &opts)?;
    let outcomes = copy(&src, &src_lock, &dst, &dst_lock, pending, &opts, &reporter)?;
    if g.json {
        let copied = outcomes
            .iter()
            .filter(|o| matches!(o.1, CopyOutcome::Copied { .. }))
            .count();
        println!(
            "{}",
            json!({"message_type": "summary", "snapshots_copied": copied, "snapshots_skipped": outcomes.len() - copied})
        );
    }
    Ok(exit::OK)
}
