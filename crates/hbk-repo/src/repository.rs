//! The repository handle: a backend plus the master key and config.
//!
//! [`Repository`] reads and writes whole files (config, keys, snapshots,
//! index, locks); [`IndexedRepository`] adds the loaded index and reads
//! blobs. Backup and restore need the latter.

use std::sync::{Arc, Mutex};

use hbk_crypto::Key;
use rayon::prelude::*;

use crate::blob::decode_blob;
use crate::keyfile::KeyFileError;
use crate::unpacked::{decode_unpacked, encode_unpacked};
use crate::{
    Backend, BlobType, Config, Error, FileType, Id, Index, IndexFile, KeyFile, Result,
    SnapshotFile, Tree,
};

/// restic tries at most this many key files when no key hint is given.
pub const MAX_KEYS_TRIED: usize = 20;

/// An open repository: the master key is known, the config loaded.
#[derive(Clone)]
pub struct Repository {
    backend: Arc<dyn Backend>,
    key: Key,
    key_id: Id,
    config: Config,
    warnings: Vec<OpenWarning>,
}

/// Why a key file is reported as damaged when its content no longer
/// hashes to its name.
const KEY_NAME_MISMATCH: &str = "content does not match its name";

/// A fault [`Repository::open`] found and worked around; front ends show
/// it, `check` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenWarning {
    /// The key file that opened the repository no longer hashes to its
    /// name, although the key inside verifies (a reformatted or renamed
    /// file). restic opens such a repository; so does hbk.
    KeyNameMismatch(Id),
}

impl std::fmt::Display for OpenWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenWarning::KeyNameMismatch(id) => write!(
                f,
                "key file {id}: {KEY_NAME_MISMATCH}; the key inside still verifies and opens the \
                 repository (add a new key and remove this one to repair it)"
            ),
        }
    }
}

/// A key file as stored, and whether its content still hashes to its name.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The parsed key file.
    pub file: KeyFile,
    /// Whether the file's SHA-256 is its name, as it was when written.
    pub name_matches: bool,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.backend.location())
            .field("config", &self.config)
            .finish()
    }
}

