//! Content ids: the SHA-256 of stored bytes, shown as 64 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A 32-byte id: the SHA-256 of a file's stored bytes or of a blob's plaintext.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Id(pub [u8; 32]);

/// The bytes' order, compared as four big-endian words: the derived order
/// called `memcmp` for every comparison, and index look-ups (a binary
/// search per blob of every file a backup checks) spent a few percent of
/// a no-op backup of many files in those calls.
impl Ord for Id {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, _) = self.0.as_chunks::<8>();
        let (b, _) = other.0.as_chunks::<8>();
        a.iter()
            .zip(b)
            .map(|(x, y)| u64::from_be_bytes(*x).cmp(&u64::from_be_bytes(*y)))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Id {
    /// The SHA-256 of `data`.
    pub fn hash(data: &[u8]) -> Id {
        Id(Sha256::digest(data).into())
    }

    /// The ids of two blobs, hashed together: on CPUs with the SHA
    /// extensions two interleaved hashes keep the unit busier than one,
    /// about a tenth more throughput (see `hbk_crypto::sha256_pair`).
    pub fn hash_pair(a: &[u8], b: &[u8]) -> (Id, Id) {
        let (x, y) = hbk_crypto::sha256_pair(a, b);
        (Id(x), Id(y))
    }

    /// A random id, for a new repository's `id` field.
    pub fn random() -> Id {
        let mut b = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        Id(b)
    }

    /// The full 64-digit lowercase hex form, as used in file names.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, as restic shows ids to people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }

    /// Whether this id's hex form starts with `prefix` (case-insensitive).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.to_hex().starts_with(&prefix.to_ascii_lowercase())
    }

    /// Whether every byte is zero (a null id, never valid in a tree).
    pub fn is_null(&self) -> bool {
        self.0 == [0; 32]
    }
}

/// A string that is not 64 hex digits.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid id {0:?}: expected 64 hex digits")]
pub struct ParseIdError(pub String);

impl Id {
    /// The id spelled by exactly 64 hex digits (either case), if they are.
    /// Every tree node and index entry names its blobs this way, so this
    /// runs millions of times when a large index loads or a large no-op
    /// backup reads its parent: the digits are checked and turned into
    /// nibbles with plain arithmetic, no table and no branch, which the
    /// compiler turns into a few vector instructions (a quarter of the
    /// time a lookup table takes).
    pub fn from_hex(digits: &[u8]) -> Option<Id> {
        let digits: &[u8; 64] = digits.try_into().ok()?;
        let mut nibbles = [0u8; 64];
        let mut bad = 0u8;
        for (n, &c) in nibbles.iter_mut().zip(digits) {
            let digit = c.wrapping_sub(b'0') < 10;
            // Lower case: 'A'..='F' become 'a'..='f'; digits keep their value.
            let letter = (c | 0x20).wrapping_sub(b'a') < 6;
            bad |= u8::from(!(digit | letter));
            // '0'..='9' are 0x30..=0x39; both letter ranges end in 1..=6
            // and have bit 6 set, which adds the 9.
            *n = (c & 0x0F) + 9 * ((c >> 6) & 1);
        }
        let mut b = [0u8; 32];
        for (out, pair) in b.iter_mut().zip(nibbles.chunks_exact(2)) {
            *out = (pair[0] << 4) | pair[1];
        }
        (bad == 0).then_some(Id(b))
    }
}

impl FromStr for Id {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::from_hex(s.as_bytes()).ok_or_else(|| ParseIdError(s.chars().take(80).collect()))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.short())
    }
}

impl serde::Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Id {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(IdVisitor)
    }
}

/// Parses an id from the string the deserializer holds, borrowed where it
/// can be (no `String` per id: trees and indexes hold millions of them).
struct IdVisitor;

impl serde::de::Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an id of 64 hexadecimal digits")
    }

    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Id, E> {
        s.parse().map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Ids order as their bytes do.
        #[test]
        fn order_is_the_bytes_order(
            a in proptest::array::uniform32(proptest::num::u8::ANY),
            b in proptest::array::uniform32(proptest::num::u8::ANY),
            same_prefix in 0usize..=32,
        ) {
            let mut b = b;
            b[..same_prefix].copy_from_slice(&a[..same_prefix]);
            proptest::prop_assert_eq!(Id(a).cmp(&Id(b)), a.cmp(&b));
            proptest::prop_assert_eq!(Id(a).partial_cmp(&Id(b)), Some(a.cmp(&b)));
        }

        /// The decoder accepts exactly what the hex crate accepts,
        /// with the same bytes.
        #[test]
        fn from_hex_agrees_with_the_hex_crate(bytes in proptest::collection::vec(proptest::sample::select(b"0123456789abcdefABCDEFgxG /\0\xff".to_vec()), 62..=66)) {
            let mut want = [0u8; 32];
            let ok = bytes.len() == 64 && hex::decode_to_slice(&bytes, &mut want).is_ok();
            proptest::prop_assert_eq!(Id::from_hex(&bytes), ok.then_some(Id(want)));
        }

        /// Every id reads back from its digits, lower or upper case.
        #[test]
        fn any_id_reads_back(raw in proptest::array::uniform32(proptest::num::u8::ANY)) {
            let lower = hex::encode(raw);
            proptest::prop_assert_eq!(Id::from_hex(lower.as_bytes()), Some(Id(raw)));
            proptest::prop_assert_eq!(Id::from_hex(lower.to_uppercase().as_bytes()), Some(Id(raw)));
        }
    }

    /// Every byte value at every position of a valid id: the arithmetic
    /// check accepts exactly the hex digits, as the reference decoder.
    #[test]
    fn from_hex_rejects_exactly_the_non_digits() {
        let base = *b"0123456789abcdefABCDEF0123456789abcdefABCDEF0123456789abcdef0123";
        for pos in 0..64 {
            for c in 0..=255u8 {
                let mut digits = base;
                digits[pos] = c;
                let mut want = [0u8; 32];
                let ok = hex::decode_to_slice(digits, &mut want).is_ok();
                assert_eq!(
                    Id::from_hex(&digits),
                    ok.then_some(Id(want)),
                    "{c:#x} at {pos}"
                );
            }
        }
    }

    #[test]
    fn hex_round_trip_and_prefix() {
        let id = Id::hash(b"");
        let s = id.to_string();
        assert_eq!(
            s,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(s.parse::<Id>().unwrap(), id);
        assert!(id.has_prefix("E3B0"));
        assert_eq!(id.short(), "e3b0c442");
        assert!("xyz".parse::<Id>().is_err());
        assert!(s[..63].parse::<Id>().is_err());
    }

    #[test]
    fn deserializes_from_json_strings_only() {
        let id = Id::hash(b"x");
        let json = format!("[\"{id}\"]");
        assert!(!json.contains('\\'));
        assert_eq!(serde_json::from_str::<Vec<Id>>(&json).unwrap(), [id]);
        // An escaped string is parsed from the deserializer's copy.
        let hex = id.to_string();
        let first = u32::from(hex.as_bytes()[0]);
        let escaped = format!("[\"\\u{first:04x}{}\"]", &hex[1..]);
        assert_eq!(serde_json::from_str::<Vec<Id>>(&escaped).unwrap(), [id]);
        for bad in ["[1]", "[\"abc\"]", "[null]"] {
            assert!(serde_json::from_str::<Vec<Id>>(bad).is_err(), "{bad}");
        }
    }
}
