//! restic's Rabin-fingerprint chunker (format spec §6.1–§6.5).
//!
//! Boundaries are bit-for-bit those of `github.com/restic/chunker`: the
//! per-chunk reset with the sentinel byte `1`, the unhashed first
//! `MinSize − 64` bytes of every chunk, the `digest & mask == 0` test once a
//! chunk has at least `MinSize` bytes, and the forced cut at `MaxSize`.
//!
//! # Speed
//!
//! The rolling update is a serial chain (xor, shift, table load, xor) of
//! about eight cycles per byte. Because every digest that is ever tested is a
//! pure function of the 64 bytes ending at the candidate position (the
//! sentinel has left the window by then), long stretches are split into
//! four independent segments that are hashed in lock step; each segment but
//! the first re-derives its starting digest from the 64 bytes before it.
//! The earliest boundary over all segments is then exactly the one a
//! byte-at-a-time scan would find.

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use crate::{ChunkerError, FindCut, Polynomial};

/// Size of the rolling-hash window in bytes.
pub const WINDOW_SIZE: usize = 64;

/// Number of segments hashed in lock step by the fast path.
const LANES: usize = 4;

/// The 256-entry tables of the rolling Rabin fingerprint for one polynomial
/// (§6.3). Computing them takes about half a millisecond; share them between
/// chunkers with an [`Arc`] (every [`RabinChunker`] clone does), e.g. one
/// per repository.
///
/// Internally the digest is kept *left-aligned*: `D = digest << (64 − k)`
/// with `k = deg(P)`. Its top byte is then simply `D >> 56`, and the bits
/// that `mod[top]` would clear fall off the end of the `u64` by themselves.
#[derive(Clone)]
pub struct RabinTables {
    pol: Polynomial,
    /// `64 − deg(pol)`.
    align: u32,
    /// `out[b] << align`.
    out: [u64; 256],
    /// `(b << k) mod P`, left-aligned (without the `b << k` part).
    reduce: [u64; 256],
    /// `b << align`: a new byte entering the digest.
    input: [u64; 256],
}

impl RabinTables {
    /// Computes the tables for `pol`, whose degree must lie in `8..=56`
    /// (restic's polynomials have degree 53). Irreducibility is not checked
    /// here; see [`Polynomial::is_irreducible`].
    pub fn new(pol: Polynomial) -> Result<RabinTables, ChunkerError> {
        let k = pol.deg();
        if !(8..=56).contains(&k) {
            return Err(ChunkerError::UnsupportedDegree {
                polynomial: pol.0,
                degree: k,
            });
        }
        let align = (64 - k) as u32;
        let x8 = Polynomial(1 << 8);
        let mut out = [0u64; 256];
        let mut reduce = [0u64; 256];
        let mut input = [0u64; 256];
        for b in 0..256u64 {
            // Fingerprint of byte b followed by WINDOW_SIZE − 1 zero bytes.
            let mut h = Polynomial(b).modulo(pol);
            for _ in 0..WINDOW_SIZE - 1 {
                h = h.mul_mod(x8, pol);
            }
            out[b as usize] = h.0 << align;
            reduce[b as usize] = Polynomial(b << k).modulo(pol).0 << align;
            input[b as usize] = b << align;
        }
        Ok(RabinTables {
            pol,
            align,
            out,
            reduce,
            input,
        })
    }

    /// The polynomial the tables were computed for.
    pub fn polynomial(&self) -> Polynomial {
        self.pol
    }

    /// restic's `out` table: `out[b]` is the fingerprint of byte `b`
    /// followed by 63 zero bytes.
    pub fn out_table(&self) -> [u64; 256] {
        self.out.map(|v| v >> self.align)
    }

    /// restic's `mod` table: `mod[b] = ((b << k) mod P) | (b << k)` with
    /// `k = deg(P)`.
    pub fn mod_table(&self) -> [u64; 256] {
        let k = 64 - self.align;
        let mut t = [0u64; 256];
        for (b, v) in t.iter_mut().enumerate() {
            *v = (self.reduce[b] >> self.align) | ((b as u64) << k);
        }
        t
    }

