//! Step 5 of `check`: reading whole packs and verifying every byte.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;

use hbk_repo::blob::decode_blob;
use hbk_repo::pack::{parse_pack, PackBlob};
use hbk_repo::{BlobType, FileType, Id, IndexBlob, IndexFile, Key, Repository};
use rayon::prelude::*;

use super::finding::{CheckFinding, CheckedObject, FindingKind};
use super::options::ReadData;
use super::packs::PackRef;
use super::report::{CheckPhase, CheckReport};
use crate::progress::Progress;

/// Most packs held in memory at once.
const MAX_PARALLEL: usize = 4;

/// The packs to read, in id order. Only packs that exist on the backend
/// are candidates.
pub(super) fn select_packs(read_data: ReadData, packs: &BTreeMap<Id, PackRef>) -> Vec<Id> {
    let present: Vec<(Id, u64)> = packs
        .iter()
        .filter_map(|(id, p)| p.actual_size.map(|s| (*id, s)))
        .collect();
    let mut chosen: Vec<Id> = match read_data {
        ReadData::None => Vec::new(),
        ReadData::All => present.into_iter().map(|(id, _)| id).collect(),
        ReadData::Subset { n, m } => present
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| m > 0 && u32::from(id.0[0]) % m == n.wrapping_sub(1))
            .collect(),
        ReadData::Percent(pct) => {
            let want = (present.len() as f64 * pct / 100.0).round() as usize;
            let want = want.clamp(1, present.len().max(1));
            shuffled(present)
                .into_iter()
                .take(want)
                .map(|(id, _)| id)
                .collect()
        }
        ReadData::Size(limit) => {
            let mut total = 0u64;
            let mut out = Vec::new();
            for (id, size) in shuffled(present) {
                if total >= limit && !out.is_empty() {
                    break;
                }
                total = total.saturating_add(size);
                out.push(id);
            }
            out
        }
    };
    chosen.sort();
    chosen
}

/// Of `ids`, those the index references and the backend holds, in id
/// order: a caller's own choice of packs to read (a scrub's slice).
pub(super) fn present_packs(ids: &[Id], packs: &BTreeMap<Id, PackRef>) -> Vec<Id> {
    let mut chosen: Vec<Id> = ids
        .iter()
        .filter(|id| packs.get(id).is_some_and(|p| p.actual_size.is_some()))
        .copied()
        .collect();
    chosen.sort();
    chosen.dedup();
    chosen
}

/// `items` in a random order: sorted by the hash of a random seed and the
/// pack id.
fn shuffled(mut items: Vec<(Id, u64)>) -> Vec<(Id, u64)> {
    let seed = Id::random();
    items.sort_by_cached_key(|(id, _)| {
        let mut buf = [0u8; 64];
        buf[..32].copy_from_slice(&seed.0);
        buf[32..].copy_from_slice(&id.0);
        Id::hash(&buf)
    });
    items
}

/// What reading one pack found.
#[derive(Default)]
struct Outcome {
    bytes: Option<u64>,
    blobs: usize,
    errors: Vec<CheckFinding>,
}

/// Reads the `selected` packs, at most [`MAX_PARALLEL`] at a time, and
/// verifies them.
pub(super) fn read_packs(
    repo: &Repository,
    files: &[(Id, IndexFile)],
    packs: &BTreeMap<Id, PackRef>,
    selected: &[Id],
    progress: &dyn Progress,
    report: &mut CheckReport,
) {
    let phase = CheckPhase::ReadData;
    progress.phase_start(phase.name(), Some(selected.len() as u64));
    let one = |id: &Id| {
        let blobs = packs.get(id).map_or(&[][..], |p| p.blobs(files));
        let o = check_pack(repo, id, blobs);
        progress.phase_advance(1);
        o
    };
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, MAX_PARALLEL);
    let outcomes: Vec<Outcome> =
        crate::pool::install(threads, || selected.par_iter().map(one).collect());
    for o in outcomes {
        if let Some(b) = o.bytes {
            report.packs_read += 1;
            report.bytes_read += b;
        }
        report.blobs_read += o.blobs;
        report.errors.extend(o.errors);
    }
    progress.phase_finish();
}

/// A blob as an index entry or header entry describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Entry {
    blob_type: BlobType,
    id: Id,
    offset: u64,
    length: u32,
    uncompressed_length: Option<NonZeroU32>,
}

impl From<&PackBlob> for Entry {
    fn from(b: &PackBlob) -> Entry {
        Entry {
            blob_type: b.blob_type,
            id: b.id,
            offset: b.offset,
            length: b.length,
            uncompressed_length: b.uncompressed_length,
        }
    }
}

