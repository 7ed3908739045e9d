//! What `check` found wrong, typed: which object, what kind of fault, and
//! the message restic's wording gives it. Front ends print the message;
//! tools that act on findings (healing a damaged pack from a healthy copy,
//! alerting) match on the object and the kind.

use std::fmt;

use hbk_repo::Id;

/// The stored object a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckedObject {
    /// A key file.
    Key(Id),
    /// An index file.
    Index(Id),
    /// A pack file.
    Pack(Id),
    /// A snapshot file.
    Snapshot(Id),
    /// A tree blob.
    Tree(Id),
}

/// What kind of fault a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// The object cannot be read or decoded.
    Unreadable,
    /// The object, or something it refers to, does not exist.
    Missing,
    /// The stored file has another size than the index says.
    SizeMismatch,
    /// The stored bytes do not hash to the object's id.
    HashMismatch,
    /// The index and the pack (or two index entries) disagree.
    IndexMismatch,
    /// A blob inside a pack fails to decrypt, decompress or verify.
    DamagedBlob,
    /// A tree or snapshot holds an invalid reference or node.
    InvalidTree,
}

/// One problem `check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFinding {
    /// The object at fault.
    pub object: CheckedObject,
    /// The kind of fault.
    pub kind: FindingKind,
    /// The message, as `hbk check` prints it.
    pub message: String,
}

impl CheckFinding {
    /// A finding about `object`.
    pub fn new(object: CheckedObject, kind: FindingKind, message: String) -> CheckFinding {
        CheckFinding {
            object,
            kind,
            message,
        }
    }

    /// The pack at fault, when the finding is about a pack.
    pub fn pack(&self) -> Option<&Id> {
        match &self.object {
            CheckedObject::Pack(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for CheckFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
