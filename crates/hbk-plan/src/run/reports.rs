//! The files a finished run leaves: the JSON status file, the Prometheus
//! textfile, the run history and the drill history.

use crate::config::Plan;
use crate::report::{prometheus_text, write_atomic, HistoryEntry, RunReport, Status};
use crate::{Error, Result};

/// Writes the JSON status file, the Prometheus textfile, and appends to
/// the run and drill histories.
pub(super) fn write_reports(plan: &Plan, r: &RunReport) -> Result<()> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(&plan.json_path(), &json)?;
    if let Some(p) = &plan.report.prometheus {
        write_atomic(p, prometheus_text(r).as_bytes())?;
    }
    append_line(
        &plan.state_dir.join("runs.jsonl"),
        &serde_json::to_string(&HistoryEntry::of(r)).map_err(|e| Error::Other(e.to_string()))?,
    )?;
    let drilled: Vec<_> = r
        .steps
        .iter()
        .filter(|s| s.kind == "drill" && s.status != Status::Skipped)
        .collect();
    if !drilled.is_empty() {
        let path = plan.state_dir.join("drills.jsonl");
        for st in drilled {
            let line = serde_json::json!({
                "time": r.time, "repository": st.repository, "status": st.status, "message": st.message,
            });
            append_line(&path, &line.to_string())?;
        }
    }
    Ok(())
}

/// Appends one line to a history file.
fn append_line(path: &std::path::Path, line: &str) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(path, e))
}
