//! `find`: nodes of snapshots whose path matches restic patterns, and
//! restic's modification-time bounds.
//!
//! A pattern is matched against the node's whole path with the rules of
//! [`crate::filter::Pattern`]: a pattern without `/` matches a name at
//! any depth, and a match on a directory also matches everything below
//! it. Directories below which no pattern can match are not read.
//!
//! [`find_ids`] instead looks for blobs (in files' contents) and trees (as
//! directories' subtrees) by full id or 8-digit short id, as restic's
//! `--blob`, `--tree` and `--pack`.

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone};
use std::collections::HashSet;

use hbk_repo::{BlobType, FileType, Id, IndexedRepository, Node, NodeType};

use crate::filter::Pattern;
use crate::walk::{walk_tree, Visit};
use crate::{Error, Result};

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct FindOptions {
    /// Patterns; a node matching any of them is reported.
    pub patterns: Vec<String>,
    /// Compare lower-cased paths with lower-cased patterns.
    pub ignore_case: bool,
    /// Skip nodes modified before this.
    pub oldest: Option<DateTime<FixedOffset>>,
    /// Skip nodes modified after this.
    pub newest: Option<DateTime<FixedOffset>>,
}

/// Compiled [`FindOptions`].
#[derive(Debug, Clone)]
pub struct Finder {
    patterns: Vec<Pattern>,
    opts: FindOptions,
}

