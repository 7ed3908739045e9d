//! Sizes as restic's flags spell them: a number with an optional `b`, `k`,
//! `m`, `g` or `t` suffix, in powers of 1024.

use crate::{Error, Result};

/// Parses a size such as `512`, `16M` or `2g`.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let invalid = || Error::InvalidOptions(format!("invalid size {s:?}"));
    let (num, shift) = match s.chars().last().map(|c| c.to_ascii_lowercase()) {
        Some('b') => (&s[..s.len() - 1], 0),
        Some('k') => (&s[..s.len() - 1], 10),
        Some('m') => (&s[..s.len() - 1], 20),
        Some('g') => (&s[..s.len() - 1], 30),
        Some('t') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = num.trim().parse().map_err(|_| invalid())?;
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| Error::InvalidOptions(format!("size {s:?} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("7b").unwrap(), 7);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_size(" 2g ").unwrap(), 2 << 30);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "M", "1.5M", "-1", "12x", "99999999999999999999t"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
