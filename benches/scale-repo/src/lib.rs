//! Writes a real restic repository whose index holds many tiny blobs: the
//! input of the benchmark's 5-million-blob scale case (issue #11).
//!
//! The repository is what restic 0.14 itself would write for such data:
//! version 2, data blobs zstd-compressed in packs, index files of about
//! 50,000 blobs (compressed and sealed like every unpacked file), and one
//! snapshot (a directory holding one file whose content is blob 0), so
//! every command works on it. `restic check --read-data` accepts it (see
//! `tests/restic_check.rs`).
//!
//! Blobs are unique pseudo-random 16–64-byte contents ([`content`]);
//! groups of packs and their index file are written on all cores.

pub mod content;
mod packs;
mod snapshot;

use std::sync::Arc;

use hbk_repo::{Backend, Config, Id, KdfParams, Repository};
use rayon::prelude::*;

pub use snapshot::SNAPSHOT_PATH;

/// The chunker polynomial written into the config (any valid one does;
/// no content is chunked here).
const POLYNOMIAL: u64 = 0x003D_A335_8B4D_C173;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    /// Writing or encoding a repository file failed.
    #[error(transparent)]
    Repo(#[from] hbk_repo::Error),
    /// The backend failed to store a file.
    #[error(transparent)]
    Backend(#[from] hbk_repo::BackendError),
    /// The layout asks for something that cannot be written.
    #[error("invalid layout: {0}")]
    Layout(&'static str),
}

/// The shape of the repository to write.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Data blobs in the index.
    pub blobs: u64,
    /// Blobs per pack (the last pack of a group may hold fewer).
    pub blobs_per_pack: u64,
    /// Packs per index file.
    pub packs_per_index: u64,
    /// Compress data blobs (restic 0.14's v2 behaviour) or store them raw.
    pub compress: bool,
    /// Seed of the blob contents: another seed, other blobs.
    pub seed: u64,
}

impl Default for Layout {
    /// 5 million blobs; 25,000 per pack (~2.5 MB packs: a small restic
    /// pack) and two packs per index file (50,000 blobs, restic 0.14's
    /// index file size for uncompressed repositories).
    fn default() -> Layout {
        Layout {
            blobs: 5_000_000,
            blobs_per_pack: 25_000,
            packs_per_index: 2,
            compress: true,
            seed: 1,
        }
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Data blobs in the index (one tree blob comes on top).
    pub data_blobs: u64,
    /// Pack files, the tree pack included.
    pub packs: u64,
    /// Bytes of all packs.
    pub pack_bytes: u64,
    /// Index files.
    pub index_files: u64,
    /// The snapshot's id.
    pub snapshot: Id,
}

/// Creates a repository in the empty location `backend` with `password`
/// (key derived with `kdf`) and fills it as `layout` says.
pub fn generate(
    backend: Arc<dyn Backend>,
    password: &[u8],
    kdf: KdfParams,
    layout: &Layout,
) -> Result<Summary, GenError> {
    if layout.blobs == 0 || layout.blobs_per_pack == 0 || layout.packs_per_index == 0 {
        return Err(GenError::Layout(
            "blobs, blobs per pack and packs per index must be > 0",
        ));
    }
    if layout.blobs_per_pack > hbk_repo::pack::MAX_HEADER_SIZE / 41 {
        return Err(GenError::Layout(
            "more blobs per pack than a pack header holds",
        ));
    }
    let config = Config {
        version: 2,
        id: Id::random(),
        chunker_polynomial: POLYNOMIAL,
        extra: Default::default(),
    };
    let repo = Repository::init(backend, password, config, kdf, "bench", "hbk-scale-repo")?;
    let per_index = layout.blobs_per_pack.saturating_mul(layout.packs_per_index);
    let groups = layout.blobs.div_ceil(per_index);
    let (tree_pack, snapshot) = snapshot::write_snapshot(&repo, layout.seed)?;
    let mut tree_pack = Some(tree_pack);
    // The last group's index file also lists the tree pack.
    let jobs: Vec<(u64, Vec<_>)> = (0..groups)
        .map(|g| {
            let extra = match g + 1 == groups {
                true => tree_pack.take().into_iter().collect(),
                false => Vec::new(),
            };
            (g, extra)
        })
        .collect();
    let stats = jobs
        .into_par_iter()
        .map(|(g, extra)| {
            let first = g * per_index;
            let end = layout.blobs.min(first.saturating_add(per_index));
            packs::write_group(&repo, layout, first, end, extra)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Summary {
        data_blobs: stats.iter().map(|s| s.blobs).sum(),
        packs: stats.iter().map(|s| s.packs).sum::<u64>() + 1,
        pack_bytes: stats.iter().map(|s| s.pack_bytes).sum(),
        index_files: groups,
        snapshot,
    })
}
