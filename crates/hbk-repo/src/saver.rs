//! Saving blobs: deduplication against the index and this run, packing,
//! uploading, and writing index files as packs complete. Backup, copy,
//! prune (repacking) and repair all store blobs this way.
//!
//! Threads call [`BlobSaver::save`] concurrently. Hashing, compression and
//! encryption happen in the calling thread; only appending to the open pack
//! takes a lock. A full pack is finished and uploaded by the thread that
//! filled it, outside the lock, so uploads run in parallel too. Every few
//! packs an index file is written, so packs of an interrupted backup are
//! known to the next one, and every uploaded pack is added to the
//! in-memory [`Index`] the saver was given, so later reads through the
//! same handle find its blobs.
//!
//! A backend that takes files piece by piece (a local directory, see
//! [`crate::FileSink`]) gets each pack's bytes as its blobs are added,
//! through a helper thread that also hashes them, so no pack is ever held
//! in memory whole; others get each pack whole when it is full.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::blob::{encode_blob, BlobScratch, Compression, SealedBlob};
use crate::pack::{PackOutput, PackWriter};
use crate::spool::Spool;
use crate::{BlobType, FileType, Id, Index, IndexBlob, IndexFile, IndexPack, Repository, Result};

/// Index files are written after this many packs (a backup interrupted
/// before its index was written leaves packs the next backup adopts, so
/// this only bounds the work lost; each index file is one more request
/// over a WAN)…
const INDEX_EVERY_PACKS: usize = 64;
/// …or when they hold this many blobs (restic keeps index files small)…
const INDEX_MAX_BLOBS: usize = 50_000;
/// …or when the oldest unindexed pack is this old.
const INDEX_EVERY: Duration = Duration::from_secs(30);
/// Buffers of uploaded packs kept for the next packs. Reusing them keeps
/// a backup from allocating (and the kernel from zeroing) a fresh pack
/// buffer every 16 MiB, and the allocator from holding freed ones.
const SPARE_BUFFERS: usize = 1;
/// Room a data pack's buffer has beyond the target pack size, so that it
/// never reallocates: a blob that would not fit goes to the next pack.
/// Chunks average 1 MiB and rarely exceed 4, so packs still close once
/// they reach the target, as restic's do (as many packs, and requests),
/// while a recycled buffer never holds more than target plus this much.
const PACK_SLACK: usize = 4 << 20;

thread_local! {
    /// Each thread's buffers for compressing and sealing blobs.
    static SCRATCH: std::cell::RefCell<BlobScratch> = std::cell::RefCell::default();
}

/// Where an open pack's bytes go: written out as it is built when the
/// backend takes a file piece by piece (a local directory), else held in
/// memory until the pack is uploaded whole.
enum PackBytes {
    Memory(Vec<u8>),
    Spooled(Spool),
}

impl Default for PackBytes {
    fn default() -> Self {
        PackBytes::Memory(Vec::new())
    }
}

impl PackOutput for PackBytes {
    fn put(&mut self, bytes: &[u8]) {
        match self {
            PackBytes::Memory(v) => v.put(bytes),
            PackBytes::Spooled(s) => s.put(bytes),
        }
    }
}

/// A pack being filled.
type OpenPack = PackWriter<PackBytes>;

/// Counters of what a saver added.
#[derive(Debug, Default)]
pub struct SaverStats {
    /// New data blobs.
    pub data_blobs: AtomicU64,
    /// New tree blobs.
    pub tree_blobs: AtomicU64,
    /// Plaintext bytes of new blobs.
    pub data_added: AtomicU64,
    /// Stored (compressed, encrypted) bytes of new blobs.
    pub data_added_packed: AtomicU64,
    /// Packs written.
    pub packs: AtomicU64,
}

struct PendingIndex {
    packs: Vec<IndexPack>,
    since: Option<Instant>,
}

