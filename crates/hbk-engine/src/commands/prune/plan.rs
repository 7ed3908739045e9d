//! Deciding what prune does, without I/O: which packs stay, which are
//! repacked (their used blobs copied into new packs), which are deleted.
//!
//! Every used blob is *claimed* by exactly one pack that holds it; other
//! copies (duplicates) count as unused. A pack without claimed blobs is
//! deleted; a pack whose blobs are all claimed stays; a partly used pack
//! is repacked while the unused space left behind exceeds the limit.

use std::collections::{HashMap, HashSet};

use hbk_repo::{BlobType, Id, IndexBlob, IndexFile, IndexPack};

use crate::reachable::Reachable;

/// How much unused space may stay in the repository after prune.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum UnusedLimit {
    /// At most this percentage of the repository's size after prune.
    Percent(f64),
    /// At most this many bytes.
    Bytes(u64),
    /// Any amount: only packs without used blobs are deleted.
    Unlimited,
}

impl Default for UnusedLimit {
    /// restic's default, 5 %.
    fn default() -> Self {
        UnusedLimit::Percent(5.0)
    }
}

impl UnusedLimit {
    /// Parses restic's `--max-unused`: `unlimited`, `N%` or a size.
    pub fn parse(s: &str) -> crate::Result<UnusedLimit> {
        let s = s.trim();
        if s == "unlimited" {
            return Ok(UnusedLimit::Unlimited);
        }
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| {
                crate::Error::invalid("unused limit", format!("invalid limit {s:?}"))
            })?;
            if !(0.0..100.0).contains(&p) {
                return Err(crate::Error::invalid(
                    "unused limit",
                    format!("{s:?} must be at least 0% and below 100%"),
                ));
            }
            return Ok(UnusedLimit::Percent(p));
        }
        crate::size::parse_size(s).map(UnusedLimit::Bytes)
    }

    /// The unused bytes allowed when `used` bytes stay.
    fn allowed(self, used: u64) -> u64 {
        match self {
            // unused / (used + unused) <= p / 100
            UnusedLimit::Percent(p) => (used as f64 * p / (100.0 - p)) as u64,
            UnusedLimit::Bytes(n) => n,
            UnusedLimit::Unlimited => u64::MAX,
        }
    }
}

/// What to repack besides partly used packs.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlanOptions {
    /// The unused space tolerated afterwards.
    pub max_unused: UnusedLimit,
    /// At most this many bytes of packs are repacked.
    pub max_repack_size: Option<u64>,
    /// Repack packs holding uncompressed blobs (repository v2).
    pub repack_uncompressed: bool,
    /// Repack packs smaller than [`SMALL_PACK_PERCENT`] of `pack_size`
    /// when there are at least two of them.
    pub repack_small: bool,
    /// Repack packs smaller than this many bytes (restic's
    /// `--repack-smaller-than`; implies `repack_small` with this limit).
    pub small_below: Option<u64>,
    /// Keep partly used data packs (repack only tree packs, which caches
    /// hold: restic's `--repack-cacheable-only`).
    pub cacheable_only: bool,
    /// The target size of packs.
    pub pack_size: u64,
}

impl PlanOptions {
    /// Refuses limits that make no sense for this repository.
    pub fn validate(&self) -> crate::Result<()> {
        if self.small_below == Some(0) {
            return Err(crate::Error::invalid(
                "small pack limit",
                "--repack-smaller-than must be larger than zero",
            ));
        }
        if self.small_below.is_some_and(|s| s > self.pack_size) {
            return Err(crate::Error::invalid(
                "small pack limit",
                "repack-smaller-than exceeds repository packsize",
            ));
        }
        Ok(())
    }
}

/// A pack is small below this percentage of the target pack size.
pub const SMALL_PACK_PERCENT: u64 = 80;

/// A number of blobs and their stored bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    /// Blobs.
    pub blobs: u64,
    /// Stored (sealed) bytes.
    pub bytes: u64,
}

impl Amount {
    fn add(&mut self, b: &IndexBlob) {
        self.blobs += 1;
        self.bytes += u64::from(b.length);
    }

