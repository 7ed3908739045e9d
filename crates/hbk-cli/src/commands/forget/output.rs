//! How `forget` prints its decisions: restic's tables and JSON.

use crate::output::{human_time, snapshot_json};
use hbk_engine::commands::forget::ForgetGroup;
use hbk_repo::{Id, SnapshotFile};
use serde_json::{json, Map, Value};

/// A list, or `null` when empty (Go's nil slices).
pub(super) fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// One group of restic's `forget --json` array.
pub(super) fn group_json(group: &ForgetGroup) -> Value {
    let strings = |v: &[String]| list_or_null(v.iter().map(|s| json!(s)).collect());
    let snapshots = |v: &[(Id, SnapshotFile)]| {
        list_or_null(v.iter().map(|(id, sn)| snapshot_json(id, sn)).collect())
    };
    let reasons = group
        .reasons
        .iter()
        .zip(&group.keep)
        .map(|(r, (_, sn))| {
            let counters: Map<String, Value> = r
                .counters
                .non_zero()
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({
                "snapshot": serde_json::to_value(sn).unwrap_or(Value::Null),
                "matches": r.matches,
                "counters": counters,
            })
        })
        .collect();
    let mut m = Map::new();
    m.insert("tags".into(), strings(&group.key.tags));
    m.insert("host".into(), json!(group.key.hostname));
    m.insert("paths".into(), strings(&group.key.paths));
    m.insert("keep".into(), snapshots(&group.keep));
    m.insert("remove".into(), snapshots(&group.remove));
    m.insert("reasons".into(), list_or_null(reasons));
    Value::Object(m)
}

/// restic's `snapshots for (host [h], tags [a, b], paths [/p]):` line.
pub(super) fn print_group_header(group: &ForgetGroup) {
    if let Some(header) = crate::output::group_header(&group.key) {
        println!("{header}");
    }
}

/// A snapshot table as restic's `forget` prints it: oldest first, with a
/// Reasons column for kept snapshots.
pub(super) fn print_snapshots(
    list: &[(Id, SnapshotFile)],
    kept: Option<&ForgetGroup>,
    compact: bool,
) {
    let mut rows: Vec<(&Id, &SnapshotFile)> = list.iter().map(|(id, sn)| (id, sn)).collect();
    rows.sort_by_key(|(_, sn)| sn.time);
    let header: &[&str] = match (compact, kept.is_some()) {
        (true, _) => &["ID", "Time", "Host", "Tags  "],
        (false, true) => &["ID", "Time", "Host      ", "Tags      ", "Reasons", "Paths"],
        (false, false) => &["ID", "Time", "Host      ", "Tags      ", "Paths"],
    };
    let multiline = !compact && rows.iter().any(|(_, sn)| sn.paths.len() > 1);
    let cells: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|(id, sn)| {
            let mut row = vec![
                vec![id.short()],
                vec![human_time(&sn.time)],
                vec![sn.hostname.clone()],
            ];
            if compact {
                row.push(sn.tags.clone());
                return row;
            }
            row.push(vec![sn.tags.join(",")]);
            if let Some(group) = kept {
                let reasons = group
                    .reasons
                    .iter()
                    .find(|r| &r.id == *id)
                    .map(|r| r.matches.clone())
                    .unwrap_or_default();
                row.push(reasons);
            }
            row.push(sn.paths.clone());
            row
        })
        .collect();
    crate::output::table_lines(
        header,
        &cells,
        multiline,
        &format!("{} snapshots", rows.len()),
    );
}
