//! The crate's error type.

use std::io;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ChunkerError {
    /// The random source failed or ran dry while deriving a polynomial.
    #[error("reading random bytes for the chunker polynomial: {0}")]
    Random(#[source] io::Error),
    /// No irreducible polynomial among the given number of candidates.
    #[error("no irreducible polynomial found after {0} candidates")]
    NoIrreduciblePolynomial(u32),
    /// The string is not a hexadecimal `u64`.
    #[error("invalid chunker polynomial {0:?}: expected hexadecimal digits without 0x")]
    InvalidHex(String),
    /// The Rabin tables need a polynomial of degree 8 to 56.
    #[error("chunker polynomial {polynomial:x} has degree {degree}, expected 8..=56")]
    UnsupportedDegree {
        /// The polynomial's bits.
        polynomial: u64,
        /// Its degree.
        degree: i32,
    },
    /// Chunk size parameters out of range.
    #[error("invalid chunk size parameters: {0}")]
    InvalidParameters(String),
}
