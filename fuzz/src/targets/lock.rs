//! Lock files: sealed or plaintext, through the unpacked-file decoder,
//! parsed, written and parsed again to the same lock.

use crate::{assert_round_trip, Input};
use hbk_repo::LockFile;

/// Feeds `data` to the `lock` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(json) = Input::new(data).and_then(|i| i.unpacked()) else {
        return;
    };
    let Ok(lock) = LockFile::from_json(&json) else {
        return;
    };
    let written = lock.to_json().expect("a parsed lock can be written");
    assert_round_trip("lock", &lock, LockFile::from_json(&written));
}
