//! Restore drills. The sample drill (here) restores a random sample of
//! files from the latest snapshots of a repository into a temporary
//! directory and compares each file's SHA-256 with the hash of its
//! content as the snapshot records it (its data blobs, each verified on
//! load), then checks a subset of the repository's data. The other kinds
//! prove the three restore paths of docs/runbook.md: [`full`] restores
//! whole snapshots (the measured RTO), [`pbs`] restores the PBS datastore
//! and verifies its chunks, [`rollback`] clones a guest from its snapshot
//! and boots it.

pub mod full;
pub mod pbs;
pub mod rollback;

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

fn sha_file(p: &Path) -> std::io::Result<[u8; 32]> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().into())
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
    let opts = RestoreOptions {
        patterns: PatternLists {
            include,
            ..PatternLists::default()
        },
        owners: Some(false),
        ..RestoreOptions::default()
    };
    let stats = restore(repo, tree, dir, &opts, &NoProgress)?;
    let mut problems: Vec<String> = stats
        .errors
        .iter()
        .map(|e| format!("{}: {}", e.path.display(), e.message))
        .collect();
    for p in picks {
        let restored: PathBuf = dir.join(p.path.trim_start_matches('/'));
        let got = match sha_file(&restored) {
            Ok(h) => h,
            Err(e) => {
                problems.push(format!("{}: not restored: {e}", p.path));
                continue;
            }
        };
        let mut h = Sha256::new();
        let mut len = 0u64;
        for id in &p.content {
            let blob = repo.blob(BlobType::Data, id)?;
            len += blob.len() as u64;
            h.update(&blob);
        }
        let want: [u8; 32] = h.finalize().into();
        if len != p.size {
            problems.push(format!(
                "{}: snapshot content is {len} bytes, node says {}",
                p.path, p.size
            ));
        }
        if got != want {
            problems.push(format!(
                "{}: restored content differs from the snapshot",
                p.path
            ));
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
