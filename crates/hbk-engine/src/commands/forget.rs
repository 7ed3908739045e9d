//! `forget`: remove snapshots, either given by id or chosen by a keep
//! policy, as restic 0.14 does.
//!
//! With a policy, the snapshots passing the host/tag/path filter are
//! grouped ([`GroupBy`]), each group is decided by [`apply_policy`], and the
//! snapshot files of the removed ones are deleted. Only `snapshots/<id>`
//! files are deleted; the data stays until a prune.
//!
//! The decision code ([`apply_policy`], [`group_snapshots`], [`decide`]) is
//! pure; [`forget`] does the I/O around it.

mod duration;
mod group;
mod policy;

use chrono::{DateTime, FixedOffset};
use hbk_repo::{FileType, GoTime, Id, Repository, SnapshotFile};

pub use duration::KeepDuration;
pub use group::{group_snapshots, Group, GroupBy, GroupKey};
pub use policy::{
    apply_policy, has_tag_list, latest_time, parse_tag_list, Counters, KeepPolicy, KeepReason,
    Period, PolicyOutcome,
};

use crate::lock::{LockKind, WriteMode};
use crate::snapshots::{find_snapshot, list_snapshots, SnapshotFilter};
use crate::{Error, Result};

/// What to forget.
#[derive(Debug, Clone, Default)]
pub struct ForgetOptions {
    /// Snapshots to forget by full id, unique prefix or `latest` (the
    /// newest passing `filter`). When not empty, no policy is applied and
    /// `filter` only serves `latest`.
    pub ids: Vec<String>,
    /// The keep policy; an empty one removes nothing.
    pub policy: KeepPolicy,
    /// How to group snapshots before applying the policy.
    pub group_by: GroupBy,
    /// Which snapshots to consider at all (restic's `--host`, `--tag`,
    /// `--path`).
    pub filter: SnapshotFilter,
    /// restic's `--unsafe-allow-remove-all`: with an empty policy (and a
    /// filter), remove every snapshot the filter selects. Without it an
    /// empty policy is refused, and so is a policy that would keep nothing
    /// of a group.
    pub allow_remove_all: bool,
}

/// The decision for one group.
#[derive(Debug, Clone)]
pub struct ForgetGroup {
    /// What the group's snapshots share.
    pub key: GroupKey,
    /// Kept snapshots, newest first (paths sorted, and tags when grouping
    /// by tags, as restic shows them).
    pub keep: Vec<(Id, SnapshotFile)>,
    /// Why each kept snapshot is kept; parallel to `keep`.
    pub reasons: Vec<KeepReason>,
    /// Removed snapshots, newest first.
    pub remove: Vec<(Id, SnapshotFile)>,
}

/// What `forget` decided and did.
#[derive(Debug, Clone, Default)]
pub struct ForgetReport {
    /// Per group decisions (empty when ids were given or the policy is
    /// empty), ordered by group key.
    pub groups: Vec<ForgetGroup>,
    /// Snapshots removed, or that would be removed in a dry run, sorted.
    pub removed: Vec<Id>,
    /// Whether no policy was given (and no ids): [`decide`] removes
    /// nothing then ([`forget`] refuses it, unless told to remove all).
    pub policy_empty: bool,
    /// Problems that did not stop the command, in restic's words (ids that
    /// match nothing, filters ignored because ids were given).
    pub warnings: Vec<String>,
}

impl ForgetOptions {
    /// Whether these options can remove anything at all (ids, or a
    /// non-empty policy); when not, [`forget`] needs no lock.
    pub fn may_remove(&self) -> bool {
        !self.ids.is_empty() || !self.policy.is_empty() || self.allow_remove_all
    }
}

