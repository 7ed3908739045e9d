//! The kinds of stored files and of blobs.

use std::fmt;

/// Every kind of file a repository stores, each in its own directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileType {
    /// The single `config` file.
    Config,
    /// `keys/`: password-wrapped master keys.
    Key,
    /// `snapshots/`.
    Snapshot,
    /// `index/`.
    Index,
    /// `locks/`.
    Lock,
    /// `data/XX/`: pack files.
    Pack,
}

impl FileType {
    /// The directory (or, for the config, file) name in restic's layout.
    pub fn dir_name(self) -> &'static str {
        match self {
            FileType::Config => "config",
            FileType::Key => "keys",
            FileType::Snapshot => "snapshots",
            FileType::Index => "index",
            FileType::Lock => "locks",
            FileType::Pack => "data",
        }
    }

    /// All types that live in a directory (everything but the config).
    pub const DIRS: [FileType; 5] = [
        FileType::Key,
        FileType::Snapshot,
        FileType::Index,
        FileType::Lock,
        FileType::Pack,
    ];
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            FileType::Config => "config",
            FileType::Key => "key",
            FileType::Snapshot => "snapshot",
            FileType::Index => "index",
            FileType::Lock => "lock",
            FileType::Pack => "pack",
        };
        f.write_str(s)
    }
}

/// The two kinds of blobs kept in packs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum BlobType {
    /// A chunk of file content.
    Data,
    /// A directory listing (tree JSON).
    Tree,
}

impl fmt::Display for BlobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlobType::Data => "data",
            BlobType::Tree => "tree",
        })
    }
}
