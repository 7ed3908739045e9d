//! `kill -9` in the middle of a backup leaves a repository restic accepts,
//! and the next backup completes, reusing what was already stored.

use std::time::Duration;

use hbk_tests::drivers::{describe, hbk, hbk_command, json_summary, ok, packs, restic, Repo};

use crate::{edge_tree, tempdir};

#[test]
fn backup_survives_kill_9_at_ten_points() {
    let (src, _) = edge_tree();
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let arg = src.to_str().unwrap();
    // Spread the kills over the time a whole backup takes on this machine,
    // measured on a scratch repository.
    let scratch_dir = tempdir();
    let scratch = Repo::new(scratch_dir.path());
    ok(hbk(&scratch, &["init"]));
    let started = std::time::Instant::now();
    ok(hbk(&scratch, &["--pack-size", "4", "-q", "backup", arg]));
    let full = started.elapsed();
    // Kill points: three early ones by time (during start-up and the first
    // reads), then after one or two new packs have been stored, so kills
    // land between pack uploads, index writes and tree saving.
    let mut killed = 0u32;
    for i in 0..30u32 {
        if killed >= 10 {
            break;
        }
        let before = packs(&repo).len();
        let started = std::time::Instant::now();
        let mut child = hbk_command(&repo, &["--pack-size", "4", "-q", "backup", "--force", arg])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let due = |elapsed: Duration| match killed {
            0..=2 => elapsed >= full.mul_f64(0.03 * f64::from(killed + 1)),
            n => packs(&repo).len() >= before + 1 + (n % 2) as usize,
        };
        let mut finished = false;
        loop {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            if due(started.elapsed()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if !finished {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            killed += 1;
        }
        child.wait().unwrap();
        // The killed process's lock is stale (same host, dead pid); restic
        // 0.14 wants it removed before its exclusive check.
        ok(restic(&repo, &["unlock"]));
        let check = restic(&repo, &["check"]);
        assert!(
            check.status.success(),
            "after kill {i}: {}",
            describe(&check)
        );
    }
    assert!(killed >= 10, "only {killed} backups were killed mid-way");
    let out = ok(hbk(&repo, &["--pack-size", "4", "backup", "--json", arg]));
    let s = json_summary(&out);
    let blobs = ok(restic(&repo, &["list", "blobs"]));
    let total_data = String::from_utf8_lossy(&blobs.stdout)
        .lines()
        .filter(|l| l.starts_with("data "))
        .count() as u64;
    let added = s["data_blobs"].as_u64().unwrap();
    assert!(
        added < total_data,
        "nothing reused: added {added} of {total_data} data blobs"
    );
    ok(restic(&repo, &["check", "--read-data"]));
}
