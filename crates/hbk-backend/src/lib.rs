//! Backends that store a repository's files: [`LocalBackend`] for a
//! directory on a local or removable disk. Each implements
//! [`hbk_repo::Backend`] and maps ids to paths with restic's default layout
//! (see [`layout`]).

pub mod cache;
pub mod layout;
mod local;
pub mod mount;

pub use local::LocalBackend;

use std::sync::Arc;

use hbk_repo::Backend;

/// Opens the backend for a repository location as restic spells it: a
/// plain path or `local:PATH`.
pub fn open(location: &str) -> Result<Arc<dyn Backend>, String> {
    if let Some(path) = location.strip_prefix("local:") {
        return Ok(Arc::new(LocalBackend::new(path)));
    }
    for scheme in [
        "s3:", "rest:", "sftp:", "b2:", "azure:", "gs:", "swift:", "rclone:",
    ] {
        if location.starts_with(scheme) {
            return Err(format!(
                "backend {:?} is not supported yet",
                scheme.trim_end_matches(':')
            ));
        }
    }
    Ok(Arc::new(LocalBackend::new(location)))
}
