//! `backup`'s flags.

use clap::Args;
use std::path::PathBuf;

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up (with --stdin-from-command: the
    /// command and its arguments, after `--`).
    pub paths: Vec<PathBuf>,
    /// Tags for the new snapshot (`a,b`; repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Host name to record (`--hostname` is restic's old spelling).
    #[arg(short = 'H', long, visible_alias = "hostname")]
    pub host: Option<String>,
    /// Snapshot time (`2006-01-02 15:04:05`, local time).
    #[arg(long)]
    pub time: Option<String>,
    /// Parent snapshot (default: latest with the same host and paths).
    #[arg(long)]
    pub parent: Option<String>,
    /// Read all files, ignoring the parent snapshot.
    #[arg(short, long)]
    pub force: bool,
    /// Write no snapshot when nothing changed since the parent.
    #[arg(long = "skip-if-unchanged")]
    pub skip_if_unchanged: bool,
    /// `--exclude`, `--iexclude` and their `-file` forms.
    #[command(flatten)]
    pub excludes: crate::selection::ExcludeArgs,
    /// Exclude directories containing this file (`NAME[:HEADER]`, repeatable).
    #[arg(long = "exclude-if-present")]
    pub exclude_if_present: Vec<String>,
    /// Exclude directories marked with a CACHEDIR.TAG.
    #[arg(long = "exclude-caches")]
    pub exclude_caches: bool,
    /// Exclude files larger than this (e.g. 500M, 2G).
    #[arg(long = "exclude-larger-than")]
    pub exclude_larger_than: Option<String>,
    /// Do not cross filesystem boundaries.
    #[arg(short = 'x', long = "one-file-system")]
    pub one_file_system: bool,
    /// Read the paths to back up from a file, one per line (repeatable).
    #[arg(long = "files-from")]
    pub files_from: Vec<PathBuf>,
    /// Read paths from a file, one per line, taken as written (only empty
    /// lines are skipped; repeatable; `-` for standard input).
    #[arg(long = "files-from-verbatim")]
    pub files_from_verbatim: Vec<PathBuf>,
    /// Read NUL-separated paths from a file (as `find -print0` writes
    /// them; repeatable; `-` for standard input).
    #[arg(long = "files-from-raw")]
    pub files_from_raw: Vec<PathBuf>,
    /// Back up standard input as one file.
    #[arg(long)]
    pub stdin: bool,
    /// Run the arguments as a command and back up its standard output as
    /// one file; a failing command writes no snapshot.
    #[arg(long = "stdin-from-command")]
    pub stdin_from_command: bool,
    /// Store the access times of files and directories.
    #[arg(long = "with-atime")]
    pub with_atime: bool,
    /// Group snapshots by host, paths and/or tags to find the parent
    /// (`host,paths` by default; `''` for any snapshot).
    #[arg(short = 'g', long = "group-by", default_value = "host,paths")]
    pub group_by: String,
    /// File name for --stdin and --stdin-from-command.
    #[arg(long = "stdin-filename", default_value = "stdin")]
    pub stdin_filename: String,
    /// Do not write anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Do not compare ctimes when detecting changes.
    #[arg(long = "ignore-ctime")]
    pub ignore_ctime: bool,
    /// Do not compare inodes when detecting changes.
    #[arg(long = "ignore-inode")]
    pub ignore_inode: bool,
    /// Worker threads (default: twice the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Do not count the files and bytes first (progress shows no
    /// percentage); implied when no progress is shown.
    #[arg(long = "no-scan")]
    pub no_scan: bool,
    /// Read at most this many files at the same time (env:
    /// HBK_READ_CONCURRENCY, RESTIC_READ_CONCURRENCY; default: one per
    /// worker thread).
    #[arg(long = "read-concurrency", value_name = "n")]
    pub read_concurrency: Option<usize>,
}
