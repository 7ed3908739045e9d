//! Which chunker a repository uses, and making one for each file.
//!
//! restic's Rabin chunker with the repository's polynomial is the default:
//! it is what makes hbk's chunks (and so its blob ids) match restic's, so
//! backups by either tool deduplicate against the other. FastCDC is an
//! opt-in alternative chosen at `init`; it is recorded in the config with
//! rustic's field names (`chunker`, `chunk_size`, `chunk_min_size`,
//! `chunk_max_size`), which restic ignores.

use hbk_chunker::{Chunker, FastCdcChunker, Polynomial, RabinChunker};
use hbk_repo::Config;

use crate::{Error, Result};

/// Hands out a fresh chunker (sharing precomputed tables) for each file.
#[derive(Clone, Debug)]
pub struct ChunkerFactory {
    proto: Chunker,
}

impl ChunkerFactory {
    /// A chunker in its initial state.
    pub fn make(&self) -> Chunker {
        self.proto.clone()
    }
}

/// The content-defined chunkers hbk offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChunkerKind {
    /// restic's Rabin fingerprint chunker (the default, restic-compatible).
    #[default]
    Rabin,
    /// FastCDC: faster, but does not deduplicate against restic's chunks.
    FastCdc,
}

const FASTCDC_MIN: usize = 512 * 1024;
const FASTCDC_AVG: usize = 1024 * 1024;
const FASTCDC_MAX: usize = 8 * 1024 * 1024;

/// Records `kind` in a new repository's config (nothing for Rabin, which
/// every tool assumes).
pub fn record_in_config(kind: ChunkerKind, config: &mut Config) {
    if kind == ChunkerKind::FastCdc {
        config.extra.insert("chunker".into(), "fastcdc".into());
        config.extra.insert("chunk_size".into(), FASTCDC_AVG.into());
        config
            .extra
            .insert("chunk_min_size".into(), FASTCDC_MIN.into());
        config
            .extra
            .insert("chunk_max_size".into(), FASTCDC_MAX.into());
    }
}

/// The chunker a config asks for.
pub fn kind_of(config: &Config) -> Result<ChunkerKind> {
    match config.extra.get("chunker").and_then(|v| v.as_str()) {
        None | Some("rabin") => Ok(ChunkerKind::Rabin),
        Some("fastcdc") => Ok(ChunkerKind::FastCdc),
        Some(other) => Err(Error::UnsupportedRepository(format!(
            "repository uses chunker {other:?}, which hbk cannot write"
        ))),
    }
}

fn size_field(config: &Config, key: &str, default: usize) -> usize {
    config
        .extra
        .get(key)
        .and_then(|v| v.as_u64())
        .map_or(default, |v| v as usize)
}

/// A factory making a fresh chunker for each file, per the config.
pub fn factory(config: &Config) -> Result<ChunkerFactory> {
    let bad = |e: hbk_chunker::ChunkerError| Error::UnsupportedRepository(format!("chunker: {e}"));
    let proto = match kind_of(config)? {
        ChunkerKind::Rabin => {
            Chunker::Rabin(RabinChunker::new(Polynomial(config.chunker_polynomial)).map_err(bad)?)
        }
        ChunkerKind::FastCdc => {
            let min = size_field(config, "chunk_min_size", FASTCDC_MIN);
            let avg = size_field(config, "chunk_size", FASTCDC_AVG);
            let max = size_field(config, "chunk_max_size", FASTCDC_MAX);
            Chunker::FastCdc(FastCdcChunker::new(min, avg, max).map_err(bad)?)
        }
    };
    Ok(ChunkerFactory { proto })
}

/// A random irreducible polynomial for a new repository.
pub fn random_polynomial() -> Result<u64> {
    Polynomial::random()
        .map(u64::from)
        .map_err(|e| Error::UnsupportedRepository(format!("chunker polynomial: {e}")))
}
