//! Depth-first walks over a snapshot's trees.

use hbk_repo::{Id, IndexedRepository, Node, NodeType};

use crate::{Error, Result};

/// What a visitor wants after seeing a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Walk into it (for directories).
    Descend,
    /// Do not walk into it.
    Skip,
}

/// Calls `visit(path, node)` for every node below `tree`, parents before
/// children. Paths are byte strings joined with `/`, starting with
/// `prefix` (e.g. `b"/"`).
pub fn walk_tree<F>(repo: &IndexedRepository, tree: &Id, prefix: &[u8], visit: &mut F) -> Result<()>
where
    F: FnMut(&[u8], &Node) -> Result<Visit>,
{
    let t = repo.tree(tree)?;
    for node in &t.nodes {
        let path = join(prefix, &node.name);
        let next = visit(&path, node)?;
        if node.node_type == NodeType::Dir && next == Visit::Descend {
            if let Some(sub) = &node.subtree {
                walk_tree(repo, sub, &path, visit)?;
            }
        }
    }
    Ok(())
}

/// `prefix/name`, without doubling the separator.
pub fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(prefix.len() + 1 + name.len());
    p.extend_from_slice(prefix);
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Follows `path` (`/`-separated bytes, relative to the root tree) to a
/// directory's tree id, or returns the node found there if it is not a
/// directory.
pub fn resolve_path(
    repo: &IndexedRepository,
    root: &Id,
    path: &[u8],
    snapshot: &str,
) -> Result<(Id, Option<Node>)> {
    let not_found = || Error::PathNotFound {
        snapshot: snapshot.to_string(),
        path: String::from_utf8_lossy(path).into_owned(),
    };
    let parts: Vec<&[u8]> = path
        .split(|b| *b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .collect();
    let mut tree_id = *root;
    for (i, part) in parts.iter().enumerate() {
        let tree = repo.tree(&tree_id)?;
        let node = tree.find(part).ok_or_else(not_found)?;
        match (&node.node_type, node.subtree) {
            (NodeType::Dir, Some(sub)) => tree_id = sub,
            _ if i + 1 == parts.len() => return Ok((tree_id, Some(node.clone()))),
            _ => return Err(not_found()),
        }
    }
    Ok((tree_id, None))
}
