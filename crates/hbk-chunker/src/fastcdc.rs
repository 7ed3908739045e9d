//! Opt-in FastCDC chunker: the v2020 algorithm of the `fastcdc` crate,
//! re-expressed as a streaming scanner.
//!
//! Gear table, masks and normalization (level 1) come from
//! `fastcdc::v2020`, so boundaries are those of `fastcdc::v2020::FastCDC` on
//! the whole input, with one documented exception (see [`FastCdcChunker`]).
//! This chunker is not restic-compatible; repositories that use it dedupe
//! only against themselves.

use std::sync::OnceLock;

use fastcdc::v2020;

use crate::{ChunkerError, FindCut};

/// The crate's gear table (seed 0).
fn gear() -> &'static [u64; 256] {
    static GEAR: OnceLock<[u64; 256]> = OnceLock::new();
    GEAR.get_or_init(|| {
        let (gear, _) = v2020::get_gear_with_seed(0);
        let mut table = [0u64; 256];
        table.copy_from_slice(&gear);
        table
    })
}

/// FastCDC (2020) content-defined chunker with normalization level 1.
///
/// Like [`crate::RabinChunker`] it is fed a stream in buffers of any size
/// through [`find_cut`](FastCdcChunker::find_cut), with buffer-independent
/// results. Per chunk, the first `min_size` bytes are skipped; from then on
/// every byte `b` updates `h = (h << 1) + GEAR[b]` (starting from `h = 0`),
/// and a byte at chunk offset `j` whose update gives `h & mask == 0` ends the
/// chunk *before* it (chunk length `j`; that byte starts the next chunk). The
/// mask is the strict one for `j < avg_size` and the loose one after. A chunk
/// that reaches `max_size` bytes is cut there.
///
/// Difference from `fastcdc::v2020::FastCDC`/`StreamCDC`: the crate tests
/// bytes in pairs and so never tests a byte at an even chunk offset that is
/// the very last byte of the whole input. Where that byte matches, the crate
/// returns one final chunk while this scanner (which cannot know that the
/// input ends there) returns the chunk before it plus a final 1-byte chunk.
/// Everywhere else the boundaries are identical (tested).
#[derive(Clone, Debug)]
pub struct FastCdcChunker {
    gear: &'static [u64; 256],
    min_size: usize,
    avg_size: usize,
    max_size: usize,
    mask_s: u64,
    mask_l: u64,
    /// Bytes of the current chunk consumed so far.
    len: usize,
    /// Gear hash since offset `min_size` of the current chunk.
    hash: u64,
    last_cut: u64,
}

impl Default for FastCdcChunker {
    /// A chunker with the default sizes (512 KiB / 1 MiB / 8 MiB).
    fn default() -> Self {
        Self::new(
            Self::DEFAULT_MIN_SIZE,
            Self::DEFAULT_AVG_SIZE,
            Self::DEFAULT_MAX_SIZE,
        )
        .expect("default sizes are valid")
    }
}

impl FastCdcChunker {
    /// Default minimum chunk size, 512 KiB.
    pub const DEFAULT_MIN_SIZE: usize = 512 * 1024;
    /// Default target average chunk size, 1 MiB.
    pub const DEFAULT_AVG_SIZE: usize = 1024 * 1024;
    /// Default maximum chunk size, 8 MiB.
    pub const DEFAULT_MAX_SIZE: usize = 8 * 1024 * 1024;

    /// A chunker with the given sizes ([`FastCdcChunker::default`] has
    /// 512 KiB / 1 MiB / 8 MiB). They must be even and within the `fastcdc`
    /// crate's limits: `64 <= min <= 1 MiB`, `256 <= avg <= 4 MiB`,
    /// `1 KiB <= max <= 16 MiB`, and `min <= avg <= max`.
    pub fn new(
        min_size: usize,
        avg_size: usize,
        max_size: usize,
    ) -> Result<FastCdcChunker, ChunkerError> {
        let ok = (v2020::MINIMUM_MIN..=v2020::MINIMUM_MAX).contains(&min_size)
            && (v2020::AVERAGE_MIN..=v2020::AVERAGE_MAX).contains(&avg_size)
            && (v2020::MAXIMUM_MIN..=v2020::MAXIMUM_MAX).contains(&max_size)
            && min_size <= avg_size
            && avg_size <= max_size
            && [min_size, avg_size, max_size].iter().all(|s| s & 1 == 0);
        if !ok {
            return Err(ChunkerError::InvalidParameters(format!(
                "FastCDC chunker: min {min_size}, avg {avg_size}, max {max_size}"
            )));
        }
        let (mask_s, mask_l) = v2020::select_masks(avg_size, v2020::Normalization::Level1);
        Ok(FastCdcChunker {
            gear: gear(),
            min_size,
            avg_size,
            max_size,
            mask_s,
            mask_l,
            len: 0,
            hash: 0,
            last_cut: 0,
        })
    }

