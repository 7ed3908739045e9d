//! Checks before anything is written: repository locations, the USB
//! mount, free space.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::config::RepoConfig;
use crate::engine::RepoTarget;
use crate::secret::Secret;

/// The directory of a local repository URL (`/path` or `local:/path`).
pub fn local_path(url: &str) -> Option<PathBuf> {
    let p = url.strip_prefix("local:").unwrap_or(url);
    p.starts_with('/').then(|| PathBuf::from(p))
}

/// Whether `dir` is a mount point: it exists and its device differs
/// from its parent's (`st_dev`).
pub fn is_mount_point(dir: &Path) -> std::io::Result<bool> {
    let own = std::fs::metadata(dir)?;
    let parent = dir.parent().unwrap_or(Path::new("/"));
    let up = std::fs::metadata(parent)?;
    Ok(own.dev() != up.dev() || own.ino() == up.ino())
}

/// The mount point a `require_mount` repository must sit on: the
/// repository directory itself if it exists and is one, else its parent
/// (a repository directory inside the mounted disk).
fn check_mount(repo_dir: &Path) -> Result<(), String> {
    let mut candidates = vec![repo_dir.to_path_buf()];
    if let Some(p) = repo_dir.parent() {
        candidates.push(p.to_path_buf());
    }
    for c in &candidates {
        if let Ok(true) = is_mount_point(c) {
            return Ok(());
        }
    }
    Err(format!(
        "{} is not on a mounted file system (require_mount): is the USB disk mounted? nothing was written",
        repo_dir.display()
    ))
}

/// Free bytes on the file system holding `dir` (or its nearest existing
/// ancestor).
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut d = dir;
    while !d.exists() {
        d = d.parent().unwrap_or(Path::new("/"));
    }
    let st = nix::sys::statvfs::statvfs(d).map_err(std::io::Error::from)?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

/// Checks one repository; on success, what the later steps need to use it.
pub fn check_repo(name: &str, cfg: &RepoConfig) -> Result<RepoTarget, String> {
    let password: Secret = cfg
        .password
        .resolve(&format!("repositories.{name}.password"))
        .map_err(|e| e.to_string())?;
    if let Some(dir) = local_path(&cfg.url) {
        if cfg.require_mount {
            check_mount(&dir)?;
        }
        if let Some(min) = cfg.min_free {
            let free = free_bytes(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            if free < min.0 {
                return Err(format!(
                    "{}: only {free} bytes free, min_free is {}",
                    dir.display(),
                    min.0
                ));
            }
        }
    }
    RepoTarget::connect(name, &cfg.url, password).map_err(|e| format!("opening {}: {e}", cfg.url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths() {
        assert_eq!(local_path("/srv/r"), Some(PathBuf::from("/srv/r")));
        assert_eq!(local_path("local:/srv/r"), Some(PathBuf::from("/srv/r")));
        assert_eq!(local_path("s3:host/bucket"), None);
    }

    #[test]
    fn a_plain_directory_is_not_a_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("usb");
        std::fs::create_dir(&sub).unwrap();
        assert!(!is_mount_point(&sub).unwrap());
        assert!(check_mount(&sub.join("repo")).is_err());
        assert!(is_mount_point(Path::new("/")).unwrap());
    }
}
