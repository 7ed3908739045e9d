//! `check`: verify a repository's structure and, optionally, its data.
//!
//! Modelled on `restic check` 0.14. [`check`] runs these steps and collects
//! every problem it finds instead of stopping at the first one:
//!
//! 0. **Key files.** Each must parse and hash to its name (a key whose
//!    file changed around it still opens the repository; this names it).
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

mod finding;
mod keys;
mod load;
mod options;
mod packs;
mod read;
mod report;
mod trees;

#[cfg(test)]
mod tests;

use hbk_repo::{FileType, Id, Index, Repository};

pub use finding::{CheckFinding, CheckedObject, FindingKind};
pub use options::{parse_subset, CheckOptions, ReadData};
pub use report::{CheckPhase, CheckReport};

use crate::progress::Progress;
use crate::Result;

/// Checks the repository, reporting each [`CheckPhase`] to `progress`;
/// see the [module documentation](self).
pub fn check(
    repo: &Repository,
    opts: &CheckOptions,
    progress: &dyn Progress,
) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut snapshot_ids: Vec<Id> = match &opts.snapshots {
        Some(ids) => ids.clone(),
        None => repo
            .list(FileType::Snapshot)?
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
    };
    snapshot_ids.sort();

    keys::check_keys(repo, &mut report)?;
    let mut files = packs::load_index_files(repo, progress, &mut report)?;
    let packs = packs::check_packs(repo, &mut files, progress, &mut report)?;

    let index = Index::from_files(files.iter().map(|(_, f)| f));
    trees::check_snapshots(repo, &index, &snapshot_ids, progress, &mut report);
    drop(index);

    let selected = match &opts.read_packs {
        Some(ids) => read::present_packs(ids, &packs),
        None if opts.read_data != ReadData::None => read::select_packs(opts.read_data, &packs),
        None => Vec::new(),
    };
    if opts.read_packs.is_some() || opts.read_data != ReadData::None {
        read::read_packs(repo, &files, &packs, &selected, progress, &mut report);
    }
    Ok(report)
}