    /// Converts a left-aligned digest to restic's digest.
    #[inline]
    fn unalign(&self, digest: u64) -> u64 {
        digest >> self.align
    }

    /// One step of the rolling update (§6.4) on a left-aligned digest: `old`
    /// leaves the window, `new` enters it.
    #[inline(always)]
    fn slide(&self, digest: u64, old: u8, new: u8) -> u64 {
        let x = digest ^ self.out[usize::from(old)];
        (x << 8) ^ self.input[usize::from(new)] ^ self.reduce[(x >> 56) as usize]
    }

    /// Rolling update for a window that held zeros (`out[0] == 0`).
    #[inline(always)]
    fn append(&self, digest: u64, new: u8) -> u64 {
        (digest << 8) ^ self.input[usize::from(new)] ^ self.reduce[(digest >> 56) as usize]
    }

    /// Left-aligned fingerprint of exactly [`WINDOW_SIZE`] bytes.
    #[inline]
    fn fingerprint(&self, window: &[u8]) -> u64 {
        window.iter().fold(0, |d, &c| self.append(d, c))
    }

    /// Finds the first `p` in `start..end` at which the digest of the window
    /// ending at `p` matches `mask` (both left-aligned); `digest` is the
    /// digest at `start − 1`, and every byte of `buf[start − 64..start]`
    /// must be a hashed byte of the current chunk. Returns
    /// `Break((p, digest at p))` or `Continue(digest at end − 1)`.
    fn scan(
        &self,
        buf: &[u8],
        mut start: usize,
        end: usize,
        mut digest: u64,
        mask: u64,
    ) -> ControlFlow<(usize, u64), u64> {
        debug_assert!(start >= WINDOW_SIZE && start <= end && end <= buf.len());
        // Big blocks bound the work wasted past a boundary to 64 KiB; the
        // smaller ones keep short tails off the slow path.
        while end - start >= LANES * 16384 {
            digest = self.scan_lanes::<16384>(buf, start, digest, mask)?;
            start += LANES * 16384;
        }
        while end - start >= LANES * 1024 {
            digest = self.scan_lanes::<1024>(buf, start, digest, mask)?;
            start += LANES * 1024;
        }
        self.scan_scalar(buf, start, end, digest, mask)
    }

    /// Byte-at-a-time version of [`RabinTables::scan`].
    #[inline]
    fn scan_scalar(
        &self,
        buf: &[u8],
        start: usize,
        end: usize,
        mut digest: u64,
        mask: u64,
    ) -> ControlFlow<(usize, u64), u64> {
        let new = &buf[start..end];
        let old = &buf[start - WINDOW_SIZE..end - WINDOW_SIZE];
        for (i, (&o, &c)) in old.iter().zip(new).enumerate() {
            digest = self.slide(digest, o, c);
            if digest & mask == 0 {
                return ControlFlow::Break((start + i, digest));
            }
        }
        ControlFlow::Continue(digest)
    }

    /// Scans `start..start + LANES * SEG` as [`LANES`] segments of `SEG`
    /// bytes hashed in lock step. Same contract as [`RabinTables::scan`].
    #[inline(always)]
    fn scan_lanes<const SEG: usize>(
        &self,
        buf: &[u8],
        start: usize,
        digest: u64,
        mask: u64,
    ) -> ControlFlow<(usize, u64), u64> {
        // block[W + j] is the byte at start + j; block[j] the one 64 before.
        const W: usize = WINDOW_SIZE;
        let block = &buf[start - W..start + LANES * SEG];
        let mut d = [digest; LANES];
        for (k, dk) in d.iter_mut().enumerate().skip(1) {
            *dk = self.fingerprint(&block[k * SEG..k * SEG + W]);
        }
        for t in 0..SEG {
            for (k, dk) in d.iter_mut().enumerate() {
                *dk = self.slide(*dk, block[k * SEG + t], block[k * SEG + t + W]);
            }
            if d.iter().any(|&x| x & mask == 0) {
                return ControlFlow::Break(self.resolve(buf, start, SEG, t, d, mask));
            }
        }
        ControlFlow::Continue(d[LANES - 1])
    }

