//! The pages, as HTML strings built from the plan, its status file and
//! its run history (pure: no I/O, so every page is tested as text).

use std::fmt::Write;

use chrono::{DateTime, Utc};
use hbk_plan::config::Plan;
use hbk_plan::report::{HistoryEntry, RepoState, RunReport, Status};

use crate::escape::esc;
use crate::svg::{line_plot, Series};

/// A repository URL as hbk shows locations: never with a password.
fn shown_url(url: &str) -> String {
    hbk_backend::location::parse(url).map_or_else(|_| String::new(), |l| l.to_string())
}

/// A whole page.
pub fn page(plan: &str, title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} — hbk plan {p}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<link rel=\"icon\" href=\"data:,\">\
<style>body{{font:14px system-ui,sans-serif;margin:1.5em;color:#222}}nav a{{margin-right:1em}}table{{border-collapse:collapse}}\
td,th{{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}}\
.light{{display:inline-block;width:.9em;height:.9em;border-radius:50%;margin-right:.3em;vertical-align:middle}}\
.green .light{{background:#38a169}}.amber .light{{background:#d69e2e}}.red .light{{background:#e53e3e}}\
.red td.state{{color:#c53030;font-weight:600}}figure.plot{{margin:1em 0}}ul.alerts{{margin:0;padding-left:1.2em;color:#c53030}}</style>\
</head><body><nav><a href=\"/\">Dashboard</a><a href=\"/history\">History</a><a href=\"/snapshots\">Snapshots</a><a href=\"/metrics\">Metrics</a></nav>\
<h1>{t}</h1>{body}</body></html>",
        t = esc(title),
        p = esc(plan)
    )
}

/// A repository's light.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Light {
    /// Fresh, restorable, within every threshold.
    Green,
    /// Held, but something to look at: a warning, an RPO near its limit,
    /// no drill yet.
    Amber,
    /// A step failed or a threshold is crossed.
    Red,
}

impl Light {
    /// The CSS class and word.
    pub fn word(self) -> &'static str {
        match self {
            Light::Green => "green",
            Light::Amber => "amber",
            Light::Red => "red",
        }
    }
}

/// The light of repository `name` in report `r`.
pub fn light(r: &RunReport, name: &str, st: &RepoState) -> Light {
    if !st.ok || !st.alerts.is_empty() {
        return Light::Red;
    }
    let warned = r
        .steps
        .iter()
        .any(|s| s.repository.as_deref() == Some(name) && s.status == Status::Warning);
    let near = match (st.snapshot_age_secs, st.max_rpo_secs) {
        (Some(age), Some(max)) => age as f64 > 0.75 * max as f64,
        _ => false,
    };
    if warned || near || st.drill.is_none() {
        Light::Amber
    } else {
        Light::Green
    }
}

