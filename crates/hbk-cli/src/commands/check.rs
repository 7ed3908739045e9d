//! `hbk check`.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::check::{check, CheckOptions, ReadData};

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
}

/// Checks the repository; exit 1 when anything is wrong.
pub fn run(g: &GlobalOpts, a: CheckArgs) -> Result<i32> {
    // Like restic, check reads the server's metadata, not the local cache.
    let uncached = GlobalOpts {
        no_cache: true,
        ..g.clone()
    };
    let repo = repo::open(&uncached)?;
    // restic's check holds an exclusive lock: packs a running backup has
    // not indexed yet would look like damage.
    let _lock = match g.no_lock {
        true => None,
        false => Some(repo::lock(g, &repo, hbk_engine::lock::LockKind::Exclusive)?),
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
    let report = check(&repo, &CheckOptions { read_data }, &bar)?;
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
        eprintln!("error: {e}");
    }
    if g.json {
        println!(
            "{}",
            serde_json::json!({
                "message_type": "summary",
                "ok": report.errors.is_empty(),
                "errors": report.errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "hints": report.hints,
                "index_files": report.index_files,
                "packs": report.packs,
                "snapshots": report.snapshots,
                "trees": report.trees,
                "packs_read": report.packs_read,
                "blobs_read": report.blobs_read,
                "bytes_read": report.bytes_read,
                "unreferenced_packs": report.orphaned_packs.len(),
            })
        );
    }
    if report.errors.is_empty() {
        say("no errors were found");
        Ok(exit::OK)
    } else {
        eprintln!("Fatal: repository contains errors");
        Ok(exit::ERROR)
    }
}
