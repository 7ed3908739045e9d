//! Snapshot files: sealed or plaintext, through the unpacked-file
//! decoder, parsed, written and parsed again to the same snapshot.

use crate::{assert_round_trip, Input};
use hbk_repo::SnapshotFile;

/// Feeds `data` to the `snapshot` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(json) = Input::new(data).and_then(|i| i.unpacked()) else {
        return;
    };
    let Ok(snapshot) = SnapshotFile::from_json(&json) else {
        return;
    };
    let written = snapshot
        .to_json()
        .expect("a parsed snapshot can be written");
    assert_round_trip("snapshot", &snapshot, SnapshotFile::from_json(&written));
}
