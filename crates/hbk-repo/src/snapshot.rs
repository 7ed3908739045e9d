//! Snapshot files (`snapshots/<id>`).

use serde::{Deserialize, Serialize};

use crate::{serde_util, Error, GoTime, Id, Result};

/// A snapshot: when, what and from where, plus the root tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFile {
    /// When the backup started, in the backup host's local zone.
    pub time: GoTime,
    /// The snapshot used for change detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    /// Root tree blob.
    pub tree: Id,
    /// Backup targets as given (absolute, sorted).
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub paths: Vec<String>,
    /// Backup host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Backup user.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// Backup user's uid (0 is omitted).
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub uid: u32,
    /// Backup user's gid (0 is omitted).
    #[serde(default, skip_serializing_if = "serde_util::is_zero")]
    pub gid: u32,
    /// Exclude patterns used.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_util::null_default"
    )]
    pub excludes: Vec<String>,
    /// Tags.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_util::null_default"
    )]
    pub tags: Vec<String>,
    /// The first version of a rewritten snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Id>,
    /// The program that wrote it, e.g. `hbk 0.1.0`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub program_version: String,
    /// Backup statistics (restic ≥ 0.17), kept as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl SnapshotFile {
    /// Parses a snapshot document.
    pub fn from_json(bytes: &[u8]) -> Result<SnapshotFile> {
        serde_json::from_slice(bytes).map_err(|e| Error::format("snapshot", e))
    }

    /// The document to store (compact JSON, no newline).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::serialize("snapshot", e))
    }

    /// Whether the snapshot has every tag of `all`.
    pub fn has_tags(&self, all: &[String]) -> bool {
        all.iter().all(|t| self.tags.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot as restic 0.14 writes it, plus an unknown field.
    const RESTIC_SNAPSHOT: &str = r#"{"time":"2026-11-26T23:42:46.796491138Z","tree":"2e2dd0f5092d28b34699d3b1b58ba25fb07c687cf4bfce29b571e0da503e49d0","paths":["/srv/data"],"hostname":"testhost","username":"root","tags":["t1"],"future":1}"#;

    #[test]
    fn restic_014_snapshot_round_trips() {
        let json = RESTIC_SNAPSHOT;
        let s = SnapshotFile::from_json(json.as_bytes()).unwrap();
        assert_eq!(s.tags, ["t1"]);
        assert_eq!(String::from_utf8(s.to_json().unwrap()).unwrap(), json);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = SnapshotFile::from_json(&data);
        }

        #[test]
        fn mutated_snapshots_never_panic(edits in crate::fuzz::edits(6)) {
            let bytes = crate::fuzz::apply(RESTIC_SNAPSHOT.as_bytes(), &edits);
            if let Ok(s) = SnapshotFile::from_json(&bytes) {
                let _ = s.to_json();
            }
        }
    }
}
