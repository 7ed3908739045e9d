//! Lock files (`locks/<id>`): who is using the repository, and how.

use serde::{Deserialize, Serialize};

use crate::{serde_util, Error, GoTime, Result};

/// A lock as restic writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockFile {
    /// When the lock was created or last refreshed.
    pub time: GoTime,
    /// Exclusive (prune, check, …) or shared (backup, restore, …).
    #[serde(default)]
    pub exclusive: bool,
    /// Host of the holder.
    #[serde(default)]
    pub hostname: String,
    /// User of the holder.
    #[serde(default)]
    pub username: String,
    /// Process id of the holder.
    #[serde(default)]
    pub pid: i64,
    /// User id of the holder (0 omitted).
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub uid: u32,
    /// Group id of the holder (0 omitted).
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub gid: u32,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl LockFile {
    /// Parses a lock document.
    pub fn from_json(bytes: &[u8]) -> Result<LockFile> {
        serde_json::from_slice(bytes).map_err(|e| Error::format("lock", e))
    }

    /// The document to store.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::serialize("lock", e))
    }
}
