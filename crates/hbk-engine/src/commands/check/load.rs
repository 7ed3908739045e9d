//! Loading many objects in parallel, and wording their load errors.

use hbk_repo::Id;

use super::report::CheckPhase;
use crate::progress::Progress;

/// A repository error as part of a message that already names the object:
/// drops the "<type> <id> is damaged" prefix of [`hbk_repo::Error::Corrupt`].
pub(super) fn describe(e: &hbk_repo::Error) -> String {
    match e {
        hbk_repo::Error::Corrupt { reason, .. } => format!("damaged: {reason}"),
        other => other.to_string(),
    }
}

/// Runs `load` for every id in parallel, reporting the phase's start and
/// one item per id; results keep the order of `ids`.
pub(super) fn load_each<T: Send>(
    ids: &[Id],
    phase: CheckPhase,
    progress: &dyn Progress,
    load: impl Fn(&Id) -> T + Sync,
) -> Vec<(Id, T)> {
    use rayon::prelude::*;
    progress.phase_start(phase.name(), Some(ids.len() as u64));
    ids.par_iter()
        .map(|id| {
            let r = load(id);
            progress.phase_advance(1);
            (*id, r)
        })
        .collect()
}