/// Forgets snapshots: lists, decides and, unless `mode` is a dry run,
/// deletes the snapshot files of the removed ones. The lock must be an
/// exclusive one on `repo`, held while listing, deciding and deleting.
pub fn forget(
    repo: &Repository,
    mode: WriteMode<'_>,
    opts: &ForgetOptions,
) -> Result<ForgetReport> {
    mode.require(repo, LockKind::Exclusive)?;
    let mut report = if opts.ids.is_empty() {
        let remove_all = opts.policy.is_empty();
        if remove_all && !opts.allow_remove_all {
            return Err(Error::invalid(
                "policy",
                "no policy was specified, no snapshots will be removed",
            ));
        }
        if remove_all && opts.filter.is_empty() {
            return Err(Error::invalid(
                "policy",
                "--unsafe-allow-remove-all is not allowed unless a snapshot filter option is specified",
            ));
        }
        let snapshots = list_snapshots(repo, &opts.filter)?;
        let report = if remove_all {
            remove_every_group(snapshots, opts.group_by)
        } else {
            decide(snapshots, &opts.policy, opts.group_by, GoTime::now().0)
        };
        if !remove_all {
            if let Some(g) = report.groups.iter().find(|g| g.keep.is_empty()) {
                return Err(Error::invalid(
                    "policy",
                    format!(
                        "refusing to delete last snapshot of snapshot group \"{}\"",
                        g.key
                    ),
                ));
            }
        }
        report
    } else {
        by_ids(repo, &opts.ids, &opts.filter)?
    };
    report.removed.sort();
    report.removed.dedup();
    if !mode.is_dry_run() {
        for id in &report.removed {
            repo.backend()
                .remove(FileType::Snapshot, id)
                .map_err(hbk_repo::Error::from)?;
        }
    }
    Ok(report)
}

/// Every snapshot of every group removed (`--unsafe-allow-remove-all`
/// with an empty policy).
fn remove_every_group(snapshots: Vec<(Id, SnapshotFile)>, group_by: GroupBy) -> ForgetReport {
    let mut report = ForgetReport::default();
    for (key, mut list) in group_snapshots(snapshots, group_by) {
        list.sort_by_key(|(_, sn)| std::cmp::Reverse(sn.time.0));
        report.removed.extend(list.iter().map(|(id, _)| *id));
        report.groups.push(ForgetGroup {
            key,
            keep: Vec::new(),
            reasons: Vec::new(),
            remove: list,
        });
    }
    report
}

/// Groups `snapshots` and applies `policy` to each group at time `now`;
/// no I/O. An empty policy decides nothing and removes nothing.
pub fn decide(
    snapshots: Vec<(Id, SnapshotFile)>,
    policy: &KeepPolicy,
    group_by: GroupBy,
    now: DateTime<FixedOffset>,
) -> ForgetReport {
    let mut report = ForgetReport {
        policy_empty: policy.is_empty(),
        ..ForgetReport::default()
    };
    if report.policy_empty {
        return report;
    }
    for (key, members) in group_snapshots(snapshots, group_by) {
        let outcome = apply_policy(&members, policy, now);
        let find = |id: &Id| {
            members
                .iter()
                .find(|(i, _)| i == id)
                .cloned()
                .expect("the policy decides about the group's own snapshots")
        };
        let keep = outcome.keep.iter().map(|r| find(&r.id)).collect();
        let remove: Vec<_> = outcome.remove.iter().map(find).collect();
        report.removed.extend(outcome.remove.iter().copied());
        report.groups.push(ForgetGroup {
            key,
            keep,
            reasons: outcome.keep,
            remove,
        });
    }
    report
}

/// Resolves explicitly given snapshots; those that match nothing are
/// skipped with a warning, as restic does.
fn by_ids(repo: &Repository, specs: &[String], filter: &SnapshotFilter) -> Result<ForgetReport> {
    let mut report = ForgetReport::default();
    let mut used_filter = false;
    for spec in specs {
        if spec == "latest" {
            used_filter = true;
        }
        match find_snapshot(repo, spec, filter) {
            Ok((id, _)) => report.removed.push(id),
            Err(e) => report.warnings.push(format!("Ignoring {spec:?}: {e}")),
        }
    }
    if !used_filter && !filter.is_empty() {
        report
            .warnings
            .push("Ignoring filters as there are explicit snapshot ids given".into());
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
