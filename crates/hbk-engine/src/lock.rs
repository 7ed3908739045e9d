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

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hbk_repo::{FileType, GoTime, Id, LockFile, Repository};

use crate::{Error, Result};

/// The kind of a repository lock: shared locks coexist, an exclusive one
/// needs the repository to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockKind {
    /// Readers and writers that only add (backup, copy, key add).
    Shared,
    /// Commands that delete or rewrite (prune, forget, tag, repair).
    Exclusive,
}

impl LockKind {
    fn is_exclusive(self) -> bool {
        self == LockKind::Exclusive
    }
}

/// How a command that can change the repository runs: as a dry run,
/// which reads and writes nothing, or for real under a lock. A command
/// taking this cannot write without a lock.
#[derive(Clone, Copy)]
pub enum WriteMode<'a> {
    /// Decide and report; change nothing.
    DryRun,
    /// Change the repository under this lock.
    Locked(&'a RepoLock),
}

impl WriteMode<'_> {
    /// Whether nothing is to be changed.
    pub fn is_dry_run(&self) -> bool {
        matches!(self, WriteMode::DryRun)
    }

    /// For a real run, waits until the lock is held
    /// ([`RepoLock::confirmed`]); a dry run needs no lock. Call before the
    /// first write.
    pub fn confirmed(&self) -> Result<()> {
        match self {
            WriteMode::DryRun => Ok(()),
            WriteMode::Locked(lock) => lock.confirmed(),
        }
    }

    /// For a real run, checks that the lock is on `repo` and at least of
    /// `kind` ([`RepoLock::require`]); a dry run needs no lock.
    pub fn require(&self, repo: &Repository, kind: LockKind) -> Result<()> {
        match self {
            WriteMode::DryRun => Ok(()),
            WriteMode::Locked(lock) => lock.require(repo, kind),
        }
    }
}

/// A lock older than this is stale.
pub const STALE_AFTER: Duration = Duration::from_secs(30 * 60);
/// How often a held lock is refreshed.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5 * 60);
/// Pause between writing our lock and checking for a racing one, so a
/// lock written at the same time shows in a remote listing (a local
/// directory lists it at once: no pause there).
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

fn new_lock_file(kind: LockKind) -> LockFile {
    LockFile {
        time: GoTime::now(),
        exclusive: kind.is_exclusive(),
        hostname: hostname(),
        username: username(),
        pid: i64::from(std::process::id()),
        uid: nix::unistd::getuid().as_raw(),
        gid: nix::unistd::getgid().as_raw(),
        extra: Default::default(),
    }
}

/// Finds a lock that conflicts with taking one of `kind`, ignoring `own`
/// and stale locks. Unreadable lock files are ignored, as restic 0.14
/// does.
fn conflict(repo: &Repository, kind: LockKind, own: Option<&Id>) -> Result<Option<(Id, LockFile)>> {
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
        if kind.is_exclusive() || lock.exclusive {
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
            let _ = repo.backend().discard(FileType::Lock, &id);
        }
    }
}

struct Shared {
    current: Mutex<Option<Id>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// A held lock; released (its file deleted) when dropped. Commands that
/// need a lock take `&RepoLock` and check with [`RepoLock::require`] that
/// it is of the right kind and on their repository.
pub struct RepoLock {
    repo: Repository,
    kind: LockKind,
    serial: u64,
    shared: Arc<Shared>,
    refresher: Option<JoinHandle<()>>,
    /// The final check of a lock taken with [`RepoLock::acquire_early`],
    /// while it runs.
    checking: Mutex<Option<JoinHandle<Result<()>>>>,
    /// How that check ended: `Err` holds why the lock is not held.
    checked: std::sync::OnceLock<std::result::Result<(), String>>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock")
            .field("location", &self.repo.backend().location())
            .field("kind", &self.kind)
            .finish()
    }
}

