//! `check`: verify a repository's structure and, optionally, its data.
//!
//! Modelled on `restic check` 0.14. [`check`] runs these steps and collects
//! every problem it finds instead of stopping at the first one:
//!
//! 1. **Index files.** Each one is loaded, decrypted and parsed (in
//!    parallel). A file that fails is an error naming it; the others are
//!    still used. The legacy array format gives a hint.
//! 2. **Packs, as the index describes them.** A pack listed by several index
//!    files gives a hint, and an error when the lists differ. Each pack's
//!    entries must cover it from offset 0 without gaps or overlaps. A pack
//!    with both data and tree blobs gives a hint.
//! 3. **Packs on the backend.** Every indexed pack must exist and have the
//!    size the index implies (`Σ length + 32 + Σ entry size + 4`). Packs that
//!    no index references are reported in [`CheckReport::orphaned_packs`],
//!    which is not an error.
//! 4. **Snapshots and trees.** Every snapshot must load. Every tree reachable
//!    from a snapshot is read once and checked: it must be in the index and
//!    decode; node names must not be empty; node types must be known
//!    (`irregular` is rejected, as 0.14 does); files need a non-null
//!    content list whose ids are all data blobs in the index; directories
//!    need a subtree.
//! 5. **Pack data** (only with [`CheckOptions::read_data`]). The selected
//!    packs are read whole, a few at a time: the content must hash to the
//!    pack's id, the header must parse and match the index entry for entry,
//!    and every blob must decrypt, decompress and hash to its id.
//!
//! Snapshots are listed before the index is loaded, so that a backup
//! finishing meanwhile cannot make its new blobs look missing.
//!
//! Problems with stored objects end up in [`CheckReport::errors`] (each
//! message contains the full id of the object concerned); only failures to
//! list the repository's files make [`check`] itself fail.

mod packs;
mod read;
mod trees;

#[cfg(test)]
mod tests;

use hbk_repo::{FileType, Id, Index, Repository};

use crate::progress::{NoProgress, Progress};
use crate::Result;

/// Which packs `--read-data` / `--read-data-subset` download and verify.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// Subset `n` of `m` (1-based), chosen by the pack id's first byte:
    /// a pack is read when `id[0] % m == n - 1`.
    Subset {
        /// Which bucket, 1..=m.
        n: u32,
        /// How many buckets, at most 256.
        m: u32,
    },
    /// A random fraction of the packs, in percent (0 < x ≤ 100); at least
    /// one pack when there are any.
    Percent(f64),
    /// Random packs until their total size reaches this many bytes; at
    /// least one pack when there are any.
    Size(u64),
}

/// Options of [`check`].
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Which pack data to read and verify.
    pub read_data: ReadData,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Errors: each names the object (pack, blob, index file, snapshot, tree)
    /// by its full id.
    pub errors: Vec<String>,
    /// Hints that are not errors (duplicate packs, mixed packs, …).
    pub hints: Vec<String>,
    /// Packs on the backend that no index references, sorted.
    pub orphaned_packs: Vec<Id>,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// Blobs decoded and verified while reading pack data.
    pub blobs_read: usize,
    /// Index files that loaded.
    pub index_files: usize,
    /// Distinct packs referenced by the index files.
    pub packs: usize,
    /// Snapshots that loaded.
    pub snapshots: usize,
    /// Distinct trees checked.
    pub trees: usize,
}

impl CheckReport {
    /// Whether no error was found (hints and orphaned packs are fine).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The steps of a check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckPhase {
    /// Loading the index files; one item per file.
    LoadIndex,
    /// Checking packs against the index and the backend; one item per pack.
    Packs,
    /// Loading snapshots; one item per snapshot.
    Snapshots,
    /// Walking the trees; one item per tree (the total is not known).
    Trees,
    /// Reading pack data; one item per pack.
    ReadData,
}

impl CheckPhase {
    /// The phase's name in progress reports: what its items are.
    pub fn name(self) -> &'static str {
        match self {
            CheckPhase::LoadIndex => "index files loaded",
            CheckPhase::Packs => "packs checked",
            CheckPhase::Snapshots => "snapshots loaded",
            CheckPhase::Trees => "trees checked",
            CheckPhase::ReadData => "packs read",
        }
    }
}

