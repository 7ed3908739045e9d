//! `hbk find`: nodes matching patterns in snapshots, in restic 0.14's
//! text and `--json` forms.

use std::io::Write;

use anyhow::Result;
use hbk_engine::commands::find::{parse_time, FindOptions, Finder};
use hbk_engine::snapshots::select_snapshots;
use serde_json::{json, Value};

use crate::global::GlobalOpts;
use crate::output::{human_time, node_long};
use crate::{exit, repo};
use ids::{match_json, run_ids};

mod args;

pub use args::*;

mod ids;

/// Searches.
pub fn run(g: &GlobalOpts, a: FindArgs) -> Result<i32> {
    if [a.blob, a.tree, a.pack].iter().filter(|x| **x).count() > 1 {
        anyhow::bail!("cannot have several ID types");
    }
    let opts = FindOptions {
        patterns: a.patterns.clone(),
        ignore_case: a.ignore_case,
        oldest: a.oldest.as_deref().map(parse_time).transpose()?,
        newest: a.newest.as_deref().map(parse_time).transpose()?,
    };
    let finder = Finder::new(opts)?;
    let (repo, _lock) = repo::open_indexed_read(g)?;
    let (mut snapshots, warnings) =
        select_snapshots(&repo, &a.snapshot, &crate::selection::filter(&a.filter))?;
    for w in warnings {
        eprintln!("{w}");
    }
    // restic 0.17+: newest first, oldest first with --reverse.
    snapshots.sort_by(|x, y| y.1.time.cmp(&x.1.time).then(y.0.cmp(&x.0)));
    if a.reverse {
        snapshots.reverse();
    }
    if a.blob || a.tree || a.pack {
        return run_ids(g, &a, &repo, &snapshots);
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut groups = Vec::new();
    let mut printed_any = false;
    for (id, sn) in &snapshots {
        let mut matches = Vec::new();
        let mut lines = Vec::new();
        finder.find(&repo, &sn.tree, &mut |path, node| {
            if g.json {
                matches.push(match_json(path, node));
            } else if a.long {
                lines.push(node_long(path, node, a.human_readable));
            } else {
                lines.push(String::from_utf8_lossy(path).into_owned());
            }
        })?;
        if g.json {
            if !matches.is_empty() {
                groups.push(
                    json!({"matches": matches, "hits": matches.len(), "snapshot": id.to_hex()}),
                );
            }
            continue;
        }
        if lines.is_empty() {
            continue;
        }
        if !g.quiet {
            if printed_any {
                writeln!(out)?;
            }
            writeln!(
                out,
                "Found matching entries in snapshot {} from {}",
                id.short(),
                human_time(&sn.time)
            )?;
        }
        printed_any = true;
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    if g.json {
        writeln!(out, "{}", Value::Array(groups))?;
    }
    out.flush()?;
    Ok(exit::OK)
}
