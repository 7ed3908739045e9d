//! `hbk forget`: remove snapshots by id or by a keep policy, with restic
//! 0.14's flags, tables and `--json` shape.

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use hbk_engine::commands::forget::{
    forget, parse_tag_list, ForgetGroup, ForgetOptions, GroupBy, KeepDuration, KeepPolicy,
};
use hbk_engine::snapshots::SnapshotFilter;
use hbk_repo::{Id, SnapshotFile};
use serde_json::{json, Map, Value};

use crate::commands::prune::{prune_and_print, PruneFlags};
use crate::global::GlobalOpts;
use crate::output::{human_time, snapshot_json};
use crate::{exit, repo};
use hbk_engine::lock::{LockKind, RepoLock, WriteMode};

/// `forget`.
#[derive(Args, Debug)]
pub struct ForgetArgs {
    /// Snapshots to forget (id, unique prefix or `latest`); no policy is
    /// applied when ids are given.
    pub ids: Vec<String>,
    /// Keep the last n snapshots.
    #[arg(
        short = 'l',
        long = "keep-last",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_last: Option<i64>,
    /// Keep the last n hourly snapshots.
    #[arg(
        short = 'H',
        long = "keep-hourly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_hourly: Option<i64>,
    /// Keep the last n daily snapshots.
    #[arg(
        short = 'd',
        long = "keep-daily",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_daily: Option<i64>,
    /// Keep the last n weekly snapshots.
    #[arg(
        short = 'w',
        long = "keep-weekly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_weekly: Option<i64>,
    /// Keep the last n monthly snapshots.
    #[arg(
        short = 'm',
        long = "keep-monthly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_monthly: Option<i64>,
    /// Keep the last n yearly snapshots.
    #[arg(
        short = 'y',
        long = "keep-yearly",
        value_name = "n",
        allow_negative_numbers = true
    )]
    pub keep_yearly: Option<i64>,
    /// Keep snapshots newer than duration (e.g. 1y5m7d2h) relative to the latest snapshot.
    #[arg(
        long = "keep-within",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within: Option<String>,
    /// Keep hourly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-hourly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_hourly: Option<String>,
    /// Keep daily snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-daily",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_daily: Option<String>,
    /// Keep weekly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-weekly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_weekly: Option<String>,
    /// Keep monthly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-monthly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_monthly: Option<String>,
    /// Keep yearly snapshots newer than duration relative to the latest snapshot.
    #[arg(
        long = "keep-within-yearly",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub keep_within_yearly: Option<String>,
    /// Keep snapshots with all tags of this list (`a,b`; repeatable: either).
    #[arg(long = "keep-tag", value_name = "taglist")]
    pub keep_tag: Vec<String>,
    /// Only consider snapshots of this host (repeatable).
    #[arg(long = "host", value_name = "host")]
    pub host: Vec<String>,
    /// Only consider snapshots with all tags of this list (`a,b`; repeatable: either).
    #[arg(long = "tag", value_name = "taglist")]
    pub tag: Vec<String>,
    /// Only consider snapshots of this path (repeatable).
    #[arg(long = "path", value_name = "path")]
    pub path: Vec<String>,
    /// Use the compact table format.
    #[arg(short = 'c', long = "compact")]
    pub compact: bool,
    /// Group snapshots by host, paths and/or tags, separated by commas ('' for no grouping).
    #[arg(
        short = 'g',
        long = "group-by",
        value_name = "group",
        default_value = "host,paths"
    )]
    pub group_by: String,
    /// Do not delete anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Run prune afterwards when snapshots were removed.
    #[arg(long)]
    pub prune: bool,
    /// Flags for `--prune`.
    #[command(flatten)]
    pub prune_flags: PruneFlags,
}

/// A `--keep-within*` value, or the error restic prints for it.
fn duration(flag: &str, value: &Option<String>) -> Result<Option<KeepDuration>> {
    value
        .as_deref()
        .map(|v| {
            v.parse::<KeepDuration>()
                .with_context(|| format!("invalid argument {v:?} for \"--{flag}\" flag"))
        })
        .transpose()
}

