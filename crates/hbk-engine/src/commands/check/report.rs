//! What a check found, and the phases it reports progress in.

use hbk_repo::Id;

use super::finding::{CheckFinding, FindingKind};

/// What [`check`](super::check) found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Errors: each names the object (pack, blob, index file, snapshot,
    /// tree) by its full id, and says what kind of fault it is.
    pub errors: Vec<CheckFinding>,
    /// Hints that are not errors (duplicate packs, mixed packs, …).
    pub hints: Vec<String>,
    /// Packs on the backend that no index references, sorted.
    pub orphaned_packs: Vec<Id>,
    /// Packs whose data was read.
    pub packs_read: usize,
    /// Bytes of pack data read.
    pub bytes_read: u64,
    /// Blobs decoded and verified while reading pack data.
    pub blobs_read: usize,
    /// Index files that loaded.
    pub index_files: usize,
    /// Distinct packs referenced by the index files.
    pub packs: usize,
    /// Snapshots that loaded.
    pub snapshots: usize,
    /// Distinct trees checked.
    pub trees: usize,
}

impl CheckReport {
    /// Whether no error was found (hints and orphaned packs are fine).
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The packs whose stored content is damaged (what `repair packs`
    /// salvages), sorted.
    pub fn damaged_packs(&self) -> Vec<Id> {
        self.packs_where(damaged_content)
    }

    /// The damaged packs and those the index lists that the backend
    /// lacks, sorted: what `repair packs` takes to heal a repository.
    pub fn packs_to_repair(&self) -> Vec<Id> {
        self.packs_where(|k| k == FindingKind::Missing || damaged_content(k))
    }

    fn packs_where(&self, kind: impl Fn(FindingKind) -> bool) -> Vec<Id> {
        let mut packs: Vec<Id> = self
            .errors
            .iter()
            .filter(|e| kind(e.kind))
            .filter_map(|e| e.pack().copied())
            .collect();
        packs.sort();
        packs.dedup();
        packs
    }
}

/// Whether a finding of `kind` about a pack means its stored bytes are
/// damaged.
fn damaged_content(kind: FindingKind) -> bool {
    matches!(
        kind,
        FindingKind::HashMismatch
            | FindingKind::DamagedBlob
            | FindingKind::Unreadable
            | FindingKind::SizeMismatch
    )
}

/// The steps of a check, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckPhase {
    /// Loading the index files; one item per file.
    LoadIndex,
    /// Checking packs against the index and the backend; one item per pack.
    Packs,
    /// Loading snapshots; one item per snapshot.
    Snapshots,
    /// Walking the trees; one item per tree (the total is not known).
    Trees,
    /// Reading pack data; one item per pack.
    ReadData,
}

impl CheckPhase {
    /// The phase's name in progress reports: what its items are.
    pub fn name(self) -> &'static str {
        match self {
            CheckPhase::LoadIndex => "index files loaded",
            CheckPhase::Packs => "packs checked",
            CheckPhase::Snapshots => "snapshots loaded",
            CheckPhase::Trees => "trees checked",
            CheckPhase::ReadData => "packs read",
        }
    }
}
