//! Cutting blobs out of the bytes read from one pack (restore, copy).
//!
//! Every bound here comes from the index, which is repository data and may
//! be damaged or hostile: an entry whose end overflows, that is too short
//! for a sealed blob, that overlaps the blob before it or that lies past the
//! bytes the pack returned becomes a [`BadIndexEntry`] naming the pack.
//! Nothing here panics, and no blob is decoded from bytes that another blob
//! decrypted in place.

use std::ops::Range;

use hbk_repo::{BlobLocation, Id};

/// What is wrong with an index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EntryProblem {
    /// `offset + length` does not fit in 64 bits.
    #[error("ends beyond the largest possible offset")]
    Overflow,
    /// The length cannot hold the IV and MAC of a sealed blob.
    #[error("is too short for a sealed blob")]
    TooShort,
    /// The entry starts before the blob before it in the pack ends.
    #[error("overlaps another blob of the pack")]
    Overlap,
    /// The pack returned fewer bytes than the entry needs.
    #[error("lies beyond the end of the pack")]
    BeyondPack,
}

/// An index entry that cannot be cut out of its pack; the restore of the
/// files needing the blob fails with this instead of panicking or writing
/// wrong bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index entry for blob {blob} in pack {pack} (offset {offset}, length {length}) {problem}")]
pub struct BadIndexEntry {
    /// The pack the index places the blob in.
    pub pack: Id,
    /// The blob.
    pub blob: Id,
    /// The entry's offset.
    pub offset: u64,
    /// The entry's sealed length.
    pub length: u32,
    /// What is wrong.
    pub problem: EntryProblem,
}

impl BadIndexEntry {
    fn new(blob: &Id, loc: &BlobLocation, problem: EntryProblem) -> BadIndexEntry {
        BadIndexEntry {
            pack: loc.pack,
            blob: *blob,
            offset: loc.offset,
            length: loc.length,
            problem,
        }
    }
}

/// Checks what can be checked of one entry before reading: its end fits in
/// 64 bits and its length holds a sealed box. Returns the end offset.
pub fn entry_end(blob: &Id, loc: &BlobLocation) -> Result<u64, BadIndexEntry> {
    if (loc.length as usize) < hbk_repo::OVERHEAD {
        return Err(BadIndexEntry::new(blob, loc, EntryProblem::TooShort));
    }
    loc.offset
        .checked_add(u64::from(loc.length))
        .ok_or_else(|| BadIndexEntry::new(blob, loc, EntryProblem::Overflow))
}

/// Where each entry of a run lies in the bytes read from the pack starting
/// at `start`, of which there are `available`. `entries` are in pack order
/// (sorted by offset). Each `Ok` range lies within `0..available`, is
/// exactly the entry's bytes and does not overlap an earlier `Ok` range.
pub fn cut<'a>(
    start: u64,
    available: usize,
    entries: impl IntoIterator<Item = (&'a Id, &'a BlobLocation)>,
) -> Vec<Result<Range<usize>, BadIndexEntry>> {
    let mut taken = 0usize;
    entries
        .into_iter()
        .map(|(blob, loc)| {
            let end = entry_end(blob, loc)?;
            let bad = |problem| BadIndexEntry::new(blob, loc, problem);
            let (Some(lo), Some(hi)) = (loc.offset.checked_sub(start), end.checked_sub(start))
            else {
                return Err(bad(EntryProblem::BeyondPack));
            };
            let (Ok(lo), Ok(hi)) = (usize::try_from(lo), usize::try_from(hi)) else {
                return Err(bad(EntryProblem::BeyondPack));
            };
            if hi > available {
                return Err(bad(EntryProblem::BeyondPack));
            }
            if lo < taken {
                return Err(bad(EntryProblem::Overlap));
            }
            taken = hi;
            Ok(lo..hi)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc(offset: u64, length: u32) -> BlobLocation {
        BlobLocation {
            pack: Id([7; 32]),
            offset,
            length,
            uncompressed_length: None,
        }
    }

    #[test]
    fn good_entries_are_cut_exactly() {
        let ids = [Id([1; 32]), Id([2; 32])];
        let locs = [loc(100, 40), loc(150, 32)];
        let got = cut(100, 82, ids.iter().zip(&locs));
        assert_eq!(got, vec![Ok(0..40), Ok(50..82)]);
    }

    #[test]
    fn bad_entries_are_named() {
        let ids = [Id([1; 32]), Id([2; 32]), Id([3; 32]), Id([4; 32])];
        let locs = [loc(0, 100), loc(50, 40), loc(u64::MAX - 3, 40), loc(0, 3)];
        let got = cut(0, 100, ids.iter().zip(&locs));
        assert!(got[0].is_ok());
        let problems: Vec<_> = got[1..]
            .iter()
            .map(|r| r.as_ref().unwrap_err().problem)
            .collect();
        assert_eq!(
            problems,
            [
                EntryProblem::Overlap,
                EntryProblem::Overflow,
                EntryProblem::TooShort
            ]
        );
        let e = got[1].as_ref().unwrap_err();
        assert!(e.to_string().contains(&Id([7; 32]).to_string()), "{e}");
        assert_eq!(
            cut(0, 10, ids.iter().zip(&locs))[0]
                .as_ref()
                .unwrap_err()
                .problem,
            EntryProblem::BeyondPack
        );
    }

    proptest! {
        /// Arbitrary entries (overlapping, duplicate, out of range, huge)
        /// against an arbitrary number of bytes read: no panic, and every
        /// range handed out is in bounds, exact and disjoint from the others.
        #[test]
        fn arbitrary_entries_never_escape_the_buffer(
            start in prop_oneof![Just(0u64), any::<u64>(), 0u64..1000],
            available in 0usize..5000,
            raw in proptest::collection::vec(
                (prop_oneof![0u64..5000, any::<u64>()], prop_oneof![0u32..600, any::<u32>()]),
                0..20,
            ),
        ) {
            let mut locs: Vec<BlobLocation> = raw.iter().map(|&(o, l)| loc(o, l)).collect();
            locs.sort_by_key(|l| l.offset);
            let ids: Vec<Id> = (0..locs.len()).map(|i| Id([i as u8; 32])).collect();
            let got = cut(start, available, ids.iter().zip(&locs));
            prop_assert_eq!(got.len(), locs.len());
            let mut last_end = 0;
            for (r, l) in got.iter().zip(&locs) {
                if let Ok(r) = r {
                    prop_assert!(r.end <= available);
                    prop_assert!(r.start >= last_end);
                    prop_assert_eq!(r.start as u64 + start, l.offset);
                    prop_assert_eq!(r.len() as u64, u64::from(l.length));
                    last_end = r.end;
                }
            }
        }
    }
}
