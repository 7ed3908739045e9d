//! `hbk snapshots`.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::forget::{group_snapshots, GroupBy, GroupKey};
use hbk_engine::snapshots::{find_snapshot, list_snapshots};
use hbk_repo::{Id, SnapshotFile};
use serde_json::{json, Value};

use crate::global::GlobalOpts;
use crate::output::{group_header, human_time, snapshot_json, table};
use crate::selection::FilterArgs;
use crate::{exit, repo};

/// `snapshots`.
#[derive(Args, Debug)]
pub struct SnapshotsArgs {
    /// Snapshot ids to show (default: all).
    pub ids: Vec<String>,
    /// Filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Only the newest N snapshots of each host and path set (of each
    /// group, with `--group-by`).
    #[arg(long)]
    pub latest: Option<usize>,
    /// The newest snapshot of each host and path set (restic's old
    /// spelling of `--latest 1`).
    #[arg(long, conflicts_with = "latest")]
    pub last: bool,
    /// Group snapshots by `host`, `paths` and/or `tags` (comma-separated;
    /// default: no grouping).
    #[arg(short = 'g', long = "group-by", default_value = "")]
    pub group_by: String,
    /// Use the compact table: no paths column, one tag a line.
    #[arg(short = 'c', long)]
    pub compact: bool,
}

/// The newest `n` of `list` (sorted oldest first) for each key `key`
/// gives, oldest first again.
fn newest_per<K: Ord>(
    list: Vec<(Id, SnapshotFile)>,
    n: usize,
    key: impl Fn(&SnapshotFile) -> K,
) -> Vec<(Id, SnapshotFile)> {
    let mut by_key: BTreeMap<K, Vec<(Id, SnapshotFile)>> = BTreeMap::new();
    for (id, sn) in list {
        by_key.entry(key(&sn)).or_default().push((id, sn));
    }
    let mut out: Vec<_> = by_key
        .into_values()
        .flat_map(|v| {
            let skip = v.len().saturating_sub(n);
            v.into_iter().skip(skip)
        })
        .collect();
    out.sort_by_key(|s| s.1.time);
    out
}

/// A table of snapshots as restic prints it, full or compact.
fn print_table(list: &[(Id, SnapshotFile)], compact: bool) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|(id, sn)| {
            let mut row = vec![id.short(), human_time(&sn.time), sn.hostname.clone()];
            if compact {
                row.push(sn.tags.join("\n"));
            } else {
                row.push(sn.tags.join(","));
                row.push(sn.paths.join("\n"));
            }
            row
        })
        .collect();
    let header: &[&str] = if compact {
        &["ID", "Time", "Host", "Tags"]
    } else {
        &["ID", "Time", "Host", "Tags", "Paths"]
    };
    table(header, &rows, &format!("{} snapshots", list.len()));
}

/// restic's `group_key` object: fields not grouped by are `""`/`null`.
fn group_key_json(k: &GroupKey) -> Value {
    let list = |v: &[String]| {
        if v.is_empty() {
            Value::Null
        } else {
            json!(v)
        }
    };
    json!({"hostname": k.hostname, "paths": list(&k.paths), "tags": list(&k.tags)})
}

/// Lists snapshots as a table or as restic's JSON array.
pub fn run(g: &GlobalOpts, a: SnapshotsArgs) -> Result<i32> {
    let (repo, _lock) = repo::open_read(g)?;
    let filter = crate::selection::filter(&a.filter);
    let mut list = if a.ids.is_empty() {
        list_snapshots(&repo, &filter)?
    } else {
        a.ids
            .iter()
            .map(|s| find_snapshot(&repo, s, &filter))
            .collect::<Result<Vec<_>, _>>()?
    };
    let group_by = a.group_by.parse::<GroupBy>()?;
    let grouped = group_by.host || group_by.paths || group_by.tags;
    let latest = if a.last { Some(1) } else { a.latest };
    list.sort_by_key(|s| s.1.time);
    let groups: Vec<(GroupKey, Vec<(Id, SnapshotFile)>)> = if grouped {
        group_snapshots(list, group_by)
            .into_iter()
            .map(|(key, mut members)| {
                members.sort_by_key(|s| s.1.time);
                let members = match latest {
                    Some(n) => newest_per(members, n, |_| ()),
                    None => members,
                };
                (key, members)
            })
            .collect()
    } else {
        let members = match latest {
            Some(n) => newest_per(list, n, |sn| (sn.hostname.clone(), sn.paths.clone())),
            None => list,
        };
        vec![(GroupKey::default(), members)]
    };
    if g.json {
        let out: Vec<Value> = if grouped {
            groups
                .iter()
                .map(|(key, members)| {
                    let snaps: Vec<Value> = members
                        .iter()
                        .map(|(id, sn)| snapshot_json(id, sn))
                        .collect();
                    json!({"group_key": group_key_json(key), "snapshots": snaps})
                })
                .collect()
        } else {
            groups
                .iter()
                .flat_map(|(_, members)| members.iter().map(|(id, sn)| snapshot_json(id, sn)))
                .collect()
        };
        println!("{}", serde_json::to_string(&out)?);
        return Ok(exit::OK);
    }
    for (key, members) in &groups {
        if let Some(header) = group_header(key) {
            println!("{header}");
        }
        print_table(members, a.compact);
        if grouped {
            println!();
        }
    }
    Ok(exit::OK)
}