    /// Rare path of [`RabinTables::scan_lanes`]: some lane hit a boundary
    /// at step `t`. Lanes before the first hitting one still have unscanned
    /// bytes after `t`, and they come first.
    #[cold]
    #[inline(never)]
    fn resolve(
        &self,
        buf: &[u8],
        start: usize,
        seg: usize,
        t: usize,
        d: [u64; LANES],
        mask: u64,
    ) -> (usize, u64) {
        let first = d.iter().position(|&x| x & mask == 0).unwrap_or(0);
        for (lane, &dl) in d.iter().enumerate().take(first) {
            let base = start + lane * seg;
            if let ControlFlow::Break(hit) =
                self.scan_scalar(buf, base + t + 1, base + seg, dl, mask)
            {
                return hit;
            }
        }
        (start + first * seg + t, d[first])
    }
}

impl fmt::Debug for RabinTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabinTables")
            .field("pol", &self.pol)
            .finish_non_exhaustive()
    }
}

/// restic's content-defined chunker.
///
/// Feed it a stream in buffers of any size through
/// [`find_cut`](RabinChunker::find_cut); the cut points depend only on the
/// bytes, never on how they were split into buffers. Cloning is cheap (the
/// tables are shared) and yields a chunker with the same scanning state.
#[derive(Clone)]
pub struct RabinChunker {
    tables: Arc<RabinTables>,
    min_size: usize,
    max_size: usize,
    mask: u64,
    /// Bytes of the current chunk consumed so far.
    len: usize,
    /// Rolling digest of the window (valid once hashing has started).
    digest: u64,
    /// Ring buffer of the last hashed bytes; `wpos` is the oldest.
    window: [u8; WINDOW_SIZE],
    wpos: usize,
    /// Digest at the most recent boundary.
    last_cut: u64,
}

impl RabinChunker {
    /// restic's minimum chunk size, 512 KiB.
    pub const DEFAULT_MIN_SIZE: usize = 512 * 1024;
    /// restic's maximum chunk size, 8 MiB.
    pub const DEFAULT_MAX_SIZE: usize = 8 * 1024 * 1024;
    /// restic's split-mask width: a boundary needs the low 20 digest bits zero.
    pub const DEFAULT_AVERAGE_BITS: u32 = 20;

    /// A chunker with restic's default sizes for `pol`, computing its
    /// tables. Prefer [`RabinChunker::with_tables`] to reuse tables.
    pub fn new(pol: Polynomial) -> Result<RabinChunker, ChunkerError> {
        Ok(RabinChunker::with_tables(Arc::new(RabinTables::new(pol)?)))
    }

    /// A chunker with restic's default sizes using shared tables.
    pub fn with_tables(tables: Arc<RabinTables>) -> RabinChunker {
        let align = tables.align;
        let mut c = RabinChunker {
            tables,
            min_size: Self::DEFAULT_MIN_SIZE,
            max_size: Self::DEFAULT_MAX_SIZE,
            mask: ((1 << Self::DEFAULT_AVERAGE_BITS) - 1) << align,
            len: 0,
            digest: 0,
            window: [0; WINDOW_SIZE],
            wpos: 0,
            last_cut: 0,
        };
        c.reset();
        c
    }

