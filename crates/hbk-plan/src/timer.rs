//! systemd units for a plan: a oneshot service and a timer for the run,
//! and the same pair for drills.

use std::path::Path;

use crate::config::Plan;

/// A unit's file name and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// File name, e.g. `hbk-plan-homelab.service`.
    pub name: String,
    /// The unit file.
    pub text: String,
}

fn quote(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@".contains(c))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The four units: run service + timer, drill service + timer.
pub fn units(plan: &Plan, hbk: &Path, plan_file: &Path) -> Vec<Unit> {
    let exe = quote(&hbk.display().to_string());
    let file = quote(&plan_file.display().to_string());
    let delay = plan
        .schedule
        .randomized_delay
        .map(|d| format!("RandomizedDelaySec={}\n", d.0.as_secs()))
        .unwrap_or_default();
    let mut out = Vec::new();
    for (what, verb, calendar) in [
        ("run", "run", &plan.schedule.run),
        ("drill", "drill", &plan.schedule.drill),
    ] {
        let base = if what == "run" {
            format!("hbk-plan-{}", plan.name)
        } else {
            format!("hbk-plan-{}-drill", plan.name)
        };
        out.push(Unit {
            name: format!("{base}.service"),
            text: format!(
                "[Unit]\n\
                 Description=hbk plan {name}: {what}\n\
                 Wants=network-online.target\n\
                 After=network-online.target\n\
                 \n\
                 [Service]\n\
                 Type=oneshot\n\
                 ExecStart={exe} plan {verb} {file}\n\
                 # SIGTERM lets hbk clear PBS maintenance mode and release locks.\n\
                 KillSignal=SIGTERM\n\
                 TimeoutStopSec=120\n\
                 Nice=10\n\
                 IOSchedulingClass=idle\n",
                name = plan.name
            ),
        });
        out.push(Unit {
            name: format!("{base}.timer"),
            text: format!(
                "[Unit]\n\
                 Description=hbk plan {name}: {what} schedule\n\
                 \n\
                 [Timer]\n\
                 OnCalendar={calendar}\n\
                 Persistent=true\n\
                 {delay}\
                 \n\
                 [Install]\n\
                 WantedBy=timers.target\n",
                name = plan.name
            ),
        });
    }
    out
}
