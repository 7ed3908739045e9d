//! The removable-disk guard: before anything is written to a repository on
//! a USB disk, make sure the disk is really mounted. An unmounted mount
//! point is an ordinary empty directory on the OS disk, and a backup into
//! it would silently fill that disk instead of the second medium.
//!
//! A directory is a mount point when its device (`st_dev`) differs from
//! its parent's. The guard only reads metadata; it never creates or
//! changes anything.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why the guard refused.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The expected mount point is not mounted (or the repository has none).
    #[error("{}: not a mounted filesystem (same device as its parent directory); is the disk plugged in and mounted? Nothing was written.", .0.display())]
    NotMounted(PathBuf),
    /// The repository does not lie under the given mount point.
    #[error("repository {} is not under the mount point {}; nothing was written", repo.display(), mount.display())]
    Outside {
        /// The repository directory.
        repo: PathBuf,
        /// The mount point that was required.
        mount: PathBuf,
    },
    /// The filesystem could not be inspected.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path inspected.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Whether `dir` is the root of a mounted filesystem other than its
/// parent's. `/` itself never counts: a repository on the root filesystem
/// is not on a removable disk.
pub fn is_mount_point(dir: &Path) -> Result<bool, MountError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| MountError::Io { path, source }
    };
    let dir = std::fs::canonicalize(dir).map_err(io(dir))?;
    let Some(parent) = dir.parent() else {
        return Ok(false);
    };
    let own = std::fs::metadata(&dir).map_err(io(&dir))?.dev();
    let parents = std::fs::metadata(parent).map_err(io(parent))?.dev();
    Ok(own != parents)
}

/// Checks that the repository at `repo` lies on a mounted filesystem.
///
/// With `mount_point`, that directory must be a mount point and hold the
/// repository. Without it, the repository directory itself or its parent
/// must be a mount point (the usual `/mnt/usb` or `/mnt/usb/repo`). The
/// repository directory need not exist yet (`init`).
pub fn require_mount(repo: &Path, mount_point: Option<&Path>) -> Result<(), MountError> {
    let repo = absolute(repo)?;
    if let Some(m) = mount_point {
        let m = absolute(m)?;
        if !repo.starts_with(&m) {
            return Err(MountError::Outside {
                repo,
                mount: m.to_path_buf(),
            });
        }
        return match m.exists() && is_mount_point(&m)? {
            true => Ok(()),
            false => Err(MountError::NotMounted(m)),
        };
    }
    if repo.is_dir() && is_mount_point(&repo)? {
        return Ok(());
    }
    match repo.parent() {
        Some(parent) if parent.is_dir() && is_mount_point(parent)? => Ok(()),
        Some(parent) => Err(MountError::NotMounted(parent.to_path_buf())),
        None => Err(MountError::NotMounted(repo)),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, MountError> {
    std::path::absolute(p).map_err(|source| MountError::Io {
        path: p.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("usb");
        std::fs::create_dir(&sub).unwrap();
        assert!(!is_mount_point(&sub).unwrap());
        let err = require_mount(&sub.join("repo"), None).unwrap_err();
        assert!(matches!(err, MountError::NotMounted(_)), "{err}");
        let err = require_mount(&sub.join("repo"), Some(&sub)).unwrap_err();
        assert!(matches!(err, MountError::NotMounted(_)), "{err}");
        assert!(!sub.join("repo").exists(), "the guard wrote something");
    }

    #[test]
    fn the_repository_must_be_under_the_mount_point() {
        let err = require_mount(Path::new("/srv/repo"), Some(Path::new("/mnt/usb"))).unwrap_err();
        assert!(matches!(err, MountError::Outside { .. }), "{err}");
    }

    #[test]
    fn proc_is_a_mount_point() {
        // /proc is mounted on every Linux system this runs on.
        assert!(is_mount_point(Path::new("/proc")).unwrap());
        assert!(!is_mount_point(Path::new("/")).unwrap());
    }
}
