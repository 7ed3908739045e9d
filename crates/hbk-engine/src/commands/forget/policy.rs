//! Keep policies: which snapshots of one group `forget` keeps, decided by
//! the rules restic 0.14 applies. Pure code: the caller passes the
//! snapshots and the current time, nothing is read or written.
//!
//! Newer restic versions differ in ways not followed here, because
//! restic 0.14 is the reference: restic ≥ 0.16 accepts `unlimited` (-1)
//! counts and keeps the oldest snapshot of a group when a count rule still
//! has budget left at the end ("oldest …" reasons); restic ≥ 0.17 refuses
//! a policy that would remove every snapshot of a group, and newer
//! versions refuse an empty policy instead of removing nothing.

use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use hbk_repo::{GoTime, Id, SnapshotFile};

use super::duration::KeepDuration;

/// Splits a `--keep-tag`/`--tag` argument as restic does: at commas, with
/// white space trimmed around each tag and empty tags kept (an empty tag
/// matches snapshots without tags).
pub fn parse_tag_list(arg: &str) -> Vec<String> {
    arg.split(',').map(|t| t.trim().to_string()).collect()
}

/// Whether a snapshot with tags `have` matches the tag list `want`
/// (restic's `HasTags`): it must carry every tag of the list, except that
/// an empty tag, reached before any tag that fails, matches a snapshot
/// without tags.
pub fn has_tag_list(have: &[String], want: &[String]) -> bool {
    for tag in want {
        if tag.is_empty() && have.is_empty() {
            return true;
        }
        if !have.contains(tag) {
            return false;
        }
    }
    true
}

/// What to keep, as restic's `--keep-*` options say it: the one keep
/// policy of hbk. The CLI builds it from its flags; the plan's
/// `retention` section deserializes into it, each rule under its restic
/// name with `_` for `-` (`keep_last`, `keep_within_daily`, `keep_tag`,
/// the latter a list of comma-separated tag lists). Absent and zero
/// values disable a rule; negative counts (accepted by restic 0.14) make
/// the policy non-empty but keep nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepPolicy {
    /// `--keep-last n`.
    #[serde(rename = "keep_last", skip_serializing_if = "Option::is_none")]
    pub last: Option<i64>,
    /// `--keep-hourly n`.
    #[serde(rename = "keep_hourly", skip_serializing_if = "Option::is_none")]
    pub hourly: Option<i64>,
    /// `--keep-daily n`.
    #[serde(rename = "keep_daily", skip_serializing_if = "Option::is_none")]
    pub daily: Option<i64>,
    /// `--keep-weekly n`.
    #[serde(rename = "keep_weekly", skip_serializing_if = "Option::is_none")]
    pub weekly: Option<i64>,
    /// `--keep-monthly n`.
    #[serde(rename = "keep_monthly", skip_serializing_if = "Option::is_none")]
    pub monthly: Option<i64>,
    /// `--keep-yearly n`.
    #[serde(rename = "keep_yearly", skip_serializing_if = "Option::is_none")]
    pub yearly: Option<i64>,
    /// `--keep-within d`: everything newer than the latest snapshot minus `d`.
    #[serde(rename = "keep_within", skip_serializing_if = "Option::is_none")]
    pub within: Option<KeepDuration>,
    /// `--keep-within-hourly d`.
    #[serde(rename = "keep_within_hourly", skip_serializing_if = "Option::is_none")]
    pub within_hourly: Option<KeepDuration>,
    /// `--keep-within-daily d`.
    #[serde(rename = "keep_within_daily", skip_serializing_if = "Option::is_none")]
    pub within_daily: Option<KeepDuration>,
    /// `--keep-within-weekly d`.
    #[serde(rename = "keep_within_weekly", skip_serializing_if = "Option::is_none")]
    pub within_weekly: Option<KeepDuration>,
    /// `--keep-within-monthly d`.
    #[serde(
        rename = "keep_within_monthly",
        skip_serializing_if = "Option::is_none"
    )]
    pub within_monthly: Option<KeepDuration>,
    /// `--keep-within-yearly d`.
    #[serde(rename = "keep_within_yearly", skip_serializing_if = "Option::is_none")]
    pub within_yearly: Option<KeepDuration>,
    /// `--keep-tag a,b` (repeatable): snapshots carrying every tag of any
    /// one list (see [`parse_tag_list`], [`has_tag_list`]). Serialized as
    /// restic's arguments, one `a,b` string per list.
    #[serde(
        rename = "keep_tag",
        with = "tag_lists",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub keep_tags: Vec<Vec<String>>,
}

/// `keep_tags` as a list of restic `--keep-tag` arguments.
mod tag_lists {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<String>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|l| l.join(",")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<String>>, D::Error> {
        let args = Vec::<String>::deserialize(d)?;
        Ok(args.iter().map(|a| super::parse_tag_list(a)).collect())
    }
}

