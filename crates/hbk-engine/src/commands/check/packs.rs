//! Steps 1–3 of `check`: loading the index files, checking each pack's
//! index entries, and comparing the indexed packs with the backend's.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hbk_repo::pack::{COMPRESSED_ENTRY_SIZE, PLAIN_ENTRY_SIZE};
use hbk_repo::{BlobType, FileType, Id, IndexBlob, IndexFile, Repository};

use super::finding::{CheckFinding, CheckedObject, FindingKind};
use super::load::{describe, load_each};
use super::report::{CheckPhase, CheckReport};
use crate::progress::Progress;
use crate::Result;

/// Bytes a sealed box adds to its plaintext (IV and MAC).
const OVERHEAD: u64 = 32;

/// An indexed pack: where its (first) index entry is, and what the
/// backend has.
#[derive(Debug, Clone, Copy)]
pub(super) struct PackRef {
    /// Position of the index file in the loaded files.
    pub file: usize,
    /// Position of the pack in that file's `packs`.
    pub pack: usize,
    /// Size on the backend; `None` when the pack is missing.
    pub actual_size: Option<u64>,
}

impl PackRef {
    /// The pack's blobs as the index lists them, sorted by offset.
    pub fn blobs<'a>(&self, files: &'a [(Id, IndexFile)]) -> &'a [IndexBlob] {
        &files[self.file].1.packs[self.pack].blobs
    }
}

/// Loads and parses every index file in parallel. Files that fail become
/// errors; the others are returned, sorted by id.
pub(super) fn load_index_files(
    repo: &Repository,
    progress: &dyn Progress,
    report: &mut CheckReport,
) -> Result<Vec<(Id, IndexFile)>> {
    let mut ids: Vec<Id> = repo
        .list(FileType::Index)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort();
    let loaded = load_each(&ids, CheckPhase::LoadIndex, progress, |id| {
        load_one(repo, id)
    });
    let mut files = Vec::with_capacity(loaded.len());
    for (id, r) in loaded {
        match r {
            Ok((file, legacy)) => {
                if legacy {
                    report.hints.push(format!(
                        "index {id}: index uses the old format (an array of packs), \
                         rebuilding the index is recommended"
                    ));
                }
                files.push((id, file));
            }
            Err(e) => report.errors.push(CheckFinding::new(
                CheckedObject::Index(id),
                FindingKind::Unreadable,
                format!("index {id}: unable to load: {}", describe(&e)),
            )),
        }
    }
    report.index_files = files.len();
    progress.phase_finish();
    Ok(files)
}

/// One index file, and whether it uses the legacy array format.
fn load_one(repo: &Repository, id: &Id) -> hbk_repo::Result<(IndexFile, bool)> {
    let json = repo.load_unpacked(FileType::Index, id)?;
    let legacy = json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    Ok((IndexFile::from_json(&json)?, legacy))
}

/// Checks each indexed pack's entries and compares the indexed packs with
/// the backend's. Sorts every pack's blobs by offset in place. Returns the
/// indexed packs (those with at least one blob), by id.
pub(super) fn check_packs(
    repo: &Repository,
    files: &mut [(Id, IndexFile)],
    progress: &dyn Progress,
    report: &mut CheckReport,
) -> Result<BTreeMap<Id, PackRef>> {
    let phase = CheckPhase::Packs;
    let mut places: BTreeMap<Id, Vec<(usize, usize)>> = BTreeMap::new();
    for (fi, (file_id, file)) in files.iter_mut().enumerate() {
        for (pi, p) in file.packs.iter_mut().enumerate() {
            if p.blobs.is_empty() {
                report.hints.push(format!(
                    "pack {}: listed without blobs in index {file_id}",
                    p.id
                ));
                continue;
            }
            p.blobs
                .sort_by_key(|b| (b.offset, b.length, b.id, b.blob_type, b.uncompressed_length));
            places.entry(p.id).or_default().push((fi, pi));
        }
    }
    progress.phase_start(phase.name(), Some(places.len() as u64));

    let on_backend: HashMap<Id, u64> = repo.list(FileType::Pack)?.into_iter().collect();
    let files: &[(Id, IndexFile)] = files;
    let mut packs = BTreeMap::new();
    for (pack_id, at) in places {
        let (fi, pi) = at[0];
        let blobs = &files[fi].1.packs[pi].blobs;
        check_duplicates(&pack_id, &at, files, report);
        check_entries(&pack_id, blobs, report);
        let expected_size = expected_pack_size(blobs);
        let actual_size = on_backend.get(&pack_id).copied();
        match actual_size {
            None => report.errors.push(CheckFinding::new(
                CheckedObject::Pack(pack_id),
                FindingKind::Missing,
                format!("pack {pack_id}: does not exist"),
            )),
            Some(got) if got != expected_size => report.errors.push(CheckFinding::new(
                CheckedObject::Pack(pack_id),
                FindingKind::SizeMismatch,
                format!(
                    "pack {pack_id}: unexpected file size: got {got}, expected {expected_size}"
                ),
            )),
            Some(_) => {}
        }
        packs.insert(
            pack_id,
            PackRef {
                file: fi,
                pack: pi,
                actual_size,
            },
        );
        progress.phase_advance(1);
    }

    let mut orphaned: Vec<Id> = on_backend
        .into_keys()
        .filter(|id| !packs.contains_key(id))
        .collect();
    orphaned.sort();
    report.orphaned_packs = orphaned;
    report.packs = packs.len();
    progress.phase_finish();
    Ok(packs)
}

