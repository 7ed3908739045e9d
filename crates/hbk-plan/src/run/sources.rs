//! Step 4: hooks and the backup of each source into the primary
//! repository.

use std::process::{Command, Stdio};

use hbk_engine::commands::backup::BackupSummary;

use crate::config::SourceConfig;
use crate::engine::{backup_source, BackupJob};
use crate::report::Status;
use crate::Result;

use super::{Out, Runner};

/// Runs hook commands in order with `sh -c`; stops at the first failure.
pub(crate) fn run_hooks(cmds: &[String], plan: &str, source: &str) -> Out {
    for cmd in cmds {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .env("HBK_PLAN", plan)
            .env("HBK_SOURCE", source)
            .stdin(Stdio::null())
            .output();
        match out {
            Err(e) => return Out::failed(format!("`{cmd}`: {e}")),
            Ok(o) if !o.status.success() => {
                let err = String::from_utf8_lossy(&o.stderr);
                let last = err.lines().last().unwrap_or("").trim();
                return Out::failed(format!("`{cmd}` failed ({}): {last}", o.status));
            }
            Ok(_) => {}
        }
    }
    Out::ok(format!("{} command(s) ran", cmds.len()))
}

impl Runner<'_> {
    /// Turns a backup's result into a step outcome and remembers it.
    pub(super) fn backup_out(&mut self, repo: &str, res: Result<BackupSummary>) -> Out {
        match res {
            Err(e) => Out::failed(e.to_string()),
            Ok(s) => {
                let id = s.snapshot_id.clone().unwrap_or_default();
                *self.bytes.entry(repo.to_string()).or_default() += s.data_added_packed;
                let mut out = if s.warnings.is_empty() {
                    Out::ok(format!(
                        "snapshot {} saved: {} files, {} bytes added",
                        &id[..id.len().min(8)],
                        s.total_files_processed,
                        s.data_added_packed
                    ))
                } else {
                    Out::warn(format!(
                        "snapshot {} saved with {} unreadable item(s), first: {}: {}",
                        &id[..id.len().min(8)],
                        s.warnings.len(),
                        s.warnings[0].path.display(),
                        s.warnings[0].message
                    ))
                };
                out.bytes_added = Some(s.data_added_packed);
                out.snapshot = Some(id);
                out
            }
        }
    }

    pub(super) fn sources(&mut self) {
        let sources = self.plan.sources.clone();
        for s in &sources {
            self.source(s);
        }
    }

    fn source(&mut self, s: &SourceConfig) {
        let primary = self.plan.primary.clone();
        let plan = self.plan.name.clone();
        let dry = self.opts.dry_run;
        let hooks = &s.hooks;
        let mut failed = false;
        let before_ok = if hooks.before.is_empty() {
            true
        } else {
            let t = self.start();
            let out = if dry {
                Out::planned(format!("would run {} command(s)", hooks.before.len()))
            } else {
                run_hooks(&hooks.before, &plan, &s.name)
            };
            let ok = out.status.held();
            failed |= !ok;
            self.record(t, format!("hook:before:{}", s.name), "hook", None, out);
            ok
        };
        let t = self.start();
        let out = match self.repo(&primary) {
            Err(e) => Out::skipped(e),
            Ok(_) if !before_ok => Out::skipped("a before hook failed"),
            Ok(_) if dry => Out::planned(format!(
                "would back up {} into {primary}",
                s.paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Ok(target) => {
                let mut tags = vec![self.plan.tag(), s.name.clone()];
                tags.extend(s.tags.iter().cloned());
                let job = BackupJob {
                    paths: s.paths.clone(),
                    excludes: s.excludes.clone(),
                    tags,
                    host: self.plan.host.clone(),
                    time: self.opts.now,
                    ignore_ctime: false,
                    one_file_system: s.one_file_system,
                };
                self.backup_out(&primary, backup_source(&target, &job))
            }
        };
        failed |= matches!(out.status, Status::Failed | Status::Skipped);
        self.record(
            t,
            format!("backup:{}", s.name),
            "backup",
            Some(&primary),
            out,
        );
        if before_ok && !hooks.after.is_empty() {
            let t = self.start();
            let out = if dry {
                Out::planned(format!("would run {} command(s)", hooks.after.len()))
            } else {
                run_hooks(&hooks.after, &plan, &s.name)
            };
            self.record(t, format!("hook:after:{}", s.name), "hook", None, out);
        }
        if failed && !hooks.on_failure.is_empty() && !dry {
            let t = self.start();
            let out = run_hooks(&hooks.on_failure, &plan, &s.name);
            self.record(t, format!("hook:on_failure:{}", s.name), "hook", None, out);
        }
    }
}
