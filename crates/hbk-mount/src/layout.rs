//! The directories above the snapshots: every path template expanded for
//! every snapshot into a tree of names, the leaves naming snapshots, and
//! a `latest` link next to the times of each directory whose template
//! ends in `%T`. Pure: built from the snapshot list alone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::template::{expand, static_prefix, SnapshotFacts};

/// One path of the layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Names below it (a directory).
    pub children: BTreeSet<String>,
    /// The snapshot it shows (an index into the list the layout was built
    /// from): the snapshot's root directory, or with `link` a symlink.
    pub snapshot: Option<usize>,
    /// A symlink's target (`latest`).
    pub link: Option<String>,
}

/// Every path of the layout: `""` is the root, others start with `/`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// By path.
    pub entries: BTreeMap<String, Meta>,
}

/// `p` without empty, `.` and `..` components, as `/a/b` (or `""`).
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.iter().map(|c| format!("/{c}")).collect()
}

impl Layout {
    /// Builds the layout of `snapshots` (sorted by time, then id) for
    /// `templates` and `time_template`.
    pub fn build(
        snapshots: &[SnapshotFacts<'_>],
        templates: &[String],
        time_template: &str,
    ) -> Layout {
        let mut l = Layout::default();
        l.add("", None, None);
        for t in templates {
            let p = static_prefix(t);
            if !p.is_empty() {
                l.add(&clean(&format!("/{p}")), None, None);
            }
        }
        let mut latest: HashMap<String, usize> = HashMap::new();
        for (i, sn) in snapshots.iter().enumerate() {
            for t in templates {
                let (paths, suffix) = expand(t, time_template, sn);
                let suffix = suffix.unwrap_or_default();
                for p in paths {
                    let p = if p.is_empty() { p } else { format!("/{p}") };
                    let name = l.unique(&p, &suffix);
                    l.add(&clean(&format!("{p}{name}")), Some(i), None);
                    if !suffix.is_empty() {
                        let newer = latest.get(&p).is_none_or(|j| snapshots[*j].time <= sn.time);
                        if newer {
                            l.add(&clean(&format!("{p}/latest")), Some(i), Some(name));
                            latest.insert(p, i);
                        }
                    }
                }
            }
        }
        l
    }

    /// `name`, or `name-1`, `name-2`, … whichever `prefix + name` is free.
    fn unique(&self, prefix: &str, name: &str) -> String {
        let mut candidate = name.to_string();
        let mut i = 1;
        while self
            .entries
            .contains_key(&clean(&format!("{prefix}{candidate}")))
        {
            candidate = format!("{name}-{i}");
            i += 1;
        }
        candidate
    }

    /// Adds `path` (a snapshot's directory or link, or a plain directory)
    /// and registers it in its parents.
    fn add(&mut self, path: &str, snapshot: Option<usize>, link: Option<String>) {
        let e = self.entries.entry(path.to_string()).or_default();
        if snapshot.is_some() {
            e.snapshot = snapshot;
            e.link = link;
        }
        let mut child = path;
        while let Some(at) = child.rfind('/') {
            let parent = &child[..at];
            let name = &child[at + 1..];
            let p = self.entries.entry(parent.to_string()).or_default();
            if !p.children.insert(name.to_string()) {
                break;
            }
            child = parent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{DEFAULT_PATH_TEMPLATES, DEFAULT_TIME_TEMPLATE};
    use chrono::DateTime;

    #[test]
    fn restics_default_layout() {
        let tags = [vec!["web".to_string()], vec![]];
        let facts: Vec<SnapshotFacts<'_>> = [
            ("aaaa", "2026-11-01T03:00:00Z", &tags[0]),
            ("bbbb", "2026-11-02T03:00:00Z", &tags[1]),
            ("cccc", "2026-11-02T03:00:00Z", &tags[0]),
        ]
        .iter()
        .map(|(id, time, tags)| SnapshotFacts {
            short_id: id,
            id,
            user: "root",
            host: "pve",
            tags,
            time: DateTime::parse_from_rfc3339(time).unwrap(),
        })
        .collect();
        let templates: Vec<String> = DEFAULT_PATH_TEMPLATES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let l = Layout::build(&facts, &templates, DEFAULT_TIME_TEMPLATE);
        let names = |p: &str| l.entries[p].children.iter().cloned().collect::<Vec<_>>();
        assert_eq!(names(""), ["hosts", "ids", "snapshots", "tags"]);
        assert_eq!(names("/ids"), ["aaaa", "bbbb", "cccc"]);
        assert_eq!(
            names("/snapshots"),
            [
                "2026-11-01T03:00:00Z",
                "2026-11-02T03:00:00Z",
                "2026-11-02T03:00:00Z-1",
                "latest"
            ]
        );
        let latest = &l.entries["/snapshots/latest"];
        assert_eq!(
            (latest.snapshot, latest.link.as_deref()),
            (Some(2), Some("2026-11-02T03:00:00Z-1"))
        );
        assert_eq!(names("/tags"), ["web"]);
        assert_eq!(
            names("/tags/web"),
            ["2026-11-01T03:00:00Z", "2026-11-02T03:00:00Z", "latest"]
        );
        assert_eq!(
            l.entries["/hosts/pve/2026-11-01T03:00:00Z"].snapshot,
            Some(0)
        );
        assert_eq!(l.entries["/ids/bbbb"].snapshot, Some(1));
        assert!(l.entries["/ids/bbbb"].link.is_none());

        let empty = Layout::build(&[], &templates, DEFAULT_TIME_TEMPLATE);
        assert_eq!(
            empty.entries[""].children.len(),
            4,
            "empty directories for each template"
        );
    }
}
