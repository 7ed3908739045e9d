//! The planner and the pack reader against arbitrary index entries.

use std::path::Path;

use hbk_repo::{BlobLocation, Id, Index, IndexBlob, IndexFile, IndexedRepository};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use super::{read_runs, run_end, BlobJob, MAX_READ};
use crate::commands::restore::{restore, RestoreOptions};
use crate::pack_range::cut;
use crate::progress::NoProgress;
use crate::testutil::sample;

/// An offset or length: near the real values most of the time, anywhere
/// in the type's range otherwise.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0u64..6000, 1 => any::<u64>(), 1 => Just(u64::MAX)]
}

fn length() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..6000, 1 => any::<u32>(), 1 => Just(u32::MAX)]
}

fn job(offset: u64, length: u32, n: u8) -> BlobJob {
    let loc = BlobLocation {
        pack: Id([0xee; 32]),
        offset,
        length,
        uncompressed_length: None,
    };
    BlobJob::new(Id([n; 32]), loc, super::Target { item: 0, offset: 0 })
}

proptest! {
    /// Arbitrary sorted jobs are split into runs that cover each job once,
    /// in order, and cutting any run out of any number of bytes read stays
    /// inside those bytes.
    #[test]
    fn runs_cover_every_job_and_cut_stays_in_bounds(
        raw in proptest::collection::vec((offset(), length()), 0..30),
        short in 0usize..3000,
    ) {
        let mut jobs: Vec<BlobJob> = raw
            .iter()
            .enumerate()
            .map(|(i, &(o, l))| job(o, l, i as u8))
            .collect();
        jobs.sort_by_key(|j| j.loc.offset);
        let mut seen = 0;
        for run in read_runs(&jobs, MAX_READ) {
            prop_assert!(!run.is_empty());
            for j in run {
                prop_assert_eq!(j.id, jobs[seen].id);
                seen += 1;
            }
            let start = run[0].loc.offset;
            let wanted = run_end(run).saturating_sub(start);
            let available = usize::try_from(wanted).unwrap_or(usize::MAX).min(short);
            for (r, j) in cut(start, available, run.iter().map(|j| (&j.id, &j.loc))).iter().zip(run) {
                if let Ok(r) = r {
                    prop_assert!(r.end <= available);
                    prop_assert_eq!(r.len() as u64, u64::from(j.loc.length));
                }
            }
        }
        prop_assert_eq!(seen, jobs.len());
    }
}

/// The expected content of the sample's file `d/f`.
fn sample_file() -> Vec<u8> {
    let mut content: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    content.extend_from_slice(b"the second chunk of the file");
    content
}

/// A whole restore through an index whose data entries are arbitrary:
/// it never panics, and a file reported without error has exactly the
/// snapshot's content.
#[test]
fn restore_with_arbitrary_index_entries_never_panics_nor_lies() {
    let s = sample(2);
    let expected = sample_file();
    let entries = proptest::collection::vec(
        (
            offset(),
            length(),
            prop_oneof![
                Just(None),
                (1u32..10_000).prop_map(Some),
                any::<u32>().prop_map(Some)
            ],
        ),
        2,
    );
    // Writing and reading back a directory per case is slow: a few cases.
    let mut runner = TestRunner::new(Config {
        cases: 24,
        ..Config::default()
    });
    runner
        .run(&(entries, any::<bool>()), |(entries, keep_first)| {
            let mut data_pack = s.data_pack.clone();
            for (i, (b, &(offset, length, ulen))) in
                data_pack.blobs.iter_mut().zip(&entries).enumerate()
            {
                if i == 0 && keep_first {
                    continue;
                }
                *b = IndexBlob {
                    offset,
                    length,
                    uncompressed_length: ulen,
                    ..*b
                };
            }
            let file = IndexFile {
                packs: vec![data_pack, s.tree_pack.clone()],
                ..Default::default()
            };
            let repo = IndexedRepository::with_index(s.t.repo.clone(), Index::from_files([&file]));
            let target = tempfile::tempdir().unwrap();
            let stats = restore(
                &repo,
                &s.root,
                target.path(),
                &RestoreOptions::default(),
                &NoProgress,
            )
            .unwrap();
            let path = Path::new("d/f");
            if !stats.errors.iter().any(|e| e.path == path) {
                let got = std::fs::read(target.path().join(path)).unwrap();
                prop_assert_eq!(got, expected.clone());
            }
            Ok(())
        })
        .unwrap();
}

/// Two index entries for different blobs that overlap: the restore fails
/// for the file with an error naming the pack.
#[test]
fn overlapping_entries_fail_cleanly() {
    let s = sample(2);
    let mut data_pack = s.data_pack.clone();
    let first = data_pack.blobs[0];
    data_pack.blobs[1].offset = first.offset + 1;
    let file = IndexFile {
        packs: vec![data_pack, s.tree_pack.clone()],
        ..Default::default()
    };
    let repo = IndexedRepository::with_index(s.t.repo.clone(), Index::from_files([&file]));
    let target = tempfile::tempdir().unwrap();
    let stats = restore(
        &repo,
        &s.root,
        target.path(),
        &RestoreOptions::default(),
        &NoProgress,
    )
    .unwrap();
    let pack = s.data_pack.id.to_string();
    assert!(
        stats
            .errors
            .iter()
            .any(|e| e.path == Path::new("d/f") && e.message.contains(&pack)),
        "{:?}",
        stats.errors
    );
}

/// Blobs whose ids share their first eight bytes are told apart.
#[test]
fn planned_jobs_tell_apart_ids_that_share_a_prefix() {
    let ids: Vec<Id> = (0..4u8)
        .map(|n| {
            let mut b = [0x11; 32];
            b[31] = n;
            if n == 3 {
                b[0] = 0x22;
            }
            Id(b)
        })
        .collect();
    let mut packs: super::PackJobs = vec![(Id([0xee; 32]), Vec::new())];
    let mut planned = super::PlannedJobs::default();
    for (n, id) in ids.iter().enumerate().take(3) {
        assert!(planned.find(id, &mut packs).is_none());
        let mut j = job(n as u64 * 100, 50, n as u8);
        j.id = *id;
        packs[0].1.push(j);
        planned.insert(id, (0, n as u32));
    }
    for (n, id) in ids.iter().enumerate().take(3) {
        let found = planned.find(id, &mut packs).map(|j| (j.id, j.loc.offset));
        assert_eq!(found, Some((*id, n as u64 * 100)));
    }
    assert!(planned.find(&ids[3], &mut packs).is_none());
    assert_eq!(planned.by_id.len(), 2);
}
