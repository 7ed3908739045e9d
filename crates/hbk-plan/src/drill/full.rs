//! The full-restore drill: the newest snapshot of every source restored
//! whole from one repository into a scratch directory, every restored
//! file compared with the repository's content hashes (each stretch of
//! the file must hash to the id of the blob the snapshot lists there), and
//! the restore timed: the plan's measured RTO and its bytes per second.

use std::io::Read;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hbk_engine::commands::restore::{restore, RestoreOptions};
use hbk_engine::progress::NoProgress;
use hbk_repo::{BlobType, Id, IndexedRepository};
use sha2::{Digest, Sha256};

use super::{files, newest, tempfile_dir, Pick};
use crate::engine::RepoTarget;
use crate::report::DrillRun;
use crate::Result;

/// Largest blob a comparison reads into memory (restic's chunks are at
/// most 8 MiB); an index entry claiming more is reported, not allocated.
const MAX_BLOB: u64 = 64 << 20;

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
        let opts = RestoreOptions {
            owners: Some(false),
            ..RestoreOptions::default()
        };
        let clock = Instant::now();
        let stats = restore(repo, &sn.tree, &dir, &opts, &NoProgress)?;
        r.restore_secs += clock.elapsed().as_secs_f64();
        r.snapshots += 1;
        r.problems.extend(
            stats
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.path.display(), e.message)),
        );
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

/// Whether the file at `path` is exactly the blobs `pick` lists: each
/// stretch, as long as its blob's plaintext, hashes to the blob's id, and
/// nothing follows.
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
        Ok(0) => Ok(()),
        Ok(_) => Err(format!("longer than the snapshot's {offset} bytes")),
        Err(e) => Err(format!("reading after byte {offset}: {e}")),
    }
}
