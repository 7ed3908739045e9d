//! `rewrite` (restic 0.15+): snapshots rewritten by hbk are accepted by
//! restic (`check --read-data`) and restore what restic's own restore of
//! the original gives with the same patterns.

use hbk_tests::compare::assert_same_tree;
use hbk_tests::drivers::{describe, hbk, ok, restic, Repo};
use serde_json::Value;

use crate::restore::reference_options;
use crate::{edge_tree, restored, tempdir};

fn snapshots(repo: &Repo) -> Vec<Value> {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array().unwrap().clone()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// restic's trees of the edge-case tree, rewritten without some paths:
/// the new snapshot (tagged `rewrite`, `original` set) restores exactly
/// what restic restores from the original with the same excludes, and
/// the original is untouched.
#[test]
fn rewrite_excludes_what_restic_restore_would() {
    let (src, _) = edge_tree();
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init", "--repository-version", "2"]));
    ok(restic(&repo, &["backup", src.to_str().unwrap()]));
    let original = snapshots(&repo)[0]["id"].as_str().unwrap().to_string();
    let excludes = ["--exclude", "copy2", "--iexclude", "ZEROS3M.BIN"];

    let mut args = vec!["rewrite", "-vv"];
    args.extend(excludes);
    let out = ok(hbk(&repo, &args));
    let text = stdout(&out);
    assert!(text.contains("excluding \""), "{text}");
    assert!(text.contains("modified 1 snapshots"), "{text}");
    ok(restic(&repo, &["check", "--read-data"]));

    let list = snapshots(&repo);
    assert_eq!(list.len(), 2, "{list:?}");
    let new = list.iter().find(|s| s["id"] != original.as_str()).unwrap();
    assert_eq!(new["tags"], serde_json::json!(["rewrite"]));
    assert_eq!(new["original"], original.as_str());
    let new_id = new["id"].as_str().unwrap();

    let restore = |name: &str, id: &str, extra: &[&str]| {
        let t = dir.path().join(name);
        let mut args = vec!["restore", id, "--target", t.to_str().unwrap()];
        args.extend(extra);
        ok(restic(&repo, &args));
        restored(&t, src)
    };
    let rewritten = restore("new", new_id, &[]);
    assert!(!rewritten.join("dup/b/copy2").exists());
    assert!(!rewritten.join("big/zeros3m.bin").exists());
    assert!(rewritten.join("dup/a/copy1").exists());
    let expected = restore("old-excluded", &original, &excludes);
    assert_same_tree(&expected, &rewritten, reference_options());
    let untouched = restore("old", &original, &[]);
    assert_same_tree(src, &untouched, reference_options());
}

/// Includes, dry runs, metadata changes with `--forget`, and the
/// refusals restic 0.19 makes.
#[test]
fn rewrite_includes_changes_metadata_and_refuses_nonsense() {
    let dir = tempdir();
    let src = dir.path().join("src");
    hbk_tests::tree::write_files(
        &src,
        &[
            ("keep/a", "a"),
            ("keep/sub/b", "b"),
            ("drop/c", "c"),
            ("d.txt", "d"),
        ],
    );
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let first = snapshots(&repo)[0]["id"].as_str().unwrap().to_string();

    // A dry run says what it would do and writes nothing.
    let out = ok(hbk(
        &repo,
        &["rewrite", "--dry-run", "--new-host", "elsewhere"],
    ));
    let text = stdout(&out);
    assert!(text.contains("would save new snapshot"), "{text}");
    assert!(text.contains("would modify 1 snapshots"), "{text}");
    assert_eq!(snapshots(&repo).len(), 1);

    // Includes keep the matching paths (and the directories above them).
    ok(hbk(&repo, &["rewrite", "--include", "*/keep", &first]));
    let list = snapshots(&repo);
    let new = list.iter().find(|s| s["id"] != first.as_str()).unwrap();
    let new_id = new["id"].as_str().unwrap().to_string();
    let t = dir.path().join("included");
    ok(restic(
        &repo,
        &["restore", &new_id, "--target", t.to_str().unwrap()],
    ));
    let back = restored(&t, &src);
    assert!(back.join("keep/sub/b").exists() && back.join("keep/a").exists());
    assert!(!back.join("drop").exists() && !back.join("d.txt").exists());
    // Summary: the files left, as restic 0.19 records them.
    let out = ok(hbk(&repo, &["cat", "snapshot", &new_id]));
    let sn: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sn["summary"]["total_files_processed"], 2, "{sn}");

    // New host and time, replacing the snapshot.
    ok(hbk(
        &repo,
        &[
            "rewrite",
            "--forget",
            "--new-host",
            "moved",
            "--new-time",
            "2020-01-02 03:04:05",
            &new_id,
        ],
    ));
    let list = snapshots(&repo);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|s| s["id"] != new_id.as_str()));
    let moved = list.iter().find(|s| s["hostname"] == "moved").unwrap();
    assert!(
        moved["time"]
            .as_str()
            .unwrap()
            .starts_with("2020-01-02T03:04:05"),
        "{moved}"
    );
    assert_eq!(moved["original"], new_id.as_str());
    ok(restic(&repo, &["check", "--read-data"]));

    for (args, words) in [
        (vec!["rewrite"], "Nothing to do"),
        (
            vec!["rewrite", "--include", "a", "--exclude", "b"],
            "mutually exclusive",
        ),
    ] {
        let out = hbk(&repo, &args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        assert!(describe(&out).contains(words), "{}", describe(&out));
    }
}
