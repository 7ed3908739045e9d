//! Concurrent writers (issue 12, item 4): two hbk backups from two hosts
//! and a restic backup into one repository at once, with `check` run
//! while they write, on a local and an S3 (moto) repository; and `prune`
//! refused, by hbk and by restic, while a backup holds its shared lock.
//!
//! Locks, as restic 0.14 takes them: backup takes a shared lock, prune
//! and check an exclusive one, so restic's check refuses to run while a
//! backup does ("repository is already locked", exit 1). hbk's check
//! takes a shared lock (so no prune runs under it) and runs beside
//! backups: it lists snapshots before indexes and indexes before
//! packs, so whatever a running backup adds later is at most an
//! unreferenced pack (a hint, not an error). hbk's prune takes an
//! exclusive lock and refuses with exit 11 (restic 0.14: exit 1).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{describe, hbk_command, ok, restic_command, Repo};
use hbk_tests::servers::{Remote, S3Server};
use hbk_tests::sources::{write_tree, SourceFile};

use crate::{restored, tempdir};

/// A repository both tools can reach: a local directory or a remote.
enum Target {
    Local(Repo),
    Remote(Remote),
}

impl Target {
    fn hbk_command(&self, args: &[&str]) -> Command {
        match self {
            Target::Local(r) => hbk_command(r, args),
            Target::Remote(r) => r.hbk_command(args),
        }
    }

    fn restic_command(&self, args: &[&str]) -> Command {
        match self {
            Target::Local(r) => restic_command(r, args),
            Target::Remote(r) => r.restic_command(args),
        }
    }

    fn hbk(&self, args: &[&str]) -> Output {
        run(self.hbk_command(args))
    }

    fn restic(&self, args: &[&str]) -> Output {
        run(self.restic_command(args))
    }

    /// How many lock files the repository holds now.
    fn locks(&self) -> usize {
        let out = ok(self.restic(&["list", "locks", "--no-lock"]));
        String::from_utf8_lossy(&out.stdout).lines().count()
    }
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {cmd:?}: {e}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const MIB: usize = 1 << 20;

/// Three source trees: `shared/` is the same in all (same names, same
/// bytes), so the writers race to store the same blobs; each also has
/// files of its own.
fn three_trees(root: &Path) -> [PathBuf; 3] {
    let shared = [
        SourceFile {
            name: "shared/big",
            seed: 1,
            len: 6 * MIB,
        },
        SourceFile {
            name: "shared/mid",
            seed: 2,
            len: 2 * MIB,
        },
        SourceFile {
            name: "shared/small",
            seed: 3,
            len: 10_000,
        },
    ];
    let own = |seed: u64| {
        [
            SourceFile {
                name: "own/one",
                seed,
                len: 3 * MIB,
            },
            SourceFile {
                name: "own/two",
                seed: seed + 1,
                len: 1000,
            },
            // A file of a shared file's bytes under another name.
            SourceFile {
                name: "own/copy-of-mid",
                seed: 2,
                len: 2 * MIB,
            },
        ]
    };
    let mut out = Vec::new();
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let src = root.join(name);
        write_tree(&src, &shared);
        write_tree(&src, &own(100 + 10 * i as u64));
        out.push(src);
    }
    [out[0].clone(), out[1].clone(), out[2].clone()]
}

