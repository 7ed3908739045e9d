//! `hbk snapshots`.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;
use hbk_engine::snapshots::{find_snapshot, list_snapshots};

use crate::global::GlobalOpts;
use crate::output::{human_time, snapshot_json, table};
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
    /// Only the newest N snapshots of each host and path set.
    #[arg(long)]
    pub latest: Option<usize>,
}

/// Lists snapshots as a table or as restic's JSON array.
pub fn run(g: &GlobalOpts, a: SnapshotsArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let filter = crate::selection::filter(&a.filter);
    let mut list = if a.ids.is_empty() {
        list_snapshots(&repo, &filter)?
    } else {
        a.ids
            .iter()
            .map(|s| find_snapshot(&repo, s, &filter))
            .collect::<Result<Vec<_>, _>>()?
    };
    if let Some(n) = a.latest {
        let mut groups: BTreeMap<(String, Vec<String>), Vec<_>> = BTreeMap::new();
        for (id, sn) in list {
            groups
                .entry((sn.hostname.clone(), sn.paths.clone()))
                .or_default()
                .push((id, sn));
        }
        list = groups
            .into_values()
            .flat_map(|v| {
                let skip = v.len().saturating_sub(n);
                v.into_iter().skip(skip)
            })
            .collect();
        list.sort_by_key(|s| s.1.time);
    }
    if g.json {
        let arr: Vec<_> = list.iter().map(|(id, sn)| snapshot_json(id, sn)).collect();
        println!("{}", serde_json::to_string(&arr)?);
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|(id, sn)| {
            vec![
                id.short(),
                human_time(&sn.time),
                sn.hostname.clone(),
                sn.tags.join(","),
                sn.paths.join("\n"),
            ]
        })
        .collect();
    table(
        &["ID", "Time", "Host", "Tags", "Paths"],
        &rows,
        &format!("{} snapshots", list.len()),
    );
    Ok(exit::OK)
}
