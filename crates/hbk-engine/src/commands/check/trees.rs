//! Step 4 of `check`: snapshots and every tree reachable from them.

use std::collections::HashSet;

use hbk_repo::blob::decode_blob;
use hbk_repo::{BlobType, FileType, Id, Index, NodeType, Repository, SnapshotFile, Tree};
use rayon::prelude::*;

use super::finding::{CheckFinding, CheckedObject, FindingKind};
use super::load::{describe, load_each};
use super::report::{CheckPhase, CheckReport};
use crate::progress::Progress;

/// Trees checked in parallel at a time; bounds the work list's growth.
const BATCH: usize = 64;

/// A tree to check and where it was first met.
struct Pending {
    tree: Id,
    snapshot: Id,
    /// The directory whose subtree it is (`/` for a snapshot's root).
    path: String,
}

/// What checking one tree found.
struct Outcome {
    errors: Vec<CheckFinding>,
    subtrees: Vec<Pending>,
}

/// Loads every snapshot, then walks all trees reachable from them once,
/// checking each.
pub(super) fn check_snapshots(
    repo: &Repository,
    index: &Index,
    snapshot_ids: &[Id],
    progress: &dyn Progress,
    report: &mut CheckReport,
) {
    let snapshots = load_snapshots(repo, snapshot_ids, progress, report);

    let phase = CheckPhase::Trees;
    progress.phase_start(phase.name(), None);
    let mut seen: HashSet<Id> = HashSet::new();
    let mut todo: Vec<Pending> = Vec::new();
    for (id, snap) in snapshots.iter().rev() {
        if snap.tree.is_null() {
            report.errors.push(snapshot_finding(
                id,
                FindingKind::InvalidTree,
                format!("snapshot {id}: root tree is a null id"),
            ));
        } else if seen.insert(snap.tree) {
            todo.push(Pending {
                tree: snap.tree,
                snapshot: *id,
                path: "/".into(),
            });
        }
    }
    drop(snapshots);

    while !todo.is_empty() {
        let batch = todo.split_off(todo.len().saturating_sub(BATCH));
        let outcomes: Vec<Outcome> = batch
            .par_iter()
            .map(|p| {
                let o = check_tree(repo, index, p);
                progress.phase_advance(1);
                o
            })
            .collect();
        report.trees += batch.len();
        for o in outcomes {
            report.errors.extend(o.errors);
            // Reversed so that the stack pops them in tree order.
            for sub in o.subtrees.into_iter().rev() {
                if seen.insert(sub.tree) {
                    todo.push(sub);
                }
            }
        }
    }
    progress.phase_finish();
}

/// Every snapshot that loads, in id order; the others become errors.
fn load_snapshots(
    repo: &Repository,
    ids: &[Id],
    progress: &dyn Progress,
    report: &mut CheckReport,
) -> Vec<(Id, SnapshotFile)> {
    let loaded = load_each(ids, CheckPhase::Snapshots, progress, |id| {
        repo.load_snapshot(id)
    });
    let mut out = Vec::with_capacity(loaded.len());
    for (id, r) in loaded {
        match r {
            Ok(s) => out.push((id, s)),
            Err(e) => report.errors.push(snapshot_finding(
                &id,
                FindingKind::Unreadable,
                format!("snapshot {id}: unable to load: {}", describe(&e)),
            )),
        }
    }
    report.snapshots = out.len();
    progress.phase_finish();
    out
}

/// Reads one tree and checks its nodes.
fn check_tree(repo: &Repository, index: &Index, p: &Pending) -> Outcome {
    let mut out = Outcome {
        errors: Vec::new(),
        subtrees: Vec::new(),
    };
    let tree = match load_tree(repo, index, &p.tree) {
        Ok(t) => t,
        Err(why) => {
            out.errors.push(tree_finding(
                &p.tree,
                FindingKind::Unreadable,
                format!(
                    "tree {}: {why} (referenced by snapshot {} at {:?})",
                    p.tree, p.snapshot, p.path
                ),
            ));
            return out;
        }
    };
    let t = p.tree;
    for (i, node) in tree.nodes.iter().enumerate() {
        let path = crate::walk::join(p.path.as_bytes(), &node.name);
        let path = String::from_utf8_lossy(&path);
        if node.name.is_empty() {
            out.errors.push(tree_finding(
                &t,
                FindingKind::InvalidTree,
                format!("tree {t}: node {i} in {:?} has an empty name", p.path),
            ));
        }
        match &node.node_type {
            NodeType::File => match &node.content {
                None => out.errors.push(tree_finding(
                    &t,
                    FindingKind::InvalidTree,
                    format!("tree {t}, file {path:?}: content is null"),
                )),
                Some(content) => {
                    for (n, blob) in content.iter().enumerate() {
                        if blob.is_null() {
                            out.errors.push(tree_finding(
                                &t,
                                FindingKind::InvalidTree,
                                format!("tree {t}, file {path:?}: blob {n} has a null id"),
                            ));
                        } else if !index.contains(BlobType::Data, blob) {
                            out.errors.push(tree_finding(
                                &t,
                                FindingKind::Missing,
                                format!("tree {t}, file {path:?}: blob {blob} not found in index"),
                            ));
                        }
                    }
                }
            },
            NodeType::Dir => match node.subtree {
                None => out.errors.push(tree_finding(
                    &t,
                    FindingKind::InvalidTree,
                    format!("tree {t}, dir {path:?}: no subtree"),
                )),
                Some(sub) if sub.is_null() => out.errors.push(tree_finding(
                    &t,
                    FindingKind::InvalidTree,
                    format!("tree {t}, dir {path:?}: subtree is a null id"),
                )),
                Some(sub) => out.subtrees.push(Pending {
                    tree: sub,
                    snapshot: p.snapshot,
                    path: path.into_owned(),
                }),
            },
            NodeType::Symlink
            | NodeType::Dev
            | NodeType::CharDev
            | NodeType::Fifo
            | NodeType::Socket => {}
            other @ (NodeType::Irregular | NodeType::Other(_)) => out.errors.push(tree_finding(
                &t,
                FindingKind::InvalidTree,
                format!(
                    "tree {t}, {path:?}: node has unknown type {:?}",
                    other.as_str()
                ),
            )),
        }
    }
    out
}

/// A tree blob, located through `index`, read, verified and parsed. The
/// error says why, and names the pack when one is involved.
fn load_tree(repo: &Repository, index: &Index, id: &Id) -> Result<Tree, String> {
    let loc = index
        .get(BlobType::Tree, id)
        .ok_or_else(|| "not found in index".to_string())?;
    let mut sealed = repo
        .backend()
        .read_range(FileType::Pack, &loc.pack, loc.offset, u64::from(loc.length))
        .map_err(|e| format!("unable to read from pack {}: {e}", loc.pack))?;
    let plain = decode_blob(repo.key(), id, loc.uncompressed_length, &mut sealed)
        .map_err(|e| format!("damaged blob in pack {}: {e}", loc.pack))?;
    Tree::from_json(&plain).map_err(|e| format!("does not parse: {e}"))
}

/// A finding about tree `tree`.
fn tree_finding(tree: &Id, kind: FindingKind, message: String) -> CheckFinding {
    CheckFinding::new(CheckedObject::Tree(*tree), kind, message)
}

/// A finding about snapshot `snapshot`.
fn snapshot_finding(snapshot: &Id, kind: FindingKind, message: String) -> CheckFinding {
    CheckFinding::new(CheckedObject::Snapshot(*snapshot), kind, message)
}
