//! Choosing snapshots: the `--host/--tag/--path` filter flags several
//! commands share, and `SNAPSHOT[:PATH]` arguments.

use clap::Args;
use hbk_engine::snapshots::SnapshotFilter;

/// Snapshot filters shared by several commands.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable).
    #[arg(long = "host", short = 'H')]
    pub host: Vec<String>,
    /// Only snapshots with these tags (`a,b` means both; repeatable: either).
    #[arg(long = "tag")]
    pub tag: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable).
    #[arg(long = "path")]
    pub path: Vec<String>,
}

/// The engine's snapshot filter for the common `--host/--tag/--path` flags.
pub fn filter(f: &FilterArgs) -> SnapshotFilter {
    SnapshotFilter {
        hosts: f.host.clone(),
        tags: SnapshotFilter::tag_sets(&f.tag),
        paths: f.path.clone(),
    }
}

/// Splits `SNAPSHOT[:PATH]`.
pub fn split_snapshot_path(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((s, p)) => (s, Some(p)),
        None => (spec, None),
    }
}
