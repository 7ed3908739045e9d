//! Turning a blob's sealed bytes back into its plaintext, with every check
//! restic makes: authentication, decompression and the content hash.

use std::num::NonZeroU32;

use hbk_crypto::Key;

use crate::{unpacked, Id};

/// Why a blob's bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// Authentication failed (or the bytes are too short).
    #[error("decryption failed: {0}")]
    Decrypt(String),
    /// The zstd frame is broken or has the wrong length.
    #[error("decompression failed: {0}")]
    Decompress(String),
    /// The plaintext's hash is not the blob id.
    #[error("content hash is {actual}, expected {expected}")]
    HashMismatch {
        /// The id the blob should have.
        expected: Id,
        /// The hash it has.
        actual: Id,
    },
}

/// Opens `sealed`, decompresses it when `uncompressed_length` is set, and
/// checks that the result hashes to `id`.
pub fn decode_blob(
    key: &Key,
    id: &Id,
    uncompressed_length: Option<NonZeroU32>,
    sealed: &mut [u8],
) -> Result<Vec<u8>, BlobError> {
    let plain = key
        .open_in_place(sealed)
        .map_err(|e| BlobError::Decrypt(e.to_string()))?;
    let data = match uncompressed_length {
        Some(n) => unpacked::decompress(plain, Some(n.get() as usize))
            .map_err(|e| BlobError::Decompress(e.to_string()))?,
        None => plain.to_vec(),
    };
    let actual = Id::hash(&data);
    if actual != *id {
        return Err(BlobError::HashMismatch {
            expected: *id,
            actual,
        });
    }
    Ok(data)
}

/// A blob ready to be put into a pack: sealed, maybe compressed.
#[derive(Debug, Clone)]
pub struct SealedBlob {
    /// Data or tree.
    pub blob_type: crate::BlobType,
    /// SHA-256 of the plaintext.
    pub id: Id,
    /// `IV || ciphertext || MAC` of the (maybe compressed) plaintext.
    pub sealed: Vec<u8>,
    /// Plaintext length when compressed.
    pub uncompressed_length: Option<NonZeroU32>,
}

/// Whether and how a blob is compressed before sealing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Stored raw (repository v1, or `--compression off` for data).
    Off,
    /// zstd at this level, kept only when smaller (incompressible data
    /// stays raw, which restic accepts and saves decoding time).
    IfSmaller(i32),
    /// zstd at this level, always (restic's rule for v2 trees).
    Always(i32),
}

/// Compresses `data` as `compression` says and seals it. `id` must be the
/// SHA-256 of `data`.
pub fn encode_blob(
    key: &Key,
    blob_type: crate::BlobType,
    id: Id,
    data: &[u8],
    compression: Compression,
) -> SealedBlob {
    let (level, always) = match compression {
        Compression::Off => (None, false),
        Compression::IfSmaller(l) => (Some(l), false),
        Compression::Always(l) => (Some(l), true),
    };
    let compressed = level
        .filter(|_| !data.is_empty() && data.len() <= u32::MAX as usize)
        .and_then(|l| crate::unpacked::compress(data, l).ok())
        .filter(|c| always || c.len() < data.len());
    let (payload, ulen) = match &compressed {
        Some(c) => (c.as_slice(), NonZeroU32::new(data.len() as u32)),
        None => (data, None),
    };
    SealedBlob {
        blob_type,
        id,
        sealed: key.seal(payload),
        uncompressed_length: ulen,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let key = Key::random();
        for (data, c, compressed) in [
            (vec![0u8; 10000], Compression::IfSmaller(3), true),
            (b"abc".to_vec(), Compression::IfSmaller(3), false),
            (b"abc".to_vec(), Compression::Always(3), true),
            (vec![7u8; 100], Compression::Off, false),
            (Vec::new(), Compression::Always(3), false),
        ] {
            let id = Id::hash(&data);
            let mut b = encode_blob(&key, crate::BlobType::Data, id, &data, c);
            assert_eq!(b.uncompressed_length.is_some(), compressed);
            let ulen = b.uncompressed_length;
            assert_eq!(decode_blob(&key, &id, ulen, &mut b.sealed).unwrap(), data);
        }
    }

    proptest::proptest! {
        /// Sealed blobs with edits, and valid seals of edited zstd frames,
        /// decoded with any claimed uncompressed length: never a panic.
        #[test]
        fn mutated_blobs_never_panic(
            edits in crate::fuzz::edits(4),
            ulen in proptest::option::of(proptest::num::u32::ANY),
        ) {
            let key = Key::random();
            let data: Vec<u8> = (0..2000u32).map(|i| (i % 7) as u8).collect();
            let id = Id::hash(&data);
            let b = encode_blob(&key, crate::BlobType::Data, id, &data, Compression::Always(3));
            let ulen = ulen.and_then(NonZeroU32::new);
            let mut broken = crate::fuzz::apply(&b.sealed, &edits);
            let _ = decode_blob(&key, &id, ulen, &mut broken);
            let frame = zstd::bulk::compress(&data, 3).unwrap();
            let mut resealed = key.seal(&crate::fuzz::apply(&frame, &edits));
            let _ = decode_blob(&key, &id, ulen, &mut resealed);
        }
    }
}