impl RepoLock {
    /// Takes a lock of `kind`, trying again while another holder's lock
    /// is in the way, for up to `wait` (restic's `--retry-lock`); then
    /// fails with [`Error::Locked`] like [`RepoLock::acquire`].
    pub fn acquire_waiting(repo: &Repository, kind: LockKind, wait: Duration) -> Result<RepoLock> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_secs(1);
        loop {
            match RepoLock::acquire(repo, kind) {
                Err(Error::Locked(_)) if started.elapsed() < wait => {
                    let left = wait.saturating_sub(started.elapsed());
                    std::thread::sleep(pause.min(left));
                    pause = (pause * 2).min(Duration::from_secs(20));
                }
                other => return other,
            }
        }
    }

    /// Takes a lock of `kind`, or fails with [`Error::Locked`]: checks for
    /// other locks while writing its own, pauses, and checks again. Only
    /// the check after the pause decides whether the lock is held; the
    /// first only gives up early.
    pub fn acquire(repo: &Repository, kind: LockKind) -> Result<RepoLock> {
        let id = write_lock(repo, kind)?;
        final_check(repo, kind, &id)?;
        Ok(RepoLock::held(repo, kind, id, None))
    }

    /// Takes a lock of `kind` whose final check (after the pause, see
    /// [`RepoLock::acquire`]) runs in the background: the command goes on
    /// meanwhile and calls [`RepoLock::confirmed`] before it writes
    /// anything to the repository. A backup reads, chunks and packs its
    /// first files during the pause instead of waiting it out. Fails at
    /// once when the first check finds a lock in the way.
    pub fn acquire_early(repo: &Repository, kind: LockKind) -> Result<RepoLock> {
        let id = write_lock(repo, kind)?;
        let checking = {
            let repo = repo.clone();
            std::thread::Builder::new()
                .name("hbk-lock-check".into())
                .spawn(move || final_check(&repo, kind, &id))
                .map_err(|e| Error::ThreadPool(e.to_string()))
        };
        let checking = match checking {
            Ok(handle) => handle,
            Err(e) => {
                let _ = repo.backend().discard(FileType::Lock, &id);
                return Err(e);
            }
        };
        Ok(RepoLock::held(repo, kind, id, Some(checking)))
    }

    /// Waits for the final check of a lock taken with
    /// [`RepoLock::acquire_early`]: `Ok` once the lock is held (at once for
    /// a lock taken otherwise), [`Error::Locked`] when it is not (its file
    /// is gone then, and nothing may be written).
    pub fn confirmed(&self) -> Result<()> {
        let outcome = self.checked.get_or_init(|| {
            let pending = self
                .checking
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let Some(handle) = pending else {
                return Ok(());
            };
            crate::pool::joined(handle.join()).map_err(|e| {
                // Nothing to refresh or to delete any more.
                *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
                self.shared.wake.notify_all();
                e.to_string()
            })
        });
        outcome.clone().map_err(Error::Locked)
    }

    /// The lock `id` just written, registered for release and refreshed.
    fn held(
        repo: &Repository,
        kind: LockKind,
        id: Id,
        checking: Option<JoinHandle<Result<()>>>,
    ) -> RepoLock {
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
                .spawn(move || refresh_loop(&repo, &shared, kind))
                .ok()
        };
        HELD.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((repo.clone(), Arc::clone(&shared)));
        RepoLock {
            repo: repo.clone(),
            kind,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
            shared,
            refresher,
            checking: Mutex::new(checking),
            checked: std::sync::OnceLock::new(),
        }
    }
}

/// Writes a lock file of `kind` while checking for locks in the way
/// (restic checks, then writes: one round trip less on a remote
/// repository); returns its id. A lock in the way is the error, and our
/// file is deleted again.
fn write_lock(repo: &Repository, kind: LockKind) -> Result<Id> {
    let (id, sealed) = repo.seal_unpacked(&new_lock_file(kind).to_json()?)?;
    let (found, written) = std::thread::scope(|s| {
        let check = s.spawn(|| conflict(repo, kind, Some(&id)));
        let written = repo.backend().write(FileType::Lock, &id, &sealed);
        (crate::pool::joined(check.join()), written)
    });
    match (found, written) {
        (Ok(None), Ok(())) => Ok(id),
        (Ok(Some((other, l))), written) => {
            if written.is_ok() {
                let _ = repo.backend().discard(FileType::Lock, &id);
            }
            Err(locked_error(&other, &l))
        }
        (_, Err(e)) => Err(hbk_repo::Error::from(e).into()),
        (Err(e), Ok(())) => {
            let _ = repo.backend().discard(FileType::Lock, &id);
            Err(e)
        }
    }
}

/// The check that decides whether the lock `id` is held: after a pause
/// (so a lock written at the same moment shows in a remote listing), no
/// other lock may be in the way. Deletes `id` when one is.
fn final_check(repo: &Repository, kind: LockKind, id: &Id) -> Result<()> {
    if !repo.backend().lists_writes_at_once() {
        std::thread::sleep(RECHECK_DELAY);
    }
    let refused = match conflict(repo, kind, Some(id)) {
        Ok(None) => return Ok(()),
        Ok(Some((other, l))) => locked_error(&other, &l),
        Err(e) => e,
    };
    let _ = repo.backend().discard(FileType::Lock, id);
    Err(refused)
}

