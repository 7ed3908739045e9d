//! Step 7: drills when due (sample, full restore, PBS, rollback), the
//! scrub rotation, and healing what they found damaged.

use chrono::{DateTime, Utc};
use hbk_engine::commands::check::ReadData;
use hbk_repo::Id;

use crate::config::{Guests, PBS_SOURCE};
use crate::drill::drill;
use crate::drill::full::full_restore_drill;
use crate::drill::pbs::pbs_drill;
use crate::drill::rollback::RollbackDrill;
use crate::engine::heal_repository;
use crate::report::{DrillResult, DrillRun};
use crate::scrub::scrub_repository;

use super::{Mode, Out, Runner};

/// Keys of [`crate::report::RunReport::drills`].
pub(crate) const ROLLBACK: &str = "rollback";
/// The PBS drill's key.
pub(crate) const PBS: &str = "pbs";

impl Runner<'_> {
    /// Whether a drill last run at `last` is due again: always in drill
    /// mode, else when it never ran or `every_days` have passed.
    fn due(&self, last: Option<DateTime<Utc>>, every_days: u32) -> bool {
        if self.opts.mode == Mode::Drill {
            return true;
        }
        last.is_none_or(|t| self.opts.now - t >= chrono::Duration::days(every_days.into()))
    }

    /// The tag sets of this plan's snapshot groups: one per source, and
    /// the PBS capture.
    fn groups(&self) -> Vec<Vec<String>> {
        let tag = self.plan.tag();
        let mut groups: Vec<Vec<String>> = self
            .plan
            .sources
            .iter()
            .map(|s| vec![tag.clone(), s.name.clone()])
            .collect();
        if self.plan.pbs.is_some() {
            groups.push(vec![tag, PBS_SOURCE.to_string()]);
        }
        groups
    }

    /// The sample drill of every drilled repository, when due.
    pub(super) fn drills(&mut self) {
        let last = self.previous.as_ref().and_then(|p| {
            p.repositories
                .values()
                .filter_map(|r| r.drill.as_ref().map(|d| d.time))
                .min()
        });
        if !self.due(last, self.plan.drill.every_days) {
            return;
        }
        let groups = self.groups();
        let subset: ReadData = self
            .plan
            .drill
            .read_data_subset
            .parse()
            .unwrap_or(ReadData::None);
        let scratch = self.plan.scratch_dir();
        for name in self.plan.drill_repos() {
            let t = self.start();
            let out = match self.repo(&name) {
                Err(e) => Out::skipped(e),
                Ok(_) if self.opts.dry_run => Out::planned(format!(
                    "would restore up to {} files per snapshot and check {}",
                    self.plan.drill.files, self.plan.drill.read_data_subset
                )),
                Ok(r) => {
                    let d = drill(
                        &r,
                        &groups,
                        self.plan.drill.files,
                        subset,
                        &scratch,
                        self.opts.now,
                    )
                    .unwrap_or_else(|e| DrillResult {
                        // A drill that could not finish failed: it is
                        // the result from now on, not the last passing
                        // one (status file, metrics and alerts say so).
                        time: self.opts.now,
                        ok: false,
                        files: 0,
                        snapshots: Vec::new(),
                        message: e.to_string(),
                        damaged_packs: Vec::new(),
                        damage: true,
                        duration_secs: None,
                    });
                    if !d.ok && d.damage {
                        let packs = d.damaged_packs.iter().filter_map(|p| p.parse::<Id>().ok());
                        self.damage.entry(name.clone()).or_default().extend(packs);
                    }
                    let o = if d.ok {
                        Out::ok(d.message.clone())
                    } else {
                        Out::failed(d.message.clone())
                    };
                    self.drills.insert(name.clone(), d);
                    o
                }
            };
            self.record(t, format!("drill:{name}"), "drill", Some(&name), out);
        }
    }

    /// The full-restore drill from each of its repositories, when due:
    /// the measured RTO.
    pub(super) fn full_drills(&mut self) {
        let Some(cfg) = self.plan.drill.full.clone() else {
            return;
        };
        let groups = self.groups();
        let scratch = self.plan.scratch_dir();
        for name in self.plan.full_drill_repos() {
            let last = self.previous.as_ref().and_then(|p| {
                let r = p.repositories.get(&name)?;
                r.full_drill.as_ref().map(|d| d.time)
            });
            if !self.due(last, cfg.every_days) {
                continue;
            }
            let t = self.start();
            let out = match self.repo(&name) {
                Err(e) => Out::skipped(e),
                Ok(_) if self.opts.dry_run => Out::planned(format!(
                    "would restore the newest snapshot of {} group(s) whole and compare every file",
                    groups.len()
                )),
                Ok(r) => {
                    let d = full_restore_drill(&r, &groups, &scratch, self.opts.now)
                        .unwrap_or_else(|e| self.failed_run(Some(&name), e.to_string()));
                    let o = drill_out(&d);
                    self.full.insert(name.clone(), d);
                    o
                }
            };
            self.record(t, format!("drill-full:{name}"), "drill", Some(&name), out);
        }
    }

    /// The PBS drill, when due: the datastore restored from its
    /// repository and every chunk verified; then the optional verify job
    /// on the live datastore.
    pub(super) fn pbs_drill(&mut self) {
        let (Some(cfg), Some(pbs)) = (self.plan.drill.pbs.clone(), self.plan.pbs.clone()) else {
            return;
        };
        let last = self
            .previous
            .as_ref()
            .and_then(|p| p.drills.get(PBS).map(|d| d.time));
        if !self.due(last, cfg.every_days) {
            return;
        }
        let name = cfg
            .repository
            .clone()
            .unwrap_or_else(|| self.plan.offsite().to_string());
        let tags = vec![self.plan.tag(), PBS_SOURCE.to_string()];
        let t = self.start();
        let mut result = None;
        let out = match self.repo(&name) {
            Err(e) => Out::skipped(e),
            Ok(_) if self.opts.dry_run => Out::planned(format!(
                "would restore {} from {name} and verify every chunk file",
                pbs.path.display()
            )),
            Ok(r) => {
                let d = pbs_drill(
                    &r,
                    &tags,
                    &pbs.path,
                    &self.plan.scratch_dir(),
                    self.opts.now,
                )
                .unwrap_or_else(|e| self.failed_run(Some(&name), e.to_string()));
                let o = drill_out(&d);
                result = Some(d);
                o
            }
        };
        self.record(t, format!("drill-pbs:{name}"), "drill", Some(&name), out);
        if cfg.verify_job {
            let t = self.start();
            let out = match &self.pbs {
                None => Out::skipped("PBS API unavailable (see preflight:pbs)"),
                Some(_) if self.opts.dry_run => Out::planned(format!(
                    "would run a verify job on datastore {}",
                    pbs.datastore
                )),
                Some(c) => match c.verify(&pbs.datastore).and_then(|u| c.finish(&u)) {
                    Ok(o) => Out::ok(format!("verify job on {}: {o:?}", pbs.datastore)),
                    Err(e) => Out::failed(format!("verify job on {}: {e}", pbs.datastore)),
                },
            };
            if let Some(d) = result.as_mut() {
                if out.status == crate::report::Status::Failed {
                    d.ok = false;
                    d.message = format!("{}; {}", d.message, out.message);
                }
            }
            self.record(
                t,
                format!("pbs-verify:{}", pbs.datastore),
                "drill",
                None,
                out,
            );
        }
        if let Some(d) = result {
            self.runs.insert(PBS.to_string(), d);
        }
    }

    /// The rollback drill of each of its guests, when due.
    pub(super) fn rollback_drills(&mut self) {
        let (Some(cfg), Some(pve)) = (self.plan.drill.rollback.clone(), self.plan.proxmox.clone())
        else {
            return;
        };
        let last = self
            .previous
            .as_ref()
            .and_then(|p| p.drills.get(ROLLBACK).map(|d| d.time));
        if !self.due(last, cfg.every_days) {
            return;
        }
        let t = self.start();
        let Some(client) = self.pve.clone() else {
            let out = Out::skipped("Proxmox VE API unavailable (see preflight:pve)");
            self.record(t, "drill-rollback".into(), "drill", None, out);
            return;
        };
        let all = match client.guests() {
            Ok(g) => g,
            Err(e) => {
                let out = Out::failed(format!("listing guests: {e}"));
                self.record(t, "drill-rollback".into(), "drill", None, out);
                self.runs.insert(
                    ROLLBACK.into(),
                    self.failed_run(None, format!("listing guests: {e}")),
                );
                return;
            }
        };
        let wanted: Vec<u32> = match (&cfg.guests, &pve.guests) {
            (Some(ids), _) | (None, Guests::Ids(ids)) => ids.clone(),
            (None, Guests::All) => all.iter().filter(|g| !g.template).map(|g| g.vmid).collect(),
        };
        let drill = RollbackDrill {
            client: &client,
            prefix: &pve.snapshot_prefix,
            scratch_vmid: cfg.scratch_vmid,
            storage: cfg.storage.as_deref(),
            start_timeout: cfg.start_timeout.0,
            poll: pve.api.poll_interval.0,
        };
        let clock = std::time::Instant::now();
        let mut lines = Vec::new();
        let mut ok = true;
        for vmid in wanted {
            let t = self.start();
            let guest = all.iter().find(|g| g.vmid == vmid);
            let name = guest.map_or(format!("drill-rollback:{vmid}"), |g| {
                format!("drill-rollback:{}", g.id())
            });
            let out = match guest {
                None => Out::failed(format!("guest {vmid} not found")),
                Some(g) if self.opts.dry_run => Out::planned(format!(
                    "would clone {} from its newest {}-* snapshot, start it, destroy it",
                    g.id(),
                    pve.snapshot_prefix
                )),
                Some(g) => match drill.run(g) {
                    Ok(m) => Out::ok(m),
                    Err(m) => Out::failed(m),
                },
            };
            ok &= out.status != crate::report::Status::Failed;
            lines.push(out.message.clone());
            self.record(t, name, "drill", None, out);
        }
        if !self.opts.dry_run {
            let run = DrillRun {
                time: self.opts.now,
                ok,
                duration_secs: clock.elapsed().as_secs_f64(),
                message: lines.join("; "),
                repository: None,
                bytes: 0,
                bytes_per_sec: None,
            };
            self.runs.insert(ROLLBACK.into(), run);
        }
    }

    /// A drill that could not run: failed, now.
    fn failed_run(&self, repo: Option<&str>, message: String) -> DrillRun {
        DrillRun {
            time: self.opts.now,
            ok: false,
            duration_secs: 0.0,
            message,
            repository: repo.map(String::from),
            bytes: 0,
            bytes_per_sec: None,
        }
    }

    /// This run's slice of the scrub rotation of every scrubbed
    /// repository; damage found is healed next.
    pub(super) fn scrubs(&mut self) {
        let Some(cfg) = self.plan.scrub.clone() else {
            return;
        };
        for name in self.plan.scrub_repos() {
            let t = self.start();
            let state = self
                .plan
                .state_dir
                .join("scrub")
                .join(format!("{name}.json"));
            let out = match self.repo(&name) {
                Err(e) => Out::skipped(e),
                Ok(_) if self.opts.dry_run => Out::planned(format!(
                    "would verify this run's share of the packs (all within {} days)",
                    cfg.within_days
                )),
                Ok(r) => match scrub_repository(&r, &state, cfg.within_days, self.opts.now) {
                    Ok(s) => {
                        let st = &s.status;
                        let summary = format!(
                            "{} pack(s) verified; {} of {} verified within {} days",
                            st.verified_now, st.verified_within, st.packs, st.within_days
                        );
                        let out = if s.errors.is_empty() {
                            Out::ok(summary)
                        } else {
                            self.damage
                                .entry(name.clone())
                                .or_default()
                                .extend(s.damaged.iter().copied());
                            Out::failed(format!("{summary}; {}", s.errors.join("; ")))
                        };
                        self.scrubbed.insert(name.clone(), s.status);
                        out
                    }
                    Err(e) => Out::failed(e.to_string()),
                },
            };
            self.record(t, format!("scrub:{name}"), "scrub", Some(&name), out);
        }
    }

    /// Heals every repository where a drill or the scrub found damage in
    /// this run (not one that only missed a snapshot) from the first
    /// other repository of the plan found healthy in this run (else the
    /// first other one that opens; copies hold the same blob ids), and
    /// reports what it did: the blobs taken from the other
    /// copy, and the files no copy could give back. The packs found
    /// damaged are repaired; when none was named (a tree could not be
    /// read, a restored file differed), every pack is read to find them.
    pub(super) fn heals(&mut self) {
        if self.opts.dry_run {
            return;
        }
        let damaged: Vec<(String, Vec<Id>)> = std::mem::take(&mut self.damage)
            .into_iter()
            .map(|(name, mut packs)| {
                packs.sort();
                packs.dedup();
                (name, packs)
            })
            .collect();
        let hurt: Vec<String> = damaged.iter().map(|(n, _)| n.clone()).collect();
        for (name, packs) in damaged {
            let t = self.start();
            // The first other copy found healthy in this run, else the
            // first other one that opens.
            let others: Vec<&str> = self
                .plan
                .repo_order()
                .into_iter()
                .filter(|other| *other != name.as_str())
                .collect();
            let source = others
                .iter()
                .filter(|o| !hurt.iter().any(|h| h == *o))
                .chain(others.iter())
                .find_map(|other| self.repo(other).ok());
            let copies = self.plan.state_dir.join("heal").join(&name);
            let out = match (self.repo(&name), source) {
                (Err(e), _) => Out::skipped(e),
                (Ok(_), None) => Out::failed("no other repository to heal from"),
                (Ok(r), Some(src)) => match heal_repository(&r, &src, &packs, &copies) {
                    Ok(h) if h.packs == 0 => {
                        Out::warn("damage was reported, but every pack reads back intact")
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
}

/// A drill's result as its step's outcome.
fn drill_out(d: &DrillRun) -> Out {
    if d.ok {
        Out::ok(d.message.clone())
    } else {
        Out::failed(d.message.clone())
    }
}
