//! Loading the whole index: index files read, decrypted and parsed on all
//! cores while the files before them are merged, in listing order, on
//! the calling thread.
//!
//! Workers take the next file as soon as they finish one, so a slow file
//! (or one still on its way from the disk) holds up no other core; they
//! stay at most a few files ahead of the merge, which bounds the memory of
//! files in flight.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::build::{Builder, FileEntries};
use crate::unpacked::with_unpacked;
use crate::{Error, FileType, Id, Index, Repository, Result};

/// Index files in flight per worker: enough to keep every core busy
/// while files differ in size, few enough that the files' buffers stay
/// small next to the index.
const FILES_PER_THREAD: usize = 2;

/// Things reused from file to file during one load and released with it:
/// fresh multi-megabyte buffers cost a page fault per page. At most one
/// per file in flight.
struct Spares<T>(Mutex<Vec<T>>);

impl<T: Default> Spares<T> {
    fn new() -> Spares<T> {
        Spares(Mutex::new(Vec::new()))
    }

    fn take(&self) -> T {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, spare: T) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(spare);
    }
}

/// Where a load stands, shared by the workers and the merge.
#[derive(Default)]
struct Progress {
    /// The position of the next file a worker takes.
    next: usize,
    /// How many files the merge has added.
    merged: usize,
    /// The merge is over (done or failed): workers take no more files.
    stop: bool,
}

/// One load's shared state.
struct Load<'a> {
    repo: &'a Repository,
    ids: &'a [Id],
    /// A worker starts a file only this many positions past the merge.
    window: usize,
    progress: Mutex<Progress>,
    changed: Condvar,
    json: Spares<Vec<u8>>,
    entries: Spares<FileEntries>,
}

impl Load<'_> {
    fn progress(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The position of the next file to read, once the window allows it;
    /// `None` when every file is taken or the merge is over.
    fn claim(&self) -> Option<usize> {
        let mut p = self.progress();
        loop {
            if p.stop || p.next >= self.ids.len() {
                return None;
            }
            if p.next < p.merged + self.window {
                p.next += 1;
                return Some(p.next - 1);
            }
            p = self.changed.wait(p).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn set(&self, update: impl FnOnce(&mut Progress)) {
        update(&mut self.progress());
        self.changed.notify_all();
    }

    /// A worker: reads files until none is left, sending each file's
    /// entries (or its error) with its position.
    fn work(&self, done: mpsc::Sender<(usize, Result<FileEntries>)>) {
        while let Some(i) = self.claim() {
            let mut entries = self.entries.take();
            let read = self.read(&self.ids[i], &mut entries).map(|()| entries);
            if done.send((i, read)).is_err() {
                return;
            }
        }
    }

    /// The merge: adds files in listing order as they arrive, and hands
    /// their emptied lists back to the workers.
    fn merge(&self, done: mpsc::Receiver<(usize, Result<FileEntries>)>) -> Result<Index> {
        let mut builder = Builder::default();
        let mut arrived = BTreeMap::new();
        let mut next = 0;
        while next < self.ids.len() {
            let (i, read) = done
                .recv()
                .map_err(|_| Error::Other("the index readers stopped".into()))?;
            arrived.insert(i, read);
            while let Some(read) = arrived.remove(&next) {
                let mut entries = read?;
                builder.add(&mut entries);
                self.entries.give_back(entries);
                next += 1;
                self.set(|p| p.merged = next);
            }
        }
        Ok(builder.finish())
    }

    /// One index file's entries: loaded and checked, decrypted in place
    /// and decompressed into a reused buffer.
    fn read(&self, id: &Id, entries: &mut FileEntries) -> Result<()> {
        let corrupt = |e: Error| Error::Corrupt {
            file_type: FileType::Index,
            id: *id,
            reason: e.to_string(),
        };
        let mut sealed = self.repo.load_raw(FileType::Index, id)?;
        let plain = self
            .repo
            .key()
            .open_in_place(&mut sealed)
            .map_err(|e| corrupt(Error::Other(e.to_string())))?;
        let mut json = self.json.take();
        let read = with_unpacked(self.repo.config().version, plain, &mut json, |doc| {
            entries.read(doc)
        });
        self.json.give_back(json);
        read.map_err(corrupt)?.map_err(corrupt)
    }
}

/// Builds the index of `repo` from its index files `ids`. Files are
/// merged in the order of `ids`, so which copy of a duplicated blob is
/// kept does not depend on timing.
fn load_index(repo: &Repository, ids: &[Id]) -> Result<Index> {
    let workers = rayon::current_num_threads().clamp(1, ids.len().max(1));
    let load = Load {
        repo,
        ids,
        window: workers * FILES_PER_THREAD,
        progress: Mutex::new(Progress::default()),
        changed: Condvar::new(),
        json: Spares::new(),
        entries: Spares::new(),
    };
    let (done, arrivals) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let done = done.clone();
            let load = &load;
            s.spawn(move || load.work(done));
        }
        drop(done);
        // Done, failed or unwinding: the workers take no more files (the
        // scope then waits for the ones still reading, which never wait
        // on a window that no merge will move).
        let _stop = StopOnDrop(&load);
        load.merge(arrivals)
    })
}

