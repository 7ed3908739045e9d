//! `hbk ls`.

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::ls::ls;
use hbk_engine::filter::Selection;
use hbk_engine::snapshots::find_snapshot;
use hbk_repo::Node;

use crate::global::GlobalOpts;
use crate::output::{go_time_string, node_json, node_long, snapshot_json};

mod ncdu;
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
    /// Print sizes as `1.500 KiB` (with `--long`).
    #[arg(long = "human-readable")]
    pub human_readable: bool,
    /// Sort by name, size, time (= mtime), atime, ctime or extension.
    #[arg(short = 's', long, value_enum, default_value = "name")]
    pub sort: SortBy,
    /// Reverse the order.
    #[arg(long)]
    pub reverse: bool,
    /// Print the tree in ncdu's export format (`| ncdu -f -`).
    #[arg(long)]
    pub ncdu: bool,
}

/// `ls --sort`: what entries are ordered by (the path breaks ties).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    /// Path order, as the snapshot stores it.
    Name,
    /// File size.
    Size,
    /// Modification time (also `mtime`).
    #[value(alias = "mtime")]
    Time,
    /// Access time.
    Atime,
    /// Status change time.
    Ctime,
    /// The name's extension (`.tar` of `a.b.tar`; none without a dot).
    Extension,
}

/// The extension of the last component of `path`, as Go's `filepath.Ext`.
fn extension(path: &[u8]) -> &[u8] {
    let name = path.rsplit(|b| *b == b'/').next().unwrap_or(path);
    match name.iter().rposition(|b| *b == b'.') {
        Some(at) => &name[at..],
        None => b"",
    }
}

/// Orders `entries` by `by` (stable; the path breaks ties), then reverses
/// them with `reverse`.
fn sort_entries(entries: &mut [(Vec<u8>, Node)], by: SortBy, reverse: bool) {
    match by {
        SortBy::Name => {}
        SortBy::Size => entries.sort_by(|a, b| (a.1.size, &a.0).cmp(&(b.1.size, &b.0))),
        SortBy::Time => entries.sort_by(|a, b| (a.1.mtime.0, &a.0).cmp(&(b.1.mtime.0, &b.0))),
        SortBy::Atime => entries.sort_by(|a, b| (a.1.atime.0, &a.0).cmp(&(b.1.atime.0, &b.0))),
        SortBy::Ctime => entries.sort_by(|a, b| (a.1.ctime.0, &a.0).cmp(&(b.1.ctime.0, &b.0))),
        SortBy::Extension => {
            entries.sort_by(|a, b| (extension(&a.0), &a.0).cmp(&(extension(&b.0), &b.0)))
        }
    }
    if reverse {
        entries.reverse();
    }
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

/// Calls `each` for every node of `tree` that the `ls` arguments `dirs`
/// ask for, in the snapshot's order, until it fails.
fn each_wanted(
    repo: &hbk_repo::IndexedRepository,
    tree: &hbk_repo::Id,
    dirs: &[Vec<u8>],
    recursive: bool,
    each: &mut dyn FnMut(&[u8], &Node) -> std::io::Result<()>,
) -> Result<()> {
    let mut result = Ok(());
    ls(
        repo,
        tree,
        b"/",
        &Selection::default(),
        &mut |path, node| {
            if result.is_ok() && wanted(path, dirs, recursive) {
                result = each(path, node);
            }
        },
    )?;
    Ok(result?)
}

/// Lists a snapshot's nodes.
pub fn run(g: &GlobalOpts, a: LsArgs) -> Result<i32> {
    let (repo, _lock) = repo::open_indexed_read(g)?;
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
    if a.ncdu {
        if g.json {
            anyhow::bail!("only either '--json' or '--ncdu' can be specified");
        }
        if a.sort != SortBy::Name || a.reverse {
            anyhow::bail!("--sort and --reverse cannot be combined with --ncdu");
        }
        let out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut writer = ncdu::NcduWriter::start(out, &serde_json::to_value(&sn)?)?;
        each_wanted(&repo, &sn.tree, &dirs, a.recursive, &mut |path, node| {
            writer.node(path, node)
        })?;
        std::io::Write::flush(&mut writer.finish()?)?;
        return Ok(exit::OK);
    }
    if g.json {
        let mut v = snapshot_json(&id, &sn);
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("message_type".into(), "snapshot".into());
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
    let line = |path: &[u8], node: &Node| {
        if g.json {
            node_json(path, node).to_string()
        } else if a.long {
            node_long(path, node, a.human_readable)
        } else {
            String::from_utf8_lossy(path).into_owned()
        }
    };
    use std::io::Write;
    // The snapshot's own order streams; any other is sorted in memory.
    let streaming = a.sort == SortBy::Name && !a.reverse;
    let mut entries = Vec::new();
    each_wanted(&repo, &sn.tree, &dirs, a.recursive, &mut |path, node| {
        if streaming {
            writeln!(out, "{}", line(path, node))
        } else {
            entries.push((path.to_vec(), node.clone()));
            Ok(())
        }
    })?;
    sort_entries(&mut entries, a.sort, a.reverse);
    for (path, node) in &entries {
        writeln!(out, "{}", line(path, node))?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::{extension, wanted};

    #[test]
    fn extensions_as_go_finds_them() {
        assert_eq!(extension(b"/a/b.tar.gz"), b".gz");
        assert_eq!(extension(b"/a.d/file"), b"");
        assert_eq!(extension(b"/a/.bashrc"), b".bashrc");
        assert_eq!(extension(b"/a/end."), b".");
    }

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
