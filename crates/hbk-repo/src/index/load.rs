//! Loading the whole index: index files read, decrypted and parsed on all
//! cores, merged in listing order as they arrive.

use std::cell::RefCell;

use rayon::prelude::*;

use super::build::{Builder, FileEntries};
use crate::unpacked::with_unpacked;
use crate::{Error, FileType, Id, Index, Repository, Result};

/// Index files in flight per thread: enough to keep every core busy
/// while files differ in size, few enough that the files' buffers stay
/// small next to the index.
const FILES_PER_THREAD: usize = 2;

thread_local! {
    /// Each thread's buffer for decompressed index JSON, reused from
    /// file to file during a load and released after it.
    static JSON: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Builds the index of `repo` from its index files `ids`. Files are
/// merged in the order of `ids`, so which copy of a duplicated blob is
/// kept does not depend on timing.
pub(crate) fn load_index(repo: &Repository, ids: &[Id]) -> Result<Index> {
    let mut builder = Builder::default();
    let batch = rayon::current_num_threads().max(1) * FILES_PER_THREAD;
    let mut result = Ok(());
    for chunk in ids.chunks(batch) {
        let parsed: Vec<Result<FileEntries>> =
            chunk.par_iter().map(|id| read_entries(repo, id)).collect();
        result = parsed
            .into_iter()
            .try_for_each(|entries| entries.map(|e| builder.add(e)));
        if result.is_err() {
            break;
        }
    }
    rayon::broadcast(|_| JSON.with(|b| drop(b.take())));
    result.map(|()| builder.finish())
}

/// One index file's entries: loaded and checked, decrypted in place and
/// decompressed into this thread's buffer.
fn read_entries(repo: &Repository, id: &Id) -> Result<FileEntries> {
    let corrupt = |e: Error| Error::Corrupt {
        file_type: FileType::Index,
        id: *id,
        reason: e.to_string(),
    };
    let mut sealed = repo.load_raw(FileType::Index, id)?;
    let plain = repo
        .key()
        .open_in_place(&mut sealed)
        .map_err(|e| corrupt(Error::Other(e.to_string())))?;
    JSON.with(|cell| {
        let mut buffer = cell.borrow_mut();
        with_unpacked(repo.config().version, plain, &mut buffer, FileEntries::parse)
            .map_err(corrupt)?
            .map_err(corrupt)
    })
}
