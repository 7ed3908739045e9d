//! Notifications: a run's start, its success or failure, and failed
//! drills, sent to the plan's `[[notify]]` targets — a generic webhook,
//! ntfy, Gotify, healthchecks.io-style pings, or email (sendmail or
//! SMTP). Each send has a deadline (its `timeout`, one retry included)
//! and its failure is reported, never fatal: a dead receiver delays a run
//! by at most its timeout and never fails a backup.

mod smtp;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{NotifyConfig, NotifyEvent, NotifyKind, Plan};
use hbk_engine::lock::hostname;

use crate::report::{RunReport, Status};

/// What is told.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// The plan's name.
    pub plan: String,
    /// `start`, `success`, `failure` or `drill_failure`.
    pub event: &'static str,
    /// Whether this is good news.
    pub ok: bool,
    /// What happened and where to look, in a few sentences.
    pub message: String,
    /// The run's time.
    pub time: DateTime<Utc>,
    /// The machine the plan runs on.
    pub host: String,
    /// The steps that failed (for a failure or a drill failure).
    pub failed_steps: Vec<FailedStep>,
}

/// A failed step, named with its message.
#[derive(Debug, Clone, Serialize)]
pub struct FailedStep {
    /// Step name (`copy:usb`).
    pub name: String,
    /// What went wrong.
    pub message: String,
}

/// The notice of a run starting.
pub fn start_notice(plan: &Plan, now: DateTime<Utc>, what: &str) -> Notice {
    Notice {
        plan: plan.name.clone(),
        event: NotifyEvent::Start.name(),
        ok: true,
        message: format!("hbk plan {}: {what} started on {}.", plan.name, hostname()),
        time: now,
        host: hostname(),
        failed_steps: Vec::new(),
    }
}

/// The notices a finished run gives: success or failure, and a drill
/// failure when a drill failed.
pub fn end_notices(plan: &Plan, r: &RunReport) -> Vec<(NotifyEvent, Notice)> {
    let failed: Vec<FailedStep> = r
        .steps
        .iter()
        .filter(|s| s.status == Status::Failed)
        .map(|s| FailedStep {
            name: s.name.clone(),
            message: s.message.clone(),
        })
        .collect();
    let look = format!(
        "Details: `hbk plan status` on {} or {}.",
        hostname(),
        plan.json_path().display()
    );
    let list = |steps: &[FailedStep]| {
        steps
            .iter()
            .map(|s| format!("{}: {}", s.name, s.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let notice = |event: NotifyEvent, ok: bool, message: String, steps: Vec<FailedStep>| Notice {
        plan: plan.name.clone(),
        event: event.name(),
        ok,
        message,
        time: r.time,
        host: hostname(),
        failed_steps: steps,
    };
    let mut out = Vec::new();
    if failed.is_empty() {
        let m = format!(
            "hbk plan {}: every step held ({} steps, {:.0} s).",
            plan.name,
            r.steps.len(),
            r.duration_secs
        );
        out.push((
            NotifyEvent::Success,
            notice(NotifyEvent::Success, true, m, Vec::new()),
        ));
    } else {
        let m = format!(
            "hbk plan {}: {} step(s) FAILED on {}: {}. {look}",
            plan.name,
            failed.len(),
            hostname(),
            list(&failed)
        );
        out.push((
            NotifyEvent::Failure,
            notice(NotifyEvent::Failure, false, m, failed.clone()),
        ));
    }
    let drills: Vec<FailedStep> = failed
        .into_iter()
        .filter(|s| {
            r.steps
                .iter()
                .any(|st| st.name == s.name && st.kind == "drill")
        })
        .collect();
    if !drills.is_empty() {
        let m = format!(
            "hbk plan {}: a restore drill FAILED: {}. A copy may not restore; {look}",
            plan.name,
            list(&drills)
        );
        out.push((
            NotifyEvent::DrillFailure,
            notice(NotifyEvent::DrillFailure, false, m, drills),
        ));
    }
    out
}

/// Sends `n` to `target` within its timeout: one attempt, and a second
/// when the first failed fast enough to leave time.
pub fn send(target: &NotifyConfig, n: &Notice) -> Result<(), String> {
    let deadline = Instant::now() + target.timeout.0;
    let first = send_once(target, n, deadline);
    if first.is_ok() {
        return first;
    }
    std::thread::sleep(
        Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now())),
    );
    if deadline.saturating_duration_since(Instant::now()) < Duration::from_millis(100) {
        return first;
    }
    send_once(target, n, deadline).map_err(|e| format!("{e} (after a retry)"))
}

fn send_once(t: &NotifyConfig, n: &Notice, deadline: Instant) -> Result<(), String> {
    if t.kind == NotifyKind::Email {
        return email(t, n, deadline);
    }
    let url = t.url.as_deref().ok_or("no url")?.trim_end_matches('/');
    let left = deadline.saturating_duration_since(Instant::now());
    let http = reqwest::blocking::Client::builder()
        .timeout(left)
        .connect_timeout(left)
        .build()
        .map_err(|e| e.to_string())?;
    let token = match &t.token {
        Some(src) => Some(src.resolve("notify.token").map_err(|e| e.to_string())?),
        None => None,
    };
    let title = format!("hbk plan {}: {}", n.plan, n.event.replace('_', " "));
    let req = match t.kind {
        NotifyKind::Webhook => http.post(url).json(n),
        NotifyKind::Ntfy => {
            let mut r = http
                .post(url)
                .header("Title", title)
                .header("Priority", if n.ok { "3" } else { "5" })
                .header("Tags", if n.ok { "white_check_mark" } else { "warning" })
                .body(n.message.clone());
            if let Some(tok) = &token {
                r = r.bearer_auth(tok.expose());
            }
            r
        }
        NotifyKind::Gotify => {
            let tok = token.as_ref().ok_or("no token")?;
            http.post(format!("{url}/message"))
                .header("X-Gotify-Key", tok.expose())
                .json(&serde_json::json!({
                    "title": title, "message": n.message, "priority": if n.ok { 4 } else { 8 },
                }))
        }
        NotifyKind::Healthchecks => {
            let ping = match n.event {
                "start" => format!("{url}/start"),
                "success" => url.to_string(),
                _ => format!("{url}/fail"),
            };
            http.post(ping).body(n.message.clone())
        }
        NotifyKind::Email => return email(t, n, deadline),
    };
    let resp = req.send().map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{url} answered {}", resp.status()));
    }
    Ok(())
}

