//! The one size parser of the CLI and the plan: a whole number with an
//! optional unit, in powers of 1024 as restic counts. Units are
//! case-insensitive and spelled as restic's flags write them (`b`, `k`,
//! `m`, `g`, `t`) or as people do (`KiB`, `MiB`, `GiB`, `TiB`, and `KB`,
//! `MB`, … which mean the same binary multiples, as in restic).

use crate::{Error, Result};

/// Parses a size such as `512`, `16M`, `2g`, `16MiB` or `1 GB`.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let invalid = |why: &str| Error::invalid("size", format!("invalid size {s:?}: {why}"));
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(invalid("it must start with a whole number"));
    }
    let n: u64 = num
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(invalid(
                "the unit must be one of b, k, m, g, t, KiB, MiB, GiB, TiB",
            ))
        }
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| invalid("it is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("7b").unwrap(), 7);
        assert_eq!(parse_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_size(" 2g ").unwrap(), 2 << 30);
        assert_eq!(parse_size("1T").unwrap(), 1 << 40);
    }

    #[test]
    fn long_units_are_binary_too() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("16mib").unwrap(), 16 << 20);
        assert_eq!(parse_size("16MB").unwrap(), 16 << 20);
        assert_eq!(parse_size("1 GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("3KB").unwrap(), 3 << 10);
        assert_eq!(parse_size("2TiB").unwrap(), 2 << 40);
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in [
            "",
            "M",
            "1.5M",
            "-1",
            "12x",
            "99999999999999999999t",
            "1 M B",
            "1PiB",
            "MiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,16}") {
            let _ = parse_size(&s);
        }

        #[test]
        fn every_spelling_agrees(n in 0u64..1_000_000, unit in 0usize..5, style in 0usize..4) {
            let short = ["b", "k", "m", "g", "t"][unit];
            let spelled = match (style, unit) {
                (0, _) => short.to_string(),
                (1, _) => short.to_uppercase(),
                (2, 0) => "B".to_string(),
                (2, _) => format!("{}iB", short.to_uppercase()),
                (_, 0) => "b".to_string(),
                (_, _) => format!("{}B", short.to_uppercase()),
            };
            let want = n << (10 * unit as u32);
            prop_assert_eq!(parse_size(&format!("{n}{spelled}")).unwrap(), want);
        }
    }
}