/// The period a bucket rule counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// Every snapshot is its own bucket (`--keep-last`).
    Snapshot,
    /// `YYYYMMDDHH`.
    Hour,
    /// `YYYYMMDD`.
    Day,
    /// ISO year · 100 + ISO week (weeks start on Monday; week 1 holds the
    /// year's first Thursday).
    Week,
    /// `YYYYMM`.
    Month,
    /// `YYYY`.
    Year,
}

impl Period {
    /// The bucket key of the snapshot at position `nr` (newest first) with
    /// time `t`, computed on the calendar of `t`'s own zone offset.
    pub fn bucket(self, t: &DateTime<FixedOffset>, nr: usize) -> i64 {
        let year = i64::from(t.year());
        let month = i64::from(t.month());
        let day = i64::from(t.day());
        let hour = i64::from(t.hour());
        match self {
            Period::Snapshot => i64::try_from(nr).unwrap_or(i64::MAX),
            Period::Hour => year * 1_000_000 + month * 10_000 + day * 100 + hour,
            Period::Day => year * 10_000 + month * 100 + day,
            Period::Week => {
                let w = t.iso_week();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Period::Month => year * 100 + month,
            Period::Year => year,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Period::Snapshot => "last",
            Period::Hour => "hourly",
            Period::Day => "daily",
            Period::Week => "weekly",
            Period::Month => "monthly",
            Period::Year => "yearly",
        }
    }
}

/// The "last kept bucket" every rule starts with, as in restic (so a
/// snapshot from the year -1 never starts a yearly bucket, exactly as there).
const NO_BUCKET: i64 = -1;

const COUNT_PERIODS: [Period; 6] = [
    Period::Snapshot,
    Period::Hour,
    Period::Day,
    Period::Week,
    Period::Month,
    Period::Year,
];

const WITHIN_PERIODS: [Period; 5] = [
    Period::Hour,
    Period::Day,
    Period::Week,
    Period::Month,
    Period::Year,
];

impl KeepPolicy {
    fn counts(&self) -> [i64; 6] {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .map(|c| c.unwrap_or(0))
    }

    fn within_buckets(&self) -> [KeepDuration; 5] {
        [
            self.within_hourly,
            self.within_daily,
            self.within_weekly,
            self.within_monthly,
            self.within_yearly,
        ]
        .map(Option::unwrap_or_default)
    }

    fn within_all(&self) -> KeepDuration {
        self.within.unwrap_or_default()
    }

    /// Whether no rule is set (all counts zero, all durations zero, no
    /// tag lists). `forget` removes nothing under an empty policy.
    pub fn is_empty(&self) -> bool {
        self.keep_tags.is_empty()
            && self.counts().iter().all(|&c| c == 0)
            && self.within_all().is_zero()
            && self.within_buckets().iter().all(KeepDuration::is_zero)
    }
}

impl fmt::Display for KeepPolicy {
    /// The sentence restic prints after "Applying Policy: ", e.g.
    /// `keep 1 latest, 2 daily snapshots and all snapshots within 1d of
    /// the newest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts: Vec<String> = Vec::new();
        for (n, p) in self.counts().into_iter().zip(COUNT_PERIODS) {
            if n > 0 {
                let word = if p == Period::Snapshot {
                    "latest"
                } else {
                    p.name()
                };
                counts.push(format!("{n} {word}"));
            }
        }
        let windows: Vec<String> = self
            .within_buckets()
            .into_iter()
            .zip(WITHIN_PERIODS)
            .filter(|(d, _)| !d.is_zero())
            .map(|(d, p)| format!("{} snapshots within {d}", p.name()))
            .collect();
        let mut s = String::new();
        if !counts.is_empty() {
            s = format!("{} snapshots", counts.join(", "));
        }
        if !windows.is_empty() {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(&windows.join(", "));
        }
        if !self.keep_tags.is_empty() {
            if !s.is_empty() {
                s.push_str(" and ");
            }
            let lists: Vec<String> = self.keep_tags.iter().map(|l| tag_list_string(l)).collect();
            s.push_str(&format!("all snapshots with tags [{}]", lists.join(" ")));
        }
        let within = self.within_all();
        if !within.is_zero() {
            if !s.is_empty() {
                s.push_str(" and ");
            }
            s.push_str(&format!("all snapshots within {within} of the newest"));
        }
        write!(f, "keep {s}")
    }
}

/// A tag list as restic prints it: `[a, b]`.
fn tag_list_string(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

/// The budgets of the count rules left after a snapshot was decided
/// (restic's `counters` in `forget --json`; zero budgets are omitted there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// `--keep-last` budget left.
    pub last: i64,
    /// `--keep-hourly` budget left.
    pub hourly: i64,
    /// `--keep-daily` budget left.
    pub daily: i64,
    /// `--keep-weekly` budget left.
    pub weekly: i64,
    /// `--keep-monthly` budget left.
    pub monthly: i64,
    /// `--keep-yearly` budget left.
    pub yearly: i64,
}

impl Counters {
    fn from_budgets(b: [i64; 6]) -> Counters {
        Counters {
            last: b[0],
            hourly: b[1],
            daily: b[2],
            weekly: b[3],
            monthly: b[4],
            yearly: b[5],
        }
    }

