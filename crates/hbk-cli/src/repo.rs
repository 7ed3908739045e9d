//! Opening the repository named by the global options.

use std::sync::Arc;

use anyhow::{Context, Result};
use hbk_backend::{Options, RetryEvent};
use hbk_repo::{Backend, IndexedRepository, Repository};

use crate::cli::GlobalOpts;
use crate::password;

/// The backend for a repository location, with default backend options
/// (no `-o`); prefer [`backend_with`]. Kept for callers without global
/// options.
#[allow(dead_code)]
pub fn backend(location: &str) -> Result<Arc<dyn Backend>> {
    Ok(hbk_backend::open(location)?)
}

/// The backend options given by `-o`, with retries reported on stderr
/// under `-v`.
pub fn backend_options(g: &GlobalOpts) -> Result<Options> {
    let require_mount = g.require_mount
        || std::env::var("HBK_REQUIRE_MOUNT").is_ok_and(|v| v == "1" || v == "true");
    let mut o = Options::parse(&g.options)?
        .with_require_mount(require_mount)
        .with_cache_dir(cache_dir(g));
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

/// Where remote repositories' metadata is cached, or `None` for
/// `--no-cache` (or when no cache location is known).
fn cache_dir(g: &GlobalOpts) -> Option<std::path::PathBuf> {
    if g.no_cache {
        return None;
    }
    if let Some(d) = &g.cache_dir {
        return Some(d.clone());
    }
    let xdg = std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty());
    let base = xdg
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cache")))?;
    Some(base.join("hbk"))
}

/// The backend for `location` with the options of `g`.
pub fn backend_with(g: &GlobalOpts, location: &str) -> Result<Arc<dyn Backend>> {
    Ok(hbk_backend::open_with(location, &backend_options(g)?)?)
}

/// Opens the repository with the configured location and `password`.
pub fn open_with(g: &GlobalOpts, password: &str) -> Result<Repository> {
    let location = password::repository(g)?;
    Ok(Repository::open(
        backend_with(g, &location)?,
        password.as_bytes(),
    )?)
}

/// Opens the repository with the configured location and password.
pub fn open(g: &GlobalOpts) -> Result<Repository> {
    let location = password::repository(g)?;
    let backend = backend_with(g, &location)?;
    let pw = password::password(g)?;
    Ok(Repository::open(backend, pw.as_bytes())?)
}

/// Opens the repository and loads its index.
pub fn open_indexed(g: &GlobalOpts) -> Result<IndexedRepository> {
    open(g)?.into_indexed().context("loading index")
}
