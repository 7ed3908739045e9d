//! `repair snapshots` (restic 0.16+): new snapshots without what the
//! repository lost.
//!
//! Each snapshot's trees are rewritten bottom-up: a file loses the data
//! blobs the index does not know (its size becomes the sum of what is
//! left), a directory whose tree cannot be read becomes empty, and nodes
//! of unknown type are dropped. A snapshot whose tree changed is saved
//! anew with the tag `repaired` and `original` set; with `forget` the old
//! snapshot is deleted. A snapshot whose root tree cannot be read is only
//! deleted (with `forget`). Run `repair index` first: the index decides
//! what is missing.

use std::collections::HashMap;

use hbk_repo::{BlobType, FileType, Id, IndexedRepository, Node, NodeType, SnapshotFile, Tree};

use crate::commands::tag::replace_snapshot;
use crate::lock::{LockKind, WriteMode};
use crate::walk::join;
use crate::Result;
use hbk_repo::BlobSaver;

/// The tag restic gives repaired snapshots.
pub const REPAIRED_TAG: &str = "repaired";

/// Pack size for the few trees this writes.
const PACK_SIZE: u64 = 16 << 20;

/// What `repair snapshots` does.
#[derive(Debug, Clone, Copy, Default)]
pub struct RepairSnapshotsOptions {
    /// Delete the original snapshots after saving the repaired ones.
    pub forget: bool,
}

/// The outcome for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repaired {
    /// Nothing was missing.
    Unchanged,
    /// Saved as this new snapshot (`None` in a dry run).
    Rewritten(Option<Id>),
    /// The root tree is unreadable; deleted with `forget`, else kept.
    RootUnreadable {
        /// Whether the snapshot was deleted.
        deleted: bool,
    },
}

/// A progress message of [`repair_snapshots`].
#[derive(Debug, Clone)]
pub enum RepairMessage<'a> {
    /// Work on this snapshot starts.
    Snapshot(&'a Id, &'a SnapshotFile),
    /// A repair inside it, in restic's words (`  file "/a": removed
    /// missing content`, …).
    Line(String),
}

/// Rewrites trees, remembering each tree's replacement.
struct Rewriter<'a> {
    repo: &'a IndexedRepository,
    saver: BlobSaver<'a>,
    done: HashMap<Id, Id>,
    dry_run: bool,
}

impl Rewriter<'_> {
    /// The replacement of tree `id` at `path`; `None` when the tree cannot
    /// be read and `path` is the root.
    fn tree(&mut self, id: &Id, path: &[u8], say: &mut dyn FnMut(String)) -> Result<Option<Id>> {
        if let Some(new) = self.done.get(id) {
            return Ok(Some(*new));
        }
        let shown = String::from_utf8_lossy(path).into_owned();
        let tree = match self.repo.tree(id) {
            Ok(t) => t,
            Err(_) if path == b"/" => {
                say(format!("  dir {shown:?}: not readable"));
                return Ok(None);
            }
            Err(_) => {
                say(format!("  dir {shown:?}: replaced with empty directory"));
                let new = self.save(&Tree::default())?;
                self.done.insert(*id, new);
                return Ok(Some(new));
            }
        };
        let mut changed = false;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in tree.nodes {
            let child = join(path, &node.name);
            let shown = String::from_utf8_lossy(&child).into_owned();
            match &node.node_type {
                NodeType::Irregular | NodeType::Other(_) => {
                    say(format!(
                        "  file {shown:?}: removed node with invalid type {:?}",
                        node.node_type.as_str()
                    ));
                    changed = true;
                    continue;
                }
                NodeType::File => changed |= self.file(&mut node, &shown, say),
                NodeType::Dir => {
                    if let Some(sub) = node.subtree {
                        let new = self.tree(&sub, &child, say)?.unwrap_or(sub);
                        if new != sub {
                            node.subtree = Some(new);
                            changed = true;
                        }
                    }
                }
                _ => {}
            }
            nodes.push(node);
        }
        let new = if changed {
            self.save(&Tree { nodes })?
        } else {
            *id
        };
        self.done.insert(*id, new);
        Ok(Some(new))
    }

    /// Drops a file's missing blobs and fixes its size; returns whether the
    /// node changed.
    fn file(&self, node: &mut Node, shown: &str, say: &mut dyn FnMut(String)) -> bool {
        let Some(content) = &node.content else {
            return false;
        };
        let mut kept = Vec::with_capacity(content.len());
        let mut size = 0;
        for id in content {
            if let Some(loc) = self.repo.index().get(BlobType::Data, id) {
                kept.push(*id);
                size += loc.data_length();
            }
        }
        if kept.len() != content.len() {
            say(format!("  file {shown:?}: removed missing content"));
        } else if size != node.size {
            say(format!("  file {shown:?}: fixed incorrect size"));
        } else {
            return false;
        }
        node.content = Some(kept);
        node.size = size;
        true
    }

    fn save(&self, tree: &Tree) -> Result<Id> {
        let json = tree.to_go_json()?;
        if self.dry_run {
            return Ok(Id::hash(&json));
        }
        Ok(self.saver.save(BlobType::Tree, &json)?)
    }
}

