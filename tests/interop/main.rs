//! Interop tests: hbk and the real restic on the same repositories, both
//! ways. One test binary; topics in submodules.

mod backends;
mod backup;
mod backup_inputs;
mod concurrent;
mod copy;
mod damage;
mod dropin;
mod everyday;
mod fixtures;
mod forget;
mod full_disk;
mod keys;
mod kill;
mod limits;
mod mount;
mod netfaults;
mod output;
mod plan;
mod prune;
mod repair;
mod restore;
mod rewrite;
mod usb;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hbk_tests::tree::{make_edge_case_tree, EdgeTree};

/// The edge-case tree, built once per run and kept until the process ends.
pub fn edge_tree() -> &'static (PathBuf, EdgeTree) {
    static TREE: OnceLock<(PathBuf, EdgeTree)> = OnceLock::new();
    TREE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("hbk-edge-")
            .tempdir()
            .unwrap()
            .keep();
        let src = dir.join("src");
        let info = make_edge_case_tree(&src);
        (src, info)
    })
}

/// A fresh temporary directory that is removed when dropped.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hbk-test-")
        .tempdir()
        .unwrap()
}

/// The source tree's location inside a restore target: backups store the
/// absolute path, so `/tmp/x/src` comes back as `target/tmp/x/src`.
pub fn restored(target: &Path, source: &Path) -> PathBuf {
    target.join(source.strip_prefix("/").unwrap())
}
