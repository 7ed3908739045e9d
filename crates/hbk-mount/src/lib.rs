//! `hbk mount`: every snapshot of a repository as a read-only file system
//! (FUSE), laid out as restic lays it out — `ids/ID/`, `snapshots/TIME/`
//! with `latest`, `hosts/HOST/TIME/`, `tags/TAG/TIME/`, or the user's own
//! path and time templates.
//!
//! * [`template`]: restic's path templates and Go's time layouts (pure);
//! * [`layout`]: the directories above the snapshots (pure);
//! * [`cache`]: the bounded blob cache that keeps reads of huge files
//!   within a fixed memory budget;
//! * [`fs`]: the FUSE file system: inodes, attributes as stored, lazy
//!   reads through the index, new snapshots picked up on listing;
//! * [`session`]: mount point checks (stale mounts), serving, unmounting.
//!
//! The crate is the only one that links a FUSE implementation; the CLI
//! takes it behind its `mount` feature.

pub mod cache;
pub mod fs;
pub mod layout;
pub mod session;
pub mod template;

use std::path::PathBuf;

pub use fs::MountConfig;
pub use session::{mount, unmount, Access, Mounted};

/// Why a mount failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The mount point is missing or not a directory.
    #[error("mountpoint {0}")]
    Mountpoint(String),
    /// A FUSE mount whose process is gone still sits on the mount point.
    #[error("{p} holds a stale FUSE mount (its process is gone): clear it with `fusermount -u {p}` (or `umount -l {p}`) and mount again", p = .0.display())]
    Stale(PathBuf),
    /// The kernel refused the mount.
    #[error("mounting at {p}: {e} (is FUSE available: /dev/fuse, the fuse package?)", p = .0.display(), e = .1)]
    Mount(PathBuf, String),
    /// Neither umount(2) nor fusermount could unmount.
    #[error("could not unmount {p}: run `fusermount -u {p}`", p = .0.display())]
    Unmount(PathBuf),
    /// Reading the repository failed.
    #[error(transparent)]
    Engine(#[from] hbk_engine::Error),
    /// Reading the repository failed.
    #[error(transparent)]
    Repo(#[from] hbk_repo::Error),
}
