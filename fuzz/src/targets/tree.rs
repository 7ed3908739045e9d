//! Tree blobs (plaintext JSON: the pack target covers their decryption
//! and decompression): parsed, written back as restic writes trees (Go's
//! JSON, names Go-quoted) and parsed again to the same tree.

use crate::assert_round_trip;
use hbk_repo::Tree;

/// Feeds `data` to the `tree` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Ok(tree) = Tree::from_json(data) else {
        return;
    };
    let written = tree.to_go_json().expect("a parsed tree can be written");
    assert_round_trip("tree", &tree, Tree::from_json(&written));
}
