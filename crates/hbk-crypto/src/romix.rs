//! scrypt with its `p` independent lanes computed on several threads.
//!
//! scrypt(P, S, N, r, p) is PBKDF2-HMAC-SHA256(P, B', 1, len), where B' is
//! the concatenation of ROMix(Bᵢ) over the p blocks Bᵢ of
//! B = PBKDF2-HMAC-SHA256(P, S, 1, p·128·r) (RFC 7914). The ROMix calls
//! do not depend on each other, so they run in parallel: restic's default
//! p = 5 takes three rounds instead of five on two cores. Every command
//! derives a key first, so this is time off every command.

mod quad;

use quad::Quad;
use sha2::Sha256;

/// A 64-byte block as four rows of the [`DIAGONAL`] layout.
type Block = [Quad; 4];

/// Where salsa20's words sit inside a block during ROMix: position `k`
/// holds word `DIAGONAL[k]`. Rows of this layout are the diagonals of
/// salsa20's 4×4 matrix, so a column round is four vector steps and a row
/// round the same after turning three rows (the layout of scrypt's SSE
/// implementations). Word 0, which Integerify reads, stays at position 0.
const DIAGONAL: [usize; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];

/// One salsa20/8 core application to a block, in place.
#[inline(always)]
fn salsa20_8(block: &mut Block) {
    let [mut a, mut b, mut c, mut d] = *block;
    for _ in 0..4 {
        // Column round: the quarter-rounds on (x0,x4,x8,x12), (x5,x9,x13,x1),
        // (x10,x14,x2,x6), (x15,x3,x7,x11), one per lane.
        b = b.xor_rotl::<7, 25>(a.add(d));
        c = c.xor_rotl::<9, 23>(b.add(a));
        d = d.xor_rotl::<13, 19>(c.add(b));
        a = a.xor_rotl::<18, 14>(d.add(c));
        // Row round, turned so that lane i holds row i's (x0,x1,x2,x3).
        let (mut rb, mut rc, mut rd) = (d.turn1(), c.turn2(), b.turn3());
        rb = rb.xor_rotl::<7, 25>(a.add(rd));
        rc = rc.xor_rotl::<9, 23>(rb.add(a));
        rd = rd.xor_rotl::<13, 19>(rc.add(rb));
        a = a.xor_rotl::<18, 14>(rd.add(rc));
        (b, c, d) = (rd.turn1(), rc.turn2(), rb.turn3());
    }
    for (v, fresh) in block.iter_mut().zip([a, b, c, d]) {
        *v = v.add(fresh);
    }
}

/// `a ^= b`, row by row.
#[inline(always)]
fn xor_into(a: &mut Block, b: &Block) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = x.xor(*y);
    }
}

/// BlockMix of `input` (2r blocks) into `output`.
#[inline(always)]
fn block_mix(input: &[Block], output: &mut [Block]) {
    let r = input.len() / 2;
    let Some(mut x) = input.last().copied() else {
        return;
    };
    for (i, block) in input.iter().enumerate() {
        xor_into(&mut x, block);
        salsa20_8(&mut x);
        // Even results go to the first half, odd ones to the second.
        let slot = if i % 2 == 0 { i / 2 } else { r + i / 2 };
        if let Some(out) = output.get_mut(slot) {
            *out = x;
        }
    }
}

