//! The plan lock: one run of a plan at a time (an advisory `flock` on a
//! file, dropped by the kernel when the process ends however it ends).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::{Error, Result};

/// A held plan lock; released on drop.
#[derive(Debug)]
pub struct PlanLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl PlanLock {
    /// Takes the lock, creating the file; fails at once if it is held.
    pub fn acquire(path: &Path) -> Result<PlanLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let lock =
            Flock::lock(f, FlockArg::LockExclusiveNonblock).map_err(|_| Error::PlanLocked {
                path: path.to_path_buf(),
            })?;
        Ok(PlanLock {
            _lock: lock,
            path: path.to_path_buf(),
        })
    }

    /// Checks, without creating anything, that nobody holds the lock.
    pub fn probe(path: &Path) -> Result<()> {
        match File::open(path) {
            Ok(f) => Flock::lock(f, FlockArg::LockSharedNonblock)
                .map(drop)
                .map_err(|_| Error::PlanLocked {
                    path: path.to_path_buf(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(path, e)),
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x/plan.lock");
        PlanLock::probe(&p).unwrap();
        let held = PlanLock::acquire(&p).unwrap();
        assert!(matches!(
            PlanLock::acquire(&p),
            Err(Error::PlanLocked { .. })
        ));
        assert!(PlanLock::probe(&p).is_err());
        drop(held);
        PlanLock::acquire(&p).unwrap();
    }
}
