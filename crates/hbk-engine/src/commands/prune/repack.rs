//! Copying the used blobs of partly used packs into new packs.
//!
//! Each blob is verified (decrypted, decompressed, hashed) before it is
//! stored again, so a damaged blob stops prune before anything is deleted.
//! New blobs go through the backup's [`BlobSaver`], which packs, compresses
//! (repository v2) and writes index files for what it uploaded: a prune
//! killed while repacking leaves only extra, indexed copies behind.

use std::num::NonZeroU32;

use hbk_repo::blob::decode_blob;
use hbk_repo::{Error as RepoError, FileType, Index, IndexPack, Repository};
use rayon::prelude::*;

use super::plan::Repack;
use crate::progress::Progress;
use crate::Result;
use hbk_repo::BlobSaver;

/// Packs read at once; each is held in memory while its blobs are copied.
const PARALLEL_READS: usize = 2;

/// Repacks `packs` and returns the new packs with their blobs.
pub(super) fn repack(
    repo: &Repository,
    packs: &[Repack],
    pack_size: u64,
    progress: &dyn Progress,
) -> Result<Vec<IndexPack>> {
    let empty = Index::default();
    let level = (repo.config().version >= 2).then_some(3);
    let saver = BlobSaver::new(repo, &empty, pack_size, level, false).remembering_packs();
    progress.phase_start("repacking packs", Some(packs.len() as u64));
    crate::pool::install(PARALLEL_READS, || {
        packs.par_iter().try_for_each(|r| {
            copy_pack(repo, &saver, r)?;
            progress.phase_advance(1);
            Ok::<_, crate::Error>(())
        })
    })?;
    saver.flush()?;
    progress.phase_finish();
    Ok(saver.written_packs())
}

fn copy_pack(repo: &Repository, saver: &BlobSaver<'_>, r: &Repack) -> Result<()> {
    let bytes = repo
        .backend()
        .read_full(FileType::Pack, &r.pack)
        .map_err(RepoError::from)?;
    for b in &r.keep {
        let start = b.offset as usize;
        let end = start + b.length as usize;
        let sealed = bytes.get(start..end).ok_or_else(|| RepoError::Corrupt {
            file_type: FileType::Pack,
            id: r.pack,
            reason: format!(
                "blob {} at {}+{} lies beyond the pack's {} bytes",
                b.id,
                b.offset,
                b.length,
                bytes.len()
            ),
        })?;
        let mut sealed = sealed.to_vec();
        let ulen = b.uncompressed_length.and_then(NonZeroU32::new);
        let plain = decode_blob(repo.key(), &b.id, ulen, &mut sealed).map_err(|e| {
            RepoError::CorruptBlob {
                blob_type: b.blob_type,
                id: b.id,
                pack: r.pack,
                reason: e.to_string(),
            }
        })?;
        saver.save_with_id(b.blob_type, b.id, &plain)?;
    }
    Ok(())
}
