//! `dump`: a file of a snapshot to a writer, or a directory as a tar
//! stream, as restic 0.14 writes it.
//!
//! Tar entries are named by their path in the snapshot without the
//! leading `/` (`src/a/f`), directories with a trailing `/`; the dumped
//! directory itself has no entry. Mode bits, owner ids and names and the
//! modification time are kept; extended attributes are not written.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use hbk_repo::{mode, BlobType, Id, IndexedRepository, Node, NodeType};

use crate::walk::{join, resolve_path, walk_tree, Visit};
use crate::{Error, Result};

/// What a path in a snapshot names.
#[derive(Debug, Clone)]
pub enum DumpItem {
    /// A directory, by its tree; dumped as tar.
    Dir(Id),
    /// Anything else; a file's content is dumped.
    Node(Box<Node>),
}

/// Finds `path` below the tree `root`; `snapshot` names the snapshot in
/// the error when nothing is there.
pub fn locate(repo: &IndexedRepository, root: &Id, path: &str, snapshot: &str) -> Result<DumpItem> {
    Ok(match resolve_path(repo, root, path.as_bytes(), snapshot)? {
        (_, Some(node)) => DumpItem::Node(Box::new(node)),
        (tree, None) => DumpItem::Dir(tree),
    })
}

/// Reads a file node's content blob by blob, yielding exactly
/// `node.size` bytes (zero-filled or cut if the blobs disagree, so a tar
/// stays well-formed).
pub struct ContentReader<'a> {
    repo: &'a IndexedRepository,
    blobs: std::slice::Iter<'a, Id>,
    buf: Vec<u8>,
    pos: usize,
    left: u64,
}

impl<'a> ContentReader<'a> {
    /// A reader over `node`'s content.
    pub fn new(repo: &'a IndexedRepository, node: &'a Node) -> Self {
        let blobs = match &node.content {
            Some(c) => c.iter(),
            None => [].iter(),
        };
        ContentReader {
            repo,
            blobs,
            buf: Vec::new(),
            pos: 0,
            left: node.size,
        }
    }
}

impl Read for ContentReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.buf.len() {
            match self.blobs.next() {
                Some(id) => {
                    self.buf = self
                        .repo
                        .blob(BlobType::Data, id)
                        .map_err(std::io::Error::other)?;
                    self.pos = 0;
                }
                None => {
                    // Fewer bytes stored than the node's size: zeros.
                    let n = out.len().min(self.left.min(usize::MAX as u64) as usize);
                    out[..n].fill(0);
                    self.left -= n as u64;
                    return Ok(n);
                }
            }
        }
        let avail = &self.buf[self.pos..];
        let n = avail
            .len()
            .min(out.len())
            .min(self.left.min(usize::MAX as u64) as usize);
        out[..n].copy_from_slice(&avail[..n]);
        self.pos += n;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Writes a file node's content to `out` (nothing for other nodes).
pub fn write_node(repo: &IndexedRepository, node: &Node, out: &mut dyn Write) -> Result<()> {
    if node.node_type != NodeType::File {
        return Ok(());
    }
    for id in node.content.iter().flatten() {
        let data = repo.blob(BlobType::Data, id)?;
        out.write_all(&data).map_err(|e| Error::io("stdout", e))?;
    }
    Ok(())
}

/// Writes everything below the tree `tree`, whose path in the snapshot
/// is `prefix` (e.g. `b"/src"`), as a tar stream to `out`.
pub fn write_tar<W: Write>(
    repo: &IndexedRepository,
    tree: &Id,
    prefix: &[u8],
    out: W,
) -> Result<()> {
    let io_err = |e: std::io::Error| Error::io("tar stream", e);
    let mut ar = tar::Builder::new(out);
    walk_tree(repo, tree, prefix, &mut |path, node| {
        append(repo, &mut ar, path, node).map_err(io_err)?;
        Ok(Visit::Descend)
    })?;
    ar.finish().map_err(io_err)?;
    Ok(())
}

