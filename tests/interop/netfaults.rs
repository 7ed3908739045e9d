//! Network faults (issue 12, item 6) on S3 and REST: a proxy that stalls
//! connections, cuts uploads and answers half-way, or answers 503 with
//! `Retry-After: 1`; and the server killed and started again in the
//! middle of a backup and of a restore. Each command must complete (or
//! fail clearly) within a bounded time, and no pack may be recorded that
//! did not arrive whole: `restic check --read-data` passes afterwards and
//! restores give the source's bytes.
//!
//! The server restarts are real where the server keeps its state: SIGKILL,
//! a pause, the same binary on the same port over the same directory
//! (`rclone serve restic`; `rclone serve s3` for S3, since moto keeps
//! objects in memory and would come back empty).
//!
//! hbk's HTTP clients (crates/hbk-backend: `rest.rs`, `s3.rs`) connect
//! within 10 s; a request that makes no progress for the stuck-request
//! timeout (5 min, `--stuck-request-timeout`) is abandoned and retried
//! (8 attempts, none started after 15 min). CI stalls connections for
//! 3 s, and holds some forever under a 2 s stuck-request timeout;
//! `HBK_RELIABILITY_LONG=1` stalls them for 60 s and runs every fault
//! three times.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{describe, ok};
use hbk_tests::faults::{FaultProxy, Mode};
use hbk_tests::servers::{Remote, S3Server};
use hbk_tests::sources::{write_tree, SourceFile};

use crate::backends::{rest_pair, s3_pair_on};
use crate::{restored, tempdir};

/// Whether the long variant runs (`HBK_RELIABILITY_LONG=1`).
fn long() -> bool {
    std::env::var("HBK_RELIABILITY_LONG").is_ok_and(|v| v == "1")
}

/// How long a stalled connection stays silent before the proxy closes it.
fn stall_time() -> Duration {
    Duration::from_secs(if long() { 60 } else { 3 })
}

/// Faults injected per command: enough to hit uploads and reads, few
/// enough that 8 attempts always get through.
const FAULTS_PER_COMMAND: u64 = 3;

/// The slowest a command under faults may be: the stalls it sat through
/// plus a margin for a loaded 2-core machine and the retry backoff.
fn bound() -> Duration {
    stall_time() * FAULTS_PER_COMMAND as u32 + Duration::from_secs(180)
}

const MIB: usize = 1 << 20;