/// Stops a load's workers when dropped.
struct StopOnDrop<'l, 'a>(&'l Load<'a>);

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.set(|p| p.stop = true);
    }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use super::*;
    use crate::backend::{Backend, BackendResult};
    use crate::{BackendError, BlobType, IndexBlob, IndexFile, IndexPack};

    /// Files in memory.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<(FileType, Id), Vec<u8>>>);

    impl Memory {
        fn files(&self) -> MutexGuard<'_, HashMap<(FileType, Id), Vec<u8>>> {
            self.0.lock().unwrap()
        }
    }

    impl Backend for Memory {
        fn location(&self) -> String {
            "memory".into()
        }
        fn create(&self) -> BackendResult<()> {
            Ok(())
        }
        fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
            let files = self.files();
            let of_type = files.iter().filter(|((ft, _), _)| *ft == t);
            Ok(of_type.map(|((_, id), d)| (*id, d.len() as u64)).collect())
        }
        fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
            let found = self.files().get(&(t, *id)).cloned();
            found.ok_or(BackendError::NotFound {
                what: id.to_string(),
            })
        }
        fn read_range(&self, t: FileType, id: &Id, o: u64, l: u64) -> BackendResult<Vec<u8>> {
            let all = self.read_full(t, id)?;
            Ok(all[o as usize..(o + l) as usize].to_vec())
        }
        fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
            self.files().insert((t, *id), data.to_vec());
            Ok(())
        }
        fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
            self.files().remove(&(t, *id));
            Ok(())
        }
    }

    /// A repository with `n` index files of 200 blobs each; every file
    /// shares half its blobs with the one before, at other places. The
    /// files come back by id.
    fn repository(n: u32) -> (Arc<Memory>, Repository, HashMap<Id, IndexFile>) {
        let backend = Arc::new(Memory::default());
        let repo = crate::testing::init_repository(backend.clone());
        let mut files = HashMap::new();
        for f in 0..n {
            let file = IndexFile {
                packs: vec![IndexPack {
                    id: Id::hash(&f.to_le_bytes()),
                    blobs: (f * 100..f * 100 + 200)
                        .map(|k| IndexBlob {
                            id: Id::hash(&k.to_le_bytes()),
                            blob_type: [BlobType::Data, BlobType::Tree][(k % 2) as usize],
                            offset: u64::from(k + f),
                            length: 40,
                            uncompressed_length: None,
                        })
                        .collect(),
                }],
                ..Default::default()
            };
            let id = repo
                .save_unpacked(FileType::Index, &file.to_json().unwrap())
                .unwrap();
            files.insert(id, file);
        }
        (backend, repo, files)
    }

    fn listing(repo: &Repository) -> Vec<Id> {
        let listed = repo.list(FileType::Index).unwrap();
        listed.into_iter().map(|(id, _)| id).collect()
    }

    #[test]
    fn a_load_keeps_the_listing_order_however_the_workers_finish() {
        let (_, repo, files) = repository(40);
        let order = listing(&repo);
        let (index, mut ids) = repo.load_index_listed().unwrap();
        // Each blob resolves to its first location in the listing's order.
        let want = Index::from_files(order.iter().map(|id| &files[id]));
        for k in 0..4100u32 {
            let id = Id::hash(&k.to_le_bytes());
            for t in [BlobType::Data, BlobType::Tree] {
                assert_eq!(index.get(t, &id), want.get(t, &id), "blob {k}");
            }
        }
        assert_eq!(index.packs(), want.packs());
        let mut all = order;
        all.sort_unstable();
        ids.dedup();
        assert_eq!(ids, all);
    }

    #[test]
    fn a_damaged_index_file_fails_the_load_by_name() {
        let (backend, repo, _) = repository(30);
        let victim = listing(&repo)[17];
        // Past its name check too: the stored bytes are replaced, and the
        // file renamed to their hash, so only the decryption can tell.
        let mut bytes = backend.files().remove(&(FileType::Index, victim)).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let renamed = Id::hash(&bytes);
        backend.files().insert((FileType::Index, renamed), bytes);
        match repo.load_index() {
            Err(Error::Corrupt { file_type, id, .. }) => {
                assert_eq!((file_type, id), (FileType::Index, renamed));
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a damaged index file loaded"),
        }
    }
}
