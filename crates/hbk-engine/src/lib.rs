//! hbk's commands as a library.
//!
//! Open a repository with [`hbk_repo::Repository::open`] over a backend from
//! [`hbk_backend::open`], load its index with
//! [`hbk_repo::Repository::into_indexed`], then call a command:
//!
//! * [`commands::restore`]: a snapshot (or a part of it) into a directory;
//! * [`commands::check`]: the repository's structure and, optionally, data;
//! * [`commands::ls`]: the nodes of a snapshot;
//! * [`snapshots`]: choosing snapshots by id, prefix, `latest` and filters.
//!
//! The engine never prints: commands return reports, and progress and
//! per-item problems go to callbacks.

pub mod chunker;
pub mod commands;
mod error;
pub mod filter;
pub mod lock;
pub mod snapshots;
#[cfg(test)]
mod testutil;
pub mod walk;

pub use error::{Error, Result};
