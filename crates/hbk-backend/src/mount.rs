//! The removable-disk guard (`--require-mount`): a local repository must
//! be the mount point of its own filesystem, so that a backup to a USB
//! disk that is not plugged in fails instead of silently filling the
//! empty mount point on the system disk.
//!
//! The check only reads metadata; it runs before the backend is used, so
//! a refused repository is left untouched.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::Error;

/// Fails unless `repo` is a directory on a different filesystem than its
/// parent directory (`st_dev` differs), i.e. something is mounted there.
pub fn require_mount(repo: &Path) -> Result<(), Error> {
    let refuse = |reason: String| Error::NotMounted {
        path: repo.display().to_string(),
        reason,
    };
    let abs = if repo.is_absolute() {
        repo.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| refuse(format!("current directory: {e}")))?
            .join(repo)
    };
    let meta = std::fs::metadata(&abs).map_err(|e| refuse(format!("{e}")))?;
    if !meta.is_dir() {
        return Err(refuse("not a directory".into()));
    }
    // `..` resolves through the filesystem, so symlinked paths work too.
    let parent = std::fs::metadata(abs.join("..")).map_err(|e| refuse(format!("parent: {e}")))?;
    if meta.dev() == parent.dev() {
        return Err(refuse(
            "it is on the same filesystem as its parent directory, so the disk is not mounted there".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = require_mount(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not mounted"), "{err}");
        assert!(require_mount(&dir.path().join("missing")).is_err());
    }
}
