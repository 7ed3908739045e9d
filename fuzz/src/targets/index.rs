//! Index files: the JSON reached through the repository's own reader
//! (`with_unpacked`, which must agree with `decode_unpacked`), parsed by
//! the fast scanner and the generic parser, which must agree wherever
//! the scanner reads a document; the parsed file written and parsed
//! again means the same, and the in-memory index built from it finds
//! every blob it lists.

use crate::{assert_round_trip, Input};
use hbk_repo::unpacked::{decode_unpacked, with_unpacked};
use hbk_repo::{Index, IndexFile};

/// Feeds `data` to the `index` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let Some(plain) = input.plaintext() else {
        return;
    };
    let mut buffer = b"left over from another file".to_vec();
    let reused = with_unpacked(input.version, &plain, &mut buffer, |j| j.to_vec()).ok();
    let json = decode_unpacked(input.version, plain).ok();
    assert_eq!(reused, json, "the two unpacked-file decoders disagree");
    let Some(json) = json else {
        return;
    };
    let generic = IndexFile::from_json(&json);
    if let Some(packs) = hbk_repo::scan_index(&json) {
        match &generic {
            Ok(file) => assert_eq!(file.packs, packs, "scanner and generic parser disagree"),
            Err(e) => panic!("the scanner reads a document the generic parser rejects: {e}"),
        }
    }
    let Ok(file) = generic else {
        return;
    };
    let written = file.to_json().expect("a parsed index file can be written");
    assert_round_trip("index", &file, IndexFile::from_json(&written));
    let index = Index::from_files([&file]);
    for p in &file.packs {
        for b in &p.blobs {
            assert!(
                index.contains(b.blob_type, &b.id),
                "a listed blob is missing"
            );
        }
    }
}
