//! restic's `--keep-within*` durations: parsing, printing, and the
//! calendar arithmetic that turns one into the start of a window.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeDelta, TimeZone};

use crate::{Error, Result};

/// A calendar span as restic's `--keep-within*` flags take it, e.g.
/// `1y2m3d4h`: years, months, days and hours, each possibly negative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct KeepDuration {
    /// Years (`y`).
    pub years: i64,
    /// Months (`m`).
    pub months: i64,
    /// Days (`d`).
    pub days: i64,
    /// Hours (`h`).
    pub hours: i64,
}

impl KeepDuration {
    /// Whether every part is zero; a zero duration disables its rule.
    pub fn is_zero(&self) -> bool {
        self.years == 0 && self.months == 0 && self.days == 0 && self.hours == 0
    }

    /// The start of the window ending at `end`: `end` moved back by the
    /// years, months and days on the calendar of `end`'s own zone offset
    /// (Go's `AddDate`, which normalises overflowing months and days, so
    /// 31 March minus one month is 3 March, or 2 March in a leap year),
    /// then back by the hours as elapsed time. Saturates at the ends of
    /// the representable range.
    ///
    /// One difference remains: Go gives a parsed time the process's local
    /// zone when its offset is that zone's offset at that instant, and
    /// `AddDate` then keeps the wall clock across a daylight saving
    /// change. With such a local zone (not UTC) and a window spanning a
    /// change, restic's start moves by the shift (an hour); hbk stays in
    /// the snapshot's fixed offset.
    pub fn window_start(&self, end: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
        // A positive span moves into the past; overflowing it means "before
        // everything", overflowing a negative one "after everything".
        let clamp = |forward: bool| {
            if forward {
                DateTime::<chrono::Utc>::MAX_UTC.fixed_offset()
            } else {
                DateTime::<chrono::Utc>::MIN_UTC.fixed_offset()
            }
        };
        let calendar_forward = (self.years, self.months, self.days) < (0, 0, 0);
        let Some(moved) = add_date(end, -self.years, -self.months, -self.days) else {
            return clamp(calendar_forward);
        };
        let Some(delta) = TimeDelta::try_hours(self.hours) else {
            return clamp(self.hours < 0);
        };
        moved
            .checked_sub_signed(delta)
            .unwrap_or_else(|| clamp(self.hours < 0))
    }
}

/// Go's `time.Time.AddDate` for a time in a fixed zone offset: add to the
/// year, month and day fields, then normalise (months beyond 12 carry into
/// years, days beyond the month's end carry into following months).
fn add_date(
    t: DateTime<FixedOffset>,
    years: i64,
    months: i64,
    days: i64,
) -> Option<DateTime<FixedOffset>> {
    let local = t.naive_local();
    let month0 = i64::from(local.month0()).checked_add(months)?;
    let year = i64::from(local.year())
        .checked_add(years)?
        .checked_add(month0.div_euclid(12))?;
    let month = u32::try_from(month0.rem_euclid(12)).ok()? + 1;
    let first = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, 1)?;
    let day_offset = i64::from(local.day0()).checked_add(days)?;
    let date = first.checked_add_signed(TimeDelta::try_days(day_offset)?)?;
    t.offset()
        .from_local_datetime(&date.and_time(local.time()))
        .single()
}

impl FromStr for KeepDuration {
    type Err = Error;

    /// Parses restic's syntax: surrounding white space is ignored, then
    /// pairs of a number (optionally negative) and a unit `y`, `m`, `d` or
    /// `h`. A unit given twice keeps the last value; the empty string is
    /// the zero duration.
    fn from_str(s: &str) -> Result<KeepDuration> {
        let mut d = KeepDuration::default();
        let mut rest = s.trim();
        while !rest.is_empty() {
            let (negative, unsigned) = match rest.strip_prefix('-') {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let digits = unsigned
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(unsigned.len());
            if digits == 0 {
                return Err(Error::invalid("keep duration", "no number found"));
            }
            let magnitude: i64 = unsigned[..digits].parse().map_err(|_| {
                Error::invalid(
                    "keep duration",
                    format!("number {} is out of range", &unsigned[..digits]),
                )
            })?;
            let num = if negative { -magnitude } else { magnitude };
            rest = &unsigned[digits..];
            let Some(unit) = rest.chars().next() else {
                return Err(Error::invalid(
                    "keep duration",
                    format!("no unit found after number {num}"),
                ));
            };
            match unit {
                'y' => d.years = num,
                'm' => d.months = num,
                'd' => d.days = num,
                'h' => d.hours = num,
                other => {
                    return Err(Error::invalid(
                        "keep duration",
                        format!("invalid unit '{other}' found after number {num}"),
                    ))
                }
            }
            rest = &rest[unit.len_utf8()..];
        }
        Ok(d)
    }
}

impl serde::Serialize for KeepDuration {
    /// As restic writes it (`1y2m`).
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for KeepDuration {
    /// From restic's syntax (`7d`, `1y2m`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for KeepDuration {
    /// restic's form: the non-zero parts in the order y, m, d, h.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}
