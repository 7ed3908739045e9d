//! The engine's error type.

use std::path::PathBuf;

use hbk_repo::{BlobType, Id};

/// Errors of engine commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A repository-level failure (format, crypto, backend).
    #[error(transparent)]
    Repo(#[from] hbk_repo::Error),
    /// No snapshot matches the given id, prefix or `latest`.
    #[error("no matching snapshot found for {0:?}")]
    SnapshotNotFound(String),
    /// A prefix matches several snapshots.
    #[error("prefix {0:?} is ambiguous: it matches several snapshots")]
    AmbiguousSnapshot(String),
    /// A path inside a snapshot does not exist.
    #[error("path {path:?} not found in snapshot {snapshot}")]
    PathNotFound {
        /// The snapshot.
        snapshot: String,
        /// The missing path.
        path: String,
    },
    /// A local filesystem operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A filter pattern is malformed.
    #[error("invalid pattern {0:?}")]
    InvalidPattern(String),
    /// Another process holds a conflicting lock.
    #[error("{0}")]
    Locked(String),
    /// A value given to a command is malformed, out of range or does not
    /// fit with the others. The message names no command-line flag: the
    /// CLI adds the flag, the plan its key.
    #[error("{reason}")]
    InvalidArgument {
        /// What the value is, in the engine's words ("size", "keep
        /// duration", "grouping", …), for callers mapping it to a flag.
        what: &'static str,
        /// What is wrong, as a complete message.
        reason: String,
    },
    /// The repository lacks data its index or snapshots refer to; a repair
    /// is needed before the command can run safely.
    #[error("{0}")]
    RepositoryDamaged(Damage),
    /// The repository has no key with this id.
    #[error("key {0} does not exist")]
    KeyNotFound(Id),
    /// A key may not be removed (the one in use, the last one).
    #[error("refusing to remove {0}")]
    KeyRemovalRefused(&'static str),
    /// An operation needs a repository of format version 2.
    #[error("{what} needs a repository of version 2; upgrade it first")]
    NeedsRepositoryV2 {
        /// The operation, in the engine's words.
        what: &'static str,
    },
    /// The repository's config asks for something hbk cannot do.
    #[error("{0}")]
    UnsupportedRepository(String),
    /// A worker thread pool could not be started.
    #[error("thread pool: {0}")]
    ThreadPool(String),
    /// Every source of a backup is missing; nothing was written.
    #[error("all source directories/files do not exist")]
    NoSourceData,
    /// A migration cannot be applied to this repository.
    #[error("migration refused: {0}")]
    MigrationRefused(String),
    /// A tree hbk would have to rewrite holds something its encoder does
    /// not write back (rewriting would lose it).
    #[error("cannot encode tree at {path:?} without losing information")]
    LossyTree {
        /// Where the tree is in the snapshot.
        path: String,
    },
    /// A command was given a lock that does not serve it (another
    /// repository's, or a shared one where it needs an exclusive one), or
    /// a plan made under another lock.
    #[error("wrong lock: {reason}")]
    WrongLock {
        /// What is wrong with it.
        reason: String,
    },
}

/// What is missing from a damaged repository.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// Packs the index lists do not exist.
    MissingPacks {
        /// How many.
        count: usize,
        /// The first of them.
        first: Id,
    },
    /// Blobs snapshots use are in no index.
    MissingBlobs {
        /// How many.
        count: usize,
        /// The first of them.
        first: (BlobType, Id),
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::MissingPacks { count, first } => write!(
                f,
                "{count} pack(s) listed in the index are missing from the repository \
                 (first: {first}); run `hbk repair index` first"
            ),
            Damage::MissingBlobs {
                count,
                first: (t, id),
            } => write!(
                f,
                "{count} blob(s) used by snapshots are not in the index (first: {t} {id}); \
                 run `hbk repair index` and `hbk check`"
            ),
        }
    }
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidArgument {
            what,
            reason: reason.into(),
        }
    }
}

/// Result type of the engine.
pub type Result<T> = std::result::Result<T, Error>;