/// Checks the repository; see the [module documentation](self).
pub fn check(repo: &Repository, opts: &CheckOptions) -> Result<CheckReport> {
    check_with_progress(repo, opts, &NoProgress)
}

/// [`check`], reporting each [`CheckPhase`] to `progress`.
pub fn check_with_progress(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut snapshot_ids: Vec<Id> = repo
        .list(FileType::Snapshot)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    snapshot_ids.sort();

    let mut files = packs::load_index_files(repo, progress, &mut report)?;
    let packs = packs::check_packs(repo, &mut files, progress, &mut report)?;

    let index = Index::from_files(files.iter().map(|(_, f)| f));
    trees::check_snapshots(repo, &index, &snapshot_ids, progress, &mut report);
    drop(index);

    if opts.read_data != ReadData::None {
        let selected = read::select_packs(opts.read_data, &packs);
        read::read_packs(repo, &files, &packs, &selected, progress, &mut report);
    }
    Ok(report)
}

/// Parses restic's `--read-data-subset` argument: `n/m` (1 ≤ n ≤ m ≤ 256),
/// `x%` (0 < x ≤ 100), or a size in bytes with an optional suffix `k`, `m`,
/// `g` or `t` (powers of 1024, either case).
pub fn parse_subset(s: &str) -> Result<ReadData> {
    s.parse()
}

impl std::str::FromStr for ReadData {
    type Err = crate::Error;

    /// Parses `--read-data-subset`; see [`parse_subset`].
    fn from_str(s: &str) -> Result<ReadData> {
        let err = |why: &str| {
            crate::Error::invalid("data subset", format!("invalid subset {s:?}: {why}"))
        };
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p = p.trim();
            let x: f64 = p
                .parse()
                .ok()
                .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
                .ok_or_else(|| err("expected x% with a decimal number x"))?;
            if !(x > 0.0 && x <= 100.0) {
                return Err(err("x% must be above 0% and at most 100%"));
            }
            return Ok(ReadData::Percent(x));
        }
        if let Some((n, m)) = s.split_once('/') {
            let bad = || err("n/m needs positive integers with n <= m, e.g. 1/2");
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            let m: u32 = m.trim().parse().map_err(|_| bad())?;
            if n == 0 || m == 0 || n > m {
                return Err(bad());
            }
            if m > 256 {
                return Err(err("in n/m, m must be at most 256"));
            }
            return Ok(ReadData::Subset { n, m });
        }
        let (digits, shift) = match s.as_bytes().last().map(u8::to_ascii_lowercase) {
            Some(b'k') => (&s[..s.len() - 1], 10),
            Some(b'm') => (&s[..s.len() - 1], 20),
            Some(b'g') => (&s[..s.len() - 1], 30),
            Some(b't') => (&s[..s.len() - 1], 40),
            _ => (s, 0),
        };
        let size = digits
            .parse::<u64>()
            .ok()
            .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.checked_mul(1u64 << shift))
            .filter(|&n| n > 0)
            .ok_or_else(|| err("expected n/m, x% or a size such as 500M"))?;
        Ok(ReadData::Size(size))
    }
}

/// A repository error as part of a message that already names the object:
/// drops the "<type> <id> is damaged" prefix of [`hbk_repo::Error::Corrupt`].
fn describe(e: &hbk_repo::Error) -> String {
    match e {
        hbk_repo::Error::Corrupt { reason, .. } => format!("damaged: {reason}"),
        other => other.to_string(),
    }
}

/// Runs `load` for every id in parallel, reporting the phase's start and
/// one item per id; results keep the order of `ids`.
fn load_each<T: Send>(
    ids: &[Id],
    phase: CheckPhase,
    progress: &dyn Progress,
    load: impl Fn(&Id) -> T + Sync,
) -> Vec<(Id, T)> {
    use rayon::prelude::*;
    progress.phase_start(phase.name(), Some(ids.len() as u64));
    ids.par_iter()
        .map(|id| {
            let r = load(id);
            progress.phase_advance(1);
            (*id, r)
        })
        .collect()
}
