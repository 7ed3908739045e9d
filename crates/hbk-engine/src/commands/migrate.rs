//! `migrate`: repository format migrations, as restic offers them. The
//! one there is, `upgrade_repo_v2`, turns a version 1 repository into a
//! version 2 one (compression, new trees and indexes compressed): only
//! the config changes, after a check of the whole repository finds no
//! error. Existing packs stay as they are; both formats read them.

use std::path::{Path, PathBuf};

use hbk_repo::{FileType, Id, Repository};

use crate::commands::check::{check, CheckOptions};
use crate::keep_copy::keep_copy;
use crate::lock::{LockKind, RepoLock};
use crate::progress::NoProgress;
use crate::{Error, Result};

/// The name of the version 1 → 2 upgrade.
pub const UPGRADE_REPO_V2: &str = "upgrade_repo_v2";

/// A migration and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it does, in restic's words.
    pub description: &'static str,
}

/// Every migration hbk knows.
pub const MIGRATIONS: [Migration; 1] = [Migration {
    name: UPGRADE_REPO_V2,
    description: "upgrade a repository to version 2",
}];

/// The migrations `repo` can take, with why each other one cannot.
pub fn applicable(repo: &Repository) -> Vec<(Migration, Option<String>)> {
    MIGRATIONS
        .iter()
        .map(|m| {
            let version = repo.config().version;
            let refusal = (version != 1)
                .then(|| format!("repository is already upgraded to version {version}"));
            (*m, refusal)
        })
        .collect()
}

/// Upgrades `repo` to version 2 under `lock` (an exclusive lock on it)
/// after `check` found no error; a copy of the old config is kept in
/// `backup_dir` until the new one is stored. Returns the repository as
/// it is now.
pub fn upgrade_repo_v2(repo: Repository, lock: &RepoLock, backup_dir: &Path) -> Result<Repository> {
    lock.require(&repo, LockKind::Exclusive)?;
    let version = repo.config().version;
    if version != 1 {
        return Err(Error::MigrationRefused(format!(
            "repository has version {version}, only upgrades from version 1 are supported"
        )));
    }
    let found = check(&repo, &CheckOptions::default(), &NoProgress)?;
    if !found.errors.is_empty() {
        return Err(Error::MigrationRefused(format!(
            "the repository check found {} errors; run `hbk check` and repair first",
            found.errors.len()
        )));
    }
    let backup = save_config_copy(&repo, backup_dir)?;
    let mut config = repo.config().clone();
    config.version = 2;
    let upgraded = repo.replace_config(config).map_err(|e| {
        Error::MigrationRefused(format!(
            "{e}; a copy of the old config is in {}",
            backup.display()
        ))
    })?;
    let _ = std::fs::remove_file(&backup);
    Ok(upgraded)
}

/// Keeps the raw config file as `dir/config` (never over another file).
fn save_config_copy(repo: &Repository, dir: &Path) -> Result<PathBuf> {
    let raw = repo
        .backend()
        .read_full(FileType::Config, &Id::default())
        .map_err(hbk_repo::Error::from)?;
    keep_copy(dir, "config", &raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exclusive, sample};

    #[test]
    fn version_1_becomes_2_and_reads_as_before() {
        let s = sample(1);
        let repo = s.t.repo.clone();
        assert_eq!(applicable(&repo)[0].1, None);
        let dir = tempfile::tempdir().unwrap();
        let lock = exclusive(&repo);
        let upgraded = upgrade_repo_v2(repo, &lock, dir.path()).unwrap();
        assert_eq!(upgraded.config().version, 2);
        assert!(!dir.path().join("config").exists());
        let again = Repository::open(s.t.backend.clone(), b"pw").unwrap();
        assert_eq!(again.config().version, 2);
        assert_eq!(again.config().id, s.t.repo.config().id);
        let indexed = again.clone().into_indexed().unwrap();
        assert_eq!(indexed.tree(&s.root).unwrap().nodes.len(), 1);
        let refusal = applicable(&again)[0].1.clone().unwrap();
        assert!(
            refusal.contains("already upgraded to version 2"),
            "{refusal}"
        );
        let e = upgrade_repo_v2(again, &lock, dir.path()).unwrap_err();
        assert!(
            e.to_string().contains("only upgrades from version 1"),
            "{e}"
        );
    }

    #[test]
    fn a_damaged_repository_is_not_upgraded() {
        let s = sample(1);
        use hbk_repo::Backend;
        s.t.backend.remove(FileType::Pack, &s.data_pack.id).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let lock = exclusive(&s.t.repo);
        let e = upgrade_repo_v2(s.t.repo.clone(), &lock, dir.path()).unwrap_err();
        assert!(e.to_string().contains("check found"), "{e}");
        let again = Repository::open(s.t.backend.clone(), b"pw").unwrap();
        assert_eq!(again.config().version, 1);
    }
}
