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
    let mut scratch = Vec::new();
    match uncompressed_length {
        Some(_) => {
            decode_blob_in_place(key, id, uncompressed_length, sealed, &mut scratch)?;
            Ok(scratch)
        }
        None => decode_blob_in_place(key, id, None, sealed, &mut scratch).map(<[u8]>::to_vec),
    }
}

/// [`decode_blob`] without copying the plaintext: the blob is opened in
/// place in `sealed` and, when compressed, decompressed into `scratch`
/// (whose allocation is reused); returns the checked plaintext. Readers
/// of many blobs (restore) save a copy and an allocation per blob.
pub fn decode_blob_in_place<'a>(
    key: &Key,
    id: &Id,
    uncompressed_length: Option<NonZeroU32>,
    sealed: &'a mut [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], BlobError> {
    let data = open_blob_in_place(key, uncompressed_length, sealed, scratch)?;
    check_blob_id(id, Id::hash(data))?;
    Ok(data)
}

/// Whether a blob's plaintext hashed to `actual` is the blob `id`.
pub fn check_blob_id(id: &Id, actual: Id) -> Result<(), BlobError> {
    match actual == *id {
        true => Ok(()),
        false => Err(BlobError::HashMismatch {
            expected: *id,
            actual,
        }),
    }
}

/// [`decode_blob_in_place`] without the check of the id: the caller
/// hashes the plaintext itself and calls [`check_blob_id`] (a restore
/// hashes two blobs at a time, see [`Id::hash_pair`]).
pub fn open_blob_in_place<'a>(
    key: &Key,
    uncompressed_length: Option<NonZeroU32>,
    sealed: &'a mut [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], BlobError> {
    let plain = key
        .open_in_place(sealed)
        .map_err(|e| BlobError::Decrypt(e.to_string()))?;
    let data: &[u8] = match uncompressed_length {
        Some(n) => {
            unpacked::decompress_into(plain, Some(n.get() as usize), scratch)
                .map_err(|e| BlobError::Decompress(e.to_string()))?;
            scratch
        }
        None => plain,
    };
    Ok(data)
}

/// A blob ready to be put into a pack: sealed, maybe compressed. Its bytes
/// live in the [`BlobScratch`] it was encoded into.
#[derive(Debug, Clone, Copy)]
pub struct SealedBlob<'a> {
    /// Data or tree.
    pub blob_type: crate::BlobType,
    /// SHA-256 of the plaintext.
    pub id: Id,
    /// `IV || ciphertext || MAC` of the (maybe compressed) plaintext.
    pub sealed: &'a [u8],
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

/// The buffer one thread reuses to encode blob after blob: allocating a
/// fresh compressed and sealed copy of every chunk made the allocator
/// hold far more memory than a backup has in flight. A blob is compressed
/// (or copied) right behind the IV's room and sealed where it lies.
#[derive(Debug, Default)]
pub struct BlobScratch {
    /// Initialised up to its length, which only grows (no re-zeroing).
    buf: Vec<u8>,
}

impl BlobScratch {
    /// A buffer grown past this by a large blob is let go after use, so a
    /// thread does not keep it for the rest of the run: chunks average
    /// 1 MiB and few exceed 4, while every thread kept the room of the
    /// largest (8 MiB) it had sealed, at a backup's peak too.
    const KEEP: usize = (4 << 20) + (64 << 10);

    /// Releases a buffer a huge blob made large.
    pub fn trim(&mut self) {
        if self.buf.len() > Self::KEEP {
            self.buf = Vec::new();
        }
    }

    /// The buffer, at least `len` bytes long (grown to that length only:
    /// doubling, an 8 MiB chunk after a 5 MiB one reserved 10 MiB).
    fn room(&mut self, len: usize) -> &mut [u8] {
        if self.buf.len() < len {
            self.buf.reserve_exact(len - self.buf.len());
            self.buf.resize(len, 0);
        }
        &mut self.buf
    }
}

/// Compresses `data` as `compression` says and seals it into `scratch`.
/// `id` must be the SHA-256 of `data`.
pub fn encode_blob<'a>(
    key: &Key,
    blob_type: crate::BlobType,
    id: Id,
    data: &[u8],
    compression: Compression,
    scratch: &'a mut BlobScratch,
) -> SealedBlob<'a> {
    use hbk_crypto::{IV_LEN, OVERHEAD};
    let (level, always) = match compression {
        Compression::Off => (None, false),
        Compression::IfSmaller(l) => (Some(l), false),
        Compression::Always(l) => (Some(l), true),
    };
    let level = level.filter(|_| !data.is_empty() && data.len() <= u32::MAX as usize);
    let bound = match level {
        Some(_) => zstd::zstd_safe::compress_bound(data.len()).max(data.len()),
        None => data.len(),
    };
    let room = scratch.room(bound.saturating_add(OVERHEAD));
    let compressed = level
        .and_then(|l| {
            crate::unpacked::compress_into(data, l, &mut room[IV_LEN..IV_LEN + bound]).ok()
        })
        .filter(|&n| always || n < data.len());
    let (len, ulen) = match compressed {
        Some(n) => (n, NonZeroU32::new(data.len() as u32)),
        None => {
            room[IV_LEN..IV_LEN + data.len()].copy_from_slice(data);
            (data.len(), None)
        }
    };
    let sealed = &mut room[..len + OVERHEAD];
    // The slice is never shorter than the overhead, so sealing cannot fail.
    let _ = key.seal_in_place(sealed);
    SealedBlob {
        blob_type,
        id,
        sealed,
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
            let mut scratch = BlobScratch::default();
            let b = encode_blob(&key, crate::BlobType::Data, id, &data, c, &mut scratch);
            assert_eq!(b.uncompressed_length.is_some(), compressed);
            let ulen = b.uncompressed_length;
            let mut sealed = b.sealed.to_vec();
            assert_eq!(decode_blob(&key, &id, ulen, &mut sealed).unwrap(), data);
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
            let mut scratch = BlobScratch::default();
            let b = encode_blob(&key, crate::BlobType::Data, id, &data, Compression::Always(3), &mut scratch);
            let ulen = ulen.and_then(NonZeroU32::new);
            let mut broken = crate::fuzz::apply(b.sealed, &edits);
            let _ = decode_blob(&key, &id, ulen, &mut broken);
            let frame = zstd::bulk::compress(&data, 3).unwrap();
            let mut resealed = key.seal(&crate::fuzz::apply(&frame, &edits));
            let _ = decode_blob(&key, &id, ulen, &mut resealed);
        }
    }
}
