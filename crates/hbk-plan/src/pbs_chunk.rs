//! Proxmox Backup Server chunk files, checked against their names (no
//! I/O here).
//!
//! A chunk file in a datastore's `.chunks/XXXX/` directory is a PBS data
//! blob: an 8-byte magic naming its kind, the CRC-32 (IEEE, little
//! endian) of everything after the header, and for encrypted kinds a
//! 16-byte IV and a 16-byte AEAD tag; then the payload, zstd-compressed
//! or not. The file's name is the SHA-256 of the decoded data for chunks
//! that are not encrypted; an encrypted chunk's name is keyed, so without
//! the key only its CRC can be checked.

use sha2::{Digest, Sha256};

/// Magic of a blob stored as is.
pub const UNCOMPRESSED_MAGIC: [u8; 8] = [66, 171, 56, 7, 190, 131, 112, 161];
/// Magic of a zstd-compressed blob.
pub const COMPRESSED_MAGIC: [u8; 8] = [49, 185, 88, 66, 111, 182, 163, 127];
/// Magic of an encrypted blob.
pub const ENCRYPTED_MAGIC: [u8; 8] = [123, 103, 133, 190, 34, 45, 76, 240];
/// Magic of a compressed, then encrypted blob.
pub const ENCRYPTED_COMPRESSED_MAGIC: [u8; 8] = [230, 89, 27, 191, 11, 191, 216, 11];

/// Header of a blob that is not encrypted: magic and CRC.
const PLAIN_HEADER: usize = 12;
/// Header of an encrypted blob: magic, CRC, IV and tag.
const ENCRYPTED_HEADER: usize = 44;
/// The largest decoded chunk accepted (PBS's own blob limit): a
/// decompression bomb stops here.
pub const MAX_DECODED: usize = 128 << 20;

/// What a chunk file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// Stored as is; CRC and digest checked.
    Plain,
    /// zstd-compressed; CRC and digest checked.
    Compressed,
    /// Encrypted (maybe compressed too); only the CRC can be checked.
    Encrypted,
}

/// Why a chunk file does not match its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Shorter than its header.
    #[error("{0} bytes: shorter than a chunk header")]
    TooShort(usize),
    /// The first 8 bytes are no blob magic.
    #[error("unknown blob magic")]
    BadMagic,
    /// The CRC-32 of the payload is not the one stored.
    #[error("CRC-32 {computed:08x} does not match the stored {stored:08x}")]
    Crc {
        /// As stored in the header.
        stored: u32,
        /// Of the bytes found.
        computed: u32,
    },
    /// The zstd payload does not decode (or decodes to more than
    /// [`MAX_DECODED`] bytes).
    #[error("compressed payload does not decode: {0}")]
    Decompress(String),
    /// The decoded data's SHA-256 is not the file's name.
    #[error("content digest {0} differs from the chunk's name")]
    Digest(String),
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and PBS compute it).
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    let mut c = !0u32;
    for &b in data {
        c = TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8);
    }
    !c
}

/// Checks the chunk file `raw` against `digest`, the SHA-256 its name
/// gives; returns its kind.
pub fn verify_chunk(digest: &[u8; 32], raw: &[u8]) -> Result<ChunkKind, ChunkError> {
    let magic: [u8; 8] = raw
        .get(..8)
        .and_then(|m| m.try_into().ok())
        .ok_or(ChunkError::TooShort(raw.len()))?;
    let (kind, header) = match magic {
        UNCOMPRESSED_MAGIC => (ChunkKind::Plain, PLAIN_HEADER),
        COMPRESSED_MAGIC => (ChunkKind::Compressed, PLAIN_HEADER),
        ENCRYPTED_MAGIC | ENCRYPTED_COMPRESSED_MAGIC => (ChunkKind::Encrypted, ENCRYPTED_HEADER),
        _ => return Err(ChunkError::BadMagic),
    };
    let (head, payload) = raw
        .split_at_checked(header)
        .ok_or(ChunkError::TooShort(raw.len()))?;
    let stored = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    let computed = crc32(payload);
    if stored != computed {
        return Err(ChunkError::Crc { stored, computed });
    }
    let found: [u8; 32] = match kind {
        ChunkKind::Encrypted => return Ok(kind),
        ChunkKind::Plain => Sha256::digest(payload).into(),
        ChunkKind::Compressed => Sha256::digest(decompress(payload)?).into(),
    };
    if &found != digest {
        return Err(ChunkError::Digest(hex::encode(found)));
    }
    Ok(kind)
}

