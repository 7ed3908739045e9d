//! `check`: verify a repository's structure and, optionally, its data.
//! (Being written; see the module docs once complete.)

use hbk_repo::{Id, Repository};

use crate::Result;

/// Which packs `--read-data` / `--read-data-subset` download and verify.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// Subset `n` of `m` (1-based), chosen by the pack id's first byte.
    Subset {
        /// Which bucket, 1..=m.
        n: u32,
        /// How many buckets.
        m: u32,
    },
    /// A random fraction of the packs, in percent.
    Percent(f64),
}

/// Options of [`check`].
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Which pack data to read and verify.
    pub read_data: ReadData,
}

/// What [`check`] found.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// Errors: each names the object (pack, blob, index file, snapshot, tree).
    pub errors: Vec<String>,
    /// Hints that are not errors (duplicate packs, mixed packs, …).
    pub hints: Vec<String>,
    /// Packs on the backend that no index references.
    pub orphaned_packs: Vec<Id>,
    /// Packs whose data was read.
    pub packs_read: usize,
}

/// Checks the repository.
pub fn check(_repo: &Repository, _opts: &CheckOptions) -> Result<CheckReport> {
    Ok(CheckReport::default())
}

impl std::str::FromStr for ReadData {
    type Err = crate::Error;
    /// Parses `--read-data-subset`: `n/m` or `x%`.
    fn from_str(s: &str) -> Result<ReadData> {
        let bad = || {
            crate::Error::InvalidOptions(format!(
                "invalid --read-data-subset {s:?}: expected n/m or x%"
            ))
        };
        if let Some(p) = s.strip_suffix('%') {
            let x: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(x > 0.0 && x <= 100.0) {
                return Err(bad());
            }
            return Ok(ReadData::Percent(x));
        }
        let (n, m) = s.split_once('/').ok_or_else(bad)?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        let m: u32 = m.trim().parse().map_err(|_| bad())?;
        if n == 0 || m == 0 || n > m {
            return Err(bad());
        }
        Ok(ReadData::Subset { n, m })
    }
}
