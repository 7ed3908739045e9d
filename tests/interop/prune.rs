//! `prune` and `forget --prune` against the real restic: what stays
//! restores identically, the repository shrinks, `kill -9` at any point
//! leaves a repository restic accepts, and the two tools respect each
//! other's locks.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};

use hbk_tests::copy_dir;
use std::time::{Duration, Instant};

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{
    describe, hbk, hbk_command, ok, packs, restic, restic_command, snapshot_ids, Repo,
};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::tempdir;

/// Writes `n` files of `size` random bytes named `{prefix}{i}` into `dir`.
fn random_files(dir: &Path, prefix: &str, n: usize, size: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; size];
    for i in 0..n {
        rng.fill_bytes(&mut buf);
        std::fs::write(dir.join(format!("{prefix}{i:02}")), &buf).unwrap();
    }
}

/// A repository with three snapshots of one directory whose files change
/// between them; returns the source directory. Backups alternate between
/// hbk and restic so both tools' packs are pruned.
fn three_generations(dir: &Path, repo: &Repo) -> std::path::PathBuf {
    let src = dir.join("src");
    ok(hbk(repo, &["init"]));
    random_files(&src, "keep", 6, 1 << 20, 1);
    random_files(&src, "gen", 10, 1 << 20, 2);
    let arg = src.to_str().unwrap();
    ok(hbk(repo, &["--pack-size", "4", "-q", "backup", arg]));
    random_files(&src, "gen", 10, 1 << 20, 3);
    ok(restic(repo, &["-q", "backup", arg]));
    random_files(&src, "gen", 5, 1 << 20, 4);
    ok(hbk(repo, &["--pack-size", "4", "-q", "backup", arg]));
    src
}

fn data_size(repo: &Repo) -> u64 {
    packs(repo).iter().map(|p| p.1).sum()
}

fn restore_with(
    tool: fn(&Repo, &[&str]) -> std::process::Output,
    repo: &Repo,
    id: &str,
    target: &Path,
) {
    ok(tool(
        repo,
        &["restore", id, "--target", target.to_str().unwrap()],
    ));
}

#[test]
fn forget_prune_shrinks_and_kept_snapshots_restore_identically() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    three_generations(dir.path(), &repo);
    let ids = snapshot_ids(&repo);
    let kept = &ids[1..];
    for (i, id) in kept.iter().enumerate() {
        restore_with(restic, &repo, id, &dir.path().join(format!("before{i}")));
    }
    let before = data_size(&repo);

    let out = ok(hbk(
        &repo,
        &["forget", "--keep-last", "2", "--prune", "--max-unused", "0"],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("running prune"), "{text}");

    let after = data_size(&repo);
    assert!(
        after < before,
        "repository did not shrink: {before} -> {after} bytes"
    );
    assert_eq!(snapshot_ids(&repo), kept);
    ok(restic(&repo, &["check", "--read-data"]));
    for (i, id) in kept.iter().enumerate() {
        let reference = dir.path().join(format!("before{i}"));
        for (name, tool) in [("restic", restic as fn(&Repo, &[&str]) -> _), ("hbk", hbk)] {
            let target = dir.path().join(format!("{name}{i}"));
            restore_with(tool, &repo, id, &target);
            assert_same_tree(&reference, &target, CompareOptions::all());
        }
    }
    // Nothing left to do: another prune changes nothing.
    let packs_before = packs(&repo);
    ok(hbk(&repo, &["prune", "--max-unused", "0"]));
    assert_eq!(packs(&repo), packs_before);
}

