//! Copies of repository files kept outside the repository before a
//! command changes them (`repair packs`, `migrate`), so that nothing it
//! replaces is lost if it goes wrong.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Writes `bytes` to `dir/name` (creating `dir`), synced, and never over
/// an existing file; returns the path.
pub fn keep_copy(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(name);
    let io = |e: std::io::Error| Error::Io {
        path: path.clone(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io)?;
    Ok(path)
}