/// Deduplicating blob storage for one run of a command that writes blobs.
///
/// ```
/// use std::sync::Arc;
/// use hbk_repo::{BlobSaver, BlobType, Config, Id, KdfParams, Repository};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let backend = Arc::new(hbk_backend::LocalBackend::new(dir.path()));
/// let config = Config {
///     version: 2,
///     id: Id::random(),
///     chunker_polynomial: 0x3DA3358B4DC173,
///     extra: Default::default(),
/// };
/// let kdf = KdfParams::RESTIC_DEFAULT;
/// let repo = Repository::init(backend, b"secret", config, kdf, "me", "host")?.into_indexed()?;
///
/// let saver = BlobSaver::new(&repo, repo.index(), 16 << 20, Some(3), false);
/// let id = saver.save(BlobType::Data, b"hello")?;
/// saver.flush()?;
/// // The handle's index learnt the new pack: the blob reads back at once.
/// assert_eq!(repo.blob(BlobType::Data, &id)?, b"hello");
/// # Ok(())
/// # }
/// ```
pub struct BlobSaver<'a> {
    repo: &'a Repository,
    index: &'a Index,
    seen: Mutex<HashSet<(BlobType, Id)>>,
    data_pack: Mutex<OpenPack>,
    tree_pack: Mutex<OpenPack>,
    pending: Mutex<PendingIndex>,
    /// Full packs in flight and the buffers of uploaded ones.
    buffers: PackBuffers,
    /// Uploaded packs, kept only when asked for (prune needs them; a
    /// large backup should not hold them all in memory).
    written: Option<Mutex<Vec<IndexPack>>>,
    /// The index files written.
    index_files: Mutex<Vec<Id>>,
    pack_size: u64,
    level: Option<i32>,
    dry_run: bool,
    /// Asked before every write (see [`BlobSaver::writing_after`]).
    gate: Option<&'a WriteGate<'a>>,
    /// What was added.
    pub stats: SaverStats,
}

/// What a saver asks before it writes: `Ok` to go on, or the reason no
/// write may happen (a lock that turned out not to be held).
pub type WriteGate<'a> = dyn Fn() -> Result<()> + Sync + 'a;

impl<'a> BlobSaver<'a> {
    /// A saver writing packs of about `pack_size` bytes, compressing data
    /// blobs at zstd `level` (v2 only; trees are always compressed in v2).
    /// Blobs `index` knows are not stored again, and uploaded packs are
    /// added to it. A `dry_run` saver counts but uploads nothing.
    pub fn new(
        repo: &'a Repository,
        index: &'a Index,
        pack_size: u64,
        level: Option<i32>,
        dry_run: bool,
    ) -> Self {
        let v2 = repo.config().version >= 2;
        BlobSaver {
            repo,
            index,
            seen: Mutex::new(HashSet::new()),
            data_pack: Mutex::default(),
            tree_pack: Mutex::default(),
            pending: Mutex::new(PendingIndex {
                packs: Vec::new(),
                since: None,
            }),
            buffers: PackBuffers::new(repo.backend().packs_in_flight()),
            written: None,
            index_files: Mutex::default(),
            pack_size,
            level: if v2 { level } else { None },
            dry_run,
            gate: None,
            stats: SaverStats::default(),
        }
    }

    /// Whether the blob is in the repository or was saved in this run.
    pub fn has(&self, t: BlobType, id: &Id) -> bool {
        self.index.contains(t, id) || self.seen_or_indexed(t, id, false)
    }

    /// Whether the blob was saved in this run (adding it to `seen` when
    /// `add` and it was not). Asked under the lock of `seen`, which a
    /// blob leaves only once its pack is in the index, so a blob is never
    /// missed between the two.
    fn seen_or_indexed(&self, t: BlobType, id: &Id, add: bool) -> bool {
        let mut seen = lock(&self.seen);
        if self.index.contains(t, id) {
            return true;
        }
        match add {
            true => !seen.insert((t, *id)),
            false => seen.contains(&(t, *id)),
        }
    }

    /// Stores a blob unless it exists; returns its id.
    pub fn save(&self, t: BlobType, data: &[u8]) -> Result<Id> {
        let id = Id::hash(data);
        self.save_with_id(t, id, data)?;
        Ok(id)
    }

