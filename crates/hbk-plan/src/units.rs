//! Durations (`500ms`, `30s`, `10m`, `2h`, `1d`, `1h30m`) and sizes (`512MiB`,
//! `10G`, `16m`) as the plan file writes them.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as numbers with units: `ms`, `s`, `m`, `h`, `d`
/// (and Go's other spellings, e.g. `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl std::str::FromStr for Span {
    type Err = String;

    /// Parsed by the engine's one duration parser
    /// ([`hbk_engine::duration::parse_duration`]).
    fn from_str(s: &str) -> Result<Span, String> {
        hbk_engine::duration::parse_duration(s)
            .map(Span)
            .map_err(|e| e.to_string())
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if (ms / 1000) * 1000 != ms {
            write!(f, "{ms}ms")
        } else if ms > 0 && (ms / 3_600_000) * 3_600_000 == ms {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms > 0 && (ms / 60_000) * 60_000 == ms {
            write!(f, "{}m", ms / 60_000)
        } else {
            write!(f, "{}s", ms / 1000)
        }
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// A size in bytes written as a number and an optional unit, parsed by
/// the engine's one size parser ([`hbk_engine::size::parse_size`]):
/// `512`, `16m`, `16MiB`, `10G` (powers of 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(s: &str) -> Result<Size, String> {
        hbk_engine::size::parse_size(s)
            .map(Size)
            .map_err(|e| e.to_string())
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Size {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}", self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn spans_and_sizes_parse() {
        assert_eq!("30s".parse::<Span>().unwrap().0, Duration::from_secs(30));
        assert_eq!(
            "250ms".parse::<Span>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!("2h".parse::<Span>().unwrap().0, Duration::from_secs(7200));
        assert!("10".parse::<Span>().is_err());
        assert!("5y".parse::<Span>().is_err());
        assert_eq!("1GiB".parse::<Size>().unwrap().0, 1 << 30);
        assert_eq!("512M".parse::<Size>().unwrap().0, 512 << 20);
        assert_eq!("100".parse::<Size>().unwrap().0, 100);
        assert_eq!("16m".parse::<Size>().unwrap().0, 16 << 20);
        assert!("1X".parse::<Size>().is_err());
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,12}") {
            let _ = s.parse::<Span>();
            let _ = s.parse::<Size>();
        }

        #[test]
        fn span_display_round_trips(ms in 0u64..10_000_000_000) {
            let span = Span(Duration::from_millis(ms));
            prop_assert_eq!(span.to_string().parse::<Span>().unwrap(), span);
        }
    }
}
