//! `find`'s flags.

use crate::selection::FilterArgs;
use clap::Args;

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
    /// The patterns are blob ids (full or 8-digit short).
    #[arg(long)]
    pub blob: bool,
    /// The patterns are tree ids (full or 8-digit short).
    #[arg(long)]
    pub tree: bool,
    /// The patterns are pack ids: look for their blobs.
    #[arg(long)]
    pub pack: bool,
    /// Search the snapshots oldest first (default: newest first).
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Print sizes in human-readable form (with --long).
    #[arg(long = "human-readable")]
    pub human_readable: bool,
    /// Print the pack each found blob or tree belongs to (with --blob or --tree).
    #[arg(long = "show-pack-id")]
    pub show_pack_id: bool,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
}
