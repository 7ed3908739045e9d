//! `recover`: a snapshot of the trees no snapshot reaches, so that data
//! whose snapshots were lost (deleted by mistake, or damaged) can be
//! restored again.
//!
//! After `repair index` makes sure every pack is indexed, every tree blob
//! is read; a tree that no other tree and no snapshot references is a
//! root. One new tree holds a directory per root, named by the root's
//! short id, and a snapshot of path `/recover` tagged `recovered` points
//! at it.

use std::collections::HashMap;

use hbk_repo::{BlobSaver, BlobType, FileType, GoTime, Id, Node, NodeType, Repository};
use hbk_repo::{SnapshotFile, Tree};

use crate::commands::repair::index::{repair_index, RepairIndexOptions};
use crate::lock::{LockKind, RepoLock};
use crate::Result;

/// The tag of the snapshot `recover` writes.
pub const RECOVERED_TAG: &str = "recovered";

/// What `recover` found and wrote.
#[derive(Debug, Clone, Default)]
pub struct RecoverReport {
    /// Tree blobs in the index.
    pub trees: usize,
    /// Trees that could not be read, with the reason.
    pub unreadable: Vec<(Id, String)>,
    /// Trees nothing references, sorted.
    pub roots: Vec<Id>,
    /// The snapshot written (none when there is no root).
    pub snapshot: Option<Id>,
}

/// Finds unreferenced trees under `lock` (an exclusive lock on `repo`)
/// and saves a snapshot of them recorded as made on `hostname`.
pub fn recover(repo: &Repository, lock: &RepoLock, hostname: &str) -> Result<RecoverReport> {
    lock.require(repo, LockKind::Exclusive)?;
    repair_index(repo, lock, RepairIndexOptions::default())?;
    let indexed = repo.clone().into_indexed()?;
    let mut referenced: HashMap<Id, bool> = HashMap::new();
    for (_, file) in repo.index_files()? {
        for pack in file.packs {
            for blob in pack.blobs.iter().filter(|b| b.blob_type == BlobType::Tree) {
                referenced.entry(blob.id).or_insert(false);
            }
        }
    }
    let mut out = RecoverReport {
        trees: referenced.len(),
        ..Default::default()
    };
    let mut ids: Vec<Id> = referenced.keys().copied().collect();
    ids.sort();
    for id in ids {
        match indexed.tree(&id) {
            Ok(tree) => {
                for node in &tree.nodes {
                    if let (NodeType::Dir, Some(sub)) = (&node.node_type, node.subtree) {
                        referenced.insert(sub, true);
                    }
                }
            }
            Err(e) => out.unreadable.push((id, e.to_string())),
        }
    }
    for (_, sn) in indexed.snapshots()? {
        referenced.insert(sn.tree, true);
    }
    out.roots = referenced
        .into_iter()
        .filter(|(_, seen)| !seen)
        .map(|(id, _)| id)
        .collect();
    out.roots.sort();
    if out.roots.is_empty() {
        return Ok(out);
    }
    let now = GoTime::now();
    let nodes = out
        .roots
        .iter()
        .map(|id| Node {
            mode: hbk_repo::mode::from_unix(0o040755),
            mtime: now,
            atime: now,
            ctime: now,
            subtree: Some(*id),
            ..Node::new(id.short().into_bytes(), NodeType::Dir)
        })
        .collect();
    let saver = BlobSaver::new(repo, indexed.index(), 16 << 20, None, false);
    let tree = saver.save(BlobType::Tree, &Tree { nodes }.to_go_json()?)?;
    saver.flush()?;
    let snapshot = SnapshotFile {
        time: now,
        parent: None,
        tree,
        paths: vec!["/recover".into()],
        hostname: hostname.to_string(),
        username: crate::lock::username(),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        excludes: Vec::new(),
        tags: vec![RECOVERED_TAG.into()],
        original: None,
        program_version: format!("hbk {}", env!("CARGO_PKG_VERSION")),
        summary: None,
        extra: Default::default(),
    };
    out.snapshot = Some(repo.save_unpacked(FileType::Snapshot, &snapshot.to_json()?)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exclusive, sample};
    use hbk_repo::Backend;

    #[test]
    fn the_tree_of_a_lost_snapshot_is_found_again() {
        let s = sample(2);
        let lock = exclusive(&s.t.repo);
        // Nothing lost: nothing to write.
        let r = recover(&s.t.repo, &lock, "h").unwrap();
        assert_eq!((r.trees, r.roots.len(), r.snapshot), (2, 0, None));

        s.t.backend.remove(FileType::Snapshot, &s.snapshot).unwrap();
        let r = recover(&s.t.repo, &lock, "h").unwrap();
        assert_eq!(r.roots, [s.root]);
        let id = r.snapshot.unwrap();
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let sn = repo.load_snapshot(&id).unwrap();
        assert_eq!(
            (sn.paths.as_slice(), sn.tags.as_slice()),
            (
                &["/recover".to_string()][..],
                &["recovered".to_string()][..]
            )
        );
        let top = repo.tree(&sn.tree).unwrap();
        assert_eq!(top.nodes.len(), 1);
        assert_eq!(top.nodes[0].name, s.root.short().into_bytes());
        assert_eq!(top.nodes[0].subtree, Some(s.root));
        // Now the root is referenced: a second run finds nothing.
        let again = recover(&s.t.repo, &lock, "h").unwrap();
        assert!(again.roots.is_empty() && again.snapshot.is_none());
    }
}
