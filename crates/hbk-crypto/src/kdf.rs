//! Password-based key derivation (scrypt), as restic's key files use it.

use crate::{Error, Key, Result};

/// scrypt parameters as stored in a key file (`N`, `r`, `p`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// CPU/memory cost; a power of two greater than 1.
    pub n: u64,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// The parameters restic 0.14 picks on this class of machine
    /// (`N = 32768`, `r = 8`, `p = 5`): about half a second per derivation.
    pub const RESTIC_DEFAULT: KdfParams = KdfParams {
        n: 32768,
        r: 8,
        p: 5,
    };

    /// Cheap parameters for tests only; real repositories must not use them.
    pub const INSECURE_FOR_TESTS: KdfParams = KdfParams {
        n: 1024,
        r: 8,
        p: 1,
    };

    /// Checks the ranges restic accepts before spending any time on them.
    pub fn validate(&self) -> Result<()> {
        if self.n <= 1 || !self.n.is_power_of_two() {
            return Err(Error::InvalidKdfParams(format!(
                "N = {} is not a power of two greater than 1",
                self.n
            )));
        }
        if self.r < 1 || self.p < 1 || u64::from(self.r) * u64::from(self.p) >= 1 << 30 {
            return Err(Error::InvalidKdfParams(format!(
                "r = {}, p = {} out of range",
                self.r, self.p
            )));
        }
        Ok(())
    }
}

impl Key {
    /// Derives the user key from a password: `scrypt(password, salt, N, r, p)`
    /// gives 64 bytes, split into the AES key, the MAC `k` and the MAC `r`.
    pub fn derive(password: &[u8], salt: &[u8], params: KdfParams) -> Result<Key> {
        params.validate()?;
        let log_n = params.n.trailing_zeros() as u8;
        let sp = scrypt::Params::new(log_n, params.r, params.p, 64)
            .map_err(|e| Error::InvalidKdfParams(e.to_string()))?;
        let mut out = [0u8; 64];
        scrypt::scrypt(password, salt, &sp, &mut out)
            .map_err(|e| Error::InvalidKdfParams(e.to_string()))?;
        Key::from_slices(&out[..32], &out[32..48], &out[48..64])
    }
}
