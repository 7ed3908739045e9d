//! Backends that store a repository's files, each implementing
//! [`hbk_repo::Backend`] with restic's layout (see [`layout`]):
//!
//! * [`LocalBackend`]: a directory on a local or removable disk;
//! * [`S3Backend`]: an S3-compatible bucket (`object_store`);
//! * [`RestBackend`]: restic's REST protocol (`rest-server`, `rclone serve restic`).
//!
//! [`RepoSpec`] is the one way to open a repository: a restic-style
//! [`location`] plus `-o key=value` [`Options`], the removable-disk guard
//! ([`mount`]), an expected repository id and the metadata cache
//! ([`CachedBackend`]). Remote backends come wrapped in a
//! [`RetryBackend`] that retries transient faults; bandwidth limits
//! ([`Limits`]) put a [`ThrottledBackend`] under the retries.
//! [`MemoryBackend`]
//! keeps a repository in memory (tests, embedders); the `testsuite`
//! feature adds the conformance suite every backend passes.
//!
//! A backend stores opaque files by type and name; the repository format
//! on top of it is `hbk_repo`'s. Here a local directory:
//!
//! ```
//! use hbk_backend::RepoSpec;
//! use hbk_repo::{FileType, Id};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let spec = RepoSpec::new(&dir.path().join("repo").to_string_lossy())?;
//! let backend = spec.guarded_backend()?;
//! backend.create()?;
//! let id = Id::hash(b"pack bytes");
//! backend.write(FileType::Pack, &id, b"pack bytes")?;
//! assert_eq!(backend.list(FileType::Pack)?, vec![(id, 10)]);
//! assert_eq!(backend.read_range(FileType::Pack, &id, 5, 5)?, b"bytes");
//! # Ok(())
//! # }
//! ```

pub mod cache;
pub mod direct_io;
mod error;
pub mod layout;
pub mod limit;
mod local;
pub mod location;
mod memory;
pub mod mount;
pub mod options;
mod rest;
pub mod rest_listing;
pub mod retry;
mod s3;
mod sigpipe;
pub mod spec;
mod staged;
#[cfg(feature = "testsuite")]
pub mod testsuite;
pub mod throttle;

pub use cache::CachedBackend;
pub use error::Error;
pub use local::LocalBackend;
pub use location::{Location, RestLocation, S3Location};
pub use memory::MemoryBackend;
pub use options::{HttpOptions, Options, DEFAULT_STUCK_REQUEST_TIMEOUT};
pub use rest::RestBackend;
pub use retry::{RetryBackend, RetryEvent, RetryObserver, RetryPolicy};
pub use s3::S3Backend;
pub use spec::{RepoSpec, RequireMount, Warning, WarningObserver};
pub use staged::StagedUploads;
pub use throttle::{Limits, ThrottledBackend};

use std::sync::Arc;

use hbk_repo::Backend;

/// Opens the backend for a location with default options (no limits).
pub fn open(location: &str) -> Result<Arc<dyn Backend>, Error> {
    open_with(location, &Options::default())
}

/// Opens the backend for a repository location as restic spells it (see
/// [`location`]) with `options`. No guard, no cache, no limits: to open
/// a repository, use [`RepoSpec`].
pub fn open_with(location: &str, options: &Options) -> Result<Arc<dyn Backend>, Error> {
    open_location(&location::parse(location)?, options, Limits::NONE)
}

/// Opens the backend for a parsed location. Remote backends are wrapped
/// in a [`RetryBackend`] using the options' retry policy and observer,
/// and stage their packs on the local disk ([`StagedUploads`]); the local
/// backend is not retried (its errors do not go away by retrying).
/// Bandwidth `limits` wrap the backend itself, under the retries, so
/// that a retried transfer is paced too; without limits there is no
/// wrapper.
pub(crate) fn open_location(
    loc: &Location,
    options: &Options,
    limits: Limits,
) -> Result<Arc<dyn Backend>, Error> {
    let display = loc.to_string();
    let retry = Some((options.retry_policy()?, options.retry_observer().cloned()));
    Ok(match loc {
        Location::Local(path) => wrap(LocalBackend::new(path), limits, None),
        Location::S3(s3) => staged(wrap(S3Backend::open(s3, options, display)?, limits, retry)),
        Location::Rest(rest) => staged(wrap(
            RestBackend::open(rest, options, display)?,
            limits,
            retry,
        )),
    })
}

/// A network `backend` whose packs are staged in the temporary directory
/// while they are built ([`StagedUploads`]), above its retries and limits
/// so that the upload of a staged pack is retried and paced.
fn staged(backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
    Arc::new(StagedUploads::new(backend, std::env::temp_dir()))
}

/// `backend` under a [`ThrottledBackend`] when `limits` are set and a
/// [`RetryBackend`] when `retry` is.
fn wrap<B: Backend + 'static>(
    backend: B,
    limits: Limits,
    retry: Option<(RetryPolicy, Option<RetryObserver>)>,
) -> Arc<dyn Backend> {
    fn retried<B: Backend + 'static>(
        b: B,
        retry: Option<(RetryPolicy, Option<RetryObserver>)>,
    ) -> Arc<dyn Backend> {
        match retry {
            Some((policy, observer)) => Arc::new(RetryBackend::new(b, policy, observer)),
            None => Arc::new(b),
        }
    }
    match limits.is_unlimited() {
        true => retried(backend, retry),
        false => retried(ThrottledBackend::new(backend, limits), retry),
    }
}