    /// The non-zero budgets with restic's JSON names, in restic's order.
    pub fn non_zero(&self) -> Vec<(&'static str, i64)> {
        [
            ("last", self.last),
            ("hourly", self.hourly),
            ("daily", self.daily),
            ("weekly", self.weekly),
            ("monthly", self.monthly),
            ("yearly", self.yearly),
        ]
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .collect()
    }
}

/// Why one snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeepReason {
    /// The snapshot.
    pub id: Id,
    /// The rules that keep it, as restic words them: `has tags [a, b]`,
    /// `within 1y2m`, `last snapshot`, `hourly snapshot`, …, `yearly
    /// snapshot`, `hourly within 2d`, …, `yearly within 5y` (in that order),
    /// or `policy is empty`.
    pub matches: Vec<String>,
    /// The count budgets left after this snapshot.
    pub counters: Counters,
}

/// The decision for one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// Kept snapshots, newest first, with their reasons.
    pub keep: Vec<KeepReason>,
    /// Snapshots to remove, newest first.
    pub remove: Vec<Id>,
}

/// The time the `--keep-within*` windows end at: the newest snapshot time
/// that is strictly before `now` (snapshots from the future are skipped),
/// or Go's zero time (year 1) when there is none.
pub fn latest_time(
    snapshots: &[(Id, SnapshotFile)],
    now: DateTime<FixedOffset>,
) -> DateTime<FixedOffset> {
    let mut latest = GoTime::default().0;
    for (_, sn) in snapshots {
        let t = sn.time.0;
        if t > latest && t < now {
            latest = t;
        }
    }
    latest
}

/// Decides which snapshots of one group to keep, as restic 0.14's
/// `ApplyPolicy` does:
///
/// * snapshots are walked newest first (a stable sort by time, so equal
///   times stay in the given order); a snapshot is kept when any rule
///   keeps it;
/// * `keep_tags`: each list a snapshot matches keeps it; uses no budget;
/// * `within`: kept when strictly newer than the window start (see
///   [`KeepDuration::window_start`], ending at [`latest_time`]);
/// * each count rule with budget left keeps a snapshot whose bucket key
///   ([`Period::bucket`]) differs from that of the last snapshot the rule
///   kept, and spends one;
/// * each `within_*` rule keeps, inside its window, a snapshot whose bucket
///   differs from that of the last snapshot the rule kept; no budget.
///
/// An empty policy keeps everything ("policy is empty").
pub fn apply_policy(
    snapshots: &[(Id, SnapshotFile)],
    policy: &KeepPolicy,
    now: DateTime<FixedOffset>,
) -> PolicyOutcome {
    let mut order: Vec<usize> = (0..snapshots.len()).collect();
    order.sort_by(|&a, &b| snapshots[b].1.time.cmp(&snapshots[a].1.time));
    let mut out = PolicyOutcome::default();
    if policy.is_empty() {
        out.keep = order
            .iter()
            .map(|&i| KeepReason {
                id: snapshots[i].0,
                matches: vec!["policy is empty".into()],
                counters: Counters::default(),
            })
            .collect();
        return out;
    }
    if snapshots.is_empty() {
        return out;
    }
    let latest = latest_time(snapshots, now);
    let within = policy.within_all();
    let within_start = (!within.is_zero()).then(|| within.window_start(latest));
    let mut budgets = policy.counts();
    let mut count_last = [NO_BUCKET; 6];
    let windows: Vec<(Period, KeepDuration, DateTime<FixedOffset>)> = WITHIN_PERIODS
        .into_iter()
        .zip(policy.within_buckets())
        .filter(|(_, d)| !d.is_zero())
        .map(|(p, d)| (p, d, d.window_start(latest)))
        .collect();
    let mut window_last = vec![NO_BUCKET; windows.len()];

    for (nr, &i) in order.iter().enumerate() {
        let (id, sn) = &snapshots[i];
        let t = sn.time.0;
        let mut matches: Vec<String> = Vec::new();
        for list in &policy.keep_tags {
            if has_tag_list(&sn.tags, list) {
                matches.push(format!("has tags {}", tag_list_string(list)));
            }
        }
        if let Some(start) = within_start {
            if t > start {
                matches.push(format!("within {within}"));
            }
        }
        for (k, period) in COUNT_PERIODS.into_iter().enumerate() {
            if budgets[k] > 0 {
                let key = period.bucket(&t, nr);
                if count_last[k] != key {
                    count_last[k] = key;
                    budgets[k] -= 1;
                    matches.push(format!("{} snapshot", period.name()));
                }
            }
        }
        for (k, (period, d, start)) in windows.iter().enumerate() {
            if t > *start {
                let key = period.bucket(&t, nr);
                if window_last[k] != key {
                    window_last[k] = key;
                    matches.push(format!("{} within {d}", period.name()));
                }
            }
        }
        if matches.is_empty() {
            out.remove.push(*id);
        } else {
            out.keep.push(KeepReason {
                id: *id,
                matches,
                counters: Counters::from_budgets(budgets),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;