fn policy(a: &ForgetArgs) -> Result<KeepPolicy> {
    Ok(KeepPolicy {
        last: a.keep_last,
        hourly: a.keep_hourly,
        daily: a.keep_daily,
        weekly: a.keep_weekly,
        monthly: a.keep_monthly,
        yearly: a.keep_yearly,
        within: duration("keep-within", &a.keep_within)?,
        within_hourly: duration("keep-within-hourly", &a.keep_within_hourly)?,
        within_daily: duration("keep-within-daily", &a.keep_within_daily)?,
        within_weekly: duration("keep-within-weekly", &a.keep_within_weekly)?,
        within_monthly: duration("keep-within-monthly", &a.keep_within_monthly)?,
        within_yearly: duration("keep-within-yearly", &a.keep_within_yearly)?,
        keep_tags: a.keep_tag.iter().map(|t| parse_tag_list(t)).collect(),
    })
}

/// Forgets snapshots and prints what was kept and removed.
pub fn run(g: &GlobalOpts, a: ForgetArgs) -> Result<i32> {
    let prune_opts = a.prune.then(|| a.prune_flags.options(g)).transpose()?;
    let started = Instant::now();
    let opts = ForgetOptions {
        ids: a.ids.clone(),
        policy: policy(&a)?,
        group_by: a.group_by.parse::<GroupBy>()?,
        filter: SnapshotFilter {
            hosts: a.host.clone(),
            tags: SnapshotFilter::tag_sets(&a.tag),
            paths: a.path.clone(),
        },
    };
    let repo = repo::open(g)?;
    // With --prune, one exclusive lock covers both halves; a dry run
    // without --prune takes none.
    let lock = if prune_opts.is_some() || (!a.dry_run && opts.may_remove()) {
        Some(RepoLock::acquire(&repo, LockKind::Exclusive)?)
    } else {
        None
    };
    let mode = match (&lock, a.dry_run) {
        (Some(l), false) => WriteMode::Locked(l),
        _ => WriteMode::DryRun,
    };
    let report = forget(&repo, mode, &opts)?;
    for w in &report.warnings {
        eprintln!("{w}");
    }
    let talk = !g.quiet && !g.json;
    if opts.ids.is_empty() && talk {
        if report.policy_empty {
            println!("no policy was specified, no snapshots will be removed");
        } else {
            println!("Applying Policy: {}", opts.policy);
        }
    }
    for group in &report.groups {
        if talk && g.verbose > 0 {
            print_group_header(group);
        }
        if talk && !group.keep.is_empty() {
            println!("keep {} snapshots:", group.keep.len());
            print_snapshots(&group.keep, Some(group), a.compact);
            println!();
        }
        if talk && !group.remove.is_empty() {
            println!("remove {} snapshots:", group.remove.len());
            print_snapshots(&group.remove, None, a.compact);
            println!();
        }
    }
    if !report.removed.is_empty() && !g.json {
        let n = report.removed.len();
        if a.dry_run {
            let ids: Vec<String> = report.removed.iter().map(Id::short).collect();
            println!(
                "Would have removed the following snapshots:\n{{{}}}\n",
                ids.join(" ")
            );
        } else if !g.quiet {
            let secs = started.elapsed().as_secs();
            println!(
                "[{}:{:02}] 100.00%  {n} / {n} files deleted\n",
                secs / 60,
                secs % 60
            );
        }
    }
    if g.json && !report.groups.is_empty() {
        let groups: Vec<Value> = report.groups.iter().map(group_json).collect();
        let mut out = hbk_repo::gojson::to_vec(&groups)?;
        out.push(b'\n');
        std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    }
    if let (Some(prune_opts), Some(lock), false) = (prune_opts, &lock, report.removed.is_empty()) {
        if !g.quiet && !g.json {
            println!(
                "{} snapshots have been removed, running prune",
                report.removed.len()
            );
        }
        prune_and_print(g, &repo, lock, a.dry_run, &prune_opts)?;
    }
    drop(lock);
    Ok(exit::OK)
}

/// A list, or `null` when empty (Go's nil slices).
fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

/// One group of restic's `forget --json` array.
fn group_json(group: &ForgetGroup) -> Value {
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
fn print_group_header(group: &ForgetGroup) {
    let k = &group.key;
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
    if !parts.is_empty() {
        println!("snapshots for ({}):", parts.join(", "));
    }
}

/// A snapshot table as restic's `forget` prints it: oldest first, with a
/// Reasons column for kept snapshots.
fn print_snapshots(list: &[(Id, SnapshotFile)], kept: Option<&ForgetGroup>, compact: bool) {
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
