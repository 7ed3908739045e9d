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
    o.family(
        "hbk_plan_repository_success",
        "Whether every step on the repository held.",
    );
    for (name, st) in &r.repositories {
        o.sample(
            "hbk_plan_repository_success",
            &[("plan", plan), ("repository", name)],
            b(st.ok),
        );
    }
    o.family(
        "hbk_plan_repository_last_success_timestamp_seconds",
        "Last run in which every step on the repository held.",
    );
    for (name, st) in &r.repositories {
        if let Some(t) = st.last_success {
            o.sample(
                "hbk_plan_repository_last_success_timestamp_seconds",
                &[("plan", plan), ("repository", name)],
                t.timestamp() as f64,
            );
        }
    }
    o.family(
        "hbk_plan_repository_bytes_added",
        "Bytes added to the repository by the last run.",
    );
    for (name, st) in &r.repositories {
        o.sample(
            "hbk_plan_repository_bytes_added",
            &[("plan", plan), ("repository", name)],
            st.bytes_added as f64,
        );
    }
    o.family(
        "hbk_plan_repository_snapshot_age_seconds",
        "Age of the newest snapshot of the plan in the repository (RPO).",
    );
    for (name, st) in &r.repositories {
        if let Some(age) = st.snapshot_age_secs {
            o.sample(
                "hbk_plan_repository_snapshot_age_seconds",
                &[("plan", plan), ("repository", name)],
                age as f64,
            );
        }
    }
    o.family(
        "hbk_plan_drill_success",
        "Result of the last restore drill.",
    );
    for (name, st) in &r.repositories {
        if let Some(d) = &st.drill {
            o.sample(
                "hbk_plan_drill_success",
                &[("plan", plan), ("repository", name)],
                b(d.ok),
            );
        }
    }
    o.family(
        "hbk_plan_drill_timestamp_seconds",
        "Time of the last restore drill.",
    );
    for (name, st) in &r.repositories {
        if let Some(d) = &st.drill {
            o.sample(
                "hbk_plan_drill_timestamp_seconds",
                &[("plan", plan), ("repository", name)],
                d.time.timestamp() as f64,
            );
        }
    }
    o.text
}
