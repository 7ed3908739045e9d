//! Timestamps as Go's `encoding/json` writes `time.Time`: RFC 3339 with up
//! to nine fraction digits (trailing zeros dropped) and the zone offset kept.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Timelike};

/// A point in time with its zone offset, as stored in snapshots and nodes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GoTime(pub DateTime<FixedOffset>);

impl GoTime {
    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        self.0.timestamp()
    }

    /// Seconds since the Unix epoch rounded to the nearest second, halves
    /// up, as Go's `Time.Round(time.Second)` (restic's tar headers).
    pub fn unix_seconds_rounded(&self) -> i64 {
        self.unix_seconds() + i64::from(self.nanos() >= 500_000_000)
    }

    /// The nanoseconds within the second.
    pub fn nanos(&self) -> u32 {
        self.0.timestamp_subsec_nanos()
    }

    /// From Unix seconds and nanoseconds, in the given offset (seconds east).
    pub fn from_unix(secs: i64, nanos: u32, offset_secs: i32) -> Option<GoTime> {
        let off = FixedOffset::east_opt(offset_secs)?;
        off.timestamp_opt(secs, nanos).single().map(GoTime)
    }

    /// Whether both are the same instant written with the same offset, so
    /// they encode to the same text (`==` compares instants only).
    pub fn is_identical(&self, other: &GoTime) -> bool {
        self == other && self.0.offset() == other.0.offset()
    }

    /// The current time in the local zone.
    pub fn now() -> GoTime {
        GoTime(chrono::Local::now().fixed_offset())
    }

    /// The year clamped into 0..=9999, as restic does before encoding node
    /// times (JSON cannot carry other years).
    pub fn clamp_year(self) -> GoTime {
        let y = self.0.year();
        if (0..=9999).contains(&y) {
            return self;
        }
        let year = y.clamp(0, 9999);
        self.0.with_year(year).map(GoTime).unwrap_or(self)
    }
}

impl Default for GoTime {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    fn default() -> Self {
        let utc = FixedOffset::east_opt(0).expect("zero offset is valid");
        GoTime(
            utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
                .single()
                .expect("year 1 is representable"),
        )
    }
}

impl fmt::Display for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        let nanos = t.nanosecond() % 1_000_000_000;
        if nanos != 0 {
            let digits = format!("{nanos:09}");
            write!(f, ".{}", digits.trim_end_matches('0'))?;
        }
        let off = t.offset().local_minus_utc();
        if off == 0 {
            f.write_str("Z")
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
        }
    }
}

impl fmt::Debug for GoTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a time string is not an RFC 3339 time as Go reads it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseTimeError {
    /// Not RFC 3339.
    #[error(transparent)]
    Format(#[from] chrono::ParseError),
    /// Second 60: chrono keeps a leap second, which hbk would write back
    /// as second 59 (Go rejects it: "second out of range").
    #[error("second out of range")]
    LeapSecond,
}

impl std::str::FromStr for GoTime {
    type Err = ParseTimeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = DateTime::parse_from_rfc3339(s)?;
        if t.nanosecond() >= 1_000_000_000 {
            return Err(ParseTimeError::LeapSecond);
        }
        Ok(GoTime(t))
    }
}

impl serde::Serialize for GoTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s: std::borrow::Cow<'de, str> = serde::Deserialize::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rounds_to_the_nearest_second_halves_up() {
        let at = |nanos| GoTime::from_unix(1_700_000_059, nanos, 3600).unwrap();
        assert_eq!(at(0).unix_seconds_rounded(), 1_700_000_059);
        assert_eq!(at(499_999_999).unix_seconds_rounded(), 1_700_000_059);
        assert_eq!(at(500_000_000).unix_seconds_rounded(), 1_700_000_060);
        assert_eq!(at(999_999_999).unix_seconds_rounded(), 1_700_000_060);
        let before_epoch = GoTime::from_unix(-2, 700_000_000, 0).unwrap();
        assert_eq!(before_epoch.unix_seconds_rounded(), -1);
    }

    use super::*;

    #[test]
    fn formats_like_go() {
        for s in [
            "2026-11-26T23:42:39.94494334Z",
            "2024-01-02T03:04:05.1+01:30",
            "1970-01-01T00:00:00Z",
            "2100-06-30T12:00:00.000000001-07:00",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(s.parse::<GoTime>().unwrap().to_string(), s);
        }
        assert_eq!(GoTime::default().to_string(), "0001-01-01T00:00:00Z");
    }

    /// Found by the `tree` and `snapshot` fuzz targets: a time at second
    /// 60 parsed (as a leap second) but was written back as second 59,
    /// so rewriting a snapshot changed its time; Go rejects it.
    #[test]
    fn second_60_is_rejected() {
        for s in ["2026-11-26T23:47:60.758435432Z", "2016-12-31T23:59:60Z"] {
            assert_eq!(s.parse::<GoTime>(), Err(ParseTimeError::LeapSecond), "{s}");
        }
        let snapshot = br#"{"time":"2026-11-26T23:47:60.615109939Z","tree":"41dfd80213e7fce0f4123cbe305d15b3cdbe7cc76ce686c7fb42445043086dcd"}"#;
        assert!(crate::SnapshotFile::from_json(snapshot).is_err());
    }

    #[test]
    fn unix_parts() {
        let t: GoTime = "1970-01-01T01:00:01.5+01:00".parse().unwrap();
        assert_eq!((t.unix_seconds(), t.nanos()), (1, 500_000_000));
    }
}
