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
