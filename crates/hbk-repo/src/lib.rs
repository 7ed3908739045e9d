//! The restic repository format.
//!
//! This crate knows what every stored file looks like and how the pieces fit
//! together, but not where they are stored: storage is the [`Backend`]
//! trait, implemented in `hbk-backend`.
//!
//! * ids and kinds: [`Id`], [`FileType`], [`BlobType`];
//! * documents: [`Config`], [`KeyFile`], [`SnapshotFile`], [`IndexFile`],
//!   [`Tree`] and [`Node`];
//! * binary codecs: [`pack`] headers, [`unpacked`] framing, [`blob`]
//!   decoding; all pure functions over byte slices;
//! * the in-memory [`Index`];
//! * the handles [`Repository`] (key and config) and [`IndexedRepository`]
//!   (plus the index), which read and write through a backend;
//! * the [`BlobSaver`], which packs, uploads and indexes new blobs.
//!
//! Creating a repository, opening it again with its password and storing
//! and reading a blob (here in a temporary directory):
//!
//! ```
//! use std::sync::Arc;
//! use hbk_repo::{BlobSaver, BlobType, Config, FileType, Id, KdfParams, Repository};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let backend = Arc::new(hbk_backend::LocalBackend::new(dir.path()));
//! let config = Config {
//!     version: 2,
//!     id: Id::random(),
//!     chunker_polynomial: 0x3DA3358B4DC173,
//!     extra: Default::default(),
//! };
//! let kdf = KdfParams::RESTIC_DEFAULT;
//! Repository::init(backend.clone(), b"secret", config, kdf, "me", "host")?;
//!
//! let repo = Repository::open(backend, b"secret")?.into_indexed()?;
//! let saver = BlobSaver::new(&repo, repo.index(), 16 << 20, Some(3), false);
//! let id = saver.save(BlobType::Data, b"some file content")?;
//! saver.flush()?;
//! assert_eq!(repo.blob(BlobType::Data, &id)?, b"some file content");
//! assert_eq!(repo.list(FileType::Pack)?.len(), 1);
//! assert!(repo.snapshots()?.is_empty());
//! # Ok(())
//! # }
//! ```

mod backend;
pub mod blob;
mod config;
mod error;
mod file_type;
#[cfg(test)]
mod fuzz;
pub mod gojson;
pub mod goquote;
mod gotime;
mod id;
mod index;
mod keyfile;
mod lock;
pub mod mode;
pub mod pack;
mod repository;
mod saver;
mod serde_util;
mod snapshot;
mod spool;
#[cfg(test)]
mod testing;
mod tree;
pub mod unpacked;

pub use backend::{Backend, BackendResult, FileSink};
pub use config::Config;
pub use error::{error_chain, BackendError, Error, Result};
pub use file_type::{BlobType, FileType};
pub use gotime::{GoTime, ParseTimeError};
pub use id::{Id, ParseIdError};
#[cfg(feature = "fuzzing")]
pub use index::scan_index;
pub use index::{BlobLocation, Index, IndexBlob, IndexFile, IndexPack};
pub use keyfile::{KeyFile, KeyFileError};
pub use lock::LockFile;
pub use repository::{IndexedRepository, OpenWarning, Repository, StoredKey, MAX_KEYS_TRIED};
pub use saver::{BlobSaver, SaverStats, WriteGate};
pub use snapshot::SnapshotFile;
pub use tree::{ExtendedAttribute, Node, NodeType, Tree};

pub use hbk_crypto::{KdfParams, Key, OVERHEAD};
