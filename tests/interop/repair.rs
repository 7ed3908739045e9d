//! `repair packs` (restic 0.16+) on a repository restic wrote, with one
//! blob of a pack damaged: every readable blob is kept, the lost one is
//! reported by the file that used it, and after `repair snapshots
//! --forget` restic accepts the repository and restores every other file
//! bit for bit.

use std::sync::Arc;

use hbk_repo::{BlobType, Id, Repository};
use hbk_tests::compare::{compare_trees, CompareOptions};
use hbk_tests::damage::{flip_blob_of, locate, pack_file};
use hbk_tests::drivers::{describe, hbk, hbk_command, ok, restic, Repo};

use crate::{restored, tempdir};

/// restic reads every byte of `repo` back, and restores its latest
/// snapshot into `target` with the content of `src`.
fn restic_checks_and_restores(repo: &Repo, src: &std::path::Path, target: &std::path::Path) {
    ok(restic(repo, &["check", "--read-data"]));
    ok(restic(
        repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    let differs = compare_trees(src, &restored(target, src), CompareOptions::plain_files());
    assert!(differs.is_empty(), "{differs:?}");
}

/// `dir/src/sub/f00` … `f19`, file `i` holding `fill` repeated `i *
/// step` times (each its own blob); returns `dir/src`.
fn twenty_files(dir: &std::path::Path, fill: &str, step: usize) -> std::path::PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..20 {
        let body = format!("file {i}: {}\n", fill.repeat(i * step));
        std::fs::write(src.join("sub").join(format!("f{i:02}")), body).unwrap();
    }
    src
}

/// A pack holding tree blobs.
fn tree_pack(repo: &Repo) -> Id {
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let backend = Arc::new(hbk_backend::LocalBackend::new(&repo.path));
    let opened = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    let files = opened.index_files().unwrap();
    let mut packs = files.into_iter().flat_map(|(_, f)| f.packs);
    packs
        .find(|p| p.blobs.iter().any(|b| b.blob_type == BlobType::Tree))
        .expect("a tree pack")
        .id
}

#[test]
fn repair_packs_keeps_readable_blobs_and_names_lost_files() {
    let dir = tempdir();
    let src = twenty_files(dir.path(), "x", 100);
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init", "--repository-version", "2"]));
    ok(restic(&repo, &["backup", src.to_str().unwrap()]));

    // Damage the middle of the blob of sub/f07.
    let (file, bytes) = flip_blob_of(&repo, &src.join("sub/f07"));
    let hex = file.file_name().unwrap().to_str().unwrap().to_string();
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
    // Removing the file changed both directories' mtimes: compare bytes.
    let bytes_only = CompareOptions {
        mtimes: false,
        ..CompareOptions::plain_files()
    };
    let differs = compare_trees(&src, &back, bytes_only);
    assert!(differs.is_empty(), "{differs:?}");
}

/// `migrate upgrade_repo_v2` on a version 1 repository restic wrote:
/// restic reads it as version 2 afterwards, accepts it after hbk adds
/// compressed data, and restores from it; a second run is refused as
/// restic refuses it.
#[test]
fn migrate_upgrades_restics_v1_repository() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), "compressible ".repeat(10_000)).unwrap();
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init", "--repository-version", "1"]));
    ok(restic(&repo, &["backup", src.to_str().unwrap()]));

    let listed = describe(&ok(hbk(&repo, &["migrate"])));
    assert!(listed.contains("upgrade_repo_v2"), "{listed}");
    let out = describe(&ok(hbk(&repo, &["migrate", "upgrade_repo_v2"])));
    assert!(out.contains("migration upgrade_repo_v2: success"), "{out}");
    let config: serde_json::Value =
        serde_json::from_slice(&ok(restic(&repo, &["cat", "config"])).stdout).unwrap();
    assert_eq!(config["version"], 2, "{config}");

    std::fs::write(src.join("b"), "more compressible text ".repeat(10_000)).unwrap();
    let out = ok(hbk(&repo, &["backup", "--json", src.to_str().unwrap()]));
    let summary = hbk_tests::drivers::json_summary(&out);
    let (added, packed) = (
        summary["data_added"].as_u64().unwrap(),
        summary["data_added_packed"].as_u64().unwrap(),
    );
    assert!(packed * 10 < added, "not compressed: {added} → {packed}");
    restic_checks_and_restores(&repo, &src, &dir.path().join("restored"));

    let listed = describe(&ok(hbk(&repo, &["migrate"])));
    assert!(listed.contains("no migrations found"), "{listed}");
    let again = describe(&ok(hbk(&repo, &["migrate", "upgrade_repo_v2"])));
    assert!(
        again.contains("cannot be applied: repository is already upgraded to version 2"),
        "{again}"
    );
    let forced = hbk(&repo, &["migrate", "--force", "upgrade_repo_v2"]);
    assert_eq!(forced.status.code(), Some(1), "{}", describe(&forced));
}

