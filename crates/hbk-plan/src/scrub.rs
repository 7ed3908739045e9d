//! Scrub rotation, as PBS verify jobs do it for datastores: each run
//! reads and verifies a slice of a repository's packs — those verified
//! longest ago first — so that every pack is verified within a window of
//! days. What was verified when is remembered in a state file per
//! repository (`STATE_DIR/scrub/NAME.json`).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use hbk_engine::commands::check::{check, CheckOptions};
use hbk_engine::progress::NoProgress;
use hbk_repo::{FileType, Id};
use serde::{Deserialize, Serialize};

use crate::engine::RepoTarget;
use crate::report::{write_atomic, ScrubStatus};
use crate::{Error, Result};

/// What the scrub knows of one pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackSeen {
    /// When the scrub first saw it (the window of a pack never read yet
    /// runs from here).
    pub seen: DateTime<Utc>,
    /// When it last read and verified it.
    #[serde(default)]
    pub verified: Option<DateTime<Utc>>,
}

impl PackSeen {
    /// The time its window runs from.
    fn since(&self) -> DateTime<Utc> {
        self.verified.unwrap_or(self.seen)
    }
}

/// A repository's scrub memory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScrubState {
    /// The last scrub.
    #[serde(default)]
    pub last_run: Option<DateTime<Utc>>,
    /// Every pack the repository held at the last scrub, by hex id.
    #[serde(default)]
    pub packs: BTreeMap<String, PackSeen>,
}

impl ScrubState {
    /// Reads the state file; missing or unreadable gives a fresh state (a
    /// scrub then starts its rotation over; nothing is lost but time).
    pub fn load(path: &Path) -> ScrubState {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes it atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(path, &text)
    }

    /// Brings the pack list up to `present` (new packs are seen now,
    /// vanished ones are forgotten), and returns the packs to read now:
    /// every pack whose window has run out, and at least the share of the
    /// packs that the days since the last scrub stand for, oldest
    /// verification first.
    pub fn plan(&mut self, present: &[Id], within_days: u32, now: DateTime<Utc>) -> Vec<Id> {
        let old = std::mem::take(&mut self.packs);
        for id in present {
            let hex = id.to_hex();
            let seen = old.get(&hex).copied().unwrap_or(PackSeen {
                seen: now,
                verified: None,
            });
            self.packs.insert(hex, seen);
        }
        let days = within_days.max(1);
        let elapsed = self.last_run.map_or(1.0, |t| {
            ((now - t).num_seconds() as f64 / 86_400.0).max(0.0)
        });
        let n = self.packs.len();
        let share = ((n as f64 * elapsed / f64::from(days)).ceil() as usize).clamp(n.min(1), n);
        let window = chrono::Duration::days(days.into());
        let mut order: Vec<(&String, &PackSeen)> = self.packs.iter().collect();
        order.sort_by_key(|(hex, p)| (p.verified.is_some(), p.since(), *hex));
        let overdue = order
            .iter()
            .filter(|(_, p)| now - p.since() >= window)
            .count();
        order
            .into_iter()
            .take(share.max(overdue))
            .filter_map(|(hex, _)| hex.parse().ok())
            .collect()
    }

    /// Marks `verified` as read and intact now, and the run as done.
    pub fn record(&mut self, verified: &[Id], now: DateTime<Utc>) {
        for id in verified {
            if let Some(p) = self.packs.get_mut(&id.to_hex()) {
                p.verified = Some(now);
            }
        }
        self.last_run = Some(now);
    }

    /// Where the rotation stands.
    pub fn status(&self, within_days: u32, verified_now: usize, now: DateTime<Utc>) -> ScrubStatus {
        let window = chrono::Duration::days(within_days.into());
        let within = |p: &&PackSeen| p.verified.is_some_and(|t| now - t < window);
        ScrubStatus {
            time: now,
            within_days,
            packs: self.packs.len(),
            verified_now,
            verified_within: self.packs.values().filter(within).count(),
            overdue: self
                .packs
                .values()
                .filter(|p| now - p.since() >= window)
                .count(),
        }
    }
}

/// What one scrub did.
#[derive(Debug, Clone)]
pub struct ScrubOutcome {
    /// Where the rotation stands now.
    pub status: ScrubStatus,
    /// Packs found damaged or missing (what healing repairs).
    pub damaged: Vec<Id>,
    /// Every error the check found.
    pub errors: Vec<String>,
}

/// Scrubs `repo`: reads this run's slice of its packs (with the keys,
/// the index and the pack list; not the snapshots' trees), remembers the
/// ones that verified in `state_file`.
pub fn scrub_repository(
    repo: &RepoTarget,
    state_file: &Path,
    within_days: u32,
    now: DateTime<Utc>,
) -> Result<ScrubOutcome> {
    let r = repo.open_uncached();
    let present: Vec<Id> = r
        .list(FileType::Pack)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut state = ScrubState::load(state_file);
    let slice = state.plan(&present, within_days, now);
    // The pack bytes are what a scrub verifies; the snapshots' trees are
    // the drills' part (reading every tree daily from a remote copy would
    // cost its whole metadata in downloads).
    let opts = CheckOptions {
        read_packs: Some(slice.clone()),
        snapshots: Some(Vec::new()),
        ..CheckOptions::default()
    };
    let report = check(&r, &opts, &NoProgress)?;
    let damaged = report.packs_to_repair();
    let verified: Vec<Id> = slice
        .iter()
        .filter(|id| !damaged.contains(id))
        .copied()
        .collect();
    state.record(&verified, now);
    state.save(state_file)?;
    Ok(ScrubOutcome {
        status: state.status(within_days, verified.len(), now),
        damaged,
        errors: report.errors.iter().map(|e| e.to_string()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<Id> {
        (0..n).map(|i| Id([i; 32])).collect()
    }

    #[test]
    fn daily_runs_verify_every_pack_within_the_window() {
        let packs = ids(30);
        let mut s = ScrubState::default();
        let start: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
        for day in 0..=12 {
            let now = start + chrono::Duration::days(day);
            let slice = s.plan(&packs, 10, now);
            assert!((3..=4).contains(&slice.len()), "day {day}: {}", slice.len());
            s.record(&slice, now);
            let st = s.status(10, slice.len(), now);
            assert_eq!(st.overdue, 0, "day {day}");
            assert_eq!(st.verified_within, (3 * (day as usize + 1)).min(30));
        }
        // Ten days without runs: the next one catches up on what is due.
        let later = start + chrono::Duration::days(22);
        assert_eq!(s.plan(&packs, 10, later).len(), 30);
    }

    #[test]
    fn new_packs_join_and_vanished_ones_leave() {
        let mut s = ScrubState::default();
        let now: DateTime<Utc> = "2026-12-01T03:00:00Z".parse().unwrap();
        let first = s.plan(&ids(4), 30, now);
        s.record(&first, now);
        let mut packs = ids(4)[1..].to_vec();
        packs.push(Id([9; 32]));
        let next = now + chrono::Duration::days(1);
        let slice = s.plan(&packs, 30, next);
        assert_eq!(s.packs.len(), 4);
        assert_eq!(
            slice,
            [Id([1; 32])],
            "unverified and seen longest ago first"
        );
        assert!(s.packs.contains_key(&Id([9; 32]).to_hex()));
        assert!(!s.packs.contains_key(&Id([0; 32]).to_hex()));
        assert_eq!(first, vec![Id([0; 32])]);
        assert_eq!(
            s.status(30, 0, next).verified_within,
            0,
            "the verified pack left"
        );
    }
}
