//! `hbk cache [--cleanup] [--max-age DAYS] [--no-size]`: lists the local
//! metadata caches of remote repositories, or removes the old ones, as
//! restic's `cache` does.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use hbk_backend::cache::{default_cache_dir, list_caches, remove_caches_older_than};

use crate::exit;
use crate::global::GlobalOpts;
use crate::output::{format_bytes, table};

/// `cache`.
#[derive(Args, Debug)]
pub struct CacheArgs {
    /// Remove old cache directories.
    #[arg(long)]
    pub cleanup: bool,
    /// Age in days after which a cache directory counts as old.
    #[arg(long = "max-age", value_name = "days", default_value_t = 30)]
    pub max_age: u32,
    /// Do not print the size of the cache directories.
    #[arg(long = "no-size")]
    pub no_size: bool,
}

/// The base directory of the caches: `--cache-dir`, else the default.
fn base(g: &GlobalOpts) -> Result<PathBuf> {
    if g.no_cache {
        bail!("Refusing to do anything, the cache is disabled");
    }
    g.cache_dir
        .clone()
        .or_else(default_cache_dir)
        .context("no cache directory: set --cache-dir, HBK_CACHE_DIR or HOME")
}

/// Removes the caches unused for `max_age`; says so unless quiet (and,
/// when `say_none`, also when there were none). Exit code 1 when one
/// could not be removed.
fn remove_old(
    g: &GlobalOpts,
    base: &std::path::Path,
    max_age: Duration,
    say_none: bool,
) -> Result<i32> {
    let removed = remove_caches_older_than(base, max_age, SystemTime::now())
        .with_context(|| format!("reading {}", base.display()))?;
    if removed.is_empty() {
        if say_none && !g.quiet {
            println!("no old cache dirs found");
        }
        return Ok(exit::OK);
    }
    if !g.quiet {
        println!("remove {} old cache directories", removed.len());
    }
    let mut code = exit::OK;
    for (dir, result) in removed {
        if let Err(e) = result {
            eprintln!("unable to remove {}: {e}", dir.path.display());
            code = exit::ERROR;
        }
    }
    Ok(code)
}

/// The global `--cleanup-cache`: after the command, remove the caches
/// unused for 30 days, as restic does.
pub fn cleanup_after_command(g: &GlobalOpts) -> Result<i32> {
    if g.no_cache {
        return Ok(exit::OK);
    }
    let base = base(g)?;
    if !base.is_dir() {
        return Ok(exit::OK);
    }
    remove_old(g, &base, Duration::from_secs(30 * 86_400), false)
}

/// Lists or cleans the caches.
pub fn run(g: &GlobalOpts, a: CacheArgs) -> Result<i32> {
    let base = base(g)?;
    let max_age = Duration::from_secs(u64::from(a.max_age) * 86_400);
    let now = SystemTime::now();
    if a.cleanup {
        return remove_old(g, &base, max_age, true);
    }
    let dirs = list_caches(&base).with_context(|| format!("reading {}", base.display()))?;
    if dirs.is_empty() {
        println!("no cache dirs found, basedir is {}", base.display());
        return Ok(exit::OK);
    }
    let mut header = vec!["Repo ID", "Last Used", "Old"];
    if !a.no_size {
        header.push("Size");
    }
    let rows: Vec<Vec<String>> = dirs
        .iter()
        .map(|d| {
            let days = now
                .duration_since(d.last_used)
                .map(|age| age.as_secs() / 86_400)
                .unwrap_or(0);
            let mut row = vec![
                d.repo_id.to_hex().chars().take(10).collect(),
                format!("{days} days ago"),
                if d.older_than(max_age, now) {
                    "yes"
                } else {
                    ""
                }
                .to_string(),
            ];
            if !a.no_size {
                row.push(format!("{:>11}", format_bytes(d.size())));
            }
            row
        })
        .collect();
    table(&header, &rows, "");
    println!("{} cache dirs in {}", dirs.len(), base.display());
    Ok(exit::OK)
}
