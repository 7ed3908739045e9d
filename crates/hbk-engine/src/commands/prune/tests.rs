use hbk_repo::{Backend, BlobType};

use super::*;
use crate::commands::check::{check, CheckOptions, ReadData};
use crate::progress::NoProgress;
use crate::testutil::{exclusive, sample};

/// Plans and prunes under one exclusive lock.
fn run(repo: &Repository, opts: &PruneOptions) -> Result<PruneReport> {
    let lock = exclusive(repo);
    let plan = prune_plan(repo, Some(&lock), opts, &NoProgress)?;
    prune(repo, &lock, plan, &NoProgress)
}

fn check_ok(repo: &Repository) {
    let report = check(
        repo,
        &CheckOptions {
            read_data: ReadData::All,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

fn all_blobs_readable(repo: &Repository, blobs: &[(BlobType, Id)]) {
    let indexed = repo.clone().into_indexed().unwrap();
    for (t, id) in blobs {
        indexed.blob(*t, id).unwrap();
    }
}

#[test]
fn removes_unused_packs_and_repacks_partly_used_ones() {
    for version in [1, 2] {
        let s = sample(version);
        let t = &s.t;
        // A pack nobody uses, a pack mixing a used duplicate with garbage,
        // and a pack no index mentions.
        let junk = t.write_pack(&[(BlobType::Data, b"junk one")], false);
        let c2 = b"the second chunk of the file";
        let mixed = t.write_pack(
            &[
                (BlobType::Data, &[7u8; 3000][..]),
                (BlobType::Data, &c2[..]),
            ],
            false,
        );
        t.write_index(&[junk.clone(), mixed.clone()]);
        let stray = t.write_pack(&[(BlobType::Data, b"stray")], false);
        let stray_size = t.pack_bytes(&stray.id).len() as u64;

        let report = run(&t.repo, &PruneOptions::default()).unwrap();
        assert_eq!(report.snapshots, 1);
        assert_eq!(
            report.plan.remove.len(),
            2,
            "junk and mixed (its copy is a duplicate)"
        );
        assert_eq!(report.plan.unreferenced, vec![(stray.id, stray_size)]);
        let packs = t.ids(FileType::Pack);
        assert!(
            !packs.contains(&junk.id) && !packs.contains(&mixed.id) && !packs.contains(&stray.id)
        );
        assert!(packs.contains(&s.data_pack.id) && packs.contains(&s.tree_pack.id));
        assert!(
            !t.ids(FileType::Index).contains(&s.index),
            "old index replaced"
        );
        check_ok(&t.repo);
        all_blobs_readable(
            &t.repo,
            &[
                (BlobType::Data, s.chunks[0]),
                (BlobType::Data, s.chunks[1]),
                (BlobType::Tree, s.root),
                (BlobType::Tree, s.subtree),
            ],
        );

        // Nothing left to do: a second prune changes nothing.
        let before = (t.ids(FileType::Pack), t.ids(FileType::Index));
        let again = run(&t.repo, &PruneOptions::default()).unwrap();
        assert!(again.plan.is_noop());
        assert_eq!(before, (t.ids(FileType::Pack), t.ids(FileType::Index)));
    }
}

#[test]
fn repacks_a_pack_with_used_and_unused_blobs() {
    let s = sample(2);
    let t = &s.t;
    // Forget the snapshot's file by pointing a new snapshot at a tree that
    // only keeps the first chunk.
    let sub = crate::testutil::tree_json(&[crate::testutil::node_json(
        "f",
        "file",
        &s.chunks[..1],
        None,
    )]);
    let root = crate::testutil::tree_json(&[crate::testutil::node_json(
        "d",
        "dir",
        &[],
        Some(Id::hash(&sub)),
    )]);
    let trees = t.write_pack(&[(BlobType::Tree, &sub), (BlobType::Tree, &root)], true);
    t.write_index(&[trees]);
    t.backend.remove(FileType::Snapshot, &s.snapshot).unwrap();
    t.write_snapshot(Id::hash(&root));

    let opts = PruneOptions {
        plan: PlanOptions {
            max_unused: UnusedLimit::Bytes(0),
            pack_size: 16 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = run(&t.repo, &opts).unwrap();
    assert_eq!(report.plan.repack.len(), 1);
    assert_eq!(report.plan.repack[0].pack, s.data_pack.id);
    assert_eq!(report.packs_written, 1);
    assert!(!t.ids(FileType::Pack).contains(&s.data_pack.id));
    check_ok(&t.repo);
    all_blobs_readable(&t.repo, &[(BlobType::Data, s.chunks[0])]);
    let indexed = t.repo.clone().into_indexed().unwrap();
    assert!(!indexed.index().contains(BlobType::Data, &s.chunks[1]));
}

#[test]
fn dry_run_changes_nothing() {
    let s = sample(1);
    let t = &s.t;
    t.write_pack(&[(BlobType::Data, b"junk")], false);
    let before = (t.ids(FileType::Pack), t.ids(FileType::Index));
    for no_lock in [false, true] {
        let report =
            prune_dry_run(&t.repo, no_lock, &PruneOptions::default(), &NoProgress).unwrap();
        assert!(report.dry_run);
        assert_eq!(report.plan.unreferenced.len(), 1);
        assert_eq!(before, (t.ids(FileType::Pack), t.ids(FileType::Index)));
        assert!(t.ids(FileType::Lock).is_empty());
    }
}

#[test]
fn missing_data_stops_prune_before_any_change() {
    let s = sample(2);
    let t = &s.t;
    t.write_pack(&[(BlobType::Data, b"junk")], false);
    // The data pack disappears: its blobs are used but cannot be kept.
    t.backend.remove(FileType::Pack, &s.data_pack.id).unwrap();
    let before = (t.ids(FileType::Pack), t.ids(FileType::Index));
    let err = run(&t.repo, &PruneOptions::default()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(before, (t.ids(FileType::Pack), t.ids(FileType::Index)));
}

#[test]
fn damaged_blob_stops_prune_before_any_deletion() {
    let s = sample(1);
    let t = &s.t;
    let junk = t.write_pack(&[(BlobType::Data, b"junk")], false);
    t.write_index(&[junk]);
    // Corrupt the data pack: the used chunks cannot be repacked.
    let mut bytes = t.pack_bytes(&s.data_pack.id);
    bytes[20] ^= 0xff;
    t.replace_pack(&s.data_pack.id, &bytes);
    // Force repacking it by adding an unused blob to the same pack's entry.
    let opts = PruneOptions {
        plan: PlanOptions {
            repack_small: true,
            pack_size: 16 << 20,
            ..Default::default()
        },
        ..Default::default()
    };
    let before = t.ids(FileType::Pack);
    let err = run(&t.repo, &opts).unwrap_err();
    assert!(
        err.to_string().contains(&s.data_pack.id.to_string()),
        "{err}"
    );
    // Nothing deleted (new packs may have been added).
    let after = t.ids(FileType::Pack);
    assert!(before.iter().all(|p| after.contains(p)));
    assert!(t.ids(FileType::Index).contains(&s.index));
}

#[test]
fn repack_uncompressed_is_refused_on_v1() {
    let s = sample(1);
    let opts = PruneOptions {
        plan: PlanOptions {
            repack_uncompressed: true,
            ..Default::default()
        },
        ..Default::default()
    };
    assert!(matches!(
        run(&s.t.repo, &opts),
        Err(Error::NeedsRepositoryV2 { .. })
    ));
}

#[test]
fn a_plan_is_carried_out_only_under_its_own_exclusive_lock() {
    let s = sample(1);
    let t = &s.t;
    t.write_pack(&[(BlobType::Data, b"junk")], false);
    let before = t.ids(FileType::Pack);
    let opts = PruneOptions::default();

    // A plan made without a lock can only be reported.
    let unlocked = prune_plan(&t.repo, None, &opts, &NoProgress).unwrap();
    let lock = exclusive(&t.repo);
    let err = prune(&t.repo, &lock, unlocked, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::WrongLock { .. }), "{err}");
    drop(lock);

    // A shared lock does not serve prune.
    let shared = RepoLock::acquire(&t.repo, crate::lock::LockKind::Shared).unwrap();
    let err = prune_plan(&t.repo, Some(&shared), &opts, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::WrongLock { .. }), "{err}");
    drop(shared);

    // Nor does another exclusive lock than the plan's.
    let first = exclusive(&t.repo);
    let plan = prune_plan(&t.repo, Some(&first), &opts, &NoProgress).unwrap();
    drop(first);
    let second = exclusive(&t.repo);
    let err = prune(&t.repo, &second, plan, &NoProgress).unwrap_err();
    assert!(matches!(err, Error::WrongLock { .. }), "{err}");
    assert_eq!(before, t.ids(FileType::Pack));
}

/// On a full disk: nothing is repacked, unused packs go, the index is
/// rewritten after the deletions, and the data still reads.
#[test]
fn unsafe_recovery_deletes_first_and_repacks_nothing() {
    let s = sample(2);
    let t = &s.t;
    // The sample's snapshot goes, so its packs are unused; a new snapshot
    // uses half of another pack.
    let c3 = b"a chunk of a file kept".to_vec();
    let c4 = b"a chunk nobody needs any more".to_vec();
    let half = t.write_pack(&[(BlobType::Data, &c3), (BlobType::Data, &c4)], true);
    let sub = crate::testutil::tree_json(&[crate::testutil::node_json(
        "k",
        "file",
        &[Id::hash(&c3)],
        None,
    )]);
    let trees = t.write_pack(&[(BlobType::Tree, &sub)], true);
    t.write_index(&[half.clone(), trees]);
    t.backend.remove(FileType::Snapshot, &s.snapshot).unwrap();
    t.write_snapshot(Id::hash(&sub));
    let opts = PruneOptions {
        plan: PlanOptions {
            max_unused: UnusedLimit::Bytes(0),
            pack_size: 16 << 20,
            ..Default::default()
        },
        unsafe_recovery: true,
    };
    let report = run(&t.repo, &opts).unwrap();
    assert_eq!(report.packs_written, 0);
    assert!(report.plan.repack.is_empty());
    let packs = t.ids(FileType::Pack);
    assert!(!packs.contains(&s.data_pack.id) && !packs.contains(&s.tree_pack.id));
    assert!(packs.contains(&half.id), "the half-used pack stays whole");
    let repo = t.repo.clone().into_indexed().unwrap();
    assert_eq!(repo.blob(BlobType::Data, &Id::hash(&c3)).unwrap(), c3);
}
