//! `plan show`: the ordered steps a run would take, from the plan alone
//! (nothing is contacted).

use crate::config::{Guests, Plan, PBS_SOURCE};

/// One line per step, in run order.
pub fn steps(plan: &Plan) -> Vec<String> {
    let mut v = vec![format!("take the plan lock {}", plan.lock_path().display())];
    for name in plan.repo_order() {
        let r = &plan.repositories[name];
        let mut extra = String::new();
        if r.require_mount {
            extra.push_str(", must be a mounted disk");
        }
        if let Some(m) = r.min_free {
            extra.push_str(&format!(", at least {} bytes free", m.0));
        }
        v.push(format!(
            "preflight repository {name} ({}): password from {}{extra}",
            r.url,
            r.password.describe()
        ));
    }
    if let Some(p) = &plan.proxmox {
        v.push(format!(
            "preflight Proxmox VE API {} as {}",
            p.api.url, p.api.token_id
        ));
    }
    if let Some(p) = &plan.pbs {
        v.push(format!(
            "preflight PBS API {} as {}",
            p.api.url, p.api.token_id
        ));
    }
    if let Some(p) = &plan.proxmox {
        let guests = match &p.guests {
            Guests::All => "every guest that is not a template".to_string(),
            Guests::Ids(ids) => format!("guests {ids:?}"),
        };
        v.push(format!(
            "snapshot {guests} as {}-YYYYMMDD-HHMMSS{}, wait for each task",
            p.snapshot_prefix,
            if p.vmstate { " with RAM" } else { "" }
        ));
        v.push(format!(
            "rotate: keep the newest {} {}-* snapshots per guest, leave all others",
            p.keep, p.snapshot_prefix
        ));
        if let Some(z) = &p.vzdump {
            v.push(format!(
                "vzdump ({} mode) to PBS storage {}, one task per node",
                z.mode, z.storage
            ));
        }
    }
    if let Some(p) = &plan.pbs {
        v.push(format!(
            "set datastore {} to maintenance mode {}, wait for active operations to drain",
            p.datastore,
            p.quiesce.mode()
        ));
        v.push(format!(
            "back up {} into {} (source {PBS_SOURCE}, ctime ignored)",
            p.path.display(),
            plan.primary
        ));
        v.push(format!(
            "clear maintenance mode of {} (always)",
            p.datastore
        ));
    }
    for s in &plan.sources {
        if !s.hooks.before.is_empty() {
            v.push(format!(
                "run {} before-hook(s) of {}",
                s.hooks.before.len(),
                s.name
            ));
        }
        v.push(format!(
            "back up source {} ({}) into {}",
            s.name,
            s.paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            plan.primary
        ));
        if !s.hooks.after.is_empty() {
            v.push(format!(
                "run {} after-hook(s) of {}",
                s.hooks.after.len(),
                s.name
            ));
        }
        if !s.hooks.on_failure.is_empty() {
            v.push(format!(
                "on failure: run {} hook(s) of {}",
                s.hooks.on_failure.len(),
                s.name
            ));
        }
    }
    for t in &plan.copy_targets {
        v.push(format!(
            "copy the new snapshots from {} to {t}",
            plan.primary
        ));
    }
    for name in plan.repo_order() {
        let r = &plan.repositories[name];
        v.push(format!(
            "forget in {name} by its retention{}",
            if r.retention.prune {
                ", then prune"
            } else {
                ""
            }
        ));
    }
    v.push(format!(
        "drill (every {} days): restore {} random files per latest snapshot, compare hashes, check {}, in {}",
        plan.drill.every_days,
        plan.drill.files,
        plan.drill.read_data_subset,
        plan.drill_repos().join(", ")
    ));
    if let Some(f) = &plan.drill.full {
        v.push(format!(
            "full-restore drill (every {} days): restore the newest snapshot of every source whole from {}, compare every file, time it (RTO)",
            f.every_days,
            plan.full_drill_repos().join(", ")
        ));
    }
    if let (Some(d), Some(p)) = (&plan.drill.pbs, &plan.pbs) {
        v.push(format!(
            "PBS drill (every {} days): restore {} from {} and verify every chunk file{}",
            d.every_days,
            p.path.display(),
            d.repository.as_deref().unwrap_or(plan.offsite()),
            if d.verify_job {
                format!(", then a verify job on datastore {}", p.datastore)
            } else {
                String::new()
            }
        ));
    }
    if let Some(d) = &plan.drill.rollback {
        v.push(format!(
            "rollback drill (every {} days): clone each guest from its newest snapshot into {}, start it, wait for it (and its guest agent), destroy the clone",
            d.every_days,
            d.scratch_vmid
                .map_or("the next free VMID".to_string(), |id| format!("VMID {id}"))
        ));
    }
    if let Some(s) = &plan.scrub {
        v.push(format!(
            "scrub: verify this run's share of the packs of {}, every pack within {} days",
            plan.scrub_repos().join(", "),
            s.within_days
        ));
        v.push("heal what a drill or the scrub found damaged from another copy".into());
    } else {
        v.push("heal what a drill found damaged from another copy".into());
    }
    v.push(format!("write the report {}", plan.json_path().display()));
    if let Some(p) = &plan.report.prometheus {
        v.push(format!("write the Prometheus textfile {}", p.display()));
    }
    v
}
