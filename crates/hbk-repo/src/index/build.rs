//! Building an [`Index`] one index file at a time.
//!
//! Each file becomes a [`FileEntries`] (compact entries, pack numbers
//! local to the file) straight from its JSON; the [`Builder`] renumbers
//! the packs, appends the entries and empties the file's lists for the
//! next file. So no parsed [`IndexFile`] of the whole repository is ever
//! held, and the peak memory of a load is the finished index plus a few
//! files in flight.

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;

use rayon::prelude::*;

use super::memory::{Entry, WideOffsets, WIDE};
use super::scan::{scan, IndexSink};
use crate::{BlobType, Id, Index, IndexBlob, IndexFile, Result};

/// The blobs of one index file as index entries; `pack` numbers index
/// [`FileEntries::packs`].
#[derive(Default)]
pub(crate) struct FileEntries {
    packs: Vec<Id>,
    data: Vec<Entry>,
    tree: Vec<Entry>,
    /// Offsets too big for an entry: type, local pack, blob, offset.
    wide: Vec<(BlobType, u32, Id, u64)>,
}

impl FileEntries {
    /// Reads the entries of an index document in place of the current
    /// ones, keeping their allocations (a load reuses one set of lists per
    /// file in flight): by the fast scanner, or by [`IndexFile::from_json`]
    /// when the scanner leaves the document to it (so errors and edge
    /// cases are exactly the generic parser's).
    pub(crate) fn read(&mut self, json: &[u8]) -> Result<()> {
        self.clear();
        // A blob takes at least ~100 bytes of JSON: room for all of them
        // (in the list of the commoner type) without growing.
        self.data.reserve(json.len() / 100);
        if scan(json, self).is_err() {
            self.clear();
            self.add_file(&IndexFile::from_json(json)?);
        }
        Ok(())
    }

    /// The entries of a parsed index file.
    pub(crate) fn from_file(file: &IndexFile) -> FileEntries {
        let mut entries = FileEntries::default();
        entries.add_file(file);
        entries
    }

    fn add_file(&mut self, file: &IndexFile) {
        for p in &file.packs {
            self.pack(p.id);
            for b in &p.blobs {
                self.blob(*b);
            }
        }
    }

    fn clear(&mut self) {
        self.packs.clear();
        self.data.clear();
        self.tree.clear();
        self.wide.clear();
    }
}

impl IndexSink for FileEntries {
    fn pack(&mut self, id: Id) {
        self.packs.push(id);
    }

    fn blob(&mut self, b: IndexBlob) {
        // Blobs come after their pack; the scanner and `from_file` see to it.
        let Some(pack) = self.packs.len().checked_sub(1) else {
            return;
        };
        let pack = pack as u32;
        let offset = match u32::try_from(b.offset) {
            Ok(small) if small != WIDE => small,
            _ => {
                self.wide.push((b.blob_type, pack, b.id, b.offset));
                WIDE
            }
        };
        let e = Entry {
            id: b.id,
            pack,
            length: b.length,
            offset,
            uncompressed_length: b.uncompressed_length.unwrap_or(0),
        };
        match b.blob_type {
            BlobType::Data => self.data.push(e),
            BlobType::Tree => self.tree.push(e),
        }
    }
}

/// Merges [`FileEntries`] in file order into an [`Index`].
#[derive(Default)]
pub(crate) struct Builder {
    packs: Vec<Id>,
    numbers: HashMap<Id, u32>,
    data: Vec<Entry>,
    tree: Vec<Entry>,
    wide: WideOffsets,
    /// Some pack was listed more than once (in one file or several).
    repeated_pack: bool,
}

impl Builder {
    /// Appends the next file's entries, numbering its packs by first
    /// appearance; `file` is left empty, its allocations kept for reuse.
    pub(crate) fn add(&mut self, file: &mut FileEntries) {
        let remap: Vec<u32> = file
            .packs
            .iter()
            .map(|id| match self.numbers.entry(*id) {
                Slot::Occupied(o) => {
                    self.repeated_pack = true;
                    *o.get()
                }
                Slot::Vacant(v) => {
                    self.packs.push(*id);
                    *v.insert((self.packs.len() - 1) as u32)
                }
            })
            .collect();
        let global = |local: u32| remap.get(local as usize).copied().unwrap_or(WIDE);
        for (from, to) in [
            (&mut file.data, &mut self.data),
            (&mut file.tree, &mut self.tree),
        ] {
            to.extend(from.drain(..).map(|e| Entry {
                pack: global(e.pack),
                ..e
            }));
        }
        for (t, pack, id, offset) in file.wide.drain(..) {
            self.wide.entry((t, global(pack), id)).or_insert(offset);
        }
        file.packs.clear();
    }

    /// Sorts the entries by id, keeps the first location of each blob and
    /// builds the lookup tables.
    ///
    /// Packs are numbered in order of first appearance, so when no pack
    /// is listed twice, of two locations of a blob in different packs the
    /// one seen first is in the lower-numbered pack: an in-place unstable
    /// sort by (id, pack) then keeps it first, without the scratch copy a
    /// stable sort needs (half the entries again) and on all cores. A
    /// blob stored twice in the same pack keeps its lower offset. When
    /// some pack is listed twice, the stable sort decides, as before.
    pub(crate) fn finish(self) -> Index {
        let Builder {
            packs,
            mut data,
            mut tree,
            wide,
            repeated_pack,
            ..
        } = self;
        for v in [&mut data, &mut tree] {
            match repeated_pack {
                true => v.sort_by_key(|e| e.id),
                false => v.par_sort_unstable_by(order),
            }
            v.dedup_by_key(|e| e.id);
            v.shrink_to_fit();
        }
        Index::from_sorted(packs, data, tree, wide)
    }
}