/// Counts of the repository's files of one kind (`data` counts packs).
fn count(repo: &Repo, kind: &str) -> usize {
    if kind == "data" {
        return packs(repo).len();
    }
    std::fs::read_dir(repo.path.join(kind))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn names(repo: &Repo, kind: &str) -> Vec<String> {
    let mut v: Vec<String> = if kind == "data" {
        packs(repo)
            .iter()
            .map(|p| p.0.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    } else {
        std::fs::read_dir(repo.path.join(kind))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    v.sort();
    v
}

#[test]
fn prune_survives_kill_9_at_every_stage() {
    let dir = tempdir();
    let template = Repo::new(dir.path());
    three_generations(dir.path(), &template);
    let ids = snapshot_ids(&template);
    ok(hbk(&template, &["forget", &ids[0], &ids[1]]));
    let original_index = names(&template, "index");
    let original_packs = names(&template, "data");

    // How long a whole prune takes here, on a copy.
    let scratch = dir.path().join("scratch");
    copy_dir(&template.path, &scratch);
    let scratch = Repo {
        path: scratch,
        password_file: template.password_file.clone(),
    };
    let started = Instant::now();
    ok(hbk(&scratch, &["prune", "--max-unused", "0"]));
    let full = started.elapsed();

    // Kill points: three by time, then on events that mark each stage:
    // a new pack written (repacking), a new index file (index rewrite),
    // an original index file gone, an original pack gone.
    type Due = Box<dyn Fn(&Repo, Duration) -> bool>;
    let stage = |f: fn(&Repo, &[String], &[String]) -> bool| -> Due {
        let (idx, pk) = (original_index.clone(), original_packs.clone());
        Box::new(move |r: &Repo, _| f(r, &idx, &pk))
    };
    let mut points: Vec<(&str, Due)> = Vec::new();
    for frac in [0.3, 0.5, 0.7] {
        points.push(("time", Box::new(move |_, e| e >= full.mul_f64(frac))));
    }
    points.push((
        "new pack",
        stage(|r, _, pk| names(r, "data").iter().any(|p| !pk.contains(p))),
    ));
    points.push((
        "new index",
        stage(|r, idx, _| names(r, "index").iter().any(|i| !idx.contains(i))),
    ));
    points.push((
        "old index gone",
        stage(|r, idx, _| names(r, "index").iter().filter(|i| idx.contains(i)).count() < idx.len()),
    ));
    points.push((
        "old pack gone",
        stage(|r, _, pk| names(r, "data").iter().filter(|p| pk.contains(p)).count() < pk.len()),
    ));

    let mut killed = Vec::new();
    for (n, (what, due)) in points.iter().enumerate() {
        let path = dir.path().join(format!("kill{n}"));
        copy_dir(&template.path, &path);
        let repo = Repo {
            path,
            password_file: template.password_file.clone(),
        };
        let mut child = hbk_command(&repo, &["prune", "--max-unused", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let finished = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            if due(&repo, started.elapsed()) {
                break false;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        if !finished {
            kill9(&child);
            killed.push(*what);
        }
        child.wait().unwrap();
        ok(restic(&repo, &["unlock"]));
        let check = restic(&repo, &["check", "--read-data"]);
        assert!(
            check.status.success(),
            "after kill at {what:?}: {}",
            describe(&check)
        );
        // A rerun finishes the job; restic still agrees.
        ok(hbk(&repo, &["prune", "--max-unused", "0"]));
        ok(restic(&repo, &["check"]));
        assert!(
            count(&repo, "data") < original_packs.len(),
            "after {what:?}: nothing pruned"
        );
    }
    assert!(
        killed.len() >= 5,
        "only {} prunes were killed mid-way: {killed:?}",
        killed.len()
    );
}

fn kill9(child: &Child) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// Waits until the repository holds a lock file.
fn wait_for_lock(repo: &Repo) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(repo, "locks") == 0 {
        assert!(Instant::now() < deadline, "no lock appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Feeds a few bytes to a `backup --stdin` that waits for them, closes its
/// input and checks that it succeeded.
fn finish_stdin_backup(mut child: Child) {
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"streamed while the other tool waited\n")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn prune_and_backup_respect_each_others_locks() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));

    // restic backs up from a pipe that stays open: it holds its lock.
    let child = restic_command(&repo, &["backup", "--stdin", "--stdin-filename", "stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lock(&repo);
    let out = hbk(&repo, &["prune"]);
    assert_eq!(out.status.code(), Some(11), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lock"),
        "{}",
        describe(&out)
    );
    finish_stdin_backup(child);

    // And the other way round.
    let child = hbk_command(&repo, &["backup", "--stdin", "--stdin-filename", "stream2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lock(&repo);
    let out = restic(&repo, &["prune"]);
    assert!(!out.status.success(), "restic pruned under hbk's lock");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lock"),
        "{}",
        describe(&out)
    );
    finish_stdin_backup(child);
    ok(hbk(&repo, &["prune"]));
    ok(restic(&repo, &["check", "--read-data"]));
}

/// restic 0.19's `prune --repack-smaller-than`: the small packs of many
/// small backups become fewer; `--repack-cacheable-only` rewrites no
/// data pack. restic accepts the result and restores the newest snapshot.
#[test]
fn prune_repacks_small_packs_and_cacheable_only() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    let src = dir.path().join("src");
    ok(hbk(&repo, &["init"]));
    for seed in 0..6 {
        random_files(&src, &format!("s{seed}-"), 2, 20_000, 100 + seed);
        ok(hbk(&repo, &["-q", "backup", src.to_str().unwrap()]));
    }
    let before = count(&repo, "data");
    assert!(before >= 12, "{before} packs");
    let refused = hbk(&repo, &["prune", "--repack-smaller-than", "1G"]);
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));

    // Only tree packs may be rewritten: every data pack stays.
    let data_packs = |repo: &Repo| -> Vec<String> {
        let password = std::fs::read_to_string(&repo.password_file).unwrap();
        let backend = std::sync::Arc::new(hbk_backend::LocalBackend::new(&repo.path));
        let opened = hbk_repo::Repository::open(backend, password.trim_end().as_bytes()).unwrap();
        let mut v: Vec<String> = opened
            .index_files()
            .unwrap()
            .into_iter()
            .flat_map(|(_, f)| f.packs)
            .filter(|p| {
                p.blobs
                    .iter()
                    .any(|b| b.blob_type == hbk_repo::BlobType::Data)
            })
            .map(|p| p.id.to_hex())
            .collect();
        v.sort();
        v
    };
    let data_before = data_packs(&repo);
    ok(hbk(
        &repo,
        &[
            "prune",
            "--repack-cacheable-only",
            "--repack-smaller-than",
            "1M",
        ],
    ));
    assert_eq!(data_packs(&repo), data_before);

    ok(hbk(&repo, &["prune", "--repack-smaller-than", "1M"]));
    let after = count(&repo, "data");
    assert!(after <= 2, "{before} → {after} packs");
    ok(restic(&repo, &["check", "--read-data"]));
    let target = dir.path().join("restored");
    restore_with(restic, &repo, "latest", &target);
    let back = crate::restored(&target, &src);
    assert_same_tree(&src, &back, CompareOptions::plain_files());
}

/// `prune --unsafe-recover-no-free-space ID` (restic 0.15+): refused
/// without the repository's id; with it, frees space without writing a
/// pack, and restic checks and restores the result.
#[test]
fn prune_unsafe_recovery_frees_space_without_writing_packs() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    let src = three_generations(dir.path(), &repo);
    ok(hbk(&repo, &["forget", "--keep-last", "1"]));
    let wrong = hbk(&repo, &["prune", "--unsafe-recover-no-free-space", "0123"]);
    assert_eq!(wrong.status.code(), Some(1), "{}", describe(&wrong));
    assert!(
        describe(&wrong).contains("must pass id"),
        "{}",
        describe(&wrong)
    );
    let config: serde_json::Value =
        serde_json::from_slice(&ok(hbk(&repo, &["cat", "config"])).stdout).unwrap();
    let id = config["id"].as_str().unwrap();
    let before = names(&repo, "data");
    let size_before = data_size(&repo);
    let out = ok(hbk(
        &repo,
        &["--json", "prune", "--unsafe-recover-no-free-space", id],
    ));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(report["packs_written"], 0, "{report}");
    let after = names(&repo, "data");
    assert!(
        after.iter().all(|p| before.contains(p)),
        "a pack was written"
    );
    assert!(data_size(&repo) < size_before);
    ok(restic(&repo, &["check", "--read-data"]));
    let target = dir.path().join("restored");
    restore_with(restic, &repo, "latest", &target);
    assert_same_tree(
        &src,
        &crate::restored(&target, &src),
        CompareOptions::plain_files(),
    );
}