/// Repairs `snapshots`: under `mode`'s lock (an exclusive one on
/// `repo`, taken before the caller loaded the index and chose the
/// snapshots), or as a dry run that writes nothing; `report` receives
/// what is being done.
pub fn repair_snapshots(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    snapshots: Vec<(Id, SnapshotFile)>,
    opts: RepairSnapshotsOptions,
    report: &mut dyn FnMut(RepairMessage),
) -> Result<Vec<(Id, Repaired)>> {
    mode.require(repo, LockKind::Exclusive)?;
    let dry_run = mode.is_dry_run();
    let mut rw = Rewriter {
        repo,
        saver: BlobSaver::new(repo, repo.index(), PACK_SIZE, None, dry_run),
        done: HashMap::new(),
        dry_run,
    };
    let mut planned = Vec::new();
    for (id, sn) in snapshots {
        report(RepairMessage::Snapshot(&id, &sn));
        let root = rw.tree(&sn.tree, b"/", &mut |l| report(RepairMessage::Line(l)))?;
        planned.push((id, sn, root));
    }
    // Trees first, then the snapshots that reference them.
    rw.saver.flush()?;
    let mut out = Vec::new();
    for (id, mut sn, root) in planned {
        let outcome = match root {
            None => {
                let deleted = opts.forget && !dry_run;
                if deleted {
                    repo.backend()
                        .remove(FileType::Snapshot, &id)
                        .map_err(hbk_repo::Error::from)?;
                }
                Repaired::RootUnreadable { deleted }
            }
            Some(t) if t == sn.tree => Repaired::Unchanged,
            Some(t) if dry_run => {
                let _ = t;
                Repaired::Rewritten(None)
            }
            Some(t) => {
                sn.tree = t;
                if !sn.tags.iter().any(|x| x == REPAIRED_TAG) {
                    sn.tags.push(REPAIRED_TAG.to_string());
                }
                let new = if opts.forget {
                    replace_snapshot(repo, &id, sn)?
                } else {
                    if sn.original.is_none() {
                        sn.original = Some(id);
                    }
                    repo.save_unpacked(FileType::Snapshot, &sn.to_json()?)?
                };
                Repaired::Rewritten(Some(new))
            }
        };
        out.push((id, outcome));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::repair::index::{repair_index, RepairIndexOptions};
    use crate::testutil::{exclusive, sample};
    use hbk_repo::Backend;

    #[test]
    fn missing_data_is_cut_from_files() {
        let s = sample(2);
        // Lose the data pack and rebuild the index without it.
        s.t.backend.remove(FileType::Pack, &s.data_pack.id).unwrap();
        repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions::default(),
        )
        .unwrap();
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let snaps = repo.snapshots().unwrap();

        let mut lines = Vec::new();
        let opts = RepairSnapshotsOptions { forget: true };
        let r = repair_snapshots(&repo, WriteMode::DryRun, snaps.clone(), opts, &mut |m| {
            if let RepairMessage::Line(l) = m {
                lines.push(l)
            }
        })
        .unwrap();
        assert_eq!(r, [(s.snapshot, Repaired::Rewritten(None))]);
        assert!(lines
            .iter()
            .any(|l| l == "  file \"/d/f\": removed missing content"));
        assert_eq!(s.t.ids(FileType::Snapshot), vec![s.snapshot]);

        let lock = exclusive(&repo);
        let r =
            repair_snapshots(&repo, WriteMode::Locked(&lock), snaps, opts, &mut |_| {}).unwrap();
        let Repaired::Rewritten(Some(new)) = r[0].1 else {
            panic!("not rewritten: {r:?}")
        };
        assert_eq!(s.t.ids(FileType::Snapshot), vec![new]);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let sn = repo.load_snapshot(&new).unwrap();
        assert_eq!(sn.tags, ["repaired"]);
        assert_eq!(sn.original, Some(s.snapshot));
        let d = repo.tree(&sn.tree).unwrap().nodes[0].subtree.unwrap();
        let f = &repo.tree(&d).unwrap().nodes[0];
        assert_eq!(f.content.as_deref(), Some(&[][..]));
        assert_eq!(f.size, 0);
        // A second run finds nothing to do.
        let mode = WriteMode::Locked(&lock);
        let again =
            repair_snapshots(&repo, mode, repo.snapshots().unwrap(), opts, &mut |_| {}).unwrap();
        assert_eq!(again[0].1, Repaired::Unchanged);
    }

    #[test]
    fn unreadable_subtree_becomes_empty() {
        let s = sample(1);
        // Lose the tree pack: even the root is gone.
        s.t.backend.remove(FileType::Pack, &s.tree_pack.id).unwrap();
        repair_index(
            &s.t.repo,
            &exclusive(&s.t.repo),
            RepairIndexOptions::default(),
        )
        .unwrap();
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let opts = RepairSnapshotsOptions { forget: true };
        let lock = exclusive(&repo);
        let mode = WriteMode::Locked(&lock);
        let r =
            repair_snapshots(&repo, mode, repo.snapshots().unwrap(), opts, &mut |_| {}).unwrap();
        assert_eq!(r[0].1, Repaired::RootUnreadable { deleted: true });
        assert!(s.t.ids(FileType::Snapshot).is_empty());
    }
}