/// Decodes a zstd payload of at most [`MAX_DECODED`] bytes.
fn decompress(payload: &[u8]) -> Result<Vec<u8>, ChunkError> {
    use std::io::Read;
    let dec = zstd::stream::read::Decoder::new(payload)
        .map_err(|e| ChunkError::Decompress(e.to_string()))?;
    let mut out = Vec::new();
    dec.take(MAX_DECODED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ChunkError::Decompress(e.to_string()))?;
    if out.len() > MAX_DECODED {
        return Err(ChunkError::Decompress(format!(
            "more than {MAX_DECODED} bytes"
        )));
    }
    Ok(out)
}

/// Encodes `data` as PBS writes an unencrypted chunk (compressed when
/// that is smaller); returns the file's bytes and its name's digest.
/// Test fixtures and drills' self-tests use it.
pub fn encode_chunk(data: &[u8], compress: bool) -> (Vec<u8>, [u8; 32]) {
    let digest: [u8; 32] = Sha256::digest(data).into();
    let packed = compress
        .then(|| zstd::bulk::compress(data, 1).ok())
        .flatten()
        .filter(|c| c.len() < data.len());
    let (magic, payload) = match &packed {
        Some(c) => (COMPRESSED_MAGIC, c.as_slice()),
        None => (UNCOMPRESSED_MAGIC, data),
    };
    let mut raw = Vec::with_capacity(PLAIN_HEADER + payload.len());
    raw.extend_from_slice(&magic);
    raw.extend_from_slice(&crc32(payload).to_le_bytes());
    raw.extend_from_slice(payload);
    (raw, digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn encoded_chunks_verify_and_damage_is_named() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for compress in [true, false] {
            let (raw, digest) = encode_chunk(&data, compress);
            let want = if compress {
                ChunkKind::Compressed
            } else {
                ChunkKind::Plain
            };
            assert_eq!(verify_chunk(&digest, &raw), Ok(want));
            let mut bad = raw.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(matches!(
                verify_chunk(&digest, &bad),
                Err(ChunkError::Crc { .. })
            ));
            let mut other = digest;
            other[0] ^= 1;
            assert!(matches!(
                verify_chunk(&other, &raw),
                Err(ChunkError::Digest(_))
            ));
            assert_eq!(
                verify_chunk(&digest, &raw[..5]),
                Err(ChunkError::TooShort(5))
            );
        }
        let mut wrong = encode_chunk(b"x", false).0;
        wrong[0] ^= 1;
        assert_eq!(verify_chunk(&[0; 32], &wrong), Err(ChunkError::BadMagic));
    }

    #[test]
    fn encrypted_chunks_get_their_crc_checked() {
        let mut raw = ENCRYPTED_COMPRESSED_MAGIC.to_vec();
        let body = [7u8; 100];
        raw.extend_from_slice(&crc32(&body[32..]).to_le_bytes());
        raw.extend_from_slice(&body);
        assert_eq!(verify_chunk(&[0; 32], &raw), Ok(ChunkKind::Encrypted));
        raw[60] ^= 0x80;
        assert!(matches!(
            verify_chunk(&[0; 32], &raw),
            Err(ChunkError::Crc { .. })
        ));
    }

    proptest::proptest! {
        /// Any bytes, any name: a verdict, never a panic.
        #[test]
        fn arbitrary_files_never_panic(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..200), magic in 0usize..5) {
            let mut raw = raw;
            let magics = [UNCOMPRESSED_MAGIC, COMPRESSED_MAGIC, ENCRYPTED_MAGIC, ENCRYPTED_COMPRESSED_MAGIC];
            if let Some(m) = magics.get(magic) {
                if raw.len() >= 8 {
                    raw[..8].copy_from_slice(m);
                }
            }
            let _ = verify_chunk(&[0; 32], &raw);
        }
    }
}
