//! SHA-256 of several messages at once.
//!
//! Every blob id is the SHA-256 of its plaintext, and a restore checks the
//! id of every blob it writes, so hashing is a quarter of a restore's CPU
//! time. The SHA extensions of x86 CPUs do two rounds per instruction, but
//! each instruction waits for the one before (latency ≈ 3 cycles on the
//! Intel cores that have it, one issued per cycle): one message keeps the
//! unit a third busy. Hashing two messages with their rounds interleaved
//! fills the gaps, close to twice the throughput on one core.
//!
//! [`sha256_pair`] is that two-message hash; without the extensions (other
//! CPUs, other architectures) it hashes one message after the other with
//! the `sha2` crate, which gives the same digests.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Digest256 = [u8; 32];

/// The SHA-256 digests of `a` and `b`, computed together where the CPU
/// can overlap them.
pub fn sha256_pair(a: &[u8], b: &[u8]) -> (Digest256, Digest256) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    if ni::available() {
        // SAFETY: the CPU has the features `ni::sha256_pair` is compiled
        // for (checked just above).
        return unsafe { ni::sha256_pair(a, b) };
    }
    (Sha256::digest(a).into(), Sha256::digest(b).into())
}

/// The SHA-256 initial state (FIPS 180-4, 5.3.3).
const INITIAL: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// A message cut into the blocks SHA-256 compresses: its whole 64-byte
/// blocks as they are, then one or two blocks holding the rest, the `0x80`
/// marker, zeros and the length in bits.
struct Padded<'a> {
    whole: &'a [u8],
    tail: [u8; 128],
    tail_len: usize,
}

impl<'a> Padded<'a> {
    fn new(msg: &'a [u8]) -> Padded<'a> {
        let cut = msg.len() - msg.len() % 64;
        let (whole, rest) = msg.split_at(cut);
        let mut tail = [0u8; 128];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let tail_len = if rest.len() < 56 { 64 } else { 128 };
        let bits = (msg.len() as u64).wrapping_mul(8);
        tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_be_bytes());
        Padded {
            whole,
            tail,
            tail_len,
        }
    }

    /// The padded blocks after the first `skip` whole ones, in two pieces.
    fn rest(&self, skip: usize) -> [&[u8]; 2] {
        let from = (skip * 64).min(self.whole.len());
        [&self.whole[from..], &self.tail[..self.tail_len]]
    }
}

