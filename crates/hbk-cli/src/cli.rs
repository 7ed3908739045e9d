//! Arguments, spelled as restic spells them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// hbk: fast, restic-compatible backups.
#[derive(Parser, Debug)]
#[command(name = "hbk", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Global options (environment: `HBK_*` or `RESTIC_*`).
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Repository to use (env: HBK_REPOSITORY, RESTIC_REPOSITORY).
    #[arg(short = 'r', long = "repo", global = true)]
    pub repo: Option<String>,
    /// File holding the repository location (env: HBK_REPOSITORY_FILE, RESTIC_REPOSITORY_FILE).
    #[arg(long = "repository-file", global = true)]
    pub repository_file: Option<PathBuf>,
    /// File to read the password from (env: HBK_PASSWORD_FILE, RESTIC_PASSWORD_FILE).
    #[arg(short = 'p', long = "password-file", global = true)]
    pub password_file: Option<PathBuf>,
    /// Shell command printing the password (env: HBK_PASSWORD_COMMAND, RESTIC_PASSWORD_COMMAND).
    #[arg(long = "password-command", global = true)]
    pub password_command: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Be more verbose (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Do not use the local metadata cache of remote repositories.
    #[arg(long = "no-cache", global = true)]
    pub no_cache: bool,
    /// Where to cache remote repositories' metadata (env: HBK_CACHE_DIR;
    /// default: $XDG_CACHE_HOME/hbk).
    #[arg(long = "cache-dir", global = true, value_name = "dir")]
    pub cache_dir: Option<PathBuf>,
    /// Compression of new data: auto, off or max.
    #[arg(long, global = true, default_value = "auto")]
    pub compression: String,
    /// Target pack size in MiB (4 to 128).
    #[arg(long = "pack-size", global = true)]
    pub pack_size: Option<u64>,
    /// Backend option KEY=VALUE, repeatable (s3.region, s3.bucket-lookup,
    /// s3.storage-class, s3.connections, rest.connections, retry.max-attempts,
    /// retry.initial-delay-ms).
    #[arg(short = 'o', long = "option", global = true, value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Refuse to touch a local repository unless it is on a mounted disk:
    /// the given mount point, or else the repository directory or its
    /// parent must be a mount point (env: HBK_REQUIRE_MOUNT).
    #[arg(long = "require-mount", global = true, value_name = "mount point", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub require_mount: Option<String>,
    /// Refuse to use the repository unless its id is this one (the id
    /// recorded for a removable disk; env: HBK_EXPECT_REPOSITORY_ID).
    #[arg(long = "expect-repository-id", global = true, value_name = "id")]
    pub expect_repository_id: Option<String>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(InitArgs),
    /// Back up files and directories.
    Backup(BackupArgs),
    /// List snapshots.
    Snapshots(SnapshotsArgs),
    /// List the files of a snapshot.
    Ls(LsArgs),
    /// Print internal objects.
    Cat(CatArgs),
    /// Manage keys (passwords).
    Key(KeyArgs),
    /// Restore a snapshot into a directory.
    Restore(RestoreArgs),
    /// Check the repository for errors.
    Check(CheckArgs),
    /// Remove snapshots according to a policy.
    Forget(crate::commands::forget::ForgetArgs),
    /// Remove stale locks.
    Unlock(crate::commands::unlock::UnlockArgs),
    /// List objects of one type, one id a line.
    List(crate::commands::list::ListArgs),
    /// Remove data that no snapshot needs.
    Prune(crate::commands::prune::PruneArgs),
    /// Copy snapshots from another repository.
    Copy(crate::commands::copy::CopyArgs),
    /// Show differences between two snapshots.
    Diff(crate::commands::diff::DiffArgs),
    /// Find files and directories in snapshots.
    Find(crate::commands::find::FindArgs),
    /// Count sizes and files of snapshots.
    Stats(crate::commands::stats::StatsArgs),
    /// Add, remove or set snapshot tags.
    Tag(crate::commands::tag::TagArgs),
    /// Print a file, or a directory as tar, from a snapshot.
    Dump(crate::commands::dump::DumpArgs),
    /// Repair the index or snapshots.
    Repair(crate::commands::repair::RepairArgs),
    /// Build a new index from the packs (restic 0.14's name for `repair index`).
    RebuildIndex(crate::commands::repair::IndexArgs),
    /// Run a backup plan (Proxmox snapshots, PBS capture, copies, drills).
    Plan(crate::commands::plan::PlanArgs),
}

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

/// `snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Snapshot ids to show (default: all).
    pub ids: Vec<String>,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only the newest N snapshots of each host and path set.
    #[arg(long)]
    pub latest: Option<usize>,
}

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

/// `cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    /// config, index, snapshot, key, masterkey, lock, pack, blob or tree.
    pub kind: String,
    /// The object's id (for `tree`: SNAPSHOT[:PATH]).
    pub id: Option<String>,
}

/// `key`.
#[derive(Args, Debug)]
pub struct KeyArgs {
    /// The key subcommand.
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// Key subcommands.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key files.
    List,
    /// Add a new key (password) to the repository.
    Add(crate::commands::key::NewKeyArgs),
    /// Remove a key (not the one in use).
    Remove(crate::commands::key::RemoveKeyArgs),
    /// Change the password: add a new key, remove the one in use.
    Passwd(crate::commands::key::NewKeyArgs),
}

/// `restore`.
#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// SNAPSHOT[:SUBPATH]: id, prefix or `latest`.
    pub snapshot: String,
    /// Directory to restore into.
    #[arg(short, long)]
    pub target: PathBuf,
    /// Restore only matching paths (repeatable).
    #[arg(short, long)]
    pub include: Vec<String>,
    /// Skip matching paths (repeatable).
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Read restored files back and verify them.
    #[arg(long)]
    pub verify: bool,
    /// Restore all-zero blocks as holes.
    #[arg(long)]
    pub sparse: bool,
    /// Show what would be restored, write nothing.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Filters for `latest`.
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify all pack data.
    #[arg(long = "read-data")]
    pub read_data: bool,
    /// Read and verify a subset: `n/m` or `x%`.
    #[arg(long = "read-data-subset")]
    pub read_data_subset: Option<String>,
}

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Repository format version: 1, 2, stable or latest.
    #[arg(long = "repository-version", default_value = "stable")]
    pub repository_version: String,
    /// Copy the chunker polynomial from the repository given by --from-repo.
    #[arg(long = "copy-chunker-params")]
    pub copy_chunker_params: bool,
    /// The source repository for --copy-chunker-params.
    #[command(flatten)]
    pub from: crate::repo::FromRepoArgs,
    /// Chunker for new backups: rabin (restic's, the default) or fastcdc.
    #[arg(long, default_value = "rabin")]
    pub chunker: String,
}

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up.
    pub paths: Vec<PathBuf>,
    /// Tags for the new snapshot (`a,b`; repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Host name to record.
    #[arg(short = 'H', long)]
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
    /// Exclude a pattern (repeatable).
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Exclude a pattern, ignoring case (repeatable).
    #[arg(long)]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from a file (repeatable).
    #[arg(long = "exclude-file")]
    pub exclude_file: Vec<PathBuf>,
    /// Read case-insensitive exclude patterns from a file (repeatable).
    #[arg(long = "iexclude-file")]
    pub iexclude_file: Vec<PathBuf>,
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
    /// Back up standard input as one file.
    #[arg(long)]
    pub stdin: bool,
    /// File name for --stdin.
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
}