/// `recover` after a snapshot file of restic's was deleted: the new
/// snapshot (`/recover`, tagged `recovered`) holds the lost tree under
/// its short id, restic accepts the repository and restores the lost
/// files from it.
#[test]
fn recover_finds_the_tree_of_a_deleted_snapshot() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/lost"), "only in the lost snapshot").unwrap();
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init"]));
    ok(restic(&repo, &["backup", src.to_str().unwrap()]));
    let out = describe(&ok(hbk(&repo, &["recover"])));
    assert!(
        out.contains("found 0 unreferenced roots") && out.contains("no snapshot to write"),
        "{out}"
    );

    let snapshots = repo.path.join("snapshots");
    for e in std::fs::read_dir(&snapshots).unwrap().flatten() {
        std::fs::remove_file(e.path()).unwrap();
    }
    let out = describe(&ok(hbk(&repo, &["recover"])));
    assert!(
        out.contains("found 1 unreferenced roots") && out.contains("saved new snapshot"),
        "{out}"
    );
    ok(restic(&repo, &["check", "--read-data"]));
    let listed: serde_json::Value =
        serde_json::from_slice(&ok(restic(&repo, &["snapshots", "--json"])).stdout).unwrap();
    assert_eq!(
        listed[0]["paths"],
        serde_json::json!(["/recover"]),
        "{listed}"
    );
    assert_eq!(
        listed[0]["tags"],
        serde_json::json!(["recovered"]),
        "{listed}"
    );

    let target = dir.path().join("restored");
    ok(restic(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    let roots: Vec<_> = std::fs::read_dir(&target).unwrap().flatten().collect();
    assert_eq!(roots.len(), 1);
    let back = restored(&roots[0].path(), &src);
    let differs = compare_trees(&src, &back, CompareOptions::plain_files());
    assert!(differs.is_empty(), "{differs:?}");
}

/// `check --json` (restic 0.19): one `summary` message on stdout with
/// the damaged packs to salvage, `error` messages on stderr; snapshot
/// arguments and filters limit the trees checked.
#[test]
fn check_json_names_broken_packs_and_filters_snapshots() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "checked ".repeat(1000)).unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(
        &repo,
        &["backup", "--host", "a", src.to_str().unwrap()],
    ));
    let summary = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
    };
    let clean = summary(&ok(hbk(&repo, &["--json", "check"])));
    assert_eq!(
        clean,
        serde_json::json!({"message_type": "summary", "num_errors": 0, "broken_packs": null,
            "suggest_repair_index": false, "suggest_prune": false})
    );

    // A snapshot whose tree does not exist fails the whole check, not one
    // limited to host a.
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let backend = Arc::new(hbk_backend::LocalBackend::new(&repo.path));
    let opened = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    let bogus = format!(
        r#"{{"time":"2024-01-01T00:00:00Z","tree":"{}","paths":["/x"],"hostname":"b","username":"u"}}"#,
        "ab".repeat(32)
    );
    opened
        .save_unpacked(hbk_repo::FileType::Snapshot, bogus.as_bytes())
        .unwrap();
    let failed = hbk(&repo, &["check"]);
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    ok(hbk(&repo, &["check", "--host", "a"]));

    // A damaged data pack: named in broken_packs, and the text says how
    // to salvage it.
    let victim = std::fs::read(src.join("f")).unwrap();
    let (pack, offset) = locate(&repo, &Id::hash(&victim));
    let hex = pack.to_hex();
    let file = repo.path.join("data").join(&hex[..2]).join(&hex);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[offset as usize + 10] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let out = hbk(&repo, &["--json", "check", "--read-data", "--host", "a"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let s = summary(&out);
    assert_eq!(s["broken_packs"], serde_json::json!([hex]), "{s}");
    assert!(s["num_errors"].as_u64().unwrap() >= 1, "{s}");
    let err = String::from_utf8_lossy(&out.stderr);
    for line in err.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["message_type"] == "error" || v["message_type"] == "exit_error",
            "{line}"
        );
    }
    let text = describe(&hbk(&repo, &["check", "--read-data", "--host", "a"]));
    assert!(text.contains(&format!("hbk repair packs {hex}")), "{text}");
}

