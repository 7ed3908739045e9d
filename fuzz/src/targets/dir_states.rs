//! The record of directories a backup keeps in the local cache
//! (`hbk_engine::commands::backup::dir_states`): parsed against nothing
//! (only its trailer is read), then against the fingerprint and index
//! files its own trailer names, so that its records are read too. Every
//! record it lists is found again, with the subdirectories it says.

use hbk_engine::commands::backup::dir_states::{DirStates, Trailer};

/// Feeds `data` to the `dir_states` target: see the module documentation.
pub fn run(data: &[u8]) {
    assert!(
        DirStates::parse(data.to_vec(), &[0xa5; 32], &[]).is_none()
            || Trailer::parse(data).is_some_and(|t| t.fingerprint == [0xa5; 32]),
        "dir_states: read under a fingerprint it does not name"
    );
    let Some(trailer) = Trailer::parse(data) else {
        return;
    };
    let mut index_files = trailer.index_files.clone();
    index_files.sort_unstable();
    let Some(states) = DirStates::parse(data.to_vec(), &trailer.fingerprint, &index_files) else {
        return;
    };
    for key in states.keys() {
        let record = states.get(key).expect("a listed record is found");
        assert_eq!(record.children().len(), record.subdirs());
        assert_eq!(record.digest.len(), 32);
    }
    // One index file gone: the record is not used.
    if let Some(first) = index_files.first() {
        let fewer: Vec<_> = index_files
            .iter()
            .filter(|id| *id != first)
            .copied()
            .collect();
        assert!(DirStates::parse(data.to_vec(), &trailer.fingerprint, &fewer).is_none());
    }
}
