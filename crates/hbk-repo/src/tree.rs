//! Tree blobs: a directory's entries as JSON nodes.

use serde::{Deserialize, Serialize};

use crate::{goquote, serde_util, Error, GoTime, Id, Result};

/// A directory listing: nodes sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The entries.
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub nodes: Vec<Node>,
}

impl Tree {
    /// Parses a tree blob's plaintext.
    pub fn from_json(bytes: &[u8]) -> Result<Tree> {
        serde_json::from_slice(bytes).map_err(|e| Error::format("tree", e))
    }

    /// The tree blob's plaintext exactly as restic writes it: Go-style
    /// JSON of the nodes (which must be sorted by name) and a newline.
    pub fn to_go_json(&self) -> Result<Vec<u8>> {
        let mut out = crate::gojson::to_vec(self).map_err(|e| Error::serialize("tree", e))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Sorts the nodes by raw name bytes, as trees must be stored.
    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Finds a node by its raw name.
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// The kind of a node, by restic's names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NodeType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// A block device.
    Dev,
    /// A character device.
    CharDev,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// Something restic could not classify (0.17+).
    Irregular,
    /// A type this version does not know, kept by name.
    Other(String),
}

impl NodeType {
    /// restic's name for the type.
    pub fn as_str(&self) -> &str {
        match self {
            NodeType::File => "file",
            NodeType::Dir => "dir",
            NodeType::Symlink => "symlink",
            NodeType::Dev => "dev",
            NodeType::CharDev => "chardev",
            NodeType::Fifo => "fifo",
            NodeType::Socket => "socket",
            NodeType::Irregular => "irregular",
            NodeType::Other(s) => s,
        }
    }
}

impl From<String> for NodeType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "file" => NodeType::File,
            "dir" => NodeType::Dir,
            "symlink" => NodeType::Symlink,
            "dev" => NodeType::Dev,
            "chardev" => NodeType::CharDev,
            "fifo" => NodeType::Fifo,
            "socket" => NodeType::Socket,
            "irregular" => NodeType::Irregular,
            _ => NodeType::Other(s),
        }
    }
}

impl From<NodeType> for String {
    fn from(t: NodeType) -> String {
        t.as_str().to_string()
    }
}

impl Serialize for NodeType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NodeType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(NodeType::from)
    }
}

/// An extended attribute of a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedAttribute {
    /// The attribute's name, e.g. `user.comment`.
    pub name: String,
    /// Its raw value.
    #[serde(with = "serde_util::base64_bytes")]
    pub value: Vec<u8>,
}