/// A header value without line breaks (no header injection).
fn header(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

fn email(t: &NotifyConfig, n: &Notice, deadline: Instant) -> Result<(), String> {
    let from = t
        .from
        .clone()
        .unwrap_or_else(|| format!("hbk@{}", hostname()));
    let subject = format!(
        "[hbk] plan {}: {}",
        n.plan,
        match n.event {
            "start" => "started",
            "success" => "every step held",
            "failure" => "FAILED",
            _ => "restore drill FAILED",
        }
    );
    let mut body = format!("{}\n", n.message);
    if !n.failed_steps.is_empty() {
        body.push_str("\nFailed steps:\n");
        for s in &n.failed_steps {
            body.push_str(&format!("  {}: {}\n", s.name, s.message));
        }
    }
    let message = format!(
        "From: {}\nTo: {}\nSubject: {}\nDate: {}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{body}",
        header(&from),
        header(&t.to.join(", ")),
        header(&subject),
        Utc::now().to_rfc2822(),
    );
    if let Some(prog) = &t.sendmail {
        return sendmail(prog, &message, deadline);
    }
    let smtp = t.smtp.as_ref().ok_or("neither sendmail nor smtp")?;
    let password = match &smtp.password {
        Some(src) => Some(
            src.resolve("notify.smtp.password")
                .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    smtp::send(smtp, password.as_ref(), &from, &t.to, &message, deadline)
}

fn sendmail(prog: &std::path::Path, message: &str, deadline: Instant) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new(prog)
        .args(["-t", "-oi"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", prog.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(message.as_bytes())
            .map_err(|e| format!("{}: {e}", prog.display()))?;
    }
    loop {
        match child.try_wait().map_err(|e| e.to_string())? {
            Some(s) if s.success() => return Ok(()),
            Some(s) => return Err(format!("{} exited with {s}", prog.display())),
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} timed out", prog.display()));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Every (step name, target, notice) to send: each notice to each
/// target that wants its event. The step names are
/// `notify:INDEX:KIND:EVENT`.
pub fn deliveries<'a>(
    plan: &'a Plan,
    notices: &'a [(NotifyEvent, Notice)],
) -> Vec<(String, &'a NotifyConfig, &'a Notice)> {
    let mut out = Vec::new();
    for (i, t) in plan.notify.iter().enumerate() {
        for (event, n) in notices.iter().filter(|(e, _)| t.on.contains(e)) {
            let label = format!("notify:{i}:{}:{}", t.kind.name(), event.name());
            out.push((label, t, n));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_lose_line_breaks() {
        assert_eq!(header("a\r\nBcc: x"), "a  Bcc: x");
    }
}
