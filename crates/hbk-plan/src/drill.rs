//! Restore drills. The sample drill (here) restores a random sample of
//! files from the latest snapshots of a repository into a temporary
//! directory and compares each file with the content the snapshot
//! records (every stretch must hash to the id of its data blob), then
//! checks a subset of the repository's data. The other kinds
//! prove the three restore paths of docs/runbook.md: [`full`] restores
//! whole snapshots (the measured RTO), [`pbs`] restores the PBS datastore
//! and verifies its chunks, [`rollback`] clones a guest from its snapshot
//! and boots it.

pub mod full;
pub mod pbs;
pub mod rollback;

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use hbk_engine::commands::check::ReadData;
use hbk_engine::commands::ls::ls;
use hbk_engine::commands::restore::{restore, RestoreOptions};
use hbk_engine::filter::{PatternLists, Selection};
use hbk_engine::progress::NoProgress;
use hbk_engine::snapshots::SnapshotFilter;
use hbk_repo::{BlobType, Id, IndexedRepository, NodeType, SnapshotFile};
use rand::seq::SliceRandom;
use sha2::{Digest, Sha256};

use crate::engine::{check_repository, RepoTarget};
use crate::report::DrillResult;
use crate::{Error, Result};

/// A file picked for the drill.
struct Pick {
    path: String,
    size: u64,
    content: Vec<Id>,
}

/// Escapes glob characters so a path matches only itself.
fn literal_pattern(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

/// The regular files of a snapshot tree with UTF-8 paths.
fn files(repo: &IndexedRepository, tree: &Id) -> Result<Vec<Pick>> {
    let mut out = Vec::new();
    let all = Selection::new(&[], &[])?;
    ls(repo, tree, b"", &all, &mut |path, node| {
        if node.node_type == NodeType::File {
            if let Ok(p) = std::str::from_utf8(path) {
                out.push(Pick {
                    path: p.to_string(),
                    size: node.size,
                    content: node.content.clone().unwrap_or_default(),
                });
            }
        }
    })?;
    Ok(out)
}

/// Restores `tree` (or what `patterns` select of it) into `dir`, owners
/// left as they are; returns the restore's errors as problems.
fn restore_into(
    repo: &IndexedRepository,
    tree: &Id,
    dir: &Path,
    patterns: PatternLists,
) -> Result<Vec<String>> {
    let opts = RestoreOptions {
        patterns,
        owners: Some(false),
        ..RestoreOptions::default()
    };
    let stats = restore(repo, tree, dir, &opts, &NoProgress)?;
    Ok(stats
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.path.display(), e.message))
        .collect())
}

/// Largest blob a comparison reads into memory (restic's chunks are at
/// most 8 MiB); an index entry claiming more is reported, not allocated.
const MAX_BLOB: u64 = 64 << 20;

/// Whether the file at `path` is exactly the blobs `pick` lists: each
/// stretch, as long as its blob's plaintext, hashes to the blob's id,
/// nothing follows, and the whole is as long as the node says. Reads
/// only the restored file (the ids are the content hashes).
fn compare(repo: &IndexedRepository, pick: &Pick, path: &Path) -> std::result::Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("not restored: {e}"))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut offset = 0u64;
    for id in &pick.content {
        let len = repo
            .index()
            .get(BlobType::Data, id)
            .map(|l| l.data_length())
            .ok_or_else(|| format!("blob {} is not in the index", id.short()))?;
        if len > MAX_BLOB {
            return Err(format!("blob {} claims {len} bytes", id.short()));
        }
        buf.resize(len as usize, 0);
        reader
            .read_exact(&mut buf)
            .map_err(|e| format!("shorter than the snapshot says ({e} at byte {offset})"))?;
        if Id(Sha256::digest(&buf).into()) != *id {
            return Err(format!(
                "bytes {offset}..{} differ from blob {}",
                offset + len,
                id.short()
            ));
        }
        offset += len;
    }
    let mut rest = [0u8; 1];
    match reader.read(&mut rest) {
        Ok(0) => {}
        Ok(_) => return Err(format!("longer than the snapshot's {offset} bytes")),
        Err(e) => return Err(format!("reading after byte {offset}: {e}")),
    }
    if offset != pick.size {
        return Err(format!(
            "snapshot content is {offset} bytes, node says {}",
            pick.size
        ));
    }
    Ok(())
}

