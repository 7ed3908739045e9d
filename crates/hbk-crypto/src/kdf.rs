//! Password-based key derivation (scrypt), as restic's key files use it.

use crate::{Error, Key, Result};

/// Most memory each of scrypt's two buffers may take: `128 * r * N` bytes
/// for the table, `128 * r * p` for the blocks. restic calibrates its keys
/// to at most 60 MiB; 1 GiB also admits
/// `N = 2^20, r = 8` and the parameters other implementations pick, while a
/// key file asking for more is refused before any allocation.
pub const MAX_KDF_MEMORY: u64 = 1 << 30;

/// Most work one derivation may cost, in units of `N * r * p` (one unit is
/// one 128-byte block mix). restic's calibration targets half a second,
/// about 2^21 units; 2^30 leaves a wide margin for slow or future machines
/// and still bounds the time a hostile key file can burn.
pub const MAX_KDF_WORK: u64 = 1 << 30;

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

    /// Checks the ranges restic accepts before spending any time on them,
    /// and refuses parameters beyond [`MAX_KDF_MEMORY`] or [`MAX_KDF_WORK`]
    /// with [`Error::KdfTooExpensive`].
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
        let (n, r, p) = (self.n, u64::from(self.r), u64::from(self.p));
        let bytes = |blocks: u64| blocks.checked_mul(r)?.checked_mul(128);
        let work = n.checked_mul(r).and_then(|nr| nr.checked_mul(p));
        match (bytes(n), bytes(p), work) {
            (Some(table), Some(blocks), Some(w))
                if table <= MAX_KDF_MEMORY && blocks <= MAX_KDF_MEMORY && w <= MAX_KDF_WORK =>
            {
                Ok(())
            }
            _ => Err(Error::KdfTooExpensive {
                n: self.n,
                r: self.r,
                p: self.p,
            }),
        }
    }
}

impl Key {
    /// Derives the user key from a password: `scrypt(password, salt, N, r, p)`
    /// gives 64 bytes, split into the AES key, the MAC `k` and the MAC `r`.
    pub fn derive(password: &[u8], salt: &[u8], params: KdfParams) -> Result<Key> {
        params.validate()?;
        let log_n = params.n.trailing_zeros() as u8;
        // The scrypt crate's checks of the parameters (N a power of two,
        // r·p in range); the work itself runs lanes in parallel.
        scrypt::Params::new(log_n, params.r, params.p, 64)
            .map_err(|e| Error::InvalidKdfParams(e.to_string()))?;
        if params.n < 2 || !params.n.is_power_of_two() {
            return Err(Error::InvalidKdfParams(format!(
                "N = {} is not a power of two above 1",
                params.n
            )));
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut out = [0u8; 64];
        crate::romix::scrypt(
            password,
            salt,
            params.n as usize,
            params.r as usize,
            params.p as usize,
            threads,
            &mut out,
        );
        Key::from_slices(&out[..32], &out[32..48], &out[48..64])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_accepts_what_restic_writes() {
        for (n, r, p) in [
            (32768, 8, 5),
            (1 << 18, 1, 40),
            (1 << 20, 8, 1),
            (16384, 8, 1),
        ] {
            assert_eq!(KdfParams { n, r, p }.validate(), Ok(()), "{n} {r} {p}");
        }
    }

    #[test]
    fn ceiling_refuses_absurd_values() {
        for (n, r, p) in [
            (1 << 40, 8, 1),
            (1 << 21, 8, 1),
            (1 << 62, 8, 1),
            (2, 1 << 20, 1 << 9),
        ] {
            assert!(
                matches!(
                    KdfParams { n, r, p }.validate(),
                    Err(Error::KdfTooExpensive { .. })
                ),
                "{n} {r} {p}"
            );
        }
    }

    proptest::proptest! {
        /// Validation never panics, and whatever it accepts stays within the
        /// memory ceiling.
        #[test]
        fn validate_is_total(n in proptest::num::u64::ANY, r in proptest::num::u32::ANY, p in proptest::num::u32::ANY) {
            let params = KdfParams { n, r, p };
            if params.validate().is_ok() {
                let max = u128::from(MAX_KDF_MEMORY);
                proptest::prop_assert!(128 * u128::from(r) * u128::from(n) <= max);
                proptest::prop_assert!(128 * u128::from(r) * u128::from(p) <= max);
            }
        }
    }
}
