//! Steps 5, 6 and 8: copies, retention and the report.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hbk_engine::commands::forget::KeepPolicy;

use crate::engine::{
    copy_snapshots, forget_plan_snapshots, kept_by, plan_snapshots, prune_repository,
    repository_size,
};
use crate::report::{RepoState, RunReport, Status};

use super::{Out, Runner};

impl Runner<'_> {
    /// Copies bring each target up to date: every snapshot of this plan
    /// in the primary that the target's retention keeps is offered, and
    /// the copy skips those the target already holds, so a target that
    /// missed a run (USB disk away) catches up on the next, and one that
    /// keeps less than the primary is not sent, again and again, what it
    /// forgets.
    pub(super) fn copies(&mut self) {
        let primary = self.plan.primary.clone();
        let tag = self.plan.tag();
        let listed = self
            .repo(&primary)
            .and_then(|from| plan_snapshots(&from, &tag).map_err(|e| e.to_string()));
        for name in self.plan.copy_targets.clone() {
            let t = self.start();
            let out = match (self.repo(&primary), self.repo(&name), &listed) {
                (_, Err(e), _) => Out::failed(e),
                (Err(e), _, _) => Out::skipped(e),
                (_, _, Err(e)) => Out::failed(format!("listing {primary}: {e}")),
                (Ok(_), Ok(_), Ok(list)) if list.is_empty() => {
                    Out::skipped(format!("{primary} holds no snapshot of this plan"))
                }
                (Ok(from), Ok(to), Ok(list)) => {
                    let keep_all = KeepPolicy::default();
                    let policy = self.plan.repositories.get(&name);
                    let policy = policy.map_or(&keep_all, |r| &r.retention.policy);
                    let ids = kept_by(policy, list);
                    match copy_snapshots(&from, &to, &ids, self.opts.dry_run) {
                        Ok(c) => {
                            *self.bytes.entry(name.clone()).or_default() += c.bytes_added;
                            let mut o = if self.opts.dry_run {
                                Out::planned(format!(
                                    "would copy {} snapshot(s)",
                                    c.snapshots.len()
                                ))
                            } else {
                                Out::ok(format!(
                                    "{} snapshot(s) copied, {} bytes added",
                                    c.snapshots.len(),
                                    c.bytes_added
                                ))
                            };
                            o.bytes_added = Some(c.bytes_added);
                            o
                        }
                        Err(e) => Out::failed(e.to_string()),
                    }
                }
            };
            self.record(t, format!("copy:{name}"), "copy", Some(&name), out);
        }
    }

    pub(super) fn retention(&mut self) {
        let tag = self.plan.tag();
        for name in self.plan.repo_order() {
            let cfg = &self.plan.repositories[name];
            let t = self.start();
            let target = self.repo(name);
            let out = match &target {
                Err(e) => Out::skipped(e.clone()),
                Ok(r) => match forget_plan_snapshots(r, &cfg.retention, &tag, self.opts.dry_run) {
                    Ok(rep) if self.opts.dry_run => {
                        Out::planned(format!("would forget {} snapshot(s)", rep.removed.len()))
                    }
                    Ok(rep) if rep.policy_empty => Out::ok("no keep rules: nothing forgotten"),
                    Ok(rep) => Out::ok(format!("{} snapshot(s) forgotten", rep.removed.len())),
                    Err(e) => Out::failed(e.to_string()),
                },
            };
            self.record(t, format!("forget:{name}"), "forget", Some(name), out);
            if cfg.retention.prune {
                let t = self.start();
                let out = match &target {
                    Err(e) => Out::skipped(e.clone()),
                    Ok(r) => match prune_repository(r, self.opts.dry_run) {
                        Ok(p) => Out::ok(format!("{} bytes freed", p.bytes_freed)),
                        Err(e) => Out::failed(e.to_string()),
                    },
                };
                self.record(t, format!("prune:{name}"), "prune", Some(name), out);
            }
        }
    }

    pub(super) fn finish(self, started: DateTime<Utc>, duration: f64) -> RunReport {
        let now = self.opts.now;
        let ok = self.steps.iter().all(|s| s.status != Status::Failed);
        let prev = self.previous.as_ref();
        let mut step_last_success = prev
            .map(|p| p.step_last_success.clone())
            .unwrap_or_default();
        if !self.opts.dry_run {
            for s in &self.steps {
                if matches!(s.status, Status::Ok | Status::Warning) {
                    step_last_success.insert(s.name.clone(), now);
                }
            }
        }
        let mut repositories = BTreeMap::new();
        for name in self.plan.repo_order() {
            let cfg = &self.plan.repositories[name];
            let held = self
                .steps
                .iter()
                .filter(|s| s.repository.as_deref() == Some(name))
                .all(|s| s.status.held() && s.status != Status::Skipped);
            let before = prev.and_then(|p| p.repositories.get(name));
            let target = self.repos.get(name).and_then(|r| r.as_ref().ok());
            let listed = target.and_then(|r| plan_snapshots(r, &self.plan.tag()).ok());
            // A repository that could not be listed (a USB disk away)
            // keeps its last known newest snapshot: its RPO keeps growing.
            let newest = match &listed {
                Some(s) => s.last().map(|(_, sn)| sn.time.0.with_timezone(&Utc)),
                None => before.and_then(|b| b.newest_snapshot),
            };
            repositories.insert(
                name.to_string(),
                RepoState {
                    ok: held,
                    last_success: if held && !self.opts.dry_run {
                        Some(now)
                    } else {
                        before.and_then(|b| b.last_success)
                    },
                    newest_snapshot: newest,
                    snapshots: listed
                        .as_ref()
                        .map(Vec::len)
                        .or_else(|| before.and_then(|b| b.snapshots)),
                    size_bytes: target
                        .and_then(|r| repository_size(r).ok())
                        .or_else(|| before.and_then(|b| b.size_bytes)),
                    snapshot_age_secs: newest.map(|t| (now - t).num_seconds()),
                    bytes_added: self.bytes.get(name).copied().unwrap_or(0),
                    drill: self
                        .drills
                        .get(name)
                        .cloned()
                        .or_else(|| before.and_then(|b| b.drill.clone())),
                    full_drill: self
                        .full
                        .get(name)
                        .cloned()
                        .or_else(|| before.and_then(|b| b.full_drill.clone())),
                    rto_secs: match self.full.get(name) {
                        Some(d) if d.ok => Some(d.duration_secs),
                        _ => before.and_then(|b| b.rto_secs),
                    },
                    scrub: self
                        .scrubbed
                        .get(name)
                        .cloned()
                        .or_else(|| before.and_then(|b| b.scrub.clone())),
                    max_rpo_secs: cfg.max_rpo.map(|s| s.0.as_secs()),
                    max_rto_secs: cfg.max_rto.map(|s| s.0.as_secs()),
                    alerts: Vec::new(),
                },
            );
        }
        for state in repositories.values_mut() {
            state.alerts = alerts(state);
        }
        let mut drills = prev.map(|p| p.drills.clone()).unwrap_or_default();
        drills.extend(self.runs);
        RunReport {
            plan: self.plan.name.clone(),
            time: now,
            started,
            duration_secs: duration,
            dry_run: self.opts.dry_run,
            ok,
            last_success: if ok && !self.opts.dry_run {
                Some(now)
            } else {
                prev.and_then(|p| p.last_success)
            },
            step_last_success,
            repositories,
            drills,
            steps: self.steps,
        }
    }
}

