//! "Unpacked" files (index, snapshots, locks): one sealed box whose
//! plaintext is the JSON document, in v2 usually framed as `0x02 || zstd`.

use std::cell::RefCell;
use std::io::Read;

use crate::{Error, Result};

/// Largest decompressed size accepted for a single unpacked document or
/// blob, so a malicious frame cannot exhaust memory.
pub const MAX_DECOMPRESSED: u64 = 1 << 32;

/// Most bytes reserved up front for a decompressed result. The expected
/// size comes from an index entry (up to 4 GiB) and is not trusted for a
/// reservation: beyond this the buffer grows as data actually arrives.
/// restic's data blobs are at most 8 MiB, so they are sized exactly.
pub const MAX_RESERVATION: usize = 16 << 20;

/// Turns the decrypted plaintext of an unpacked file into JSON bytes.
///
/// v1: the plaintext is the JSON. v2: a leading `0x02` means zstd follows;
/// a leading `{` or `[` means raw JSON; anything else is an error.
pub fn decode_unpacked(version: u32, plaintext: Vec<u8>) -> Result<Vec<u8>> {
    match framing(version, &plaintext)? {
        Framing::Raw => Ok(plaintext),
        Framing::Zstd(frames) => decompress(frames, None),
    }
}

/// [`decode_unpacked`] for readers of many big documents (the index
/// files of a large repository): the JSON is decompressed into `buffer`,
/// whose allocation is reused from call to call, and handed to `f` with
/// the plaintext borrowed in place when it is not compressed. Saves an
/// allocation, a copy and the page faults of fresh buffers per file.
pub fn with_unpacked<R>(
    version: u32,
    plaintext: &[u8],
    buffer: &mut Vec<u8>,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R> {
    match framing(version, plaintext)? {
        Framing::Raw => Ok(f(plaintext)),
        Framing::Zstd(frames) => {
            let stated = zstd::zstd_safe::get_frame_content_size(frames)
                .ok()
                .flatten();
            let exact = stated
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= MAX_DOCUMENT_RESERVATION);
            match exact.map(|n| decompress_exact_into(frames, n, buffer)) {
                Some(Ok(())) => {}
                // No stated size, too big a one, several frames or a
                // wrong size: streamed, which reads (or refuses) them all.
                _ => {
                    buffer.clear();
                    decompress_streaming_into(frames, None, buffer)?;
                }
            }
            Ok(f(buffer))
        }
    }
}

/// How an unpacked file's plaintext holds its JSON.
enum Framing<'a> {
    /// The plaintext is the JSON.
    Raw,
    /// These zstd frames decompress to the JSON.
    Zstd(&'a [u8]),
}

fn framing(version: u32, plaintext: &[u8]) -> Result<Framing<'_>> {
    if version < 2 {
        return Ok(Framing::Raw);
    }
    match plaintext.first().copied() {
        Some(b'{' | b'[') | None => Ok(Framing::Raw),
        Some(2) => Ok(Framing::Zstd(plaintext.get(1..).unwrap_or_default())),
        Some(other) => Err(Error::format(
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
    out.extend(compress(json, 3).map_err(|e| Error::format("zstd", e))?);
    Ok(out)
}

thread_local! {
    /// One decompression context per thread, reused: creating a context
    /// per blob showed up in profiles of tree-heavy work.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
    /// One compression context per thread with its level, reused: a
    /// backup of many small files compresses a blob per file.
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { RefCell::new(None) };
}

/// Compresses `data` into one zstd frame at `level`, with this thread's
/// context.
pub(crate) fn compress(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(data.len()));
    compress_into(data, level, &mut out)?;
    Ok(out)
}

/// [`compress`] into `out` (a slice, or a vector's spare room); returns
/// the frame's length. Fails when `out` is shorter than the frame.
pub(crate) fn compress_into<C>(data: &[u8], level: i32, out: &mut C) -> std::io::Result<usize>
where
    C: zstd::zstd_safe::WriteBuf + ?Sized,
{
    COMPRESSOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let cctx = match slot.as_mut() {
            Some((l, c)) if *l == level => c,
            _ => &mut slot.insert((level, zstd::bulk::Compressor::new(level)?)).1,
        };
        cctx.compress_to_buffer(data, out)
    })
}

/// Decodes one or more concatenated zstd frames. Frames need not carry their
/// content size; `expected` (when known) sizes the buffer and is checked.
pub fn decompress(data: &[u8], expected: Option<usize>) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    decompress_into(data, expected, &mut out)?;
    Ok(out)
}