/// Restores `picks` of `tree` into `dir` and compares them; returns the
/// problems found.
fn restore_and_compare(
    repo: &IndexedRepository,
    tree: &Id,
    picks: &[Pick],
    dir: &Path,
) -> Result<Vec<String>> {
    let include: Vec<String> = picks.iter().map(|p| literal_pattern(&p.path)).collect();
    let patterns = PatternLists {
        include,
        ..PatternLists::default()
    };
    let mut problems = restore_into(repo, tree, dir, patterns)?;
    for p in picks {
        let restored: PathBuf = dir.join(p.path.trim_start_matches('/'));
        if let Err(problem) = compare(repo, p, &restored) {
            problems.push(format!("{}: {problem}", p.path));
        }
    }
    Ok(problems)
}

/// Drills `repo`: for each group of this plan's snapshots (`groups`: tag
/// sets such as `[plan-x, docker]`), the latest snapshot gives up to
/// `per_snapshot` random files. Then `check --read-data-subset`.
pub fn drill(
    repo: &RepoTarget,
    groups: &[Vec<String>],
    per_snapshot: usize,
    subset: ReadData,
    scratch: &Path,
    now: DateTime<Utc>,
) -> Result<DrillResult> {
    let clock = std::time::Instant::now();
    let indexed = repo.open()?.into_indexed()?;
    let mut problems = Vec::new();
    let mut snapshots = Vec::new();
    let mut count = 0;
    let tmp = tempfile_dir(scratch)?;
    let mut damage = false;
    for tags in groups {
        let Some((id, sn)) = newest(&indexed, tags)? else {
            problems.push(format!("no snapshot tagged {}", tags.join(",")));
            continue;
        };
        snapshots.push(id.to_hex()[..8].to_string());
        let mut all = files(&indexed, &sn.tree)?;
        all.shuffle(&mut rand::thread_rng());
        all.truncate(per_snapshot);
        if all.is_empty() {
            continue;
        }
        count += all.len();
        let dir = tmp.join(&snapshots[snapshots.len() - 1]);
        let restore_problems = restore_and_compare(&indexed, &sn.tree, &all, &dir)?;
        damage |= !restore_problems.is_empty();
        problems.extend(restore_problems);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    drop(indexed);
    let report = check_repository(repo, subset)?;
    damage |= !report.errors.is_empty();
    problems.extend(report.errors.iter().map(|e| format!("check: {e}")));
    let ok = problems.is_empty();
    let damaged = report.packs_to_repair();
    Ok(DrillResult {
        time: now,
        ok,
        files: count,
        snapshots,
        damaged_packs: damaged.iter().map(|p| p.to_hex()).collect(),
        damage,
        duration_secs: Some(clock.elapsed().as_secs_f64()),
        message: if ok {
            format!(
                "{count} files restored and matched; check of {} packs passed",
                report.packs_read
            )
        } else {
            problems.join("; ")
        },
    })
}

/// The newest snapshot carrying every tag of `tags`.
fn newest(repo: &IndexedRepository, tags: &[String]) -> Result<Option<(Id, SnapshotFile)>> {
    let filter = SnapshotFilter {
        tags: vec![tags.to_vec()],
        ..SnapshotFilter::default()
    };
    let list = hbk_engine::snapshots::list_snapshots(repo, &filter)?;
    Ok(list.into_iter().max_by_key(|(_, s)| s.time.0))
}

/// A fresh, uniquely named directory below `parent`.
fn tempfile_dir(parent: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = format!("drill-{}-{}", std::process::id(), rand::random::<u32>());
    let d = parent.join(name);
    std::fs::create_dir(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_escape_globs() {
        assert_eq!(literal_pattern("/a/b*c?[d]"), "/a/b\\*c\\?\\[d\\]");
        let sel = Selection::new(&[literal_pattern("/x/a*b")], &[]).unwrap();
        assert!(sel.decide(b"/x/a*b").0);
        assert!(!sel.decide(b"/x/aXb").0);
    }
}