/// A pack in several index files is a hint; differing blob lists an error.
fn check_duplicates(
    pack_id: &Id,
    at: &[(usize, usize)],
    files: &[(Id, IndexFile)],
    report: &mut CheckReport,
) {
    let index_ids: BTreeSet<Id> = at.iter().map(|&(fi, _)| files[fi].0).collect();
    if index_ids.len() > 1 {
        let names: Vec<String> = index_ids.iter().map(Id::to_hex).collect();
        report.hints.push(format!(
            "pack {pack_id}: contained in several indexes: {}",
            names.join(", ")
        ));
    }
    let (f0, p0) = at[0];
    let first = &files[f0].1.packs[p0].blobs;
    for &(fi, pi) in &at[1..] {
        if files[fi].1.packs[pi].blobs != *first {
            let (a, b) = (files[f0].0, files[fi].0);
            let what = if a == b {
                format!("index {a} lists it twice")
            } else {
                format!("indexes {a} and {b} list it")
            };
            report.errors.push(CheckFinding::new(
                CheckedObject::Pack(*pack_id),
                FindingKind::IndexMismatch,
                format!("pack {pack_id}: {what} with different blobs"),
            ));
        }
    }
}

/// Entries (sorted by offset) must cover the pack from offset 0 without
/// gaps or overlaps, and each must be long enough for a sealed box.
fn check_entries(pack_id: &Id, blobs: &[IndexBlob], report: &mut CheckReport) {
    let mut pos = 0u64;
    let mut contiguous = true;
    for b in blobs {
        if u64::from(b.length) < OVERHEAD {
            report.errors.push(CheckFinding::new(
                CheckedObject::Pack(*pack_id),
                FindingKind::IndexMismatch,
                format!(
                    "pack {pack_id}: {} blob {} has invalid length {}",
                    b.blob_type, b.id, b.length
                ),
            ));
        }
        if contiguous && b.offset != pos {
            let what = if b.offset > pos { "gap" } else { "overlap" };
            report.errors.push(CheckFinding::new(
                CheckedObject::Pack(*pack_id),
                FindingKind::IndexMismatch,
                format!(
                    "pack {pack_id}: gaps/overlapping blobs in the index: {what} before {} blob {} \
                     at offset {}, expected offset {pos}",
                    b.blob_type, b.id, b.offset
                ),
            ));
            contiguous = false;
        }
        pos = b.offset.saturating_add(u64::from(b.length));
    }
    let has = |t: BlobType| blobs.iter().any(|b| b.blob_type == t);
    if has(BlobType::Data) && has(BlobType::Tree) {
        report.hints.push(format!(
            "pack {pack_id}: contains both data and tree blobs (mixed pack)"
        ));
    }
}

/// `Σ length + 32 + Σ entry size + 4`: the size of a pack holding `blobs`.
pub(super) fn expected_pack_size(blobs: &[IndexBlob]) -> u64 {
    let entries: u64 = blobs
        .iter()
        .map(|b| {
            let entry = if b.uncompressed_length.is_some() {
                COMPRESSED_ENTRY_SIZE
            } else {
                PLAIN_ENTRY_SIZE
            };
            u64::from(b.length) + entry as u64
        })
        .sum();
    entries + OVERHEAD + 4
}
