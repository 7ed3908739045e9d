//! Backends that store a repository's files, each implementing
//! [`hbk_repo::Backend`] with restic's layout (see [`layout`]):
//!
//! * [`LocalBackend`]: a directory on a local or removable disk;
//! * [`S3Backend`]: an S3-compatible bucket (`object_store`);
//! * [`RestBackend`]: restic's REST protocol (`rest-server`, `rclone serve restic`).
//!
//! [`open_with`] turns a restic-style location plus `-o key=value`
//! [`Options`] into a backend; remote backends come wrapped in a
//! [`RetryBackend`] that retries transient faults. Once a repository is
//! open (its id known), a [`CachedBackend`] can keep its metadata locally;
//! [`mount`] guards repositories on removable disks.
//!
//! A backend stores opaque files by type and name; the repository format
//! on top of it is `hbk_repo`'s. Here a local directory:
//!
//! ```
//! use hbk_repo::{FileType, Id};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let backend = hbk_backend::open(&dir.path().join("repo").to_string_lossy())?;
//! backend.create()?;
//! let id = Id::hash(b"pack bytes");
//! backend.write(FileType::Pack, &id, b"pack bytes")?;
//! assert_eq!(backend.list(FileType::Pack)?, vec![(id, 10)]);
//! assert_eq!(backend.read_range(FileType::Pack, &id, 5, 5)?, b"bytes");
//! # Ok(())
//! # }
//! ```

pub mod cache;
pub mod layout;
pub mod limit;
mod local;
pub mod location;
pub mod mount;
pub mod options;
mod rest;
pub mod retry;
mod s3;
mod sigpipe;

pub use cache::CachedBackend;
pub use local::LocalBackend;
pub use location::{Location, RestLocation, S3Location};
pub use options::{Options, RetryEvent, RetryObserver};
pub use rest::RestBackend;
pub use retry::{RetryBackend, RetryPolicy};
pub use s3::S3Backend;

use std::sync::Arc;

use hbk_repo::Backend;

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
}

/// Opens the backend for a location with default options.
pub fn open(location: &str) -> Result<Arc<dyn Backend>, Error> {
    open_with(location, &Options::default())
}

/// Opens the backend for a repository location as restic spells it (see
/// [`location`]) with `options`. Remote backends are wrapped in a
/// [`RetryBackend`] using the options' retry policy and observer; the
/// local backend is not (its errors do not go away by retrying).
pub fn open_with(location: &str, options: &Options) -> Result<Arc<dyn Backend>, Error> {
    let loc = location::parse(location)?;
    let display = loc.to_string();
    let policy = options.retry_policy()?;
    let observer = options.retry_observer().cloned();
    Ok(match &loc {
        Location::Local(path) => Arc::new(LocalBackend::new(path)),
        Location::S3(s3) => Arc::new(RetryBackend::new(
            S3Backend::open(s3, options, display)?,
            policy,
            observer,
        )),
        Location::Rest(rest) => Arc::new(RetryBackend::new(
            RestBackend::open(rest, options, display)?,
            policy,
            observer,
        )),
    })
}

/// All messages of an error and its sources, joined with `: `; a source
/// whose message is already part of the text is not repeated.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}
