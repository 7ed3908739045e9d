//! hbk's commands as a library.
//!
//! Everything the `hbk` command does is a function here, so other Rust
//! programs (the orchestrator, a homelab's own tools) can back up and
//! restore restic repositories without the CLI:
//!
//! 1. describe the repository with [`hbk_backend::RepoSpec`] (`/path`,
//!    `local:/path`, `s3:…`, `rest:…`, with options, the removable-disk
//!    guard and the metadata cache);
//! 2. create a repository with [`commands::init::init`] on
//!    [`hbk_backend::RepoSpec::guarded_backend`], or open one with
//!    [`hbk_backend::RepoSpec::open`], and load its index with
//!    [`hbk_repo::Repository::into_indexed`];
//! 3. call a command:
//!    * [`commands::backup::backup`]: paths into a new snapshot;
//!    * [`commands::restore::restore`]: a snapshot's tree into a directory;
//!    * [`commands::check::check`]: structure and, optionally, data;
//!    * [`commands::ls::ls`]: the nodes of a snapshot;
//!    * [`commands::diff`], [`commands::find`], [`commands::stats`],
//!      [`commands::tag`], [`commands::dump`] and [`commands::repair`]:
//!      restic's everyday commands;
//!    * [`snapshots`]: choosing snapshots by id, prefix, `latest` and filters.
//!
//! Commands that write take a [`lock::RepoLock`] first (the CLI does it for
//! you). The engine never prints: commands return summaries, and progress
//! and per-item problems go to one trait, [`progress::Progress`];
//! [`progress::NoProgress`] ignores them. One [`hbk_repo::IndexedRepository`]
//! serves any number of commands: it learns the packs its commands write.
//!
//! ```
//! use std::path::PathBuf;
//! use hbk_engine::commands::backup::{backup, BackupOptions};
//! use hbk_engine::lock::{LockKind, RepoLock, WriteMode};
//! use hbk_engine::commands::init::{init, InitOptions};
//! use hbk_engine::commands::restore::{restore, RestoreOptions};
//! use hbk_engine::progress::NoProgress;
//! use hbk_engine::snapshots::{find_snapshot, list_snapshots, SnapshotFilter};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let source = dir.path().join("source");
//! std::fs::create_dir(&source)?;
//! std::fs::write(source.join("notes.txt"), "hello")?;
//!
//! let spec = hbk_backend::RepoSpec::new(&dir.path().join("repo").to_string_lossy())?;
//! let repo = init(spec.guarded_backend()?, b"secret", &InitOptions::default())?.into_indexed()?;
//! let lock = RepoLock::acquire(&repo, LockKind::Shared)?;
//! let summary = backup(
//!     &repo,
//!     WriteMode::Locked(&lock),
//!     &[source.clone()],
//!     &BackupOptions::default(),
//!     &NoProgress,
//! )?;
//! assert_eq!(summary.total_files_processed, 1);
//!
//! let snapshots = list_snapshots(&repo, &SnapshotFilter::default())?;
//! assert_eq!(snapshots.len(), 1);
//! let (_, latest) = find_snapshot(&repo, "latest", &SnapshotFilter::default())?;
//! let target = dir.path().join("restore");
//! restore(&repo, &latest.tree, &target, &RestoreOptions::default(), &NoProgress)?;
//! let restored = target.join(source.strip_prefix("/")?).join("notes.txt");
//! assert_eq!(std::fs::read_to_string(restored)?, "hello");
//! # Ok(())
//! # }
//! ```
//!
//! A complete program is in `examples/backup_and_restore.rs`.

pub mod chunker;
pub mod commands;
pub mod duration;
mod error;
pub mod filter;
mod keep_copy;
pub mod lock;
pub mod pack_range;
mod pool;
pub mod progress;
pub mod reachable;
pub mod size;
pub mod snapshots;
#[cfg(test)]
mod testutil;
pub mod walk;

pub use error::{Damage, Error, Result};
