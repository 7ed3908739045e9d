//! `diff`: what changed from one tree to another, as restic 0.14 reports
//! it.
//!
//! Both trees are walked side by side in name order. Each change is
//! reported with restic's marker: `+` added, `-` removed, `M` content
//! modified, `T` type changed, `U` metadata changed (only with
//! `metadata`). The statistics count added and removed nodes, and the
//! blobs referenced only before or only after, with their plaintext
//! sizes.

use std::collections::HashSet;

use hbk_repo::{BlobType, Id, IndexedRepository, Node, NodeType};

use crate::walk::join;
use crate::Result;

/// Counts of one side of the statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStat {
    /// Files.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Anything else (symlinks, devices, …).
    pub others: u64,
    /// Data blobs.
    pub data_blobs: u64,
    /// Tree blobs.
    pub tree_blobs: u64,
    /// Plaintext bytes of those blobs.
    pub bytes: u64,
}

impl DiffStat {
    fn add_node(&mut self, node: &Node) {
        match node.node_type {
            NodeType::File => self.files += 1,
            NodeType::Dir => self.dirs += 1,
            _ => self.others += 1,
        }
    }
}

/// The statistics block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffStats {
    /// Files whose content changed.
    pub changed_files: u64,
    /// What only the second tree has.
    pub added: DiffStat,
    /// What only the first tree has.
    pub removed: DiffStat,
}

type BlobSet = HashSet<(BlobType, Id)>;

struct Comparer<'a> {
    repo: &'a IndexedRepository,
    metadata: bool,
    each: &'a mut dyn FnMut(&[u8], &str),
    stats: DiffStats,
    before: BlobSet,
    after: BlobSet,
    common: BlobSet,
}

/// Compares the trees `before` and `after`, calling `each(path, marker)`
/// for every change in restic's order (directories' paths end in `/`),
/// and returns the statistics.
pub fn diff(
    repo: &IndexedRepository,
    before: &Id,
    after: &Id,
    metadata: bool,
    each: &mut dyn FnMut(&[u8], &str),
) -> Result<DiffStats> {
    let mut c = Comparer {
        repo,
        metadata,
        each,
        stats: DiffStats::default(),
        before: BlobSet::new(),
        after: BlobSet::new(),
        common: BlobSet::new(),
    };
    c.before.insert((BlobType::Tree, *before));
    c.after.insert((BlobType::Tree, *after));
    c.diff_tree(b"/", before, after)?;
    let removed: Vec<_> = c
        .before
        .iter()
        .filter(|b| !c.after.contains(b) && !c.common.contains(b))
        .copied()
        .collect();
    let added: Vec<_> = c
        .after
        .iter()
        .filter(|b| !c.before.contains(b) && !c.common.contains(b))
        .copied()
        .collect();
    let mut stats = c.stats;
    count_blobs(repo, &removed, &mut stats.removed);
    count_blobs(repo, &added, &mut stats.added);
    Ok(stats)
}

fn count_blobs(repo: &IndexedRepository, blobs: &[(BlobType, Id)], s: &mut DiffStat) {
    for (t, id) in blobs {
        match t {
            BlobType::Data => s.data_blobs += 1,
            BlobType::Tree => s.tree_blobs += 1,
        }
        // restic reports a missing blob and goes on; the count stays.
        if let Some(loc) = repo.index().get(*t, id) {
            s.bytes += loc.data_length();
        }
    }
}

fn add_blobs(set: &mut BlobSet, node: &Node) {
    match node.node_type {
        NodeType::File => {
            for id in node.content.iter().flatten() {
                set.insert((BlobType::Data, *id));
            }
        }
        NodeType::Dir => {
            if let Some(t) = node.subtree {
                set.insert((BlobType::Tree, t));
            }
        }
        _ => {}
    }
}

fn dir_path(prefix: &[u8], node: &Node) -> Vec<u8> {
    let mut p = join(prefix, &node.name);
    if node.node_type == NodeType::Dir {
        p.push(b'/');
    }
    p
}

