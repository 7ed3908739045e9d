//! hbk's commands as a library.
//!
//! Everything the `hbk` command does is a function here, so other Rust
//! programs (the orchestrator, a homelab's own tools) can back up and
//! restore restic repositories without the CLI:
//!
//! 1. get a backend with [`hbk_backend::open`] (`/path`, `local:/path`, …);
//! 2. create a repository with [`commands::init::init`], or open one with
//!    [`hbk_repo::Repository::open`] and load its index with
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
//! and per-item problems go to callbacks (`*Progress` traits).
//!
//! ```no_run
//! use std::path::PathBuf;
//! use hbk_engine::commands::backup::{backup, BackupOptions, NoProgress};
//! use hbk_repo::Repository;
//!
//! let backend = hbk_backend::open("/srv/backup/repo")?;
//! let repo = Repository::open(backend, b"secret")?.into_indexed()?;
//! let _lock = hbk_engine::lock::RepoLock::acquire(&repo, hbk_engine::lock::LockKind::Shared)?;
//! let summary = backup(&repo, &[PathBuf::from("/etc")], &BackupOptions::default(), &NoProgress)?;
//! println!("saved {:?}", summary.snapshot_id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A complete program is in `examples/backup_and_restore.rs`.

pub mod chunker;
pub mod commands;
mod error;
pub mod filter;
pub mod lock;
mod pool;
pub mod progress;
pub mod reachable;
pub mod size;
pub mod snapshots;
#[cfg(test)]
mod testutil;
pub mod walk;

pub use error::{Damage, Error, Result};