impl From<&IndexBlob> for Entry {
    fn from(b: &IndexBlob) -> Entry {
        Entry {
            blob_type: b.blob_type,
            id: b.id,
            offset: b.offset,
            length: b.length,
            uncompressed_length: b.uncompressed_length.and_then(NonZeroU32::new),
        }
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} blob at offset {}, length {}",
            self.blob_type, self.offset, self.length
        )?;
        if let Some(u) = self.uncompressed_length {
            write!(f, ", uncompressed length {u}")?;
        }
        Ok(())
    }
}

/// Reads pack `id` whole and checks its hash, its header against the index
/// entries `indexed`, and every blob.
fn check_pack(repo: &Repository, id: &Id, indexed: &[IndexBlob]) -> Outcome {
    let mut out = Outcome::default();
    let data = match repo.backend().read_full(FileType::Pack, id) {
        Ok(d) => d,
        Err(e) => {
            out.errors.push(pack_finding(
                id,
                FindingKind::Unreadable,
                format!("pack {id}: unable to read: {e}"),
            ));
            return out;
        }
    };
    out.bytes = Some(data.len() as u64);
    let actual = Id::hash(&data);
    if actual != *id {
        out.errors.push(pack_finding(
            id,
            FindingKind::HashMismatch,
            format!("pack {id}: pack file is damaged: content hash is {actual}"),
        ));
    }
    let index_entries: Vec<Entry> = indexed.iter().map(Entry::from).collect();
    let header = match parse_pack(repo.key(), &data) {
        Ok(h) => h.iter().map(Entry::from).collect::<Vec<_>>(),
        Err(e) => {
            out.errors.push(pack_finding(
                id,
                FindingKind::Unreadable,
                format!("pack {id}: unable to read the pack header: {e}"),
            ));
            // Still find out which blobs the index points at are damaged.
            return decode_all(repo.key(), id, &data, &index_entries, out);
        }
    };
    compare(id, &header, &index_entries, &mut out.errors);
    decode_all(repo.key(), id, &data, &header, out)
}

/// Header and index must list the same blobs with the same type, offset,
/// length and uncompressed length.
fn compare(pack: &Id, header: &[Entry], index: &[Entry], errors: &mut Vec<CheckFinding>) {
    let in_header: HashSet<&Entry> = header.iter().collect();
    let in_index: HashSet<&Entry> = index.iter().collect();
    let header_by_id: HashMap<Id, &Entry> = header.iter().map(|e| (e.id, e)).collect();
    let index_by_id: HashMap<Id, &Entry> = index.iter().map(|e| (e.id, e)).collect();
    for h in header.iter().filter(|h| !in_index.contains(h)) {
        match index_by_id.get(&h.id) {
            Some(i) => errors.push(pack_finding(
                pack,
                FindingKind::IndexMismatch,
                format!(
                    "pack {pack}: blob {}: the pack header has a {h}, the index a {i}",
                    h.id
                ),
            )),
            None => errors.push(pack_finding(
                pack,
                FindingKind::IndexMismatch,
                format!(
                    "pack {pack}: {} blob {} is in the pack header but not in the index",
                    h.blob_type, h.id
                ),
            )),
        }
    }
    for i in index.iter().filter(|i| !in_header.contains(i)) {
        if !header_by_id.contains_key(&i.id) {
            errors.push(pack_finding(
                pack,
                FindingKind::IndexMismatch,
                format!(
                    "pack {pack}: {} blob {} is in the index but not in the pack header",
                    i.blob_type, i.id
                ),
            ));
        }
    }
}

/// Decrypts, decompresses and hashes each blob of `entries` out of `data`.
fn decode_all(key: &Key, pack: &Id, data: &[u8], entries: &[Entry], mut out: Outcome) -> Outcome {
    for e in entries {
        let range = usize::try_from(e.offset).ok().and_then(|start| {
            let end = start.checked_add(e.length as usize)?;
            data.get(start..end)
        });
        let Some(sealed) = range else {
            out.errors.push(pack_finding(
                pack,
                FindingKind::IndexMismatch,
                format!(
                "pack {pack}: {} blob {} at offset {}, length {} lies beyond the end of the pack",
                e.blob_type, e.id, e.offset, e.length
            ),
            ));
            continue;
        };
        let mut buf = sealed.to_vec();
        match decode_blob(key, &e.id, e.uncompressed_length, &mut buf) {
            Ok(_) => out.blobs += 1,
            Err(err) => out.errors.push(pack_finding(
                pack,
                FindingKind::DamagedBlob,
                format!(
                    "pack {pack}: {} blob {} is damaged: {err}",
                    e.blob_type, e.id
                ),
            )),
        }
    }
    out
}

/// A finding about pack `pack`.
fn pack_finding(pack: &Id, kind: FindingKind, message: String) -> CheckFinding {
    CheckFinding::new(CheckedObject::Pack(*pack), kind, message)
}
