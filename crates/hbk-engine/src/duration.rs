//! The one duration parser of the CLI and the plan: Go's syntax, as
//! restic's flags take it (`--stuck-request-timeout 5m0s`, `1.5h`,
//! `300ms`), plus `d` for days, which plan files use (`1d`).
//!
//! A duration is one or more numbers, each with a unit (`ns`, `us`/`µs`,
//! `ms`, `s`, `m`, `h`, `d`); numbers may have a fraction. A lone `0` is
//! zero, as in Go; anything else without a unit is refused, so `10` never
//! silently means ten nanoseconds or ten seconds.

use std::time::Duration;

use crate::{Error, Result};

/// Nanoseconds per unit, longest spelling first where one is a prefix of
/// another (`ms` before `m`).
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("min", 60_000_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration such as `5m0s`, `1.5h`, `300ms` or `1d`.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let t = s.trim();
    let invalid = |why: &str| Error::invalid("duration", format!("invalid duration {s:?}: {why}"));
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(invalid("it is empty"));
    }
    let mut rest = t;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(invalid("each part must start with a number"));
        }
        let Some(&(unit, scale)) = UNITS.iter().find(|(u, _)| after.starts_with(u)) else {
            return Err(invalid(
                "each number needs a unit (ns, us, ms, s, m, h, d), as in 5m0s or 1.5h",
            ));
        };
        total = total
            .checked_add(scaled(num, scale).ok_or_else(|| invalid("it is too large"))?)
            .ok_or_else(|| invalid("it is too large"))?;
        rest = &after[unit.len()..];
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| invalid("it is too large"))?;
    // The remainder is below 10^9 by construction.
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// `num` (digits with at most one `.`) times `scale` nanoseconds,
/// truncated to whole nanoseconds; `None` on overflow.
fn scaled(num: &str, scale: u128) -> Option<u128> {
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut value = whole.checked_mul(scale)?;
    // Digits past the 18th cannot change a u128 count of nanoseconds of a
    // unit no longer than a day.
    let mut place = scale;
    for c in frac.chars().take(18) {
        place /= 10;
        value = value.checked_add(u128::from(c.to_digit(10)?) * place)?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Duration {
        parse_duration(s).unwrap()
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(d("5m0s"), Duration::from_secs(300));
        assert_eq!(d("1.5h"), Duration::from_secs(5400));
        assert_eq!(d("300ms"), Duration::from_millis(300));
        assert_eq!(d("2h45m"), Duration::from_secs(9900));
        assert_eq!(d("1d"), Duration::from_secs(86_400));
        assert_eq!(d("10min"), Duration::from_secs(600));
        assert_eq!(d("1us"), Duration::from_micros(1));
        assert_eq!(d("1µs"), Duration::from_micros(1));
        assert_eq!(d("42ns"), Duration::from_nanos(42));
        assert_eq!(d(".5s"), Duration::from_millis(500));
        assert_eq!(d("0"), Duration::ZERO);
        assert_eq!(d(" 30s "), Duration::from_secs(30));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "10", "5y", "s", "1..5s", "-1s", "1 s", "5m0", "."] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_duration("99999999999999999999999999h").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn whole_units_add_up(h in 0u64..1000, m in 0u64..60, s in 0u64..60) {
            let text = format!("{h}h{m}m{s}s");
            prop_assert_eq!(d(&text), Duration::from_secs(h * 3600 + m * 60 + s));
        }
    }
}
