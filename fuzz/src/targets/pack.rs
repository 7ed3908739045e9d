//! Pack files. Sealed inputs are whole packs read as hbk reads them: the
//! header from the tail (first only the last `TAIL_READ` bytes, as the
//! repository does) and from the whole pack, which must agree; then
//! every blob decoded (decryption, decompression, content hash) and tree
//! blobs parsed. Plaintext inputs are decrypted headers: parsed as
//! restic's parser reads them (a reference written here from the format),
//! encoded and parsed again to the same blobs.

use crate::{assert_round_trip, Input};
use hbk_repo::blob::decode_blob;
use hbk_repo::pack::{self, PackBlob};
use hbk_repo::{BlobType, Tree};

/// Feeds `data` to the `pack` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    match input.sealed {
        true => whole_pack(&input),
        false => header(input.body),
    }
}

fn header(plain: &[u8]) {
    let parsed = pack::parse_header(plain);
    let reference = restic_entries(plain);
    // hbk also rejects an empty header and blobs shorter than a seal.
    let plausible = reference
        .as_ref()
        .is_some_and(|e| !e.is_empty() && e.iter().all(|b| b.1 >= 32));
    let Ok(blobs) = parsed else {
        assert!(!plausible, "hbk rejects a header restic reads");
        return;
    };
    let ours: Vec<_> = blobs
        .iter()
        .map(|b| {
            let ulen = b.uncompressed_length.map_or(0, |n| n.get());
            (b.blob_type, b.length, ulen, b.id.0)
        })
        .collect();
    assert_eq!(
        Some(ours),
        reference,
        "hbk and restic read the header differently"
    );
    check_offsets(&blobs);
    let encoded = pack::encode_header(&blobs);
    assert_round_trip("pack header", &blobs, pack::parse_header(&encoded));
}

/// A header as restic reads it (`internal/pack`): entries of a type byte
/// (0 data, 1 tree; 2 and 3 the same, compressed), the sealed length and,
/// for types 2 and 3, the uncompressed length (0 meaning not compressed),
/// then the id; 37 bytes an entry, 41 for types 2 and 3.
/// A header entry as restic reads it: type, length, uncompressed length
/// (0 when stored raw) and id.
type RawEntry = (BlobType, u32, u32, [u8; 32]);

fn restic_entries(mut plain: &[u8]) -> Option<Vec<RawEntry>> {
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
    };
    let mut out = Vec::new();
    while let Some(&t) = plain.first() {
        let blob_type = match t {
            0 | 2 => BlobType::Data,
            1 | 3 => BlobType::Tree,
            _ => return None,
        };
        let length = u32_at(plain, 1)?;
        let (ulen, id_at) = match t >= 2 {
            true => (u32_at(plain, 5)?, 9),
            false => (0, 5),
        };
        let id: [u8; 32] = plain.get(id_at..id_at + 32)?.try_into().ok()?;
        out.push((blob_type, length, ulen, id));
        plain = &plain[id_at + 32..];
    }
    Some(out)
}

/// Each blob starts where the one before it ends.
fn check_offsets(blobs: &[PackBlob]) {
    let mut end = 0u64;
    for b in blobs {
        assert_eq!(b.offset, end, "offsets follow the lengths");
        end += u64::from(b.length);
    }
}

fn whole_pack(input: &Input<'_>) {
    let key = &input.fixture().master;
    let bytes = input.body;
    let size = bytes.len() as u64;
    let whole = pack::parse_pack(key, bytes);
    let from = bytes.len().saturating_sub(pack::TAIL_READ as usize);
    let tail = pack::parse_tail(key, &bytes[from..], size);
    match (&whole, &tail) {
        (Ok(w), Ok(Some(t))) => assert_eq!(w, t, "tail and whole pack read different headers"),
        (Ok(_), Err(e)) => panic!("the tail fails ({e}) where the whole pack parses"),
        (Err(e), Ok(Some(_))) => panic!("the tail parses where the whole pack fails ({e})"),
        _ => {}
    }
    let Ok(blobs) = whole else {
        return;
    };
    check_offsets(&blobs);
    for b in &blobs {
        let start = usize::try_from(b.offset).expect("offset within the pack");
        let sealed = bytes
            .get(start..)
            .and_then(|s| s.get(..b.length as usize))
            .expect("a parsed header's blobs lie within the pack");
        let mut sealed = sealed.to_vec();
        let Ok(plain) = decode_blob(key, &b.id, b.uncompressed_length, &mut sealed) else {
            continue;
        };
        if b.blob_type == BlobType::Tree {
            let _ = Tree::from_json(&plain);
        }
    }
}
