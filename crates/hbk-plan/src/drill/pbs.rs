//! The PBS drill: the newest capture of the PBS datastore restored from a
//! copy into a scratch directory, and every chunk file there checked
//! against its name ([`crate::pbs_chunk`]): CRC-32, and the SHA-256 of
//! the decoded data for chunks that are not encrypted. A restored
//! datastore whose chunks all verify is one PBS can serve again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use hbk_engine::filter::PatternLists;

use super::{newest, restore_into, tempfile_dir};
use crate::engine::RepoTarget;
use crate::pbs_chunk::{verify_chunk, ChunkKind, MAX_DECODED};
use crate::report::DrillRun;
use crate::{Error, Result};

/// Failures listed by name in the message before the rest are counted.
const SHOWN: usize = 20;

/// What the chunk walk found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChunkReport {
    /// Chunk files that verified.
    pub good: usize,
    /// Of those, encrypted ones (CRC only: their name is keyed).
    pub encrypted: usize,
    /// Bytes of chunk files read.
    pub bytes: u64,
    /// Files PBS itself set aside or left half-written (`.bad`, `.tmp_`).
    pub set_aside: usize,
    /// `chunk NAME: why` for each chunk file that failed.
    pub failed: Vec<String>,
}

/// Verifies every chunk file below `store/.chunks`.
pub fn verify_chunk_store(store: &Path) -> Result<ChunkReport> {
    let chunks = store.join(".chunks");
    let mut report = ChunkReport::default();
    let mut dirs = read_dir_sorted(&chunks)?;
    dirs.retain(|p| p.is_dir());
    for dir in dirs {
        let prefix = file_name(&dir);
        for path in read_dir_sorted(&dir)? {
            let name = file_name(&path);
            if name.contains(".bad") || name.contains(".tmp_") {
                report.set_aside += 1;
                continue;
            }
            match check_file(&path, &name, &prefix) {
                Ok((kind, len)) => {
                    report.good += 1;
                    report.bytes += len;
                    report.encrypted += usize::from(kind == ChunkKind::Encrypted);
                }
                Err(why) => report.failed.push(format!("chunk {name}: {why}")),
            }
        }
    }
    Ok(report)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// One chunk file: its name must be a digest filed under its first four
/// hex digits, and its bytes must verify against it.
fn check_file(
    path: &Path,
    name: &str,
    prefix: &str,
) -> std::result::Result<(ChunkKind, u64), String> {
    let mut digest = [0u8; 32];
    hex::decode_to_slice(name, &mut digest).map_err(|_| "not a chunk digest".to_string())?;
    if name.get(..4) != Some(prefix) {
        return Err(format!("filed under {prefix}/, not {}/", &name[..4]));
    }
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_DECODED as u64 + 64 {
        return Err(format!("{len} bytes: larger than any chunk"));
    }
    let raw = std::fs::read(path).map_err(|e| e.to_string())?;
    let kind = verify_chunk(&digest, &raw).map_err(|e| e.to_string())?;
    Ok((kind, len))
}

/// Restores the newest snapshot tagged `tags` (the plan's PBS capture)
/// from `repo`, verifies the chunk store found at `datastore` inside it,
/// removes the restore, and reports.
pub fn pbs_drill(
    repo: &RepoTarget,
    tags: &[String],
    datastore: &Path,
    scratch: &Path,
    now: DateTime<Utc>,
) -> Result<DrillRun> {
    let indexed = repo.open()?.into_indexed()?;
    let run = |ok: bool, secs: f64, bytes: u64, message: String| DrillRun {
        time: now,
        ok,
        duration_secs: secs,
        message,
        repository: Some(repo.name.clone()),
        bytes,
        bytes_per_sec: (secs > 0.0).then(|| bytes as f64 / secs),
    };
    let Some((id, sn)) = newest(&indexed, tags)? else {
        return Ok(run(
            false,
            0.0,
            0,
            format!("no snapshot tagged {}", tags.join(",")),
        ));
    };
    let tmp = tempfile_dir(scratch)?;
    let clock = Instant::now();
    let outcome = (|| {
        let problems = restore_into(&indexed, &sn.tree, &tmp, PatternLists::default())?;
        let restore_secs = clock.elapsed().as_secs_f64();
        let inside = datastore.strip_prefix("/").unwrap_or(datastore);
        let report = verify_chunk_store(&tmp.join(inside))?;
        Ok::<_, Error>((problems, restore_secs, report))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    let (mut problems, restore_secs, report) = outcome?;
    let secs = clock.elapsed().as_secs_f64();
    let failed = report.failed.len();
    problems.extend(report.failed.iter().take(SHOWN).cloned());
    if failed > SHOWN {
        problems.push(format!("and {} more damaged chunks", failed - SHOWN));
    }
    if report.good == 0 && failed == 0 {
        problems.push(format!(
            "no chunk file under {}/.chunks in snapshot {}",
            datastore.display(),
            id.short()
        ));
    }
    let ok = problems.is_empty();
    let message = if ok {
        format!(
            "datastore restored from snapshot {} in {restore_secs:.1} s; {} chunk files verified ({} encrypted: CRC only), {} set aside by PBS",
            id.short(),
            report.good,
            report.encrypted,
            report.set_aside
        )
    } else {
        format!(
            "{failed} of {} chunk files damaged: {}",
            failed + report.good,
            problems.join("; ")
        )
    };
    Ok(run(ok, secs, report.bytes, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pbs_chunk::encode_chunk;

    fn put(store: &Path, data: &[u8]) -> String {
        let (raw, digest) = encode_chunk(data, true);
        let name = hex::encode(digest);
        let dir = store.join(".chunks").join(&name[..4]);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&name), raw).unwrap();
        name
    }

    #[test]
    fn a_chunk_store_verifies_and_a_flipped_byte_names_its_chunk() {
        let t = tempfile::tempdir().unwrap();
        let store = t.path();
        std::fs::create_dir_all(store.join(".chunks/ffff")).unwrap();
        let a = put(store, &[1u8; 5000]);
        let b = put(store, b"another chunk, not compressible enough? no matter");
        std::fs::write(store.join(".chunks/ffff/ffff.0.bad"), b"x").unwrap();
        let r = verify_chunk_store(store).unwrap();
        assert_eq!((r.good, r.set_aside, r.failed.len()), (2, 1, 0), "{r:?}");

        let path = store.join(".chunks").join(&b[..4]).join(&b);
        let mut raw = std::fs::read(&path).unwrap();
        raw[20] ^= 0x10;
        std::fs::write(&path, raw).unwrap();
        let misfiled = store.join(".chunks/ffff").join(&a);
        std::fs::copy(store.join(".chunks").join(&a[..4]).join(&a), &misfiled).unwrap();
        let r = verify_chunk_store(store).unwrap();
        assert_eq!(r.good, 1);
        assert_eq!(r.failed.len(), 2, "{:?}", r.failed);
        assert!(r
            .failed
            .iter()
            .any(|f| f.starts_with(&format!("chunk {b}: CRC-32"))));
        assert!(r.failed.iter().any(|f| f.contains("filed under ffff/")));
    }
}
