//! What restore keeps of a snapshot node: only what it creates and
//! applies, so a plan of millions of files stays small (a full [`Node`]
//! carries names, user and group names, inode numbers and maps restore
//! never reads).

use filetime::FileTime;
use hbk_repo::{ExtendedAttribute, GoTime, Id, Node, NodeType};

/// A node to restore.
pub struct RestoreNode {
    /// File, directory, symlink, …
    pub kind: NodeType,
    /// restic's mode bits (Go's `os.FileMode`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Final size of a regular file.
    pub size: u64,
    /// Access time.
    pub atime: FileTime,
    /// Modification time.
    pub mtime: FileTime,
    /// Number of content blobs of a regular file.
    pub blobs: usize,
    /// The content blob ids, kept only when the restore is verified.
    pub content: Box<[Id]>,
    /// What few nodes have: link target, device number, xattrs.
    pub rare: Option<Box<Rare>>,
}

/// The parts of a node most nodes lack.
#[derive(Default)]
pub struct Rare {
    /// A symlink's target.
    pub link_target: Vec<u8>,
    /// A device's number.
    pub device: u64,
    /// Extended attributes.
    pub xattrs: Vec<ExtendedAttribute>,
}

fn file_time(t: &GoTime) -> FileTime {
    FileTime::from_unix_time(t.unix_seconds(), t.nanos())
}

impl RestoreNode {
    /// Keeps what restore needs of `node`; its content ids only when
    /// `keep_content` (for verifying).
    pub fn new(node: Node, keep_content: bool) -> RestoreNode {
        let link_target = node.link_target().to_vec();
        let rare =
            (!link_target.is_empty() || node.device != 0 || !node.extended_attributes.is_empty())
                .then(|| {
                    Box::new(Rare {
                        link_target,
                        device: node.device,
                        xattrs: node.extended_attributes,
                    })
                });
        let content = node.content.unwrap_or_default();
        RestoreNode {
            kind: node.node_type,
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            size: node.size,
            atime: file_time(&node.atime),
            mtime: file_time(&node.mtime),
            blobs: content.len(),
            content: if keep_content {
                content.into_boxed_slice()
            } else {
                Box::default()
            },
            rare,
        }
    }

    /// A symlink's target (empty for other nodes).
    pub fn link_target(&self) -> &[u8] {
        self.rare.as_ref().map_or(&[], |r| &r.link_target)
    }

    /// A device's number (0 for other nodes).
    pub fn device(&self) -> u64 {
        self.rare.as_ref().map_or(0, |r| r.device)
    }

    /// Extended attributes to set.
    pub fn xattrs(&self) -> &[ExtendedAttribute] {
        self.rare.as_ref().map_or(&[], |r| &r.xattrs)
    }
}
