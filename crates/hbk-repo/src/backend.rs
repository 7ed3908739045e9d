//! The storage seam: every backend (local directory, S3, REST) implements
//! [`Backend`], keyed by file type and id.

use crate::{BackendError, FileType, Id};

/// Result of a backend call.
pub type BackendResult<T> = std::result::Result<T, BackendError>;

/// Raw, unencrypted access to a repository's files.
///
/// Calls are synchronous and may be made from many threads at once. For
/// [`FileType::Config`] the id is ignored: there is only one config.
/// Writes are atomic: an object is either absent or complete.
pub trait Backend: Send + Sync {
    /// A human-readable location, for messages (never contains secrets).
    fn location(&self) -> String;

    /// Creates the repository's structure; fails if a config exists already.
    fn create(&self) -> BackendResult<()>;

    /// All files of one type with their sizes. Names that are not ids are
    /// skipped.
    fn list(&self, file_type: FileType) -> BackendResult<Vec<(Id, u64)>>;

    /// The whole file.
    fn read_full(&self, file_type: FileType, id: &Id) -> BackendResult<Vec<u8>>;

    /// `length` bytes starting at `offset`; fewer bytes is an error.
    fn read_range(
        &self,
        file_type: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>>;

    /// Like [`Backend::read_range`], as a stream: a large range (a whole
    /// pack's wanted blobs) is then read piece by piece in one request
    /// instead of being held in memory at once. A read error part-way is
    /// an `io::Error` of the stream; a short stream ends early (callers
    /// read exact lengths). The default reads the range at once.
    fn read_range_stream(
        &self,
        file_type: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        let bytes = self.read_range(file_type, id, offset, length)?;
        Ok(Box::new(std::io::Cursor::new(bytes)))
    }

    /// Like [`Backend::read_range`], for metadata worth keeping in a local
    /// cache: tree blobs, which every command reads again. A caching
    /// backend may fetch the whole pack once and serve later reads locally.
    fn read_metadata_range(
        &self,
        file_type: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>> {
        self.read_range(file_type, id, offset, length)
    }

    /// Whether a written file shows in the next listing at once, from
    /// every process (a local directory). Lock acquisition then checks for
    /// a racing lock right after writing its own instead of waiting for
    /// slower listings to catch up. The default assumes a delay.
    fn lists_writes_at_once(&self) -> bool {
        false
    }

    /// How many full packs a writer may have on their way to this
    /// backend at once. Behind a network several uploads in flight hide
    /// its latency; a local disk takes a pack in a few milliseconds, and
    /// each pack in flight more is a pack's buffer (16 MiB and more) of a
    /// backup's memory. The default is for a network.
    fn packs_in_flight(&self) -> usize {
        2
    }

    /// A new file of `file_type` to write piece by piece, when this
    /// backend keeps the pieces somewhere other than memory (a local
    /// directory writes them to an unnamed file); `None` when the whole
    /// file goes to [`Backend::write`] at once (a request's body). The
    /// default is `None`.
    fn file_sink(&self, file_type: FileType) -> BackendResult<Option<Box<dyn FileSink>>> {
        let _ = file_type;
        Ok(None)
    }

    /// Stores a new file atomically. A pack's `id` is the SHA-256 of
    /// `data`, as the repository format names every pack; a backend may
    /// rely on it (S3 signs a pack's upload with it).
    fn write(&self, file_type: FileType, id: &Id, data: &[u8]) -> BackendResult<()>;

    /// [`Backend::write`] of shared bytes: a backend that sends them over
    /// the network hands them to the request as they are (a pack is 16
    /// MiB; copying it per upload doubled the memory of packs in flight),
    /// and a retry resends them without a copy. The default writes the
    /// slice.
    fn write_bytes(&self, file_type: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        self.write(file_type, id, &data)
    }

    /// Deletes a file; a missing file is [`BackendError::NotFound`].
    fn remove(&self, file_type: FileType, id: &Id) -> BackendResult<()>;

    /// Deletes a file that may be gone already (a lock being released,
    /// which another process may have removed as stale): a missing file
    /// is no error. A backend that can delete without first finding out
    /// whether the file is there (S3: deletes are idempotent) saves a
    /// request. The default is [`Backend::remove`] with a missing file
    /// accepted.
    fn discard(&self, file_type: FileType, id: &Id) -> BackendResult<()> {
        match self.remove(file_type, id) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}

/// A file written piece by piece, named only at the end: a pack, whose
/// name is the hash of all its bytes, need then not be held in memory
/// while it is built. Dropped without [`FileSink::commit`], it leaves
/// nothing behind.
pub trait FileSink: Send {
    /// Appends `data`.
    fn append(&mut self, data: &[u8]) -> BackendResult<()>;

    /// Stores what was appended as the file `id`, as [`Backend::write`]
    /// stores one (atomically, and as durable as its writes are).
    fn commit(self: Box<Self>, id: &Id) -> BackendResult<()>;
}
