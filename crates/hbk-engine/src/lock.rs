//! Repository locks, compatible with restic's.
//!
//! A lock is a small encrypted file in `locks/`. Shared locks (backup,
//! restore, copy) coexist; an exclusive lock (prune, forget) needs the
//! repository to itself. A lock is stale when older than 30 minutes or
//! when its process on this host is gone; stale locks never block.
//! Acquiring: check, write ours, wait a moment, check again (another
//! process may have raced us). A held lock is refreshed every five
//! minutes by writing a new file and deleting the old one.
//!
//! | held \ wanted | shared | exclusive |
//! |---|---|---|
//! | shared | ok | refused |
//! | exclusive | refused | refused |

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hbk_repo::{FileType, GoTime, Id, LockFile, Repository};

use crate::{Error, Result};

/// A lock older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// Pause between writing our lock and checking for a racing one.
const RECHECK_DELAY: Duration = Duration::from_millis(200);

/// Whether `lock` no longer protects anything.
pub fn is_stale(lock: &LockFile, this_host: &str) -> bool {
    let age = GoTime::now().0.signed_duration_since(lock.time.0);
    if age.num_seconds() > STALE_AFTER.as_secs() as i64 {
        return true;
    }
    if lock.hostname == this_host {
        if let Ok(pid) = i32::try_from(lock.pid) {
            let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                == Err(nix::errno::Errno::ESRCH);
            return gone;
        }
    }
    false
}

/// The host name as restic records it.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The current user's name.
pub fn username() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default()
}

fn new_lock_file(exclusive: bool) -> LockFile {
    LockFile {
        time: GoTime::now(),
        exclusive,
        hostname: hostname(),
        username: username(),
        pid: i64::from(std::process::id()),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        extra: Default::default(),
    }
}

/// Finds a lock that conflicts with taking one (`exclusive` or not),
/// ignoring `own` and stale locks. Unreadable lock files are ignored, as
/// restic 0.14 does.
fn conflict(
    repo: &Repository,
    exclusive: bool,
    own: Option<&Id>,
) -> Result<Option<(Id, LockFile)>> {
    let host = hostname();
    for (id, _) in repo.list(FileType::Lock)? {
        if Some(&id) == own {
            continue;
        }
        let Ok(json) = repo.load_unpacked(FileType::Lock, &id) else {
            continue;
        };
        let Ok(lock) = LockFile::from_json(&json) else {
            continue;
        };
        if is_stale(&lock, &host) {
            continue;
        }
        if exclusive || lock.exclusive {
            return Ok(Some((id, lock)));
        }
    }
    Ok(None)
}

fn locked_error(id: &Id, l: &LockFile) -> Error {
    Error::Locked(format!(
        "repository is already locked {}by PID {} on {} by {} (UID {}, GID {})\nlock was created at {} (lock id {})",
        if l.exclusive { "exclusively " } else { "" },
        l.pid,
        l.hostname,
        l.username,
        l.uid,
        l.gid,
        l.time,
        id.short()
    ))
}

/// Locks held by this process, so a signal handler can release them.
static HELD: Mutex<Vec<(Repository, Arc<Shared>)>> = Mutex::new(Vec::new());

/// Deletes the files of every lock this process holds. For signal
/// handlers: an interrupted command must not leave a lock behind, since
/// restic refuses to work until a lock is removed, stale or not.
pub fn release_all() {
    let held = std::mem::take(&mut *HELD.lock().unwrap_or_else(|p| p.into_inner()));
    for (repo, shared) in held {
        *shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        let current = shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(id) = current {
            let _ = repo.backend().remove(FileType::Lock, &id);
        }
    }
}

struct Shared {
    current: Mutex<Option<Id>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A held lock; released (its file deleted) when dropped.
pub struct RepoLock {
    repo: Repository,
    shared: Arc<Shared>,
    refresher: Option<JoinHandle<()>>,
}

impl RepoLock {
    /// Takes a shared or exclusive lock, or fails with [`Error::Locked`].
    pub fn acquire(repo: &Repository, exclusive: bool) -> Result<RepoLock> {
        if let Some((id, l)) = conflict(repo, exclusive, None)? {
            return Err(locked_error(&id, &l));
        }
        let id = repo.save_unpacked(FileType::Lock, &new_lock_file(exclusive).to_json()?)?;
        std::thread::sleep(RECHECK_DELAY);
        if let Some((other, l)) = conflict(repo, exclusive, Some(&id))? {
            let _ = repo.backend().remove(FileType::Lock, &id);
            return Err(locked_error(&other, &l));
        }
        let shared = Arc::new(Shared {
            current: Mutex::new(Some(id)),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        let refresher = {
            let repo = repo.clone();
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("hbk-lock-refresh".into())
                .spawn(move || refresh_loop(&repo, &shared, exclusive))
                .ok()
        };
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((repo.clone(), Arc::clone(&shared)));
        Ok(RepoLock {
            repo: repo.clone(),
            shared,
            refresher,
        })
    }
}

fn refresh_loop(repo: &Repository, shared: &Shared, exclusive: bool) {
    let mut stop = shared.stop.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        // The lock may have been released before this thread first ran.
        if *stop {
            return;
        }
        let (guard, timeout) = shared
            .wake
            .wait_timeout(stop, REFRESH_EVERY)
            .unwrap_or_else(|p| p.into_inner());
        stop = guard;
        if *stop {
            return;
        }
        if !timeout.timed_out() {
            continue;
        }
        if let Ok(new) = new_lock_file(exclusive)
            .to_json()
            .and_then(|json| repo.save_unpacked(FileType::Lock, &json))
        {
            let old = shared
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .replace(new);
            if let Some(old) = old {
                let _ = repo.backend().remove(FileType::Lock, &old);
            }
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(_, s)| !Arc::ptr_eq(s, &self.shared));
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(h) = self.refresher.take() {
            let _ = h.join();
        }
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(id) = current {
            let _ = self.repo.backend().remove(FileType::Lock, &id);
        }
    }
}