impl Comparer<'_> {
    fn diff_tree(&mut self, prefix: &[u8], id1: &Id, id2: &Id) -> Result<()> {
        let t1 = self.repo.tree(id1)?;
        let t2 = self.repo.tree(id2)?;
        let (mut i, mut j) = (0, 0);
        while i < t1.nodes.len() || j < t2.nodes.len() {
            let n1 = t1.nodes.get(i);
            let n2 = t2.nodes.get(j);
            let (n1, n2) = match (n1, n2) {
                (Some(a), Some(b)) if a.name == b.name => {
                    i += 1;
                    j += 1;
                    (Some(a), Some(b))
                }
                (Some(a), Some(b)) if a.name < b.name => {
                    i += 1;
                    (Some(a), None)
                }
                (Some(_), Some(b)) => {
                    j += 1;
                    (None, Some(b))
                }
                (Some(a), None) => {
                    i += 1;
                    (Some(a), None)
                }
                (None, b) => {
                    j += 1;
                    (None, b)
                }
            };
            if let Some(a) = n1 {
                add_blobs(&mut self.before, a);
            }
            if let Some(b) = n2 {
                add_blobs(&mut self.after, b);
            }
            match (n1, n2) {
                (Some(a), Some(b)) => self.both(prefix, a, b)?,
                (Some(a), None) => {
                    let path = dir_path(prefix, a);
                    (self.each)(&path, "-");
                    self.stats.removed.add_node(a);
                    if let (NodeType::Dir, Some(sub)) = (&a.node_type, a.subtree) {
                        self.print_dir(&path, &sub, false)?;
                    }
                }
                (None, Some(b)) => {
                    let path = dir_path(prefix, b);
                    (self.each)(&path, "+");
                    self.stats.added.add_node(b);
                    if let (NodeType::Dir, Some(sub)) = (&b.node_type, b.subtree) {
                        self.print_dir(&path, &sub, true)?;
                    }
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// A name present on both sides.
    fn both(&mut self, prefix: &[u8], a: &Node, b: &Node) -> Result<()> {
        let path = dir_path(prefix, b);
        let mut marker = String::new();
        if a.node_type != b.node_type {
            marker.push('T');
        }
        if a.node_type == NodeType::File && b.node_type == NodeType::File && a.content != b.content
        {
            marker.push('M');
            self.stats.changed_files += 1;
        } else if self.metadata && a != b {
            marker.push('U');
        }
        if !marker.is_empty() {
            (self.each)(&path, &marker);
        }
        if let (NodeType::Dir, NodeType::Dir, Some(s1), Some(s2)) =
            (&a.node_type, &b.node_type, a.subtree, b.subtree)
        {
            if s1 == s2 {
                let mut common = std::mem::take(&mut self.common);
                let r = crate::commands::stats::used_blobs(self.repo, &s1, &mut common);
                self.common = common;
                r?;
            } else {
                self.diff_tree(&path, &s1, &s2)?;
            }
        }
        Ok(())
    }

    /// Everything below an added (`after`) or removed directory.
    fn print_dir(&mut self, prefix: &[u8], tree: &Id, after: bool) -> Result<()> {
        let t = self.repo.tree(tree)?;
        let marker = if after { "+" } else { "-" };
        for node in &t.nodes {
            let path = dir_path(prefix, node);
            (self.each)(&path, marker);
            if after {
                self.stats.added.add_node(node);
                add_blobs(&mut self.after, node);
            } else {
                self.stats.removed.add_node(node);
                add_blobs(&mut self.before, node);
            }
            if let (NodeType::Dir, Some(sub)) = (&node.node_type, node.subtree) {
                self.print_dir(&path, &sub, after)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node_json, tree_json, TestRepo};

    /// A repository with two root trees: before = {d/f(c1), g(c2)},
    /// after = {d/f(c3), h/(k(c2))}.
    #[test]
    fn markers_and_statistics() {
        let t = TestRepo::new(2);
        let (c1, c2, c3) = (b"one".to_vec(), b"two".to_vec(), b"three".to_vec());
        let (i1, i2, i3) = (Id::hash(&c1), Id::hash(&c2), Id::hash(&c3));
        let d1 = tree_json(&[node_json("f", "file", &[i1], None)]);
        let d2 = tree_json(&[node_json("f", "file", &[i3], None)]);
        let h = tree_json(&[node_json("k", "file", &[i2], None)]);
        let (d1i, d2i, hi) = (Id::hash(&d1), Id::hash(&d2), Id::hash(&h));
        let r1 = tree_json(&[
            node_json("d", "dir", &[], Some(d1i)),
            node_json("g", "file", &[i2], None),
        ]);
        let r2 = tree_json(&[
            node_json("d", "dir", &[], Some(d2i)),
            node_json("h", "dir", &[], Some(hi)),
        ]);
        let (r1i, r2i) = (Id::hash(&r1), Id::hash(&r2));
        let data = t.write_pack(
            &[
                (BlobType::Data, &c1),
                (BlobType::Data, &c2),
                (BlobType::Data, &c3),
            ],
            true,
        );
        let trees = t.write_pack(
            &[
                (BlobType::Tree, &d1),
                (BlobType::Tree, &d2),
                (BlobType::Tree, &h),
                (BlobType::Tree, &r1),
                (BlobType::Tree, &r2),
            ],
            true,
        );
        t.write_index(&[data, trees]);
        let repo = t.repo.clone().into_indexed().unwrap();
        let mut lines = Vec::new();
        let stats = diff(&repo, &r1i, &r2i, false, &mut |p, m| {
            lines.push(format!("{m} {}", String::from_utf8_lossy(p)))
        })
        .unwrap();
        assert_eq!(lines, ["M /d/f", "- /g", "+ /h/", "+ /h/k"]);
        assert_eq!(stats.changed_files, 1);
        assert_eq!((stats.added.files, stats.added.dirs), (1, 1));
        assert_eq!(stats.removed.files, 1);
        // c2 moved from /g to /h/k: no data blob counted for it.
        assert_eq!((stats.added.data_blobs, stats.removed.data_blobs), (1, 1));
        assert_eq!(
            stats.added.bytes,
            5 + (d2.len() + h.len() + r2.len()) as u64
        );
        assert_eq!((stats.added.tree_blobs, stats.removed.tree_blobs), (3, 2));

        let mut meta = Vec::new();
        diff(&repo, &r1i, &r2i, true, &mut |p, m| {
            meta.push(format!("{m} {}", String::from_utf8_lossy(p)))
        })
        .unwrap();
        assert_eq!(meta, ["U /d/", "M /d/f", "- /g", "+ /h/", "+ /h/k"]);
    }
}
