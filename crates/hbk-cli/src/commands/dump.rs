//! `hbk dump`: a file's content, or a directory as tar, to stdout or a
//! file (`--target`).

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Args;
use hbk_engine::commands::dump::{locate, snapshot_path, write_node, write_tar, DumpItem};
use hbk_engine::snapshots::find_snapshot;

use crate::global::GlobalOpts;
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `dump`.
#[derive(Args, Debug)]
pub struct DumpArgs {
    /// Snapshot: id, prefix or `latest`, optionally `:SUBPATH`.
    pub snapshot: String,
    /// Path of the file or directory in the snapshot (below SUBPATH).
    #[arg(value_name = "file")]
    pub file: String,
    /// Archive format for directories (only `tar`).
    #[arg(short = 'a', long, default_value = "tar")]
    pub archive: String,
    /// Write to this file instead of standard output.
    #[arg(short = 't', long)]
    pub target: Option<std::path::PathBuf>,
    /// Filters for `latest`.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Dumps.
pub fn run(g: &GlobalOpts, a: DumpArgs) -> Result<i32> {
    if a.archive != "tar" {
        bail!(
            "unknown archive format {:?} (hbk writes only tar)",
            a.archive
        );
    }
    let (repo, _lock) = repo::open_indexed_read(g)?;
    let (snap, sub) = crate::selection::split_snapshot_path(&a.snapshot);
    let (id, sn) = find_snapshot(&repo, snap, &crate::selection::filter(&a.filter))?;
    let full = format!("{}/{}", sub.unwrap_or(""), a.file);
    let path = snapshot_path(&full);
    let shown = String::from_utf8_lossy(&path).into_owned();
    let item = locate(&repo, &sn.tree, &shown, &id.short())?;
    // Created only once the path is known to exist.
    let sink: Box<dyn Write> = match &a.target {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create target file {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(sink);
    match item {
        DumpItem::Node(node) => write_node(&repo, &node, &mut out)?,
        DumpItem::Dir(tree) => write_tar(&repo, &tree, &path, &mut out)?,
    }
    out.flush()?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap's own consistency checks over every command (duplicate
    /// argument names panic only at run time otherwise).
    #[test]
    fn arguments_are_consistent() {
        crate::cli::Cli::command().debug_assert();
    }
}