impl Repository {
    /// Opens the repository at `backend` with `password`: tries the key
    /// files in turn and decrypts the config.
    ///
    /// Errors: [`Error::RepositoryNotFound`] when there is no config,
    /// [`Error::WrongPassword`] when no key opens.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8]) -> Result<Repository> {
        Self::open_with_key_hint(backend, password, None)
    }

    /// [`Repository::open`], trying first the keys whose id starts with
    /// `hint` (restic's `--key-hint`): with many keys, the right one is
    /// found without running the slow key derivation for the others.
    pub fn open_with_key_hint(
        backend: Arc<dyn Backend>,
        password: &[u8],
        hint: Option<&str>,
    ) -> Result<Repository> {
        // Two round trips at once on a remote repository.
        let (sealed_config, keys) = std::thread::scope(|s| {
            let keys = s.spawn(|| backend.list(FileType::Key));
            let config = read_config(backend.as_ref());
            let keys = keys
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (config, keys)
        });
        let sealed_config = sealed_config?;
        let mut keys = keys?;
        keys.sort();
        if let Some(hint) = hint.map(str::to_ascii_lowercase) {
            // A stable sort: hinted keys first, each group in id order.
            keys.sort_by_key(|(id, _)| !id.to_hex().starts_with(&hint));
        }
        // A damaged key file does not stop the search: another key may
        // open the repository. It is reported only when none does.
        let mut damaged: Option<(Id, String)> = None;
        for (id, _) in keys.into_iter().take(MAX_KEYS_TRIED) {
            let stored = match read_key_file(backend.as_ref(), &id) {
                Ok(k) => k,
                Err(Error::Corrupt { reason, .. }) => {
                    damaged.get_or_insert((id, reason));
                    continue;
                }
                Err(e) => return Err(e),
            };
            match stored.file.open(password) {
                Ok(key) => {
                    let mut repo = Self::with_key(backend, key, id, &sealed_config)?;
                    // The key's MAC verified, so only the file around it
                    // changed (or it was renamed): warn and go on, as
                    // restic does; `check` reports it.
                    if !stored.name_matches {
                        repo.warnings.push(OpenWarning::KeyNameMismatch(id));
                    }
                    return Ok(repo);
                }
                Err(KeyFileError::WrongPassword) if !stored.name_matches => {
                    damaged.get_or_insert((id, KEY_NAME_MISMATCH.into()));
                }
                Err(KeyFileError::WrongPassword) => {}
                Err(KeyFileError::Invalid(e)) => {
                    damaged.get_or_insert((id, e.to_string()));
                }
            }
        }
        Err(match damaged {
            Some((id, reason)) => Error::Corrupt {
                file_type: FileType::Key,
                id,
                reason: format!(
                    "{reason}, and no other key opens the repository with this password"
                ),
            },
            None => Error::WrongPassword,
        })
    }

    fn with_key(
        backend: Arc<dyn Backend>,
        key: Key,
        key_id: Id,
        sealed_config: &[u8],
    ) -> Result<Repository> {
        let corrupt = |reason: String| Error::Corrupt {
            file_type: FileType::Config,
            id: Id::default(),
            reason,
        };
        let json = key
            .open(sealed_config)
            .map_err(|e| corrupt(e.to_string()))?;
        let config = Config::from_json(&json)?;
        Ok(Repository {
            backend,
            key,
            key_id,
            config,
            warnings: Vec::new(),
        })
    }

    /// Creates a new repository in an empty location: structure, key file
    /// and config. Returns it open.
    pub fn init(
        backend: Arc<dyn Backend>,
        password: &[u8],
        config: Config,
        kdf: hbk_crypto::KdfParams,
        username: &str,
        hostname: &str,
    ) -> Result<Repository> {
        match backend.read_full(FileType::Config, &Id::default()) {
            Ok(_) => {
                return Err(Error::Other(format!(
                    "repository at {} already exists (config file found)",
                    backend.location()
                )))
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        if !(1..=2).contains(&config.version) {
            return Err(Error::UnsupportedVersion(config.version));
        }
        backend.create()?;
        let master = Key::random();
        let kf = KeyFile::create(&master, password, kdf, username, hostname)?;
        let kf_bytes = kf.to_json()?;
        let key_id = Id::hash(&kf_bytes);
        backend.write(FileType::Key, &key_id, &kf_bytes)?;
        let sealed = master.seal(&config.to_json()?);
        backend.write(FileType::Config, &Id::default(), &sealed)?;
        Ok(Repository {
            backend,
            key: master,
            key_id,
            config,
            warnings: Vec::new(),
        })
    }

    /// The same repository reached through another backend built around
    /// this one (a cache, a retrying wrapper); known only once the
    /// repository is open, since a cache is keyed by the repository id.
    pub fn map_backend(self, f: impl FnOnce(Arc<dyn Backend>) -> Arc<dyn Backend>) -> Repository {
        Repository {
            backend: f(self.backend),
            ..self
        }
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The master key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The id of the key file that opened the repository.
    pub fn key_id(&self) -> Id {
        self.key_id
    }

    /// The decrypted config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stores `config` in place of the repository's config and returns
    /// the repository with it (`migrate`). The new file replaces the old
    /// one in one write where the backend allows it, else the old one is
    /// removed first; if the new one cannot be stored then, the old bytes
    /// are put back. The caller holds an exclusive lock and has kept a
    /// copy of the old file.
    pub fn replace_config(self, config: Config) -> Result<Repository> {
        let old = self.backend.read_full(FileType::Config, &Id::default())?;
        let sealed = self.key.seal(&config.to_json()?);
        let config_id = Id::default();
        if self
            .backend
            .write(FileType::Config, &config_id, &sealed)
            .is_err()
        {
            self.backend.remove(FileType::Config, &config_id)?;
            if let Err(e) = self.backend.write(FileType::Config, &config_id, &sealed) {
                let restored = self.backend.write(FileType::Config, &config_id, &old);
                return Err(Error::Other(format!(
                    "storing the new config failed ({e}); {}",
                    match restored {
                        Ok(()) => "the old config was put back".to_string(),
                        Err(r) => format!("putting the old config back failed as well ({r})"),
                    }
                )));
            }
        }
        Ok(Repository { config, ..self })
    }

    /// Faults opening the repository worked around; front ends show them.
    pub fn open_warnings(&self) -> &[OpenWarning] {
        &self.warnings
    }

    /// Reads and parses the key file `id` without checking its name
    /// against its content, which [`StoredKey::name_matches`] reports:
    /// `key list` and `check` show such a key rather than fail on it.
    pub fn load_key_file(&self, id: &Id) -> Result<StoredKey> {
        read_key_file(self.backend.as_ref(), id)
    }

    /// Wraps the open master key with another `password` in a new key file
    /// (fresh salt, scrypt with `kdf`), stores it under its SHA-256 name
    /// and returns that id.
    ///
    /// The stored file is read back and opened with `password` before this
    /// returns, as a broken key could lock users out; one that does not
    /// give back the master key is deleted again and reported as
    /// [`Error::Corrupt`].
    pub fn add_key_file(
        &self,
        password: &[u8],
        kdf: hbk_crypto::KdfParams,
        username: &str,
        hostname: &str,
    ) -> Result<Id> {
        let kf = KeyFile::create(&self.key, password, kdf, username, hostname)?;
        let bytes = kf.to_json()?;
        let id = Id::hash(&bytes);
        self.backend.write(FileType::Key, &id, &bytes)?;
        let reopened = read_key_file(self.backend.as_ref(), &id).and_then(|k| {
            if !k.name_matches {
                return Err(Error::Corrupt {
                    file_type: FileType::Key,
                    id,
                    reason: KEY_NAME_MISMATCH.into(),
                });
            }
            k.file.open(password).map_err(|e| Error::Corrupt {
                file_type: FileType::Key,
                id,
                reason: e.to_string(),
            })
        });
        match reopened {
            Ok(master) if master == self.key => Ok(id),
            Ok(_) => {
                let _ = self.backend.remove(FileType::Key, &id);
                Err(Error::Corrupt {
                    file_type: FileType::Key,
                    id,
                    reason: "the new key does not unwrap the master key".into(),
                })
            }
            Err(e) => {
                let _ = self.backend.remove(FileType::Key, &id);
                Err(e)
            }
        }
    }

    /// All files of a type with their sizes.
    pub fn list(&self, t: FileType) -> Result<Vec<(Id, u64)>> {
        Ok(self.backend.list(t)?)
    }

    /// A file's raw bytes, checked against its name.
    pub fn load_raw(&self, t: FileType, id: &Id) -> Result<Vec<u8>> {
        let data = self.backend.read_full(t, id)?;
        let actual = Id::hash(&data);
        if actual != *id {
            return Err(Error::Corrupt {
                file_type: t,
                id: *id,
                reason: format!("content hash is {actual}"),
            });
        }
        Ok(data)
    }

    /// An index, snapshot or lock file's JSON: loaded, checked, decrypted
    /// and unframed.
    pub fn load_unpacked(&self, t: FileType, id: &Id) -> Result<Vec<u8>> {
        let mut data = self.load_raw(t, id)?;
        let corrupt = |reason: String| Error::Corrupt {
            file_type: t,
            id: *id,
            reason,
        };
        let plain = self
            .key
            .open_in_place(&mut data)
            .map_err(|e| corrupt(e.to_string()))?
            .to_vec();
        decode_unpacked(self.config.version, plain).map_err(|e| corrupt(e.to_string()))
    }

    /// Encrypts and stores a JSON document as an unpacked file; returns
    /// its id.
    pub fn save_unpacked(&self, t: FileType, json: &[u8]) -> Result<Id> {
        let (id, sealed) = self.seal_unpacked(json)?;
        self.backend.write(t, &id, &sealed)?;
        Ok(id)
    }

    /// The bytes [`Repository::save_unpacked`] would store for a JSON
    /// document, with their id, for a caller that must know the id before
    /// the file is written (a lock checks for others while writing its
    /// own).
    pub fn seal_unpacked(&self, json: &[u8]) -> Result<(Id, Vec<u8>)> {
        let framed = encode_unpacked(self.config.version, json)?;
        let sealed = self.key.seal(&framed);
        Ok((Id::hash(&sealed), sealed))
    }

    /// One snapshot.
    pub fn load_snapshot(&self, id: &Id) -> Result<SnapshotFile> {
        let json = self.load_unpacked(FileType::Snapshot, id)?;
        SnapshotFile::from_json(&json).map_err(|e| Error::Corrupt {
            file_type: FileType::Snapshot,
            id: *id,
            reason: e.to_string(),
        })
    }

    /// Every snapshot, loaded in parallel, oldest first.
    pub fn snapshots(&self) -> Result<Vec<(Id, SnapshotFile)>> {
        let ids = self.list(FileType::Snapshot)?;
        let mut all = ids
            .par_iter()
            .map(|(id, _)| self.load_snapshot(id).map(|s| (*id, s)))
            .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| a.1.time.cmp(&b.1.time).then(a.0.cmp(&b.0)));
        Ok(all)
    }

    /// One index file, parsed.
    pub fn load_index_file(&self, id: &Id) -> Result<IndexFile> {
        let json = self.load_unpacked(FileType::Index, id)?;
        IndexFile::from_json(&json).map_err(|e| Error::Corrupt {
            file_type: FileType::Index,
            id: *id,
            reason: e.to_string(),
        })
    }

    /// Every index file, loaded and parsed in parallel.
    pub fn index_files(&self) -> Result<Vec<(Id, IndexFile)>> {
        let ids = self.list(FileType::Index)?;
        ids.par_iter()
            .map(|(id, _)| self.load_index_file(id).map(|f| (*id, f)))
            .collect()
    }

    /// Reads a pack's header from its tail (one request for most packs,
    /// two for packs with many blobs). `size` is the pack's length.
    pub fn pack_header(&self, id: &Id, size: u64) -> Result<Vec<crate::pack::PackBlob>> {
        let corrupt = |e: Error| Error::Corrupt {
            file_type: FileType::Pack,
            id: *id,
            reason: e.to_string(),
        };
        let first = crate::pack::TAIL_READ.min(size);
        let tail = self
            .backend
            .read_range(FileType::Pack, id, size - first, first)?;
        if let Some(blobs) = crate::pack::parse_tail(&self.key, &tail, size).map_err(corrupt)? {
            return Ok(blobs);
        }
        let trailer: [u8; 4] = tail[tail.len() - 4..]
            .try_into()
            .map_err(|_| corrupt(Error::format("pack", "short trailer")))?;
        let hlen = crate::pack::header_length(trailer, size).map_err(corrupt)?;
        let tail = self
            .backend
            .read_range(FileType::Pack, id, size - hlen - 4, hlen + 4)?;
        crate::pack::parse_tail(&self.key, &tail, size)
            .map_err(corrupt)?
            .ok_or_else(|| corrupt(Error::format("pack", "header longer than the pack")))
    }

    /// Loads the whole index and returns the repository ready for blob reads.
    pub fn into_indexed(self) -> Result<IndexedRepository> {
        let (index, files) = self.load_index_listed()?;
        Ok(IndexedRepository {
            repo: self,
            index,
            index_files: Some(Mutex::new(files)),
        })
    }
}

fn read_config(backend: &dyn Backend) -> Result<Vec<u8>> {
    backend
        .read_full(FileType::Config, &Id::default())
        .map_err(|e| {
            if e.is_not_found() {
                Error::RepositoryNotFound {
                    location: backend.location(),
                }
            } else {
                e.into()
            }
        })
}

fn read_key_file(backend: &dyn Backend, id: &Id) -> Result<StoredKey> {
    let bytes = backend.read_full(FileType::Key, id)?;
    let file = KeyFile::from_json(&bytes).map_err(|e| Error::Corrupt {
        file_type: FileType::Key,
        id: *id,
        reason: e.to_string(),
    })?;
    Ok(StoredKey {
        file,
        name_matches: Id::hash(&bytes) == *id,
    })
}

/// An open repository with its index loaded: blobs can be read by id.
pub struct IndexedRepository {
    repo: Repository,
    index: Index,
    /// The index files the index was loaded from and those written
    /// through this handle since, when known.
    index_files: Option<Mutex<Vec<Id>>>,
}

impl std::ops::Deref for IndexedRepository {
    type Target = Repository;
    fn deref(&self) -> &Repository {
        &self.repo
    }
}

impl IndexedRepository {
    /// Pairs a repository with an index the caller loaded (for commands
    /// that need the index files themselves too, such as prune).
    pub fn with_index(repo: Repository, index: Index) -> IndexedRepository {
        IndexedRepository {
            repo,
            index,
            index_files: None,
        }
    }

    /// The ids of the index files the index was loaded from and of those
    /// written since ([`IndexedRepository::index_files_written`]), sorted,
    /// when it was loaded by [`Repository::into_indexed`]: what a record
    /// built on this index depends on (blobs leave a repository only with
    /// the index files naming them).
    pub fn known_index_files(&self) -> Option<Vec<Id>> {
        let files = self.index_files.as_ref()?;
        Some(files.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// Notes index files written through this handle, whose blobs its
    /// index already holds (a saver adds them as it uploads packs).
    pub fn index_files_written(&self, ids: &[Id]) {
        if let Some(files) = &self.index_files {
            let mut files = files.lock().unwrap_or_else(|p| p.into_inner());
            files.extend_from_slice(ids);
            files.sort_unstable();
            files.dedup();
        }
    }

    /// The loaded index.
    pub fn index(&self) -> &Index {
        &self.index
    }

    /// The repository without its index.
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// A blob's plaintext, read from its pack and fully verified.
    pub fn blob(&self, t: BlobType, id: &Id) -> Result<Vec<u8>> {
        let loc = self.index.get(t, id).ok_or(Error::BlobNotFound {
            blob_type: t,
            id: *id,
        })?;
        let (pack, offset, length) = (&loc.pack, loc.offset, u64::from(loc.length));
        let backend = &self.repo.backend;
        let mut sealed = match t {
            BlobType::Tree => backend.read_metadata_range(FileType::Pack, pack, offset, length)?,
            BlobType::Data => backend.read_range(FileType::Pack, pack, offset, length)?,
        };
        decode_blob(&self.repo.key, id, loc.uncompressed_length, &mut sealed).map_err(|e| {
            Error::CorruptBlob {
                blob_type: t,
                id: *id,
                pack: loc.pack,
                reason: e.to_string(),
            }
        })
    }

    /// The repository without its index (to reload it after writing).
    pub fn into_repository(self) -> Repository {
        self.repo
    }

    /// A tree, read and parsed.
    pub fn tree(&self, id: &Id) -> Result<Tree> {
        let json = self.blob(BlobType::Tree, id)?;
        Tree::from_json(&json).map_err(|e| Error::Corrupt {
            file_type: FileType::Pack,
            id: *id,
            reason: format!("tree blob does not parse: {e}"),
        })
    }
}
