//! [`MemoryBackend`]: a repository held in memory, for tests and for
//! embedders that want a repository without storage (a scratch
//! repository, a dry run). Nothing survives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hbk_repo::{Backend, BackendError, BackendResult, FileType, Id};

/// The stored files, by type and id (the config under the zero id).
type Files = BTreeMap<(FileType, Id), Arc<[u8]>>;

/// A backend keeping every file in memory. It follows the
/// [`Backend`] contract like the storage backends (checked by the
/// conformance suite), so engine unit tests can run on it instead of a
/// temporary directory. Clones share the same files.
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    files: Arc<Mutex<Files>>,
}

impl MemoryBackend {
    /// An empty backend (no repository yet: call [`Backend::create`]).
    pub fn new() -> Self {
        MemoryBackend::default()
    }

    fn files(&self) -> MutexGuard<'_, Files> {
        // A panic while holding the lock cannot leave a half-written
        // map entry behind (inserts are single operations).
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key of a file: the config is stored under the zero id, since
    /// the trait ignores the id for it.
    fn key(t: FileType, id: &Id) -> (FileType, Id) {
        match t {
            FileType::Config => (t, Id::default()),
            _ => (t, *id),
        }
    }

    fn what(t: FileType, id: &Id) -> String {
        match t {
            FileType::Config => "memory:config".to_string(),
            _ => format!("memory:{}/{}", t.dir_name(), id.to_hex()),
        }
    }

    fn get(&self, t: FileType, id: &Id) -> BackendResult<Arc<[u8]>> {
        self.files()
            .get(&Self::key(t, id))
            .cloned()
            .ok_or_else(|| BackendError::NotFound {
                what: Self::what(t, id),
            })
    }
}

impl Backend for MemoryBackend {
    fn location(&self) -> String {
        "memory:".to_string()
    }

    fn create(&self) -> BackendResult<()> {
        if self
            .files()
            .contains_key(&Self::key(FileType::Config, &Id::default()))
        {
            return Err(BackendError::AlreadyExists {
                what: Self::what(FileType::Config, &Id::default()),
            });
        }
        Ok(())
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        Ok(self
            .files()
            .iter()
            .filter(|((ft, _), _)| *ft == t)
            .map(|((_, id), data)| (*id, data.len() as u64))
            .collect())
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        Ok(self.get(t, id)?.to_vec())
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        let data = self.get(t, id)?;
        let range = usize::try_from(offset).ok().and_then(|start| {
            let end = start.checked_add(usize::try_from(length).ok()?)?;
            data.get(start..end)
        });
        match range {
            Some(bytes) => Ok(bytes.to_vec()),
            None => Err(BackendError::ShortRead {
                what: Self::what(t, id),
                offset,
                length,
                got: (data.len() as u64).saturating_sub(offset),
            }),
        }
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.files().insert(Self::key(t, id), Arc::from(data));
        Ok(())
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        match self.files().remove(&Self::key(t, id)) {
            Some(_) => Ok(()),
            None => Err(BackendError::NotFound {
                what: Self::what(t, id),
            }),
        }
    }
}
