//! What a backup is asked to do: tags, host, time, excludes, compression.

use hbk_repo::{GoTime, Id};

/// How data blobs are compressed (repository v2 only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CompressionMode {
    /// A fast default level.
    #[default]
    Auto,
    /// No compression of data blobs (trees are still compressed in v2).
    Off,
    /// Faster than `auto`, a little larger.
    Fastest,
    /// Smaller than `auto`, slower.
    Better,
    /// The best ratio, slowly.
    Max,
}

impl CompressionMode {
    /// The zstd level, if any: restic's encoder speeds mapped to the zstd
    /// levels they resemble.
    pub fn level(self) -> Option<i32> {
        match self {
            CompressionMode::Auto => Some(3),
            CompressionMode::Off => None,
            CompressionMode::Fastest => Some(1),
            CompressionMode::Better => Some(7),
            CompressionMode::Max => Some(19),
        }
    }
}

impl std::str::FromStr for CompressionMode {
    type Err = crate::Error;

    /// restic's names: `auto`, `off`, `fastest`, `better`, `max`.
    fn from_str(s: &str) -> crate::Result<CompressionMode> {
        Ok(match s {
            "auto" => CompressionMode::Auto,
            "off" => CompressionMode::Off,
            "fastest" => CompressionMode::Fastest,
            "better" => CompressionMode::Better,
            "max" => CompressionMode::Max,
            other => {
                return Err(crate::Error::invalid(
                    "compression",
                    format!(
                        "invalid compression mode {other:?}: expected auto, off, fastest, better or max"
                    ),
                ))
            }
        })
    }
}

/// Options of [`backup`](super::backup), as restic's flags.
#[derive(Debug, Clone)]
pub struct BackupOptions {
    /// Tags for the snapshot.
    pub tags: Vec<String>,
    /// Host name to record (default: this host).
    pub host: Option<String>,
    /// Snapshot time (default: now).
    pub time: Option<GoTime>,
    /// Parent snapshot for change detection (default: the latest with the
    /// same host and paths).
    pub parent: Option<Id>,
    /// Read every file, ignoring the parent.
    pub force: bool,
    /// Exclude patterns.
    pub excludes: Vec<String>,
    /// Case-insensitive exclude patterns.
    pub iexcludes: Vec<String>,
    /// Exclude directories holding a file of this name (`NAME[:HEADER]`).
    pub exclude_if_present: Vec<String>,
    /// Exclude directories holding a valid `CACHEDIR.TAG`.
    pub exclude_caches: bool,
    /// Exclude files larger than this many bytes.
    pub exclude_larger_than: Option<u64>,
    /// Stay on the filesystem of each target.
    pub one_file_system: bool,
    /// Compression of data blobs.
    pub compression: CompressionMode,
    /// Do not compare ctimes when looking for changed files.
    pub ignore_ctime: bool,
    /// Do not compare inodes when looking for changed files.
    pub ignore_inode: bool,
    /// Target pack size in bytes.
    pub pack_size: u64,
    /// Worker threads (0: a default for this machine).
    pub threads: usize,
    /// Skip the second walk that counts files and bytes for progress
    /// totals (restic's `--no-scan`); nothing shows the totals then.
    pub no_scan: bool,
    /// How many threads read file contents at the same time, as
    /// restic's `--read-concurrency` (0: no bound beyond the worker
    /// threads). Lower it for a disk that slows down when read in many
    /// places at once (a spinning disk); hashing and storing what was
    /// read keep using every worker.
    ///
    /// The default is 0, not restic's 2: hbk's workers read, hash and
    /// store, so a bound leaves workers waiting that would otherwise
    /// walk directories; on a 2-core machine with an SSD a bound of 2
    /// made a backup of 30,000 small files 5–15% slower and one of large
    /// files no faster.
    pub read_concurrency: usize,
    /// Write no snapshot when the backed-up tree equals the parent's
    /// (restic's `--skip-if-unchanged`).
    pub skip_if_unchanged: bool,
    /// Store each entry's access time (restic's `--with-atime`); by
    /// default the modification time stands in for it, so reading files
    /// does not change their metadata from one snapshot to the next.
    pub with_atime: bool,
    /// Which snapshot fields a parent must share with the new snapshot
    /// (restic's `--group-by`; default host and paths).
    pub group_by: crate::commands::forget::GroupBy,
    /// Directories listed and stat'ed ahead ([`super::prefetch`]): the
    /// walk takes these listings instead of making them again.
    pub listings: Option<super::prefetch::Listings>,
    /// A directory of the local cache where the backup keeps its record
    /// of the directories it saved (the backup's `dir_states` module),
    /// so that the next backup of the same sources skips reading the
    /// parent's trees of unchanged directories; `None`: no record.
    pub local_state: Option<std::path::PathBuf>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        BackupOptions {
            tags: Vec::new(),
            host: None,
            time: None,
            parent: None,
            force: false,
            excludes: Vec::new(),
            iexcludes: Vec::new(),
            exclude_if_present: Vec::new(),
            exclude_caches: false,
            exclude_larger_than: None,
            one_file_system: false,
            compression: CompressionMode::Auto,
            ignore_ctime: false,
            ignore_inode: false,
            pack_size: 16 << 20,
            threads: 0,
            no_scan: false,
            read_concurrency: 0,
            skip_if_unchanged: false,
            with_atime: false,
            group_by: Default::default(),
            listings: None,
            local_state: None,
        }
    }
}
