//! Packs for a backend behind a network, staged on the local disk while
//! they are built: a backup then holds in memory only the packs being
//! uploaded, not the one being filled (restic stages its packs in
//! temporary files too). Each pack is an unnamed file (`O_TMPFILE`) of
//! the temporary directory, gone when the pack is uploaded or given up,
//! or when the process dies. Other files go straight to the backend.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use hbk_repo::{Backend, BackendError, BackendResult, FileSink, FileType, Id};

/// A backend whose packs are staged in unnamed files of a directory.
pub struct StagedUploads {
    inner: Arc<dyn Backend>,
    dir: PathBuf,
}

impl StagedUploads {
    /// `inner`, with packs written piece by piece staged in `dir` (a
    /// directory where unnamed files cannot be made means packs are
    /// built in memory as before).
    pub fn new(inner: Arc<dyn Backend>, dir: PathBuf) -> Self {
        StagedUploads { inner, dir }
    }
}

/// A pack being staged, uploaded whole on commit.
struct StagedPack {
    inner: Arc<dyn Backend>,
    file: File,
    len: u64,
    dir: PathBuf,
}

impl StagedPack {
    fn io_err(&self, source: std::io::Error) -> BackendError {
        BackendError::Io {
            what: format!("staging a pack in {}", self.dir.display()),
            source,
        }
    }
}

impl FileSink for StagedPack {
    fn append(&mut self, data: &[u8]) -> BackendResult<()> {
        self.file.write_all(data).map_err(|e| self.io_err(e))?;
        self.len += data.len() as u64;
        Ok(())
    }

    fn commit(self: Box<Self>, id: &Id) -> BackendResult<()> {
        let len = usize::try_from(self.len)
            .map_err(|_| self.io_err(std::io::Error::other("a staged pack larger than memory")))?;
        let mut bytes = vec![0; len];
        self.file
            .read_exact_at(&mut bytes, 0)
            .map_err(|e| self.io_err(e))?;
        self.inner
            .write_bytes(FileType::Pack, id, bytes::Bytes::from(bytes))
    }
}

impl Backend for StagedUploads {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn lists_writes_at_once(&self) -> bool {
        self.inner.lists_writes_at_once()
    }

    fn packs_in_flight(&self) -> usize {
        self.inner.packs_in_flight()
    }

    fn file_sink(&self, t: FileType) -> BackendResult<Option<Box<dyn FileSink>>> {
        if t != FileType::Pack {
            return Ok(None);
        }
        Ok(crate::local::unnamed_file(&self.dir).ok().map(|file| {
            Box::new(StagedPack {
                inner: Arc::clone(&self.inner),
                file,
                len: 0,
                dir: self.dir.clone(),
            }) as Box<dyn FileSink>
        }))
    }

    fn create(&self) -> BackendResult<()> {
        self.inner.create()
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        self.inner.list(t)
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        self.inner.read_full(t, id)
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        self.inner.read_range(t, id, offset, length)
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        self.inner.read_range_stream(t, id, offset, length)
    }

    fn read_metadata_range(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>> {
        self.inner.read_metadata_range(t, id, offset, length)
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.inner.write(t, id, data)
    }

    fn write_bytes(&self, t: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        self.inner.write_bytes(t, id, data)
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.inner.remove(t, id)
    }

    fn discard(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.inner.discard(t, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    #[test]
    fn a_staged_pack_is_uploaded_whole_on_commit_only() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Arc::new(MemoryBackend::new());
        let staged = StagedUploads::new(memory.clone(), dir.path().to_path_buf());
        let bytes: Vec<u8> = (0..(2 << 20) + 99u32).map(|i| (i % 241) as u8).collect();
        let id = Id::hash(&bytes);
        let mut sink = staged.file_sink(FileType::Pack).unwrap().expect("a sink");
        for piece in bytes.chunks(1 << 20) {
            sink.append(piece).unwrap();
        }
        // Staged without a name: nothing in the directory, nothing sent.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(memory.list(FileType::Pack).unwrap().is_empty());
        sink.commit(&id).unwrap();
        assert!(memory.read_full(FileType::Pack, &id).unwrap() == bytes);

        // Given up: nothing sent, nothing left.
        let mut sink = staged.file_sink(FileType::Pack).unwrap().expect("a sink");
        sink.append(b"half a pack").unwrap();
        drop(sink);
        assert_eq!(memory.list(FileType::Pack).unwrap().len(), 1);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // Only packs are staged.
        assert!(staged.file_sink(FileType::Index).unwrap().is_none());
    }

    #[test]
    fn without_unnamed_files_packs_stay_in_memory() {
        let memory = Arc::new(MemoryBackend::new());
        let staged = StagedUploads::new(memory, PathBuf::from("/nonexistent/hbk-staging"));
        assert!(staged.file_sink(FileType::Pack).unwrap().is_none());
    }
}
