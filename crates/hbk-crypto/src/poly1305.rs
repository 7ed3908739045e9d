//! Poly1305, the one-time authenticator inside restic's Poly1305-AES MAC.
//!
//! Every pack a restore or a check reads, and every blob a backup seals,
//! is authenticated here, so its throughput is part of theirs. The
//! `poly1305` crate's vector code takes four blocks at a time in 26-bit
//! limbs; processors with AVX-512 IFMA multiply 52-bit limbs directly, so
//! long messages take eight blocks at a time there ([`ifma`]), with the
//! blocks after the last round of eight in 44-bit limbs on scalar
//! registers ([`Limbs`]). Shorter messages, and processors without IFMA,
//! use the crate. Both give the same tags (property tests below).

// The scalar limbs serve the IFMA path (and the tests) only.
#![cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]

use poly1305::universal_hash::{KeyInit, UniversalHash};

/// Poly1305 of `msg` with the one-time key `key` (`r || s`).
pub(crate) fn poly1305(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    #[cfg(target_arch = "x86_64")]
    if msg.len() >= ifma::WORTH_IT && ifma::available() {
        return ifma::poly1305(key, msg);
    }
    with_crate(key, msg)
}

/// [`poly1305`] with the `poly1305` crate, on any processor.
fn with_crate(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
    let mut mac = poly1305::Poly1305::new(key.into());
    // The whole blocks through `update`, which hands the vector backend
    // four at a time; `compute_unpadded` alone feeds it one block per
    // call, copied into a cache and dispatched again each time (it doubled
    // the MAC's cost). The rest, and the final block, as before.
    let (whole, rest) = msg.split_at(msg.len() / 16 * 16);
    mac.update_padded(whole);
    mac.compute_unpadded(rest).into()
}

/// Low 44 bits.
const M44: u64 = (1 << 44) - 1;
/// Low 42 bits.
const M42: u64 = (1 << 42) - 1;
/// The bit a whole block gets above its 128 bits, in the top limb.
const HIBIT: u64 = 1 << 40;

/// A number below about 2¹³¹ in three limbs of 44, 44 and 42 bits (each
/// may run a few bits over between reductions), modulo p = 2¹³⁰ − 5.
#[derive(Clone, Copy, Default, Debug)]
struct Limbs([u64; 3]);

impl Limbs {
    /// The limbs of a 16-byte little-endian number, plus `hibit`.
    fn from_block(block: &[u8; 16], hibit: u64) -> Limbs {
        let (lo, hi) = words(block);
        Limbs([
            lo & M44,
            ((lo >> 44) | (hi << 20)) & M44,
            (hi >> 24) | hibit,
        ])
    }

    /// `self · r mod p`, partly reduced: limbs below 2⁴⁴, 2⁴⁴ + 1 and 2⁴².
    fn mul(self, r: Limbs) -> Limbs {
        let [h0, h1, h2] = self.0.map(u128::from);
        let [r0, r1, r2] = r.0.map(u128::from);
        // Limb products above 2¹³⁰ come round times 5 (2¹³² ≡ 20).
        let (s1, s2) = (r1 * 20, r2 * 20);
        let d0 = h0 * r0 + h1 * s2 + h2 * s1;
        let mut d1 = h0 * r1 + h1 * r0 + h2 * s2;
        let mut d2 = h0 * r2 + h1 * r1 + h2 * r0;
        d1 += d0 >> 44;
        d2 += d1 >> 44;
        let mut h0 = (d0 as u64 & M44) + (d2 >> 42) as u64 * 5;
        let h1 = (d1 as u64 & M44) + (h0 >> 44);
        h0 &= M44;
        Limbs([h0, h1, d2 as u64 & M42])
    }

    /// Lane-wise sum (no carries; the limbs have room).
    fn add(self, o: Limbs) -> Limbs {
        Limbs([0, 1, 2].map(|i| self.0[i] + o.0[i]))
    }

    /// Carries until every limb is in range: the number modulo p, or p
    /// plus at most a few (the final step subtracts p if needed).
    fn carried(self) -> Limbs {
        let [mut h0, mut h1, mut h2] = self.0;
        for _ in 0..2 {
            h1 += h0 >> 44;
            h0 &= M44;
            h2 += h1 >> 44;
            h1 &= M44;
            h0 += (h2 >> 42) * 5;
            h2 &= M42;
        }
        h1 += h0 >> 44;
        h0 &= M44;
        Limbs([h0, h1, h2])
    }

