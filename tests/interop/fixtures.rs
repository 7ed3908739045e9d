//! The repositories restic 0.14 made (fixtures/restic-0.14) read and
//! restore with hbk.

use hbk_tests::drivers::{hbk, ok, Repo};
use hbk_tests::{copy_dir, fixtures};

use crate::tempdir;

#[test]
fn restic_014_fixtures_restore_to_their_source() {
    let source = fixtures().join("restic-0.14/source/data");
    for name in ["repo-v1", "repo-v2"] {
        let dir = tempdir();
        let repo = Repo::with_password(dir.path(), "testpass");
        copy_dir(&fixtures().join("restic-0.14").join(name), &repo.path);
        ok(hbk(&repo, &["check", "--read-data"]));
        let target = dir.path().join("restore");
        ok(hbk(
            &repo,
            &[
                "restore",
                "latest",
                "--target",
                target.to_str().unwrap(),
                "--verify",
            ],
        ));
        // The snapshot holds the relative target `data`.
        let restored = target.join("data");
        for f in ["empty", "hello.txt", "random.bin", "sub/n.txt"] {
            assert_eq!(
                std::fs::read(source.join(f)).unwrap(),
                std::fs::read(restored.join(f)).unwrap(),
                "{name}: {f}"
            );
        }
        // The fixture's copy of the source stores the symlink as a file.
        assert_eq!(
            std::fs::read_link(restored.join("link")).unwrap().to_str(),
            Some("hello.txt")
        );
    }
}
