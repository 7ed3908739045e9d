//! `rewrite` (restic 0.15+): new snapshots without the paths that
//! exclude patterns match (or with only those include patterns match),
//! or with a new host or time.
//!
//! Trees are rewritten bottom-up and only the ones that change are
//! stored. A rewritten snapshot keeps its metadata, gets `original` set
//! to the snapshot it replaces and the tag `rewrite` (unless `forget`
//! deletes the original instead). With patterns, or with
//! `snapshot_summary`, the snapshot's `summary` records the files and
//! bytes left, as restic 0.19 does. Data is not deleted: `prune` frees
//! what no snapshot uses any more.

use hbk_repo::{BlobSaver, BlobType, FileType, GoTime, Id, IndexedRepository, NodeType};
use hbk_repo::{SnapshotFile, Tree};

use crate::commands::tag::replace_snapshot;
use crate::filter::{PatternLists, Selection};
use crate::lock::{LockKind, WriteMode};
use crate::walk::join;
use crate::{Error, Result};

/// The tag restic gives rewritten snapshots (when the original is kept).
pub const REWRITE_TAG: &str = "rewrite";

/// Pack size for the trees this writes.
const PACK_SIZE: u64 = 16 << 20;

/// What `rewrite` changes.
#[derive(Debug, Clone, Default)]
pub struct RewriteOptions {
    /// Paths to drop (`--exclude`…) or to keep (`--include`…); not both.
    pub patterns: PatternLists,
    /// Delete the originals instead of tagging the new snapshots.
    pub forget: bool,
    /// A new host name for the snapshots.
    pub new_host: Option<String>,
    /// A new time for the snapshots.
    pub new_time: Option<GoTime>,
    /// Record the files and bytes in `summary` when it is missing.
    pub snapshot_summary: bool,
}

impl RewriteOptions {
    /// The lock a real run needs: deleting originals takes an exclusive
    /// one, adding snapshots a shared one.
    pub fn lock_kind(&self) -> LockKind {
        if self.forget {
            LockKind::Exclusive
        } else {
            LockKind::Shared
        }
    }

    fn has_includes(&self) -> bool {
        !self.patterns.include.is_empty() || !self.patterns.iinclude.is_empty()
    }

    fn has_excludes(&self) -> bool {
        !self.patterns.exclude.is_empty() || !self.patterns.iexclude.is_empty()
    }

    /// Refuses options that ask for nothing, or for includes with excludes.
    pub fn validate(&self) -> Result<()> {
        let metadata = self.new_host.is_some() || self.new_time.is_some();
        if !self.has_includes() && !self.has_excludes() && !metadata && !self.snapshot_summary {
            return Err(Error::invalid(
                "rewrite",
                "Nothing to do: no excludes/includes provided and no new metadata provided",
            ));
        }
        if self.has_includes() && self.has_excludes() {
            return Err(Error::invalid(
                "patterns",
                "exclude and include patterns are mutually exclusive",
            ));
        }
        Ok(())
    }
}

/// A progress message of [`rewrite_snapshots`].
#[derive(Debug, Clone)]
pub enum RewriteMessage<'a> {
    /// Work on this snapshot starts.
    Snapshot(&'a Id, &'a SnapshotFile),
    /// A path was left out (exclude patterns, or no include matched it).
    Excluded(String),
    /// A new snapshot was saved for the one announced last (`None` in a
    /// dry run).
    Saved(Option<Id>),
    /// The original was deleted (or would be, in a dry run).
    RemovedOld(Id),
}

/// The outcome for one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewritten {
    /// Nothing would change (or includes matched nothing).
    Unchanged,
    /// Saved as this new snapshot (`None` in a dry run).
    Saved(Option<Id>),
}

/// Walks trees, dropping what the selection leaves out and counting what
/// stays.
struct Filter<'a> {
    repo: &'a IndexedRepository,
    saver: BlobSaver<'a>,
    selection: Selection,
    include_mode: bool,
    dry_run: bool,
    files: u64,
    bytes: u64,
}

