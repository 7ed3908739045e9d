//! The Prometheus textfile (node_exporter's textfile collector format).

use std::fmt::Write;

use super::{RunReport, Status};

fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} gauge");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let l = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
            .collect::<Vec<_>>()
            .join(",");
        let _ = writeln!(self.text, "{name}{{{l}}} {value}");
    }
}

fn b(x: bool) -> f64 {
    if x {
        1.0
    } else {
        0.0
    }
}

/// The metrics of a run, as text.
pub fn prometheus_text(r: &RunReport) -> String {
    let plan = r.plan.as_str();
    let p = [("plan", plan)];
    let mut o = Out {
        text: String::new(),
    };
    o.family(
        "hbk_plan_success",
        "Whether every step of the last run held.",
    );
    o.sample("hbk_plan_success", &p, b(r.ok));
    o.family("hbk_plan_run_timestamp_seconds", "Time of the last run.");
    o.sample(
        "hbk_plan_run_timestamp_seconds",
        &p,
        r.time.timestamp() as f64,
    );
    o.family("hbk_plan_run_duration_seconds", "Duration of the last run.");
    o.sample("hbk_plan_run_duration_seconds", &p, r.duration_secs);
    if let Some(t) = r.last_success {
        o.family(
            "hbk_plan_last_success_timestamp_seconds",
            "Time of the last run in which every step held.",
        );
        o.sample(
            "hbk_plan_last_success_timestamp_seconds",
            &p,
            t.timestamp() as f64,
        );
    }
    o.family(
        "hbk_plan_step_success",
        "Whether the step held in the last run.",
    );
    for s in &r.steps {
        let labels = [("plan", plan), ("step", &s.name), ("kind", &s.kind)];
        let held = s.status.held() && s.status != Status::Skipped;
        o.sample("hbk_plan_step_success", &labels, b(held));
    }
    o.family(
        "hbk_plan_step_duration_seconds",
        "Duration of the step in the last run.",
    );
    for s in &r.steps {
        let labels = [("plan", plan), ("step", &s.name), ("kind", &s.kind)];
        o.sample("hbk_plan_step_duration_seconds", &labels, s.duration_secs);
    }
    o.family(
        "hbk_plan_step_last_success_timestamp_seconds",
        "Last time the step held.",
    );
    for (name, t) in &r.step_last_success {
        let labels = [("plan", plan), ("step", name.as_str())];
        o.sample(
            "hbk_plan_step_last_success_timestamp_seconds",
            &labels,
            t.timestamp() as f64,
        );
    }
    repository_metrics(&mut o, r);
    drill_kind_metrics(&mut o, r);
    o.text
}

/// The rollback and PBS drills, by kind.
fn drill_kind_metrics(o: &mut Out, r: &RunReport) {
    type Get = fn(&super::DrillRun) -> f64;
    let gauges: [(&str, &str, Get); 3] = [
        (
            "hbk_plan_drill_kind_success",
            "Result of the last rollback (kind=rollback) or PBS (kind=pbs) drill.",
            |d| b(d.ok),
        ),
        (
            "hbk_plan_drill_kind_timestamp_seconds",
            "Time of the last rollback or PBS drill.",
            |d| d.time.timestamp() as f64,
        ),
        (
            "hbk_plan_drill_kind_duration_seconds",
            "Duration of the last rollback or PBS drill.",
            |d| d.duration_secs,
        ),
    ];
    for (name, help, get) in gauges {
        o.family(name, help);
        for (kind, d) in &r.drills {
            o.sample(name, &[("plan", r.plan.as_str()), ("kind", kind)], get(d));
        }
    }
}

/// Per repository: success, RPO, drills, RTO, thresholds, scrub and
/// alerts.
fn repository_metrics(o: &mut Out, r: &RunReport) {
    let plan = r.plan.as_str();
    type Get = fn(&super::RepoState) -> Option<f64>;
    let gauges: [(&str, &str, Get); 17] = [
        (
            "hbk_plan_repository_success",
            "Whether every step on the repository held.",
            |s| Some(b(s.ok)),
        ),
        (
            "hbk_plan_repository_last_success_timestamp_seconds",
            "Last run in which every step on the repository held.",
            |s| s.last_success.map(|t| t.timestamp() as f64),
        ),
        (
            "hbk_plan_repository_bytes_added",
            "Bytes added to the repository by the last run.",
            |s| Some(s.bytes_added as f64),
        ),
        (
            "hbk_plan_repository_snapshot_age_seconds",
            "Age of the newest snapshot of the plan in the repository (RPO).",
            |s| s.snapshot_age_secs.map(|a| a as f64),
        ),
        (
            "hbk_plan_drill_success",
            "Result of the last restore drill.",
            |s| s.drill.as_ref().map(|d| b(d.ok)),
        ),
        (
            "hbk_plan_drill_timestamp_seconds",
            "Time of the last restore drill.",
            |s| s.drill.as_ref().map(|d| d.time.timestamp() as f64),
        ),
        (
            "hbk_plan_repository_rto_seconds",
            "Duration of the last passing full-restore drill from the repository (measured RTO).",
            |s| s.rto_secs,
        ),
        (
            "hbk_plan_repository_max_rpo_seconds",
            "The plan's max_rpo for the repository.",
            |s| s.max_rpo_secs.map(|v| v as f64),
        ),
        (
            "hbk_plan_repository_max_rto_seconds",
            "The plan's max_rto for the repository.",
            |s| s.max_rto_secs.map(|v| v as f64),
        ),
        (
            "hbk_plan_repository_alerts",
            "Thresholds the repository crosses (RPO, RTO, failed drills, scrub window); 0 is green.",
            |s| Some(s.alerts.len() as f64),
        ),
        (
            "hbk_plan_full_drill_success",
            "Result of the last full-restore drill from the repository.",
            |s| s.full_drill.as_ref().map(|d| b(d.ok)),
        ),
        (
            "hbk_plan_full_drill_timestamp_seconds",
            "Time of the last full-restore drill from the repository.",
            |s| s.full_drill.as_ref().map(|d| d.time.timestamp() as f64),
        ),
        (
            "hbk_plan_full_drill_bytes_per_second",
            "Restore speed of the last full-restore drill from the repository.",
            |s| s.full_drill.as_ref().and_then(|d| d.bytes_per_sec),
        ),
        (
            "hbk_plan_scrub_packs",
            "Packs in the repository at the last scrub.",
            |s| s.scrub.as_ref().map(|x| x.packs as f64),
        ),
        (
            "hbk_plan_scrub_verified_within_ratio",
            "Share of the repository's packs verified within the scrub window.",
            |s| {
                s.scrub
                    .as_ref()
                    .map(|x| x.verified_within as f64 / (x.packs.max(1)) as f64)
            },
        ),
        (
            "hbk_plan_scrub_overdue_packs",
            "Packs not verified within the scrub window.",
            |s| s.scrub.as_ref().map(|x| x.overdue as f64),
        ),
        (
            "hbk_plan_scrub_within_days",
            "The scrub window: every pack is verified within this many days.",
            |s| s.scrub.as_ref().map(|x| f64::from(x.within_days)),
        ),
    ];
    for (name, help, get) in gauges {
        o.family(name, help);
        for (repo, st) in &r.repositories {
            if let Some(v) = get(st) {
                o.sample(name, &[("plan", plan), ("repository", repo)], v);
            }
        }
    }
}