    fn plus(self, o: Amount) -> Amount {
        Amount {
            blobs: self.blobs + o.blobs,
            bytes: self.bytes + o.bytes,
        }
    }
}

/// A pack to repack and the blobs to carry over.
#[derive(Debug, Clone)]
pub struct Repack {
    /// The old pack.
    pub pack: Id,
    /// Its size on the backend.
    pub size: u64,
    /// The blobs it holds that are used and claimed by it.
    pub keep: Vec<IndexBlob>,
}

/// The decision, with restic-like statistics.
#[derive(Debug, Clone, Default)]
pub struct PrunePlan {
    /// Packs that stay as they are, with their index entries.
    pub keep: Vec<IndexPack>,
    /// Packs whose used blobs are copied before they are deleted.
    pub repack: Vec<Repack>,
    /// Indexed packs without used blobs, and their sizes.
    pub remove: Vec<(Id, u64)>,
    /// Packs in the backend that no index mentions, and their sizes.
    pub unreferenced: Vec<(Id, u64)>,
    /// Indexed packs missing from the backend.
    pub missing: Vec<Id>,
    /// Used blobs that no index lists.
    pub missing_blobs: Vec<(BlobType, Id)>,
    /// Used blobs before prune.
    pub used: Amount,
    /// Unused blobs (duplicates included) before prune.
    pub unused: Amount,
    /// Of the unused blobs: further copies of used blobs.
    pub duplicates: Amount,
    /// Packs before prune whose blobs are all used, partly used, unused.
    pub pack_use: (usize, usize, usize),
    /// Stored bytes of used blobs kept uncompressed in a version 2
    /// repository (what `repack_uncompressed` would compress).
    pub uncompressed: u64,
    /// Used blobs copied by repacking.
    pub to_repack: Amount,
    /// Unused blobs dropped by repacking.
    pub repack_removes: Amount,
    /// Blobs in deleted packs.
    pub to_delete: Amount,
    /// Unused bytes left after prune.
    pub unused_after: u64,
    /// Blobs left after prune.
    pub remaining: Amount,
}

impl PrunePlan {
    /// Whether prune would change nothing.
    pub fn is_noop(&self) -> bool {
        self.repack.is_empty() && self.remove.is_empty() && self.unreferenced.is_empty()
    }

    /// Bytes of packs deleted in all (repacked, unused and unreferenced).
    pub fn bytes_freed(&self) -> u64 {
        self.repack.iter().map(|r| r.size).sum::<u64>()
            + self.remove.iter().map(|r| r.1).sum::<u64>()
            + self.unreferenced.iter().map(|r| r.1).sum::<u64>()
    }
}

/// One indexed pack with what the claim pass found in it.
struct Candidate {
    pack: IndexPack,
    size: u64,
    used: Amount,
    unused: Amount,
    claimed: Vec<bool>,
}