impl RepoLock {
    /// The kind of this lock.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// Whether this lock is on `repo` (the same repository id at the same
    /// location).
    pub fn covers(&self, repo: &Repository) -> bool {
        self.repo.config().id == repo.config().id
            && self.repo.backend().location() == repo.backend().location()
    }

    /// Checks that this lock is on `repo` and at least of `kind` (an
    /// exclusive lock serves a shared need too); a command calls this
    /// before it writes.
    pub fn require(&self, repo: &Repository, kind: LockKind) -> Result<()> {
        if !self.covers(repo) {
            return Err(Error::WrongLock {
                reason: format!(
                    "the lock is on {}, not on {}",
                    self.repo.backend().location(),
                    repo.backend().location()
                ),
            });
        }
        if kind.is_exclusive() && !self.kind.is_exclusive() {
            return Err(Error::WrongLock {
                reason: "an exclusive lock is needed, a shared one was given".into(),
            });
        }
        Ok(())
    }

    /// A number identifying this held lock, for plans that must be carried
    /// out under the lock they were made under.
    fn token(&self) -> u64 {
        self.serial
    }
}

/// Numbers the locks this process takes (see [`RepoLock::token`]).
static SERIAL: AtomicU64 = AtomicU64::new(1);

/// Checks that a plan made under the lock with `made_under` (see
/// [`RepoLock::token`]) is carried out under `lock`.
pub(crate) fn same_lock(lock: &RepoLock, made_under: Option<u64>) -> bool {
    made_under == Some(lock.token())
}

/// The token of `lock`, for a plan to remember.
pub(crate) fn token_of(lock: Option<&RepoLock>) -> Option<u64> {
    lock.map(RepoLock::token)
}

fn refresh_loop(repo: &Repository, shared: &Shared, kind: LockKind) {
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
        if let Ok(new) = new_lock_file(kind)
            .to_json()
            .and_then(|json| repo.save_unpacked(FileType::Lock, &json))
        {
            let old = shared
                .current
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .replace(new);
            if let Some(old) = old {
                let _ = repo.backend().discard(FileType::Lock, &old);
            }
        }
    }
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        // A final check still running ends first, so it never races the
        // deletion below.
        let _ = self.confirmed();
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
            let _ = self.repo.backend().discard(FileType::Lock, &id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestRepo;

    fn refused(r: Result<RepoLock>) -> bool {
        matches!(r, Err(Error::Locked(_)))
    }

    #[test]
    fn shared_locks_coexist_and_exclusive_ones_exclude() {
        let t = TestRepo::new(2);
        let a = RepoLock::acquire(&t.repo, LockKind::Shared).unwrap();
        let b = RepoLock::acquire(&t.repo, LockKind::Shared).unwrap();
        assert_eq!(t.ids(FileType::Lock).len(), 2);
        assert!(refused(RepoLock::acquire(&t.repo, LockKind::Exclusive)));
        // The refused attempt wrote its lock while checking; it is gone.
        assert_eq!(t.ids(FileType::Lock).len(), 2);
        drop((a, b));
        assert!(t.ids(FileType::Lock).is_empty());
        // Alone, an exclusive lock is taken: its own file never counts.
        let x = RepoLock::acquire(&t.repo, LockKind::Exclusive).unwrap();
        assert!(refused(RepoLock::acquire(&t.repo, LockKind::Shared)));
        assert!(refused(RepoLock::acquire(&t.repo, LockKind::Exclusive)));
        assert_eq!(t.ids(FileType::Lock).len(), 1);
        drop(x);
        assert!(t.ids(FileType::Lock).is_empty());
    }

    #[test]
    fn an_early_lock_is_confirmed_or_refused_by_its_final_check() {
        let t = TestRepo::new(2);
        let early = RepoLock::acquire_early(&t.repo, LockKind::Shared).unwrap();
        early.confirmed().unwrap();
        assert_eq!(t.ids(FileType::Lock).len(), 1);
        drop(early);
        assert!(t.ids(FileType::Lock).is_empty());

        // An exclusive lock written during the pause, after the first check.
        let early = RepoLock::acquire_early(&t.repo, LockKind::Shared).unwrap();
        let json = new_lock_file(LockKind::Exclusive).to_json().unwrap();
        let other = t.repo.save_unpacked(FileType::Lock, &json).unwrap();
        assert!(matches!(early.confirmed(), Err(Error::Locked(_))));
        assert!(
            matches!(early.confirmed(), Err(Error::Locked(_))),
            "asked again"
        );
        assert_eq!(t.ids(FileType::Lock), vec![other], "ours is gone");
        drop(early);
        assert_eq!(t.ids(FileType::Lock), vec![other]);
    }
}