impl Filter<'_> {
    /// The replacement of tree `id` at `path`; `None` when include
    /// patterns left it empty and did not match it themselves.
    fn tree(&mut self, id: &Id, path: &[u8], say: &mut dyn FnMut(String)) -> Result<Option<Id>> {
        let tree = self.repo.tree(id)?;
        let mut changed = false;
        let mut nodes = Vec::with_capacity(tree.nodes.len());
        for mut node in tree.nodes {
            let child = join(path, &node.name);
            let (selected, below) = self.selection.decide(&child);
            let is_dir = node.node_type == NodeType::Dir;
            let keep = match (self.include_mode, is_dir) {
                (true, true) => selected || below,
                _ => selected,
            };
            if !keep {
                say(String::from_utf8_lossy(&child).into_owned());
                changed = true;
                continue;
            }
            match (&node.node_type, node.subtree) {
                (NodeType::Dir, Some(sub)) => match self.tree(&sub, &child, say)? {
                    None => {
                        changed = true;
                        continue;
                    }
                    Some(new) if new != sub => {
                        node.subtree = Some(new);
                        changed = true;
                    }
                    Some(_) => {}
                },
                (NodeType::File, _) => {
                    self.files += 1;
                    self.bytes += node.size;
                }
                _ => {}
            }
            nodes.push(node);
        }
        if nodes.is_empty() && self.include_mode && !self.selection.decide(path).0 {
            return Ok(None);
        }
        if !changed {
            return Ok(Some(*id));
        }
        // Only a tree that changes is encoded again; read the original
        // once more to check it encodes back to its own bytes.
        check_lossless(&self.repo.tree(id)?, id, path)?;
        let json = Tree { nodes }.to_go_json()?;
        if self.dry_run {
            return Ok(Some(Id::hash(&json)));
        }
        Ok(Some(self.saver.save(BlobType::Tree, &json)?))
    }
}

/// Refuses to rewrite a tree hbk cannot encode back to the same bytes: the
/// new tree would silently drop what hbk does not understand.
fn check_lossless(tree: &Tree, id: &Id, path: &[u8]) -> Result<()> {
    if Id::hash(&tree.to_go_json()?) != *id {
        return Err(Error::LossyTree {
            path: String::from_utf8_lossy(path).into_owned(),
        });
    }
    Ok(())
}

/// The summary restic 0.19 stores after a rewrite: the old one (or an
/// empty one) with the files and bytes that remain.
fn rewritten_summary(old: Option<&serde_json::Value>, files: u64, bytes: u64) -> serde_json::Value {
    let mut summary = old.cloned().unwrap_or_else(|| {
        let zero = "0001-01-01T00:00:00Z";
        serde_json::json!({
            "backup_start": zero, "backup_end": zero,
            "files_new": 0, "files_changed": 0, "files_unmodified": 0,
            "dirs_new": 0, "dirs_changed": 0, "dirs_unmodified": 0,
            "data_blobs": 0, "tree_blobs": 0, "data_added": 0, "data_added_packed": 0,
        })
    });
    if let Some(map) = summary.as_object_mut() {
        map.insert("total_files_processed".into(), files.into());
        map.insert("total_bytes_processed".into(), bytes.into());
    }
    summary
}

