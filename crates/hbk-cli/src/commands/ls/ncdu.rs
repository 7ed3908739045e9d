//! `ls --ncdu`: a snapshot's tree in the export format of the ncdu disk
//! usage viewer (version 1.2), as restic 0.17+ writes it, so that
//! `hbk ls --ncdu latest | ncdu -f -` browses a snapshot's sizes.
//!
//! The format nests each directory as an array whose first element
//! describes it; entries arrive depth first, so a directory is closed
//! when the next entry is not below it.

use std::io::{self, Write};

use hbk_repo::mode::{MODE_SETGID, MODE_SETUID, MODE_STICKY};
use hbk_repo::{Node, NodeType};
use serde_json::json;

/// Writes the export as entries arrive.
pub struct NcduWriter<W: Write> {
    out: W,
    /// The paths of the directories open now, outermost first.
    open: Vec<Vec<u8>>,
}

/// The directory holding `path` (`/` for top-level entries).
fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|b| *b == b'/') {
        Some(0) | None => b"/",
        Some(at) => &path[..at],
    }
}

/// ncdu's description of one node.
fn entry(node: &Node) -> serde_json::Value {
    let size = if node.node_type == NodeType::File {
        node.size
    } else {
        0
    };
    let mut mode = node.mode & 0o777;
    for (go, unix) in [
        (MODE_SETUID, 0o4000),
        (MODE_SETGID, 0o2000),
        (MODE_STICKY, 0o1000),
    ] {
        if node.mode & go != 0 {
            mode |= unix;
        }
    }
    json!({
        "name": String::from_utf8_lossy(&node.name),
        "asize": size,
        "dsize": size.div_ceil(512) * 512,
        "dev": node.device_id,
        "ino": node.inode,
        "nlink": node.links,
        "notreg": !matches!(node.node_type, NodeType::File | NodeType::Dir),
        "uid": node.uid,
        "gid": node.gid,
        "mode": mode,
        "mtime": node.mtime.unix_seconds().max(0),
    })
}

impl<W: Write> NcduWriter<W> {
    /// Starts the export of a snapshot described by `snapshot`.
    pub fn start(mut out: W, snapshot: &serde_json::Value) -> io::Result<NcduWriter<W>> {
        write!(out, "[1, 2, {snapshot}, [{{\"name\":\"/\"}}")?;
        Ok(NcduWriter {
            out,
            open: Vec::new(),
        })
    }

    fn indent(&self, extra: usize) -> String {
        "  ".repeat(self.open.len() + 1 + extra)
    }

    /// Adds the node at `path` (entries come depth first, a directory
    /// before what it holds).
    pub fn node(&mut self, path: &[u8], node: &Node) -> io::Result<()> {
        let up = parent(path);
        while self.open.last().is_some_and(|dir| dir.as_slice() != up) {
            self.open.pop();
            write!(self.out, "\n{}]", self.indent(0))?;
        }
        let described = entry(node);
        if node.node_type == NodeType::Dir {
            write!(
                self.out,
                ",\n{}[\n{}{described}",
                self.indent(0),
                self.indent(1)
            )?;
            self.open.push(path.to_vec());
        } else {
            write!(self.out, ",\n{}{described}", self.indent(0))?;
        }
        Ok(())
    }

    /// Closes every open directory and the export.
    pub fn finish(mut self) -> io::Result<W> {
        while self.open.pop().is_some() {
            write!(self.out, "\n{}]", self.indent(0))?;
        }
        write!(self.out, "\n]\n]\n")?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, t: NodeType, size: u64) -> Node {
        Node {
            size,
            ..Node::new(name.as_bytes().to_vec(), t)
        }
    }

    #[test]
    fn nesting_follows_the_paths() {
        let mut w = NcduWriter::start(Vec::new(), &json!({"hostname": "h"})).unwrap();
        w.node(b"/a", &node("a", NodeType::Dir, 0)).unwrap();
        w.node(b"/a/f", &node("f", NodeType::File, 600)).unwrap();
        w.node(b"/a/b", &node("b", NodeType::Dir, 0)).unwrap();
        w.node(b"/a/b/g", &node("g", NodeType::Symlink, 9)).unwrap();
        w.node(b"/top", &node("top", NodeType::File, 1)).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0], 1);
        assert_eq!(v[2]["hostname"], "h");
        let root = &v[3];
        assert_eq!(root[0]["name"], "/");
        assert_eq!(root[1][0]["name"], "a");
        assert_eq!(root[1][1]["name"], "f");
        assert_eq!(root[1][1]["dsize"], 1024);
        assert_eq!(root[1][2][0]["name"], "b");
        assert_eq!(root[1][2][1]["notreg"], true);
        assert_eq!(root[1][2][1]["asize"], 0);
        assert_eq!(root[2]["name"], "top");
        assert_eq!(root.as_array().unwrap().len(), 3);
    }
}
