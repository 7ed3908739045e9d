//! `forget`'s flags, and the keep policy they spell.

use crate::commands::prune::PruneFlags;
use clap::Args;

/// `forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Snapshots to forget (id, unique prefix or `latest`); no policy is
    /// applied when ids are given.
    pub ids: Vec<String>,
    /// Keep the last n snapshots.
    #[arg(
        short = 'l',
        long = "keep-last",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_last: Option<i64>,
    /// Keep the last n hourly snapshots.
    #[arg(
        short = 'H',
        long = "keep-hourly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_hourly: Option<i64>,
    /// Keep the last n daily snapshots.
    #[arg(
        short = 'd',
        long = "keep-daily",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_daily: Option<i64>,
    /// Keep the last n weekly snapshots.
    #[arg(
        short = 'w',
        long = "keep-weekly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_weekly: Option<i64>,
    /// Keep the last n monthly snapshots.
    #[arg(
        short = 'm',
        long = "keep-monthly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_monthly: Option<i64>,
    /// Keep the last n yearly snapshots.
    #[arg(
        short = 'y',
        long = "keep-yearly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_yearly: Option<i64>,
    /// Keep snapshots newer than duration (e.g. 1y5m7d2h) relative to the latest snapshot.
    #[arg(
        long = "keep-within",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within: Option<String>,
    /// Keep hourly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-hourly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_hourly: Option<String>,
    /// Keep daily snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-daily",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_daily: Option<String>,
    /// Keep weekly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-weekly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_weekly: Option<String>,
    /// Keep monthly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-monthly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_monthly: Option<String>,
    /// Keep yearly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-yearly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_yearly: Option<String>,
    /// Keep snapshots with all tags of this list (`a,b`; repeatable: either).
    #[arg(long = "keep-tag", value_name = "taglist")]
    pub keep_tag: Vec<String>,
    /// Allow removing every snapshot of a group: with no policy (and a
    /// snapshot filter), remove all the filter selects.
    #[arg(long = "unsafe-allow-remove-all")]
    pub unsafe_allow_remove_all: bool,
    /// Only consider snapshots of this host (repeatable; `--hostname` is
    /// restic's old spelling).
    #[arg(long = "host", value_name = "host", visible_alias = "hostname")]
    pub host: Vec<String>,
    /// Only consider snapshots with all tags of this list (`a,b`; repeatable: either).
    #[arg(long = "tag", value_name = "taglist")]
    pub tag: Vec<String>,
    /// Only consider snapshots of this path (repeatable).
    #[arg(long = "path", value_name = "path")]
    pub path: Vec<String>,
    /// Use the compact table format.
    #[arg(short = 'c', long = "compact")]
    pub compact: bool,
    /// Group snapshots by host, paths and/or tags, separated by commas ('' for no grouping).
    #[arg(
        short = 'g',
        long = "group-by",
        value_name = "group",
        default_value = "host,paths"
    )]
    pub group_by: String,
    /// Do not delete anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Run prune afterwards when snapshots were removed.
    #[arg(long)]
    pub prune: bool,
    /// Flags for `--prune`.
    #[command(flatten)]
    pub prune_flags: PruneFlags,
}
