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

/// A oneshot service running `exec`, and its timer.
fn pair(base: &str, description: &str, exec: &str, calendar: &str, delay: &str) -> [Unit; 2] {
    [
        Unit {
            name: format!("{base}.service"),
            text: format!(
                "[Unit]\n\
                 Description={description}\n\
                 Documentation=man:hbk-plan(1)\n\
                 Wants=network-online.target\n\
                 After=network-online.target\n\
                 \n\
                 [Service]\n\
                 Type=oneshot\n\
                 ExecStart={exec}\n\
                 # SIGTERM lets hbk clear PBS maintenance mode and release locks.\n\
                 KillSignal=SIGTERM\n\
                 TimeoutStopSec=120\n\
                 Nice=10\n\
                 IOSchedulingClass=idle\n"
            ),
        },
        Unit {
            name: format!("{base}.timer"),
            text: format!(
                "[Unit]\n\
                 Description={description} schedule\n\
                 \n\
                 [Timer]\n\
                 OnCalendar={calendar}\n\
                 Persistent=true\n\
                 {delay}\
                 \n\
                 [Install]\n\
                 WantedBy=timers.target\n"
            ),
        },
    ]
}

/// The four units of one plan: run service + timer, drill service +
/// timer.
pub fn units(plan: &Plan, hbk: &Path, plan_file: &Path) -> Vec<Unit> {
    let exe = quote(&hbk.display().to_string());
    let file = quote(&plan_file.display().to_string());
    let delay = plan
        .schedule
        .randomized_delay
        .map(|d| format!("RandomizedDelaySec={}\n", d.0.as_secs()))
        .unwrap_or_default();
    let name = &plan.name;
    let mut out = Vec::new();
    out.extend(pair(
        &format!("hbk-plan-{name}"),
        &format!("hbk plan {name}: run"),
        &format!("{exe} plan run {file}"),
        &plan.schedule.run,
        &delay,
    ));
    out.extend(pair(
        &format!("hbk-plan-{name}-drill"),
        &format!("hbk plan {name}: drill"),
        &format!("{exe} plan drill {file}"),
        &plan.schedule.drill,
        &delay,
    ));
    out
}

/// Template units for packages: `hbk-plan@NAME.timer` runs the plan
/// `/etc/hbk/NAME.toml` nightly, `hbk-plan-drill@NAME.timer` drills it
/// weekly, `hbk-plan-serve@NAME.service` serves its status page. The
/// same texts as [`units`] writes for one plan, with the plan's name as
/// the instance.
pub fn template_units(hbk: &Path) -> Vec<Unit> {
    let exe = quote(&hbk.display().to_string());
    let defaults = crate::config::ScheduleConfig::default();
    let delay = "RandomizedDelaySec=600\n";
    let mut out = Vec::new();
    out.extend(pair(
        "hbk-plan@",
        "hbk plan %i: run",
        &format!("{exe} plan run /etc/hbk/%i.toml"),
        &defaults.run,
        delay,
    ));
    out.extend(pair(
        "hbk-plan-drill@",
        "hbk plan %i: drill",
        &format!("{exe} plan drill /etc/hbk/%i.toml"),
        &defaults.drill,
        delay,
    ));
    out.push(Unit {
        name: "hbk-plan-serve@.service".into(),
        text: format!(
            "[Unit]\n\
             Description=hbk plan %i: status page\n\
             Documentation=man:hbk-plan(1)\n\
             After=network-online.target\n\
             \n\
             [Service]\n\
             ExecStart={exe} plan serve /etc/hbk/%i.toml\n\
             Restart=on-failure\n\
             \n\
             [Install]\n\
             WantedBy=multi-user.target\n"
        ),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_units_run_the_instances_plan() {
        let u = template_units(Path::new("/usr/bin/hbk"));
        let names: Vec<&str> = u.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "hbk-plan@.service",
                "hbk-plan@.timer",
                "hbk-plan-drill@.service",
                "hbk-plan-drill@.timer",
                "hbk-plan-serve@.service"
            ]
        );
        assert!(u[0]
            .text
            .contains("ExecStart=/usr/bin/hbk plan run /etc/hbk/%i.toml"));
        assert!(u[3].text.contains("OnCalendar=Sun *-*-* 05:00:00"));
        assert!(u[4].text.contains("plan serve /etc/hbk/%i.toml"));
    }
}
