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

#[cfg(test)]
mod tests {
    use super::*;

    /// A lock as restic writes it.
    const LOCK: &str = r#"{"time":"2026-11-26T23:42:46.796491138+01:00","exclusive":true,"hostname":"h","username":"u","pid":4242,"uid":1000,"gid":1000}"#;

    #[test]
    fn restic_lock_round_trips() {
        let l = LockFile::from_json(LOCK.as_bytes()).unwrap();
        assert!(l.exclusive);
        assert_eq!(l.to_json().unwrap(), LOCK.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = LockFile::from_json(&data);
        }

        #[test]
        fn mutated_locks_never_panic(edits in crate::fuzz::edits(6)) {
            let bytes = crate::fuzz::apply(LOCK.as_bytes(), &edits);
            if let Ok(l) = LockFile::from_json(&bytes) {
                let _ = l.to_json();
            }
        }
    }
}
