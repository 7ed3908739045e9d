//! `unlock`: delete lock files left behind by processes that are gone.
//!
//! Like restic 0.14's `unlock`, this takes no lock itself. A lock is stale
//! when older than [`crate::lock::STALE_AFTER`] or when it was made on this
//! host by a process that no longer runs (see [`crate::lock::is_stale`]).
//! Lock files that cannot be read or parsed are left alone unless every
//! lock is to go.

use hbk_repo::{FileType, Id, LockFile, Repository};

use crate::lock::{hostname, is_stale};
use crate::Result;

/// Deletes stale locks, or every lock with `remove_all`. Returns the ids
/// of the files deleted, sorted. A lock that disappears meanwhile (its
/// holder released it) is not an error and not counted.
pub fn unlock(repo: &Repository, remove_all: bool) -> Result<Vec<Id>> {
    let host = hostname();
    let mut removed = Vec::new();
    for (id, _) in repo.list(FileType::Lock)? {
        if !remove_all && !readable_and_stale(repo, &id, &host) {
            continue;
        }
        match repo.backend().remove(FileType::Lock, &id) {
            Ok(()) => removed.push(id),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(hbk_repo::Error::from(e).into()),
        }
    }
    removed.sort();
    Ok(removed)
}

fn readable_and_stale(repo: &Repository, id: &Id, host: &str) -> bool {
    repo.load_unpacked(FileType::Lock, id)
        .ok()
        .and_then(|json| LockFile::from_json(&json).ok())
        .is_some_and(|lock| is_stale(&lock, host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestRepo;
    use hbk_repo::{Backend, GoTime};

    fn lock(t: &TestRepo, host: &str, pid: i64, age_secs: i64) -> Id {
        let l = LockFile {
            time: GoTime(GoTime::now().0 - chrono::Duration::seconds(age_secs)),
            exclusive: false,
            hostname: host.into(),
            username: "u".into(),
            pid,
            uid: 0,
            gid: 0,
            extra: Default::default(),
        };
        t.repo
            .save_unpacked(FileType::Lock, &l.to_json().unwrap())
            .unwrap()
    }

    fn remaining(t: &TestRepo) -> Vec<Id> {
        t.ids(FileType::Lock)
    }

    /// A pid that is not running: a child that has been waited for.
    fn dead_pid() -> i64 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        i64::from(pid)
    }

    #[test]
    fn removes_only_stale_locks() {
        let t = TestRepo::new(2);
        let here = hostname();
        let own = lock(&t, &here, i64::from(std::process::id()), 0);
        let dead = lock(&t, &here, dead_pid(), 0);
        let old = lock(&t, "elsewhere", 1, 31 * 60);
        let fresh = lock(&t, "elsewhere", 1, 0);
        t.backend
            .write(FileType::Lock, &Id::hash(b"junk"), b"junk")
            .unwrap();
        let removed = unlock(&t.repo, false).unwrap();
        let mut want = vec![dead, old];
        want.sort();
        assert_eq!(removed, want);
        let mut left = vec![own, fresh, Id::hash(b"junk")];
        left.sort();
        assert_eq!(remaining(&t), left);
    }

    #[test]
    fn remove_all_removes_everything() {
        let t = TestRepo::new(1);
        lock(&t, &hostname(), i64::from(std::process::id()), 0);
        lock(&t, "elsewhere", 1, 0);
        t.backend
            .write(FileType::Lock, &Id::hash(b"junk"), b"junk")
            .unwrap();
        assert_eq!(unlock(&t.repo, true).unwrap().len(), 3);
        assert!(remaining(&t).is_empty());
        assert!(unlock(&t.repo, true).unwrap().is_empty());
    }
}
