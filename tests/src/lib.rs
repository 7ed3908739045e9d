//! Support for hbk's interop tests: an edge-case source tree, a tree
//! comparer, drivers for the real `restic` and the `hbk` binaries, test
//! S3 and REST servers and a fault-injecting proxy.

pub mod compare;
pub mod damage;
pub mod drivers;
pub mod faults;
pub mod kill;
pub mod locks;
pub mod proxmox_emulator;
pub mod servers;
pub mod sink;
pub mod sources;
pub mod target;
pub mod tmpfs;
pub mod tree;

use std::path::{Path, PathBuf};

/// The workspace's `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures")
}

/// Copies a directory tree (fixture repositories are read-only on disk,
/// so tests work on copies), making the copy writable.
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
            let mut p = std::fs::metadata(&to).unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut p, 0o600);
            std::fs::set_permissions(&to, p).unwrap();
        }
    }
}

/// Whether the tests run as root (devices, owners).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
