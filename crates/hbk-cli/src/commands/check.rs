//! `hbk check`, with restic 0.19's `--json` messages and snapshot
//! selection.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::check::{check, CheckOptions, CheckReport, FindingKind, ReadData};
use hbk_engine::snapshots::select_snapshots;
use serde_json::json;

use crate::phase_bar::PhaseBar;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify all pack data.
    #[arg(long = "read-data")]
    pub read_data: bool,
    /// Read and verify a subset: `n/m` or `x%`.
    #[arg(long = "read-data-subset")]
    pub read_data_subset: Option<String>,
    /// Use the local metadata cache instead of reading everything from the
    /// repository.
    #[arg(long = "with-cache")]
    pub with_cache: bool,
    /// Accepted as restic accepts it: deprecated there, no effect.
    #[arg(long = "check-unused")]
    pub check_unused: bool,
    /// Check only the trees of these snapshots (default: all passing the
    /// filters, or all).
    pub snapshots: Vec<String>,
    /// Filters.
    #[command(flatten)]
    pub filter: crate::selection::FilterArgs,
}

/// restic 0.19's `summary` message of `check --json`.
fn summary_json(report: &CheckReport, broken: &[String]) -> serde_json::Value {
    let index_damaged = report
        .errors
        .iter()
        .any(|e| e.kind == FindingKind::Missing || e.kind == FindingKind::IndexMismatch);
    json!({
        "message_type": "summary",
        "num_errors": report.errors.len(),
        "broken_packs": if broken.is_empty() { serde_json::Value::Null } else { json!(broken) },
        "suggest_repair_index": index_damaged,
        "suggest_prune": !report.orphaned_packs.is_empty(),
    })
}

/// The packs whose content is damaged: `repair packs` salvages them.
fn broken_packs(report: &CheckReport) -> Vec<String> {
    report.damaged_packs().iter().map(|p| p.to_hex()).collect()
}

/// Checks the repository; exit 1 when anything is wrong.
pub fn run(g: &GlobalOpts, a: CheckArgs) -> Result<i32> {
    // Like restic, check reads the server's metadata, not the local
    // cache, unless asked to use it.
    let uncached = GlobalOpts {
        no_cache: g.no_cache || !a.with_cache,
        ..g.clone()
    };
    let repo = repo::open(&uncached)?;
    // A shared lock keeps prune away. restic takes an exclusive one,
    // since packs a running backup has not indexed yet would look like
    // damage to it; hbk's check reports those as unreferenced, not as
    // errors, so it runs beside backups.
    let _lock = match g.no_lock {
        true => None,
        false => Some(repo::lock(g, &repo, hbk_engine::lock::LockKind::Shared)?),
    };
    let read_data = match (&a.read_data_subset, a.read_data) {
        (Some(s), _) => s
            .parse::<ReadData>()
            .map_err(crate::flags::invalid_flag("--read-data-subset"))?,
        (None, true) => ReadData::All,
        (None, false) => ReadData::None,
    };
    let say = |s: &str| {
        if !g.quiet && !g.json {
            println!("{s}");
        }
    };
    say("load indexes");
    say("check all packs");
    say("check snapshots, trees and blobs");
    let bar = PhaseBar::new(g.json, g.quiet);
    let filter = crate::selection::filter(&a.filter);
    let selecting = !a.snapshots.is_empty()
        || !filter.hosts.is_empty()
        || !filter.tags.is_empty()
        || !filter.paths.is_empty();
    let snapshots = if selecting {
        let (chosen, warnings) = select_snapshots(&repo, &a.snapshots, &filter)?;
        for w in warnings {
            eprintln!("{w}");
        }
        Some(chosen.into_iter().map(|(id, _)| id).collect())
    } else {
        None
    };
    let report = check(
        &repo,
        &CheckOptions {
            read_data,
            snapshots,
            read_packs: None,
        },
        &bar,
    )?;
    if read_data != ReadData::None {
        say(&format!("read data of {} packs", report.packs_read));
    }
    for h in &report.hints {
        if g.verbose > 0 {
            eprintln!("{h}");
        }
    }
    // As restic: listed unless quiet, since after a lost index file they
    // are the only trace of it.
    if !g.quiet && !g.json && !report.orphaned_packs.is_empty() {
        for p in &report.orphaned_packs {
            println!("pack {p}: not referenced in any index");
        }
        println!(
            "{} additional files were found in the repo, which likely contain duplicate data.\n\
             This is non-critical, you can run `hbk prune` to correct this.",
            report.orphaned_packs.len()
        );
    }
    for e in &report.errors {
        if g.json {
            eprintln!(
                "{}",
                json!({"message_type": "error", "message": e.to_string()})
            );
        } else {
            eprintln!("error: {e}");
        }
    }
    let broken = broken_packs(&report);
    if !broken.is_empty() && !g.json {
        eprintln!(
            "\nDamaged pack files: salvage what is intact in them, then cut what was lost out of the snapshots:\n  hbk repair packs {}\n  hbk repair snapshots --forget\n",
            broken.join(" ")
        );
    }
    if g.json {
        println!("{}", summary_json(&report, &broken));
    }
    if !report.errors.is_empty() {
        anyhow::bail!("repository contains errors");
    }
    say("no errors were found");
    Ok(exit::OK)
}
