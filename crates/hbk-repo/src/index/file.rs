//! The JSON document stored in `index/<id>`.

use serde::{Deserialize, Serialize};

use crate::{serde_util, BlobType, Error, Id, Result};

/// An index file: the packs it describes and the index files it replaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexFile {
    /// Index files this one supersedes (written by restic < 0.17 only).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "serde_util::null_default"
    )]
    pub supersedes: Vec<Id>,
    /// The packs, each with all of its blobs.
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub packs: Vec<IndexPack>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One pack in an index file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexPack {
    /// The pack's id.
    pub id: Id,
    /// Its blobs, in any order.
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub blobs: Vec<IndexBlob>,
}

/// One blob in an index file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexBlob {
    /// SHA-256 of the plaintext.
    pub id: Id,
    /// Data or tree.
    #[serde(rename = "type")]
    pub blob_type: BlobType,
    /// Offset of its sealed bytes in the pack.
    pub offset: u64,
    /// Sealed length.
    pub length: u32,
    /// Plaintext length, present only for compressed blobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uncompressed_length: Option<u32>,
}

impl From<&crate::pack::PackBlob> for IndexBlob {
    /// The index entry for a blob as its pack header describes it.
    fn from(b: &crate::pack::PackBlob) -> IndexBlob {
        IndexBlob {
            id: b.id,
            blob_type: b.blob_type,
            offset: b.offset,
            length: b.length,
            uncompressed_length: b.uncompressed_length.map(|n| n.get()),
        }
    }
}

impl IndexFile {
    /// Parses an index document, accepting the legacy top-level array form.
    pub fn from_json(bytes: &[u8]) -> Result<IndexFile> {
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        let parsed = if first == Some(&b'[') {
            serde_json::from_slice::<Vec<IndexPack>>(bytes).map(|packs| IndexFile {
                packs,
                ..Default::default()
            })
        } else {
            serde_json::from_slice(bytes)
        };
        let file = parsed.map_err(|e| Error::format("index", e))?;
        for p in &file.packs {
            for b in &p.blobs {
                if b.uncompressed_length == Some(0) {
                    return Err(Error::format("index", "uncompressed_length 0"));
                }
            }
        }
        Ok(file)
    }

    /// The document as restic writes it (compact JSON and a newline).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut v = serde_json::to_vec(self).map_err(|e| Error::serialize("index", e))?;
        v.push(b'\n');
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "2e2dd0f5092d28b34699d3b1b58ba25fb07c687cf4bfce29b571e0da503e49d0";

    /// Found by the `index` fuzz target: a number too large for 64 bits
    /// in a field hbk keeps as written drifted in its last digit through
    /// write and parse (fixed by serde_json's exact float parsing).
    #[test]
    fn unknown_fields_with_huge_numbers_survive_a_round_trip() {
        let text = r#"{"packs":[],"packj":[{"offset":1100000004983108671024019679}]}"#;
        let once = IndexFile::from_json(text.as_bytes()).unwrap();
        let twice = IndexFile::from_json(&once.to_json().unwrap()).unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn parses_both_forms() {
        let blob = format!(
            r#"{{"id":"{ID}","type":"data","offset":0,"length":48,"uncompressed_length":7}}"#
        );
        let modern = format!(r#"{{"packs":[{{"id":"{ID}","blobs":[{blob}]}}]}}"#);
        let legacy = format!(r#"[{{"id":"{ID}","blobs":[{blob}]}}]"#);
        let a = IndexFile::from_json(modern.as_bytes()).unwrap();
        let b = IndexFile::from_json(legacy.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.packs[0].blobs[0].uncompressed_length, Some(7));
        assert_eq!(a.to_json().unwrap(), format!("{modern}\n").into_bytes());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = IndexFile::from_json(&data);
        }

        /// A real index document (both forms) with a few edits.
        #[test]
        fn mutated_index_never_panics(edits in crate::fuzz::edits(6), legacy in proptest::bool::ANY) {
            let blob = format!(
                r#"{{"id":"{ID}","type":"data","offset":0,"length":48,"uncompressed_length":7}},{{"id":"{ID}","type":"tree","offset":48,"length":40}}"#
            );
            let doc = match legacy {
                false => format!(r#"{{"supersedes":["{ID}"],"packs":[{{"id":"{ID}","blobs":[{blob}]}}]}}"#),
                true => format!(r#"[{{"id":"{ID}","blobs":[{blob}]}}]"#),
            };
            let bytes = crate::fuzz::apply(doc.as_bytes(), &edits);
            if let Ok(f) = IndexFile::from_json(&bytes) {
                let _ = f.to_json();
                let _ = crate::Index::from_files([&f]);
            }
        }

        #[test]
        fn random_text_never_panics(s in r#"[\[\]{}":,a-z0-9 ]{0,120}"#) {
            let _ = IndexFile::from_json(s.as_bytes());
        }
    }
}
