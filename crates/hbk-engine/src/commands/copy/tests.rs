use hbk_repo::BlobType;

use super::*;
use crate::commands::check::{check, CheckOptions, ReadData};
use crate::progress::NoProgress;
use crate::testutil::{sample, TestRepo};

fn opts() -> CopyOptions {
    CopyOptions {
        pack_size: 16 << 20,
        level: Some(3),
        ..Default::default()
    }
}

fn indexed(t: &TestRepo) -> IndexedRepository {
    t.repo.clone().into_indexed().unwrap()
}

/// Plans and copies all of `from` into `to` under shared locks.
fn copy_all(from: &TestRepo, to: &TestRepo) -> Result<Vec<(Id, CopyOutcome)>> {
    let shared = |r: &Repository| RepoLock::acquire(r, LockKind::Shared).unwrap();
    let (src_lock, dst_lock) = (shared(&from.repo), shared(&to.repo));
    let pending = plan_copies(&from.repo, &to.repo, &opts())?;
    let (src, dst) = (indexed(from), indexed(to));
    copy(
        &src,
        &src_lock,
        &dst,
        &dst_lock,
        pending,
        &opts(),
        &NoProgress,
    )
}

#[test]
fn copies_once_and_the_copy_reads_back() {
    for (from, to) in [(1, 2), (2, 1), (2, 2)] {
        let s = sample(from);
        let dst = TestRepo::new(to);
        let out = copy_all(&s.t, &dst).unwrap();
        assert_eq!(out.len(), 1);
        let CopyOutcome::Copied { target, blobs, .. } = out[0].1 else {
            panic!("not copied: {:?}", out[0].1);
        };
        assert_eq!(blobs, 4, "two chunks and two trees");
        let copied = dst.repo.load_snapshot(&target).unwrap();
        assert_eq!(copied.original, Some(s.snapshot));
        assert_eq!(copied.tree, s.root);
        let report = check(
            &dst.repo,
            &CheckOptions {
                read_data: ReadData::All,
                ..Default::default()
            },
            &NoProgress,
        )
        .unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let d = indexed(&dst);
        for c in s.chunks {
            d.blob(BlobType::Data, &c).unwrap();
        }

        // A second copy finds the first and transfers nothing.
        let packs = dst.ids(FileType::Pack);
        let again = copy_all(&s.t, &dst).unwrap();
        assert!(matches!(again[0].1, CopyOutcome::AlreadyCopied { target: t } if t == target));
        assert_eq!(dst.ids(FileType::Pack), packs);
        assert_eq!(dst.ids(FileType::Snapshot).len(), 1);
    }
}

#[test]
fn a_lock_on_another_repository_is_refused() {
    let s = sample(1);
    let dst = TestRepo::new(2);
    let lock = RepoLock::acquire(&s.t.repo, LockKind::Shared).unwrap();
    let pending = plan_copies(&s.t.repo, &dst.repo, &opts()).unwrap();
    let (src, d) = (indexed(&s.t), indexed(&dst));
    let err = copy(&src, &lock, &d, &lock, pending, &opts(), &NoProgress).unwrap_err();
    assert!(matches!(err, crate::Error::WrongLock { .. }), "{err}");
    assert!(dst.ids(FileType::Snapshot).is_empty());
}

#[test]
fn a_damaged_source_blob_saves_no_snapshot() {
    let s = sample(1);
    let mut bytes = s.t.pack_bytes(&s.data_pack.id);
    bytes[20] ^= 1;
    s.t.replace_pack(&s.data_pack.id, &bytes);
    let dst = TestRepo::new(2);
    let err = copy_all(&s.t, &dst).unwrap_err();
    assert!(
        err.to_string().contains(&s.data_pack.id.to_string()),
        "{err}"
    );
    assert!(dst.ids(FileType::Snapshot).is_empty());
}
