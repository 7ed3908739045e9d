//! Choosing snapshots: by id, unique prefix or `latest`, and by host, tag
//! and path filters, as restic's commands accept them.

use hbk_repo::{Id, Repository, SnapshotFile};

use crate::{Error, Result};

/// Filters applied before choosing snapshots (restic's `--host`, `--tag`,
/// `--path`). Empty lists accept everything.
#[derive(Debug, Clone, Default)]
pub struct SnapshotFilter {
    /// Accept snapshots from any of these hosts.
    pub hosts: Vec<String>,
    /// Each entry is a set of tags a snapshot must all carry (`--tag a,b`);
    /// a snapshot matching any entry is accepted.
    pub tags: Vec<Vec<String>>,
    /// Accept snapshots whose paths include all of these.
    pub paths: Vec<String>,
}

impl SnapshotFilter {
    /// Whether it selects every snapshot (no `--host`, `--tag`, `--path`).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.tags.is_empty() && self.paths.is_empty()
    }

    /// Parses restic's `--tag a,b` arguments into tag sets.
    pub fn tag_sets(args: &[String]) -> Vec<Vec<String>> {
        args.iter()
            .map(|a| {
                a.split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    }

    /// Whether `sn` passes the filter.
    pub fn matches(&self, sn: &SnapshotFile) -> bool {
        if !self.hosts.is_empty() && !self.hosts.contains(&sn.hostname) {
            return false;
        }
        if !self.tags.is_empty() && !self.tags.iter().any(|set| sn.has_tags(set)) {
            return false;
        }
        // As restic: the snapshot must contain every given path.
        if !self.paths.iter().all(|want| {
            sn.paths
                .iter()
                .any(|have| clean_path(have) == clean_path(want))
        }) {
            return false;
        }
        true
    }
}

fn clean_path(p: &str) -> &str {
    if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    }
}

/// All snapshots passing `filter`, oldest first.
pub fn list_snapshots(
    repo: &Repository,
    filter: &SnapshotFilter,
) -> Result<Vec<(Id, SnapshotFile)>> {
    Ok(repo
        .snapshots()?
        .into_iter()
        .filter(|(_, s)| filter.matches(s))
        .collect())
}

/// Finds one snapshot by full id, unique prefix, or `latest` (the newest
/// passing `filter`).
pub fn find_snapshot(
    repo: &Repository,
    spec: &str,
    filter: &SnapshotFilter,
) -> Result<(Id, SnapshotFile)> {
    if spec == "latest" {
        return list_snapshots(repo, filter)?
            .pop()
            .ok_or_else(|| Error::SnapshotNotFound(spec.to_string()));
    }
    let id = find_id(repo, hbk_repo::FileType::Snapshot, spec)?;
    let sn = repo.load_snapshot(&id)?;
    Ok((id, sn))
}

/// Resolves a full id or a unique prefix among the files of type `t`.
pub fn find_id(repo: &Repository, t: hbk_repo::FileType, spec: &str) -> Result<Id> {
    if let Ok(id) = spec.parse::<Id>() {
        return Ok(id);
    }
    if spec.is_empty() || !spec.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::SnapshotNotFound(spec.to_string()));
    }
    let mut found = repo
        .list(t)?
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.has_prefix(spec));
    let first = found
        .next()
        .ok_or_else(|| Error::SnapshotNotFound(spec.to_string()))?;
    if found.next().is_some() {
        return Err(Error::AmbiguousSnapshot(spec.to_string()));
    }
    Ok(first)
}

/// Chosen snapshots, and warnings about specs that matched nothing.
pub type Selected = (Vec<(Id, SnapshotFile)>, Vec<String>);

/// The snapshots a multi-snapshot command works on, as restic chooses
/// them: each of `specs` (id, prefix or `latest` of those passing
/// `filter`) in the given order, or, with no specs, every snapshot passing
/// `filter`, oldest first. Specs that match nothing are returned as
/// warnings in restic's words and skipped.
pub fn select_snapshots(
    repo: &Repository,
    specs: &[String],
    filter: &SnapshotFilter,
) -> Result<Selected> {
    if specs.is_empty() {
        return Ok((list_snapshots(repo, filter)?, Vec::new()));
    }
    let mut found: Vec<(Id, SnapshotFile)> = Vec::new();
    let mut warnings = Vec::new();
    for spec in specs {
        match find_snapshot(repo, spec, filter) {
            Ok(s) => {
                if !found.iter().any(|(id, _)| *id == s.0) {
                    found.push(s);
                }
            }
            Err(e @ (Error::SnapshotNotFound(_) | Error::AmbiguousSnapshot(_))) => {
                warnings.push(format!("Ignoring {spec:?}: {e}"))
            }
            Err(e) => return Err(e),
        }
    }
    Ok((found, warnings))
}
