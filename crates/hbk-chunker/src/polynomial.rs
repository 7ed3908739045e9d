//! Polynomials over GF(2) packed into a `u64` (format spec §6.2, §6.6).
//!
//! Bit *i* is the coefficient of x^i. Addition and subtraction are XOR.

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

use crate::ChunkerError;

/// How many random candidates [`Polynomial::derive`] tries before giving up.
pub const MAX_DERIVE_TRIES: u32 = 1_000_000;

/// Degree every restic chunker polynomial has.
pub const RESTIC_DEGREE: i32 = 53;

/// A polynomial over GF(2) of degree at most 63, bit *i* being the
/// coefficient of x^i.
///
/// Ordering and hashing follow the raw `u64`, which is only meant for use as
/// a map key (e.g. to cache [`crate::RabinTables`] per polynomial).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Polynomial(pub u64);

impl Polynomial {
    /// The polynomial `x`.
    pub const X: Polynomial = Polynomial(2);

    /// The polynomial `1`.
    pub const ONE: Polynomial = Polynomial(1);

    /// The polynomial with bit representation `bits`.
    pub const fn new(bits: u64) -> Polynomial {
        Polynomial(bits)
    }

    /// The raw bit representation.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// Degree of the polynomial, `-1` for the zero polynomial.
    pub const fn deg(self) -> i32 {
        63 - self.0.leading_zeros() as i32
    }

    /// Remainder of the division of `self` by `m` (long division).
    ///
    /// # Panics
    ///
    /// If `m` is zero.
    pub fn modulo(self, m: Polynomial) -> Polynomial {
        assert!(m.0 != 0, "polynomial division by zero");
        let dm = m.deg();
        let mut x = self.0;
        loop {
            let dx = 63 - x.leading_zeros() as i32;
            if dx < dm {
                return Polynomial(x);
            }
            x ^= m.0 << (dx - dm);
        }
    }

    /// `(self · other) mod m`, computed without overflow for any operands.
    ///
    /// # Panics
    ///
    /// If `m` is zero.
    pub fn mul_mod(self, other: Polynomial, m: Polynomial) -> Polynomial {
        assert!(m.0 != 0, "polynomial division by zero");
        mod_wide(clmul(self.0, other.0), m.0)
    }

    /// Greatest common divisor (Euclid's algorithm). `gcd(a, 0) = a`.
    pub fn gcd(self, other: Polynomial) -> Polynomial {
        let (mut a, mut b) = (self, other);
        while b.0 != 0 {
            let r = a.modulo(b);
            a = b;
            b = r;
        }
        a
    }

    /// Whether the polynomial is irreducible over GF(2) (Ben-Or's test, §6.6).
    ///
    /// Polynomials of degree < 1 are reported as not irreducible.
    pub fn is_irreducible(self) -> bool {
        let d = self.deg();
        if d < 1 {
            return false;
        }
        // g = x^(2^i) mod self, by repeated squaring.
        let mut g = Polynomial::X.modulo(self);
        for _ in 1..=d / 2 {
            g = g.mul_mod(g, self);
            if self.gcd(Polynomial(g.0 ^ Polynomial::X.0)) != Polynomial::ONE {
                return false;
            }
        }
        true
    }

    /// Derives a random irreducible polynomial of degree 53 from a byte
    /// source, exactly like restic's `DerivePolynomial` (§6.6): reads 8 bytes
    /// per candidate (little-endian), keeps bits 0..=53, sets bits 53 and 0,
    /// and returns the first irreducible candidate.
    ///
    /// Fails with [`ChunkerError::Random`] if the source fails or runs dry,
    /// and with [`ChunkerError::NoIrreduciblePolynomial`] after
    /// [`MAX_DERIVE_TRIES`] reducible candidates.
    pub fn derive(mut source: impl Read) -> Result<Polynomial, ChunkerError> {
        let mut buf = [0u8; 8];
        for _ in 0..MAX_DERIVE_TRIES {
            source.read_exact(&mut buf).map_err(ChunkerError::Random)?;
            let candidate = Polynomial::candidate_from_bytes(buf);
            if candidate.is_irreducible() {
                return Ok(candidate);
            }
        }
        Err(ChunkerError::NoIrreduciblePolynomial(MAX_DERIVE_TRIES))
    }

