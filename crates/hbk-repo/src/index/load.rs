//! Loading the whole index: index files read, decrypted and parsed on all
//! cores, merged in listing order as they arrive.

use std::sync::Mutex;

use rayon::prelude::*;

use super::build::{Builder, FileEntries};
use crate::unpacked::with_unpacked;
use crate::{Error, FileType, Id, Index, Repository, Result};

/// Index files in flight per thread: enough to keep every core busy
/// while files differ in size, few enough that the files' buffers stay
/// small next to the index.
const FILES_PER_THREAD: usize = 2;

/// Buffers for decompressed index JSON, reused from file to file during
/// one load (fresh multi-megabyte buffers cost a page fault per page) and
/// released with it. At most one per file in flight.
#[derive(Default)]
struct Buffers(Mutex<Vec<Vec<u8>>>);

impl Buffers {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, buffer: Vec<u8>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(buffer);
    }
}

/// Builds the index of `repo` from its index files `ids`. Files are
/// merged in the order of `ids`, so which copy of a duplicated blob is
/// kept does not depend on timing.
fn load_index(repo: &Repository, ids: &[Id]) -> Result<Index> {
    let mut builder = Builder::default();
    let buffers = Buffers::default();
    let batch = rayon::current_num_threads().max(1) * FILES_PER_THREAD;
    for chunk in ids.chunks(batch) {
        let parsed: Vec<Result<FileEntries>> = chunk
            .par_iter()
            .map(|id| read_entries(repo, id, &buffers))
            .collect();
        for entries in parsed {
            builder.add(entries?);
        }
    }
    Ok(builder.finish())
}

impl Repository {
    /// The whole index, built while the index files are read on all
    /// cores: no parsed [`IndexFile`](crate::IndexFile) of the whole
    /// repository is held, so the peak memory is about the index itself
    /// (48 bytes a blob). Equal to [`Index::from_files`] over
    /// [`Repository::index_files`].
    pub fn load_index(&self) -> Result<Index> {
        Ok(self.load_index_listed()?.0)
    }

    /// [`Repository::load_index`], with the ids of the index files it
    /// read (sorted).
    pub fn load_index_listed(&self) -> Result<(Index, Vec<Id>)> {
        let mut ids: Vec<Id> = self
            .list(FileType::Index)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        // Loaded in the listing's order (the order of the index's packs),
        // handed back sorted.
        let index = load_index(self, &ids)?;
        ids.sort_unstable();
        Ok((index, ids))
    }
}

/// One index file's entries: loaded and checked, decrypted in place and
/// decompressed into a reused buffer.
fn read_entries(repo: &Repository, id: &Id, buffers: &Buffers) -> Result<FileEntries> {
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
    let mut buffer = buffers.take();
    let entries = with_unpacked(
        repo.config().version,
        plain,
        &mut buffer,
        FileEntries::parse,
    );
    buffers.give_back(buffer);
    entries.map_err(corrupt)?.map_err(corrupt)
}
