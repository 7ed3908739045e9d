//! PBS chunk files (`hbk_plan::pbs_chunk`): the first 32 bytes are the
//! name's digest, the rest the file. Any input gets a verdict; the data
//! part encoded as PBS writes a chunk verifies against its own digest,
//! and fails against another.

use hbk_plan::pbs_chunk::{encode_chunk, verify_chunk, ChunkKind};

/// Feeds `data` to the `pbs_chunk` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some((name, raw)) = data.split_first_chunk::<32>() else {
        return;
    };
    let _ = verify_chunk(name, raw);
    for compress in [false, true] {
        let (file, digest) = encode_chunk(raw, compress);
        let kind = verify_chunk(&digest, &file).expect("an encoded chunk verifies");
        assert_ne!(kind, ChunkKind::Encrypted);
        if digest != *name {
            assert!(
                verify_chunk(name, &file).is_err(),
                "verified under another name"
            );
        }
    }
}
