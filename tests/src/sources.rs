//! Deterministic source trees for the reliability tests: files of
//! pseudo-random (incompressible) bytes from a seed, so two trees can
//! share files byte for byte and a test can rebuild the same tree.

use std::path::Path;

use rand::{RngCore, SeedableRng};

/// One file of a source tree: its path under the root, the seed of its
/// bytes and its length.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile {
    /// Path relative to the tree's root.
    pub name: &'static str,
    /// Seed of the bytes: equal seeds and lengths give equal files.
    pub seed: u64,
    /// Length in bytes.
    pub len: usize,
}

/// The bytes of a file with `seed` and `len`.
pub fn file_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    data
}

/// Writes `files` under `root` (created with any parents).
pub fn write_tree(root: &Path, files: &[SourceFile]) {
    for f in files {
        let path = root.join(f.name);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).unwrap();
        std::fs::write(&path, file_bytes(f.seed, f.len)).unwrap();
    }
}