/// Waits until `child` exits, at most `limit`; panics if it does not.
fn wait_bounded(mut child: Child, what: &str, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("{what} still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The concurrent run on `t`; what happened goes to stderr, for the log.
fn concurrent_writers(t: &Target) {
    let dir = tempdir();
    let [a, b, c] = three_trees(dir.path());
    ok(t.hbk(&["init"]));
    let started = Instant::now();
    // Small packs, so each writer stores several while the others do;
    // uploads limited to 1 MiB/s, so the three overlap on any machine.
    let hbk_a = spawn(t.hbk_command(&[
        "--pack-size",
        "4",
        "--limit-upload",
        "1024",
        "backup",
        "--host",
        "a",
        a.to_str().unwrap(),
    ]));
    let hbk_b = spawn(t.hbk_command(&[
        "--pack-size",
        "4",
        "--limit-upload",
        "1024",
        "backup",
        "--host",
        "b",
        b.to_str().unwrap(),
    ]));
    let restic_c = spawn(t.restic_command(&[
        "--limit-upload",
        "1024",
        "backup",
        "-q",
        "--host",
        "c",
        c.to_str().unwrap(),
    ]));
    let mut children = [hbk_a, hbk_b, restic_c];
    // Once at least two writers hold their locks, check while they write.
    let running = |children: &mut [Child; 3]| {
        children
            .iter_mut()
            .map(|ch| ch.try_wait().unwrap().is_none())
            .filter(|&r| r)
            .count()
    };
    let mut seen_locks = 0;
    while running(&mut children) >= 2 && started.elapsed() < Duration::from_secs(120) {
        seen_locks = t.locks();
        if seen_locks >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let locks_seen_after = started.elapsed();
    // restic's check wants an exclusive lock: while all three writers
    // hold theirs from before it starts until after it ends, it must
    // refuse, saying so, with exit 1.
    let before = running(&mut children);
    let restic_check = t.restic(&["check"]);
    let after = running(&mut children);
    let restic_refused = !restic_check.status.success();
    if restic_refused {
        assert!(
            stderr(&restic_check).contains("locked"),
            "{}",
            describe(&restic_check)
        );
        assert_eq!(restic_check.status.code(), Some(1));
    } else {
        assert!(
            before < 3 || after < 3,
            "restic check ran beside three locked writers: {}",
            describe(&restic_check)
        );
    }
    // hbk's check takes a shared lock and must pass while they write.
    let hbk_check_with = running(&mut children);
    let check = t.hbk(&["check"]);
    assert!(
        check.status.success(),
        "hbk check during the backups: {}",
        describe(&check)
    );
    let [hbk_a, hbk_b, restic_c] = children;
    let limit = Duration::from_secs(300);
    for (child, what) in [
        (hbk_a, "hbk backup --host a"),
        (hbk_b, "hbk backup --host b"),
        (restic_c, "restic backup --host c"),
    ] {
        let out = wait_bounded(child, what, limit);
        assert!(out.status.success(), "{what}: {}", describe(&out));
    }
    eprintln!(
        "concurrent writers: {seen_locks} locks after {locks_seen_after:?}; restic check with \
         {before}..{after} writers running refused: {restic_refused}; hbk check started with \
         {hbk_check_with} running; all done in {:?}",
        started.elapsed()
    );

    // Every snapshot landed, the repository checks, each restores.
    let out = ok(t.restic(&["snapshots", "--json"]));
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let snaps = snaps.as_array().unwrap();
    let mut hosts: Vec<&str> = snaps
        .iter()
        .map(|s| s["hostname"].as_str().unwrap())
        .collect();
    hosts.sort();
    assert_eq!(hosts, ["a", "b", "c"], "{snaps:?}");
    ok(t.restic(&["check", "--read-data"]));
    ok(t.hbk(&["check", "--read-data"]));
    let target = dir.path().join("restore");
    for s in snaps {
        let id = s["id"].as_str().unwrap();
        let src = match s["hostname"].as_str().unwrap() {
            "a" => &a,
            "b" => &b,
            _ => &c,
        };
        let to = target.join(id);
        ok(t.hbk(&["restore", id, "--target", to.to_str().unwrap()]));
        assert_same_tree(src, &restored(&to, src), CompareOptions::plain_files());
    }
    // The blobs stored twice by racing writers are pruned without damage.
    ok(t.hbk(&["prune"]));
    ok(t.restic(&["check", "--read-data"]));
    let to = target.join("after-prune");
    ok(t.restic(&[
        "restore",
        "latest",
        "--host",
        "b",
        "--target",
        to.to_str().unwrap(),
    ]));
    assert_same_tree(&b, &restored(&to, &b), CompareOptions::plain_files());
}

#[test]
fn local_two_hbk_hosts_and_restic_write_at_once() {
    let dir = tempdir();
    concurrent_writers(&Target::Local(Repo::new(dir.path())));
}

#[test]
fn s3_two_hbk_hosts_and_restic_write_at_once() {
    let s3 = S3Server::start();
    concurrent_writers(&Target::Remote(Remote::new(s3.url(), s3.env())));
}

/// Starts a backup from stdin that holds its lock until the pipe closes,
/// and waits until its lock file is there.
fn held_backup(t: &Target, mut cmd: Command) -> Child {
    let before = t.locks();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while t.locks() <= before {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the backup ended early: {}",
            describe(&child.wait_with_output().unwrap())
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no lock after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Writes `data` to the held backup, closes its stdin and waits for it.
fn finish_held(mut child: Child, data: &[u8], what: &str) -> Output {
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    drop(stdin);
    let out = wait_bounded(child, what, Duration::from_secs(300));
    assert!(out.status.success(), "{what}: {}", describe(&out));
    out
}

/// While a backup runs (its shared lock held), hbk's prune refuses with
/// exit 11 and says why, as restic's does (exit 1); restic's check
/// refuses too (it wants an exclusive lock), hbk's runs (it takes a
/// shared lock).
#[test]
fn prune_refuses_while_a_backup_runs() {
    let dir = tempdir();
    let t = Target::Local(Repo::new(dir.path()));
    ok(t.hbk(&["init"]));
    let data = hbk_tests::sources::file_bytes(7, MIB);

    let backup = held_backup(
        &t,
        t.hbk_command(&[
            "backup",
            "--stdin",
            "--stdin-filename",
            "held.bin",
            "--host",
            "a",
        ]),
    );
    let prune = t.hbk(&["prune"]);
    assert_eq!(prune.status.code(), Some(11), "{}", describe(&prune));
    let err = stderr(&prune);
    assert!(err.contains("repository is already locked"), "{err}");
    let prune = t.restic(&["prune"]);
    assert_eq!(prune.status.code(), Some(1), "{}", describe(&prune));
    assert!(stderr(&prune).contains("locked"), "{}", describe(&prune));
    let check = t.restic(&["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    assert!(stderr(&check).contains("locked"), "{}", describe(&check));
    ok(t.hbk(&["check"]));
    finish_held(backup, &data, "hbk backup --stdin");

    // The same with restic's backup holding the lock.
    let backup = held_backup(
        &t,
        t.restic_command(&[
            "backup",
            "--stdin",
            "--stdin-filename",
            "held.bin",
            "--host",
            "c",
        ]),
    );
    let prune = t.hbk(&["prune"]);
    assert_eq!(prune.status.code(), Some(11), "{}", describe(&prune));
    assert!(stderr(&prune).contains("repository is already locked"));
    finish_held(backup, &data, "restic backup --stdin");

    // Nothing holds a lock now: prune runs, both snapshots stay whole.
    ok(t.hbk(&["prune"]));
    ok(t.restic(&["check", "--read-data"]));
    let out = ok(t.restic(&["snapshots", "--json"]));
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps.as_array().map(Vec::len), Some(2), "{snaps}");
    let out = ok(t.hbk(&["dump", "latest", "/held.bin"]));
    assert!(out.stdout == data, "dumped bytes differ");
}