/// Healing from a copy (issue 14): a data pack of the copy is damaged
/// and its tree pack deleted; `repair packs --from-repo` with no pack named
/// reads every pack, finds both, takes their blobs from the original and
/// stores them again with the copy's key. restic then checks the copy
/// clean and restores it bit for bit. A blob no repository holds any
/// more is reported by the file that used it.
#[test]
fn repair_packs_heals_from_another_repository() {
    let dir = tempdir();
    let src = twenty_files(dir.path(), "y", 300);
    std::fs::create_dir_all(dir.path().join("orig")).unwrap();
    std::fs::create_dir_all(dir.path().join("copy")).unwrap();
    let orig = Repo::new(&dir.path().join("orig"));
    let copy = Repo::new(&dir.path().join("copy"));
    ok(restic(&orig, &["init", "--repository-version", "2"]));
    ok(restic(&orig, &["backup", src.to_str().unwrap()]));
    ok(hbk(&copy, &["init"]));
    let from = [
        "--from-repo",
        orig.path.to_str().unwrap(),
        "--from-password-file",
        orig.password_file.to_str().unwrap(),
    ];
    let mut args = vec!["copy"];
    args.extend(from);
    ok(hbk(&copy, &args));

    // One flipped byte in the blob of sub/f07, and the pack of the trees
    // gone.
    flip_blob_of(&copy, &src.join("sub/f07"));
    std::fs::remove_file(pack_file(&copy, &tree_pack(&copy))).unwrap();
    assert_ne!(hbk(&copy, &["check", "--read-data"]).status.code(), Some(0));

    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut args = vec!["repair", "packs"];
    args.extend(from);
    let mut cmd = hbk_command(&copy, &args);
    cmd.current_dir(&cwd);
    let out = ok(cmd.output().unwrap());
    let text = describe(&out);
    assert!(text.contains("healed blob"), "{text}");
    assert!(
        text.contains("of them from the source repository"),
        "{text}"
    );
    assert!(!text.contains("could not be salvaged"), "{text}");
    restic_checks_and_restores(&copy, &src, &dir.path().join("restored"));

    // The same blob damaged in both: named by its file.
    for repo in [&orig, &copy] {
        flip_blob_of(repo, &src.join("sub/f11"));
    }
    let mut cmd = hbk_command(&copy, &args);
    cmd.current_dir(&cwd);
    let out = ok(cmd.output().unwrap());
    let text = describe(&out);
    assert!(text.contains("1 blobs could not be salvaged"), "{text}");
    assert!(
        text.contains(&format!("{}/sub/f11", src.display())),
        "{text}"
    );
}
