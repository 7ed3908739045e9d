//! The sealed-box key: AES-256 for secrecy, Poly1305-AES for integrity.

use aes::cipher::{BlockEncrypt, KeyInit};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::{Error, Result, IV_LEN, OVERHEAD, TAG_LEN};

/// A restic encryption key: a 32-byte AES-256 key plus the two 16-byte
/// halves of a Poly1305-AES key (`k`, an AES-128 key, and `r`).
///
/// The same type serves as the repository's master key and as the user key
/// derived from a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    encrypt: [u8; 32],
    mac_k: [u8; 16],
    mac_r: [u8; 16],
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Poly1305's clamping of `r`, as restic applies it before use.
fn clamp(r: &[u8; 16]) -> [u8; 16] {
    let mut r = *r;
    for i in [3, 7, 11, 15] {
        r[i] &= 0x0f;
    }
    for i in [4, 8, 12] {
        r[i] &= 0xfc;
    }
    r
}

impl Key {
    /// Builds a key from its three parts.
    ///
    /// `mac_r` may be clamped or not: restic before 0.17 stored it clamped,
    /// later versions store it raw; both give the same tags.
    pub fn from_parts(encrypt: [u8; 32], mac_k: [u8; 16], mac_r: [u8; 16]) -> Self {
        Key {
            encrypt,
            mac_k,
            mac_r,
        }
    }

    /// Builds a key from slices, checking their lengths and rejecting the
    /// all-zero keys that restic refuses too.
    pub fn from_slices(encrypt: &[u8], mac_k: &[u8], mac_r: &[u8]) -> Result<Self> {
        let encrypt: [u8; 32] = encrypt
            .try_into()
            .map_err(|_| Error::InvalidKey("encryption key must be 32 bytes"))?;
        let mac_k: [u8; 16] = mac_k
            .try_into()
            .map_err(|_| Error::InvalidKey("MAC key k must be 16 bytes"))?;
        let mac_r: [u8; 16] = mac_r
            .try_into()
            .map_err(|_| Error::InvalidKey("MAC key r must be 16 bytes"))?;
        if encrypt == [0; 32] || (mac_k == [0; 16] && mac_r == [0; 16]) {
            return Err(Error::InvalidKey("key is all zero"));
        }
        Ok(Self::from_parts(encrypt, mac_k, mac_r))
    }

    /// A fresh key from the operating system's CSPRNG, for a new repository.
    pub fn random() -> Self {
        let mut rng = rand::rngs::OsRng;
        let mut k = Key::from_parts([0; 32], [0; 16], [0; 16]);
        rng.fill_bytes(&mut k.encrypt);
        rng.fill_bytes(&mut k.mac_k);
        rng.fill_bytes(&mut k.mac_r);
        // Store r clamped, as restic 0.14 does, so older readers that do not
        // clamp still agree.
        k.mac_r = clamp(&k.mac_r);
        k
    }

    /// The AES-256 encryption key.
    pub fn encrypt_key(&self) -> &[u8; 32] {
        &self.encrypt
    }

    /// The Poly1305-AES `k` half (an AES-128 key).
    pub fn mac_k(&self) -> &[u8; 16] {
        &self.mac_k
    }

    /// The Poly1305-AES `r` half, as stored.
    pub fn mac_r(&self) -> &[u8; 16] {
        &self.mac_r
    }

    /// Poly1305-AES over `ciphertext` with `nonce`: `s = AES-128_k(nonce)`,
    /// then Poly1305 with the one-time key `clamp(r) || s`.
    fn tag(&self, nonce: &[u8; IV_LEN], ciphertext: &[u8]) -> [u8; TAG_LEN] {
        poly1305_aes(&self.mac_k, &self.mac_r, nonce, ciphertext)
    }

