//! `key add`, `key remove` and `key passwd`: the passwords of a repository.
//!
//! Every key file wraps the same master key with a different password, so
//! adding a password writes one more key file and removing one deletes a
//! file; the data is never touched. The key the repository was opened with
//! cannot be removed, so at least one key always remains.
//!
//! These functions take no lock. restic 0.14 holds a shared lock while
//! adding a key and an exclusive one while removing a key or changing the
//! password; callers should do the same with [`crate::lock::RepoLock`].

use hbk_repo::{FileType, Id, KdfParams, Repository};

use crate::lock::{LockKind, RepoLock};
use crate::{Error, Result};

/// How a new key file is made.
#[derive(Debug, Clone)]
pub struct NewKeyOptions {
    /// scrypt parameters for the new key.
    pub kdf: KdfParams,
    /// User name recorded in the key file; `None`: the current user.
    pub username: Option<String>,
    /// Host name recorded in the key file; `None`: this host.
    pub hostname: Option<String>,
    /// Allow an empty password (restic's `--new-insecure-no-password`);
    /// refused otherwise, so that none is made by mistake.
    pub allow_empty_password: bool,
}

impl Default for NewKeyOptions {
    fn default() -> Self {
        NewKeyOptions {
            kdf: KdfParams::RESTIC_DEFAULT,
            username: None,
            hostname: None,
            allow_empty_password: false,
        }
    }
}

/// Adds `new_password` as another way to open `repo`: a new key file
/// around the repository's master key, checked to open before this
/// returns. Returns the new key's id.
/// Needs a shared lock.
pub fn add_key(
    repo: &Repository,
    lock: &RepoLock,
    new_password: &[u8],
    opts: &NewKeyOptions,
) -> Result<Id> {
    lock.require(repo, LockKind::Shared)?;
    if new_password.is_empty() && !opts.allow_empty_password {
        return Err(Error::invalid(
            "password",
            "an empty password is not a password",
        ));
    }
    let username = opts.username.clone().unwrap_or_else(crate::lock::username);
    let hostname = opts.hostname.clone().unwrap_or_else(crate::lock::hostname);
    Ok(repo.add_key_file(new_password, opts.kdf, &username, &hostname)?)
}

/// Deletes the key file `id`.
///
/// Refuses the key `repo` was opened with (so the last key is never
/// removed) and ids that name no key file.
/// Needs an exclusive lock.
pub fn remove_key(repo: &Repository, lock: &RepoLock, id: &Id) -> Result<()> {
    lock.require(repo, LockKind::Exclusive)?;
    if *id == repo.key_id() {
        return Err(Error::KeyRemovalRefused(
            "key currently used to access repository",
        ));
    }
    let keys = repo.list(FileType::Key)?;
    if !keys.iter().any(|(k, _)| k == id) {
        return Err(Error::KeyNotFound(*id));
    }
    if keys.len() < 2 {
        return Err(Error::KeyRemovalRefused("the last key of the repository"));
    }
    repo.backend()
        .remove(FileType::Key, id)
        .map_err(hbk_repo::Error::from)?;
    Ok(())
}

