//! `repair packs` (restic 0.16+): salvage the readable blobs of damaged
//! packs, then take the packs out of the index and the repository.
//!
//! Every blob the index or the pack's own header places in a damaged pack
//! is read and verified; the intact ones are stored again in new packs
//! (unless a healthy pack already holds them). The index files that list
//! the damaged packs are rewritten without them, and the packs are
//! deleted, after a byte-for-byte copy of each was saved where the caller
//! asked. A blob that does not read back is taken from another
//! repository holding the same blob id when one is given (a copy made by
//! `copy`, or one initialized with `--copy-chunker-params`): it is
//! verified there and stored again with this repository's key, which heals
//! the damage. Blobs that could not be read from anywhere are reported with
//! the snapshot paths that used them; `repair snapshots --forget` then
//! cuts them out of the snapshots.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use hbk_repo::{
    blob::decode_blob, BlobSaver, BlobType, FileType, Id, Index, IndexBlob, IndexFile,
    IndexedRepository, NodeType, Repository,
};

use crate::commands::check::{check, CheckOptions, ReadData};
use crate::keep_copy::keep_copy;
use crate::lock::{LockKind, RepoLock};
use crate::progress::NoProgress;
use crate::walk::join;
use crate::Result;

/// Pack size for the salvaged blobs.
const PACK_SIZE: u64 = 16 << 20;

/// A blob no healthy copy of which is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostBlob {
    /// Data or tree.
    pub blob_type: BlobType,
    /// The blob.
    pub id: Id,
    /// The damaged pack it was in.
    pub pack: Id,
    /// Why it could not be read.
    pub reason: String,
}

/// A path in a snapshot that used a lost blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffectedPath {
    /// The snapshot.
    pub snapshot: Id,
    /// The file (or directory, for a lost tree) inside it.
    pub path: String,
    /// The lost blob it used.
    pub blob: Id,
}

/// What `repair packs` did.
#[derive(Debug, Clone, Default)]
pub struct RepairPacksReport {
    /// Copies of the damaged packs, as they were read, before anything
    /// changed.
    pub copies: Vec<PathBuf>,
    /// Blobs stored again in new packs.
    pub salvaged: usize,
    /// Of those, blobs taken from the other repository (healed).
    pub healed: usize,
    /// Blobs of the damaged packs that healthy packs hold as well.
    pub elsewhere: usize,
    /// Blobs that are gone.
    pub lost: Vec<LostBlob>,
    /// Where the snapshots used them.
    pub affected: Vec<AffectedPath>,
    /// Damaged packs deleted.
    pub removed: Vec<Id>,
    /// Damaged packs that could not be deleted, with the reason (prune
    /// removes them later: no index lists them).
    pub not_removed: Vec<(Id, String)>,
}

