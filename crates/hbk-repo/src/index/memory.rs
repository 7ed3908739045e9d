//! The compact in-memory index: blob id → pack, offset, length.

use std::num::NonZeroU32;

use crate::{BlobType, Id, IndexFile};

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    /// The pack holding the blob.
    pub pack: Id,
    /// Offset of its sealed bytes in the pack.
    pub offset: u64,
    /// Sealed length.
    pub length: u32,
    /// Plaintext length when compressed.
    pub uncompressed_length: Option<NonZeroU32>,
}

impl BlobLocation {
    /// Length of the blob's plaintext.
    pub fn data_length(&self) -> u64 {
        match self.uncompressed_length {
            Some(n) => u64::from(n.get()),
            None => u64::from(self.length).saturating_sub(hbk_crypto::OVERHEAD as u64),
        }
    }
}

#[derive(Clone, Copy)]
struct Entry {
    id: Id,
    pack: u32,
    length: u32,
    offset: u64,
    uncompressed_length: u32,
}

/// All blobs of a repository, sorted by id for binary search. A blob stored
/// in several packs is kept once (the first seen).
#[derive(Default)]
pub struct Index {
    packs: Vec<Id>,
    data: Vec<Entry>,
    tree: Vec<Entry>,
}

impl Index {
    /// Merges parsed index files into one index.
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a IndexFile>) -> Index {
        let mut idx = Index::default();
        let mut pack_numbers = std::collections::HashMap::new();
        for file in files {
            for p in &file.packs {
                let n = *pack_numbers.entry(p.id).or_insert_with(|| {
                    idx.packs.push(p.id);
                    (idx.packs.len() - 1) as u32
                });
                for b in &p.blobs {
                    let e = Entry {
                        id: b.id,
                        pack: n,
                        length: b.length,
                        offset: b.offset,
                        uncompressed_length: b.uncompressed_length.unwrap_or(0),
                    };
                    match b.blob_type {
                        BlobType::Data => idx.data.push(e),
                        BlobType::Tree => idx.tree.push(e),
                    }
                }
            }
        }
        for v in [&mut idx.data, &mut idx.tree] {
            // Stable sort keeps the first copy of a duplicated blob first.
            v.sort_by_key(|e| e.id);
            v.dedup_by_key(|e| e.id);
            v.shrink_to_fit();
        }
        idx
    }

    fn entries(&self, t: BlobType) -> &[Entry] {
        match t {
            BlobType::Data => &self.data,
            BlobType::Tree => &self.tree,
        }
    }

    /// Where the blob of type `t` with id `id` is stored, if anywhere.
    pub fn get(&self, t: BlobType, id: &Id) -> Option<BlobLocation> {
        let v = self.entries(t);
        let i = v.binary_search_by(|e| e.id.cmp(id)).ok()?;
        let e = v[i];
        Some(BlobLocation {
            pack: self.packs[e.pack as usize],
            offset: e.offset,
            length: e.length,
            uncompressed_length: NonZeroU32::new(e.uncompressed_length),
        })
    }

    /// Whether the index knows the blob.
    pub fn contains(&self, t: BlobType, id: &Id) -> bool {
        self.entries(t).binary_search_by(|e| e.id.cmp(id)).is_ok()
    }

    /// Number of distinct blobs of type `t`.
    pub fn len(&self, t: BlobType) -> usize {
        self.entries(t).len()
    }

    /// Whether the index holds no blob at all.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty() && self.tree.is_empty()
    }

    /// Every pack the index references.
    pub fn packs(&self) -> &[Id] {
        &self.packs
    }
}
