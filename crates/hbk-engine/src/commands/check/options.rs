//! What `check` is asked to do: which pack data to read.

use hbk_repo::Id;

use crate::size::parse_size;
use crate::Result;

/// Which packs `--read-data` / `--read-data-subset` download and verify.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ReadData {
    /// Structure only.
    #[default]
    None,
    /// Every pack.
    All,
    /// Subset `n` of `m` (1-based), chosen by the pack id's first byte:
    /// a pack is read when `id[0] % m == n - 1`.
    Subset {
        /// Which bucket, 1..=m.
        n: u32,
        /// How many buckets, at most 256.
        m: u32,
    },
    /// A random fraction of the packs, in percent (0 < x ≤ 100); at least
    /// one pack when there are any.
    Percent(f64),
    /// Random packs until their total size reaches this many bytes; at
    /// least one pack when there are any.
    Size(u64),
}

/// Options of [`check`](super::check).
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Which pack data to read and verify.
    pub read_data: ReadData,
    /// Read exactly these packs instead (those the index references and
    /// the backend holds): a caller that rotates through the packs, as
    /// the plan's scrub does, chooses them itself.
    pub read_packs: Option<Vec<Id>>,
    /// Check only the trees of these snapshots (restic 0.18's snapshot
    /// arguments and filters); `None`: every snapshot.
    pub snapshots: Option<Vec<Id>>,
}

/// Parses restic's `--read-data-subset` argument: `n/m` (1 ≤ n ≤ m ≤ 256),
/// `x%` (0 < x ≤ 100), or a size as [`parse_size`] reads it (`500M`,
/// `2GiB`).
pub fn parse_subset(s: &str) -> Result<ReadData> {
    s.parse()
}

impl std::str::FromStr for ReadData {
    type Err = crate::Error;

    /// Parses `--read-data-subset`; see [`parse_subset`].
    fn from_str(s: &str) -> Result<ReadData> {
        let err = |why: &str| {
            crate::Error::invalid("data subset", format!("invalid subset {s:?}: {why}"))
        };
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p = p.trim();
            let x: f64 = p
                .parse()
                .ok()
                .filter(|_| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
                .ok_or_else(|| err("expected x% with a decimal number x"))?;
            if !(x > 0.0 && x <= 100.0) {
                return Err(err("x% must be above 0% and at most 100%"));
            }
            return Ok(ReadData::Percent(x));
        }
        if let Some((n, m)) = s.split_once('/') {
            let bad = || err("n/m needs positive integers with n <= m, e.g. 1/2");
            let n: u32 = n.trim().parse().map_err(|_| bad())?;
            let m: u32 = m.trim().parse().map_err(|_| bad())?;
            if n == 0 || m == 0 || n > m {
                return Err(bad());
            }
            if m > 256 {
                return Err(err("in n/m, m must be at most 256"));
            }
            return Ok(ReadData::Subset { n, m });
        }
        let size = parse_size(s)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| err("expected n/m, x% or a size such as 500M"))?;
        Ok(ReadData::Size(size))
    }
}
