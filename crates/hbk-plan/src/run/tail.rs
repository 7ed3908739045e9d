//! Steps 5 to 8: copies, retention, drills and the report.

use std::collections::BTreeMap;

use hbk_engine::commands::forget::KeepPolicy;
use hbk_repo::Id;

use chrono::{DateTime, Utc};
use hbk_engine::commands::check::ReadData;

use crate::config::PBS_SOURCE;
use crate::drill::drill;
use crate::engine::{
    copy_snapshots, forget_plan_snapshots, heal_repository, kept_by, plan_snapshots,
    prune_repository,
};
use crate::report::{DrillResult, RepoState, RunReport, Status};

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

    /// Whether drills are due: forced in drill mode, else when the last
    /// drill is `every_days` old.
    fn drill_due(&self) -> bool {
        if self.opts.mode == super::Mode::Drill {
            return true;
        }
        let last = self.previous.as_ref().and_then(|p| {
            p.repositories
                .values()
                .filter_map(|r| r.drill.as_ref().map(|d| d.time))
                .min()
        });
        match last {
            None => true,
            Some(t) => {
                self.opts.now - t >= chrono::Duration::days(self.plan.drill.every_days.into())
            }
        }
    }

    pub(super) fn drills(&mut self) {
        if !self.drill_due() {
            return;
        }
        let tag = self.plan.tag();
        let mut groups: Vec<Vec<String>> = self
            .plan
            .sources
            .iter()
            .map(|s| vec![tag.clone(), s.name.clone()])
            .collect();
        if self.plan.pbs.is_some() {
            groups.push(vec![tag.clone(), PBS_SOURCE.to_string()]);
        }
        let subset: ReadData = self
            .plan
            .drill
            .read_data_subset
            .parse()
            .unwrap_or(ReadData::None);
        let scratch = self.plan.state_dir.join("drill");
        for name in self.plan.drill_repos() {
            let t = self.start();
            let out = match self.repo(&name) {
                Err(e) => Out::skipped(e),
                Ok(_) if self.opts.dry_run => Out::planned(format!(
                    "would restore up to {} files per snapshot and check {}",
                    self.plan.drill.files, self.plan.drill.read_data_subset
                )),
                Ok(r) => match drill(
                    &r,
                    &groups,
                    self.plan.drill.files,
                    subset,
                    &scratch,
                    self.opts.now,
                ) {
                    Ok(d) => {
                        let o = if d.ok {
                            Out::ok(d.message.clone())
                        } else {
                            Out::failed(d.message.clone())
                        };
                        self.drills.insert(name.clone(), d);
                        o
                    }
                    Err(e) => {
                        // A drill that could not finish failed: it is
                        // the result from now on, not the last passing
                        // one (status file, metrics and alerts say so).
                        let message = e.to_string();
                        self.drills.insert(
                            name.clone(),
                            DrillResult {
                                time: self.opts.now,
                                ok: false,
                                files: 0,
                                snapshots: Vec::new(),
                                message: message.clone(),
                                damaged_packs: Vec::new(),
                                damage: true,
                            },
                        );
                        Out::failed(message)
                    }
                },
            };
            self.record(t, format!("drill:{name}"), "drill", Some(&name), out);
        }
    }

    /// Heals every repository whose drill found damage in this run (not
    /// one that only missed a snapshot) from the first other repository
    /// of the plan that opens (copies hold the
    /// same blob ids), and reports what it did: the blobs taken from the
    /// other copy, and the files no copy could give back. The packs the
    /// drill's check named are repaired; when it named none (it could not
    /// read a tree, or a restored file differed), every pack is read to
    /// find them.
    pub(super) fn heals(&mut self) {
        if self.opts.dry_run {
            return;
        }
        let damaged: Vec<(String, Vec<Id>)> = self
            .drills
            .iter()
            .filter(|(_, d)| !d.ok && d.damage)
            .map(|(name, d)| {
                let packs = d.damaged_packs.iter().filter_map(|p| p.parse().ok());
                (name.clone(), packs.collect())
            })
            .collect();
        for (name, packs) in damaged {
            let t = self.start();
            let source = self
                .plan
                .repo_order()
                .into_iter()
                .filter(|other| *other != name.as_str())
                .find_map(|other| self.repo(other).ok());
            let copies = self.plan.state_dir.join("heal").join(&name);
            let out = match (self.repo(&name), source) {
                (Err(e), _) => Out::skipped(e),
                (Ok(_), None) => Out::failed("no other repository to heal from"),
                (Ok(r), Some(src)) => match heal_repository(&r, &src, &packs, &copies) {
                    Ok(h) if h.packs == 0 => {
                        Out::warn("the drill failed, but every pack reads back intact")
                    }
                    Ok(h) if h.lost_paths.is_empty() => Out::ok(format!(
                        "{} damaged or missing pack(s) repaired: {} blob(s) stored again, {} of them from {}",
                        h.packs, h.salvaged, h.healed, src.name
                    )),
                    Ok(h) => Out::failed(format!(
                        "{} blob(s) healed from {}, but no copy holds what these used: {}",
                        h.healed,
                        src.name,
                        h.lost_paths.join(", ")
                    )),
                    Err(e) => Out::failed(e.to_string()),
                },
            };
            self.record(t, format!("heal:{name}"), "heal", Some(&name), out);
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
            let held = self
                .steps
                .iter()
                .filter(|s| s.repository.as_deref() == Some(name))
                .all(|s| s.status.held() && s.status != Status::Skipped);
            let before = prev.and_then(|p| p.repositories.get(name));
            let newest = self
                .repos
                .get(name)
                .and_then(|r| r.as_ref().ok())
                .and_then(|r| plan_snapshots(r, &self.plan.tag()).ok())
                .and_then(|s| s.last().map(|(_, sn)| sn.time.0.with_timezone(&Utc)));
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
                    snapshot_age_secs: newest.map(|t| (now - t).num_seconds()),
                    bytes_added: self.bytes.get(name).copied().unwrap_or(0),
                    drill: self
                        .drills
                        .get(name)
                        .cloned()
                        .or_else(|| before.and_then(|b| b.drill.clone())),
                },
            );
        }
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
            steps: self.steps,
        }
    }
}
