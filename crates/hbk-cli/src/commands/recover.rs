//! `hbk recover`: a snapshot of the trees no snapshot reaches.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::recover::recover;
use hbk_engine::lock::LockKind;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `recover`.
#[derive(Args, Debug)]
pub struct RecoverArgs {}

/// Finds unreferenced trees and saves a snapshot of them.
pub fn run(g: &GlobalOpts, _a: RecoverArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    if !g.quiet {
        println!("ensuring index is complete");
    }
    let host = crate::environment::env("HOST").unwrap_or_else(hbk_engine::lock::hostname);
    let r = recover(&repo, &lock, &host)?;
    for (id, e) in &r.unreadable {
        eprintln!("unable to load tree {}: {e}", id.short());
    }
    if !g.quiet {
        println!("loaded {} trees and the snapshots", r.trees);
        if g.verbose > 0 {
            for id in &r.roots {
                println!("found root tree {}", id.short());
            }
        }
        println!("\nfound {} unreferenced roots", r.roots.len());
    }
    match r.snapshot {
        None if !g.quiet => println!("no snapshot to write."),
        Some(id) if !g.quiet => println!("saved new snapshot {}", id.short()),
        _ => {}
    }
    Ok(exit::OK)
}
