//! [`RepoSpec`]: everything needed to open a repository, and the one way
//! to open it. The CLI builds a spec from its flags and environment, a
//! plan from its `[repositories.NAME]` table; both then call
//! [`RepoSpec::open`], so both get the same options, retries, bandwidth
//! limits, removable-disk guard, repository id check and metadata cache.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use hbk_repo::{Backend, Repository};

use crate::cache::{default_cache_dir, CachedBackend};
use crate::location::{self, Location};
use crate::{mount, open_location, Error, Limits, Options};

/// Where a repository on a removable disk must be mounted before
/// anything is read or written (see [`mount::require_mount`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequireMount {
    /// The repository directory or its parent is a mount point (the
    /// usual `/mnt/usb/repo` or `/mnt/usb`).
    RepositoryOrParent,
    /// This directory is a mount point and holds the repository.
    At(PathBuf),
}

/// Something worth telling the user that did not stop the opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The metadata cache could not be set up; the repository is used
    /// without it.
    NoCache {
        /// The cache base directory.
        dir: PathBuf,
        /// Why it failed.
        reason: String,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NoCache { dir, reason } => {
                write!(f, "no cache in {}: {reason}", dir.display())
            }
        }
    }
}

/// A callback told about every [`Warning`] (the CLI prints them).
pub type WarningObserver = Arc<dyn Fn(&Warning) + Send + Sync>;

/// How to open one repository: its location (parsed), backend options,
/// bandwidth limits, removable-disk guard, expected id and metadata cache.
#[derive(Clone)]
pub struct RepoSpec {
    location: Location,
    options: Options,
    limits: Limits,
    require_mount: Option<RequireMount>,
    expected_id: Option<String>,
    key_hint: Option<String>,
    cache_dir: Option<PathBuf>,
    on_warning: Option<WarningObserver>,
}

impl fmt::Debug for RepoSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RepoSpec")
            .field("location", &self.location)
            .field("options", &self.options)
            .field("limits", &self.limits)
            .field("require_mount", &self.require_mount)
            .field("expected_id", &self.expected_id)
            .field("key_hint", &self.key_hint)
            .field("cache_dir", &self.cache_dir)
            .field("on_warning", &self.on_warning.is_some())
            .finish()
    }
}

impl RepoSpec {
    /// A spec for `location` as restic spells it, with default options,
    /// no guard, no id check, and the metadata cache in
    /// [`default_cache_dir`] (used for remote repositories only).
    pub fn new(location: &str) -> Result<RepoSpec, Error> {
        Ok(RepoSpec::at(location::parse(location)?))
    }

    /// A spec for an already parsed location (defaults as [`RepoSpec::new`]).
    pub fn at(location: Location) -> RepoSpec {
        RepoSpec {
            location,
            options: Options::default(),
            limits: Limits::NONE,
            require_mount: None,
            expected_id: None,
            key_hint: None,
            cache_dir: default_cache_dir(),
            on_warning: None,
        }
    }

    /// Uses `options` (the `-o key=value` set, retry policy and observer).
    pub fn with_options(mut self, options: Options) -> RepoSpec {
        self.options = options;
        self
    }

    /// Limits the upload and download rates (`--limit-upload`,
    /// `--limit-download`); [`Limits::NONE`], the default, limits nothing.
    /// The metadata cache sits in front of the limits: what it serves
    /// locally is not paced.
    pub fn with_limits(mut self, limits: Limits) -> RepoSpec {
        self.limits = limits;
        self
    }

    /// Refuses to touch the repository unless its disk is mounted as
    /// `require` says; `None` turns the guard off.
    pub fn with_require_mount(mut self, require: Option<RequireMount>) -> RepoSpec {
        self.require_mount = require;
        self
    }

    /// Refuses a repository whose id does not start with `prefix` (hex,
    /// any case); `None` or an empty prefix turns the check off.
    pub fn with_expected_id(mut self, prefix: Option<&str>) -> RepoSpec {
        self.expected_id = prefix
            .filter(|p| !p.is_empty())
            .map(str::to_ascii_lowercase);
        self
    }