    /// Changes the size parameters (and resets the scanning state). Chunks
    /// are at least `min_size` bytes (except the last one), at most
    /// `max_size` bytes, and a boundary needs the low `average_bits` bits of
    /// the digest to be zero. Requires `64 <= min_size <= max_size` and
    /// `average_bits <= deg(P)` (53 for restic's polynomials).
    pub fn with_sizes(
        mut self,
        min_size: usize,
        max_size: usize,
        average_bits: u32,
    ) -> Result<RabinChunker, ChunkerError> {
        let degree = 64 - self.tables.align;
        if min_size < WINDOW_SIZE || max_size < min_size || average_bits > degree {
            return Err(ChunkerError::InvalidParameters(format!(
                "Rabin chunker: min {min_size}, max {max_size}, average bits {average_bits} \
                 (need 64 <= min <= max, bits <= {degree})"
            )));
        }
        self.min_size = min_size;
        self.max_size = max_size;
        self.mask = ((1u64 << average_bits) - 1) << self.tables.align;
        self.reset();
        Ok(self)
    }

    /// The shared tables.
    pub fn tables(&self) -> &Arc<RabinTables> {
        &self.tables
    }

    /// The polynomial.
    pub fn polynomial(&self) -> Polynomial {
        self.tables.pol
    }

    /// Minimum chunk size.
    pub fn min_size(&self) -> usize {
        self.min_size
    }

    /// Maximum chunk size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The split mask, `2^average_bits − 1`.
    pub fn split_mask(&self) -> u64 {
        self.tables.unalign(self.mask)
    }

    /// The digest at the most recent boundary found by
    /// [`find_cut`](RabinChunker::find_cut): Go's `Chunk.Cut`. Zero before
    /// the first boundary.
    pub fn last_cut_fingerprint(&self) -> u64 {
        self.tables.unalign(self.last_cut)
    }

    /// Bytes of the current (unfinished) chunk seen so far.
    pub fn pending_len(&self) -> usize {
        self.len
    }

    /// Starts a new chunk (§6.5 steps 1–2): zero window, then the sentinel
    /// byte `1` is slid in.
    pub fn reset(&mut self) {
        self.len = 0;
        self.window = [0; WINDOW_SIZE];
        self.window[0] = 1;
        self.wpos = 1;
        self.digest = 1 << self.tables.align;
    }

    /// Scans the next bytes of the stream. Returns `Some(n)` if the first
    /// `n` bytes of `buf` (`1 <= n <= buf.len()`) complete the current
    /// chunk; the chunker has then started a new chunk, and the caller
    /// continues with `&buf[n..]`. Returns `None` if all of `buf` belongs
    /// to the current chunk. At the end of the stream, whatever was fed since
    /// the last boundary is the final chunk.
    pub fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        let n = buf.len();
        let mut i = 0;
        // §6.5 step 3: the first MinSize − 64 bytes are only counted.
        let skip_end = self.min_size - WINDOW_SIZE;
        if self.len < skip_end {
            i = (skip_end - self.len).min(n);
            self.len += i;
            if i == n {
                return None;
            }
        }
        // The byte at `limit − 1` is the last one before the forced cut.
        let limit = i + (self.max_size - self.len).min(n - i);
        let tables = &*self.tables;
        let mut digest = self.digest;
        let mut len = self.len;

        // Up to 64 bytes through the ring buffer: their outgoing bytes come
        // from before `buf` (or are the reset window).
        let ring_end = limit.min(i + WINDOW_SIZE);
        let mut wpos = self.wpos;
        for (p, &c) in buf.iter().enumerate().take(ring_end).skip(i) {
            let old = self.window[wpos];
            self.window[wpos] = c;
            wpos = (wpos + 1) % WINDOW_SIZE;
            digest = tables.slide(digest, old, c);
            len += 1;
            if len >= self.min_size && digest & self.mask == 0 {
                return Some(self.cut(p + 1, digest));
            }
        }
        self.wpos = wpos;

        // Beyond that the outgoing byte is in `buf` itself, and every
        // position is tested (at least 64 bytes were hashed, so
        // len >= min_size).
        if ring_end < limit {
            match tables.scan(buf, ring_end, limit, digest, self.mask) {
                ControlFlow::Break((p, d)) => return Some(self.cut(p + 1, d)),
                ControlFlow::Continue(d) => digest = d,
            }
            len += limit - ring_end;
            self.window
                .copy_from_slice(&buf[limit - WINDOW_SIZE..limit]);
            self.wpos = 0;
        }
        self.digest = digest;
        self.len = len;
        if len >= self.max_size {
            return Some(self.cut(limit, digest));
        }
        None
    }

    fn cut(&mut self, n: usize, digest: u64) -> usize {
        self.last_cut = digest;
        self.reset();
        n
    }
}

