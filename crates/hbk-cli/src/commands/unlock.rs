//! `hbk unlock`.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::unlock::unlock;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `unlock`.
#[derive(Args, Debug)]
pub struct UnlockArgs {
    /// Remove all locks, even non-stale ones.
    #[arg(long = "remove-all")]
    pub remove_all: bool,
}

/// Removes stale locks (or all), taking no lock itself, as restic does.
pub fn run(g: &GlobalOpts, a: UnlockArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let removed = unlock(&repo, a.remove_all)?;
    if g.verbose > 0 {
        for id in &removed {
            eprintln!("removed lock {id}");
        }
    }
    // restic 0.14 prints this whether or not anything was removed.
    if !g.quiet {
        println!("successfully removed locks");
    }
    Ok(exit::OK)
}
