//! The full-restore drill: the newest snapshot of every source restored
//! whole from one repository into a scratch directory, every restored
//! file compared with the repository's content hashes (each stretch of
//! the file must hash to the id of the blob the snapshot lists there), and
//! the restore timed: the plan's measured RTO and its bytes per second.

use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hbk_engine::filter::PatternLists;
use hbk_repo::IndexedRepository;

use super::{compare, files, newest, restore_into, tempfile_dir};
use crate::engine::RepoTarget;
use crate::report::DrillRun;
use crate::Result;

/// Restores the newest snapshot of each of `groups` (tag sets) from
/// `repo` into a directory below `scratch`, compares every file, removes
/// the directory, and reports the restore's duration and speed.
pub fn full_restore_drill(
    repo: &RepoTarget,
    groups: &[Vec<String>],
    scratch: &Path,
    now: DateTime<Utc>,
) -> Result<DrillRun> {
    let indexed = repo.open()?.into_indexed()?;
    let tmp = tempfile_dir(scratch)?;
    let result = restore_and_verify(&indexed, groups, &tmp);
    let _ = std::fs::remove_dir_all(&tmp);
    let r = result?;
    let secs = r.restore_secs.max(1e-6);
    let ok = r.problems.is_empty();
    let speed = r.bytes as f64 / secs;
    let message = if ok {
        format!(
            "{} snapshot(s), {} files, {} bytes restored in {:.1} s ({:.1} MB/s); every file matches its content hashes (compared in {:.1} s)",
            r.snapshots,
            r.files,
            r.bytes,
            r.restore_secs,
            speed / 1e6,
            r.verify_secs
        )
    } else {
        let n = r.problems.len();
        let mut shown: Vec<String> = r.problems.into_iter().take(10).collect();
        if n > shown.len() {
            shown.push(format!("and {} more", n - 10));
        }
        shown.join("; ")
    };
    Ok(DrillRun {
        time: now,
        ok,
        duration_secs: r.restore_secs,
        message,
        repository: Some(repo.name.clone()),
        bytes: r.bytes,
        bytes_per_sec: Some(speed),
    })
}

/// What restoring and comparing found.
#[derive(Default)]
struct Restored {
    snapshots: usize,
    files: usize,
    bytes: u64,
    restore_secs: f64,
    verify_secs: f64,
    problems: Vec<String>,
}

fn restore_and_verify(
    repo: &IndexedRepository,
    groups: &[Vec<String>],
    tmp: &Path,
) -> Result<Restored> {
    let mut r = Restored::default();
    for (i, tags) in groups.iter().enumerate() {
        let Some((_, sn)) = newest(repo, tags)? else {
            r.problems
                .push(format!("no snapshot tagged {}", tags.join(",")));
            continue;
        };
        let dir = tmp.join(i.to_string());
        let clock = Instant::now();
        let problems = restore_into(repo, &sn.tree, &dir, PatternLists::default())?;
        r.restore_secs += clock.elapsed().as_secs_f64();
        r.snapshots += 1;
        r.problems.extend(problems);
        let clock = Instant::now();
        for pick in files(repo, &sn.tree)? {
            r.files += 1;
            r.bytes += pick.size;
            let restored = dir.join(pick.path.trim_start_matches('/'));
            if let Err(problem) = compare(repo, &pick, &restored) {
                r.problems.push(format!("{}: {problem}", pick.path));
            }
        }
        r.verify_secs += clock.elapsed().as_secs_f64();
    }
    Ok(r)
}