/// One entry of a directory, with every field restic 0.14–0.19 writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The raw name bytes (stored Go-quoted).
    #[serde(with = "quoted_name")]
    pub name: Vec<u8>,
    /// The kind of entry.
    #[serde(rename = "type")]
    pub node_type: NodeType,
    /// Go `os.FileMode` bits (see [`crate::mode`]).
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub mode: u32,
    /// Modification time.
    #[serde(default)]
    pub mtime: GoTime,
    /// Access time.
    #[serde(default)]
    pub atime: GoTime,
    /// Status change time.
    #[serde(default)]
    pub ctime: GoTime,
    /// Owner uid.
    #[serde(default)]
    pub uid: u32,
    /// Owner gid.
    #[serde(default)]
    pub gid: u32,
    /// Owner name on the backup host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Group name on the backup host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Inode number.
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub inode: u64,
    /// `st_dev` of the filesystem holding the node.
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub device_id: u64,
    /// File size.
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub size: u64,
    /// Hard link count.
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub links: u64,
    /// Symlink target (lossy UTF-8).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub linktarget: String,
    /// Symlink target bytes when not UTF-8 (0.16+); wins over `linktarget`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "serde_util::base64_bytes"
    )]
    pub linktarget_raw: Vec<u8>,
    /// Extended attributes.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_util::null_default"
    )]
    pub extended_attributes: Vec<ExtendedAttribute>,
    /// Windows attributes (0.17+), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generic_attributes: Option<serde_json::Map<String, serde_json::Value>>,
    /// `st_rdev` for device nodes.
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub device: u64,
    /// Data blobs of a file, in order; `None` (JSON `null`) for other types.
    #[serde(default)]
    pub content: Option<Vec<Id>>,
    /// Tree of a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<Id>,
    /// An error met while reading the node's metadata at backup time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Node {
    /// A node with every optional field empty and Go's zero times; callers
    /// fill in what they know with struct update syntax.
    pub fn new(name: Vec<u8>, node_type: NodeType) -> Node {
        Node {
            name,
            node_type,
            mode: 0,
            mtime: GoTime::default(),
            atime: GoTime::default(),
            ctime: GoTime::default(),
            uid: 0,
            gid: 0,
            user: String::new(),
            group: String::new(),
            inode: 0,
            device_id: 0,
            size: 0,
            links: 0,
            linktarget: String::new(),
            linktarget_raw: Vec::new(),
            extended_attributes: Vec::new(),
            generic_attributes: None,
            device: 0,
            content: None,
            subtree: None,
            error: String::new(),
            extra: Default::default(),
        }
    }

    /// The symlink target as bytes, preferring `linktarget_raw`.
    pub fn link_target(&self) -> &[u8] {
        if self.linktarget_raw.is_empty() {
            self.linktarget.as_bytes()
        } else {
            &self.linktarget_raw
        }
    }

    /// The name for display (invalid UTF-8 replaced).
    pub fn display_name(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

mod quoted_name {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::goquote::quote(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s: std::borrow::Cow<'de, str> = Deserialize::deserialize(d)?;
        super::goquote::unquote(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three nodes as restic writes them, plus an unknown type and field.
    const RESTIC_TREE: &str = r#"{"nodes":[{"name":"bad\\xffname","type":"file","mode":420,"mtime":"2026-11-26T23:42:39.94494334Z","atime":"2026-11-26T23:42:39.94494334Z","ctime":"2026-11-26T23:42:39.94494334Z","uid":0,"gid":0,"user":"root","inode":5,"device_id":64,"size":3,"links":2,"content":["2e2dd0f5092d28b34699d3b1b58ba25fb07c687cf4bfce29b571e0da503e49d0"]},{"name":"l","type":"symlink","mode":134218239,"mtime":"2026-11-26T23:42:39Z","atime":"2026-11-26T23:42:39Z","ctime":"2026-11-26T23:42:39Z","uid":0,"gid":0,"linktarget":"x","linktarget_raw":"/w==","content":null},{"name":"s","type":"weird","mtime":"2026-11-26T23:42:39Z","atime":"2026-11-26T23:42:39Z","ctime":"2026-11-26T23:42:39Z","uid":0,"gid":0,"content":null,"new_field":true}]}"#;

    #[test]
    fn parses_restic_nodes() {
        let t = Tree::from_json(RESTIC_TREE.as_bytes()).unwrap();
        assert_eq!(t.nodes[0].name, b"bad\xffname");
        assert_eq!(t.nodes[0].content.as_ref().unwrap().len(), 1);
        assert_eq!(t.nodes[1].link_target(), b"\xff");
        assert_eq!(t.nodes[2].node_type, NodeType::Other("weird".into()));
        assert_eq!(t.nodes[2].extra["new_field"], true);
        let again = serde_json::to_string(&t).unwrap();
        assert_eq!(Tree::from_json(again.as_bytes()).unwrap(), t);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Tree::from_json(&data);
        }

        /// A real tree with a few edits: an error or a tree that serializes
        /// again, never a panic.
        #[test]
        fn mutated_trees_never_panic(edits in crate::fuzz::edits(6)) {
            let bytes = crate::fuzz::apply(RESTIC_TREE.as_bytes(), &edits);
            if let Ok(t) = Tree::from_json(&bytes) {
                let _ = t.to_go_json();
                for n in &t.nodes {
                    let _ = (n.link_target(), n.display_name());
                }
            }
        }
    }
}
