//! What a run did: step results, the JSON status file, the Prometheus
//! textfile and the human summary.
//!
//! The status file is also the plan's memory: the next run reads it back
//! to carry forward the last success times and the last drill results.

mod prometheus;

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub use prometheus::prometheus_text;

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Done.
    Ok,
    /// Done, with warnings worth reading (e.g. `WARNINGS: 1`).
    Warning,
    /// Not done.
    Failed,
    /// Not attempted because something it needs failed or is not
    /// configured; the cause is reported by another step.
    Skipped,
    /// A dry run: checked, would be done.
    Planned,
}

impl Status {
    /// Whether the step held (ok, warning, planned).
    pub fn held(self) -> bool {
        matches!(self, Status::Ok | Status::Warning | Status::Planned)
    }
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    /// Unique name, e.g. `snapshot:qemu/100`, `backup:docker`, `copy:usb`.
    pub name: String,
    /// The kind: `preflight`, `snapshot`, `rotate`, `vzdump`, `pbs`,
    /// `hook`, `backup`, `copy`, `forget`, `prune`, `drill`.
    pub kind: String,
    /// The repository the step is about, if any.
    #[serde(default)]
    pub repository: Option<String>,
    /// The outcome.
    pub status: Status,
    /// What happened, in a sentence.
    pub message: String,
    /// Wall-clock start.
    pub started: DateTime<Utc>,
    /// Wall-clock duration.
    pub duration_secs: f64,
    /// New data stored (backup, copy).
    #[serde(default)]
    pub bytes_added: Option<u64>,
    /// The snapshot made (backup) or used (drill).
    #[serde(default)]
    pub snapshot: Option<String>,
}

/// A drill's result, kept until the next drill.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillResult {
    /// When (plan time).
    pub time: DateTime<Utc>,
    /// Whether restored files matched and the check passed.
    pub ok: bool,
    /// Files restored and compared.
    pub files: usize,
    /// Snapshots drilled.
    pub snapshots: Vec<String>,
    /// Mismatches and check errors, or `all files matched`.
    pub message: String,
    /// How long the drill took (restores and check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
    /// Packs the drill's check found damaged or missing (full ids): what
    /// the heal step repairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub damaged_packs: Vec<String>,
    /// Whether what failed points at damaged data (a restored file that
    /// differs or failed, a check error, a drill that could not read the
    /// repository) rather than at a missing snapshot: only then is the
    /// repository healed.
    #[serde(default)]
    pub damage: bool,
}

/// The result of a rollback, PBS or full-restore drill, kept until the
/// next drill of its kind.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DrillRun {
    /// When (plan time).
    pub time: DateTime<Utc>,
    /// Whether it proved what it drills.
    pub ok: bool,
    /// How long it took (a full restore: the restore alone, the measured
    /// RTO).
    pub duration_secs: f64,
    /// What it did or what went wrong.
    pub message: String,
    /// The repository it restored from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Bytes restored.
    #[serde(default)]
    pub bytes: u64,
    /// Restore speed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_sec: Option<f64>,
}

/// Where a repository's scrub rotation stands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScrubStatus {
    /// When the last scrub ran (plan time).
    pub time: DateTime<Utc>,
    /// The window: every pack is to be verified within this many days.
    pub within_days: u32,
    /// Packs in the repository.
    pub packs: usize,
    /// Packs read and verified in the last scrub.
    pub verified_now: usize,
    /// Packs verified within the window.
    pub verified_within: usize,
    /// Packs whose last verification (or first sighting, for packs not
    /// read yet) is older than the window.
    pub overdue: usize,
}

/// Per-repository state after a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RepoState {
    /// Whether every step on this repository held in this run.
    pub ok: bool,
    /// Last run in which every step on it held.
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    /// Time of its newest snapshot of this plan.
    #[serde(default)]
    pub newest_snapshot: Option<DateTime<Utc>>,
    /// Seconds between the run's time and the newest snapshot (RPO).
    #[serde(default)]
    pub snapshot_age_secs: Option<i64>,
    /// Bytes added in this run.
    #[serde(default)]
    pub bytes_added: u64,
    /// The latest drill.
    #[serde(default)]
    pub drill: Option<DrillResult>,
    /// This plan's snapshots in the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshots: Option<usize>,
    /// Bytes the repository's packs take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// The latest full-restore drill from this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_drill: Option<DrillRun>,
    /// The measured recovery time: the latest passing full restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_secs: Option<f64>,
    /// The scrub rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrub: Option<ScrubStatus>,
    /// The plan's `max_rpo` for this repository, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rpo_secs: Option<u64>,
    /// The plan's `max_rto` for this repository, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rto_secs: Option<u64>,
    /// Thresholds crossed (RPO, RTO, scrub window, failed drills): the
    /// repository's status is red while any is listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

