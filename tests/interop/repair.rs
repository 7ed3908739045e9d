//! `repair packs` (restic 0.16+) on a repository restic wrote, with one
//! blob of a pack damaged: every readable blob is kept, the lost one is
//! reported by the file that used it, and after `repair snapshots
//! --forget` restic accepts the repository and restores every other file
//! bit for bit.

use std::sync::Arc;

use hbk_repo::{BlobType, Id, Repository};
use hbk_tests::compare::{compare_trees, CompareOptions};
use hbk_tests::drivers::{describe, hbk, hbk_command, ok, restic, Repo};

use crate::{restored, tempdir};

/// The pack holding data blob `blob`, and the blob's offset in it.
fn locate(repo: &Repo, blob: &Id) -> (Id, u64) {
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let backend = Arc::new(hbk_backend::LocalBackend::new(&repo.path));
    let opened = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    for (_, file) in opened.index_files().unwrap() {
        for pack in file.packs {
            if let Some(b) = pack
                .blobs
                .iter()
                .find(|b| b.blob_type == BlobType::Data && b.id == *blob)
            {
                return (pack.id, b.offset);
            }
        }
    }
    panic!("blob {blob} is in no index");
}

#[test]
fn repair_packs_keeps_readable_blobs_and_names_lost_files() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..20 {
        let body = format!("file {i}: {}\n", "x".repeat(i * 100));
        std::fs::write(src.join("sub").join(format!("f{i:02}")), body).unwrap();
    }
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init", "--repository-version", "2"]));
    ok(restic(&repo, &["backup", src.to_str().unwrap()]));

    // Damage the middle of the blob of sub/f07.
    let victim = std::fs::read(src.join("sub/f07")).unwrap();
    let (pack, offset) = locate(&repo, &Id::hash(&victim));
    let hex = pack.to_hex();
    let file = repo.path.join("data").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[offset as usize + 20] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    let check = hbk(&repo, &["check", "--read-data"]);
    assert_ne!(check.status.code(), Some(0), "{}", describe(&check));

    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut cmd = hbk_command(&repo, &["repair", "packs", &hex]);
    cmd.current_dir(&cwd);
    let out = ok(cmd.output().unwrap());
    let text = describe(&out);
    assert!(text.contains("1 blobs could not be salvaged"), "{text}");
    assert!(
        text.contains(&format!("{}/sub/f07", src.display())),
        "{text}"
    );
    assert!(text.contains("salvaged 19 blobs"), "{text}");
    assert_eq!(
        std::fs::read(cwd.join(format!("pack-{hex}"))).unwrap(),
        bytes
    );
    assert!(!file.exists());

    ok(hbk(&repo, &["repair", "snapshots", "--forget"]));
    ok(restic(&repo, &["check", "--read-data"]));
    let target = dir.path().join("restored");
    ok(restic(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    let back = restored(&target, &src);
    assert_eq!(std::fs::metadata(back.join("sub/f07")).unwrap().len(), 0);
    std::fs::remove_file(back.join("sub/f07")).unwrap();
    std::fs::remove_file(src.join("sub/f07")).unwrap();
    let differs = compare_trees(&src, &back, CompareOptions::plain_files());
    assert!(differs.is_empty(), "{differs:?}");
}