    /// Tries the keys whose id starts with `hint` first (restic's
    /// `--key-hint`); `None` or empty: all keys in id order.
    pub fn with_key_hint(mut self, hint: Option<&str>) -> RepoSpec {
        self.key_hint = hint.filter(|h| !h.is_empty()).map(str::to_string);
        self
    }

    /// Keeps the metadata cache of remote repositories under `dir`;
    /// `None` opens without a cache.
    pub fn with_cache_dir(mut self, dir: Option<PathBuf>) -> RepoSpec {
        self.cache_dir = dir;
        self
    }

    /// The repository's own directory of the local cache, made and marked
    /// as used ([`crate::cache::repository_dir`]; for a local repository
    /// too, which keeps no metadata cache): where commands keep local
    /// state about the repository, such as the record a backup keeps of
    /// the directories it saved. `None` without a cache, or when it
    /// cannot be made (with a [`Warning`]: it only saves work).
    pub fn local_state_dir(&self, repo: &Repository) -> Option<PathBuf> {
        let base = self.cache_dir.as_deref()?;
        match crate::cache::repository_dir(base, &repo.config().id) {
            Ok(dir) => Some(dir),
            Err(e) => {
                self.warn(&Warning::NoCache {
                    dir: base.to_path_buf(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    /// The cache as users choose it (`--no-cache`, `--cache-dir`): none
    /// when `disabled`, else `dir`, else the default cache directory.
    pub fn with_cache_choice(self, disabled: bool, dir: Option<PathBuf>) -> RepoSpec {
        let dir = match disabled {
            true => None,
            false => dir.or_else(crate::cache::default_cache_dir),
        };
        self.with_cache_dir(dir)
    }

    /// Installs a callback told about warnings (otherwise they are
    /// logged with `tracing`).
    pub fn with_warning_observer(mut self, f: WarningObserver) -> RepoSpec {
        self.on_warning = Some(f);
        self
    }

    /// The bandwidth limits (see [`RepoSpec::with_limits`]).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The repository's location.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The removable-disk guard: fails unless the disk holding the
    /// repository is mounted as required. Reads only metadata, so a
    /// failure leaves the disk (and the directory under an absent
    /// mount) untouched.
    pub fn check_mount(&self) -> Result<(), Error> {
        let Some(require) = &self.require_mount else {
            return Ok(());
        };
        let Some(path) = self.location.local_path() else {
            return Err(Error::MountNeedsLocal {
                location: self.location.to_string(),
            });
        };
        let mount_point = match require {
            RequireMount::RepositoryOrParent => None,
            RequireMount::At(m) => Some(m.as_path()),
        };
        mount::require_mount(path, mount_point).map_err(Error::Mount)
    }

    /// The backend, after the removable-disk guard has passed: what
    /// `init` writes a new repository through. No cache (the repository
    /// id is not known yet) and no id check.
    pub fn guarded_backend(&self) -> Result<Arc<dyn Backend>, Error> {
        self.check_mount()?;
        open_location(&self.location, &self.options, self.limits)
    }

    /// Opens the repository: the removable-disk guard (before anything is
    /// read or written), the backend, the key for `password`, the
    /// repository id check and, for a remote repository, the metadata
    /// cache.
    pub fn open(&self, password: &[u8]) -> Result<Repository, Error> {
        Ok(self.with_cache(self.open_uncached(password)?))
    }

    /// Like [`RepoSpec::open`] without the metadata cache, for commands
    /// that must read the server's copy (`check`).
    pub fn open_uncached(&self, password: &[u8]) -> Result<Repository, Error> {
        let repo = Repository::open_with_key_hint(
            self.guarded_backend()?,
            password,
            self.key_hint.as_deref(),
        )
        .map_err(Error::Repository)?;
        if let Some(expected) = &self.expected_id {
            let actual = repo.config().id.to_hex();
            if !actual.starts_with(expected.as_str()) {
                return Err(Error::WrongRepository {
                    location: self.location.to_string(),
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(repo)
    }

    /// Puts the metadata cache in front of an open remote repository (a
    /// local one is returned as it is). A cache that cannot be set up is
    /// skipped with a [`Warning`]: it only saves work.
    pub fn with_cache(&self, repo: Repository) -> Repository {
        let Some(base) = self.cache_dir.as_deref() else {
            return repo;
        };
        if !self.location.is_remote() {
            return repo;
        }
        let id = repo.config().id;
        match CachedBackend::new(Arc::clone(repo.backend()), base, &id) {
            Ok(cached) => repo.map_backend(|_| Arc::new(cached)),
            Err(e) => {
                self.warn(&Warning::NoCache {
                    dir: base.to_path_buf(),
                    reason: e.to_string(),
                });
                repo
            }
        }
    }

    fn warn(&self, w: &Warning) {
        match &self.on_warning {
            Some(f) => f(w),
            None => tracing::warn!("{w}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hbk_repo::{Config, Id, KdfParams};

    fn init(dir: &std::path::Path) -> Id {
        let config = Config {
            version: 2,
            id: Id::random(),
            chunker_polynomial: 0x3DA3358B4DC173,
            extra: Default::default(),
        };
        let backend = Arc::new(crate::LocalBackend::new(dir));
        let repo = Repository::init(
            backend,
            b"pw",
            config,
            KdfParams::INSECURE_FOR_TESTS,
            "u",
            "h",
        )
        .unwrap();
        repo.config().id
    }

    #[test]
    fn opens_and_checks_the_expected_id() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        let id = init(&path);
        let spec = RepoSpec::new(path.to_str().unwrap()).unwrap();
        assert_eq!(spec.open(b"pw").unwrap().config().id, id);
        let hex = id.to_hex().to_ascii_uppercase();
        let right = spec.clone().with_expected_id(Some(&hex[..8]));
        assert!(right.open(b"pw").is_ok());
        let wrong = spec.clone().with_expected_id(Some("0000000000"));
        match wrong.open(b"pw") {
            Err(Error::WrongRepository { actual, .. }) => assert_eq!(actual, id.to_hex()),
            other => panic!("{other:?}"),
        }
        let e = spec.open(b"wrong").unwrap_err();
        assert!(
            matches!(e, Error::Repository(hbk_repo::Error::WrongPassword)),
            "{e}"
        );
    }

    #[test]
    fn the_mount_guard_runs_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let usb = dir.path().join("usb");
        std::fs::create_dir(&usb).unwrap();
        let spec = RepoSpec::new(usb.join("repo").to_str().unwrap())
            .unwrap()
            .with_require_mount(Some(RequireMount::RepositoryOrParent));
        let e = spec.guarded_backend().err().unwrap();
        assert!(matches!(e, Error::Mount(_)), "{e}");
        assert!(e.to_string().contains("not a mounted filesystem"), "{e}");
        let e = spec
            .clone()
            .with_require_mount(Some(RequireMount::At(usb.clone())))
            .open(b"pw")
            .unwrap_err();
        assert!(matches!(e, Error::Mount(_)), "{e}");
        assert_eq!(std::fs::read_dir(&usb).unwrap().count(), 0);
        let remote = RepoSpec::new("rest:http://127.0.0.1:1/")
            .unwrap()
            .with_require_mount(Some(RequireMount::RepositoryOrParent));
        assert!(matches!(
            remote.check_mount(),
            Err(Error::MountNeedsLocal { .. })
        ));
    }

    #[test]
    fn local_repositories_are_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo");
        init(&path);
        let cache = dir.path().join("cache");
        let spec = RepoSpec::new(path.to_str().unwrap())
            .unwrap()
            .with_cache_dir(Some(cache.clone()));
        spec.open(b"pw").unwrap();
        assert!(!cache.exists(), "a local repository got a cache");
    }

    #[test]
    fn limits_reach_the_opened_backend() {
        let dir = tempfile::tempdir().unwrap();
        let spec = RepoSpec::new(dir.path().join("repo").to_str().unwrap())
            .unwrap()
            .with_limits(Limits {
                upload_kib: 200,
                download_kib: 0,
            });
        let backend = spec.guarded_backend().unwrap();
        backend.create().unwrap();
        let data = vec![7u8; 80 << 10];
        let start = std::time::Instant::now();
        backend
            .write(hbk_repo::FileType::Pack, &Id::hash(&data), &data)
            .unwrap();
        // 80 KiB at 200 KiB/s, less the 20 KiB burst: at least 0.3 s.
        let took = start.elapsed();
        assert!(took >= std::time::Duration::from_millis(290), "{took:?}");
    }
}
