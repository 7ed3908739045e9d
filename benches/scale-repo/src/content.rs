//! Deterministic, unique pseudo-random blob contents.
//!
//! Blob `i` of a repository made with seed `s` is always the same bytes, so
//! a repository can be regenerated and a blob's content recomputed (the
//! snapshot's file is blob 0) without keeping anything in memory.

/// Shortest blob content in bytes.
pub const MIN_LEN: usize = 16;
/// Longest blob content in bytes.
pub const MAX_LEN: usize = 64;

/// SplitMix64's finaliser: a bijection on `u64`, so distinct inputs give
/// distinct outputs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Writes blob `index`'s content into `out` (cleared first): 16 to 64
/// bytes. The first eight bytes are a bijection of `index` for a given
/// seed, so no two blobs of one repository are equal; the rest is a
/// SplitMix64 stream.
pub fn blob_content(seed: u64, index: u64, out: &mut Vec<u8>) {
    out.clear();
    let head = mix(index ^ mix(seed));
    let mut state = head;
    let len = MIN_LEN + (mix(head) % (MAX_LEN - MIN_LEN + 1) as u64) as usize;
    out.extend_from_slice(&head.to_le_bytes());
    while out.len() < len {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let word = mix(state).to_le_bytes();
        let take = (len - out.len()).min(word.len());
        out.extend_from_slice(word.get(..take).unwrap_or(&word));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_unique_sized_and_repeatable() {
        let mut seen = std::collections::HashSet::new();
        let mut buf = Vec::new();
        for i in 0..20_000 {
            blob_content(7, i, &mut buf);
            assert!((MIN_LEN..=MAX_LEN).contains(&buf.len()));
            assert!(seen.insert(buf.clone()));
        }
        let mut again = Vec::new();
        blob_content(7, 19_999, &mut again);
        assert_eq!(again, buf);
        blob_content(8, 19_999, &mut again);
        assert_ne!(again, buf);
    }
}
