//! How `backup` reports what it did: restic's text and JSON summary.

use crate::global::GlobalOpts;
use hbk_engine::commands::backup::BackupSummary;
use serde_json::Value;

pub(super) fn print_summary(g: &GlobalOpts, s: &BackupSummary, dry_run: bool) {
    if g.json {
        // restic 0.17+ says whether it was a dry run.
        let mut v = serde_json::json!({"message_type": "summary", "dry_run": dry_run});
        if let (Value::Object(m), Ok(Value::Object(rest))) = (&mut v, serde_json::to_value(s)) {
            m.extend(rest);
        }
        println!("{v}");
        return;
    }
    if g.quiet {
        return;
    }
    let mib = |b: u64| format!("{:.3} MiB", b as f64 / (1 << 20) as f64);
    println!(
        "\nFiles:       {:5} new, {:5} changed, {:5} unmodified",
        s.files_new, s.files_changed, s.files_unmodified
    );
    println!(
        "Dirs:        {:5} new, {:5} changed, {:5} unmodified",
        s.dirs_new, s.dirs_changed, s.dirs_unmodified
    );
    println!(
        "Added to the repository: {} ({} stored)\n",
        mib(s.data_added),
        mib(s.data_added_packed)
    );
    println!(
        "processed {} files, {} in {:.1}s",
        s.total_files_processed,
        mib(s.total_bytes_processed),
        s.total_duration
    );
    match &s.snapshot_id {
        Some(id) => println!("snapshot {} saved", id.get(..8).unwrap_or(id)),
        None if dry_run => println!("dry run: no snapshot saved"),
        None if s.skipped_unchanged => println!("skipped creating snapshot"),
        None => {}
    }
}