    /// The masked candidate that [`Polynomial::derive`] tests for 8 given
    /// source bytes: `(le64(bytes) & (2^54 - 1)) | 2^53 | 1`.
    pub const fn candidate_from_bytes(bytes: [u8; 8]) -> Polynomial {
        let f = u64::from_le_bytes(bytes) & ((1 << 54) - 1);
        Polynomial(f | (1 << 53) | 1)
    }

    /// A fresh random irreducible polynomial of degree 53, drawn from the
    /// operating system's CSPRNG (what `restic init` does).
    pub fn random() -> Result<Polynomial, ChunkerError> {
        Polynomial::derive(OsRandom)
    }

    /// Parses the config's representation: hexadecimal digits without `0x`
    /// (either case is accepted, as Go's `strconv.ParseUint(s, 16, 64)` does).
    pub fn from_hex(s: &str) -> Result<Polynomial, ChunkerError> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChunkerError::InvalidHex(s.to_owned()));
        }
        u64::from_str_radix(s, 16)
            .map(Polynomial)
            .map_err(|_| ChunkerError::InvalidHex(s.to_owned()))
    }

    /// The config's representation: lowercase hex without `0x` or leading
    /// zeros (`"3da3358b4dc173"`).
    pub fn to_hex(self) -> String {
        format!("{:x}", self.0)
    }
}

impl fmt::Debug for Polynomial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Polynomial({:#x})", self.0)
    }
}

impl fmt::Display for Polynomial {
    /// Same as [`Polynomial::to_hex`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

impl FromStr for Polynomial {
    type Err = ChunkerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Polynomial::from_hex(s)
    }
}

impl From<u64> for Polynomial {
    fn from(v: u64) -> Self {
        Polynomial(v)
    }
}

impl From<Polynomial> for u64 {
    fn from(p: Polynomial) -> Self {
        p.0
    }
}

/// Carry-less (GF(2)) product of two 64-bit polynomials.
fn clmul(a: u64, b: u64) -> u128 {
    let mut acc = 0u128;
    let wide = u128::from(a);
    let mut rest = b;
    while rest != 0 {
        let bit = rest.trailing_zeros();
        acc ^= wide << bit;
        rest &= rest - 1;
    }
    acc
}

/// `x mod m` for a 128-bit dividend, `m != 0`.
fn mod_wide(mut x: u128, m: u64) -> Polynomial {
    let dm = 63 - m.leading_zeros() as i32;
    let wide_m = u128::from(m);
    loop {
        let dx = 127 - x.leading_zeros() as i32;
        if dx < dm {
            // dx < dm <= 63, so the remainder fits.
            return Polynomial(x as u64);
        }
        x ^= wide_m << (dx - dm);
    }
}

/// Reads from the OS CSPRNG.
struct OsRandom;