    /// `(self mod p) + s mod 2¹²⁸`, little-endian: the tag.
    fn tag(self, s: &[u8; 16]) -> [u8; 16] {
        let Limbs([h0, h1, h2]) = self.carried();
        // h − p = h + 5 − 2¹³⁰: taken where it does not go below zero.
        let g0 = h0 + 5;
        let g1 = h1 + (g0 >> 44);
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        let keep_h = (g2 >> 63).wrapping_neg();
        let pick = |h: u64, g: u64| (h & keep_h) | (g & !keep_h);
        let (h0, h1, h2) = (pick(h0, g0 & M44), pick(h1, g1 & M44), pick(h2, g2));
        // Sums, not ors: h1 may be 2⁴⁴ exactly after the last carry.
        let lo = h0.wrapping_add(h1 << 44);
        let hi = (h1 >> 20).wrapping_add(h2 << 24);
        let (s_lo, s_hi) = words(s);
        let (lo, carry) = lo.overflowing_add(s_lo);
        let hi = hi.wrapping_add(s_hi).wrapping_add(u64::from(carry));
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&lo.to_le_bytes());
        out[8..].copy_from_slice(&hi.to_le_bytes());
        out
    }
}

/// A 16-byte block's two little-endian 64-bit words.
fn words(block: &[u8; 16]) -> (u64, u64) {
    let (lo, hi) = block.split_at(8);
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    (word(lo), word(hi))
}

/// The one-time key's `r` (clamped as Poly1305 requires) and `s`.
fn split_key(key: &[u8; 32]) -> (Limbs, [u8; 16]) {
    let mut r = [0u8; 16];
    let mut s = [0u8; 16];
    r.copy_from_slice(&key[..16]);
    s.copy_from_slice(&key[16..]);
    let (lo, hi) = words(&r);
    let lo = lo & 0x0fff_fffc_0fff_ffff;
    let hi = hi & 0x0fff_fffc_0fff_fffc;
    let mut clamped = [0u8; 16];
    clamped[..8].copy_from_slice(&lo.to_le_bytes());
    clamped[8..].copy_from_slice(&hi.to_le_bytes());
    (Limbs::from_block(&clamped, 0), s)
}

/// Horner's rule over whole 16-byte blocks: `h = (h + block) · r`.
fn blocks(mut h: Limbs, r: Limbs, data: &[u8]) -> Limbs {
    for block in data.chunks_exact(16) {
        let block: &[u8; 16] = block.try_into().unwrap_or(&[0; 16]);
        h = h.add(Limbs::from_block(block, HIBIT)).mul(r);
    }
    h
}

