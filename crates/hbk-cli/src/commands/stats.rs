//! `hbk stats`: restic 0.14's counting modes, text and `--json`.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::stats::{stats, StatsMode};
use hbk_engine::snapshots::select_snapshots;
use serde_json::{json, Map, Value};

use crate::global::GlobalOpts;
use crate::output::format_bytes;
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Snapshots to count (id, prefix or `latest`; default: all passing the filters).
    pub snapshots: Vec<String>,
    /// Counting mode: restore-size (default), files-by-contents, blobs-per-file or raw-data.
    #[arg(long, default_value = "restore-size")]
    pub mode: String,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Counts and prints.
pub fn run(g: &GlobalOpts, a: StatsArgs) -> Result<i32> {
    let mode: StatsMode = a.mode.parse().map_err(|e| match e {
        // restic's wording.
        hbk_engine::Error::InvalidArgument { reason, .. } => {
            anyhow::anyhow!("{reason} (use the -h flag to get a list of supported modes)")
        }
        other => other.into(),
    })?;
    let (repo, _lock) = repo::open_indexed_read(g)?;
    let (snapshots, warnings) =
        select_snapshots(&repo, &a.snapshots, &crate::selection::filter(&a.filter))?;
    for w in warnings {
        eprintln!("{w}");
    }
    if !g.json && !g.quiet {
        println!("scanning...");
    }
    let r = stats(&repo, &snapshots, mode)?;
    if g.json {
        let mut m = Map::new();
        m.insert("total_size".into(), json!(r.total_size));
        m.insert("total_file_count".into(), json!(r.total_file_count));
        if r.total_blob_count > 0 {
            m.insert("total_blob_count".into(), json!(r.total_blob_count));
        }
        m.insert("snapshots_count".into(), json!(r.snapshots_count));
        println!("{}", Value::Object(m));
        return Ok(exit::OK);
    }
    println!("Stats in {} mode:", mode.as_str());
    println!("Snapshots processed:   {}", r.snapshots_count);
    if r.total_blob_count > 0 {
        println!("   Total Blob Count:   {}", r.total_blob_count);
    }
    if r.total_file_count > 0 {
        println!("   Total File Count:   {}", r.total_file_count);
    }
    println!("         Total Size:   {:<5}", format_bytes(r.total_size));
    Ok(exit::OK)
}
