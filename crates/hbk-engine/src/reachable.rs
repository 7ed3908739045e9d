//! Which blobs a set of snapshots needs: every tree reachable from their
//! root trees and every data blob those trees' files reference.
//!
//! `prune` keeps exactly these blobs and `copy` transfers them, so a tree
//! that cannot be read is an error here, never a silently shorter set.

use std::collections::HashSet;

use hbk_repo::{Id, IndexedRepository, NodeType};
use rayon::prelude::*;

use crate::Result;

/// Trees read in parallel at a time; bounds the work list's growth.
const BATCH: usize = 64;

/// The blobs reachable from some root trees.
#[derive(Debug, Default, Clone)]
pub struct Reachable {
    /// Tree blobs, the roots included.
    pub trees: HashSet<Id>,
    /// Data blobs of regular files.
    pub data: HashSet<Id>,
}

impl Reachable {
    /// Whether the blob is needed.
    pub fn contains(&self, t: hbk_repo::BlobType, id: &Id) -> bool {
        match t {
            hbk_repo::BlobType::Tree => self.trees.contains(id),
            hbk_repo::BlobType::Data => self.data.contains(id),
        }
    }
}

/// Walks every tree reachable from `roots` once. `skip` prunes the walk:
/// a tree for which it returns true is neither recorded nor descended
/// into (`copy` skips trees the target has). `on_tree` is called once per
/// tree read, for progress.
pub fn reachable_blobs(
    repo: &IndexedRepository,
    roots: impl IntoIterator<Item = Id>,
    skip: &(dyn Fn(&Id) -> bool + Sync),
    on_tree: &(dyn Fn() + Sync),
) -> Result<Reachable> {
    let mut found = Reachable::default();
    let mut todo: Vec<Id> = Vec::new();
    for root in roots {
        if !skip(&root) && found.trees.insert(root) {
            todo.push(root);
        }
    }
    while !todo.is_empty() {
        let batch = todo.split_off(todo.len().saturating_sub(BATCH));
        let trees = batch
            .par_iter()
            .map(|id| {
                let tree = repo.tree(id);
                on_tree();
                tree
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for tree in trees {
            for node in tree.nodes {
                match node.node_type {
                    NodeType::File => found.data.extend(node.content.unwrap_or_default()),
                    NodeType::Dir => {
                        if let Some(sub) = node.subtree {
                            if !skip(&sub) && found.trees.insert(sub) {
                                todo.push(sub);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(found)
}