/// The last, short block (1 to 15 bytes): padded with a one byte and
/// zeros instead of the bit above 128.
fn last_block(h: Limbs, r: Limbs, rest: &[u8]) -> Limbs {
    if rest.is_empty() {
        return h;
    }
    let mut block = [0u8; 16];
    block[..rest.len()].copy_from_slice(rest);
    if let Some(b) = block.get_mut(rest.len()) {
        *b = 1;
    }
    h.add(Limbs::from_block(&block, 0)).mul(r)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod ifma {
    //! Eight blocks at a time: lane j of three 512-bit registers (one per
    //! limb) accumulates blocks j, j + 8, j + 16, …, multiplied by r⁸
    //! each round and by r⁸⁻ʲ in the last, so that the lanes' sum is
    //! Horner's rule over all of them.

    use super::{Limbs, HIBIT, M42, M44};
    use core::arch::x86_64::{
        __m512i, _mm512_add_epi64, _mm512_and_si512, _mm512_loadu_si512, _mm512_madd52hi_epu64,
        _mm512_madd52lo_epu64, _mm512_or_si512, _mm512_permutex2var_epi64, _mm512_reduce_add_epi64,
        _mm512_set1_epi64, _mm512_set_epi64, _mm512_setzero_si512, _mm512_slli_epi64,
        _mm512_srli_epi64,
    };

    /// Shorter messages go through the crate: the powers of r cost more
    /// than eight-way blocks save on a few of them.
    pub(super) const WORTH_IT: usize = 512;

    /// Bytes per round: eight blocks.
    const STEP: usize = 128;

    /// Whether this processor has AVX-512 with the 52-bit multiply-adds.
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512ifma")
    }

    /// [`super::poly1305`] on IFMA; call only where [`available`] says so.
    pub(super) fn poly1305(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let (r, s) = super::split_key(key);
        let rounds = msg.len() / STEP;
        let (eight_way, rest) = msg.split_at(rounds * STEP);
        // SAFETY: the processor has the features (checked by the caller);
        // the function reads only inside `eight_way`.
        let h = unsafe { blocks8(Limbs::default(), r, eight_way) };
        let (whole, last) = rest.split_at(rest.len() / 16 * 16);
        let h = super::blocks(h, r, whole);
        super::last_block(h, r, last).tag(&s)
    }

    /// One limb of eight numbers.
    type Lanes = __m512i;

    /// A multiplier's limbs, and its upper two times 20 (the products that
    /// wrap round 2¹³⁰).
    struct Multiplier {
        r: [Lanes; 3],
        s1: Lanes,
        s2: Lanes,
    }

    impl Multiplier {
        #[target_feature(enable = "avx512f")]
        fn new(r: [Lanes; 3]) -> Multiplier {
            let times20 =
                |x: Lanes| _mm512_add_epi64(_mm512_slli_epi64::<4>(x), _mm512_slli_epi64::<2>(x));
            Multiplier {
                r,
                s1: times20(r[1]),
                s2: times20(r[2]),
            }
        }
    }

    /// Horner's rule over `data` (a multiple of [`STEP`] bytes, at least
    /// one step) from `h`.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn blocks8(h: Limbs, r: Limbs, data: &[u8]) -> Limbs {
        // r¹ … r⁸.
        let mut powers = [r; 8];
        let mut power = r;
        for p in powers.iter_mut().skip(1) {
            power = power.mul(r);
            *p = power;
        }
        let limb = |i: usize| {
            let p = |k: usize| powers[k].0[i] as i64;
            // Lane j takes r⁸⁻ʲ (lane 0 is the lowest argument's place).
            _mm512_set_epi64(p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7))
        };
        let last = Multiplier::new([limb(0), limb(1), limb(2)]);
        let r8 = powers[7].0.map(|x| _mm512_set1_epi64(x as i64));
        let every = Multiplier::new(r8);

        let first_lane = |x: u64| _mm512_set_epi64(0, 0, 0, 0, 0, 0, 0, x as i64);
        let mut acc = h.0.map(first_lane);
        let mut steps = data.chunks_exact(STEP).peekable();
        while let Some(step) = steps.next() {
            let Ok(step) = <&[u8; STEP]>::try_from(step) else {
                continue;
            };
            let m = load(step);
            for i in 0..3 {
                acc[i] = _mm512_add_epi64(acc[i], m[i]);
            }
            let by = if steps.peek().is_some() {
                &every
            } else {
                &last
            };
            acc = mul(acc, by);
        }
        let sum = acc.map(|x| _mm512_reduce_add_epi64(x) as u64);
        Limbs(sum).carried()
    }

    /// The limbs of eight blocks (128 bytes), block j in lane j, with the
    /// bit above each block's 128.
    #[target_feature(enable = "avx512f")]
    fn load(step: &[u8; STEP]) -> [Lanes; 3] {
        // SAFETY: both loads read inside `step` (128 bytes).
        let (a, b) = unsafe {
            (
                _mm512_loadu_si512(step.as_ptr().cast()),
                _mm512_loadu_si512(step.as_ptr().add(64).cast()),
            )
        };
        let even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
        let odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
        let lo = _mm512_permutex2var_epi64(a, even, b);
        let hi = _mm512_permutex2var_epi64(a, odd, b);
        let m44 = _mm512_set1_epi64(M44 as i64);
        [
            _mm512_and_si512(lo, m44),
            _mm512_and_si512(
                _mm512_or_si512(_mm512_srli_epi64::<44>(lo), _mm512_slli_epi64::<20>(hi)),
                m44,
            ),
            _mm512_or_si512(_mm512_srli_epi64::<24>(hi), _mm512_set1_epi64(HIBIT as i64)),
        ]
    }

    /// `h · r mod p` lane by lane, partly reduced as [`Limbs::mul`].
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn mul(h: [Lanes; 3], by: &Multiplier) -> [Lanes; 3] {
        let [h0, h1, h2] = h;
        let [r0, r1, r2] = by.r;
        let (s1, s2) = (by.s1, by.s2);
        let z = _mm512_setzero_si512();
        // Each product as its low 52 bits and the bits above.
        let lo = |a: [(Lanes, Lanes); 3]| {
            a.iter()
                .fold(z, |acc, &(x, y)| _mm512_madd52lo_epu64(acc, x, y))
        };
        let hi = |a: [(Lanes, Lanes); 3]| {
            a.iter()
                .fold(z, |acc, &(x, y)| _mm512_madd52hi_epu64(acc, x, y))
        };
        let t0 = [(h0, r0), (h1, s2), (h2, s1)];
        let t1 = [(h0, r1), (h1, r0), (h2, s2)];
        let t2 = [(h0, r2), (h1, r1), (h2, r0)];
        let (d0, d1, d2) = (lo(t0), lo(t1), lo(t2));
        let (e0, e1, e2) = (hi(t0), hi(t1), hi(t2));
        // The high parts weigh 2⁵² = 2⁴⁴ · 2⁸ more than their limb; the
        // top limb's go round 2¹³⁰ as 2¹⁴⁰ ≡ 5 · 2¹⁰.
        let d0 = _mm512_add_epi64(
            d0,
            _mm512_add_epi64(_mm512_slli_epi64::<10>(e2), _mm512_slli_epi64::<12>(e2)),
        );
        let d1 = _mm512_add_epi64(d1, _mm512_slli_epi64::<8>(e0));
        let d2 = _mm512_add_epi64(d2, _mm512_slli_epi64::<8>(e1));
        let m44 = _mm512_set1_epi64(M44 as i64);
        let m42 = _mm512_set1_epi64(M42 as i64);
        let d1 = _mm512_add_epi64(d1, _mm512_srli_epi64::<44>(d0));
        let d0 = _mm512_and_si512(d0, m44);
        let d2 = _mm512_add_epi64(d2, _mm512_srli_epi64::<44>(d1));
        let d1 = _mm512_and_si512(d1, m44);
        let c = _mm512_srli_epi64::<42>(d2);
        let d2 = _mm512_and_si512(d2, m42);
        let d0 = _mm512_add_epi64(d0, _mm512_add_epi64(c, _mm512_slli_epi64::<2>(c)));
        let d1 = _mm512_add_epi64(d1, _mm512_srli_epi64::<44>(d0));
        let d0 = _mm512_and_si512(d0, m44);
        [d0, d1, d2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scalar limbs alone (no eight-way blocks), for comparison.
    fn scalar(key: &[u8; 32], msg: &[u8]) -> [u8; 16] {
        let (r, s) = split_key(key);
        let (whole, last) = msg.split_at(msg.len() / 16 * 16);
        last_block(blocks(Limbs::default(), r, whole), r, last).tag(&s)
    }

    /// RFC 8439, section 2.5.2.
    #[test]
    fn rfc_8439_vector() {
        let key: [u8; 32] =
            hex_bytes("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        let msg = b"Cryptographic Forum Research Group";
        let tag: [u8; 16] = hex_bytes("a8061dc1305136c6c22b8baf0c0127a9");
        assert_eq!(scalar(&key, msg), tag);
        assert_eq!(poly1305(&key, msg), tag);
    }

    /// Numbers at the edges of the limbs and of p: all-ones keys and
    /// blocks, where every carry runs.
    #[test]
    fn saturated_inputs_agree_with_the_crate() {
        for key_byte in [0x00, 0xff] {
            for msg_byte in [0x00, 0xff] {
                for len in [0, 1, 15, 16, 17, 127, 128, 129, 511, 512, 513, 4096, 4111] {
                    let key = [key_byte; 32];
                    let msg = vec![msg_byte; len];
                    let expected = with_crate(&key, &msg);
                    assert_eq!(scalar(&key, &msg), expected, "{key_byte} {msg_byte} {len}");
                    assert_eq!(
                        poly1305(&key, &msg),
                        expected,
                        "{key_byte} {msg_byte} {len}"
                    );
                }
            }
        }
    }

    fn hex_bytes<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    proptest! {
        /// Any key and message: the same tag as the `poly1305` crate, by
        /// the scalar limbs and by the fastest path this processor has.
        #[test]
        fn equals_the_crate(
            key in any::<[u8; 32]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let expected = with_crate(&key, &msg);
            prop_assert_eq!(scalar(&key, &msg), expected);
            prop_assert_eq!(poly1305(&key, &msg), expected);
        }
    }
}
