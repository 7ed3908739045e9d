//! Checks before anything is written: repository locations, the USB
//! mount, free space.

use std::path::{Path, PathBuf};

use crate::config::RepoConfig;
use crate::engine::RepoTarget;
use crate::secret::Secret;

/// The directory of a local repository URL (`/path` or `local:/path`).
pub fn local_path(url: &str) -> Option<PathBuf> {
    let p = url.strip_prefix("local:").unwrap_or(url);
    p.starts_with('/').then(|| PathBuf::from(p))
}

/// A `require_mount` repository must sit on a mounted disk: the
/// repository directory itself or its parent must be a mount point (the
/// removable-disk guard of `hbk --require-mount`).
fn check_mount(repo_dir: &Path) -> Result<(), String> {
    hbk_backend::mount::require_mount(repo_dir, None).map_err(|e| {
        format!(
            "{} is not on a mounted file system (require_mount): is the USB disk mounted? nothing was written ({e})",
            repo_dir.display()
        )
    })
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
        assert!(check_mount(&sub.join("repo")).is_err());
        assert!(!sub.join("repo").exists());
    }
}