/// Replaces the password `repo` was opened with: adds a key for
/// `new_password` (checked to open), then deletes the current key file.
/// Returns the new key's id.
///
/// Afterwards `repo.key_id()` names the deleted file; the master key, and
/// so the handle, stay valid.
/// Needs an exclusive lock.
pub fn change_password(
    repo: &Repository,
    lock: &RepoLock,
    new_password: &[u8],
    opts: &NewKeyOptions,
) -> Result<Id> {
    lock.require(repo, LockKind::Exclusive)?;
    let new = add_key(repo, lock, new_password, opts)?;
    repo.backend()
        .remove(FileType::Key, &repo.key_id())
        .map_err(hbk_repo::Error::from)?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{exclusive, TestRepo};

    fn fast() -> NewKeyOptions {
        NewKeyOptions {
            kdf: KdfParams::INSECURE_FOR_TESTS,
            username: Some("alice".into()),
            hostname: Some("box".into()),
            allow_empty_password: false,
        }
    }

    fn keys(t: &TestRepo) -> Vec<Id> {
        t.ids(FileType::Key)
    }

    #[test]
    fn added_key_opens_the_repository() {
        let t = TestRepo::new(2);
        let id = add_key(&t.repo, &exclusive(&t.repo), b"second", &fast()).unwrap();
        assert_eq!(keys(&t).len(), 2);
        assert!(keys(&t).contains(&id));
        let raw = t.repo.load_raw(FileType::Key, &id).unwrap();
        let kf = hbk_repo::KeyFile::from_json(&raw).unwrap();
        assert_eq!(kf.username, "alice");
        assert_eq!(kf.hostname, "box");
        let other = Repository::open(t.backend.clone(), b"second").unwrap();
        assert_eq!(other.key_id(), id);
        assert_eq!(other.key(), t.repo.key());
        assert_eq!(other.config().id, t.repo.config().id);
        Repository::open(t.backend.clone(), b"pw").unwrap();
    }

    #[test]
    fn empty_password_is_refused_unless_allowed() {
        let t = TestRepo::new(1);
        assert!(add_key(&t.repo, &exclusive(&t.repo), b"", &fast()).is_err());
        assert_eq!(keys(&t).len(), 1);
        let allowed = NewKeyOptions {
            allow_empty_password: true,
            ..fast()
        };
        let id = add_key(&t.repo, &exclusive(&t.repo), b"", &allowed).unwrap();
        assert_eq!(
            Repository::open(t.backend.clone(), b"").unwrap().key_id(),
            id
        );
    }

    #[test]
    fn a_key_hint_reaches_a_key_past_the_search_limit() {
        let t = TestRepo::new(2);
        let lock = exclusive(&t.repo);
        // One more than the limit: with the repository's own key that
        // makes two out of reach, so the highest added one is always among
        // them, wherever the first key's id falls.
        let mut added: Vec<(Id, String)> = (0..=hbk_repo::MAX_KEYS_TRIED)
            .map(|i| {
                let pw = format!("password {i}");
                (add_key(&t.repo, &lock, pw.as_bytes(), &fast()).unwrap(), pw)
            })
            .collect();
        added.sort();
        // More keys than are tried: the one with the highest id is not
        // reached in id order, only with its hint.
        let (last, pw) = added.last().unwrap();
        assert!(Repository::open(t.backend.clone(), pw.as_bytes()).is_err());
        let hint = &last.to_hex()[..8];
        let opened =
            Repository::open_with_key_hint(t.backend.clone(), pw.as_bytes(), Some(hint)).unwrap();
        assert_eq!(opened.key_id(), *last);
        // A hint naming another key only changes the order.
        let (first, first_pw) = &added[0];
        let opened =
            Repository::open_with_key_hint(t.backend.clone(), first_pw.as_bytes(), Some(hint))
                .unwrap();
        assert_eq!(opened.key_id(), *first);
    }

    #[test]
    fn current_and_unknown_keys_are_not_removed() {
        let t = TestRepo::new(2);
        let err = remove_key(&t.repo, &exclusive(&t.repo), &t.repo.key_id()).unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");
        assert!(remove_key(&t.repo, &exclusive(&t.repo), &Id::random()).is_err());
        assert_eq!(keys(&t), vec![t.repo.key_id()]);
    }

    #[test]
    fn other_key_is_removed() {
        let t = TestRepo::new(2);
        let id = add_key(&t.repo, &exclusive(&t.repo), b"second", &fast()).unwrap();
        remove_key(&t.repo, &exclusive(&t.repo), &id).unwrap();
        assert_eq!(keys(&t), vec![t.repo.key_id()]);
        assert!(matches!(
            Repository::open(t.backend.clone(), b"second"),
            Err(hbk_repo::Error::WrongPassword)
        ));
    }

    #[test]
    fn change_password_replaces_the_current_key() {
        let t = TestRepo::new(2);
        let new = change_password(&t.repo, &exclusive(&t.repo), b"new", &fast()).unwrap();
        assert_eq!(keys(&t), vec![new]);
        assert!(matches!(
            Repository::open(t.backend.clone(), b"pw"),
            Err(hbk_repo::Error::WrongPassword)
        ));
        let reopened = Repository::open(t.backend.clone(), b"new").unwrap();
        assert_eq!(reopened.key(), t.repo.key());
    }
}
