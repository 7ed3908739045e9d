//! A plan run, step by step:
//!
//! 1. preflight: the plan lock, every secret, every repository (USB mount,
//!    free space, opens with its password), the Proxmox APIs (token, TLS);
//! 2. Proxmox VE: a snapshot `PREFIX-YYYYMMDD-HHMMSS` per guest, waited on
//!    through its UPID, then rotation of this plan's own snapshots beyond
//!    `keep`; optionally vzdump per node;
//! 3. PBS: maintenance mode on, active operations drained, the datastore
//!    directory backed up (ctime ignored), maintenance mode off — by a
//!    guard that also fires on errors, panics and signals;
//! 4. sources: hooks before, backup into the primary repository, hooks
//!    after / on failure;
//! 5. copy to every copy target (each on its own) of this plan's
//!    snapshots that it does not hold yet;
//! 6. forget (and prune) per repository with its own policy;
//! 7. drills when due (a sample, a full restore, the PBS datastore, a
//!    guest rollback), the scrub's slice, and healing what they found
//!    damaged from another copy;
//! 8. the report, with RPO, RTO and the alerts of crossed thresholds.
//!
//! A failed step never stops the steps that do not need it; the run's
//! verdict is whether every step held. In a dry run every check is made
//! and nothing is changed: no API write, no repository write, no report
//! file.

mod drills;
mod pbs;
mod proxmox;
mod reports;
mod sources;
mod tail;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::api::pbs::PbsClient;
use crate::api::pve::PveClient;
use crate::config::{NotifyEvent, Plan};
use crate::engine::RepoTarget;
use crate::lock::PlanLock;
use crate::report::{DrillResult, DrillRun, RunReport, ScrubStatus, Status, StepReport};
use crate::{notify, preflight, Result};

/// Which parts of the plan to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Everything; drills when due.
    Run,
    /// Only preflight and drills (`hbk plan drill`).
    Drill,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The run's time: snapshot names, snapshot times, ages, schedules.
    pub now: DateTime<Utc>,
    /// Check everything, change nothing.
    pub dry_run: bool,
    /// Everything, or drills only.
    pub mode: Mode,
}

/// The result of one step, before timing is added.
#[derive(Debug, Clone)]
pub(crate) struct Out {
    pub status: Status,
    pub message: String,
    pub bytes_added: Option<u64>,
    pub snapshot: Option<String>,
}

impl Out {
    fn new(status: Status, message: impl Into<String>) -> Out {
        Out {
            status,
            message: message.into(),
            bytes_added: None,
            snapshot: None,
        }
    }
    pub fn ok(m: impl Into<String>) -> Out {
        Out::new(Status::Ok, m)
    }
    pub fn warn(m: impl Into<String>) -> Out {
        Out::new(Status::Warning, m)
    }
    pub fn failed(m: impl Into<String>) -> Out {
        Out::new(Status::Failed, m)
    }
    pub fn skipped(m: impl Into<String>) -> Out {
        Out::new(Status::Skipped, m)
    }
    pub fn planned(m: impl Into<String>) -> Out {
        Out::new(Status::Planned, m)
    }
}

/// The state of a run in progress.
pub(crate) struct Runner<'a> {
    pub plan: &'a Plan,
    pub opts: &'a RunOptions,
    pub steps: Vec<StepReport>,
    /// Repositories that passed preflight, or why not.
    pub repos: BTreeMap<String, std::result::Result<RepoTarget, String>>,
    pub pve: Option<PveClient>,
    pub pbs: Option<PbsClient>,
    pub bytes: BTreeMap<String, u64>,
    pub drills: BTreeMap<String, DrillResult>,
    /// Full-restore drills of this run, by repository.
    pub full: BTreeMap<String, DrillRun>,
    /// Rollback and PBS drills of this run, by kind.
    pub runs: BTreeMap<String, DrillRun>,
    /// Scrubs of this run, by repository.
    pub scrubbed: BTreeMap<String, ScrubStatus>,
    /// Damage found in this run (packs, when known), by repository: what
    /// the heal step repairs.
    pub damage: BTreeMap<String, Vec<hbk_repo::Id>>,
    pub previous: Option<RunReport>,
}

/// A started step.
pub(crate) struct Started {
    wall: DateTime<Utc>,
    at: Instant,
}

impl Started {
    fn now() -> Started {
        Started {
            wall: Utc::now(),
            at: Instant::now(),
        }
    }

    /// The step's report, timed from its start until now.
    fn step(self, name: String, kind: &str, repo: Option<&str>, out: Out) -> StepReport {
        StepReport {
            name,
            kind: kind.to_string(),
            repository: repo.map(String::from),
            status: out.status,
            message: out.message,
            started: self.wall,
            duration_secs: self.at.elapsed().as_secs_f64(),
            bytes_added: out.bytes_added,
            snapshot: out.snapshot,
        }
    }
}

impl<'a> Runner<'a> {
    pub fn start(&self) -> Started {
        Started::now()
    }

    pub fn record(&mut self, t: Started, name: String, kind: &str, repo: Option<&str>, out: Out) {
        self.steps.push(t.step(name, kind, repo, out));
    }

