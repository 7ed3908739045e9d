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

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::blob::{encode_blob, Compression};
use crate::pack::PackWriter;
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
const SPARE_BUFFERS: usize = 2;

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
    data_pack: Mutex<PackWriter>,
    tree_pack: Mutex<PackWriter>,
    pending: Mutex<PendingIndex>,
    /// Buffers of uploaded packs, for the next packs.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Uploaded packs, kept only when asked for (prune needs them; a
    /// large backup should not hold them all in memory).
    written: Option<Mutex<Vec<IndexPack>>>,
    pack_size: u64,
    level: Option<i32>,
    dry_run: bool,
    /// What was added.
    pub stats: SaverStats,
}

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
            data_pack: Mutex::new(PackWriter::with_capacity(pack_size as usize + (1 << 20))),
            tree_pack: Mutex::new(PackWriter::default()),
            pending: Mutex::new(PendingIndex {
                packs: Vec::new(),
                since: None,
            }),
            spare: Mutex::new(Vec::new()),
            written: None,
            pack_size,
            level: if v2 { level } else { None },
            dry_run,
            stats: SaverStats::default(),
        }
    }

    /// Whether the blob is in the repository or was saved in this run.
    pub fn has(&self, t: BlobType, id: &Id) -> bool {
        self.index.contains(t, id) || lock(&self.seen).contains(&(t, *id))
    }

    /// Stores a blob unless it exists; returns its id.
    pub fn save(&self, t: BlobType, data: &[u8]) -> Result<Id> {
        let id = Id::hash(data);
        self.save_with_id(t, id, data)?;
        Ok(id)
    }

    /// Stores a blob whose id the caller computed; returns whether it was new.
    pub fn save_with_id(&self, t: BlobType, id: Id, data: &[u8]) -> Result<bool> {
        if self.index.contains(t, &id) || !lock(&self.seen).insert((t, id)) {
            return Ok(false);
        }
        let compression = match (t, self.repo.config().version >= 2, self.level) {
            (_, false, _) => Compression::Off,
            (BlobType::Data, true, Some(l)) => Compression::IfSmaller(l),
            (BlobType::Data, true, None) => Compression::Off,
            (BlobType::Tree, true, l) => Compression::Always(l.unwrap_or(3)),
        };
        let blob = encode_blob(self.repo.key(), t, id, data, compression);
        let (counter, packer) = match t {
            BlobType::Data => (&self.stats.data_blobs, &self.data_pack),
            BlobType::Tree => (&self.stats.tree_blobs, &self.tree_pack),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.stats
            .data_added
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        self.stats
            .data_added_packed
            .fetch_add(blob.sealed.len() as u64, Ordering::Relaxed);
        let full = {
            let mut p = lock(packer);
            p.add(&blob);
            if p.size() >= self.pack_size {
                // Reserve the next pack's buffer up front so it never
                // doubles past the target size.
                let next = self.next_pack();
                Some(std::mem::replace(&mut *p, next))
            } else {
                None
            }
        };
        if let Some(pack) = full {
            self.upload(pack)?;
        }
        Ok(true)
    }

    /// An empty data pack, in a recycled buffer when there is one.
    fn next_pack(&self) -> PackWriter {
        let capacity = self.pack_size as usize + (1 << 20);
        match lock(&self.spare).pop() {
            Some(buf) => PackWriter::with_buffer(buf, capacity),
            None => PackWriter::with_capacity(capacity),
        }
    }

    fn upload(&self, pack: PackWriter) -> Result<()> {
        if pack.is_empty() {
            return Ok(());
        }
        let (id, bytes, blobs) = pack.finish(self.repo.key());
        if !self.dry_run {
            self.repo.backend().write(FileType::Pack, &id, &bytes)?;
        }
        {
            let mut spare = lock(&self.spare);
            if spare.len() < SPARE_BUFFERS {
                spare.push(bytes);
            }
        }
        self.stats.packs.fetch_add(1, Ordering::Relaxed);
        let entry = IndexPack {
            id,
            blobs: blobs.iter().map(IndexBlob::from).collect(),
        };
        if !self.dry_run {
            self.index.add_pack(&entry);
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

    fn write_index(&self, packs: Vec<IndexPack>) -> Result<()> {
        if packs.is_empty() || self.dry_run {
            return Ok(());
        }
        let file = IndexFile {
            packs,
            ..Default::default()
        };
        self.repo.save_unpacked(FileType::Index, &file.to_json()?)?;
        Ok(())
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
        self.upload(data)?;
        self.upload(tree)?;
        let packs = std::mem::take(&mut lock(&self.pending).packs);
        self.write_index(packs)
    }
}

/// Locks a mutex, recovering from poisoning (a panicked worker must not
/// hide the data other workers saved).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
