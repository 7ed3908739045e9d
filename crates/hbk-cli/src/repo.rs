//! Opening the repository named by the global options: they become a
//! [`RepoSpec`], which does the opening.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hbk_backend::{HttpOptions, Limits, Options, RepoSpec, RequireMount, RetryEvent, Warning};
use hbk_engine::lock::{LockKind, RepoLock};
use hbk_repo::{IndexedRepository, Repository};

use crate::global::GlobalOpts;
use crate::password;

/// The TLS and HTTP settings of `--cacert`, `--tls-client-cert`,
/// `--insecure-tls` and `--http-user-agent` (and their variables), files
/// read.
fn http_options(g: &GlobalOpts) -> Result<HttpOptions> {
    let read = |p: &std::path::Path, what: &str| {
        std::fs::read(p).with_context(|| format!("reading {what} {}", p.display()))
    };
    let mut ca_files = g.cacert.clone();
    if ca_files.is_empty() {
        ca_files.extend(crate::environment::env("CACERT").map(PathBuf::from));
    }
    let client = g
        .tls_client_cert
        .clone()
        .or_else(|| crate::environment::env("TLS_CLIENT_CERT").map(PathBuf::from));
    Ok(HttpOptions {
        ca_certs: ca_files
            .iter()
            .map(|f| read(f, "CA certificate file"))
            .collect::<Result<_>>()?,
        client_cert: client
            .map(|f| read(&f, "TLS client certificate file"))
            .transpose()?,
        insecure_tls: g.insecure_tls,
        user_agent: g.http_user_agent.clone(),
    })
}