impl Read for OsRandom {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use rand::RngCore;
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .map_err(io::Error::other)?;
        Ok(buf.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Polynomial = Polynomial(0x3DA3358B4DC173);

    #[test]
    fn degree() {
        assert_eq!(Polynomial(0).deg(), -1);
        assert_eq!(Polynomial(1).deg(), 0);
        assert_eq!(Polynomial(2).deg(), 1);
        assert_eq!(Polynomial(0xff).deg(), 7);
        assert_eq!(P.deg(), 53);
        assert_eq!(Polynomial(u64::MAX).deg(), 63);
    }

    #[test]
    fn modulo_basics() {
        // (x^2 + 1) = (x + 1)^2 over GF(2).
        assert_eq!(Polynomial(0b101).modulo(Polynomial(0b11)), Polynomial(0));
        // x^3 mod (x^2 + x + 1) = 1.
        assert_eq!(Polynomial(0b1000).modulo(Polynomial(0b111)), Polynomial(1));
        assert_eq!(Polynomial(5).modulo(Polynomial(1)), Polynomial(0));
        assert_eq!(Polynomial(0b10).modulo(Polynomial(0b100)), Polynomial(0b10));
        assert_eq!(P.modulo(P), Polynomial(0));
    }

    // §6.7(d), from upstream polynomials_test.go.
    #[test]
    fn mul_mod_vector() {
        let r = Polynomial(0x0eae8c07dbbb3026)
            .mul_mod(Polynomial(0xd5d6db9de04771de), Polynomial(0xdd2bda3b77c9));
        assert_eq!(r, Polynomial(0x425ae8595b7a));
    }

    #[test]
    fn mul_mod_small() {
        // (x + 1)(x + 1) = x^2 + 1; mod x^2 + x + 1 gives x.
        assert_eq!(
            Polynomial(0b11).mul_mod(Polynomial(0b11), Polynomial(0b111)),
            Polynomial(0b10)
        );
        // With a degree-63 modulus the product needs more than 64 bits.
        let m = Polynomial((1 << 63) | 0b11011);
        let a = Polynomial(1 << 62);
        // x^62 · x^2 = x^64 = x · x^63 ≡ x · (x^4 + x^3 + x + 1).
        assert_eq!(a.mul_mod(Polynomial(0b100), m), Polynomial(0b110110));
    }

    #[test]
    fn gcd_vectors() {
        assert_eq!(
            Polynomial(0x230d2259defd).gcd(Polynomial(0x51b492b3eff2)),
            Polynomial(0b10011)
        );
        assert_eq!(P.gcd(Polynomial(0x230d2259defd)), Polynomial(1));
        // Symmetric and with zero.
        assert_eq!(
            Polynomial(0x51b492b3eff2).gcd(Polynomial(0x230d2259defd)),
            Polynomial(0b10011)
        );
        assert_eq!(P.gcd(Polynomial(0)), P);
        assert_eq!(Polynomial(0).gcd(P), P);
    }

    #[test]
    fn irreducibility_vectors() {
        for p in [0x3DA3358B4DC173u64, 0x2482734cacca49] {
            assert!(Polynomial(p).is_irreducible(), "{p:#x} is irreducible");
        }
        for p in [
            0x38f1e565e288dfu64,
            0x30a8295b9d5c91,
            0x255f4350b962cb,
            0x267f776110a235,
            0x2f4dae10d41227,
            0x312daf4b284899,
            0x29dfb6553d01d1,
            0x3548245eb26257,
            0x3199e7ef4211b3,
            0x362f39017dae8b,
            0x200d57aa6fdacb,
            0x35e0a4efa1d275,
            0x2ced55b026577f,
            0x260b012010893d,
            0x2df29cbcd59e9d,
            0x3f2ac7488bd429,
            0x3e5cb1711669fb,
            0x226d8de57a9959,
            0x3c8de80aaf5835,
            0x2026a59efb219b,
            0x39dfa4d13fb231,
            0x3143d0464b3299,
        ] {
            assert!(!Polynomial(p).is_irreducible(), "{p:#x} is reducible");
        }
    }

    #[test]
    fn irreducibility_small_degrees() {
        // Irreducible polynomials of degree <= 4 over GF(2).
        let irreducible = [0b10, 0b11, 0b111, 0b1011, 0b1101, 0b10011, 0b11001, 0b11111];
        for p in 1u64..32 {
            assert_eq!(
                Polynomial(p).is_irreducible(),
                irreducible.contains(&p),
                "{p:#b}"
            );
        }
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(P.to_hex(), "3da3358b4dc173");
        assert_eq!(P.to_string(), "3da3358b4dc173");
        assert_eq!(Polynomial::from_hex("3da3358b4dc173").unwrap(), P);
        assert_eq!(Polynomial::from_hex("3DA3358B4DC173").unwrap(), P);
        assert_eq!(
            "2a8542b446e9b3".parse::<Polynomial>().unwrap().0,
            0x2a8542b446e9b3
        );
        for bad in [
            "",
            "0x3da3358b4dc173",
            "+1",
            "-1",
            "xyz",
            "12345678901234567",
            " 1",
        ] {
            assert!(Polynomial::from_hex(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_is_irreducible_degree_53() {
        let p = Polynomial::random().unwrap();
        assert_eq!(p.deg(), RESTIC_DEGREE);
        assert_eq!(p.0 & 1, 1);
        assert!(p.is_irreducible());
    }

    #[test]
    fn derive_fails_on_short_source() {
        // A source of all-zero bytes yields the candidate x^53 + 1, which is
        // reducible (divisible by x + 1); it runs dry after two candidates.
        let zeros = [0u8; 16];
        assert!(matches!(
            Polynomial::derive(&zeros[..]),
            Err(ChunkerError::Random(_))
        ));
    }

    #[test]
    fn derive_gives_up_after_max_tries() {
        // Endless zeros: every candidate is x^53 + 1, never irreducible.
        let err = Polynomial::derive(io::repeat(0)).unwrap_err();
        assert!(matches!(
            err,
            ChunkerError::NoIrreduciblePolynomial(MAX_DERIVE_TRIES)
        ));
    }
}