/// The order of entries: by id, then pack, then offset.
fn order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    prefix(&a.id)
        .cmp(&prefix(&b.id))
        .then_with(|| (a.id, a.pack, a.offset).cmp(&(b.id, b.pack, b.offset)))
}

/// An id's first eight bytes as a number: ordered like the id's bytes,
/// and compared in one instruction. Ids are uniform, so this nearly
/// always decides a comparison without comparing all 32 bytes.
fn prefix(id: &Id) -> u64 {
    let [a, b, c, d, e, f, g, h, ..] = id.0;
    u64::from_be_bytes([a, b, c, d, e, f, g, h])
}

impl Index {
    /// Merges parsed index files into one index. A blob listed in
    /// several packs is kept once, at its first location in file order.
    pub fn from_files<'a>(files: impl IntoIterator<Item = &'a IndexFile>) -> Index {
        let mut builder = Builder::default();
        for file in files {
            builder.add(&mut FileEntries::from_file(file));
        }
        builder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IndexPack;

    fn blob(id: &[u8], offset: u64, t: BlobType) -> IndexBlob {
        IndexBlob {
            id: Id::hash(id),
            blob_type: t,
            offset,
            length: 40,
            uncompressed_length: None,
        }
    }

    fn file(packs: &[(&[u8], Vec<IndexBlob>)]) -> IndexFile {
        IndexFile {
            packs: packs
                .iter()
                .map(|(p, blobs)| IndexPack {
                    id: Id::hash(p),
                    blobs: blobs.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn duplicates_keep_their_first_location_across_files_and_packs() {
        use BlobType::Data;
        // x is first in pack B (file 1), then in C (file 2).
        let f0 = file(&[(b"A", vec![blob(b"y", 0, Data)])]);
        let f1 = file(&[(b"B", vec![blob(b"x", 5, Data)])]);
        let f2 = file(&[(b"C", vec![blob(b"x", 9, Data), blob(b"y", 1, Data)])]);
        let idx = Index::from_files([&f0, &f1, &f2]);
        let x = idx.get(Data, &Id::hash(b"x")).unwrap();
        assert_eq!((x.pack, x.offset), (Id::hash(b"B"), 5));
        let y = idx.get(Data, &Id::hash(b"y")).unwrap();
        assert_eq!((y.pack, y.offset), (Id::hash(b"A"), 0));
        // A pack listed twice: x is seen first in C, which is numbered
        // after B; the stable path still keeps C.
        let f3 = file(&[(b"B", vec![blob(b"z", 1, Data)])]);
        let f4 = file(&[(b"C", vec![blob(b"x", 9, Data)])]);
        let f5 = file(&[(b"B", vec![blob(b"x", 5, Data)])]);
        let idx = Index::from_files([&f3, &f4, &f5]);
        let x = idx.get(Data, &Id::hash(b"x")).unwrap();
        assert_eq!((x.pack, x.offset), (Id::hash(b"C"), 9));
        assert_eq!(idx.packs(), vec![Id::hash(b"B"), Id::hash(b"C")]);
    }

    #[test]
    fn offsets_beyond_32_bits_are_kept_whole() {
        use BlobType::{Data, Tree};
        let big = u64::from(u32::MAX);
        let f = file(&[(
            b"P",
            vec![
                blob(b"a", big, Data),
                blob(b"b", big + 7, Tree),
                blob(b"c", big - 1, Data),
                blob(b"d", u64::MAX, Data),
            ],
        )]);
        let idx = Index::from_files([&f]);
        for (id, off, t) in [
            (b"a", big, Data),
            (b"b", big + 7, Tree),
            (b"c", big - 1, Data),
            (b"d", u64::MAX, Data),
        ] {
            assert_eq!(idx.get(t, &Id::hash(id)).unwrap().offset, off);
        }
    }

    #[test]
    fn parsed_and_scanned_documents_give_the_same_entries() {
        let f = file(&[
            (b"P", vec![blob(b"a", 0, BlobType::Data)]),
            (b"Q", vec![blob(b"b", 1 << 40, BlobType::Tree)]),
        ]);
        let json = f.to_json().unwrap();
        // An unknown key sends the document down the generic path.
        let text = String::from_utf8(json.clone()).unwrap();
        let odd = text.replacen('{', r#"{"extra":{"a":1},"#, 1);
        for doc in [json, odd.into_bytes()] {
            let mut e = FileEntries::default();
            e.read(&doc).unwrap();
            let mut b = Builder::default();
            b.add(&mut e);
            let idx = b.finish();
            assert_eq!(
                idx.get(BlobType::Tree, &Id::hash(b"b")).unwrap().offset,
                1 << 40
            );
            assert_eq!(idx.len(BlobType::Data), 1);
        }
        assert!(FileEntries::default().read(b"{\"packs\":7}").is_err());
    }
}