/// A source tree of its own bytes for round `seed`: about 9 MiB, so a
/// backup with 4 MiB packs uploads several.
fn source(root: &Path, seed: u64) -> PathBuf {
    let src = root.join(format!("src-{seed}"));
    write_tree(
        &src,
        &[
            SourceFile {
                name: "big",
                seed: seed * 10,
                len: 5 * MIB,
            },
            SourceFile {
                name: "dir/mid",
                seed: seed * 10 + 1,
                len: 3 * MIB,
            },
            SourceFile {
                name: "dir/small",
                seed: seed * 10 + 2,
                len: 5000,
            },
            SourceFile {
                name: "dir/sub/tiny",
                seed: seed * 10 + 3,
                len: 10,
            },
        ],
    );
    src
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `args` through the proxy under `mode` with a fresh fault budget;
/// returns the output, the time it took and the faults injected.
fn under(
    proxy: &FaultProxy,
    through: &Remote,
    mode: Mode,
    args: &[&str],
) -> (Output, Duration, u64) {
    let before = proxy.injected();
    proxy.limit_faults(FAULTS_PER_COMMAND);
    proxy.set_mode(mode);
    let started = Instant::now();
    let out = through.hbk(args);
    let took = started.elapsed();
    proxy.set_mode(Mode::Pass);
    (out, took, proxy.injected() - before)
}

/// `mode` hitting every request until the command's fault budget is
/// spent: a restore makes few requests (metadata comes from the cache),
/// and at a 30 % chance each, some restores would meet no fault at all.
fn certain(mode: Mode) -> Mode {
    match mode {
        Mode::Stall(_, d) => Mode::Stall(1.0, d),
        Mode::Truncate(_) => Mode::Truncate(1.0),
        Mode::Unavailable(_) => Mode::Unavailable(1.0),
        other => other,
    }
}

/// Every proxy fault during a backup and during a restore; then both
/// tools check the repository directly.
fn proxy_faults(label: &str, proxy: &FaultProxy, direct: &Remote, through: &Remote) {
    let dir = tempdir();
    ok(direct.hbk(&["init"]));
    let modes = [
        ("stall", Mode::Stall(0.3, stall_time())),
        ("truncate", Mode::Truncate(0.3)),
        ("503", Mode::Unavailable(0.3)),
    ];
    let rounds = rounds() as usize;
    let mut backups = Vec::new();
    for round in 0..rounds {
        for (i, (name, mode)) in modes.iter().enumerate() {
            let seed = 1 + (round * modes.len() + i) as u64;
            let src = source(dir.path(), seed);
            let (out, took, injected) = under(
                proxy,
                through,
                *mode,
                &[
                    "-v",
                    "--pack-size",
                    "4",
                    "backup",
                    "--json",
                    src.to_str().unwrap(),
                ],
            );
            eprintln!(
                "{label} backup under {name}: {injected} faults, {took:?}, exit {:?}",
                out.status.code()
            );
            assert!(
                out.status.success(),
                "backup under {name}: {}",
                describe(&out)
            );
            assert!(injected > 0, "backup under {name}: no fault injected");
            assert!(stderr(&out).contains("retrying"), "{}", describe(&out));
            assert!(took < bound(), "backup under {name} took {took:?}");
            let summary = hbk_tests::drivers::json_summary(&out);
            let id = summary["snapshot_id"].as_str().unwrap().to_string();
            backups.push((name, *mode, id, src));
        }
    }
    for (name, mode, id, src) in &backups {
        let to = dir.path().join(format!("restore-{id}"));
        let (out, took, injected) = under(
            proxy,
            through,
            certain(*mode),
            &["-v", "restore", id, "--target", to.to_str().unwrap()],
        );
        eprintln!(
            "{label} restore under {name}: {injected} faults, {took:?}, exit {:?}",
            out.status.code()
        );
        assert!(
            out.status.success(),
            "restore under {name}: {}",
            describe(&out)
        );
        assert!(injected > 0, "restore under {name}: no fault injected");
        assert!(took < bound(), "restore under {name} took {took:?}");
        assert_same_tree(src, &restored(&to, src), CompareOptions::plain_files());
    }
    ok(direct.restic(&["check", "--read-data"]));
    ok(direct.hbk(&["check", "--read-data"]));
}

#[test]
fn s3_proxy_faults_stall_truncate_503() {
    let (_s3, proxy, direct, through) = s3_pair_on(S3Server::start());
    proxy_faults("s3", &proxy, &direct, &through);
}

#[test]
fn rest_proxy_faults_stall_truncate_503() {
    let (_rest, proxy, direct, through) = rest_pair();
    proxy_faults("rest", &proxy, &direct, &through);
}

/// Requests that never get an answer: the proxy holds a third of them
/// silent for an hour. With `--stuck-request-timeout 2s` each such
/// request is abandoned after 2 s and retried, so a backup completes
/// well within its bound; with every request held and 3 attempts, a
/// command fails clearly ("giving up after 3 attempts") in seconds
/// instead of hanging.
fn stuck_requests(label: &str, proxy: &FaultProxy, direct: &Remote, through: &Remote) {
    let dir = tempdir();
    ok(direct.hbk(&["init"]));
    let forever = Duration::from_secs(3600);
    let src = source(dir.path(), 300);
    let (out, took, injected) = under(
        proxy,
        through,
        Mode::Stall(0.3, forever),
        &[
            "-v",
            "--stuck-request-timeout",
            "2s",
            "--pack-size",
            "4",
            "backup",
            src.to_str().unwrap(),
        ],
    );
    eprintln!("{label} backup with stuck requests: {injected} held, {took:?}");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(injected > 0, "no request held");
    assert!(stderr(&out).contains("retrying"), "{}", describe(&out));
    assert!(
        took < Duration::from_secs(2 * FAULTS_PER_COMMAND + 120),
        "took {took:?}"
    );

    proxy.limit_faults(1000);
    proxy.set_mode(Mode::Stall(1.0, forever));
    let started = Instant::now();
    let out = through.hbk(&[
        "--stuck-request-timeout",
        "1s",
        "-o",
        "retry.max-attempts=3",
        "snapshots",
    ]);
    let took = started.elapsed();
    proxy.set_mode(Mode::Pass);
    eprintln!("{label} snapshots with every request held: {took:?}");
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains("giving up after 3 attempts"),
        "{}",
        describe(&out)
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
    ok(direct.restic(&["check", "--read-data"]));
}

#[test]
fn rest_stuck_requests_end_at_the_stuck_request_timeout() {
    let (_rest, proxy, direct, through) = rest_pair();
    stuck_requests("rest", &proxy, &direct, &through);
}

#[test]
fn s3_stuck_requests_end_at_the_stuck_request_timeout() {
    let (_s3, proxy, direct, through) = s3_pair_on(S3Server::start());
    stuck_requests("s3", &proxy, &direct, &through);
}

/// Runs `args` through the proxy and, as soon as `due` says so, kills the
/// server and starts it again after 2 s; returns the output, how long the
/// command took and whether the restart happened while it ran.
fn with_restart(
    through: &Remote,
    args: &[&str],
    due: &dyn Fn() -> bool,
    restart: Restart,
) -> (Output, Duration, bool) {
    let started = Instant::now();
    let mut child = through
        .hbk_command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Output is read after the exit: -v output of these runs is small.
    let mut restarted = false;
    while child.try_wait().unwrap().is_none() {
        if !restarted && due() {
            let down = restart(Duration::from_secs(2));
            eprintln!("server down for {down:?}");
            restarted = true;
        }
        assert!(started.elapsed() < bound(), "{args:?} still running");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    (out, started.elapsed(), restarted)
}

/// A restart (or outage) of the server: given how long to stay down,
/// returns how long it was gone.
type Restart<'a> = &'a mut dyn FnMut(Duration) -> Duration;

/// A backup through the proxy with the server killed (SIGKILL) and
/// restarted after its first pack upload: the backup retries through the
/// outage and completes, and restic reads every pack whole. Returns the
/// source and the snapshot id.
fn restart_mid_backup(
    label: &str,
    proxy: &FaultProxy,
    direct: &Remote,
    through: &Remote,
    root: &Path,
    seed: u64,
    restart: Restart,
) -> (PathBuf, String) {
    let src = source(root, seed);
    let uploads = proxy.uploads();
    let (out, took, restarted) = with_restart(
        through,
        &[
            "-v",
            "--pack-size",
            "4",
            "backup",
            "--json",
            src.to_str().unwrap(),
        ],
        &|| proxy.uploads() > uploads,
        restart,
    );
    eprintln!(
        "{label} backup with a restart: {took:?}, exit {:?}",
        out.status.code()
    );
    assert!(restarted, "the backup ended before the first upload");
    assert!(out.status.success(), "backup: {}", describe(&out));
    assert!(stderr(&out).contains("retrying"), "{}", describe(&out));
    ok(direct.restic(&["check", "--read-data"]));
    let summary = hbk_tests::drivers::json_summary(&out);
    let id = summary["snapshot_id"].as_str().unwrap().to_string();
    (src, id)
}

/// A restore through the proxy with the server gone (`restart`) once
/// the first pack read went out: it retries through and gives the
/// source's bytes.
fn restart_mid_restore(
    label: &str,
    proxy: &FaultProxy,
    through: &Remote,
    (src, id): (&Path, &str),
    to: &Path,
    restart: Restart,
) {
    proxy.clear_request_lines();
    let data_read = || {
        proxy
            .request_lines()
            .iter()
            .any(|l| l.starts_with("GET ") && l.contains("/data/"))
    };
    let (out, took, restarted) = with_restart(
        through,
        &["-v", "restore", id, "--target", to.to_str().unwrap()],
        &data_read,
        restart,
    );
    eprintln!(
        "{label} restore with a restart: {took:?}, exit {:?}",
        out.status.code()
    );
    assert!(restarted, "the restore ended before reading data");
    assert!(out.status.success(), "restore: {}", describe(&out));
    assert_same_tree(src, &restored(to, src), CompareOptions::plain_files());
}

fn rounds() -> u64 {
    if long() {
        3
    } else {
        1
    }
}

/// S3: `rclone serve s3` over a directory (moto keeps objects in memory
/// and would come back empty), killed and restarted mid-backup and
/// mid-restore; restic verifies and restores what hbk wrote. rclone
/// answers ranged GETs with `200`, which hbk reads by fetching the whole
/// object.
#[test]
fn s3_server_restarted_mid_backup_and_restore() {
    let dir = tempdir();
    let (mut s3, proxy, direct, through) = s3_pair_on(S3Server::start_on_disk());
    ok(direct.hbk(&["init"]));
    for round in 0..rounds() {
        let (src, id) = restart_mid_backup(
            "s3 (rclone serve s3)",
            &proxy,
            &direct,
            &through,
            dir.path(),
            100 + round,
            &mut |d| s3.restart(d),
        );
        let to = dir.path().join(format!("restic-restore-{round}"));
        ok(direct.restic(&["restore", &id, "--target", to.to_str().unwrap()]));
        assert_same_tree(&src, &restored(&to, &src), CompareOptions::plain_files());
        let to = dir.path().join(format!("restore-{round}"));
        restart_mid_restore(
            "s3 (rclone serve s3)",
            &proxy,
            &through,
            (&src, &id),
            &to,
            &mut |d| s3.restart(d),
        );
    }
    ok(direct.hbk(&["check", "--read-data"]));
    ok(direct.restic(&["check", "--read-data"]));
}

/// REST: `rclone serve restic` killed and restarted mid-backup and
/// mid-restore.
#[test]
fn rest_server_restarted_mid_backup_and_restore() {
    let dir = tempdir();
    let (mut rest, proxy, direct, through) = rest_pair();
    ok(direct.hbk(&["init"]));
    for round in 0..rounds() {
        let (src, id) = restart_mid_backup(
            "rest",
            &proxy,
            &direct,
            &through,
            dir.path(),
            100 + round,
            &mut |d| rest.restart(d),
        );
        let to = dir.path().join(format!("restore-{round}"));
        restart_mid_restore("rest", &proxy, &through, (&src, &id), &to, &mut |d| {
            rest.restart(d)
        });
    }
    ok(direct.hbk(&["check", "--read-data"]));
    ok(direct.restic(&["check", "--read-data"]));
}