fn age(secs: Option<i64>) -> String {
    match secs {
        None => "—".into(),
        Some(s) if s < 3600 => format!("{} min", s / 60),
        Some(s) if s < 172_800 => format!("{:.1} h", s as f64 / 3600.0),
        Some(s) => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

/// Bytes as `1.2 GB`.
pub fn bytes(n: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} {}", units[u])
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// How a drill ended, as the pages write it.
fn verdict(ok: bool) -> &'static str {
    if ok {
        "passed"
    } else {
        "FAILED"
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The dashboard: one row per repository with its light.
pub fn dashboard(plan: &Plan, report: Option<&RunReport>) -> String {
    let Some(r) = report else {
        return page(
            &plan.name,
            &format!("Plan {}", plan.name),
            &format!(
                "<p>The plan has not run yet ({} is missing).</p>",
                esc(&plan.json_path().display().to_string())
            ),
        );
    };
    let mut body = format!(
        "<p id=\"verdict\" class=\"{}\">Last run {} ({}), {:.0} s: {}.</p>",
        if r.green() { "green" } else { "red" },
        when(r.time),
        if r.dry_run { "dry run" } else { "run" },
        r.duration_secs,
        if r.ok {
            "every step held"
        } else {
            "a step FAILED"
        }
    );
    body.push_str("<table id=\"repositories\"><thead><tr><th>repository</th><th>state</th><th>RPO (newest snapshot)</th><th>last success</th><th>last drill</th><th>full restore (RTO)</th><th>verified</th><th>size</th><th>snapshots</th></tr></thead><tbody>");
    for name in plan.repo_order() {
        let Some(st) = r.repositories.get(name) else {
            continue;
        };
        let l = light(r, name, st);
        let url = plan
            .repositories
            .get(name)
            .map(|c| shown_url(&c.url))
            .unwrap_or_default();
        let drill = st.drill.as_ref().map_or("never".to_string(), |d| {
            format!(
                "sample: {} {} ({} files{})",
                when(d.time),
                verdict(d.ok),
                d.files,
                d.duration_secs
                    .map_or(String::new(), |s| format!(", {s:.1} s"))
            )
        });
        let full = st.full_drill.as_ref().map_or("never".to_string(), |d| {
            format!(
                "{} {} in {:.1} s{}",
                when(d.time),
                verdict(d.ok),
                d.duration_secs,
                d.bytes_per_sec
                    .map_or(String::new(), |b| format!(", {}/s", bytes(b)))
            )
        });
        let verified = match (&st.scrub, &st.drill) {
            (Some(s), _) => format!(
                "{} of {} packs within {} d",
                s.verified_within, s.packs, s.within_days
            ),
            (None, Some(d)) => format!("sample {} ago", age(Some((r.time - d.time).num_seconds()))),
            _ => "never".into(),
        };
        let mut alerts = String::new();
        if !st.alerts.is_empty() {
            alerts.push_str("<ul class=\"alerts\">");
            for a in &st.alerts {
                let _ = write!(alerts, "<li>{}</li>", esc(a));
            }
            alerts.push_str("</ul>");
        }
        let _ = write!(
            body,
            "<tr class=\"repo {l}\" data-repository=\"{n}\"><td><b>{n}</b><br><small>{u}</small></td><td class=\"state\"><span class=\"light\"></span>{l}{alerts}</td><td>{rpo}</td><td>{ls}</td><td>{drill}</td><td>{full}</td><td>{verified}</td><td>{size}</td><td>{snaps}</td></tr>",
            l = l.word(),
            n = esc(name),
            u = esc(&url),
            rpo = age(st.snapshot_age_secs),
            ls = st.last_success.map_or("never".into(), when),
            drill = esc(&drill),
            full = esc(&full),
            verified = esc(&verified),
            size = st.size_bytes.map_or("—".into(), |b| bytes(b as f64)),
            snaps = st.snapshots.map_or("—".into(), |n| n.to_string()),
        );
    }
    body.push_str("</tbody></table>");
    if !r.drills.is_empty() {
        body.push_str("<h2>Other drills</h2><table id=\"drills\"><tr><th>kind</th><th>when</th><th>result</th><th>duration</th><th>what</th></tr>");
        for (kind, d) in &r.drills {
            let _ = write!(
                body,
                "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{}</td></tr>",
                if d.ok { "green" } else { "red" },
                esc(kind),
                when(d.time),
                verdict(d.ok),
                d.duration_secs,
                esc(&d.message)
            );
        }
        body.push_str("</table>");
    }
    let failed: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.status == Status::Failed)
        .collect();
    if !failed.is_empty() {
        body.push_str("<h2>Failed steps</h2><ul id=\"failed\">");
        for s in failed {
            let _ = write!(
                body,
                "<li><b>{}</b>: {}</li>",
                esc(&s.name),
                esc(&s.message)
            );
        }
        body.push_str("</ul>");
    }
    page(&plan.name, &format!("Plan {}", plan.name), &body)
}

/// The history page: plots over the recorded runs.
pub fn history(plan: &Plan, runs: &[HistoryEntry]) -> String {
    let names: Vec<&str> = plan.repo_order();
    let per_repo = |get: fn(&hbk_plan::report::HistoryRepo) -> Option<f64>| -> Vec<Series> {
        names
            .iter()
            .map(|n| Series {
                name: n.to_string(),
                points: runs
                    .iter()
                    .filter_map(|e| e.repositories.get(*n).and_then(get).map(|v| (e.time, v)))
                    .collect(),
            })
            .collect()
    };
    let count = |v: f64| format!("{v:.0}");
    let secs = |v: f64| format!("{v:.1} s");
    let mut body = format!("<p>{} runs recorded.</p>", runs.len());
    body.push_str(&line_plot(
        "snapshots",
        "Snapshots of this plan per repository",
        &per_repo(|r| r.snapshots.map(|n| n as f64)),
        count,
    ));
    body.push_str(&line_plot(
        "added",
        "Bytes added per run",
        &per_repo(|r| Some(r.bytes_added as f64)),
        bytes,
    ));
    body.push_str(&line_plot(
        "duration",
        "Run duration",
        &[Series {
            name: "run".into(),
            points: runs.iter().map(|e| (e.time, e.duration_secs)).collect(),
        }],
        secs,
    ));
    body.push_str(&line_plot(
        "size",
        "Repository size",
        &per_repo(|r| r.size_bytes.map(|b| b as f64)),
        bytes,
    ));
    body.push_str(&line_plot(
        "rto",
        "Full restore drill duration (RTO)",
        &per_repo(|r| r.rto_secs),
        secs,
    ));
    page(&plan.name, "History", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_and_text_is_escaped() {
        assert!(!shown_url("rest:https://u:secret@h:8000/r").contains("secret"));
        assert_eq!(shown_url("/srv/repo"), "/srv/repo");
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(bytes(1_234_567.0), "1.2 MB");
    }
}