    /// Minimum chunk size.
    pub fn min_size(&self) -> usize {
        self.min_size
    }

    /// Target average chunk size.
    pub fn avg_size(&self) -> usize {
        self.avg_size
    }

    /// Maximum chunk size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Gear hash at the most recent boundary (zero before the first).
    pub fn last_cut_fingerprint(&self) -> u64 {
        self.last_cut
    }

    /// Bytes of the current (unfinished) chunk seen so far.
    pub fn pending_len(&self) -> usize {
        self.len
    }

    /// Forgets the current chunk and starts a new one.
    pub fn reset(&mut self) {
        self.len = 0;
        self.hash = 0;
    }

    /// Scans the next bytes of the stream. Returns `Some(n)` if the first
    /// `n` bytes of `buf` complete the current chunk (the chunker has then
    /// started a new chunk; continue with `&buf[n..]`), `None` if all of
    /// `buf` belongs to the current chunk.
    ///
    /// Unlike the Rabin chunker, `n` can be `0`: the byte that triggers a
    /// boundary belongs to the next chunk, and it may be the first byte of
    /// `buf`. The current chunk is never empty at that point.
    pub fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        let n = buf.len();
        let mut i = 0;
        if self.len < self.min_size {
            i = (self.min_size - self.len).min(n);
            self.len += i;
            if i == n {
                return None;
            }
        }
        let limit = i + (self.max_size - self.len).min(n - i);
        // Offsets below avg_size use the strict mask.
        let strict_end = i + self.avg_size.saturating_sub(self.len).min(limit - i);
        let mut hash = self.hash;
        for (from, to, mask) in [
            (i, strict_end, self.mask_s),
            (strict_end, limit, self.mask_l),
        ] {
            match gear_scan(self.gear, &buf[from..to], hash, mask) {
                Ok((p, h)) => {
                    self.last_cut = h;
                    self.reset();
                    return Some(from + p);
                }
                Err(h) => hash = h,
            }
        }
        self.hash = hash;
        self.len += limit - i;
        if self.len >= self.max_size {
            self.last_cut = hash;
            self.reset();
            return Some(limit);
        }
        None
    }
}

/// Rolls the gear hash over `data` from `hash`; returns the index of the
/// first byte after whose update `hash & mask == 0` (with that hash), or the
/// final hash. Bytes go in pairs so that the loop-carried chain is one
/// shift and one add per two bytes.
#[inline]
fn gear_scan(
    gear: &[u64; 256],
    data: &[u8],
    mut hash: u64,
    mask: u64,
) -> Result<(usize, u64), u64> {
    let mut pairs = data.chunks_exact(2);
    let mut idx = 0;
    for pair in &mut pairs {
        let g0 = gear[usize::from(pair[0])];
        let g1 = gear[usize::from(pair[1])];
        let h0 = (hash << 1).wrapping_add(g0);
        hash = (hash << 2).wrapping_add((g0 << 1).wrapping_add(g1));
        if h0 & mask == 0 {
            return Ok((idx, h0));
        }
        if hash & mask == 0 {
            return Ok((idx + 1, hash));
        }
        idx += 2;
    }
    if let [b] = pairs.remainder() {
        hash = (hash << 1).wrapping_add(gear[usize::from(*b)]);
        if hash & mask == 0 {
            return Ok((idx, hash));
        }
    }
    Err(hash)
}

impl FindCut for FastCdcChunker {
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        FastCdcChunker::find_cut(self, buf)
    }

    fn reset(&mut self) {
        FastCdcChunker::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gear_ls_is_gear_shifted() {
        let (g, gl) = v2020::get_gear_with_seed(0);
        assert_eq!(g.len(), 256);
        for (a, b) in g.iter().zip(gl.iter()) {
            assert_eq!(a << 1, *b);
        }
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(FastCdcChunker::new(64, 256, 1024).is_ok());
        assert!(FastCdcChunker::new(63, 256, 1024).is_err());
        assert!(FastCdcChunker::new(66, 258, 1023).is_err());
        assert!(FastCdcChunker::new(4096, 2048, 8192).is_err());
        assert!(FastCdcChunker::new(2048, 4096, 1 << 25).is_err());
    }

    #[test]
    fn zeros_cut_at_max() {
        let mut c = FastCdcChunker::new(1024, 2048, 8192).unwrap();
        let data = vec![0u8; 20_000];
        assert_eq!(c.chunk_lengths(&data), vec![8192, 8192, 3616]);
        assert_eq!(c.chunk_lengths(&[]), Vec::<usize>::new());
    }
}
