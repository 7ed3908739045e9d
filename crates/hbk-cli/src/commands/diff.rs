//! `hbk diff`: changes between two snapshots, in restic 0.14's text and
//! `--json` forms.

use std::io::Write;

use anyhow::{bail, Result};
use clap::Args;
use hbk_engine::commands::diff::{diff, DiffStat};
use hbk_engine::snapshots::{find_snapshot, SnapshotFilter};
use hbk_engine::walk::resolve_path;
use hbk_repo::{Id, IndexedRepository};
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::format_bytes;
use crate::{exit, repo};

/// `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The snapshot to compare from (`ID[:SUBPATH]`).
    pub from: String,
    /// The snapshot to compare to (`ID[:SUBPATH]`).
    pub to: String,
    /// Also print changes in metadata (marker `U`).
    #[arg(long)]
    pub metadata: bool,
}

/// Resolves `ID[:SUBPATH]` to a short id and a directory tree.
fn tree_of(repo: &IndexedRepository, spec: &str) -> Result<(Id, Id)> {
    let (snap, sub) = crate::selection::split_snapshot_path(spec);
    let (id, sn) = find_snapshot(repo, snap, &SnapshotFilter::default())?;
    let tree = match sub {
        None => sn.tree,
        Some(p) => match resolve_path(repo, &sn.tree, p.as_bytes(), &id.short())? {
            (tree, None) => tree,
            (_, Some(_)) => bail!("path {p:?} in snapshot {} is not a directory", id.short()),
        },
    };
    Ok((id, tree))
}

/// Compares two snapshots.
pub fn run(g: &GlobalOpts, a: DiffArgs) -> Result<i32> {
    let (repo, _lock) = repo::open_indexed_read(g)?;
    let (id1, t1) = tree_of(&repo, &a.from)?;
    let (id2, t2) = tree_of(&repo, &a.to)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !g.json && !g.quiet {
        writeln!(
            out,
            "comparing snapshot {} to {}:\n",
            id1.short(),
            id2.short()
        )?;
    }
    let mut failed = None;
    let stats = diff(&repo, &t1, &t2, a.metadata, &mut |path, marker| {
        if g.quiet || failed.is_some() {
            return;
        }
        let path = String::from_utf8_lossy(path);
        let r = if g.json {
            let change = json!({"message_type": "change", "path": path, "modifier": marker});
            writeln!(out, "{change}")
        } else {
            writeln!(out, "{marker:<5}{path}")
        };
        failed = r.err();
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    if g.json {
        let side = |s: &DiffStat| {
            json!({
                "files": s.files, "dirs": s.dirs, "others": s.others,
                "data_blobs": s.data_blobs, "tree_blobs": s.tree_blobs, "bytes": s.bytes,
            })
        };
        let v = json!({
            "message_type": "statistics",
            "source_snapshot": a.from,
            "target_snapshot": a.to,
            "changed_files": stats.changed_files,
            "added": side(&stats.added),
            "removed": side(&stats.removed),
        });
        writeln!(out, "{v}")?;
    } else {
        let (ad, rm) = (&stats.added, &stats.removed);
        writeln!(out)?;
        writeln!(
            out,
            "Files:       {:5} new, {:5} removed, {:5} changed",
            ad.files, rm.files, stats.changed_files
        )?;
        writeln!(out, "Dirs:        {:5} new, {:5} removed", ad.dirs, rm.dirs)?;
        writeln!(
            out,
            "Others:      {:5} new, {:5} removed",
            ad.others, rm.others
        )?;
        writeln!(
            out,
            "Data Blobs:  {:5} new, {:5} removed",
            ad.data_blobs, rm.data_blobs
        )?;
        writeln!(
            out,
            "Tree Blobs:  {:5} new, {:5} removed",
            ad.tree_blobs, rm.tree_blobs
        )?;
        writeln!(out, "  Added:   {:<5}", format_bytes(ad.bytes))?;
        writeln!(out, "  Removed: {:<5}", format_bytes(rm.bytes))?;
    }
    out.flush()?;
    Ok(exit::OK)
}
