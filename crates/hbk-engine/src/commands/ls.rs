//! `ls`: the nodes of a snapshot.

use hbk_repo::{Id, IndexedRepository, Node};

use crate::filter::Selection;
use crate::walk::{walk_tree, Visit};
use crate::Result;

/// Calls `each(path, node)` for every node of the tree `root`, below the
/// directory `prefix`, that `selection` selects (restic's `ls` path
/// arguments become include patterns).
pub fn ls(
    repo: &IndexedRepository,
    root: &Id,
    prefix: &[u8],
    selection: &Selection,
    each: &mut dyn FnMut(&[u8], &Node),
) -> Result<()> {
    walk_tree(repo, root, prefix, &mut |path, node| {
        let (selected, descend) = selection.decide(path);
        if selected {
            each(path, node);
        }
        Ok(if descend { Visit::Descend } else { Visit::Skip })
    })
}
