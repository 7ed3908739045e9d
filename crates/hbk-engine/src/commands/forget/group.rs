//! Grouping snapshots before a policy is applied (restic's `--group-by`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use hbk_repo::{Id, SnapshotFile};

use crate::{Error, Result};

/// Which snapshot fields form a group. The default is restic's,
/// `host,paths`; the empty string means a single group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupBy {
    /// Group by host name.
    pub host: bool,
    /// Group by the (sorted) set of backed-up paths.
    pub paths: bool,
    /// Group by the (sorted) set of tags.
    pub tags: bool,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            host: true,
            paths: true,
            tags: false,
        }
    }
}

impl FromStr for GroupBy {
    type Err = Error;

    /// Parses restic's comma-separated list: `host`/`hosts`,
    /// `path`/`paths`, `tag`/`tags`; empty items are ignored.
    fn from_str(s: &str) -> Result<GroupBy> {
        let mut g = GroupBy {
            host: false,
            paths: false,
            tags: false,
        };
        for option in s.split(',') {
            match option {
                "host" | "hosts" => g.host = true,
                "path" | "paths" => g.paths = true,
                "tag" | "tags" => g.tags = true,
                "" => {}
                other => {
                    return Err(Error::invalid(
                        "grouping",
                        format!("unknown grouping option: '{other}'"),
                    ))
                }
            }
        }
        Ok(g)
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.host, "host"),
            (self.paths, "paths"),
            (self.tags, "tags"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

/// What the snapshots of one group share. Fields not grouped by are
/// empty (restic prints them as `""` and `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKey {
    /// The host name, when grouping by host.
    pub hostname: String,
    /// The sorted paths, when grouping by paths.
    pub paths: Vec<String>,
    /// The sorted tags, when grouping by tags.
    pub tags: Vec<String>,
}

impl std::fmt::Display for GroupKey {
    /// restic's words for a group: `host H, path [P …], tags [T …]`,
    /// each part only when grouping by it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if !self.hostname.is_empty() {
            parts.push(format!("host {}", self.hostname));
        }
        if !self.paths.is_empty() {
            parts.push(format!("path [{}]", self.paths.join(" ")));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags [{}]", self.tags.join(" ")));
        }
        f.write_str(&parts.join(", "))
    }
}

/// A group: its key and its snapshots, in the order given.
pub type Group = (GroupKey, Vec<(Id, SnapshotFile)>);

/// Splits snapshots into groups, ordered by key (restic's order is
/// random). As restic's `GroupSnapshots` does, every snapshot's paths are
/// sorted in place, and its tags too when grouping by tags; restic prints
/// the snapshots that way afterwards.
pub fn group_snapshots(snapshots: Vec<(Id, SnapshotFile)>, by: GroupBy) -> Vec<Group> {
    let mut groups: BTreeMap<GroupKey, Vec<(Id, SnapshotFile)>> = BTreeMap::new();
    for (id, mut sn) in snapshots {
        sn.paths.sort();
        let mut key = GroupKey::default();
        if by.tags {
            sn.tags.sort();
            key.tags = sn.tags.clone();
        }
        if by.host {
            key.hostname = sn.hostname.clone();
        }
        if by.paths {
            key.paths = sn.paths.clone();
        }
        groups.entry(key).or_default().push((id, sn));
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_restic_group_by() {
        assert_eq!("".parse::<GroupBy>().unwrap().to_string(), "");
        assert_eq!(
            "hosts,tag,".parse::<GroupBy>().unwrap(),
            GroupBy {
                host: true,
                paths: false,
                tags: true
            }
        );
        assert_eq!(
            "paths,path".parse::<GroupBy>().unwrap().to_string(),
            "paths"
        );
        assert_eq!(GroupBy::default().to_string(), "host,paths");
        assert!(" host".parse::<GroupBy>().is_err());
        assert!("HOST".parse::<GroupBy>().is_err());
    }

    fn sn(host: &str, paths: &[&str], tags: &[&str]) -> (Id, SnapshotFile) {
        let json = serde_json::json!({
            "time": "2024-01-01T00:00:00Z",
            "tree": "0".repeat(64),
            "paths": paths,
            "hostname": host,
            "tags": tags,
        });
        let sn = SnapshotFile::from_json(json.to_string().as_bytes()).unwrap();
        (Id::hash(json.to_string().as_bytes()), sn)
    }

    #[test]
    fn groups_by_sorted_keys_and_sorts_in_place() {
        let list = vec![
            sn("a", &["/y", "/x"], &["t2", "t1"]),
            sn("a", &["/x", "/y"], &["t1", "t2"]),
            sn("b", &["/x", "/y"], &[]),
        ];
        let g = group_snapshots(list.clone(), GroupBy::default());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0.hostname, "a");
        assert_eq!(g[0].0.paths, ["/x", "/y"]);
        assert!(g[0].0.tags.is_empty());
        assert_eq!(g[0].1.len(), 2);
        // Paths are always sorted, tags only when grouping by them.
        assert_eq!(g[0].1[0].1.paths, ["/x", "/y"]);
        assert_eq!(g[0].1[0].1.tags, ["t2", "t1"]);

        let g = group_snapshots(list.clone(), "tags".parse().unwrap());
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].0, GroupKey::default());
        assert_eq!(g[1].0.tags, ["t1", "t2"]);
        assert_eq!(g[1].1[0].1.tags, ["t1", "t2"]);

        let g = group_snapshots(list, "".parse().unwrap());
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].1.len(), 3);
    }
}