/// [`decompress`] into `out` (cleared first; its allocation reused, so a
/// caller decompressing many blobs allocates once). A result known to be
/// small enough to reserve goes into exactly that many bytes; one of
/// unknown or large size is streamed, the buffer growing as data arrives
/// (at most [`MAX_DECOMPRESSED`] bytes).
pub fn decompress_into(data: &[u8], expected: Option<usize>, out: &mut Vec<u8>) -> Result<()> {
    match expected {
        Some(n) if n <= MAX_RESERVATION => decompress_exact_into(data, n, out),
        _ => {
            out.clear();
            let guess = expected.unwrap_or_else(|| data.len().saturating_mul(3));
            out.reserve(guess.min(MAX_RESERVATION));
            decompress_streaming_into(data, expected, out)
        }
    }
}

/// Most bytes [`with_unpacked`] reserves for a document whose zstd frame
/// states its size (restic 0.14's biggest index files, 150,000 blobs,
/// are ~25 MB of JSON); a bigger stated size is not trusted for a
/// reservation and the document is streamed.
const MAX_DOCUMENT_RESERVATION: usize = 64 << 20;

/// Decompresses a result known to be `n` bytes, small enough to reserve,
/// into `out` (cleared; exactly `n` bytes reserved) with this thread's
/// context. Output beyond `n` bytes is an error.
fn decompress_exact_into(data: &[u8], n: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    out.reserve_exact(n);
    let written = DECOMPRESSOR.with(|cell| -> std::io::Result<usize> {
        let mut slot = cell.borrow_mut();
        let dctx = match slot.as_mut() {
            Some(d) => d,
            None => slot.insert(zstd::bulk::Decompressor::new()?),
        };
        dctx.decompress_to_buffer(data, out)
    });
    match written {
        Ok(len) if len == n && out.len() == n => Ok(()),
        Ok(len) => Err(Error::format(
            "zstd",
            format!("decompressed {len} bytes, expected {n}"),
        )),
        Err(e) => Err(Error::format("zstd", format!("{e} (expected {n} bytes)"))),
    }
}

/// Decompresses a result of unknown or large size, streamed, appending to
/// `out`: at most `expected` bytes (checked), else [`MAX_DECOMPRESSED`].
fn decompress_streaming_into(
    data: &[u8],
    expected: Option<usize>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let stated = whole_frames(data)?;
    let start = out.len();
    let dec = zstd::stream::read::Decoder::new(data).map_err(|e| Error::format("zstd", e))?;
    let limit = expected.map_or(MAX_DECOMPRESSED, |n| (n as u64).saturating_add(1));
    dec.take(limit)
        .read_to_end(out)
        .map_err(|e| Error::format("zstd", e))?;
    let got = out.len() - start;
    match expected {
        Some(n) if got != n => Err(Error::format(
            "zstd",
            format!("decompressed {got} bytes, expected {n}"),
        )),
        _ => match stated {
            Some(total) if got as u64 != total => Err(Error::format(
                "zstd",
                format!("decompressed {got} bytes, the frames state {total}"),
            )),
            _ => Ok(()),
        },
    }
}