/// Big-endian bytes of a final state.
fn to_digest(state: &[u32; 8]) -> Digest256 {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_be_bytes());
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod ni {
    //! The rounds on the SHA extensions, for `N` messages in step.

    use super::{to_digest, Digest256, Padded, INITIAL};
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_blend_epi16, _mm_loadu_si128, _mm_set_epi64x,
        _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
        _mm_shuffle_epi8, _mm_storeu_si128,
    };

    /// The round constants (FIPS 180-4, 4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Whether this CPU has the SHA extensions and the SSE levels used here.
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse4.1")
            && std::arch::is_x86_feature_detected!("ssse3")
    }

    /// Both digests, the shared whole blocks hashed in step.
    ///
    /// # Safety
    /// The CPU must have the features [`available`] checks.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn sha256_pair(a: &[u8], b: &[u8]) -> (Digest256, Digest256) {
        let (pa, pb) = (Padded::new(a), Padded::new(b));
        let mut states = [INITIAL, INITIAL];
        let shared = pa.whole.len().min(pb.whole.len()) / 64;
        let [sa, sb] = &mut states;
        compress::<2>(
            [sa, sb],
            [&pa.whole[..shared * 64], &pb.whole[..shared * 64]],
        );
        for piece in pa.rest(shared) {
            compress::<1>([sa], [piece]);
        }
        for piece in pb.rest(shared) {
            compress::<1>([sb], [piece]);
        }
        (to_digest(sa), to_digest(sb))
    }

    /// Compresses `N` runs of whole blocks, all of the same length, into
    /// their states, the rounds of the `N` interleaved.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    #[inline]
    fn compress<const N: usize>(states: [&mut [u32; 8]; N], blocks: [&[u8]; N]) {
        let len = blocks.iter().map(|b| b.len()).min().unwrap_or(0) / 64 * 64;
        // Byte order of each 32-bit word reversed: SHA-256 is big-endian.
        let swap = _mm_set_epi64x(0x0c0d_0e0f_0809_0a0b, 0x0405_0607_0001_0203);
        let mut abef = [_mm_set_epi64x(0, 0); N];
        let mut cdgh = abef;
        for l in 0..N {
            // SAFETY: a state is eight u32, two unaligned 16-byte loads.
            let (abcd, efgh) = unsafe {
                let p = states[l].as_ptr().cast::<__m128i>();
                (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
            };
            let cdab = _mm_shuffle_epi32(abcd, 0xB1);
            let hgfe = _mm_shuffle_epi32(efgh, 0x1B);
            abef[l] = _mm_alignr_epi8(cdab, hgfe, 8);
            cdgh[l] = _mm_blend_epi16(hgfe, cdab, 0xF0);
        }
        let mut at = 0;
        while at < len {
            let (saved_abef, saved_cdgh) = (abef, cdgh);
            let mut w = [[_mm_set_epi64x(0, 0); 4]; N];
            for g in 0..16 {
                // SAFETY: K holds 64 words; g < 16.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * g).cast()) };
                for l in 0..N {
                    let word = if g < 4 {
                        // SAFETY: at + 64 <= len <= blocks[l].len().
                        let m =
                            unsafe { _mm_loadu_si128(blocks[l].as_ptr().add(at + 16 * g).cast()) };
                        _mm_shuffle_epi8(m, swap)
                    } else {
                        // W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16], four at once.
                        let [w4, w3, w2, w1] = [
                            w[l][g % 4],
                            w[l][(g + 1) % 4],
                            w[l][(g + 2) % 4],
                            w[l][(g + 3) % 4],
                        ];
                        let partial =
                            _mm_add_epi32(_mm_sha256msg1_epu32(w4, w3), _mm_alignr_epi8(w1, w2, 4));
                        _mm_sha256msg2_epu32(partial, w1)
                    };
                    w[l][g % 4] = word;
                    let msg = _mm_add_epi32(word, k);
                    cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], msg);
                    abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32(msg, 0x0E));
                }
            }
            for l in 0..N {
                abef[l] = _mm_add_epi32(abef[l], saved_abef[l]);
                cdgh[l] = _mm_add_epi32(cdgh[l], saved_cdgh[l]);
            }
            at += 64;
        }
        for l in 0..N {
            let feba = _mm_shuffle_epi32(abef[l], 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh[l], 0xB1);
            // SAFETY: as for the loads.
            unsafe {
                let p = states[l].as_mut_ptr().cast::<__m128i>();
                _mm_storeu_si128(p, _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128(p.add(1), _mm_alignr_epi8(dchg, feba, 8));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(m: &[u8]) -> Digest256 {
        Sha256::digest(m).into()
    }

    #[test]
    fn matches_fips_vectors() {
        let abc = hex::decode("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            .unwrap();
        let long = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        let (x, y) = sha256_pair(b"abc", long);
        assert_eq!(x.as_slice(), abc.as_slice());
        assert_eq!(y, reference(long));
    }

    #[test]
    fn every_length_around_the_block_edges() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7 + 3) as u8).collect();
        for la in [
            0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 511, 512, 599,
        ] {
            for lb in [0, 3, 55, 56, 64, 119, 120, 192, 600] {
                let (x, y) = sha256_pair(&data[..la], &data[600 - lb..]);
                assert_eq!(x, reference(&data[..la]), "a {la}");
                assert_eq!(y, reference(&data[600 - lb..]), "b {lb}");
            }
        }
    }

    proptest! {
        #[test]
        fn pair_equals_two_single_digests(
            a in proptest::collection::vec(any::<u8>(), 0..2000),
            b in proptest::collection::vec(any::<u8>(), 0..2000),
        ) {
            let (x, y) = sha256_pair(&a, &b);
            prop_assert_eq!(x, reference(&a));
            prop_assert_eq!(y, reference(&b));
        }
    }
}
