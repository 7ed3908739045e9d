//! Step 2: guest snapshots, their rotation, and vzdump.

use std::collections::BTreeMap;

use crate::api::pve::{Guest, PveClient};
use crate::api::task::TaskOutcome;
use crate::config::{is_plan_snapshot, Guests, PveConfig};

use super::{Out, Runner};

/// The names to delete so that `keep` of `own` (sorted by name, which is
/// by time) remain.
pub(crate) fn to_rotate(mut own: Vec<String>, keep: usize) -> Vec<String> {
    own.sort();
    let excess = own.len().saturating_sub(keep);
    own.truncate(excess);
    own
}

/// A finished task as a step's outcome: `done` says what a task that
/// ended well did, `tried` what a failed one was doing.
fn outcome_out(done: &str, tried: &str, o: &TaskOutcome) -> Out {
    match o {
        TaskOutcome::Ok => Out::ok(done.to_string()),
        TaskOutcome::Warnings(n) => Out::warn(format!(
            "{done}, task ended with WARNINGS: {n} (e.g. the guest agent could not freeze file systems)"
        )),
        TaskOutcome::Failed(e) => Out::failed(format!("{tried} failed: task error: {e}")),
    }
}

impl Runner<'_> {
    pub(super) fn proxmox(&mut self) {
        let Some(cfg) = self.plan.proxmox.clone() else {
            return;
        };
        let t = self.start();
        let Some(client) = self.pve.clone() else {
            self.record(
                t,
                "pve:guests".into(),
                "snapshot",
                None,
                Out::skipped("Proxmox VE API unavailable (see preflight:pve)"),
            );
            return;
        };
        let all = match client.guests() {
            Ok(g) => g,
            Err(e) => {
                self.record(
                    t,
                    "pve:guests".into(),
                    "snapshot",
                    None,
                    Out::failed(e.to_string()),
                );
                return;
            }
        };
        let selected: Vec<Guest> = match &cfg.guests {
            Guests::All => all.into_iter().filter(|g| !g.template).collect(),
            Guests::Ids(ids) => {
                let mut v = Vec::new();
                for id in ids {
                    match all.iter().find(|g| g.vmid == *id) {
                        Some(g) => v.push(g.clone()),
                        None => {
                            let t = self.start();
                            self.record(
                                t,
                                format!("snapshot:{id}"),
                                "snapshot",
                                None,
                                Out::failed(format!("guest {id} not found in the cluster")),
                            );
                        }
                    }
                }
                v
            }
        };
        let name = format!(
            "{}-{}",
            cfg.snapshot_prefix,
            self.opts.now.format("%Y%m%d-%H%M%S")
        );
        let mut dumpable: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for g in &selected {
            let created = self.snapshot_guest(&client, &cfg, g, &name);
            self.rotate_guest(&client, &cfg, g, created);
            if g.lock.is_none() && !g.template {
                dumpable.entry(g.node.clone()).or_default().push(g.vmid);
            }
        }
        if let Some(v) = &cfg.vzdump {
            for (node, ids) in dumpable {
                let t = self.start();
                let what = format!("vzdump of {ids:?} to storage {}", v.storage);
                let out = if self.opts.dry_run {
                    Out::planned(format!("would run {what}"))
                } else {
                    match client
                        .vzdump(&node, &ids, &v.storage, &v.mode)
                        .and_then(|u| client.api().wait_task(&u))
                    {
                        Ok(o) => outcome_out(&format!("{what} done"), &what, &o),
                        Err(e) => Out::failed(format!("{what}: {e}")),
                    }
                };
                self.record(t, format!("vzdump:{node}"), "vzdump", None, out);
            }
        }
    }

    /// Snapshots one guest; returns whether the snapshot exists now (or
    /// would, in a dry run).
    fn snapshot_guest(&mut self, c: &PveClient, cfg: &PveConfig, g: &Guest, name: &str) -> bool {
        let t = self.start();
        let step = format!("snapshot:{}", g.id());
        let out = if g.template {
            Out::failed(format!(
                "guest {} is a template; templates cannot be snapshotted",
                g.vmid
            ))
        } else if let Some(lock) = &g.lock {
            Out::failed(format!(
                "guest {} is locked ({lock}); no snapshot taken",
                g.vmid
            ))
        } else if self.opts.dry_run {
            Out::planned(format!("would create snapshot {name}"))
        } else {
            let desc = format!("hbk plan {}", self.plan.name);
            match c
                .create_snapshot(g, name, &desc, cfg.vmstate)
                .and_then(|u| c.api().wait_task(&u))
            {
                Ok(o) => outcome_out(
                    &format!("snapshot {name} created"),
                    &format!("creating snapshot {name}"),
                    &o,
                ),
                Err(e) => Out::failed(format!("snapshot {name}: {e}")),
            }
        };
        let held = out.status.held();
        self.record(t, step, "snapshot", None, out);
        held
    }

    fn rotate_guest(&mut self, c: &PveClient, cfg: &PveConfig, g: &Guest, created: bool) {
        let t = self.start();
        let step = format!("rotate:{}", g.id());
        if !created {
            self.record(
                t,
                step,
                "rotate",
                None,
                Out::skipped("no new snapshot, so none rotated"),
            );
            return;
        }
        let out = match c.snapshots(g) {
            Err(e) => Out::failed(e.to_string()),
            Ok(list) => {
                let mut own: Vec<String> = list
                    .into_iter()
                    .map(|s| s.name)
                    .filter(|n| is_plan_snapshot(&cfg.snapshot_prefix, n))
                    .collect();
                if self.opts.dry_run {
                    own.push(format!(
                        "{}-{}",
                        cfg.snapshot_prefix,
                        self.opts.now.format("%Y%m%d-%H%M%S")
                    ));
                    own.dedup();
                }
                let doomed = to_rotate(own, cfg.keep as usize);
                if doomed.is_empty() {
                    Out::ok("nothing to rotate")
                } else if self.opts.dry_run {
                    Out::planned(format!("would delete {}", doomed.join(", ")))
                } else {
                    let mut errors = Vec::new();
                    for n in &doomed {
                        match c.delete_snapshot(g, n).and_then(|u| c.finish(&u)) {
                            Ok(_) => {}
                            Err(e) => errors.push(format!("{n}: {e}")),
                        }
                    }
                    if errors.is_empty() {
                        Out::ok(format!("deleted {}", doomed.join(", ")))
                    } else {
                        Out::failed(errors.join("; "))
                    }
                }
            }
        };
        self.record(t, step, "rotate", None, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_snapshots_are_recognised_exactly() {
        assert!(is_plan_snapshot("hbk", "hbk-20261127-030000"));
        assert!(!is_plan_snapshot("hbk", "hbk-20261127-0300"));
        assert!(!is_plan_snapshot("hbk", "hbkx-20261127-030000"));
        assert!(!is_plan_snapshot("hbk", "manual-before-upgrade"));
        assert!(!is_plan_snapshot("hbk", "hbk-2026112a-030000"));
    }

    #[test]
    fn rotation_keeps_the_newest() {
        let own = vec![
            "hbk-20261127-030000".to_string(),
            "hbk-20261125-030000".into(),
            "hbk-20261126-030000".into(),
        ];
        assert_eq!(to_rotate(own.clone(), 2), vec!["hbk-20261125-030000"]);
        assert!(to_rotate(own, 3).is_empty());
    }
}