/// ROMix of one lane (`lane`: 128·r bytes), in place, with a table of
/// `n` lane copies in `table` (cleared first; its memory is kept for the
/// thread's next lane, so the pages of 128·r·N bytes fault in once per
/// thread instead of once per lane).
#[inline(always)]
fn romix(lane: &mut [u8], n: usize, table: &mut Vec<Block>) {
    let blocks = lane.len() / 64;
    let mut x: Vec<Block> = lane
        .chunks_exact(64)
        .map(|b| {
            let word =
                |i: usize| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
            let row =
                |k: usize| Quad::from_words(std::array::from_fn(|i| word(DIAGONAL[4 * k + i])));
            [row(0), row(1), row(2), row(3)]
        })
        .collect();
    table.clear();
    table.reserve_exact(n * blocks);
    // ROMix's second loop reads the table at random, one 128·r-byte lane
    // copy at a time: with 4 KiB pages nearly every read missed the TLB.
    crate::memory::huge_pages(table);
    let mut t = x.clone();
    for _ in 0..n {
        table.extend_from_slice(&x);
        block_mix(&x, &mut t);
        std::mem::swap(&mut x, &mut t);
    }
    for _ in 0..n {
        // Integerify: the first word of the last block, modulo n (a power
        // of two).
        let j = x.last().map_or(0, |b| b[0].first() as usize) & (n - 1);
        let v = table.get(j * blocks..(j + 1) * blocks).unwrap_or_default();
        for (xb, vb) in x.iter_mut().zip(v) {
            xor_into(xb, vb);
        }
        block_mix(&x, &mut t);
        std::mem::swap(&mut x, &mut t);
    }
    for (out, b) in lane.chunks_exact_mut(64).zip(&x) {
        let words = b.iter().flat_map(|q| q.words());
        for (&at, word) in DIAGONAL.iter().zip(words) {
            out[4 * at..4 * at + 4].copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// [`romix`] compiled for the widest instructions this processor has.
fn romix_fastest(lane: &mut [u8], n: usize, table: &mut Vec<Block>) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return avx512::romix(lane, n, table);
    }
    romix(lane, n, table);
}

/// ROMix built with AVX-512: the rotations become one instruction each
/// (`vprold`, where SSE2 needs two shifts and an or), which shortens
/// salsa20's dependency chain by a quarter, and whole 64-byte blocks move
/// and xor in one register.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use super::Block;

    /// Whether this processor has the instructions [`romix`] is built with.
    pub fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }

    /// [`super::romix`]; call only where [`available`] says so.
    pub fn romix(lane: &mut [u8], n: usize, table: &mut Vec<Block>) {
        // SAFETY: the processor has the features (checked by the caller),
        // and the body is safe code.
        unsafe { romix_avx512(lane, n, table) }
    }

    #[target_feature(enable = "avx512f,avx512vl")]
    fn romix_avx512(lane: &mut [u8], n: usize, table: &mut Vec<Block>) {
        super::romix(lane, n, table);
    }
}

/// scrypt(`password`, `salt`, `n`, `r`, `p`) into `out`, the lanes spread
/// over at most `threads` threads. `n` must be a power of two above 1 and
/// the parameters already checked against the memory ceiling.
pub fn scrypt(
    password: &[u8],
    salt: &[u8],
    n: usize,
    r: usize,
    p: usize,
    threads: usize,
    out: &mut [u8],
) {
    let lane_len = 128 * r;
    let mut b = vec![0u8; lane_len * p];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, 1, &mut b);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let lanes: Vec<std::sync::Mutex<&mut [u8]>> = b
        .chunks_exact_mut(lane_len)
        .map(std::sync::Mutex::new)
        .collect();
    let work = || {
        let mut table = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(lane) = lanes.get(i) else {
                break;
            };
            let mut lane = lane.lock().unwrap_or_else(|e| e.into_inner());
            romix_fastest(&mut lane, n, &mut table);
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads.clamp(1, p.max(1)) {
            s.spawn(work);
        }
        work();
    });
    drop(lanes);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &b, 1, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914's vector for N = 1024, r = 8, p = 16.
    #[test]
    fn rfc_7914_vector() {
        let mut out = [0u8; 64];
        scrypt(b"password", b"NaCl", 1024, 8, 16, 2, &mut out);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
             2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
    }

    proptest::proptest! {
        /// The build for wide instructions (where this processor has them)
        /// and the baseline build give the same ROMix.
        #[test]
        fn every_build_agrees(
            lane in proptest::collection::vec(proptest::num::u8::ANY, 128..=128),
            log_n in 1u32..8,
        ) {
            let (mut plain, mut fastest) = (lane.clone(), lane);
            romix(&mut plain, 1 << log_n, &mut Vec::new());
            romix_fastest(&mut fastest, 1 << log_n, &mut Vec::new());
            proptest::prop_assert_eq!(plain, fastest);
        }

        /// Any small parameters and thread count give the scrypt crate's
        /// result.
        #[test]
        fn equals_the_reference(
            password in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            salt in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            log_n in 1u8..7,
            r in 1u32..4,
            p in 1u32..6,
            threads in 1usize..4,
        ) {
            let mut ours = [0u8; 64];
            scrypt(&password, &salt, 1 << log_n, r as usize, p as usize, threads, &mut ours);
            let params = scrypt::Params::new(log_n, r, p, 64).unwrap();
            let mut reference = [0u8; 64];
            scrypt::scrypt(&password, &salt, &params, &mut reference).unwrap();
            proptest::prop_assert_eq!(ours, reference);
        }
    }
}
