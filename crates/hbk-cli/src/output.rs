//! Printing snapshots and nodes in restic's text and JSON shapes.

use hbk_repo::{mode, Id, Node, SnapshotFile};
use serde_json::{json, Map, Value};

/// A snapshot as restic's `--json` prints it: its fields plus `id` and
/// `short_id`.
pub fn snapshot_json(id: &Id, sn: &SnapshotFile) -> Value {
    let mut v = serde_json::to_value(sn).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("id".into(), json!(id.to_hex()));
        m.insert("short_id".into(), json!(id.short()));
    }
    v
}

/// A node line of `ls --json`, as restic 0.19 prints it (0.14's fields,
/// `message_type` and `inode` added).
pub fn node_json(path: &[u8], node: &Node) -> Value {
    let mut m = Map::new();
    m.insert("message_type".into(), json!("node"));
    m.insert("name".into(), json!(node.display_name()));
    m.insert("type".into(), json!(node.node_type.as_str()));
    m.insert("path".into(), json!(String::from_utf8_lossy(path)));
    m.insert("uid".into(), json!(node.uid));
    m.insert("gid".into(), json!(node.gid));
    if node.node_type == hbk_repo::NodeType::File {
        m.insert("size".into(), json!(node.size));
    }
    m.insert("mode".into(), json!(node.mode));
    m.insert("permissions".into(), json!(mode::to_string(node.mode)));
    m.insert("mtime".into(), json!(node.mtime.to_string()));
    m.insert("atime".into(), json!(node.atime.to_string()));
    m.insert("ctime".into(), json!(node.ctime.to_string()));
    m.insert("inode".into(), json!(node.inode));
    m.insert("struct_type".into(), json!("node"));
    Value::Object(m)
}

/// restic's human time format: `2006-01-02 15:04:05`, in the local zone.
pub fn human_time(t: &hbk_repo::GoTime) -> String {
    t.0.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A `ls -l` / `find -l` line; restic 0.14 shows numeric uid and gid.
/// With `human`, the size as `1.500 KiB` (`--human-readable`).
pub fn node_long(path: &[u8], node: &Node, human: bool) -> String {
    let size = if human {
        format_bytes(node.size)
    } else {
        node.size.to_string()
    };
    let mut line = format!(
        "{} {:>5} {:>5} {:>6} {} {}",
        mode::to_string(node.mode),
        node.uid,
        node.gid,
        size,
        human_time(&node.mtime),
        String::from_utf8_lossy(path)
    );
    if node.node_type == hbk_repo::NodeType::Symlink {
        line.push_str(" -> ");
        line.push_str(&String::from_utf8_lossy(node.link_target()));
    }
    line
}

/// Prints rows as a left-aligned table with a header and rules; a cell
/// holding newlines spans several lines.
pub fn table(header: &[&str], rows: &[Vec<String>], footer: &str) {
    let cells: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.lines().map(str::to_string).collect())
                .collect()
        })
        .collect();
    table_lines(header, &cells, false, footer);
}

/// Prints a table whose cells may hold several lines; with `multiline`,
/// rows are separated by blank lines.
pub fn table_lines(header: &[&str], rows: &[Vec<Vec<String>>], multiline: bool, footer: &str) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            for line in cell {
                widths[i] = widths[i].max(line.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let rule = "-".repeat(widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1));
    println!("{}", line(header.to_vec()));
    println!("{rule}");
    for (n, row) in rows.iter().enumerate() {
        if multiline && n > 0 {
            println!();
        }
        let height = row.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for k in 0..height {
            let cells = row
                .iter()
                .map(|c| c.get(k).map(String::as_str).unwrap_or(""))
                .collect();
            println!("{}", line(cells));
        }
    }
    println!("{rule}");
    if !footer.is_empty() {
        println!("{footer}");
    }
}

/// Go's `time.Time.String()` form, as restic prints snapshot times in
/// messages: `2006-01-02 15:04:05.999999999 -0700 MST`.
pub fn go_time_string(t: &hbk_repo::GoTime) -> String {
    let frac = match t.nanos() {
        0 => String::new(),
        n => format!(".{}", format!("{n:09}").trim_end_matches('0')),
    };
    let off = t.0.offset().local_minus_utc();
    let zone = if off == 0 {
        "+0000 UTC".to_string()
    } else {
        let z = t.0.format("%z").to_string();
        format!("{z} {z}")
    };
    format!("{}{frac} {zone}", t.0.format("%Y-%m-%d %H:%M:%S"))
}

/// restic's `ui.FormatBytes`: `12 B`, `1.500 KiB`, … `2.000 TiB`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    for (size, unit) in UNITS {
        if n > size {
            return format!("{:.3} {unit}", n as f64 / size as f64);
        }
    }
    format!("{n} B")
}

/// restic's `snapshots for (host [h], tags [a, b], paths [/p]):` line
/// above a group of snapshots; none for a group of everything.
pub fn group_header(k: &hbk_engine::commands::forget::GroupKey) -> Option<String> {
    let mut parts = Vec::new();
    if !k.hostname.is_empty() {
        parts.push(format!("host [{}]", k.hostname));
    }
    if !k.tags.is_empty() {
        parts.push(format!("tags [{}]", k.tags.join(", ")));
    }
    if !k.paths.is_empty() {
        parts.push(format!("paths [{}]", k.paths.join(", ")));
    }
    (!parts.is_empty()).then(|| format!("snapshots for ({}):", parts.join(", ")))
}

#[cfg(test)]
mod format_tests {
    use super::format_bytes;

    #[test]
    fn bytes_as_restic_prints_them() {
        assert_eq!(format_bytes(1024), "1024 B");
        assert_eq!(format_bytes(3150), "3.076 KiB");
        assert_eq!(format_bytes(600033), "585.970 KiB");
        assert_eq!(format_bytes(3 << 30), "3.000 GiB");
    }
}
