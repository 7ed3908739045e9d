//! The engine's error type.

use std::path::PathBuf;

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
    /// Invalid options.
    #[error("{0}")]
    InvalidOptions(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result type of the engine.
pub type Result<T> = std::result::Result<T, Error>;
