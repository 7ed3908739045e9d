//! Opening the repository named by the global options.

use std::sync::Arc;

use anyhow::{Context, Result};
use hbk_repo::{Backend, IndexedRepository, Repository};

use crate::cli::GlobalOpts;
use crate::password;

/// The backend for a repository location.
pub fn backend(location: &str) -> Result<Arc<dyn Backend>> {
    hbk_backend::open(location).map_err(anyhow::Error::msg)
}

/// Opens the repository with the configured location and `password`.
pub fn open_with(g: &GlobalOpts, password: &str) -> Result<Repository> {
    let location = password::repository(g)?;
    Ok(Repository::open(backend(&location)?, password.as_bytes())?)
}

/// Opens the repository with the configured location and password.
pub fn open(g: &GlobalOpts) -> Result<Repository> {
    let location = password::repository(g)?;
    let backend = backend(&location)?;
    let pw = password::password(g)?;
    Ok(Repository::open(backend, pw.as_bytes())?)
}

/// Opens the repository and loads its index.
pub fn open_indexed(g: &GlobalOpts) -> Result<IndexedRepository> {
    open(g)?.into_indexed().context("loading index")
}
