//! `init`: create a new repository.

use std::sync::Arc;

use hbk_repo::{Backend, Config, Id, KdfParams, Repository};

use crate::chunker::ChunkerKind;
use crate::Result;

/// Options of [`init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Repository format version, 1 or 2.
    pub version: u32,
    /// Chunker polynomial to use (copied from another repository so the
    /// two deduplicate alike); `None` draws a random one.
    pub polynomial: Option<u64>,
    /// The content-defined chunker new backups use.
    pub chunker: ChunkerKind,
    /// scrypt parameters for the first key.
    pub kdf: KdfParams,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            version: 2,
            polynomial: None,
            chunker: ChunkerKind::Rabin,
            kdf: KdfParams::RESTIC_DEFAULT,
        }
    }
}

/// Creates a repository at `backend`, protected by `password`.
pub fn init(backend: Arc<dyn Backend>, password: &[u8], opts: &InitOptions) -> Result<Repository> {
    let polynomial = match opts.polynomial {
        Some(p) => p,
        None => crate::chunker::random_polynomial()?,
    };
    let mut config = Config {
        version: opts.version,
        id: Id::random(),
        chunker_polynomial: polynomial,
        extra: Default::default(),
    };
    crate::chunker::record_in_config(opts.chunker, &mut config);
    Ok(Repository::init(
        backend,
        password,
        config,
        opts.kdf,
        &crate::lock::username(),
        &crate::lock::hostname(),
    )?)
}