/// Decides what to do. `index_files` are all index files; `stored` lists
/// every pack in the backend with its size; `used` is what the snapshots
/// need; `v2` says whether the repository compresses.
pub fn plan(
    index_files: &[IndexFile],
    stored: &[(Id, u64)],
    used: &Reachable,
    v2: bool,
    opts: &PlanOptions,
) -> PrunePlan {
    let sizes: HashMap<Id, u64> = stored.iter().copied().collect();
    let mut out = PrunePlan::default();

    // Every indexed pack once. Claims go to the packs with the largest
    // share of used bytes first, so a duplicate is dropped from the pack
    // that is mostly garbage rather than from one that is fully used.
    let mut seen_packs = HashSet::new();
    let mut stored_packs = Vec::new();
    for pack in index_files.iter().flat_map(|f| &f.packs) {
        if !seen_packs.insert(pack.id) {
            continue;
        }
        match sizes.get(&pack.id) {
            Some(&size) => {
                let (mut used_bytes, mut all_bytes) = (0u64, 0u64);
                for b in &pack.blobs {
                    all_bytes += u64::from(b.length);
                    if used.contains(b.blob_type, &b.id) {
                        used_bytes += u64::from(b.length);
                    }
                }
                let share = used_bytes as f64 / all_bytes.max(1) as f64;
                stored_packs.push((share, pack, size));
            }
            None => out.missing.push(pack.id),
        }
    }
    stored_packs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    let mut claimed_blobs: HashSet<(BlobType, Id)> = HashSet::new();
    let mut candidates = Vec::new();
    for (_, pack, size) in stored_packs {
        let mut c = Candidate {
            pack: pack.clone(),
            size,
            used: Amount::default(),
            unused: Amount::default(),
            claimed: Vec::with_capacity(pack.blobs.len()),
        };
        for b in &pack.blobs {
            let claim =
                used.contains(b.blob_type, &b.id) && claimed_blobs.insert((b.blob_type, b.id));
            if claim {
                c.used.add(b);
                if v2 && b.uncompressed_length.is_none() {
                    out.uncompressed += u64::from(b.length);
                }
            } else {
                c.unused.add(b);
                if used.contains(b.blob_type, &b.id) {
                    out.duplicates.add(b);
                }
            }
            c.claimed.push(claim);
        }
        candidates.push(c);
    }
    out.unreferenced = stored
        .iter()
        .filter(|(id, _)| !seen_packs.contains(id))
        .copied()
        .collect();
    for (t, set) in [(BlobType::Tree, &used.trees), (BlobType::Data, &used.data)] {
        for id in set {
            if !claimed_blobs.contains(&(t, *id)) {
                out.missing_blobs.push((t, *id));
            }
        }
    }
    out.missing_blobs.sort();

    let small = opts
        .small_below
        .unwrap_or(opts.pack_size / 100 * SMALL_PACK_PERCENT);
    let repack_small = opts.repack_small || opts.small_below.is_some();
    let is_small = |c: &Candidate| c.size < small;
    let small_count = candidates
        .iter()
        .filter(|c| c.used.blobs > 0 && is_small(c))
        .count();
    let mut partly = Vec::new();
    let mut forced = Vec::new();
    for c in candidates {
        out.used = out.used.plus(c.used);
        out.unused = out.unused.plus(c.unused);
        let uncompressed = v2 && c.pack.blobs.iter().any(|b| b.uncompressed_length.is_none());
        let data_pack = c.pack.blobs.iter().any(|b| b.blob_type == BlobType::Data);
        match (c.used.blobs, c.unused.blobs) {
            (0, _) => out.pack_use.2 += 1,
            (_, 0) => out.pack_use.0 += 1,
            _ => out.pack_use.1 += 1,
        }
        if c.used.blobs == 0 {
            out.to_delete = out.to_delete.plus(c.unused);
            out.remove.push((c.pack.id, c.size));
        } else if opts.cacheable_only && data_pack {
            out.keep.push(c.pack);
        } else if (opts.repack_uncompressed && uncompressed)
            || (repack_small && small_count >= 2 && is_small(&c))
        {
            forced.push(c);
        } else if c.unused.blobs > 0 {
            partly.push(c);
        } else {
            out.keep.push(c.pack);
        }
    }

    // Most unused space first: the fewest bytes copied per byte freed.
    partly.sort_by(|a, b| {
        let ra = a.unused.bytes as f64 / a.size.max(1) as f64;
        let rb = b.unused.bytes as f64 / b.size.max(1) as f64;
        rb.total_cmp(&ra).then(a.pack.id.cmp(&b.pack.id))
    });
    let allowed = opts.max_unused.allowed(out.used.bytes);
    let mut unused_left: u64 = forced.iter().chain(&partly).map(|c| c.unused.bytes).sum();
    let mut budget = opts.max_repack_size.unwrap_or(u64::MAX);
    let repack = |c: Candidate, out: &mut PrunePlan| {
        out.to_repack = out.to_repack.plus(c.used);
        out.repack_removes = out.repack_removes.plus(c.unused);
        let keep = c
            .pack
            .blobs
            .iter()
            .zip(&c.claimed)
            .filter(|(_, claimed)| **claimed)
            .map(|(b, _)| *b)
            .collect();
        out.repack.push(Repack {
            pack: c.pack.id,
            size: c.size,
            keep,
        });
    };
    let forced = forced.into_iter().map(|c| (c, true));
    for (c, forced) in forced.chain(partly.into_iter().map(|c| (c, false))) {
        let wanted = forced || unused_left > allowed;
        if wanted && c.size <= budget {
            budget -= c.size;
            unused_left -= c.unused.bytes;
            repack(c, &mut out);
        } else {
            out.keep.push(c.pack);
        }
    }
    out.unused_after = unused_left;
    out.remaining = Amount {
        blobs: out.used.blobs + out.unused.blobs - out.to_delete.blobs - out.repack_removes.blobs,
        bytes: out.used.bytes + out.unused.bytes - out.to_delete.bytes - out.repack_removes.bytes,
    };
    out.remove.sort();
    out.unreferenced.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> Id {
        Id([n; 32])
    }

    fn blob(t: BlobType, n: u8, len: u32, compressed: bool) -> IndexBlob {
        IndexBlob {
            id: id(n),
            blob_type: t,
            offset: 0,
            length: len,
            uncompressed_length: compressed.then_some(len),
        }
    }

    fn pack(n: u8, blobs: Vec<IndexBlob>) -> IndexPack {
        IndexPack { id: id(n), blobs }
    }

    fn stored_of(files: &[IndexFile]) -> Vec<(Id, u64)> {
        files
            .iter()
            .flat_map(|f| &f.packs)
            .map(|p| (p.id, p.blobs.iter().map(|b| u64::from(b.length)).sum()))
            .collect()
    }

    fn used(data: &[u8], trees: &[u8]) -> Reachable {
        Reachable {
            data: data.iter().map(|&n| id(n)).collect(),
            trees: trees.iter().map(|&n| id(n)).collect(),
        }
    }

    fn file(packs: Vec<IndexPack>) -> IndexFile {
        IndexFile {
            packs,
            ..Default::default()
        }
    }

    const D: BlobType = BlobType::Data;
    const T: BlobType = BlobType::Tree;

    #[test]
    fn unused_packs_go_and_used_packs_stay() {
        let files = [file(vec![
            pack(100, vec![blob(D, 1, 10, false), blob(D, 2, 10, false)]),
            pack(101, vec![blob(D, 3, 10, false)]),
            pack(102, vec![blob(T, 4, 10, false)]),
        ])];
        let p = plan(
            &files,
            &stored_of(&files),
            &used(&[1, 2], &[4]),
            false,
            &PlanOptions::default(),
        );
        assert_eq!(p.remove, vec![(id(101), 10)]);
        assert_eq!(
            p.keep.iter().map(|p| p.id).collect::<Vec<_>>(),
            [id(100), id(102)]
        );
        assert!(p.repack.is_empty());
        assert_eq!(
            p.to_delete,
            Amount {
                blobs: 1,
                bytes: 10
            }
        );
        assert_eq!(
            p.remaining,
            Amount {
                blobs: 3,
                bytes: 30
            }
        );
        assert_eq!(p.unused_after, 0);
    }

    #[test]
    fn partly_used_pack_is_repacked_past_the_limit() {
        let files = [file(vec![pack(
            100,
            vec![blob(D, 1, 10, false), blob(D, 2, 90, false)],
        )])];
        let p = plan(
            &files,
            &stored_of(&files),
            &used(&[1], &[]),
            false,
            &PlanOptions::default(),
        );
        assert_eq!(p.repack.len(), 1);
        assert_eq!(p.repack[0].keep.len(), 1);
        assert_eq!(p.repack[0].keep[0].id, id(1));
        assert_eq!(
            p.repack_removes,
            Amount {
                blobs: 1,
                bytes: 90
            }
        );
        assert_eq!(
            p.remaining,
            Amount {
                blobs: 1,
                bytes: 10
            }
        );

        let lenient = PlanOptions {
            max_unused: UnusedLimit::Unlimited,
            ..Default::default()
        };
        let p = plan(
            &files,
            &stored_of(&files),
            &used(&[1], &[]),
            false,
            &lenient,
        );
        assert!(p.repack.is_empty());
        assert_eq!(p.unused_after, 90);
    }

    #[test]
    fn max_repack_size_bounds_the_work() {
        let files = [file(vec![pack(
            100,
            vec![blob(D, 1, 10, false), blob(D, 2, 90, false)],
        )])];
        let opts = PlanOptions {
            max_repack_size: Some(50),
            ..Default::default()
        };
        let p = plan(&files, &stored_of(&files), &used(&[1], &[]), false, &opts);
        assert!(p.repack.is_empty());
    }

    #[test]
    fn duplicates_are_claimed_once() {
        let files = [
            file(vec![pack(100, vec![blob(D, 1, 10, false)])]),
            file(vec![pack(
                101,
                vec![blob(D, 1, 10, false), blob(D, 2, 10, false)],
            )]),
        ];
        let p = plan(
            &files,
            &stored_of(&files),
            &used(&[1, 2], &[]),
            false,
            &PlanOptions::default(),
        );
        assert_eq!(
            p.used,
            Amount {
                blobs: 2,
                bytes: 20
            }
        );
        assert_eq!(
            p.unused,
            Amount {
                blobs: 1,
                bytes: 10
            }
        );
        assert_eq!(p.repack.len(), 1);
        assert_eq!(p.repack[0].pack, id(101));
        assert_eq!(p.repack[0].keep[0].id, id(2));
    }

    #[test]
    fn unreferenced_missing_and_unindexed_blobs_are_reported() {
        let files = [file(vec![
            pack(100, vec![blob(D, 1, 10, false)]),
            pack(101, vec![blob(D, 2, 10, false)]),
        ])];
        let stored = vec![(id(100), 10), (id(200), 5)];
        let p = plan(
            &files,
            &stored,
            &used(&[1, 9], &[]),
            false,
            &PlanOptions::default(),
        );
        assert_eq!(p.missing, vec![id(101)]);
        assert_eq!(p.unreferenced, vec![(id(200), 5)]);
        assert_eq!(p.missing_blobs, vec![(D, id(9))]);
    }

    #[test]
    fn uncompressed_and_small_packs_are_repacked_on_request() {
        let files = [file(vec![
            pack(100, vec![blob(D, 1, 10, false)]),
            pack(101, vec![blob(D, 2, 10, true)]),
        ])];
        let u = used(&[1, 2], &[]);
        let opts = PlanOptions {
            repack_uncompressed: true,
            pack_size: 1,
            ..Default::default()
        };
        let p = plan(&files, &stored_of(&files), &u, true, &opts);
        assert_eq!(
            p.repack.iter().map(|r| r.pack).collect::<Vec<_>>(),
            [id(100)]
        );
        // v1 repositories never compress: nothing to do.
        let p = plan(&files, &stored_of(&files), &u, false, &opts);
        assert!(p.repack.is_empty());

        let opts = PlanOptions {
            repack_small: true,
            pack_size: 1000,
            ..Default::default()
        };
        let p = plan(&files, &stored_of(&files), &u, true, &opts);
        assert_eq!(p.repack.len(), 2);
    }

    #[test]
    fn smaller_than_sets_the_small_limit_and_cacheable_only_keeps_data_packs() {
        let files = [file(vec![
            pack(100, vec![blob(D, 1, 10, false)]),
            pack(101, vec![blob(D, 2, 10, false)]),
            pack(102, vec![blob(D, 3, 50, false)]),
            pack(103, vec![blob(T, 4, 10, false), blob(T, 5, 90, false)]),
            pack(104, vec![blob(D, 6, 10, false), blob(D, 7, 90, false)]),
        ])];
        let u = used(&[1, 2, 3, 6], &[4]);
        // Below 20 bytes: the two 10-byte packs, not the 50-byte one.
        let opts = PlanOptions {
            small_below: Some(20),
            max_unused: UnusedLimit::Unlimited,
            pack_size: 1000,
            ..Default::default()
        };
        let p = plan(&files, &stored_of(&files), &u, false, &opts);
        let repacked: Vec<Id> = p.repack.iter().map(|r| r.pack).collect();
        assert_eq!(repacked, [id(100), id(101)]);
        // Mostly unused tree and data packs: only the tree pack is
        // repacked when only cacheable packs may be.
        let opts = PlanOptions {
            max_unused: UnusedLimit::Bytes(0),
            cacheable_only: true,
            pack_size: 1000,
            ..Default::default()
        };
        let p = plan(&files, &stored_of(&files), &u, false, &opts);
        let repacked: Vec<Id> = p.repack.iter().map(|r| r.pack).collect();
        assert_eq!(repacked, [id(103)]);
        assert!(p.keep.iter().any(|k| k.id == id(104)));
        // Limits the repository cannot use are refused.
        let too_big = PlanOptions {
            small_below: Some(2000),
            pack_size: 1000,
            ..Default::default()
        };
        assert!(too_big.validate().is_err());
        let zero = PlanOptions {
            small_below: Some(0),
            pack_size: 1000,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
    }

    #[test]
    fn limit_parsing() {
        assert_eq!(UnusedLimit::parse("5%").unwrap(), UnusedLimit::Percent(5.0));
        assert_eq!(
            UnusedLimit::parse("unlimited").unwrap(),
            UnusedLimit::Unlimited
        );
        assert_eq!(
            UnusedLimit::parse("10M").unwrap(),
            UnusedLimit::Bytes(10 << 20)
        );
        for bad in ["100%", "-1%", "x%", "abc"] {
            assert!(UnusedLimit::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Whatever the packs and usage, every used blob that is indexed
        /// in a stored pack ends up in exactly one kept or repacked pack,
        /// and no deleted pack holds a claimed blob.
        #[test]
        fn every_used_blob_survives(
            packs in proptest::collection::vec(
                proptest::collection::vec((0u8..30, 1u32..100, proptest::bool::ANY), 1..6), 1..12),
            used_ids in proptest::collection::hash_set(0u8..30, 0..30),
            limit in proptest::option::of(0u64..200),
            budget in proptest::option::of(0u64..400),
        ) {
            let files = [file(packs.iter().enumerate().map(|(i, blobs)| {
                pack(100 + i as u8, blobs.iter().map(|&(n, len, tree)| {
                    blob(if tree { T } else { D }, n, len, false)
                }).collect())
            }).collect())];
            let stored = stored_of(&files);
            let u = Reachable {
                data: used_ids.iter().map(|&n| id(n)).collect(),
                trees: used_ids.iter().map(|&n| id(n)).collect(),
            };
            let opts = PlanOptions {
                max_unused: limit.map_or(UnusedLimit::Percent(5.0), UnusedLimit::Bytes),
                max_repack_size: budget,
                ..Default::default()
            };
            let p = plan(&files, &stored, &u, false, &opts);
            let mut survivors: HashSet<(BlobType, Id)> = HashSet::new();
            for k in &p.keep {
                survivors.extend(k.blobs.iter().map(|b| (b.blob_type, b.id)));
            }
            let mut copied = 0;
            for r in &p.repack {
                for b in &r.keep {
                    copied += 1;
                    survivors.insert((b.blob_type, b.id));
                }
            }
            proptest::prop_assert_eq!(copied, p.to_repack.blobs);
            let indexed: HashSet<(BlobType, Id)> = files[0].packs.iter()
                .flat_map(|p| p.blobs.iter().map(|b| (b.blob_type, b.id))).collect();
            for (t, set) in [(T, &u.trees), (D, &u.data)] {
                for i in set {
                    if indexed.contains(&(t, *i)) {
                        proptest::prop_assert!(survivors.contains(&(t, *i)));
                    }
                }
            }
            let gone: HashSet<Id> = p.remove.iter().map(|r| r.0)
                .chain(p.repack.iter().map(|r| r.pack)).collect();
            proptest::prop_assert!(p.keep.iter().all(|k| !gone.contains(&k.id)));
            proptest::prop_assert_eq!(
                p.keep.len() + p.repack.len() + p.remove.len(), files[0].packs.len());
        }
    }
}
