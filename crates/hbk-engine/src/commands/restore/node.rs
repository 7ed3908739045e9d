//! What restore keeps of a snapshot node: only what it creates and
//! applies, so a plan of millions of files stays small (a full [`Node`]
//! carries names, user and group names, inode numbers and maps restore
//! never reads).

use filetime::FileTime;
use hbk_repo::{ExtendedAttribute, Id, Node, NodeType};

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
    /// Access and modification time: seconds since the epoch…
    seconds: [i64; 2],
    /// …and nanoseconds.
    nanos: [u32; 2],
    /// Number of content blobs of a regular file.
    pub blobs: u32,
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

impl RestoreNode {
    /// Keeps what restore needs of `node` and hands back its content ids
    /// (planned by the caller, counted here).
    pub fn new(mut node: Node) -> (RestoreNode, Vec<Id>) {
        let content = node.content.take().unwrap_or_default();
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
        let restore = RestoreNode {
            kind: node.node_type,
            mode: node.mode,
            uid: node.uid,
            gid: node.gid,
            size: node.size,
            seconds: [node.atime.unix_seconds(), node.mtime.unix_seconds()],
            nanos: [node.atime.nanos(), node.mtime.nanos()],
            blobs: u32::try_from(content.len()).unwrap_or(u32::MAX),
            rare,
        };
        (restore, content)
    }

    /// Access time.
    pub fn atime(&self) -> FileTime {
        FileTime::from_unix_time(self.seconds[0], self.nanos[0])
    }

    /// Modification time.
    pub fn mtime(&self) -> FileTime {
        FileTime::from_unix_time(self.seconds[1], self.nanos[1])
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