/// The JSON status file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunReport {
    /// The plan's name.
    pub plan: String,
    /// The run's (possibly injected) time.
    pub time: DateTime<Utc>,
    /// Wall-clock start.
    pub started: DateTime<Utc>,
    /// Wall-clock duration.
    pub duration_secs: f64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Whether every step held.
    pub ok: bool,
    /// Last run time at which every step held.
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    /// Last time each step held, by step name.
    #[serde(default)]
    pub step_last_success: BTreeMap<String, DateTime<Utc>>,
    /// Per repository.
    #[serde(default)]
    pub repositories: BTreeMap<String, RepoState>,
    /// The latest rollback (`rollback`) and PBS (`pbs`) drills.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub drills: BTreeMap<String, DrillRun>,
    /// The steps, in order.
    pub steps: Vec<StepReport>,
}

impl RunReport {
    /// Reads a status file; a missing file gives `None`.
    pub fn read(path: &Path) -> Result<Option<RunReport>> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| Error::Other(format!("status file {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// Whether the plan is green: every step held and no threshold is
    /// crossed.
    pub fn green(&self) -> bool {
        self.ok
            && self.repositories.values().all(|r| r.alerts.is_empty())
            && self.drills.values().all(|d| d.ok)
    }

    /// The human summary: one line per step and a verdict.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "plan {} at {}{}\n",
            self.plan,
            self.time.format("%Y-%m-%d %H:%M:%S UTC"),
            if self.dry_run { " (dry run)" } else { "" }
        );
        for st in &self.steps {
            let mark = match st.status {
                Status::Ok => "ok     ",
                Status::Warning => "WARN   ",
                Status::Failed => "FAILED ",
                Status::Skipped => "skipped",
                Status::Planned => "plan   ",
            };
            s.push_str(&format!(
                "  {mark} {:<28} {} ({:.1} s)\n",
                st.name, st.message, st.duration_secs
            ));
        }
        let failed = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Failed)
            .count();
        for (name, r) in &self.repositories {
            let rpo = r
                .snapshot_age_secs
                .map_or("-".to_string(), |s| format!("{:.1} h", s as f64 / 3600.0));
            let rto = r
                .rto_secs
                .map_or("not measured".to_string(), |s| format!("{s:.1} s"));
            s.push_str(&format!("  {name}: RPO {rpo}, RTO {rto}\n"));
            for a in &r.alerts {
                s.push_str(&format!("  RED     {name}: {a}\n"));
            }
        }
        if failed == 0 {
            s.push_str(&format!(
                "every step held ({} steps, {:.1} s)\n",
                self.steps.len(),
                self.duration_secs
            ));
        } else {
            s.push_str(&format!("{failed} step(s) FAILED\n"));
        }
        s
    }
}

/// One line of the run history (`STATE_DIR/runs.jsonl`): what the
/// status page plots over time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    /// The run's time.
    pub time: DateTime<Utc>,
    /// Whether every step held.
    pub ok: bool,
    /// How long it took.
    pub duration_secs: f64,
    /// Per repository.
    #[serde(default)]
    pub repositories: BTreeMap<String, HistoryRepo>,
}

/// One repository in a history line.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct HistoryRepo {
    /// This plan's snapshots in it.
    #[serde(default)]
    pub snapshots: Option<usize>,
    /// Bytes added by the run.
    #[serde(default)]
    pub bytes_added: u64,
    /// Bytes its packs take.
    #[serde(default)]
    pub size_bytes: Option<u64>,
    /// A full restore's duration, when the run measured one.
    #[serde(default)]
    pub rto_secs: Option<f64>,
}

impl HistoryEntry {
    /// The history line of a run.
    pub fn of(r: &RunReport) -> HistoryEntry {
        HistoryEntry {
            time: r.time,
            ok: r.ok,
            duration_secs: r.duration_secs,
            repositories: r
                .repositories
                .iter()
                .map(|(name, st)| {
                    let measured = st
                        .full_drill
                        .as_ref()
                        .filter(|d| d.time == r.time && d.ok)
                        .map(|d| d.duration_secs);
                    let h = HistoryRepo {
                        snapshots: st.snapshots,
                        bytes_added: st.bytes_added,
                        size_bytes: st.size_bytes,
                        rto_secs: measured,
                    };
                    (name.clone(), h)
                })
                .collect(),
        }
    }

    /// The last `max` lines of a history file (unreadable lines skipped;
    /// a missing file is an empty history).
    pub fn read_all(path: &Path, max: usize) -> Vec<HistoryEntry> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut v: Vec<HistoryEntry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = v.len().saturating_sub(max);
        v.drain(..skip);
        v
    }
}

/// Writes `bytes` to `path` atomically (temporary file, then rename), so
/// readers such as node_exporter never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