    /// A repository that passed preflight, or why it did not.
    pub fn repo(&self, name: &str) -> std::result::Result<RepoTarget, String> {
        match self.repos.get(name) {
            Some(Ok(r)) => Ok(r.clone()),
            Some(Err(e)) => Err(format!("repository {name} unavailable: {e}")),
            None => Err(format!("repository {name} was not checked")),
        }
    }

    fn preflight(&mut self) {
        for name in self.plan.repo_order() {
            let t = self.start();
            let cfg = &self.plan.repositories[name];
            let res = preflight::check_repo(name, cfg);
            let out = match &res {
                Ok(_) => Out::ok(format!("{} reachable", cfg.url)),
                Err(e) => Out::failed(e.clone()),
            };
            self.repos.insert(name.to_string(), res);
            self.record(
                t,
                format!("preflight:repo:{name}"),
                "preflight",
                Some(name),
                out,
            );
        }
        if let Some(pve) = &self.plan.proxmox {
            let t = self.start();
            let client = pve
                .api
                .token_secret
                .resolve("proxmox.api.token_secret")
                .and_then(|s| PveClient::new(&pve.api, &s));
            let out = match client.and_then(|c| c.version().map(|v| (c, v))) {
                Ok((c, v)) => {
                    self.pve = Some(c);
                    Out::ok(format!("Proxmox VE {v}"))
                }
                Err(e) => Out::failed(e.to_string()),
            };
            self.record(t, "preflight:pve".into(), "preflight", None, out);
        }
        if let Some(cfg) = &self.plan.pbs {
            let t = self.start();
            let client = cfg
                .api
                .token_secret
                .resolve("pbs.api.token_secret")
                .and_then(|s| PbsClient::new(&cfg.api, &s));
            let out = match client.and_then(|c| c.version().map(|v| (c, v))) {
                Ok(_) if !cfg.path.is_dir() => Out::failed(format!(
                    "datastore path {} is not a directory",
                    cfg.path.display()
                )),
                Ok((c, v)) => {
                    self.pbs = Some(c);
                    Out::ok(format!("Proxmox Backup Server {v}"))
                }
                Err(e) => Out::failed(e.to_string()),
            };
            self.record(t, "preflight:pbs".into(), "preflight", None, out);
        }
        let t = self.start();
        let missing: Vec<String> = self
            .plan
            .sources
            .iter()
            .flat_map(|s| s.paths.iter())
            .filter(|p| !p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !self.plan.sources.is_empty() {
            let out = if missing.is_empty() {
                Out::ok(format!("{} source(s) present", self.plan.sources.len()))
            } else {
                Out::failed(format!("missing source paths: {}", missing.join(", ")))
            };
            self.record(t, "preflight:sources".into(), "preflight", None, out);
        }
    }
}

/// Runs the plan. Errors only when the run cannot start (the plan lock
/// is held); everything else is a step in the report.
pub fn run(plan: &Plan, opts: &RunOptions) -> Result<RunReport> {
    let started = Utc::now();
    let clock = Instant::now();
    let lock_path = plan.lock_path();
    let _lock = if opts.dry_run {
        PlanLock::probe(&lock_path)?;
        None
    } else {
        Some(PlanLock::acquire(&lock_path)?)
    };
    let previous = RunReport::read(&plan.json_path()).ok().flatten();
    let mut r = Runner {
        plan,
        opts,
        steps: Vec::new(),
        repos: BTreeMap::new(),
        pve: None,
        pbs: None,
        bytes: BTreeMap::new(),
        drills: BTreeMap::new(),
        full: BTreeMap::new(),
        runs: BTreeMap::new(),
        scrubbed: BTreeMap::new(),
        damage: BTreeMap::new(),
        previous,
    };
    if !opts.dry_run {
        let what = match opts.mode {
            Mode::Run => "run",
            Mode::Drill => "drill run",
        };
        let start = [(
            NotifyEvent::Start,
            notify::start_notice(plan, opts.now, what),
        )];
        r.steps.extend(notify_steps(plan, &start));
    }
    r.preflight();
    if opts.mode == Mode::Run {
        r.proxmox();
        r.pbs_capture();
        r.sources();
        r.copies();
        r.retention();
    }
    r.drills();
    r.full_drills();
    r.pbs_drill();
    r.rollback_drills();
    if opts.mode == Mode::Run {
        r.scrubs();
    }
    r.heals();
    let mut report = r.finish(started, clock.elapsed().as_secs_f64());
    if !opts.dry_run {
        let notices = notify::end_notices(plan, &report);
        report.steps.extend(notify_steps(plan, &notices));
        reports::write_reports(plan, &report)?;
    }
    Ok(report)
}

/// Sends `notices` to the plan's targets, one step each: sent, or a
/// warning (a receiver that is down never fails a run).
fn notify_steps(plan: &Plan, notices: &[(NotifyEvent, notify::Notice)]) -> Vec<StepReport> {
    notify::deliveries(plan, notices)
        .into_iter()
        .map(|(label, target, notice)| {
            let t = Started::now();
            let out = match notify::send(target, notice) {
                Ok(()) => Out::ok("sent"),
                Err(e) => Out::warn(format!("not sent: {e}")),
            };
            t.step(label, "notify", None, out)
        })
        .collect()
}