/// Rewrites `snapshots` under `mode`'s lock (of
/// [`RewriteOptions::lock_kind`] on `repo`, taken before the caller chose
/// the snapshots), or as a dry run that writes nothing; `report`
/// receives what is being done.
pub fn rewrite_snapshots(
    repo: &IndexedRepository,
    mode: WriteMode<'_>,
    snapshots: Vec<(Id, SnapshotFile)>,
    opts: &RewriteOptions,
    report: &mut dyn FnMut(RewriteMessage),
) -> Result<Vec<(Id, Rewritten)>> {
    opts.validate()?;
    mode.require(repo, opts.lock_kind())?;
    let dry_run = mode.is_dry_run();
    let filtering = opts.has_includes() || opts.has_excludes() || opts.snapshot_summary;
    let mut filter = Filter {
        repo,
        saver: BlobSaver::new(repo, repo.index(), PACK_SIZE, None, dry_run),
        selection: Selection::from_lists(&opts.patterns)?,
        include_mode: opts.has_includes(),
        dry_run,
        files: 0,
        bytes: 0,
    };
    let mut planned = Vec::new();
    for (id, sn) in snapshots {
        report(RewriteMessage::Snapshot(&id, &sn));
        if !filtering {
            let tree = Some(sn.tree);
            planned.push((id, sn, tree, None));
            continue;
        }
        filter.files = 0;
        filter.bytes = 0;
        let tree = filter.tree(&sn.tree, b"/", &mut |p| report(RewriteMessage::Excluded(p)))?;
        let summary = rewritten_summary(sn.summary.as_ref(), filter.files, filter.bytes);
        planned.push((id, sn, tree, Some(summary)));
    }
    // Trees first, then the snapshots that reference them.
    filter.saver.flush()?;
    let mut out = Vec::new();
    for (id, mut sn, tree, summary) in planned {
        let tree = match tree {
            // Include patterns matched nothing: the snapshot stays.
            None => {
                out.push((id, Rewritten::Unchanged));
                continue;
            }
            Some(t) => t,
        };
        let same_summary = summary
            .as_ref()
            .is_none_or(|s| sn.summary.as_ref() == Some(s));
        let metadata = opts.new_host.is_some() || opts.new_time.is_some();
        if tree == sn.tree && same_summary && !metadata {
            out.push((id, Rewritten::Unchanged));
            continue;
        }
        sn.tree = tree;
        if let Some(s) = summary {
            sn.summary = Some(s);
        }
        if let Some(h) = &opts.new_host {
            sn.hostname = h.clone();
        }
        if let Some(t) = &opts.new_time {
            sn.time = *t;
        }
        if dry_run {
            report(RewriteMessage::Saved(None));
            if opts.forget {
                report(RewriteMessage::RemovedOld(id));
            }
            out.push((id, Rewritten::Saved(None)));
            continue;
        }
        sn.original = Some(id);
        let new = if opts.forget {
            let new = replace_snapshot(repo, &id, sn)?;
            report(RewriteMessage::Saved(Some(new)));
            report(RewriteMessage::RemovedOld(id));
            new
        } else {
            if !sn.tags.iter().any(|t| t == REWRITE_TAG) {
                sn.tags.push(REWRITE_TAG.to_string());
            }
            let new = repo.save_unpacked(FileType::Snapshot, &sn.to_json()?)?;
            report(RewriteMessage::Saved(Some(new)));
            new
        };
        out.push((id, Rewritten::Saved(Some(new))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exclusive, sample};

    fn excluding(p: &str) -> RewriteOptions {
        RewriteOptions {
            patterns: PatternLists {
                exclude: vec![p.into()],
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn excluded_file_leaves_a_tagged_copy_and_the_original() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let snaps = repo.snapshots().unwrap();
        let opts = excluding("/d/f");
        let mut excluded = Vec::new();
        let dry = rewrite_snapshots(&repo, WriteMode::DryRun, snaps.clone(), &opts, &mut |m| {
            if let RewriteMessage::Excluded(p) = m {
                excluded.push(p)
            }
        })
        .unwrap();
        assert_eq!(dry, [(s.snapshot, Rewritten::Saved(None))]);
        assert_eq!(excluded, ["/d/f"]);
        assert_eq!(s.t.ids(FileType::Snapshot), vec![s.snapshot]);

        let lock = exclusive(&repo);
        let r =
            rewrite_snapshots(&repo, WriteMode::Locked(&lock), snaps, &opts, &mut |_| {}).unwrap();
        let Rewritten::Saved(Some(new)) = r[0].1 else {
            panic!("not saved: {r:?}")
        };
        let mut ids = s.t.ids(FileType::Snapshot);
        ids.sort();
        let mut want = vec![s.snapshot, new];
        want.sort();
        assert_eq!(ids, want);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let sn = repo.load_snapshot(&new).unwrap();
        assert_eq!(sn.tags, [REWRITE_TAG]);
        assert_eq!(sn.original, Some(s.snapshot));
        let summary = sn.summary.unwrap();
        assert_eq!(summary["total_files_processed"], 0);
        assert_eq!(summary["backup_start"], "0001-01-01T00:00:00Z");
        let d = repo.tree(&sn.tree).unwrap().nodes[0].subtree.unwrap();
        assert!(repo.tree(&d).unwrap().nodes.is_empty());
    }

    #[test]
    fn includes_keep_matches_and_drop_the_rest() {
        let s = sample(1);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let lock = exclusive(&repo);
        let including = |p: &str| RewriteOptions {
            patterns: PatternLists {
                include: vec![p.into()],
                ..Default::default()
            },
            ..Default::default()
        };
        // Nothing matches: the snapshot stays as it is.
        let r = rewrite_snapshots(
            &repo,
            WriteMode::Locked(&lock),
            repo.snapshots().unwrap(),
            &including("/elsewhere"),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r[0].1, Rewritten::Unchanged);
        // Everything matches: the same tree, with the count in its summary.
        let r = rewrite_snapshots(
            &repo,
            WriteMode::Locked(&lock),
            repo.snapshots().unwrap(),
            &including("/d/f"),
            &mut |_| {},
        )
        .unwrap();
        let Rewritten::Saved(Some(new)) = r[0].1 else {
            panic!("not saved: {r:?}")
        };
        let sn = repo.load_snapshot(&new).unwrap();
        assert_eq!(sn.tree, s.root);
        assert_eq!(sn.summary.unwrap()["total_files_processed"], 1);
        // A second rewrite of the new snapshot finds nothing to change.
        let r = rewrite_snapshots(
            &repo,
            WriteMode::Locked(&lock),
            vec![(new, repo.load_snapshot(&new).unwrap())],
            &including("/d/f"),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(r[0].1, Rewritten::Unchanged);
    }

    #[test]
    fn new_host_with_forget_replaces_the_snapshot() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let opts = RewriteOptions {
            forget: true,
            new_host: Some("moved".into()),
            ..Default::default()
        };
        let shared = crate::lock::RepoLock::acquire(&repo, LockKind::Shared).unwrap();
        let snaps = repo.snapshots().unwrap();
        let refused = rewrite_snapshots(
            &repo,
            WriteMode::Locked(&shared),
            snaps.clone(),
            &opts,
            &mut |_| {},
        );
        assert!(
            matches!(refused, Err(Error::WrongLock { .. })),
            "{refused:?}"
        );
        drop(shared);
        let lock = exclusive(&repo);
        let r =
            rewrite_snapshots(&repo, WriteMode::Locked(&lock), snaps, &opts, &mut |_| {}).unwrap();
        let Rewritten::Saved(Some(new)) = r[0].1 else {
            panic!("not saved: {r:?}")
        };
        assert_eq!(s.t.ids(FileType::Snapshot), vec![new]);
        let sn = repo.load_snapshot(&new).unwrap();
        assert_eq!(sn.hostname, "moved");
        assert_eq!(sn.tree, s.root);
        assert!(sn.tags.is_empty());
        assert!(sn.summary.is_none());
    }

    #[test]
    fn nothing_to_do_and_mixed_patterns_are_refused() {
        assert!(RewriteOptions::default().validate().is_err());
        let mut both = excluding("/a");
        both.patterns.include = vec!["/b".into()];
        let e = both.validate().unwrap_err();
        assert!(e.to_string().contains("mutually exclusive"), "{e}");
        assert!(excluding("/a").validate().is_ok());
    }
}