    /// Encrypts `plaintext` under a fresh random IV and returns the sealed box.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + OVERHEAD);
        self.seal_into(plaintext, &mut out);
        out
    }

    /// Appends the sealed box of `plaintext` to `out`, so packers can build a
    /// pack in one buffer without extra copies.
    pub fn seal_into(&self, plaintext: &[u8], out: &mut Vec<u8>) {
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        self.seal_with_iv(&iv, plaintext, out);
    }

    /// Seals with a caller-chosen IV. Only for test vectors: reusing an IV
    /// with the same key destroys both secrecy and integrity.
    pub fn seal_with_iv(&self, iv: &[u8; IV_LEN], plaintext: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(iv);
        out.extend_from_slice(plaintext);
        let body = &mut out[start + IV_LEN..];
        crate::ctr::apply_keystream(&self.encrypt, iv, body);
        let tag = self.tag(iv, body);
        out.extend_from_slice(&tag);
    }

    /// Seals in place: `buf` is [`IV_LEN`] bytes of room, the plaintext,
    /// then [`TAG_LEN`] bytes of room; fills in a fresh random IV and the
    /// MAC and encrypts the middle. Lets a caller build sealed blobs in a
    /// reused buffer without a second copy.
    pub fn seal_in_place(&self, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        if len < OVERHEAD {
            return Err(Error::TooShort(len));
        }
        let (iv_room, rest) = buf.split_at_mut(IV_LEN);
        let (body, tag_room) = rest.split_at_mut(len - OVERHEAD);
        let mut iv = [0u8; IV_LEN];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        iv_room.copy_from_slice(&iv);
        crate::ctr::apply_keystream(&self.encrypt, &iv, body);
        tag_room.copy_from_slice(&self.tag(&iv, body));
        Ok(())
    }

    /// Verifies and decrypts a sealed box, returning the plaintext.
    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let len = self.open_in_place(&mut buf)?.len();
        buf.drain(..IV_LEN);
        buf.truncate(len);
        Ok(buf)
    }

    /// Verifies and decrypts a sealed box in place; returns the plaintext,
    /// which is the middle of `buf`. Avoids a copy on hot read paths.
    pub fn open_in_place<'a>(&self, buf: &'a mut [u8]) -> Result<&'a mut [u8]> {
        if buf.len() < OVERHEAD {
            return Err(Error::TooShort(buf.len()));
        }
        let (iv, rest) = buf.split_at_mut(IV_LEN);
        let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::TooShort(0))?;
        let (body, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let expected = self.tag(&iv, body);
        if !bool::from(expected.ct_eq(tag)) {
            return Err(Error::MacMismatch);
        }
        crate::ctr::apply_keystream(&self.encrypt, &iv, body);
        Ok(body)
    }
}

/// Poly1305-AES's one-time Poly1305 key: `clamp(r) || AES-128_k(nonce)`.
fn one_time_key(k: &[u8; 16], r: &[u8; 16], nonce: &[u8; 16]) -> [u8; 32] {
    let aes = aes::Aes128::new(k.into());
    let mut s = aes::Block::clone_from_slice(nonce);
    aes.encrypt_block(&mut s);
    let mut one_time = [0u8; 32];
    one_time[..16].copy_from_slice(&clamp(r));
    one_time[16..].copy_from_slice(&s);
    one_time
}

/// Poly1305-AES as defined by Bernstein, the MAC restic uses.
pub(crate) fn poly1305_aes(
    k: &[u8; 16],
    r: &[u8; 16],
    nonce: &[u8; 16],
    msg: &[u8],
) -> [u8; TAG_LEN] {
    crate::poly1305::poly1305(&one_time_key(k, r, nonce), msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Poly1305-AES gives the tag of the `poly1305` crate fed the
        /// message in one call, whichever path computes it.
        #[test]
        fn mac_equals_the_block_by_block_tag(
            k in any::<[u8; 16]>(),
            r in any::<[u8; 16]>(),
            nonce in any::<[u8; 16]>(),
            msg in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let one_time = one_time_key(&k, &r, &nonce);
            let expected: [u8; 16] =
                poly1305::Poly1305::new(&one_time.into()).compute_unpadded(&msg).into();
            prop_assert_eq!(poly1305_aes(&k, &r, &nonce, &msg), expected);
        }
    }
}
