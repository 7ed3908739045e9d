//! `tag`: add, remove or replace the tags of snapshots, as restic 0.14
//! does.
//!
//! A snapshot file cannot change (its name is its hash), so a changed
//! snapshot is saved as a new file whose `original` field names the first
//! version, and the old file is deleted after the new one is stored.

use hbk_repo::{FileType, Id, Repository, SnapshotFile};

use crate::lock::{LockKind, RepoLock};
use crate::{Error, Result};

/// How to change the tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagChange {
    /// Replace all tags with these (`[""]` clears them); excludes
    /// `add`/`remove`.
    pub set: Vec<String>,
    /// Tags to add when missing.
    pub add: Vec<String>,
    /// Tags to remove.
    pub remove: Vec<String>,
}

impl TagChange {
    /// Rejects an empty change and `set` mixed with `add`/`remove`, with
    /// restic's messages.
    pub fn validate(&self) -> Result<()> {
        if self.set.is_empty() && self.add.is_empty() && self.remove.is_empty() {
            return Err(Error::invalid("tag change", "nothing to do"));
        }
        if !self.set.is_empty() && (!self.add.is_empty() || !self.remove.is_empty()) {
            return Err(Error::invalid(
                "tag change",
                "setting tags and adding or removing them cannot be combined",
            ));
        }
        Ok(())
    }

    /// Applies the change to `sn`; returns whether the tags changed in
    /// restic's sense (`set` always counts as a change).
    pub fn apply(&self, sn: &mut SnapshotFile) -> bool {
        if !self.set.is_empty() {
            sn.tags = if self.set.len() == 1 && self.set[0].is_empty() {
                Vec::new()
            } else {
                self.set.clone()
            };
            return true;
        }
        let mut changed = false;
        for t in &self.add {
            if !sn.tags.contains(t) {
                sn.tags.push(t.clone());
                changed = true;
            }
        }
        let before = sn.tags.len();
        sn.tags.retain(|t| !self.remove.contains(t));
        changed || sn.tags.len() != before
    }
}

/// Stores `sn` as a new snapshot replacing `old` (setting `original` when
/// unset) and deletes `old`. Returns the new id. The caller holds an
/// exclusive lock.
pub fn replace_snapshot(repo: &Repository, old: &Id, mut sn: SnapshotFile) -> Result<Id> {
    if sn.original.is_none() {
        sn.original = Some(*old);
    }
    let new = repo.save_unpacked(FileType::Snapshot, &sn.to_json()?)?;
    if new != *old {
        repo.backend()
            .remove(FileType::Snapshot, old)
            .map_err(hbk_repo::Error::from)?;
    }
    Ok(new)
}

/// Changes the tags of `snapshots` under `lock` (an exclusive lock on
/// `repo`, held while the caller chose the snapshots); returns the (old,
/// new) ids of the snapshots that changed.
pub fn tag(
    repo: &Repository,
    lock: &RepoLock,
    snapshots: Vec<(Id, SnapshotFile)>,
    change: &TagChange,
) -> Result<Vec<(Id, Id)>> {
    change.validate()?;
    lock.require(repo, LockKind::Exclusive)?;
    let mut changed = Vec::new();
    for (id, mut sn) in snapshots {
        if change.apply(&mut sn) {
            let new = replace_snapshot(repo, &id, sn)?;
            changed.push((id, new));
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample;

    fn tags(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn add_remove_set() {
        let s = sample(2);
        let repo = &s.t.repo;
        let lock = crate::testutil::exclusive(repo);
        let add = TagChange {
            add: tags(&["a", "b"]),
            ..Default::default()
        };
        let changed = tag(repo, &lock, repo.snapshots().unwrap(), &add).unwrap();
        assert_eq!(changed.len(), 1);
        let (old, new) = changed[0];
        assert_eq!(old, s.snapshot);
        let sn = repo.load_snapshot(&new).unwrap();
        assert_eq!(sn.tags, tags(&["a", "b"]));
        assert_eq!(sn.original, Some(s.snapshot));
        assert_eq!(s.t.ids(FileType::Snapshot), vec![new]);
        assert_eq!(s.t.ids(FileType::Lock).len(), 1, "only the caller's lock");

        // Adding what is there changes nothing.
        let again = TagChange {
            add: tags(&["a"]),
            ..Default::default()
        };
        assert!(tag(repo, &lock, repo.snapshots().unwrap(), &again)
            .unwrap()
            .is_empty());

        let remove = TagChange {
            remove: tags(&["a"]),
            ..Default::default()
        };
        let (_, newer) = tag(repo, &lock, repo.snapshots().unwrap(), &remove).unwrap()[0];
        let sn = repo.load_snapshot(&newer).unwrap();
        assert_eq!(sn.tags, tags(&["b"]));
        // `original` still names the first version.
        assert_eq!(sn.original, Some(s.snapshot));

        let clear = TagChange {
            set: tags(&[""]),
            ..Default::default()
        };
        let (_, cleared) = tag(repo, &lock, repo.snapshots().unwrap(), &clear).unwrap()[0];
        assert!(repo.load_snapshot(&cleared).unwrap().tags.is_empty());
    }

    #[test]
    fn invalid_changes() {
        assert!(TagChange::default().validate().is_err());
        let both = TagChange {
            set: tags(&["x"]),
            add: tags(&["y"]),
            ..Default::default()
        };
        assert!(both.validate().is_err());
    }
}
