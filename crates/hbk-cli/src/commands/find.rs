//! `hbk find`: nodes matching patterns in snapshots, in restic 0.14's
//! text and `--json` forms.

use std::io::Write;

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::find::{parse_time, FindOptions, Finder};
use hbk_engine::snapshots::select_snapshots;
use hbk_repo::{mode, Node};
use serde_json::{json, Map, Value};

use crate::cli::{FilterArgs, GlobalOpts};
use crate::output::{human_time, node_long};
use crate::{exit, repo};

/// `find`.
#[derive(Args, Debug)]
pub struct FindArgs {
    /// Patterns to look for (restic's pattern syntax).
    #[arg(required = true)]
    pub patterns: Vec<String>,
    /// Snapshot to search in (repeatable; default: all passing the filters).
    #[arg(short = 's', long = "snapshot", value_name = "id")]
    pub snapshot: Vec<String>,
    /// Ignore case for the patterns.
    #[arg(short = 'i', long = "ignore-case")]
    pub ignore_case: bool,
    /// Long listing: mode, ids, size and time.
    #[arg(short = 'l', long)]
    pub long: bool,
    /// Oldest modification date/time.
    #[arg(short = 'O', long)]
    pub oldest: Option<String>,
    /// Newest modification date/time.
    #[arg(short = 'N', long)]
    pub newest: Option<String>,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// A match as restic's `find --json` prints it: the node's fields with
/// `path` and `permissions` first, without name, inode, attributes,
/// device, content and subtree.
fn match_json(path: &[u8], node: &Node) -> Value {
    let mut m = Map::new();
    m.insert("path".into(), json!(String::from_utf8_lossy(path)));
    m.insert("permissions".into(), json!(mode::to_string(node.mode)));
    if let Ok(Value::Object(fields)) = serde_json::to_value(node) {
        for (k, v) in fields {
            let hidden = matches!(
                k.as_str(),
                "name" | "inode" | "extended_attributes" | "device" | "content" | "subtree"
            );
            if !hidden {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

/// Searches.
pub fn run(g: &GlobalOpts, a: FindArgs) -> Result<i32> {
    let opts = FindOptions {
        patterns: a.patterns.clone(),
        ignore_case: a.ignore_case,
        oldest: a.oldest.as_deref().map(parse_time).transpose()?,
        newest: a.newest.as_deref().map(parse_time).transpose()?,
    };
    let finder = Finder::new(opts)?;
    let repo = repo::open_indexed(g)?;
    let (snapshots, warnings) = select_snapshots(&repo, &a.snapshot, &super::filter(&a.filter))?;
    for w in warnings {
        eprintln!("{w}");
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
                lines.push(node_long(path, node));
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
