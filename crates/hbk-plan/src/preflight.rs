//! Checks before anything is written: repository locations, the USB
//! mount, free space.

use std::path::Path;

use hbk_backend::{Location, RepoSpec, RequireMount};

use crate::config::RepoConfig;
use crate::engine::RepoTarget;
use crate::secret::Secret;

/// How to open a plan repository: its url, backend options, bandwidth
/// limits, removable-disk guard (`require_mount`), expected id and
/// metadata cache.
pub fn repo_spec(cfg: &RepoConfig) -> Result<RepoSpec, hbk_backend::Error> {
    Ok(RepoSpec::new(&cfg.url)?
        .with_options(hbk_backend::Options::parse(&cfg.options.0)?)
        .with_limits(hbk_backend::Limits {
            upload_kib: cfg.limit_upload.unwrap_or(0),
            download_kib: cfg.limit_download.unwrap_or(0),
        })
        .with_require_mount(
            cfg.require_mount
                .then_some(RequireMount::RepositoryOrParent),
        )
        .with_expected_id(cfg.expect_repository_id.as_deref())
        .with_cache_choice(cfg.no_cache, cfg.cache_dir.clone()))
}

/// A `require_mount` repository must sit on a mounted disk: the
/// repository directory itself or its parent must be a mount point (the
/// removable-disk guard of `hbk --require-mount`).
fn check_mount(spec: &RepoSpec) -> Result<(), String> {
    spec.check_mount().map_err(|e| {
        format!(
            "{} is not on a mounted file system (require_mount): is the USB disk mounted? nothing was written ({e})",
            spec.location()
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
    let spec = repo_spec(cfg).map_err(|e| format!("repositories.{name}: {e}"))?;
    check_mount(&spec)?;
    if let (Location::Local(dir), Some(min)) = (spec.location(), cfg.min_free) {
        let free = free_bytes(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if free < min.0 {
            return Err(format!(
                "{}: only {free} bytes free, min_free is {}",
                dir.display(),
                min.0
            ));
        }
    }
    RepoTarget::connect(name, &spec, password)
        .map_err(|e| format!("opening {}: {e}", spec.location()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("usb");
        std::fs::create_dir(&sub).unwrap();
        let spec = RepoSpec::new(sub.join("repo").to_str().unwrap())
            .unwrap()
            .with_require_mount(Some(RequireMount::RepositoryOrParent));
        let e = check_mount(&spec).unwrap_err();
        assert!(e.contains("is the USB disk mounted"), "{e}");
        assert!(!sub.join("repo").exists());
    }

    #[test]
    fn bandwidth_limits_reach_the_spec() {
        let cfg: RepoConfig =
            toml::from_str("url = \"/srv/r\"\npassword = { env = \"X\" }\nlimit_upload = 512\n")
                .unwrap();
        let limits = repo_spec(&cfg).unwrap().limits();
        assert_eq!(limits.upload_kib, 512);
        assert_eq!(limits.download_kib, 0);
        let bad = toml::from_str::<RepoConfig>(
            "url = \"/r\"\npassword = { env = \"X\" }\nlimit_download = -1\n",
        );
        assert!(bad.is_err());
    }
}
