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

mod backend;
pub mod blob;
mod config;
mod error;
mod file_type;
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
mod tree;
pub mod unpacked;

pub use backend::{Backend, BackendResult};
pub use config::Config;
pub use error::{BackendError, Error, Result};
pub use file_type::{BlobType, FileType};
pub use gotime::GoTime;
pub use id::{Id, ParseIdError};
pub use index::{BlobLocation, Index, IndexBlob, IndexFile, IndexPack};
pub use keyfile::{KeyFile, KeyFileError};
pub use lock::LockFile;
pub use repository::{IndexedRepository, Repository, MAX_KEYS_TRIED};
pub use saver::{BlobSaver, SaverStats};
pub use snapshot::SnapshotFile;
pub use tree::{ExtendedAttribute, Node, NodeType, Tree};

pub use hbk_crypto::{KdfParams, Key};
