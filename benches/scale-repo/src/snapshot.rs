//! The one snapshot of a generated repository, so commands that start
//! from a snapshot (ls, restore, an incremental backup) have one.

use hbk_repo::blob::{encode_blob, BlobScratch, Compression};
use hbk_repo::pack::PackWriter;
use hbk_repo::{
    BlobType, FileType, GoTime, Id, IndexBlob, IndexPack, Node, NodeType, Repository, SnapshotFile,
    Tree,
};
use sha2::{Digest, Sha256};

use crate::content::blob_content;
use crate::GenError;

/// The path the snapshot claims to have backed up.
pub const SNAPSHOT_PATH: &str = "/hbk-scale-repo";

/// Writes the tree of one directory holding `blob-0` (a file whose
/// content is data blob 0) into a pack of its own, and the snapshot
/// pointing at it. Returns the tree pack, for an index file to list, and
/// the snapshot's id.
pub fn write_snapshot(repo: &Repository, seed: u64) -> Result<(IndexPack, Id), GenError> {
    let mut content = Vec::new();
    blob_content(seed, 0, &mut content);
    let now = GoTime::now();
    let file = Node {
        mode: 0o644,
        mtime: now,
        atime: now,
        ctime: now,
        size: content.len() as u64,
        links: 1,
        content: Some(vec![Id(Sha256::digest(&content).into())]),
        ..Node::new(b"blob-0".to_vec(), NodeType::File)
    };
    let tree = Tree { nodes: vec![file] }.to_go_json()?;
    let tree_id = Id(Sha256::digest(&tree).into());
    let mut writer = PackWriter::new(Vec::with_capacity(tree.len() + 64));
    let compression = match repo.config().version {
        1 => Compression::Off,
        _ => Compression::Always(3),
    };
    writer.add(&encode_blob(
        repo.key(),
        BlobType::Tree,
        tree_id,
        &tree,
        compression,
        &mut BlobScratch::default(),
    ));
    let (bytes, blobs) = writer.finish(repo.key());
    let pack_id = hbk_repo::Id::hash(&bytes);
    repo.backend().write(FileType::Pack, &pack_id, &bytes)?;
    let snapshot = SnapshotFile {
        time: now,
        parent: None,
        tree: tree_id,
        paths: vec![SNAPSHOT_PATH.to_string()],
        hostname: "hbk-scale-repo".to_string(),
        username: String::new(),
        uid: 0,
        gid: 0,
        excludes: Vec::new(),
        tags: vec!["scale".to_string()],
        original: None,
        program_version: format!("hbk-scale-repo {}", env!("CARGO_PKG_VERSION")),
        summary: None,
        extra: Default::default(),
    };
    let id = repo.save_unpacked(FileType::Snapshot, &snapshot.to_json()?)?;
    let pack = IndexPack {
        id: pack_id,
        blobs: blobs.iter().map(IndexBlob::from).collect(),
    };
    Ok((pack, id))
}
