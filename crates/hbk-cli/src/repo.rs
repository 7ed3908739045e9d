//! Opening the repository named by the global options.

use anyhow::{Context, Result};
use hbk_repo::{IndexedRepository, Repository};

use crate::cli::GlobalOpts;
use crate::password;

/// Opens the repository with the configured location and password.
pub fn open(g: &GlobalOpts) -> Result<Repository> {
    let location = password::repository(g)?;
    let backend = hbk_backend::open(&location).map_err(anyhow::Error::msg)?;
    let pw = password::password(g)?;
    Ok(Repository::open(backend, pw.as_bytes())?)
}

/// Opens the repository and loads its index.
pub fn open_indexed(g: &GlobalOpts) -> Result<IndexedRepository> {
    open(g)?.into_indexed().context("loading index")
}
