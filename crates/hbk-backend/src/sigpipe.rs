//! Keeps SIGPIPE away from network I/O.
//!
//! The `hbk` binary restores SIGPIPE's default action (so `hbk … | head`
//! ends quietly). A server that closes a connection while hbk is still
//! sending would then kill the whole process without a word. SIGPIPE from
//! a socket write goes to the writing thread, so the threads doing network
//! I/O block it and see `EPIPE` instead, which becomes a retryable error.

use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow, Signal};

fn sigpipe() -> SigSet {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    set
}

/// Blocks SIGPIPE in the calling thread for good (runtime worker threads).
pub(crate) fn block_in_this_thread() {
    let _ = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigpipe()), None);
}

/// Runs `f` with SIGPIPE blocked in the calling thread; threads `f`
/// starts inherit the blocked mask.
pub(crate) fn blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut old = SigSet::empty();
    let blocked = pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&sigpipe()), Some(&mut old)).is_ok();
    let out = f();
    if blocked && !old.contains(Signal::SIGPIPE) {
        let _ = pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&sigpipe()), None);
    }
    out
}
