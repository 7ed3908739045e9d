//! `hbk ls`.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::ls::ls;
use hbk_engine::filter::Selection;
use hbk_engine::snapshots::find_snapshot;

use crate::global::GlobalOpts;
use crate::output::{go_time_string, node_json, node_long, snapshot_json};
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `ls`.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot id, prefix or `latest`.
    pub snapshot: String,
    /// Directories to list (default: everything).
    pub dirs: Vec<String>,
    /// Long listing.
    #[arg(short, long)]
    pub long: bool,
    /// With directories: list their contents recursively.
    #[arg(long)]
    pub recursive: bool,
    /// Filters for `latest`.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Whether `path` is one of `dirs` or (directly, or with `recursive` at
/// any depth) below one of them.
fn wanted(path: &[u8], dirs: &[Vec<u8>], recursive: bool) -> bool {
    if dirs.is_empty() {
        return true;
    }
    dirs.iter().any(|d| {
        if path == d.as_slice() {
            return true;
        }
        let Some(rest) = path.strip_prefix(d.as_slice()) else {
            return false;
        };
        let Some(rest) =
            rest.strip_prefix(b"/")
                .or(if d.ends_with(b"/") { Some(rest) } else { None })
        else {
            return false;
        };
        recursive || !rest.contains(&b'/')
    })
}

/// Lists a snapshot's nodes.
pub fn run(g: &GlobalOpts, a: LsArgs) -> Result<i32> {
    let repo = repo::open_indexed(g)?;
    let (id, sn) = find_snapshot(&repo, &a.snapshot, &crate::selection::filter(&a.filter))?;
    let dirs: Vec<Vec<u8>> = a
        .dirs
        .iter()
        .map(|d| {
            let t = d.trim_end_matches('/');
            if t.is_empty() {
                "/".into()
            } else {
                t.as_bytes().to_vec()
            }
        })
        .collect();
    if g.json {
        let mut v = snapshot_json(&id, &sn);
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("struct_type".into(), "snapshot".into());
        }
        println!("{v}");
    } else if !g.quiet {
        println!(
            "snapshot {} of [{}] filtered by [{}] at {}):",
            id.short(),
            sn.paths.join(" "),
            a.dirs.join(" "),
            go_time_string(&sn.time)
        );
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut result = Ok(());
    ls(
        &repo,
        &sn.tree,
        b"/",
        &Selection::default(),
        &mut |path, node| {
            if !wanted(path, &dirs, a.recursive) || result.is_err() {
                return;
            }
            use std::io::Write;
            let line = if g.json {
                node_json(path, node).to_string()
            } else if a.long {
                node_long(path, node)
            } else {
                String::from_utf8_lossy(path).into_owned()
            };
            result = writeln!(out, "{line}");
        },
    )?;
    result?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::wanted;

    #[test]
    fn directory_arguments() {
        let d = vec![b"/a".to_vec()];
        assert!(wanted(b"/a/b", &d, false));
        assert!(!wanted(b"/a/b/c", &d, false));
        assert!(wanted(b"/a/b/c", &d, true));
        assert!(!wanted(b"/ab", &d, true));
        assert!(wanted(b"/x", &[b"/".to_vec()], false));
    }
}