/// Checks that `data` is whole zstd frames back to back (the streaming
/// decoder stops quietly at the end of a cut frame) and returns the sum
/// of their stated content sizes when every frame states one. Found by
/// the `index` fuzz target: a cut frame decoded to a prefix of its
/// content by one reader and failed in the other.
fn whole_frames(data: &[u8]) -> Result<Option<u64>> {
    let mut rest = data;
    let mut total = Some(0u64);
    while !rest.is_empty() {
        let len = zstd::zstd_safe::find_frame_compressed_size(rest).map_err(|code| {
            Error::format(
                "zstd",
                format!(
                    "cut or damaged frame: {}",
                    zstd::zstd_safe::get_error_name(code)
                ),
            )
        })?;
        let stated = zstd::zstd_safe::get_frame_content_size(rest).ok().flatten();
        total = total.zip(stated).and_then(|(t, s)| t.checked_add(s));
        match rest.get(len..) {
            Some(next) if len > 0 => rest = next,
            _ => break,
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `index` fuzz target (the input is its crash, less the
    /// target's prefix byte): a frame cut short must fail in both readers.
    #[test]
    fn a_cut_frame_is_refused_by_both_readers() {
        let json: Vec<u8> = (0..2000)
            .flat_map(|i| format!("{i},").into_bytes())
            .collect();
        let framed = encode_unpacked(2, &json).unwrap();
        for cut in [framed.len() - 1, framed.len() / 2, 8] {
            let short = &framed[..cut];
            assert!(decode_unpacked(2, short.to_vec()).is_err(), "cut at {cut}");
            let mut buffer = Vec::new();
            assert!(
                with_unpacked(2, short, &mut buffer, |_| ()).is_err(),
                "cut at {cut}"
            );
        }
        // The fuzzer's input: a frame stating 4,352 bytes whose blocks
        // end after 838.
        let crash = [2, 40, 181, 47, 253, 96, 0, 16, 50, 26, 0, 215, 1, 0, 0];
        assert!(decode_unpacked(2, crash.to_vec()).is_err());
        assert!(with_unpacked(2, &crash, &mut Vec::new(), |_| ()).is_err());
        // Two whole frames back to back still read as their concatenation.
        let mut two = encode_unpacked(2, b"[1,").unwrap();
        two.extend(compress(b"2]", 3).unwrap());
        assert_eq!(decode_unpacked(2, two).unwrap(), b"[1,2]");
    }

    #[test]
    fn framing_round_trips() {
        let json = br#"{"a":[1,2,3]}"#;
        for v in [1, 2] {
            let framed = encode_unpacked(v, json).unwrap();
            assert_eq!(decode_unpacked(v, framed).unwrap(), json);
        }
        assert_eq!(decode_unpacked(2, json.to_vec()).unwrap(), json);
        assert!(decode_unpacked(2, vec![7, 1, 2]).is_err());
        // The reusing reader gives the same JSON whatever the buffer held.
        let mut buffer = b"leftover".to_vec();
        for v in [1, 2] {
            let framed = encode_unpacked(v, json).unwrap();
            let got = with_unpacked(v, &framed, &mut buffer, |j| j.to_vec()).unwrap();
            assert_eq!(got, json);
        }
        assert!(with_unpacked(2, &[7, 1, 2], &mut buffer, |_| ()).is_err());
        // Two frames (the first states only its own size), into a buffer
        // big enough for both: still all of the document.
        let mut framed = vec![2u8];
        framed.extend(zstd::bulk::compress(b"{\"a\":", 1).unwrap());
        framed.extend(zstd::bulk::compress(b"[1,2,3]}", 1).unwrap());
        buffer.reserve(1000);
        let got = with_unpacked(2, &framed, &mut buffer, |j| j.to_vec()).unwrap();
        assert_eq!(got, json);
        assert_eq!(decode_unpacked(2, framed).unwrap(), json);
    }

    #[test]
    fn concatenated_frames_decode() {
        let mut data = zstd::bulk::compress(b"abc", 1).unwrap();
        data.extend(zstd::bulk::compress(b"def", 1).unwrap());
        assert_eq!(decompress(&data, Some(6)).unwrap(), b"abcdef");
        assert!(decompress(&data, Some(5)).is_err());
    }

    #[test]
    fn the_thread_context_is_reused_and_checks_sizes() {
        let big: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let frame = zstd::bulk::compress(&big, 3).unwrap();
        for _ in 0..3 {
            assert_eq!(decompress(&frame, Some(big.len())).unwrap(), big);
        }
        // Too small a result, too large a result, garbage: errors.
        assert!(decompress(&frame, Some(big.len() + 1)).is_err());
        assert!(decompress(&frame, Some(big.len() - 1)).is_err());
        assert!(decompress(b"not zstd", Some(10)).is_err());
        // The context is still good after errors.
        assert_eq!(decompress(&frame, Some(big.len())).unwrap(), big);
        // Without a known size the streaming path decodes the same.
        assert_eq!(decompress(&frame, None).unwrap(), big);
    }

    #[test]
    fn huge_expected_size_reserves_little() {
        let data = zstd::bulk::compress(b"abc", 1).unwrap();
        assert!(decompress(&data, Some(u32::MAX as usize)).is_err());
        assert!(decompress(&data, Some(usize::MAX)).is_err());
    }

    proptest::proptest! {
        /// Valid frames with bytes flipped, cut or extended, and arbitrary
        /// expected sizes: an error or the right bytes, never a panic.
        #[test]
        fn mutated_frames_never_panic(
            pos in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
            cut in proptest::num::usize::ANY,
            expected in proptest::option::of(0usize..5000),
        ) {
            let json: Vec<u8> = (0..300u32).flat_map(|i| format!("{{\"n\":{i}}}").into_bytes()).collect();
            let mut framed = encode_unpacked(2, &json).unwrap();
            let i = pos % framed.len();
            framed[i] = byte;
            framed.truncate(cut % (framed.len() + 1));
            let _ = decode_unpacked(2, framed.clone());
            let _ = decode_unpacked(1, framed.clone());
            let mut buffer = b"old".to_vec();
            let reused = with_unpacked(2, &framed, &mut buffer, |j| j.to_vec());
            proptest::prop_assert_eq!(reused.ok(), decode_unpacked(2, framed.clone()).ok());
            if let Some(rest) = framed.get(1..) {
                let _ = decompress(rest, expected);
            }
        }

        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = decode_unpacked(2, data.clone());
            let _ = decompress(&data, Some(100));
        }
    }
}
