//! The files a finished run leaves: the JSON status file, the Prometheus
//! textfile and the drill history.

use crate::config::Plan;
use crate::report::{prometheus_text, write_atomic, RunReport, Status};
use crate::{Error, Result};

/// Writes the JSON status file, the Prometheus textfile and the drill
/// history.
pub(super) fn write_reports(plan: &Plan, r: &RunReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(&plan.json_path(), &json)?;
    if let Some(p) = &plan.report.prometheus {
        write_atomic(p, prometheus_text(r).as_bytes())?;
    }
    let drilled: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.kind == "drill" && s.status != Status::Skipped)
        .collect();
    if !drilled.is_empty() {
        use std::io::Write;
        let path = plan.state_dir.join("drills.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        for s in drilled {
            let line = serde_json::json!({
                "time": r.time, "repository": s.repository, "status": s.status, "message": s.message,
            });
            writeln!(f, "{line}").map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(())
}
