//! "Unpacked" files (index, snapshots, locks): one sealed box whose
//! plaintext is the JSON document, in v2 usually framed as `0x02 || zstd`.

use std::io::Read;

use crate::{Error, Result};

/// Largest decompressed size accepted for a single unpacked document or
/// blob, so a malicious frame cannot exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 32;

/// Turns the decrypted plaintext of an unpacked file into JSON bytes.
///
/// v1: the plaintext is the JSON. v2: a leading `0x02` means zstd follows;
/// a leading `{` or `[` means raw JSON; anything else is an error.
pub fn decode_unpacked(version: u32, plaintext: Vec<u8>) -> Result<Vec<u8>> {
    if version < 2 || plaintext.is_empty() {
        return Ok(plaintext);
    }
    match plaintext[0] {
        b'{' | b'[' => Ok(plaintext),
        2 => decompress(&plaintext[1..], None),
        other => Err(Error::format(
            "unpacked file",
            format!("unsupported encoding format {other:#04x}"),
        )),
    }
}

/// Frames a JSON document for storage: raw in v1, `0x02 || zstd` in v2.
pub fn encode_unpacked(version: u32, json: &[u8]) -> Result<Vec<u8>> {
    if version < 2 {
        return Ok(json.to_vec());
    }
    let mut out = vec![2u8];
    out.extend(zstd::bulk::compress(json, 3).map_err(|e| Error::format("zstd", e))?);
    Ok(out)
}

/// Decodes one or more concatenated zstd frames. Frames need not carry their
/// content size; `expected` (when known) sizes the buffer and is checked.
pub fn decompress(data: &[u8], expected: Option<usize>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected.unwrap_or(data.len() * 3));
    let dec = zstd::stream::read::Decoder::new(data).map_err(|e| Error::format("zstd", e))?;
    let limit = expected.map_or(MAX_DECOMPRESSED, |n| n as u64 + 1);
    dec.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Error::format("zstd", e))?;
    if let Some(n) = expected {
        if out.len() != n {
            return Err(Error::format(
                "zstd",
                format!("decompressed {} bytes, expected {n}", out.len()),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips() {
        let json = br#"{"a":[1,2,3]}"#;
        for v in [1, 2] {
            let framed = encode_unpacked(v, json).unwrap();
            assert_eq!(decode_unpacked(v, framed).unwrap(), json);
        }
        assert_eq!(decode_unpacked(2, json.to_vec()).unwrap(), json);
        assert!(decode_unpacked(2, vec![7, 1, 2]).is_err());
    }

    #[test]
    fn concatenated_frames_decode() {
        let mut data = zstd::bulk::compress(b"abc", 1).unwrap();
        data.extend(zstd::bulk::compress(b"def", 1).unwrap());
        assert_eq!(decompress(&data, Some(6)).unwrap(), b"abcdef");
        assert!(decompress(&data, Some(5)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode_unpacked(2, data.clone());
            let _ = decompress(&data, Some(100));
        }
    }
}
