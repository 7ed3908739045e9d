//! Bandwidth limits and read concurrency (issue #11, point 4): a limited
//! transfer takes at least the time its size and rate imply, and what it
//! writes is a repository restic accepts.

use std::path::Path;
use std::time::{Duration, Instant};

use hbk_tests::drivers::{describe, hbk, hbk_command, ok, restic, Repo};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::{restored, tempdir};

/// 1 MiB of random (incompressible) data in a few files.
fn random_tree(root: &Path) {
    let mut rng = StdRng::seed_from_u64(11);
    std::fs::create_dir_all(root).unwrap();
    for i in 0..4 {
        let mut data = vec![0u8; 256 << 10];
        rng.fill_bytes(&mut data);
        std::fs::write(root.join(format!("f{i}")), data).unwrap();
    }
}

#[test]
fn limited_upload_and_download_take_at_least_size_over_rate() {
    let dir = tempdir();
    let src = dir.path().join("src");
    random_tree(&src);
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));

    // 1 MiB at 512 KiB/s: 2 s, less the bucket's tenth of a second.
    let start = Instant::now();
    ok(hbk(
        &repo,
        &[
            "--limit-upload",
            "512",
            "backup",
            "-q",
            src.to_str().unwrap(),
        ],
    ));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "backup took {took:?}");
    ok(restic(&repo, &["check", "--read-data"]));

    let target = dir.path().join("restore");
    let start = Instant::now();
    ok(hbk(
        &repo,
        &[
            "restore",
            "latest",
            "--limit-download=512",
            "--target",
            target.to_str().unwrap(),
        ],
    ));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "restore took {took:?}");
    let back = restored(&target, &src);
    for i in 0..4 {
        let name = format!("f{i}");
        assert_eq!(
            std::fs::read(back.join(&name)).unwrap(),
            std::fs::read(src.join(&name)).unwrap()
        );
    }
}

#[test]
fn bad_limits_and_read_concurrency_are_refused_clearly() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    for flag in ["--limit-upload", "--limit-download"] {
        let out = hbk(&repo, &[flag, "fast", "snapshots"]);
        assert!(!out.status.success(), "{}", describe(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag) && err.contains("fast"), "{err}");
    }
    let src = dir.path().join("src");
    random_tree(&src);
    let out = hbk_command(&repo, &["backup", "-q", src.to_str().unwrap()])
        .env("RESTIC_READ_CONCURRENCY", "two")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("READ_CONCURRENCY"),
        "{}",
        describe(&out)
    );
    // One file at a time still makes a backup restic accepts.
    ok(hbk(
        &repo,
        &[
            "backup",
            "-q",
            "--read-concurrency",
            "1",
            src.to_str().unwrap(),
        ],
    ));
    ok(restic(&repo, &["check", "--read-data"]));
}

#[test]
fn a_limited_upload_to_a_rest_server_is_paced_too() {
    use hbk_tests::servers::{Remote, RestServer};
    let dir = tempdir();
    let src = dir.path().join("src");
    random_tree(&src);
    let rest = RestServer::start();
    let remote = Remote::new(rest.url(), rest.env());
    ok(remote.hbk(&["init"]));
    // 1 MiB at 512 KiB/s, under the retry layer: at least ~2 s.
    let start = Instant::now();
    ok(remote.hbk(&["--limit-upload=512", "backup", "-q", src.to_str().unwrap()]));
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "backup took {took:?}");
    ok(remote.restic(&["check", "--read-data"]));
}
