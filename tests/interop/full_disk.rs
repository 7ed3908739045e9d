//! Full disks (issue #12, item 3), on small tmpfs mounts: a backup into a
//! repository whose disk fills up, a restore onto a full target and a
//! metadata cache on a full disk. Each must fail (or, for the cache, warn)
//! clearly, naming "no space left on device" and the path, without a
//! panic; the repository must still pass `restic check`, and the same
//! command must complete once there is room again.

use std::process::Output;

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{describe, hbk, ok, restic, snapshot_ids, Repo};
use hbk_tests::servers::{Remote, RestServer};
use hbk_tests::tmpfs::Tmpfs;
use hbk_tests::tree::random_files;

use crate::{restored, tempdir};

/// 40 MiB of incompressible data in five files.
const SOURCE_KIB: [usize; 5] = [12288, 8192, 10240, 4096, 6144];

fn compare_options() -> CompareOptions {
    CompareOptions {
        owners: false,
        xattrs: false,
        ..CompareOptions::all()
    }
}

/// The failure is a clean one: a non-zero exit, no panic, and a message
/// that says the disk is full and where (`place`: a path or part of one).
fn assert_full_disk_error(out: &Output, place: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", describe(out));
    assert!(!err.contains("panicked"), "{}", describe(out));
    assert!(
        err.to_lowercase().contains("no space left on device"),
        "{}",
        describe(out)
    );
    assert!(
        err.contains(place),
        "the message does not name {place}: {}",
        describe(out)
    );
}

#[test]
fn backup_into_a_full_repository_disk() {
    let dir = tempdir();
    let src = dir.path().join("src");
    random_files(&src, 7, &SOURCE_KIB);
    let disk = Tmpfs::mount(&dir.path().join("disk"), 64);
    let repo = Repo {
        path: disk.path().join("repo"),
        password_file: dir.path().join("password"),
    };
    std::fs::write(&repo.password_file, "full-disk\n").unwrap();
    ok(hbk(&repo, &["init"]));
    // 20 MiB left: half the source fits, then the disk is full.
    let filler = disk.fill("filler", 20 << 20);
    let out = hbk(
        &repo,
        &["--pack-size", "4", "backup", src.to_str().unwrap()],
    );
    assert_full_disk_error(&out, repo.path.to_str().unwrap());

    // restic checks a copy (on the full disk it could not write its lock):
    // no snapshot, no half-written pack, nothing indexed that is missing.
    let copy = Repo {
        path: dir.path().join("copy"),
        password_file: repo.password_file.clone(),
    };
    hbk_tests::copy_dir(&repo.path, &copy.path);
    ok(restic(&copy, &["check", "--read-data"]));
    assert!(snapshot_ids(&copy).is_empty());
    let leftovers = ok(restic(&copy, &["list", "locks", "--no-lock"]));
    assert!(leftovers.stdout.is_empty(), "{}", describe(&leftovers));

    // With room again, the same backup completes and restores exactly.
    std::fs::remove_file(filler).unwrap();
    ok(hbk(
        &repo,
        &["--pack-size", "4", "backup", src.to_str().unwrap()],
    ));
    ok(restic(&repo, &["check", "--read-data"]));
    let target = dir.path().join("restore");
    ok(hbk(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    assert_same_tree(&src, &restored(&target, &src), compare_options());
}

#[test]
fn restore_onto_a_full_target() {
    let dir = tempdir();
    let src = dir.path().join("src");
    random_files(&src, 8, &SOURCE_KIB);
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", "-q", src.to_str().unwrap()]));
    let disk = Tmpfs::mount(&dir.path().join("disk"), 64);
    let filler = disk.fill("filler", 16 << 20);
    let target = disk.path().join("target");
    let out = hbk(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    );
    // Restore names each file it could not write, as restic does, by its
    // path under the target.
    assert_full_disk_error(&out, "src/f");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ignoring error for"),
        "{}",
        describe(&out)
    );
    // The restore wrote nothing into the repository.
    ok(restic(&repo, &["check", "--read-data"]));

    // With room again, the same restore completes over the partial one.
    std::fs::remove_file(filler).unwrap();
    ok(hbk(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    assert_same_tree(&src, &restored(&target, &src), compare_options());
}

fn run(mut cmd: std::process::Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

#[test]
fn cache_on_a_full_disk() {
    let dir = tempdir();
    let src = dir.path().join("src");
    random_files(&src, 9, &[1024, 2048]);
    let rest = RestServer::start();
    let remote = Remote::new(rest.url(), rest.env());
    ok(remote.hbk(&["init"]));
    let disk = Tmpfs::mount(&dir.path().join("disk"), 4);
    let cache = disk.path().join("cache");
    let filler = disk.fill("filler", 0);
    let arg = src.to_str().unwrap();
    let cached = |args: &[&str]| run(remote.hbk_command_cached_in(&cache, args));
    // The cache only saves work: the backup completes without it and
    // says why it had none.
    let out = cached(&["backup", arg]);
    assert!(out.status.success(), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.to_lowercase().contains("no space left on device")
            && err.contains(cache.to_str().unwrap()),
        "{}",
        describe(&out)
    );
    ok(remote.restic(&["check", "--read-data"]));

    // A cache that fills up part way: set up with a little room, then
    // full while the index and snapshots are written. Commands after it
    // still read the repository right.
    std::fs::remove_file(&filler).unwrap();
    let filler = disk.fill("filler", 64 << 10);
    random_files(&src.join("more"), 10, &[1024]);
    let out = cached(&["backup", arg]);
    assert!(out.status.success(), "{}", describe(&out));
    std::fs::remove_file(&filler).unwrap();
    ok(cached(&["check", "--read-data"]));
    ok(remote.restic(&["check", "--read-data"]));
    let target = dir.path().join("restore");
    ok(cached(&[
        "restore",
        "latest",
        "--target",
        target.to_str().unwrap(),
    ]));
    assert_same_tree(&src, &restored(&target, &src), compare_options());
}
