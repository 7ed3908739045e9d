//! Opening the repository named by the global options.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use hbk_backend::{Options, RetryEvent};
use hbk_repo::{Backend, IndexedRepository, Repository};

use crate::global::GlobalOpts;
use crate::password;

/// The backend options given by `-o`, with retries reported on stderr
/// under `-v`.
pub fn backend_options(g: &GlobalOpts) -> Result<Options> {
    let mut o = Options::parse(&g.options)?;
    if g.verbose > 0 {
        o = o.with_retry_observer(Arc::new(|e: &RetryEvent| {
            eprintln!(
                "retrying {} on {} in {:.1}s (retry {}): {}",
                e.operation,
                e.location,
                e.delay.as_secs_f64(),
                e.attempt,
                e.error
            );
        }));
    }
    Ok(o)
}

/// The backend for `location` with the options of `g` (no guard, no
/// cache).
pub fn backend_with(g: &GlobalOpts, location: &str) -> Result<Arc<dyn Backend>> {
    Ok(hbk_backend::open_with(location, &backend_options(g)?)?)
}

/// The backend of the configured repository, after the removable-disk
/// guard (`--require-mount`) has passed; nothing is written before that.
pub fn guarded_backend(g: &GlobalOpts, location: &str) -> Result<Arc<dyn Backend>> {
    let wanted = g
        .require_mount
        .clone()
        .or_else(|| std::env::var("HBK_REQUIRE_MOUNT").ok())
        .filter(|v| !matches!(v.as_str(), "0" | "false" | "no"));
    if let Some(mount) = wanted {
        let path = match hbk_backend::location::parse(location)? {
            hbk_backend::Location::Local(path) => path,
            _ => bail!(
                "--require-mount applies to local repositories only, not {}",
                hbk_backend::location::redact(location)
            ),
        };
        let mount = match mount.as_str() {
            "" | "1" | "true" | "yes" => None,
            m => Some(std::path::PathBuf::from(m)),
        };
        hbk_backend::mount::require_mount(&path, mount.as_deref())?;
    }
    backend_with(g, location)
}

/// Opens the repository with the configured location and password, and
/// checks its id when `--expect-repository-id` asks for one.
pub fn open(g: &GlobalOpts) -> Result<Repository> {
    let location = password::repository(g)?;
    let backend = guarded_backend(g, &location)?;
    let pw = password::password(g)?;
    let repo = with_cache(g, &location, Repository::open(backend, pw.as_bytes())?);
    let expected = g
        .expect_repository_id
        .clone()
        .or_else(|| std::env::var("HBK_EXPECT_REPOSITORY_ID").ok())
        .filter(|s| !s.is_empty());
    if let Some(want) = expected {
        let id = repo.config().id.to_hex();
        if !id.starts_with(&want.to_ascii_lowercase()) {
            bail!(
                "repository {} has id {id}, not the expected {want}: is the right disk mounted? Nothing was written.",
                hbk_backend::location::redact(&location)
            );
        }
    }
    Ok(repo)
}

/// Opens the repository and loads its index.
pub fn open_indexed(g: &GlobalOpts) -> Result<IndexedRepository> {
    open(g)?.into_indexed().context("loading index")
}

/// The source repository of `copy` and `init --copy-chunker-params`, as
/// restic's `--from-*` flags and `RESTIC_FROM_*` variables name it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FromRepoArgs {
    /// Source repository (env: HBK_FROM_REPOSITORY, RESTIC_FROM_REPOSITORY).
    #[arg(long = "from-repo")]
    pub from_repo: Option<String>,
    /// File holding the source repository location (env: RESTIC_FROM_REPOSITORY_FILE).
    #[arg(long = "from-repository-file")]
    pub from_repository_file: Option<std::path::PathBuf>,
    /// Password file of the source repository (env: RESTIC_FROM_PASSWORD_FILE).
    #[arg(long = "from-password-file")]
    pub from_password_file: Option<std::path::PathBuf>,
    /// Password command of the source repository (env: RESTIC_FROM_PASSWORD_COMMAND).
    #[arg(long = "from-password-command")]
    pub from_password_command: Option<String>,
}

impl FromRepoArgs {
    /// Opens the source repository; `None` when none is named.
    pub fn open(&self, g: &GlobalOpts) -> Result<Option<Repository>> {
        let location = match (&self.from_repo, &self.from_repository_file) {
            (Some(r), _) => r.clone(),
            (None, Some(f)) => read_location_file(f)?,
            (None, None) => match password::env("FROM_REPOSITORY") {
                Some(r) => r,
                None => match password::env("FROM_REPOSITORY_FILE") {
                    Some(f) => read_location_file(std::path::Path::new(&f))?,
                    None => return Ok(None),
                },
            },
        };
        let from = GlobalOpts {
            repo: Some(location.clone()),
            repository_file: None,
            password_file: self.from_password_file.clone(),
            password_command: self.from_password_command.clone(),
            ..g.clone()
        };
        let pw = password::password_from(&from, "FROM_")?;
        let repo =
            Repository::open(backend_with(g, &location)?, pw.as_bytes()).with_context(|| {
                format!(
                    "opening source repository {}",
                    hbk_backend::location::redact(&location)
                )
            })?;
        Ok(Some(with_cache(g, &location, repo)))
    }
}

fn read_location_file(f: &std::path::Path) -> Result<String> {
    let s = std::fs::read_to_string(f)
        .with_context(|| format!("reading repository file {}", f.display()))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

/// Whether a location names a remote repository (anything but a path or
/// `local:`).
fn is_remote(location: &str) -> bool {
    match location.split_once(':') {
        Some((scheme, _)) => scheme != "local" && !scheme.contains('/'),
        None => false,
    }
}

/// Puts the local metadata cache in front of a remote repository unless
/// `--no-cache`. A cache that cannot be set up is skipped with a warning:
/// it only saves work.
fn with_cache(g: &GlobalOpts, location: &str, repo: Repository) -> Repository {
    if g.no_cache || !is_remote(location) {
        return repo;
    }
    let Some(base) = g
        .cache_dir
        .clone()
        .or_else(hbk_backend::cache::default_cache_dir)
    else {
        return repo;
    };
    let id = repo.config().id;
    let backend = Arc::clone(repo.backend());
    match hbk_backend::cache::CachedBackend::new(backend, &base, &id) {
        Ok(cached) => repo.map_backend(|_| Arc::new(cached)),
        Err(e) => {
            eprintln!("warning: no cache in {}: {e}", base.display());
            repo
        }
    }
}
