//! Tiny repositories for unit tests, built with the real codecs: packs,
//! index files, trees and snapshots written by hand into a
//! [`MemoryBackend`] (no directory: tests that need files on disk, such
//! as restic's fixtures, open a `LocalBackend` themselves).

use std::num::NonZeroU32;
use std::sync::Arc;

use hbk_backend::MemoryBackend;
use hbk_repo::pack::{encode_header, PackBlob};
use hbk_repo::{
    Backend, BlobType, Config, FileType, Id, IndexBlob, IndexFile, IndexPack, KdfParams, Repository,
};

/// A repository in memory.
pub(crate) struct TestRepo {
    /// The backend, for raw access.
    pub backend: Arc<MemoryBackend>,
    /// The open repository.
    pub repo: Repository,
}

impl TestRepo {
    /// An empty repository of format `version`.
    /// The sorted ids of all files of type `t`.
    pub fn ids(&self, t: FileType) -> Vec<Id> {
        let mut ids: Vec<Id> = self
            .repo
            .list(t)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        ids
    }

    pub fn new(version: u32) -> TestRepo {
        let backend = Arc::new(MemoryBackend::new());
        let config = Config {
            version,
            id: Id::random(),
            chunker_polynomial: 0x3DA3358B4DC173,
            extra: Default::default(),
        };
        let repo = Repository::init(
            backend.clone(),
            b"pw",
            config,
            KdfParams::INSECURE_FOR_TESTS,
            "u",
            "h",
        )
        .unwrap();
        TestRepo { backend, repo }
    }

    /// Seals `blobs` into a new pack (compressing each non-empty one when
    /// `compress`) and stores it. Returns the pack's index entry.
    pub fn write_pack(&self, blobs: &[(BlobType, &[u8])], compress: bool) -> IndexPack {
        let key = self.repo.key();
        let mut pack = Vec::new();
        let mut header = Vec::new();
        for &(blob_type, plain) in blobs {
            let id = Id::hash(plain);
            let ulen = NonZeroU32::new(plain.len() as u32).filter(|_| compress);
            let sealed = match ulen {
                Some(_) => key.seal(&zstd::bulk::compress(plain, 3).unwrap()),
                None => key.seal(plain),
            };
            header.push(PackBlob {
                blob_type,
                id,
                offset: pack.len() as u64,
                length: sealed.len() as u32,
                uncompressed_length: ulen,
            });
            pack.extend_from_slice(&sealed);
        }
        let sealed_header = key.seal(&encode_header(&header));
        pack.extend_from_slice(&sealed_header);
        pack.extend_from_slice(&(sealed_header.len() as u32).to_le_bytes());
        let pack_id = Id::hash(&pack);
        self.backend.write(FileType::Pack, &pack_id, &pack).unwrap();
        IndexPack {
            id: pack_id,
            blobs: header.iter().map(IndexBlob::from).collect(),
        }
    }

    /// Stores an index file listing `packs`.
    pub fn write_index(&self, packs: &[IndexPack]) -> Id {
        let file = IndexFile {
            packs: packs.to_vec(),
            ..Default::default()
        };
        self.repo
            .save_unpacked(FileType::Index, &file.to_json().unwrap())
            .unwrap()
    }

    /// Stores a snapshot of the tree `tree`.
    pub fn write_snapshot(&self, tree: Id) -> Id {
        let json = format!(
            r#"{{"time":"2024-05-01T10:00:00.5+02:00","tree":"{tree}","paths":["/src"],"hostname":"h","username":"u"}}"#
        );
        self.repo
            .save_unpacked(FileType::Snapshot, json.as_bytes())
            .unwrap()
    }

    /// Replaces a pack file's bytes, keeping its name.
    pub fn replace_pack(&self, id: &Id, bytes: &[u8]) {
        self.backend.remove(FileType::Pack, id).unwrap();
        self.backend.write(FileType::Pack, id, bytes).unwrap();
    }

    /// A pack file's bytes.
    pub fn pack_bytes(&self, id: &Id) -> Vec<u8> {
        self.backend.read_full(FileType::Pack, id).unwrap()
    }
}

/// One node's JSON: `kind` is `file` (with `content`), `dir` (with
/// `subtree`) or any other type.
pub(crate) fn node_json(name: &str, kind: &str, content: &[Id], subtree: Option<Id>) -> String {
    let time = "2024-05-01T10:00:00.123456789+02:00";
    let mut s = format!(
        r#"{{"name":{},"type":"{kind}","mode":420,"mtime":"{time}","atime":"{time}","ctime":"{time}","uid":1000,"gid":1000"#,
        serde_json::to_string(name).unwrap()
    );
    if kind == "file" {
        let ids: Vec<String> = content.iter().map(|id| format!("\"{id}\"")).collect();
        s += &format!(r#","content":[{}]"#, ids.join(","));
    } else {
        s += r#","content":null"#;
    }
    if let Some(t) = subtree {
        s += &format!(r#","subtree":"{t}""#);
    }
    s + "}"
}

/// A tree blob's plaintext holding `nodes` (JSON from [`node_json`]).
pub(crate) fn tree_json(nodes: &[String]) -> Vec<u8> {
    format!("{{\"nodes\":[{}]}}\n", nodes.join(",")).into_bytes()
}

/// A small complete repository: a data pack with two chunks, a tree pack
/// with a root tree holding directory `d` whose tree holds file `d/f`, one
/// index file and one snapshot. Data is compressed in v2.
pub(crate) struct Sample {
    /// The repository.
    pub t: TestRepo,
    /// The pack holding the two chunks.
    pub data_pack: IndexPack,
    /// The pack holding both trees.
    pub tree_pack: IndexPack,
    /// The chunks of `d/f`.
    pub chunks: [Id; 2],
    /// The root tree.
    pub root: Id,
    /// The tree of `d`.
    pub subtree: Id,
    /// The snapshot.
    pub snapshot: Id,
    /// The index file.
    pub index: Id,
}

/// Builds a [`Sample`] of format `version`.
pub(crate) fn sample(version: u32) -> Sample {
    let t = TestRepo::new(version);
    let compress = version >= 2;
    let c1: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    let c2 = b"the second chunk of the file".to_vec();
    let chunks = [Id::hash(&c1), Id::hash(&c2)];
    let data_pack = t.write_pack(&[(BlobType::Data, &c1), (BlobType::Data, &c2)], compress);
    let sub = tree_json(&[node_json("f", "file", &chunks, None)]);
    let subtree = Id::hash(&sub);
    let root_json = tree_json(&[node_json("d", "dir", &[], Some(subtree))]);
    let root = Id::hash(&root_json);
    let tree_pack = t.write_pack(
        &[(BlobType::Tree, &sub), (BlobType::Tree, &root_json)],
        compress,
    );
    let index = t.write_index(&[data_pack.clone(), tree_pack.clone()]);
    let snapshot = t.write_snapshot(root);
    Sample {
        t,
        data_pack,
        tree_pack,
        chunks,
        root,
        subtree,
        snapshot,
        index,
    }
}

/// An exclusive lock on `repo`, for tests of commands that need one.
pub(crate) fn exclusive(repo: &Repository) -> crate::lock::RepoLock {
    crate::lock::RepoLock::acquire(repo, crate::lock::LockKind::Exclusive).unwrap()
}