/// The backend options given by `-o` and `--stuck-request-timeout`, with
/// retries reported on stderr under `-v`.
fn backend_options(g: &GlobalOpts) -> Result<Options> {
    let mut o = Options::parse(&g.options)?.with_http(http_options(g)?);
    if let Some(t) = g.stuck_request_timeout {
        o = o.with_stuck_request_timeout(t);
    }
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

/// How to open the repository at `location` with the options of `g`:
/// `-o`, the bandwidth limits (`--limit-upload`, `--limit-download`),
/// the metadata cache (`--cache-dir`, `--no-cache`) and warnings on
/// stderr; no guard and no id check (see [`spec`]).
fn unguarded_spec(g: &GlobalOpts, location: &str) -> Result<RepoSpec> {
    Ok(RepoSpec::new(location)?
        .with_options(backend_options(g)?)
        .with_limits(Limits {
            upload_kib: g.limit_upload,
            download_kib: g.limit_download,
        })
        .with_cache_choice(g.no_cache, g.cache_dir.clone())
        .with_key_hint(
            g.key_hint
                .clone()
                .or_else(|| crate::environment::env("KEY_HINT"))
                .as_deref(),
        )
        .with_warning_observer(Arc::new(|w: &Warning| eprintln!("warning: {w}"))))
}

/// How to open the configured repository at `location`: as
/// [`unguarded_spec`], plus the removable-disk guard (`--require-mount`,
/// `HBK_REQUIRE_MOUNT`) and the repository id check
/// (`--expect-repository-id`, `HBK_EXPECT_REPOSITORY_ID`).
pub fn spec(g: &GlobalOpts, location: &str) -> Result<RepoSpec> {
    let wanted = g
        .require_mount
        .clone()
        .or_else(|| std::env::var("HBK_REQUIRE_MOUNT").ok())
        .filter(|v| !matches!(v.as_str(), "0" | "false" | "no"));
    let require = wanted.map(|m| match m.as_str() {
        "" | "1" | "true" | "yes" => RequireMount::RepositoryOrParent,
        m => RequireMount::At(PathBuf::from(m)),
    });
    let expected = g
        .expect_repository_id
        .clone()
        .or_else(|| std::env::var("HBK_EXPECT_REPOSITORY_ID").ok());
    Ok(unguarded_spec(g, location)?
        .with_require_mount(require)
        .with_expected_id(expected.as_deref()))
}

/// Opens the configured repository with its password (see [`spec`]).
pub fn open(g: &GlobalOpts) -> Result<Repository> {
    Ok(open_with_spec(g)?.1)
}

/// [`open`], with the [`RepoSpec`] it opened by.
fn open_with_spec(g: &GlobalOpts) -> Result<(RepoSpec, Repository)> {
    let location = password::repository(g)?;
    let spec = spec(g, &location)?;
    // The guard runs before the password is asked for: an unmounted disk
    // fails at once.
    spec.check_mount()?;
    let pw = password::password(g)?;
    let repo = shown(spec.open(pw.as_bytes())?);
    Ok((spec, repo))
}

/// [`open`], with the repository's directory of the local cache where
/// commands keep state about it ([`RepoSpec::local_state_dir`]; `None`
/// with `--no-cache`).
pub fn open_with_local_state(g: &GlobalOpts) -> Result<(Repository, Option<PathBuf>)> {
    let (spec, repo) = open_with_spec(g)?;
    let dir = spec.local_state_dir(&repo);
    Ok((repo, dir))
}

/// Prints what opening `repo` worked around (on stderr, so `--json`
/// output stays parseable) and hands it on.
fn shown(repo: Repository) -> Repository {
    for w in repo.open_warnings() {
        eprintln!("Warning: {w}");
    }
    repo
}

/// Opens the repository for a command that only reads it, under the
/// shared lock restic takes for such commands (so that no prune deletes
/// what is being read), or none with `--no-lock` (a read-only
/// repository). Hold the lock until the command is done.
pub fn open_read(g: &GlobalOpts) -> Result<(Repository, Option<RepoLock>)> {
    let repo = open(g)?;
    let lock = match g.no_lock {
        true => None,
        false => Some(lock(g, &repo, LockKind::Shared)?),
    };
    Ok((repo, lock))
}

/// Snapshots a command chose, with their ids.
pub type Chosen = Vec<(hbk_repo::Id, hbk_repo::SnapshotFile)>;

/// Opens the repository for a command that rewrites snapshots (`rewrite`,
/// `repair snapshots`): a lock of `kind` unless `dry_run`, taken before
/// the index is loaded (it decides what exists), then the snapshots
/// `specs` and `filter` choose (warnings printed).
pub fn open_for_snapshot_rewrite(
    g: &GlobalOpts,
    kind: LockKind,
    dry_run: bool,
    specs: &[String],
    filter: &crate::selection::FilterArgs,
) -> Result<(IndexedRepository, Option<RepoLock>, Chosen)> {
    let repo = open(g)?;
    let lock = match dry_run {
        true => None,
        false => Some(lock(g, &repo, kind)?),
    };
    let repo = repo.into_indexed()?;
    let (snapshots, warnings) =
        hbk_engine::snapshots::select_snapshots(&repo, specs, &crate::selection::filter(filter))?;
    for w in warnings {
        eprintln!("{w}");
    }
    Ok((repo, lock, snapshots))
}

/// [`open_read`], then loads the index.
pub fn open_indexed_read(g: &GlobalOpts) -> Result<(IndexedRepository, Option<RepoLock>)> {
    let (repo, lock) = open_read(g)?;
    Ok((repo.into_indexed().context("loading index")?, lock))
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
    /// The source repository has an empty password.
    #[arg(long = "from-insecure-no-password")]
    pub from_insecure_no_password: bool,
    /// Key of the source repository to try first (env: RESTIC_FROM_KEY_HINT).
    #[arg(long = "from-key-hint")]
    pub from_key_hint: Option<String>,
}

impl FromRepoArgs {
    /// Opens the source repository; `None` when none is named.
    pub fn open(&self, g: &GlobalOpts) -> Result<Option<Repository>> {
        let location = match (&self.from_repo, &self.from_repository_file) {
            (Some(r), _) => r.clone(),
            (None, Some(f)) => read_location_file(f)?,
            (None, None) => match crate::environment::env("FROM_REPOSITORY") {
                Some(r) => r,
                None => match crate::environment::env("FROM_REPOSITORY_FILE") {
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
            insecure_no_password: self.from_insecure_no_password,
            key_hint: self
                .from_key_hint
                .clone()
                .or_else(|| crate::environment::env("FROM_KEY_HINT")),
            ..g.clone()
        };
        let pw = password::password_from(&from, "FROM_")?;
        let repo = unguarded_spec(&from, &location)?
            .open(pw.as_bytes())
            .with_context(|| {
                format!(
                    "opening source repository {}",
                    hbk_backend::location::redact(&location)
                )
            })?;
        Ok(Some(shown(repo)))
    }
}

fn read_location_file(f: &std::path::Path) -> Result<String> {
    let s = std::fs::read_to_string(f)
        .with_context(|| format!("reading repository file {}", f.display()))?;
    Ok(s.trim_end_matches(['\r', '\n']).to_string())
}

/// Takes a repository lock, waiting up to `--retry-lock` for another
/// holder's to go.
pub fn lock(g: &GlobalOpts, repo: &Repository, kind: LockKind) -> Result<RepoLock> {
    let wait = g.retry_lock.unwrap_or_default();
    Ok(hbk_engine::lock::RepoLock::acquire_waiting(
        repo, kind, wait,
    )?)
}