impl fmt::Debug for RabinChunker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RabinChunker")
            .field("pol", &self.tables.pol)
            .field("min_size", &self.min_size)
            .field("max_size", &self.max_size)
            .field("mask", &format_args!("{:#x}", self.split_mask()))
            .field("pending_len", &self.len)
            .finish_non_exhaustive()
    }
}

impl FindCut for RabinChunker {
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        RabinChunker::find_cut(self, buf)
    }

    fn reset(&mut self) {
        RabinChunker::reset(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Polynomial = Polynomial(0x3DA3358B4DC173);

    /// Straightforward model of §6.4–§6.5, one byte at a time, using
    /// restic's (unaligned) tables.
    fn reference_cuts(
        t: &RabinTables,
        data: &[u8],
        min: usize,
        max: usize,
        mask: u64,
    ) -> Vec<usize> {
        let (out, modt) = (t.out_table(), t.mod_table());
        let k = t.polynomial().deg();
        let mut cuts = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let mut window = [0u8; 64];
            window[0] = 1;
            let (mut wpos, mut digest) = (1usize, 1u64);
            let mut end = data.len();
            for (off, &c) in data[start..].iter().enumerate() {
                let len = off + 1;
                if len <= min - 64 {
                    continue;
                }
                digest ^= out[usize::from(window[wpos])];
                let top = (digest >> (k - 8)) as usize;
                digest = ((digest << 8) | u64::from(c)) ^ modt[top];
                window[wpos] = c;
                wpos = (wpos + 1) % 64;
                if len >= min && (digest & mask == 0 || len >= max) {
                    end = start + len;
                    break;
                }
            }
            cuts.push(end - start);
            start = end;
        }
        cuts
    }

    fn pseudo_random(n: usize, mut seed: u64) -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 32) as u8
            })
            .collect()
    }

    // §6.7(d) table checks.
    #[test]
    fn table_vectors() {
        let t = RabinTables::new(P).unwrap();
        assert_eq!(t.out_table()[0], 0);
        assert_eq!(t.out_table()[1], 0x17eb4232e19216);
        assert_eq!(t.out_table()[2], 0x1275b1ee8ee55f);
        assert_eq!(t.out_table()[255], 0xb80b98cecc39a);
        assert_eq!(t.mod_table()[0], 0);
        assert_eq!(t.mod_table()[1], 0x3da3358b4dc173);
        assert_eq!(t.mod_table()[2], 0x46e55e9dd64395);
        assert_eq!(t.mod_table()[255], 0x1ff7ac8a5af476a7);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(RabinTables::new(Polynomial(0x1ff)).is_ok());
        assert!(RabinTables::new(Polynomial(0xff)).is_err());
        assert!(RabinTables::new(Polynomial((1 << 56) | 1)).is_ok());
        assert!(RabinTables::new(Polynomial(1 << 57)).is_err());
        let c = RabinChunker::new(P).unwrap();
        assert!(c.clone().with_sizes(63, 100, 5).is_err());
        assert!(c.clone().with_sizes(100, 99, 5).is_err());
        assert!(c.clone().with_sizes(64, 64, 54).is_err());
        assert!(c.with_sizes(64, 64, 0).is_ok());
    }

    #[test]
    fn digest_is_window_fingerprint() {
        let t = RabinTables::new(P).unwrap();
        let data = pseudo_random(300, 7);
        let mut window = [0u8; 64];
        let (mut wpos, mut d) = (0usize, 0u64);
        for (i, &c) in data.iter().enumerate() {
            d = t.slide(d, window[wpos], c);
            window[wpos] = c;
            wpos = (wpos + 1) % 64;
            assert_eq!(d & ((1 << 11) - 1), 0);
            if i >= 63 {
                assert_eq!(d, t.fingerprint(&data[i - 63..=i]));
            }
        }
    }

    #[test]
    fn matches_reference_model_whole_and_streamed() {
        let t = Arc::new(RabinTables::new(P).unwrap());
        for (seed, min, max, bits) in [
            (1, 2048, 65536, 10),
            (2, 64, 4096, 6),
            (3, 100, 100, 4),
            (4, 4096, 1 << 20, 12),
            (5, 64, 1 << 20, 0),
        ] {
            let data = pseudo_random(600_000, seed);
            let expected = reference_cuts(&t, &data, min, max, (1 << bits) - 1);
            let mut c = RabinChunker::with_tables(t.clone())
                .with_sizes(min, max, bits)
                .unwrap();
            assert_eq!(c.chunk_lengths(&data), expected, "whole, seed {seed}");
            for step in [1, 63, 64, 65, 1000, 4099, 70_000] {
                let mut got = Vec::new();
                let mut pending = 0;
                for piece in data.chunks(step) {
                    let mut rest = piece;
                    while let Some(n) = c.find_cut(rest) {
                        got.push(pending + n);
                        pending = 0;
                        rest = &rest[n..];
                    }
                    pending += rest.len();
                }
                if pending > 0 {
                    got.push(pending);
                }
                c.reset();
                assert_eq!(got, expected, "seed {seed} step {step}");
            }
        }
    }

    #[test]
    fn lanes_agree_with_scalar_scan() {
        let t = RabinTables::new(P).unwrap();
        for (seed, bits, len) in [
            (1, 12, 70_000),
            (2, 10, 300_000),
            (3, 14, 200_000),
            (4, 16, 5_000),
        ] {
            let data = pseudo_random(len, seed);
            let mask = ((1u64 << bits) - 1) << t.align;
            for start in [64, 65, 1000, 4159] {
                let d = t.fingerprint(&data[start - 64..start]);
                assert_eq!(
                    t.scan(&data, start, len, d, mask),
                    t.scan_scalar(&data, start, len, d, mask),
                    "seed {seed} start {start}"
                );
            }
        }
    }

    /// A boundary on the very last byte of the first segment must win over
    /// an earlier-step boundary in the second segment.
    #[test]
    fn lanes_resolve_late_boundary_in_earlier_segment() {
        const SEG: usize = 1024;
        let t = RabinTables::new(P).unwrap();
        let mask = 0xffu64 << t.align;
        let mut data = pseudo_random(64 + 4 * SEG, 11);
        let mut rng = pseudo_random(1 << 20, 12).into_iter().cycle();
        let d_start = t.fingerprint(&data[..64]);
        let mut d = d_start;
        for p in 64..64 + SEG {
            loop {
                let next = t.slide(d, data[p - 64], data[p]);
                if (next & mask == 0) == (p == 63 + SEG) {
                    d = next;
                    break;
                }
                data[p] = rng.next().unwrap();
            }
        }
        let lane1 = t.scan_scalar(
            &data,
            64 + SEG,
            64 + 2 * SEG,
            t.fingerprint(&data[SEG..SEG + 64]),
            mask,
        );
        assert!(matches!(lane1, ControlFlow::Break((p, _)) if p < 63 + 2 * SEG - 1));
        let expected = t.scan_scalar(&data, 64, data.len(), d_start, mask);
        assert!(matches!(expected, ControlFlow::Break((p, _)) if p == 63 + SEG));
        assert_eq!(t.scan(&data, 64, data.len(), d_start, mask), expected);
    }

    #[test]
    fn empty_and_short_input() {
        let mut c = RabinChunker::new(P).unwrap();
        assert_eq!(c.chunk_lengths(&[]), Vec::<usize>::new());
        assert_eq!(c.find_cut(&[]), None);
        assert_eq!(c.chunk_lengths(&[7; 1000]), vec![1000]);
    }
}