fn append<W: Write>(
    repo: &IndexedRepository,
    ar: &mut tar::Builder<W>,
    path: &[u8],
    node: &Node,
) -> std::io::Result<()> {
    let rel = path.strip_prefix(b"/").unwrap_or(path);
    let mut h = tar::Header::new_gnu();
    h.set_mode(mode::unix_permissions(node.mode) & 0o7777);
    h.set_uid(u64::from(node.uid));
    h.set_gid(u64::from(node.gid));
    // Whole seconds, rounded as restic's tar writer rounds them.
    h.set_mtime(node.mtime.unix_seconds_rounded().max(0) as u64);
    // Names that do not fit the header are left out, as an unknown owner.
    let _ = h.set_username(&node.user);
    let _ = h.set_groupname(&node.group);
    h.set_size(0);
    match node.node_type {
        NodeType::Dir => {
            h.set_entry_type(tar::EntryType::Directory);
            let mut name = rel.to_vec();
            name.push(b'/');
            ar.append_data(
                &mut h,
                Path::new(OsStr::from_bytes(&name)),
                std::io::empty(),
            )
        }
        NodeType::Symlink => {
            h.set_entry_type(tar::EntryType::Symlink);
            ar.append_link(
                &mut h,
                Path::new(OsStr::from_bytes(rel)),
                Path::new(OsStr::from_bytes(node.link_target())),
            )
        }
        NodeType::File => {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(node.size);
            let reader = ContentReader::new(repo, node);
            ar.append_data(&mut h, Path::new(OsStr::from_bytes(rel)), reader)
        }
        _ => {
            h.set_entry_type(tar::EntryType::Regular);
            ar.append_data(&mut h, Path::new(OsStr::from_bytes(rel)), std::io::empty())
        }
    }
}

/// The path of a dumped directory in the snapshot: `/` joined with the
/// cleaned `path`.
pub fn snapshot_path(path: &str) -> Vec<u8> {
    path.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .fold(b"/".to_vec(), |acc, p| join(&acc, p.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Whatever size a node claims, the reader yields exactly that
        /// many bytes: the stored content, then zeros (a tar entry stays
        /// well-formed even for a node that lies about its size).
        #[test]
        fn content_reader_yields_the_node_size(size in 0u64..12_000, buf in 1usize..9000) {
            let s = sample(1);
            let repo = s.t.repo.clone().into_indexed().unwrap();
            let mut node = Node::new(b"f".to_vec(), NodeType::File);
            node.content = Some(s.chunks.to_vec());
            node.size = size;
            let mut r = ContentReader::new(&repo, &node);
            let mut got = Vec::new();
            let mut chunk = vec![0u8; buf];
            loop {
                let n = r.read(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            let stored: Vec<u8> = (0..5000u32)
                .map(|i| (i % 251) as u8)
                .chain(b"the second chunk of the file".iter().copied())
                .collect();
            proptest::prop_assert_eq!(got.len() as u64, size);
            let k = got.len().min(stored.len());
            proptest::prop_assert_eq!(&got[..k], &stored[..k]);
            proptest::prop_assert!(got[k..].iter().all(|b| *b == 0));
        }
    }

    #[test]
    fn file_and_directory() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let want: Vec<u8> = (0..5000u32)
            .map(|i| (i % 251) as u8)
            .chain(b"the second chunk of the file".iter().copied())
            .collect();
        let DumpItem::Node(node) = locate(&repo, &s.root, "/d/f", "x").unwrap() else {
            panic!("d/f is a file")
        };
        let mut out = Vec::new();
        write_node(&repo, &node, &mut out).unwrap();
        assert_eq!(out, want);

        let DumpItem::Dir(tree) = locate(&repo, &s.root, "d", "x").unwrap() else {
            panic!("d is a directory")
        };
        assert_eq!(tree, s.subtree);
        let mut tar_bytes = Vec::new();
        write_tar(&repo, &s.root, b"/", &mut tar_bytes).unwrap();
        let mut ar = tar::Archive::new(&tar_bytes[..]);
        let mut names = Vec::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            names.push(e.path().unwrap().display().to_string());
            if e.header().entry_type() == tar::EntryType::Regular {
                // The sample's node records size 0: the entry is empty.
                let mut body = Vec::new();
                e.read_to_end(&mut body).unwrap();
                assert_eq!(body.len() as u64, node.size);
            }
        }
        assert_eq!(names, ["d/", "d/f"]);
        assert!(locate(&repo, &s.root, "/nope", "x").is_err());
        assert_eq!(snapshot_path("./a//b/"), b"/a/b");
    }
}
