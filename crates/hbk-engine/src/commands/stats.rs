//! `stats`: sizes and counts over snapshots, in restic 0.14's four
//! counting modes.
//!
//! * restore-size: every node of every snapshot and the sum of their sizes
//!   (a hard-linked file counted once per snapshot);
//! * files-by-contents: nodes unique by their content list;
//! * blobs-per-file: for files unique by content, their distinct data
//!   blobs per path, sized by plaintext length;
//! * raw-data: every blob the snapshots reference, sized as stored.

use std::collections::HashSet;

use hbk_repo::{BlobType, Id, IndexedRepository, NodeType, SnapshotFile};
use sha2::{Digest, Sha256};

use crate::walk::{walk_tree, Visit};
use crate::{Error, Result};

/// restic's `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StatsMode {
    /// The size of a restore of the snapshots.
    #[default]
    RestoreSize,
    /// Files unique by their contents.
    FilesByContents,
    /// Distinct blobs per file path.
    BlobsPerFile,
    /// Every referenced blob, sized as stored.
    RawData,
}

impl StatsMode {
    /// restic's name of the mode.
    pub fn as_str(&self) -> &'static str {
        match self {
            StatsMode::RestoreSize => "restore-size",
            StatsMode::FilesByContents => "files-by-contents",
            StatsMode::BlobsPerFile => "blobs-per-file",
            StatsMode::RawData => "raw-data",
        }
    }
}

impl std::str::FromStr for StatsMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<StatsMode> {
        Ok(match s {
            "restore-size" => StatsMode::RestoreSize,
            "files-by-contents" => StatsMode::FilesByContents,
            "blobs-per-file" => StatsMode::BlobsPerFile,
            "raw-data" => StatsMode::RawData,
            _ => {
                return Err(Error::invalid(
                    "counting mode",
                    format!("unknown counting mode: {s}"),
                ))
            }
        })
    }
}

/// The totals restic's `stats` prints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsReport {
    /// Bytes, in the mode's sense.
    pub total_size: u64,
    /// Files (nodes) counted.
    pub total_file_count: u64,
    /// Blobs counted (blobs-per-file and raw-data only).
    pub total_blob_count: u64,
    /// Snapshots walked.
    pub snapshots_count: u64,
}

/// State carried across snapshots.
#[derive(Default)]
struct Counter {
    report: StatsReport,
    unique_contents: HashSet<[u8; 32]>,
    file_blobs: std::collections::HashMap<Vec<u8>, HashSet<Id>>,
    blobs: HashSet<(BlobType, Id)>,
}

/// Walks `snapshots` and counts in `mode`.
pub fn stats(
    repo: &IndexedRepository,
    snapshots: &[(Id, SnapshotFile)],
    mode: StatsMode,
) -> Result<StatsReport> {
    let mut c = Counter::default();
    for (_, sn) in snapshots {
        c.report.snapshots_count += 1;
        if mode == StatsMode::RawData {
            used_blobs(repo, &sn.tree, &mut c.blobs)?;
        } else {
            count_nodes(repo, &sn.tree, mode, &mut c)?;
        }
    }
    if mode == StatsMode::RawData {
        for (t, id) in &c.blobs {
            let loc = repo
                .index()
                .get(*t, id)
                .ok_or(hbk_repo::Error::BlobNotFound {
                    blob_type: *t,
                    id: *id,
                })?;
            c.report.total_size += u64::from(loc.length);
            c.report.total_blob_count += 1;
        }
    }
    Ok(c.report)
}

