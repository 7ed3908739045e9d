//! Step 3: the PBS datastore, captured while in maintenance mode.

use std::path::PathBuf;

use crate::config::PBS_SOURCE;
use crate::engine::{backup_source, BackupJob};
use crate::guard::MaintenanceGuard;

use super::{Out, Runner};

impl Runner<'_> {
    pub(super) fn pbs_capture(&mut self) {
        let Some(cfg) = self.plan.pbs.clone() else {
            return;
        };
        let t = self.start();
        let Some(client) = self.pbs.clone() else {
            self.record(
                t,
                "pbs:quiesce".into(),
                "pbs",
                None,
                Out::skipped("PBS API unavailable (see preflight:pbs); datastore not read"),
            );
            return;
        };
        let primary = self.plan.primary.clone();
        if self.opts.dry_run {
            let out = match (
                client.maintenance_mode(&cfg.datastore),
                client.active_operations(&cfg.datastore),
            ) {
                (Ok(m), Ok(ops)) => Out::planned(format!(
                    "would set maintenance mode {} (now: {}), {} writer(s) / {} reader(s) active, then back up {}",
                    cfg.quiesce.mode(),
                    m.as_deref().unwrap_or("none"),
                    ops.write,
                    ops.read,
                    cfg.path.display()
                )),
                (Err(e), _) | (_, Err(e)) => Out::failed(e.to_string()),
            };
            self.record(t, "pbs:quiesce".into(), "pbs", None, out);
            return;
        }
        let target = match self.repo(&primary) {
            Ok(r) => r,
            Err(e) => {
                self.record(t, "pbs:quiesce".into(), "pbs", None, Out::skipped(e));
                return;
            }
        };
        let running = client.running_tasks(&cfg.datastore).unwrap_or_default();
        let message = format!("hbk plan {}", self.plan.name);
        let guard = match MaintenanceGuard::engage(&client, &cfg.datastore, cfg.quiesce, &message) {
            Ok(g) => g,
            Err(e) => {
                self.record(
                    t,
                    "pbs:quiesce".into(),
                    "pbs",
                    None,
                    Out::failed(e.to_string()),
                );
                // The guard (armed before the request) was dropped: cleared.
                return;
            }
        };
        let poll = cfg.api.poll_interval.0;
        let drained = guard.drain(cfg.quiesce, cfg.drain_timeout.0, poll);
        let ok_to_read = drained.is_ok();
        let out = match drained {
            Ok(_) if running.is_empty() => Out::ok(format!(
                "maintenance mode {} set, active operations drained",
                cfg.quiesce.mode()
            )),
            Ok(_) => Out::warn(format!(
                "maintenance mode {} set; tasks were running on the datastore: {}",
                cfg.quiesce.mode(),
                running.join(", ")
            )),
            Err(e) => Out::failed(e.to_string()),
        };
        self.record(t, "pbs:quiesce".into(), "pbs", None, out);

        let t = self.start();
        let out = if ok_to_read {
            let job = BackupJob {
                paths: vec![PathBuf::from(&cfg.path)],
                excludes: Vec::new(),
                tags: vec![self.plan.tag(), PBS_SOURCE.to_string()],
                host: self.plan.host.clone(),
                time: self.opts.now,
                // GC touches every referenced chunk, changing its ctime;
                // chunks are immutable, so ctime says nothing here.
                ignore_ctime: true,
                one_file_system: false,
            };
            self.backup_out(&target.name, backup_source(&target, &job))
        } else {
            Out::skipped("datastore not quiesced: not read")
        };
        self.record(
            t,
            format!("backup:{PBS_SOURCE}"),
            "backup",
            Some(&primary),
            out,
        );

        let t = self.start();
        let out = match guard.release() {
            Ok(()) => Out::ok("maintenance mode cleared"),
            Err(e) => Out::failed(format!("clearing maintenance mode: {e}")),
        };
        self.record(t, "pbs:release".into(), "pbs", None, out);
    }
}