/// The thresholds a repository crosses: its newest snapshot older than
/// `max_rpo`, a full restore slower than `max_rto` (or never measured
/// while one is set), a failed latest drill, packs the scrub has not
/// verified within its window.
fn alerts(r: &RepoState) -> Vec<String> {
    let mut a = Vec::new();
    let hours = |s: f64| format!("{:.1} h", s / 3600.0);
    if let Some(max) = r.max_rpo_secs {
        match r.snapshot_age_secs {
            None => a.push("RPO: no snapshot of this plan".to_string()),
            Some(age) if age > 0 && age as u64 > max => a.push(format!(
                "RPO: the newest snapshot is {} old, max_rpo is {}",
                hours(age as f64),
                hours(max as f64)
            )),
            Some(_) => {}
        }
    }
    if let Some(max) = r.max_rto_secs {
        match r.rto_secs {
            None => a.push("RTO: no full-restore drill from this repository has passed".into()),
            Some(rto) if rto > max as f64 => a.push(format!(
                "RTO: the last full restore took {rto:.0} s, max_rto is {max} s"
            )),
            Some(_) => {}
        }
    }
    if let Some(d) = r.drill.as_ref().filter(|d| !d.ok) {
        a.push(format!(
            "the restore drill of {} failed",
            d.time.format("%Y-%m-%d %H:%M")
        ));
    }
    if let Some(d) = r.full_drill.as_ref().filter(|d| !d.ok) {
        a.push(format!(
            "the full-restore drill of {} failed",
            d.time.format("%Y-%m-%d %H:%M")
        ));
    }
    if let Some(s) = r.scrub.as_ref().filter(|s| s.overdue > 0) {
        a.push(format!(
            "{} of {} packs not verified within {} days",
            s.overdue, s.packs, s.within_days
        ));
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_turn_a_repository_red() {
        let mut r = RepoState {
            snapshot_age_secs: Some(3600),
            max_rpo_secs: Some(7200),
            ..RepoState::default()
        };
        assert!(alerts(&r).is_empty());
        r.snapshot_age_secs = Some(7201);
        assert!(alerts(&r)[0].starts_with("RPO: the newest snapshot is 2.0 h old"));
        r.snapshot_age_secs = None;
        assert_eq!(alerts(&r), ["RPO: no snapshot of this plan"]);
        r.max_rpo_secs = None;
        r.max_rto_secs = Some(600);
        assert!(alerts(&r)[0].starts_with("RTO: no full-restore drill"));
        r.rto_secs = Some(601.0);
        assert!(alerts(&r)[0].starts_with("RTO: the last full restore took 601 s"));
        r.rto_secs = Some(599.0);
        assert!(alerts(&r).is_empty());
        r.scrub = Some(crate::report::ScrubStatus {
            time: Utc::now(),
            within_days: 30,
            packs: 10,
            verified_now: 1,
            verified_within: 8,
            overdue: 2,
        });
        assert_eq!(alerts(&r), ["2 of 10 packs not verified within 30 days"]);
    }
}
