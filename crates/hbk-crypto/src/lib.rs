//! restic's cryptography, bit for bit.
//!
//! Every encrypted object in a restic repository is a *sealed box*:
//! `IV (16 bytes) || AES-256-CTR ciphertext || Poly1305-AES tag (16 bytes)`.
//! The tag covers only the ciphertext; the IV enters the MAC as the
//! Poly1305-AES nonce. [`Key`] seals and opens such boxes, and
//! [`Key::derive`] turns a password into the *user key* that unwraps a key
//! file, using scrypt with the parameters stored in that key file.
//!
//! This crate does no I/O: it works on byte slices only.
//!
//! ```
//! use hbk_crypto::Key;
//! let key = Key::random();
//! let sealed = key.seal(b"hello");
//! assert_eq!(sealed.len(), 5 + hbk_crypto::OVERHEAD);
//! assert_eq!(key.open(&sealed).unwrap(), b"hello");
//! ```

mod ctr;
mod kdf;
mod key;
pub mod memory;
mod poly1305;
mod romix;
mod sha256;

pub use kdf::{KdfParams, MAX_KDF_MEMORY, MAX_KDF_WORK};
pub use key::Key;
pub use sha256::{sha256_pair, Digest256};

/// Bytes a sealed box adds to its plaintext: a 16-byte IV and a 16-byte tag.
pub const OVERHEAD: usize = IV_LEN + TAG_LEN;
/// Length of the random IV that starts every sealed box.
pub const IV_LEN: usize = 16;
/// Length of the Poly1305-AES tag that ends every sealed box.
pub const TAG_LEN: usize = 16;

/// What can go wrong while opening a box or deriving a key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The buffer cannot hold an IV and a tag.
    #[error("ciphertext too short ({0} bytes, at least 32 needed)")]
    TooShort(usize),
    /// The tag does not match: wrong key, or the bytes were altered.
    #[error("ciphertext verification failed (wrong key or corrupted data)")]
    MacMismatch,
    /// The scrypt parameters are out of range.
    #[error("invalid key derivation parameters: {0}")]
    InvalidKdfParams(String),
    /// The scrypt parameters are valid but would need more memory or work
    /// than any key restic writes; refused before anything is allocated.
    #[error("key derivation parameters N = {n}, r = {r}, p = {p} exceed the accepted ceiling")]
    KdfTooExpensive {
        /// CPU/memory cost as stored in the key file.
        n: u64,
        /// Block size as stored in the key file.
        r: u32,
        /// Parallelism as stored in the key file.
        p: u32,
    },
    /// A key part has the wrong length or is all zero.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