    /// Stores a blob whose id the caller computed; returns the bytes it
    /// added to the repository (encrypted, maybe compressed), 0 when the
    /// blob was stored already (a stored blob always takes more than 0).
    pub fn save_with_id(&self, t: BlobType, id: Id, data: &[u8]) -> Result<u64> {
        if self.index.contains(t, &id) || self.seen_or_indexed(t, &id, true) {
            return Ok(0);
        }
        let compression = match (t, self.repo.config().version >= 2, self.level) {
            (_, false, _) => Compression::Off,
            (BlobType::Data, true, Some(l)) => Compression::IfSmaller(l),
            (BlobType::Data, true, None) => Compression::Off,
            (BlobType::Tree, true, l) => Compression::Always(l.unwrap_or(3)),
        };
        self.stats
            .data_added
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        let (full, stored) = SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            let blob = encode_blob(self.repo.key(), t, id, data, compression, &mut scratch);
            let stored = blob.sealed.len() as u64;
            let full = self.add_to_pack(&blob);
            scratch.trim();
            (full, stored)
        });
        // A pack left over after a failed upload is dropped, which gives
        // its place in flight back ([`InFlight`]).
        full.into_iter().try_for_each(|pack| self.upload(pack))?;
        Ok(stored)
    }

    /// Counts and appends a sealed blob to the open pack of its type;
    /// returns the packs that became full (to upload outside the lock).
    fn add_to_pack(&self, blob: &SealedBlob<'_>) -> Vec<ClosedPack<'_>> {
        let (counter, packer) = match blob.blob_type {
            BlobType::Data => (&self.stats.data_blobs, &self.data_pack),
            BlobType::Tree => (&self.stats.tree_blobs, &self.tree_pack),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.stats
            .data_added_packed
            .fetch_add(blob.sealed.len() as u64, Ordering::Relaxed);
        let mut full = Vec::new();
        let mut p = lock(packer);
        // A blob that would grow the pack past its buffer closes the pack
        // first: a buffer that doubled (a pack near its target size plus
        // a large chunk) would stay that big, resident, for every pack it
        // is recycled into. Spooled packs follow the same rule, so packs
        // have the same sizes (and count) whichever way they are written.
        if !p.is_empty() && p.size() + blob.sealed.len() as u64 > self.pack_capacity() as u64 {
            full.push(self.close(&mut p, true));
        }
        if p.is_empty() {
            self.start(&mut p, blob.blob_type);
        }
        p.add(blob);
        if p.size() >= self.pack_size {
            // A thread holding a pack it closed must not wait for room:
            // that pack's upload may be what frees it.
            let wait = full.is_empty();
            full.push(self.close(&mut p, wait));
        }
        full
    }

    fn pack_capacity(&self) -> usize {
        pack_capacity(self.pack_size)
    }

    /// Begins the empty pack `open`: written out as it is built when the
    /// backend takes files piece by piece (nothing is named in the
    /// repository before the upload, which asks the gate first), else in
    /// memory (a data pack in a recycled buffer when there is one).
    fn start(&self, open: &mut OpenPack, t: BlobType) {
        let sink = match self.dry_run {
            true => None,
            false => self.repo.backend().file_sink(FileType::Pack).ok().flatten(),
        };
        // A spool that cannot start its helper leaves the pack in memory.
        let bytes = match sink.map(Spool::new) {
            Some(Ok(spool)) => PackBytes::Spooled(spool),
            _ if t == BlobType::Tree => PackBytes::Memory(Vec::new()),
            _ => {
                let mut buf = self.buffers.spare().unwrap_or_default();
                buf.clear();
                buf.reserve(self.pack_capacity());
                PackBytes::Memory(buf)
            }
        };
        *open = PackWriter::new(bytes);
    }

    /// Takes the open pack, counted as in flight until uploaded or
    /// dropped, leaving an empty one that the next blob starts.
    fn close(&self, open: &mut OpenPack, wait: bool) -> ClosedPack<'_> {
        ClosedPack {
            slot: self.buffers.closed(wait),
            pack: std::mem::take(open),
        }
    }

    /// Uploads a pack [`BlobSaver::close`] or [`BlobSaver::flush`] took,
    /// adds it to the index and writes an index file when one is due.
    fn upload(&self, closed: ClosedPack<'_>) -> Result<()> {
        let ClosedPack { pack, mut slot } = closed;
        if pack.is_empty() {
            return Ok(());
        }
        let (bytes, blobs) = pack.finish(self.repo.key());
        // The place (and the buffer) goes back whether or not the write
        // worked, so waiting threads never wait for a pack that is gone.
        let (written, buffer) = match bytes {
            PackBytes::Memory(bytes) => self.write_pack(bytes),
            PackBytes::Spooled(spool) => (self.commit_spooled(spool), None),
        };
        slot.spare = buffer;
        drop(slot);
        let id = written?;
        self.stats.packs.fetch_add(1, Ordering::Relaxed);
        let entry = IndexPack {
            id,
            blobs: blobs.iter().map(IndexBlob::from).collect(),
        };
        if !self.dry_run {
            self.index.add_pack(&entry);
            // The index answers for these blobs from now on: `seen` keeps
            // only the blobs of packs not yet written (it held every blob
            // of the run, 70 MB in a backup of a million new files).
            let mut seen = lock(&self.seen);
            for b in &blobs {
                seen.remove(&(b.blob_type, b.id));
            }
        }
        if let Some(w) = &self.written {
            lock(w).push(entry.clone());
        }
        let due = {
            let mut p = lock(&self.pending);
            p.packs.push(entry);
            let since = *p.since.get_or_insert_with(Instant::now);
            let blobs: usize = p.packs.iter().map(|p| p.blobs.len()).sum();
            if p.packs.len() >= INDEX_EVERY_PACKS
                || blobs >= INDEX_MAX_BLOBS
                || since.elapsed() >= INDEX_EVERY
            {
                p.since = None;
                Some(std::mem::take(&mut p.packs))
            } else {
                None
            }
        };
        if let Some(packs) = due {
            self.write_index(packs)?;
        }
        Ok(())
    }

    /// Writes a pack held in memory; returns its id (or why it was not
    /// written) and its buffer, when the backend kept no reference to it.
    fn write_pack(&self, bytes: Vec<u8>) -> (Result<Id>, Option<Vec<u8>>) {
        let id = Id::hash(&bytes);
        let shared = bytes::Bytes::from(bytes);
        let written = match self.dry_run {
            true => Ok(()),
            false => self.may_write().and_then(|()| {
                self.repo
                    .backend()
                    .write_bytes(FileType::Pack, &id, shared.clone())
                    .map_err(Into::into)
            }),
        };
        (
            written.map(|()| id),
            shared.try_into_mut().ok().map(Vec::from),
        )
    }

    /// Waits for a spooled pack's last bytes and stores it under its id
    /// (once the gate lets writes through); returns the id.
    fn commit_spooled(&self, spool: Spool) -> Result<Id> {
        let (id, sink) = spool.finish()?;
        self.may_write()?;
        sink.commit(&id)?;
        Ok(id)
    }

    fn write_index(&self, packs: Vec<IndexPack>) -> Result<()> {
        if packs.is_empty() || self.dry_run {
            return Ok(());
        }
        self.may_write()?;
        let file = IndexFile {
            packs,
            ..Default::default()
        };
        let id = self.repo.save_unpacked(FileType::Index, &file.to_json()?)?;
        lock(&self.index_files).push(id);
        Ok(())
    }

    /// The index files written so far.
    pub fn written_index_files(&self) -> Vec<Id> {
        lock(&self.index_files).clone()
    }

    /// Makes every write (pack or index file) ask `gate` first and fail
    /// with its error: a backup packs its first files while its lock's
    /// final check is still under way, and nothing reaches the repository
    /// before the check has passed.
    pub fn writing_after(mut self, gate: &'a WriteGate<'a>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Whether the gate lets writes through (always, without one).
    fn may_write(&self) -> Result<()> {
        self.gate.map_or(Ok(()), |gate| gate())
    }

    /// Makes the saver remember every pack it uploads, for
    /// [`BlobSaver::written_packs`].
    pub fn remembering_packs(mut self) -> Self {
        self.written = Some(Mutex::new(Vec::new()));
        self
    }

    /// Every pack uploaded so far with its blobs, when
    /// [`BlobSaver::remembering_packs`] was asked for (prune rewrites the
    /// whole index afterwards); empty otherwise.
    pub fn written_packs(&self) -> Vec<IndexPack> {
        self.written
            .as_ref()
            .map(|w| lock(w).clone())
            .unwrap_or_default()
    }

    /// Finishes and uploads the open packs and writes the remaining index.
    /// Call once, after the last blob, before saving the snapshot.
    pub fn flush(&self) -> Result<()> {
        let data = std::mem::take(&mut *lock(&self.data_pack));
        let tree = std::mem::take(&mut *lock(&self.tree_pack));
        for pack in [data, tree] {
            // Counted like a closed pack; `upload` gives its buffer back.
            let slot = self.buffers.closed(false);
            self.upload(ClosedPack { pack, slot })?;
        }
        let packs = std::mem::take(&mut lock(&self.pending).packs);
        self.write_index(packs)
    }
}

/// Full packs in flight, and buffers of uploaded ones for the next packs.
struct PackBuffers {
    state: Mutex<BufferState>,
    uploaded: Condvar,
    /// Full packs held in memory (uploading) before the thread that fills
    /// the next one waits ([`Backend::packs_in_flight`]): a backend slower
    /// than hashing and compressing holds the producers back instead of
    /// piling up 16 MiB packs, while a remote one still has a few uploads
    /// in flight to hide its latency.
    ///
    /// [`Backend::packs_in_flight`]: crate::Backend::packs_in_flight
    max_full: usize,
}

#[derive(Default)]
struct BufferState {
    /// Packs closed and not yet uploaded (or failed).
    in_flight: usize,
    /// Buffers of uploaded packs.
    spare: Vec<Vec<u8>>,
}

impl PackBuffers {
    /// Buffers for packs of which at most `max_full` (at least one) are
    /// in flight at once.
    fn new(max_full: usize) -> Self {
        PackBuffers {
            state: Mutex::default(),
            uploaded: Condvar::new(),
            max_full: max_full.max(1),
        }
    }

    /// Counts a pack as closed, first waiting (when asked to) while
    /// [`PackBuffers::max_full`] are in flight. The wait happens under
    /// the open pack's lock, so the other producers wait too; the uploads
    /// it waits for take no such lock, and the waiting thread holds no
    /// closed pack.
    fn closed(&self, wait: bool) -> InFlight<'_> {
        let mut state = lock(&self.state);
        while wait && state.in_flight >= self.max_full {
            state = self.uploaded.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.in_flight += 1;
        InFlight {
            buffers: self,
            spare: None,
        }
    }

    /// A buffer of an uploaded pack, for the next pack held in memory.
    fn spare(&self) -> Option<Vec<u8>> {
        lock(&self.state).spare.pop()
    }

    /// Counts a closed pack as done, keeping its buffer when one is needed.
    fn uploaded(&self, buffer: Option<Vec<u8>>) {
        let mut state = lock(&self.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        if let Some(b) = buffer.filter(|_| state.spare.len() < SPARE_BUFFERS) {
            state.spare.push(b);
        }
        drop(state);
        self.uploaded.notify_all();
    }
}

/// A closed pack with its place among the packs in flight.
struct ClosedPack<'b> {
    pack: OpenPack,
    slot: InFlight<'b>,
}

/// A place among [`PackBuffers`]' packs in flight, given back (with
/// `spare`, the uploaded pack's buffer) when dropped: after an upload, or
/// when a pack is left over after an error. A place kept by a dropped pack
/// kept the next producer waiting forever (a backup onto a full disk hung
/// so).
struct InFlight<'b> {
    buffers: &'b PackBuffers,
    spare: Option<Vec<u8>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.buffers.uploaded(self.spare.take());
    }
}