impl Finder {
    /// Compiles the patterns (lower-cased with `ignore_case`).
    pub fn new(opts: FindOptions) -> Result<Finder> {
        if opts.patterns.is_empty() {
            return Err(Error::invalid("patterns", "wrong number of arguments"));
        }
        let patterns = opts
            .patterns
            .iter()
            .map(|p| {
                if opts.ignore_case {
                    Pattern::new(&p.to_lowercase())
                } else {
                    Pattern::new(p)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Finder { patterns, opts })
    }

    /// Calls `each(path, node)` for every matching node below `root`, in
    /// tree order.
    pub fn find(
        &self,
        repo: &IndexedRepository,
        root: &Id,
        each: &mut dyn FnMut(&[u8], &Node),
    ) -> Result<()> {
        walk_tree(repo, root, b"/", &mut |path, node| {
            let (matched, child) = self.decide(path);
            let descend_anyway = node.node_type == NodeType::Dir && child;
            if matched && self.in_time(node) {
                each(path, node);
                return Ok(Visit::Descend);
            }
            Ok(if descend_anyway {
                Visit::Descend
            } else {
                Visit::Skip
            })
        })
    }

    /// Whether `path` matches, and whether something below it may.
    fn decide(&self, path: &[u8]) -> (bool, bool) {
        let lowered;
        let path = if self.opts.ignore_case {
            lowered = lower(path);
            &lowered[..]
        } else {
            path
        };
        let mut child = false;
        for p in &self.patterns {
            let (m, c) = p.matches(path);
            if m {
                return (true, true);
            }
            child |= c;
        }
        (false, child)
    }

    fn in_time(&self, node: &Node) -> bool {
        let t = node.mtime.0;
        !(self.opts.oldest.is_some_and(|o| t < o) || self.opts.newest.is_some_and(|n| t > n))
    }
}

/// Ids to look for, as given: full (64 digits) or short (8 digits).
#[derive(Debug, Clone, Default)]
pub struct IdSet(HashSet<String>);

impl IdSet {
    /// The set of `ids`.
    pub fn new<I: IntoIterator<Item = String>>(ids: I) -> IdSet {
        IdSet(ids.into_iter().collect())
    }

    /// Whether `id` is in the set by its full or short form.
    pub fn contains(&self, id: &Id) -> bool {
        self.0.contains(&id.to_hex()) || self.0.contains(&id.short())
    }

    /// How many ids were given.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no id was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An object found by [`find_ids`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundObject {
    /// Blob (data) or tree.
    pub kind: BlobType,
    /// Its id.
    pub id: Id,
    /// The file holding the blob, or the directory whose tree it is.
    pub path: Vec<u8>,
    /// For blobs: the tree listing the file.
    pub parent_tree: Option<Id>,
}

/// State of an id search over several snapshots.
#[derive(Debug, Default)]
pub struct IdSearch {
    /// Data blobs to find.
    pub blobs: IdSet,
    /// Trees to find.
    pub trees: IdSet,
    /// Trees found so far; when only trees are searched and all were
    /// found, the walk of a snapshot stops at its next find (as restic).
    pub trees_found: usize,
}

/// Calls `each` for every occurrence of a searched blob or tree below
/// `root` (the root tree itself is not an occurrence).
pub fn find_ids(
    repo: &IndexedRepository,
    root: &Id,
    search: &mut IdSearch,
    each: &mut dyn FnMut(FoundObject),
) -> Result<()> {
    walk_ids(repo, root, b"/", search, each).map(|_| ())
}

/// Returns `true` when the search is done for this snapshot.
fn walk_ids(
    repo: &IndexedRepository,
    tree_id: &Id,
    prefix: &[u8],
    search: &mut IdSearch,
    each: &mut dyn FnMut(FoundObject),
) -> Result<bool> {
    let tree = repo.tree(tree_id)?;
    for node in &tree.nodes {
        let path = crate::walk::join(prefix, &node.name);
        match (&node.node_type, node.subtree) {
            (NodeType::Dir, Some(sub)) => {
                if search.trees.contains(&sub) {
                    each(FoundObject {
                        kind: BlobType::Tree,
                        id: sub,
                        path: path.clone(),
                        parent_tree: None,
                    });
                    search.trees_found += 1;
                    if search.trees_found >= search.trees.len() && search.blobs.is_empty() {
                        return Ok(true);
                    }
                }
                if walk_ids(repo, &sub, &path, search, each)? {
                    return Ok(true);
                }
            }
            (NodeType::File, _) if !search.blobs.is_empty() => {
                for id in node.content.iter().flatten() {
                    if search.blobs.contains(id) {
                        each(FoundObject {
                            kind: BlobType::Data,
                            id: *id,
                            path: path.clone(),
                            parent_tree: Some(*tree_id),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(false)
}

/// The ids of the blobs in the packs named (full or short id) by
/// `packs`, read from the pack headers, or from the index for packs that
/// are gone. Fails naming the packs found nowhere.
pub fn pack_blobs(repo: &IndexedRepository, packs: &[String]) -> Result<Vec<Id>> {
    let wanted = IdSet::new(packs.iter().cloned());
    let mut left: HashSet<&String> = packs.iter().collect();
    let mut blobs = Vec::new();
    for (id, size) in repo.list(FileType::Pack)? {
        if !wanted.contains(&id) {
            continue;
        }
        left.remove(&id.to_hex());
        left.remove(&id.short());
        blobs.extend(repo.pack_header(&id, size)?.into_iter().map(|b| b.id));
    }
    if !left.is_empty() {
        for (_, file) in repo.index_files()? {
            for p in file.packs {
                if left.contains(&p.id.to_hex()) || left.contains(&p.id.short()) {
                    left.remove(&p.id.to_hex());
                    left.remove(&p.id.short());
                    blobs.extend(p.blobs.iter().map(|b| b.id));
                }
            }
        }
    }
    if !left.is_empty() {
        let mut list: Vec<&str> = left.iter().map(|s| s.as_str()).collect();
        list.sort();
        return Err(Error::invalid(
            "pack",
            format!("unable to find pack(s): [{}]", list.join(" ")),
        ));
    }
    Ok(blobs)
}

/// Lower case as Go's `strings.ToLower` (Unicode for valid UTF-8).
fn lower(path: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(path) {
        Ok(s) => s.to_lowercase().into_bytes(),
        Err(_) => path.to_ascii_lowercase(),
    }
}

/// Parses restic's `--oldest`/`--newest` forms (`2006-01-02`,
/// `2006-01-02 15:04[:05][ -0700]`, `02.01.2006[ 15:04[:05]]`); times
/// without a zone are local.
pub fn parse_time(s: &str) -> Result<DateTime<FixedOffset>> {
    let s = s.trim();
    for f in ["%Y-%m-%d %H:%M:%S %z", "%d.%m.%Y %H:%M:%S %z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t);
        }
    }
    let local = |n: NaiveDateTime| {
        Local
            .from_local_datetime(&n)
            .earliest()
            .map(|t| t.fixed_offset())
    };
    for f in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ] {
        if let Some(t) = NaiveDateTime::parse_from_str(s, f).ok().and_then(local) {
            return Ok(t);
        }
    }
    for f in ["%Y-%m-%d", "%d.%m.%Y"] {
        if let Some(t) = NaiveDate::parse_from_str(s, f)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .and_then(local)
        {
            return Ok(t);
        }
    }
    Err(Error::invalid(
        "time",
        format!("unable to parse time: {s:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample;

    fn found(opts: FindOptions) -> Vec<String> {
        let s = sample(1);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let mut out = Vec::new();
        Finder::new(opts)
            .unwrap()
            .find(&repo, &s.root, &mut |p, _| {
                out.push(String::from_utf8_lossy(p).into_owned())
            })
            .unwrap();
        out
    }

    fn pats(p: &[&str]) -> FindOptions {
        FindOptions {
            patterns: p.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_paths_and_case() {
        assert_eq!(found(pats(&["f"])), ["/d/f"]);
        // A directory match includes what is below it.
        assert_eq!(found(pats(&["d"])), ["/d", "/d/f"]);
        assert_eq!(found(pats(&["/d/*"])), ["/d/f"]);
        assert!(found(pats(&["F"])).is_empty());
        let mut o = pats(&["F"]);
        o.ignore_case = true;
        assert_eq!(found(o), ["/d/f"]);
        assert!(found(pats(&["x", "/f"])).is_empty());
    }

    #[test]
    fn time_bounds() {
        // The sample's nodes are from 2024-05-01.
        let mut o = pats(&["f"]);
        o.oldest = Some(parse_time("2024-05-02 00:00:00 +0000").unwrap());
        assert!(found(o.clone()).is_empty());
        o.oldest = None;
        o.newest = Some(parse_time("2024-05-02").unwrap());
        assert_eq!(found(o), ["/d/f"]);
    }

    #[test]
    fn blobs_and_trees_by_id() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let mut search = IdSearch {
            blobs: IdSet::new([s.chunks[1].short()]),
            trees: IdSet::new([s.subtree.to_hex(), s.root.to_hex()]),
            trees_found: 0,
        };
        let mut found = Vec::new();
        find_ids(&repo, &s.root, &mut search, &mut |o| found.push(o)).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].kind, found[0].id), (BlobType::Tree, s.subtree));
        assert_eq!(found[0].path, b"/d");
        assert_eq!(found[1].id, s.chunks[1]);
        assert_eq!(found[1].parent_tree, Some(s.subtree));
        assert_eq!(found[1].path, b"/d/f");

        let blobs = pack_blobs(&repo, &[s.data_pack.id.short()]).unwrap();
        assert_eq!(blobs, s.chunks);
        assert!(pack_blobs(&repo, &["00000000".into()]).is_err());
    }

    #[test]
    fn time_forms() {
        for s in [
            "2024-05-01",
            "2024-05-01 10:00",
            "01.05.2024 10:00:00",
            "2024-05-01 10:00:00 +0200",
        ] {
            assert!(parse_time(s).is_ok(), "{s}");
        }
        assert!(parse_time("yesterday").is_err());
        assert!(Finder::new(FindOptions::default()).is_err());
    }
}
