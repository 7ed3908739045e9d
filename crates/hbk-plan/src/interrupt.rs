//! Cleanups that must run even when the process is stopped by Ctrl-C or
//! SIGTERM. The binary's signal handler calls [`run_all`] before it exits;
//! guards register here while they hold something (PBS maintenance mode)
//! and unregister when they let go.

use std::sync::{Mutex, PoisonError};

type Cleanup = Box<dyn FnOnce() + Send>;

static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT: Mutex<u64> = Mutex::new(0);

/// Registers a cleanup; returns its id for [`unregister`].
pub fn register(f: impl FnOnce() + Send + 'static) -> u64 {
    let mut next = NEXT.lock().unwrap_or_else(PoisonError::into_inner);
    *next += 1;
    let id = *next;
    CLEANUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push((id, Box::new(f)));
    id
}

/// Forgets a cleanup without running it.
pub fn unregister(id: u64) {
    CLEANUPS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|(i, _)| *i != id);
}

/// Runs every registered cleanup, newest first (called on a signal).
pub fn run_all() {
    let all = std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(PoisonError::into_inner));
    for (_, f) in all.into_iter().rev() {
        f();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn registered_cleanups_run_once_and_unregistered_never() {
        let n = Arc::new(AtomicU32::new(0));
        let a = n.clone();
        let _ = register(move || {
            a.fetch_add(1, Ordering::SeqCst);
        });
        let b = n.clone();
        let id = register(move || {
            b.fetch_add(10, Ordering::SeqCst);
        });
        unregister(id);
        run_all();
        run_all();
        assert_eq!(n.load(Ordering::SeqCst), 1);
    }
}
