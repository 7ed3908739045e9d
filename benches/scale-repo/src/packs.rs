//! One group of packs and the index file that lists them.

use hbk_repo::blob::{encode_blob, BlobScratch, Compression};
use hbk_repo::pack::PackWriter;
use hbk_repo::{BlobType, FileType, Id, IndexBlob, IndexFile, IndexPack, Repository};
use sha2::{Digest, Sha256};

use crate::content::blob_content;
use crate::{GenError, Layout};

/// What one group wrote.
#[derive(Debug, Default, Clone, Copy)]
pub struct GroupStats {
    /// Packs written.
    pub packs: u64,
    /// Bytes of those packs.
    pub pack_bytes: u64,
    /// Blobs in them.
    pub blobs: u64,
}

/// Writes the packs of blobs `first..end` (at most `layout.blobs_per_pack`
/// each) and one index file listing them; `extra` packs (already written)
/// are listed in the same index file.
pub fn write_group(
    repo: &Repository,
    layout: &Layout,
    first: u64,
    end: u64,
    extra: Vec<IndexPack>,
) -> Result<GroupStats, GenError> {
    let compression = match layout.compress {
        true => Compression::Always(1),
        false => Compression::Off,
    };
    let mut stats = GroupStats::default();
    let mut index = IndexFile {
        packs: extra,
        ..Default::default()
    };
    let mut content = Vec::with_capacity(crate::content::MAX_LEN);
    let mut scratch = BlobScratch::default();
    let mut start = first;
    while start < end {
        let stop = end.min(start.saturating_add(layout.blobs_per_pack));
        // Sealed blob: 32 bytes of IV and MAC, at most one byte of zstd
        // frame per content byte plus its header.
        let estimate = (stop - start) as usize * (crate::content::MAX_LEN + 48);
        let mut writer = PackWriter::new(Vec::with_capacity(estimate));
        for i in start..stop {
            blob_content(layout.seed, i, &mut content);
            let id = Id(Sha256::digest(&content).into());
            writer.add(&encode_blob(
                repo.key(),
                BlobType::Data,
                id,
                &content,
                compression,
                &mut scratch,
            ));
        }
        let (bytes, blobs) = writer.finish(repo.key());
        let pack_id = Id::hash(&bytes);
        repo.backend().write(FileType::Pack, &pack_id, &bytes)?;
        stats.packs += 1;
        stats.pack_bytes += bytes.len() as u64;
        stats.blobs += stop - start;
        index.packs.push(IndexPack {
            id: pack_id,
            blobs: blobs.iter().map(IndexBlob::from).collect(),
        });
        start = stop;
    }
    repo.save_unpacked(FileType::Index, &index.to_json()?)?;
    Ok(stats)
}