/// A progress message of [`repair_packs`].
#[derive(Debug, Clone)]
pub enum RepairPacksMessage<'a> {
    /// A pack could not be read at all.
    Unreadable(&'a Id, String),
    /// A blob of a damaged pack failed to read or verify.
    BlobFailed(&'a IndexBlob, &'a Id, String),
    /// The index entry of a pack differs from its header; the header's
    /// blobs are salvaged too.
    IncompleteIndexEntry(&'a Id),
    /// Neither the index nor the pack's header names any blob of it.
    NoBlobs(&'a Id),
    /// A blob of a damaged pack was taken from the other repository.
    Healed(&'a IndexBlob, &'a Id),
}

/// Salvages `packs` under `lock` (an exclusive lock on `repo`); copies of
/// the packs go to `copies_to` first (files `pack-<id>`, never
/// overwritten) when given; blobs that do not read back are taken from
/// `heal_from` when given.
pub fn repair_packs(
    repo: &Repository,
    lock: &RepoLock,
    packs: &[Id],
    copies_to: Option<&Path>,
    heal_from: Option<&IndexedRepository>,
    report: &mut dyn FnMut(RepairPacksMessage),
) -> Result<RepairPacksReport> {
    lock.require(repo, LockKind::Exclusive)?;
    let damaged: HashSet<Id> = packs.iter().copied().collect();
    let files = repo.index_files()?;
    let mut from_index: HashMap<Id, Vec<IndexBlob>> = HashMap::new();
    let healthy_files: Vec<IndexFile> = files
        .iter()
        .map(|(_, f)| {
            let mut f = f.clone();
            f.packs.retain(|p| {
                if damaged.contains(&p.id) {
                    from_index.entry(p.id).or_default().extend(&p.blobs);
                    false
                } else {
                    true
                }
            });
            f
        })
        .collect();
    let healthy = Index::from_files(&healthy_files);
    let mut out = RepairPacksReport::default();

    // Read every damaged pack once, keeping a copy of it first.
    let mut contents: Vec<(Id, Option<Vec<u8>>)> = Vec::new();
    for id in packs {
        let bytes = match repo.backend().read_full(FileType::Pack, id) {
            Ok(b) => Some(b),
            Err(e) => {
                report(RepairPacksMessage::Unreadable(id, e.to_string()));
                None
            }
        };
        if let (Some(dir), Some(b)) = (copies_to, &bytes) {
            out.copies.push(keep_copy(dir, &format!("pack-{id}"), b)?);
        }
        contents.push((*id, bytes));
    }

    let saver = BlobSaver::new(repo, &healthy, PACK_SIZE, Some(3), false);
    let mut recovered: HashSet<(BlobType, Id)> = HashSet::new();
    let mut failed: Vec<LostBlob> = Vec::new();
    for (pack, bytes) in &contents {
        let mut blobs = from_index.remove(pack).unwrap_or_default();
        blobs.sort_by_key(|b| b.offset);
        blobs.dedup();
        if let Some(b) = bytes {
            if let Ok(header) = hbk_repo::pack::parse_pack(repo.key(), b) {
                let mut listed: Vec<IndexBlob> = header.iter().map(IndexBlob::from).collect();
                listed.sort_by_key(|b| b.offset);
                if !blobs.is_empty() && listed != blobs {
                    report(RepairPacksMessage::IncompleteIndexEntry(pack));
                }
                for blob in listed {
                    if !blobs.contains(&blob) {
                        blobs.push(blob);
                    }
                }
            }
        }
        if blobs.is_empty() {
            report(RepairPacksMessage::NoBlobs(pack));
        }
        for blob in &blobs {
            let key = (blob.blob_type, blob.id);
            if healthy.contains(blob.blob_type, &blob.id) {
                out.elsewhere += 1;
                continue;
            }
            if recovered.contains(&key) {
                continue;
            }
            let other = || heal_from?.blob(blob.blob_type, &blob.id).ok();
            match read_blob(repo, bytes.as_deref(), blob) {
                Ok(data) => {
                    saver.save_with_id(blob.blob_type, blob.id, &data)?;
                    recovered.insert(key);
                }
                Err(reason) => match other() {
                    Some(data) => {
                        saver.save_with_id(blob.blob_type, blob.id, &data)?;
                        recovered.insert(key);
                        out.healed += 1;
                        report(RepairPacksMessage::Healed(blob, pack));
                    }
                    None => {
                        report(RepairPacksMessage::BlobFailed(blob, pack, reason.clone()));
                        failed.push(LostBlob {
                            blob_type: blob.blob_type,
                            id: blob.id,
                            pack: *pack,
                            reason,
                        });
                    }
                },
            }
        }
    }
    saver.flush()?;
    out.salvaged = recovered.len();
    failed.retain(|l| !recovered.contains(&(l.blob_type, l.id)));
    // A blob lost from two damaged packs is reported once.
    failed.sort_by_key(|l| (l.blob_type, l.id, l.pack));
    failed.dedup_by_key(|l| (l.blob_type, l.id));
    out.lost = failed;

    // The index without the damaged packs: new files first, then the old
    // ones go, so an interruption leaves every salvaged blob indexed.
    for ((old, file), new) in files.iter().zip(&healthy_files) {
        if file.packs.len() == new.packs.len() {
            continue;
        }
        if !new.packs.is_empty() {
            repo.save_unpacked(FileType::Index, &new.to_json()?)?;
        }
        repo.backend()
            .remove(FileType::Index, old)
            .map_err(hbk_repo::Error::from)?;
    }
    for id in packs {
        match repo.backend().remove(FileType::Pack, id) {
            Ok(()) => out.removed.push(*id),
            Err(e) if e.is_not_found() => {}
            Err(e) => out.not_removed.push((*id, e.to_string())),
        }
    }
    if !out.lost.is_empty() {
        let indexed = repo.clone().into_indexed()?;
        out.affected = affected_paths(&indexed, &out.lost)?;
    }
    Ok(out)
}

/// The packs of `repo` to give [`repair_packs`]: the damaged and the
/// missing ones, found by a check that reads every pack.
pub fn find_packs_to_repair(repo: &Repository) -> Result<Vec<Id>> {
    let opts = CheckOptions {
        read_data: ReadData::All,
        ..Default::default()
    };
    Ok(check(repo, &opts, &NoProgress)?.packs_to_repair())
}

/// A damaged pack's blob, cut from its bytes and verified.
fn read_blob(
    repo: &Repository,
    pack: Option<&[u8]>,
    blob: &IndexBlob,
) -> std::result::Result<Vec<u8>, String> {
    let pack = pack.ok_or("the pack could not be read")?;
    let start = usize::try_from(blob.offset).map_err(|_| "offset out of range")?;
    let sealed = start
        .checked_add(blob.length as usize)
        .and_then(|end| pack.get(start..end))
        .ok_or("the pack is shorter than the blob's entry")?;
    let ulen = blob.uncompressed_length.and_then(std::num::NonZeroU32::new);
    decode_blob(repo.key(), &blob.id, ulen, &mut sealed.to_vec()).map_err(|e| e.to_string())
}

/// Every path of every snapshot that uses one of the `lost` blobs. Trees
/// that hold none of them below are remembered and skipped everywhere.
fn affected_paths(repo: &IndexedRepository, lost: &[LostBlob]) -> Result<Vec<AffectedPath>> {
    let lost_data: HashSet<Id> = lost
        .iter()
        .filter(|l| l.blob_type == BlobType::Data)
        .map(|l| l.id)
        .collect();
    let lost_trees: HashSet<Id> = lost
        .iter()
        .filter(|l| l.blob_type == BlobType::Tree)
        .map(|l| l.id)
        .collect();
    let mut walk = AffectedWalk {
        repo,
        lost_data,
        lost_trees,
        clean: HashSet::new(),
        found: Vec::new(),
    };
    let mut snapshots = repo.snapshots()?;
    snapshots.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
    for (id, sn) in &snapshots {
        walk.tree(id, &sn.tree, b"/");
    }
    Ok(walk.found)
}

struct AffectedWalk<'a> {
    repo: &'a IndexedRepository,
    lost_data: HashSet<Id>,
    lost_trees: HashSet<Id>,
    clean: HashSet<Id>,
    found: Vec<AffectedPath>,
}

impl AffectedWalk<'_> {
    /// Walks tree `id` at `path` of `snapshot`; returns whether it is clean.
    fn tree(&mut self, snapshot: &Id, id: &Id, path: &[u8]) -> bool {
        if self.clean.contains(id) {
            return true;
        }
        let shown = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        if self.lost_trees.contains(id) {
            self.found.push(AffectedPath {
                snapshot: *snapshot,
                path: shown(path),
                blob: *id,
            });
            return false;
        }
        // A tree unreadable for another reason is check's to report.
        let Ok(tree) = self.repo.tree(id) else {
            return false;
        };
        let mut clean = true;
        for node in &tree.nodes {
            let child = join(path, &node.name);
            match (&node.node_type, &node.subtree, &node.content) {
                (NodeType::Dir, Some(sub), _) => clean &= self.tree(snapshot, sub, &child),
                (NodeType::File, _, Some(content)) => {
                    if let Some(b) = content.iter().find(|b| self.lost_data.contains(b)) {
                        self.found.push(AffectedPath {
                            snapshot: *snapshot,
                            path: shown(&child),
                            blob: *b,
                        });
                        clean = false;
                    }
                }
                _ => {}
            }
        }
        if clean {
            self.clean.insert(*id);
        }
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exclusive, sample};
    use hbk_repo::Backend;

    #[test]
    fn intact_blobs_are_kept_and_lost_ones_named_by_path() {
        let s = sample(2);
        let pack = s.data_pack.id;
        let mut bytes = s.t.pack_bytes(&pack);
        let second = s.data_pack.blobs[1];
        bytes[second.offset as usize + 20] ^= 1;
        s.t.replace_pack(&pack, &bytes);
        let dir = tempfile::tempdir().unwrap();
        let lock = exclusive(&s.t.repo);
        let mut failed = Vec::new();
        let r = repair_packs(
            &s.t.repo,
            &lock,
            &[pack],
            Some(dir.path()),
            None,
            &mut |m| {
                if let RepairPacksMessage::BlobFailed(b, _, _) = m {
                    failed.push(b.id)
                }
            },
        )
        .unwrap();
        assert_eq!(failed, [s.chunks[1]]);
        assert_eq!(r.salvaged, 1);
        assert_eq!(r.lost.len(), 1);
        assert_eq!((r.lost[0].id, r.lost[0].pack), (s.chunks[1], pack));
        assert_eq!(
            r.affected,
            [AffectedPath {
                snapshot: s.snapshot,
                path: "/d/f".into(),
                blob: s.chunks[1],
            }]
        );
        assert_eq!(r.removed, [pack]);
        assert_eq!(std::fs::read(&r.copies[0]).unwrap(), bytes);
        assert!(!s.t.ids(FileType::Pack).contains(&pack));
        // The intact chunk reads back from its new pack; the lost one is
        // in no index.
        let repo = s.t.repo.clone().into_indexed().unwrap();
        assert_eq!(
            Id::hash(&repo.blob(BlobType::Data, &s.chunks[0]).unwrap()),
            s.chunks[0]
        );
        assert!(!repo.index().contains(BlobType::Data, &s.chunks[1]));
        assert!(repo.index().contains(BlobType::Tree, &s.root));
        // A second copy is never written over the first.
        let again = repair_packs(
            &s.t.repo,
            &lock,
            &[pack],
            Some(dir.path()),
            None,
            &mut |_| {},
        );
        assert!(
            again.is_ok(),
            "a missing pack has nothing to copy: {again:?}"
        );
    }

    #[test]
    fn a_vanished_pack_loses_what_no_other_pack_holds() {
        let s = sample(1);
        // The second chunk also lives in a healthy pack.
        let c2 = b"the second chunk of the file".to_vec();
        let extra = s.t.write_pack(&[(BlobType::Data, &c2)], false);
        s.t.write_index(&[extra]);
        s.t.backend.remove(FileType::Pack, &s.data_pack.id).unwrap();
        let lock = exclusive(&s.t.repo);
        let mut unreadable = 0;
        let r = repair_packs(&s.t.repo, &lock, &[s.data_pack.id], None, None, &mut |m| {
            if let RepairPacksMessage::Unreadable(..) = m {
                unreadable += 1
            }
        })
        .unwrap();
        assert_eq!(unreadable, 1);
        assert_eq!((r.salvaged, r.elsewhere), (0, 1));
        assert_eq!(r.lost.len(), 1);
        assert_eq!(r.lost[0].id, s.chunks[0]);
        assert_eq!(r.affected.len(), 1);
        assert!(r.removed.is_empty() && r.not_removed.is_empty());
        let repo = s.t.repo.clone().into_indexed().unwrap();
        assert!(!repo.index().packs().contains(&s.data_pack.id));
        assert!(repo.index().contains(BlobType::Data, &s.chunks[1]));
    }
}