/// Adds the tree `root`, its subtrees and their data blobs to `seen`;
/// a tree already in the set is not read again.
pub fn used_blobs(
    repo: &IndexedRepository,
    root: &Id,
    seen: &mut HashSet<(BlobType, Id)>,
) -> Result<()> {
    if !seen.insert((BlobType::Tree, *root)) {
        return Ok(());
    }
    let tree = repo.tree(root)?;
    for node in &tree.nodes {
        match node.node_type {
            NodeType::File => {
                for id in node.content.iter().flatten() {
                    seen.insert((BlobType::Data, *id));
                }
            }
            NodeType::Dir => {
                if let Some(sub) = &node.subtree {
                    used_blobs(repo, sub, seen)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The per-node modes over one snapshot.
fn count_nodes(
    repo: &IndexedRepository,
    root: &Id,
    mode: StatsMode,
    c: &mut Counter,
) -> Result<()> {
    // Hard links are recognised within one snapshot, as restic does.
    let mut hardlinks: HashSet<(u64, u64)> = HashSet::new();
    walk_tree(repo, root, b"/", &mut |path, node| {
        let r = &mut c.report;
        match mode {
            StatsMode::RestoreSize => {
                r.total_file_count += 1;
                // A file with several links counts once per (inode, device).
                let counted = node.links == 1
                    || node.node_type == NodeType::Dir
                    || hardlinks.insert((node.inode, node.device_id))
                    || node.inode == 0;
                if counted {
                    r.total_size += node.size;
                }
            }
            StatsMode::FilesByContents | StatsMode::BlobsPerFile => {
                let mut h = Sha256::new();
                for id in node.content.iter().flatten() {
                    h.update(id.0);
                }
                if c.unique_contents.insert(h.finalize().into()) {
                    if mode == StatsMode::FilesByContents {
                        r.total_size += node.size;
                        r.total_file_count += 1;
                    } else {
                        for id in node.content.iter().flatten() {
                            let blobs = c.file_blobs.entry(path.to_vec()).or_insert_with(|| {
                                r.total_file_count += 1;
                                HashSet::new()
                            });
                            if blobs.insert(*id) {
                                let loc = repo.index().get(BlobType::Data, id).ok_or(
                                    hbk_repo::Error::BlobNotFound {
                                        blob_type: BlobType::Data,
                                        id: *id,
                                    },
                                )?;
                                r.total_size += loc.data_length();
                                r.total_blob_count += 1;
                            }
                        }
                    }
                }
            }
            StatsMode::RawData => {}
        }
        Ok(Visit::Descend)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample;

    #[test]
    fn modes_on_the_sample() {
        let s = sample(2);
        let repo = s.t.repo.clone().into_indexed().unwrap();
        let snaps = repo.snapshots().unwrap();
        let rs = stats(&repo, &snaps, StatsMode::RestoreSize).unwrap();
        // `d` and `d/f`; the test nodes carry size 0 and links 0.
        assert_eq!(rs.total_file_count, 2);
        assert_eq!(rs.snapshots_count, 1);
        let raw = stats(&repo, &snaps, StatsMode::RawData).unwrap();
        assert_eq!(raw.total_blob_count, 4);
        let stored: u64 = s
            .data_pack
            .blobs
            .iter()
            .chain(&s.tree_pack.blobs)
            .map(|b| u64::from(b.length))
            .sum();
        assert_eq!(raw.total_size, stored);
        let bpf = stats(&repo, &snaps, StatsMode::BlobsPerFile).unwrap();
        assert_eq!((bpf.total_file_count, bpf.total_blob_count), (1, 2));
        assert_eq!(bpf.total_size, 5000 + 28);
        let fbc = stats(&repo, &snaps, StatsMode::FilesByContents).unwrap();
        // The directory (no content) and the file.
        assert_eq!(fbc.total_file_count, 2);
        // Walking the same snapshot twice changes only restore-size.
        let twice = vec![snaps[0].clone(), snaps[0].clone()];
        assert_eq!(
            stats(&repo, &twice, StatsMode::FilesByContents)
                .unwrap()
                .total_file_count,
            2
        );
        assert_eq!(
            stats(&repo, &twice, StatsMode::RestoreSize)
                .unwrap()
                .total_file_count,
            4
        );
    }

    #[test]
    fn unknown_mode_is_an_error() {
        assert!("bogus".parse::<StatsMode>().is_err());
        assert_eq!("raw-data".parse::<StatsMode>().unwrap(), StatsMode::RawData);
    }
}