/// Bytes reserved for each data pack of a saver writing packs of about
/// `pack_size` bytes: the target size plus room for the blob that reaches it.
fn pack_capacity(pack_size: u64) -> usize {
    usize::try_from(pack_size)
        .unwrap_or(usize::MAX)
        .saturating_add(PACK_SLACK)
}

/// Locks a mutex, recovering from poisoning (a panicked worker must not
/// hide the data other workers saved).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    use super::*;
    use crate::backend::{Backend, BackendResult};

    /// A memory backend whose pack writes are slow, counting how many run
    /// at once.
    #[derive(Default)]
    struct SlowPacks {
        files: Arc<Mutex<Files>>,
        running: AtomicUsize,
        most: AtomicUsize,
        pack_sizes: Mutex<Vec<usize>>,
        /// What [`Backend::packs_in_flight`] answers (0: the default).
        in_flight: AtomicUsize,
        /// Whether packs are written piece by piece ([`Backend::file_sink`]).
        sinks: std::sync::atomic::AtomicBool,
    }

    type Files = std::collections::HashMap<(FileType, Id), Vec<u8>>;

    /// A pack written piece by piece into [`SlowPacks`]' files.
    struct Sink {
        files: Arc<Mutex<Files>>,
        bytes: Vec<u8>,
    }

    impl crate::FileSink for Sink {
        fn append(&mut self, data: &[u8]) -> BackendResult<()> {
            self.bytes.extend_from_slice(data);
            Ok(())
        }
        fn commit(self: Box<Self>, id: &Id) -> BackendResult<()> {
            lock(&self.files).insert((FileType::Pack, *id), self.bytes);
            Ok(())
        }
    }

    impl Backend for SlowPacks {
        fn location(&self) -> String {
            "slow".into()
        }
        fn create(&self) -> BackendResult<()> {
            Ok(())
        }
        fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
            let files = lock(&self.files);
            let of_type = files.iter().filter(|((ft, _), _)| *ft == t);
            Ok(of_type.map(|((_, id), d)| (*id, d.len() as u64)).collect())
        }
        fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
            lock(&self.files)
                .get(&(t, *id))
                .cloned()
                .ok_or(crate::BackendError::NotFound {
                    what: id.to_string(),
                })
        }
        fn read_range(&self, t: FileType, id: &Id, o: u64, l: u64) -> BackendResult<Vec<u8>> {
            let all = self.read_full(t, id)?;
            Ok(all[o as usize..(o + l) as usize].to_vec())
        }
        fn file_sink(&self, t: FileType) -> BackendResult<Option<Box<dyn crate::FileSink>>> {
            let sink = Sink {
                files: Arc::clone(&self.files),
                bytes: Vec::new(),
            };
            let wanted = t == FileType::Pack && self.sinks.load(Ordering::SeqCst);
            Ok(wanted.then(|| Box::new(sink) as Box<dyn crate::FileSink>))
        }
        fn packs_in_flight(&self) -> usize {
            match self.in_flight.load(Ordering::SeqCst) {
                0 => 2,
                n => n,
            }
        }
        fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
            if t == FileType::Pack {
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                lock(&self.pack_sizes).push(data.len());
                std::thread::sleep(Duration::from_millis(20));
                self.running.fetch_sub(1, Ordering::SeqCst);
            }
            lock(&self.files).insert((t, *id), data.to_vec());
            Ok(())
        }
        fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
            lock(&self.files).remove(&(t, *id));
            Ok(())
        }
    }

    fn repo() -> (Arc<SlowPacks>, crate::IndexedRepository) {
        let backend = Arc::new(SlowPacks::default());
        let repo = crate::testing::init_repository(backend.clone())
            .into_indexed()
            .unwrap();
        (backend, repo)
    }

    /// Incompressible bytes, different for each seed: a chain of hashes.
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let blocks = (0..len.div_ceil(32) as u64)
            .map(|i| Id::hash(&[seed, i].map(u64::to_le_bytes).concat()));
        let mut bytes: Vec<u8> = blocks.flat_map(|id| id.0).collect();
        bytes.truncate(len);
        bytes
    }

    #[test]
    fn uploaded_pack_buffers_come_back_without_a_copy() {
        let mut buf = Vec::with_capacity(1 << 20);
        buf.extend_from_slice(&[7; 1000]);
        let at = buf.as_ptr();
        let shared = bytes::Bytes::from(buf);
        let sent = shared.clone();
        drop(sent);
        let back = Vec::from(shared.try_into_mut().unwrap());
        assert_eq!((back.as_ptr(), back.len()), (at, 1000));
        assert!(back.capacity() >= 1 << 20);
    }

    #[test]
    fn nothing_is_written_before_the_gate_opens() {
        let (backend, repo) = repo();
        let open = std::sync::atomic::AtomicBool::new(false);
        let gate = || match open.load(Ordering::SeqCst) {
            true => Ok(()),
            false => Err(crate::Error::Other("lock not held".into())),
        };
        let saver =
            BlobSaver::new(&repo, repo.index(), 64 << 10, Some(3), false).writing_after(&gate);
        // Packing goes on while the gate is shut; the upload of a full
        // pack and the index fail with the gate's error.
        let saved = [1, 2].map(|seed| saver.save(BlobType::Data, &noise(seed, 100 << 10)));
        let flushed = saver.flush();
        let failed: Vec<String> = saved
            .into_iter()
            .filter_map(Result::err)
            .chain(flushed.err())
            .map(|e| e.to_string())
            .collect();
        assert!(!failed.is_empty());
        assert!(
            failed.iter().all(|e| e.contains("lock not held")),
            "{failed:?}"
        );
        assert!(lock(&backend.pack_sizes).is_empty());
        assert!(backend.list(FileType::Index).unwrap().is_empty());

        open.store(true, Ordering::SeqCst);
        let saver =
            BlobSaver::new(&repo, repo.index(), 64 << 10, Some(3), false).writing_after(&gate);
        let id = saver.save(BlobType::Data, &noise(3, 100 << 10)).unwrap();
        saver.flush().unwrap();
        assert_eq!(lock(&backend.pack_sizes).len(), 1);
        assert_eq!(backend.list(FileType::Index).unwrap().len(), 1);
        assert_eq!(repo.blob(BlobType::Data, &id).unwrap(), noise(3, 100 << 10));
    }

    #[test]
    fn a_blob_that_does_not_fit_starts_the_next_pack() {
        let (backend, repo) = repo();
        let pack_size = 64 << 10;
        let saver = BlobSaver::new(&repo, repo.index(), pack_size, Some(3), false);
        let small = noise(1, 60 << 10);
        let big = noise(2, PACK_SLACK + (1 << 20));
        let ids = [
            saver.save(BlobType::Data, &small).unwrap(),
            saver.save(BlobType::Data, &big).unwrap(),
        ];
        saver.flush().unwrap();
        // The small blob's pack was closed before the big one was added:
        // no pack buffer holds a pack of both.
        let mut sizes = lock(&backend.pack_sizes).clone();
        sizes.sort_unstable();
        assert_eq!(sizes.len(), 2, "{sizes:?}");
        assert!(sizes[0] < (61 << 10) + 200, "{sizes:?}");
        assert!(sizes[1] < big.len() + 200, "{sizes:?}");
        for (id, data) in ids.iter().zip([&small, &big]) {
            assert_eq!(&repo.blob(BlobType::Data, id).unwrap(), data);
        }
    }

    /// A blob that closes two packs at once (the open one, which it does
    /// not fit, and its own) whose first upload fails: the second pack
    /// gives its place in flight back too, so the next pack to close does
    /// not wait forever for an upload that never comes (a backup onto a
    /// full disk hung so).
    #[test]
    fn a_failed_upload_leaves_no_pack_in_flight() {
        let (done, finished) = std::sync::mpsc::channel();
        // On a thread of its own, so that a hang fails the test.
        std::thread::spawn(move || {
            let (backend, repo) = repo();
            backend.in_flight.store(1, Ordering::SeqCst);
            let gate = || Err(crate::Error::Other("disk full".into()));
            let saver =
                BlobSaver::new(&repo, repo.index(), 64 << 10, None, false).writing_after(&gate);
            let first = saver.save(BlobType::Data, &noise(1, 60 << 10));
            let both = saver.save(BlobType::Data, &noise(2, PACK_SLACK + (1 << 20)));
            let third = saver.save(BlobType::Data, &noise(3, 100 << 10));
            let _ = done.send((first.is_ok(), both.is_err(), third.is_err()));
        });
        let outcome = finished.recv_timeout(Duration::from_secs(20));
        assert_eq!(
            outcome,
            Ok((true, true, true)),
            "the next full pack waited for a lost upload"
        );
    }

    #[test]
    fn producers_wait_while_full_packs_are_in_flight() {
        for bound in [1, 2, 3] {
            producers_wait_for_uploads(bound);
        }
    }

    /// Six producers save to a backend taking `bound` packs at once.
    fn producers_wait_for_uploads(bound: usize) {
        let (backend, repo) = repo();
        backend.in_flight.store(bound, Ordering::SeqCst);
        let saver = BlobSaver::new(&repo, repo.index(), 32 << 10, None, false);
        std::thread::scope(|s| {
            for t in 0..6u64 {
                let saver = &saver;
                s.spawn(move || {
                    for i in 0..40 {
                        saver
                            .save(BlobType::Data, &noise(t * 1000 + i, 20 << 10))
                            .unwrap();
                    }
                });
            }
        });
        saver.flush().unwrap();
        assert!(lock(&backend.pack_sizes).len() >= 100);
        // Six producers, but uploads never outnumber the bound (a pack is
        // written by the thread that closed it, so more producers would
        // otherwise mean more packs in memory).
        let most = backend.most.load(Ordering::SeqCst);
        assert!((1..=bound).contains(&most), "{most} uploads at once");
    }

    #[test]
    fn packs_written_piece_by_piece_are_named_by_their_hash() {
        let (backend, repo) = repo();
        backend.sinks.store(true, Ordering::SeqCst);
        let saver = BlobSaver::new(&repo, repo.index(), 256 << 10, Some(3), false);
        let blobs: Vec<Vec<u8>> = (0..30).map(|i| noise(900 + i, 50 << 10)).collect();
        let ids: Vec<Id> = blobs
            .iter()
            .map(|b| saver.save(BlobType::Data, b).unwrap())
            .collect();
        let tree = saver.save(BlobType::Tree, b"{\"nodes\":[]}").unwrap();
        saver.flush().unwrap();
        // Nothing went through `write`: every pack came from a sink.
        assert!(lock(&backend.pack_sizes).is_empty());
        let packs = backend.list(FileType::Pack).unwrap();
        assert!(packs.len() >= 6, "{} packs", packs.len());
        for (id, _) in &packs {
            let bytes = backend.read_full(FileType::Pack, id).unwrap();
            assert_eq!(Id::hash(&bytes), *id);
            assert!(!crate::pack::parse_pack(repo.key(), &bytes)
                .unwrap()
                .is_empty());
        }
        for (id, data) in ids.iter().zip(&blobs) {
            assert_eq!(&repo.blob(BlobType::Data, id).unwrap(), data);
        }
        assert_eq!(repo.blob(BlobType::Tree, &tree).unwrap(), b"{\"nodes\":[]}");
    }

    #[test]
    fn written_blobs_leave_the_run_set_and_are_still_found() {
        let (backend, repo) = repo();
        let saver = BlobSaver::new(&repo, repo.index(), 32 << 10, None, false);
        let blobs: Vec<Vec<u8>> = (0..40).map(|i| noise(500 + i, 8 << 10)).collect();
        std::thread::scope(|s| {
            for part in blobs.chunks(10) {
                let saver = &saver;
                s.spawn(move || {
                    for _ in 0..3 {
                        for b in part {
                            saver.save(BlobType::Data, b).unwrap();
                        }
                    }
                });
            }
        });
        // Every full pack was written and left `seen`; only the open one's
        // blobs are still there.
        assert!(lock(&saver.seen).len() < 8, "{}", lock(&saver.seen).len());
        for b in &blobs {
            let id = Id::hash(b);
            assert!(saver.has(BlobType::Data, &id));
            assert_eq!(saver.save_with_id(BlobType::Data, id, b).unwrap(), 0);
        }
        saver.flush().unwrap();
        // Each blob was stored once, though saved three times.
        let stored = repo.index().len(BlobType::Data);
        assert_eq!(stored, blobs.len());
        assert!(lock(&backend.pack_sizes).len() >= 8);
    }
}
