//! Why a backend or repository could not be opened.

use crate::mount;

/// Why a backend could not be opened. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The location string does not parse.
    #[error("invalid repository location {location:?}: {reason}")]
    Location {
        /// The location, with any password removed.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// A known restic backend hbk does not implement.
    #[error("backend {scheme:?} is not supported yet")]
    Unsupported {
        /// The scheme, e.g. `sftp`.
        scheme: String,
    },
    /// A `-o key=value` option is unknown or has a bad value.
    #[error("option {key}: {reason}")]
    Option {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// Credentials could not be read.
    #[error("credentials: {reason}")]
    Credentials {
        /// What failed (never the secret itself).
        reason: String,
    },
    /// The backend could not be set up.
    #[error("opening {location}: {reason}")]
    Open {
        /// The location (no secrets).
        location: String,
        /// What failed.
        reason: String,
    },
    /// The removable-disk guard refused: the disk is not mounted (or
    /// the repository is not on it). Nothing was written.
    #[error("{0}")]
    Mount(#[source] mount::MountError),
    /// A mount was required for a repository that is not a directory.
    #[error("requiring a mounted disk applies to local repositories only, not {location}")]
    MountNeedsLocal {
        /// The location (no secrets).
        location: String,
    },
    /// The repository's id is not the one expected: another disk or
    /// server than intended.
    #[error("repository {location} has id {actual}, not the expected {expected}: is the right disk mounted? Nothing was written.")]
    WrongRepository {
        /// The location (no secrets).
        location: String,
        /// The expected id (a prefix, lower case).
        expected: String,
        /// The repository's id.
        actual: String,
    },
    /// Opening the repository failed (no config, wrong password, …).
    #[error("{0}")]
    Repository(#[source] hbk_repo::Error),
}
