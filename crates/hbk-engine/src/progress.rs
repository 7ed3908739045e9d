//! Progress of commands that run in phases (prune, copy): each phase has a
//! name and counts items, so a front end can draw one bar per phase or
//! print JSON status lines.

/// Receives phase progress; called from worker threads.
pub trait PhaseProgress: Sync {
    /// A phase begins; `total` items when known.
    fn start(&self, phase: &str, total: Option<u64>);
    /// `items` more items of the current phase are done.
    fn advance(&self, items: u64);
    /// The current phase is over.
    fn finish(&self);
}

/// Progress that is not shown.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl PhaseProgress for Silent {
    fn start(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}
