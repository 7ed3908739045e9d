//! hbk's `--json` output has the shapes restic's has, so wrappers that
//! parse restic's output parse hbk's.

use hbk_tests::drivers::{hbk, ok, restic, Repo};
use hbk_tests::{copy_dir, fixtures};

use crate::tempdir;

/// The JSON documents printed: one pretty-printed document, or one per line.
fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    if let Ok(v) = serde_json::from_slice(&out.stdout) {
        return vec![v];
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn json_output_matches_restic() {
    for name in ["repo-v1", "repo-v2"] {
        let dir = tempdir();
        let repo = Repo::with_password(dir.path(), "testpass");
        copy_dir(&fixtures().join("restic-0.14").join(name), &repo.path);
        for args in [
            &["snapshots", "--json"][..],
            &["ls", "latest", "--json"][..],
            &["cat", "config"][..],
            &["cat", "masterkey"][..],
            &["key", "list", "--json"][..],
        ] {
            let ours = ok(hbk(&repo, args));
            let theirs = ok(restic(&repo, args));
            let mut ours = json_lines(&ours);
            if args[0] == "ls" {
                // restic 0.19 added these to 0.14's lines.
                for line in &mut ours {
                    let m = line.as_object_mut().unwrap();
                    assert!(m.remove("message_type").is_some(), "{m:?}");
                    if m["struct_type"] == "node" {
                        assert!(m.remove("inode").is_some(), "{m:?}");
                    }
                }
            }
            assert_eq!(ours, json_lines(&theirs), "{name}: {args:?}");
        }
        // Snapshot files and tree blobs, by id.
        let snaps = json_lines(&ok(restic(&repo, &["snapshots", "--json"])));
        let id = snaps[0][0]["id"].as_str().unwrap().to_string();
        let tree = snaps[0][0]["tree"].as_str().unwrap().to_string();
        for args in [
            ["cat", "snapshot", id.as_str()],
            ["cat", "blob", tree.as_str()],
        ] {
            let ours = ok(hbk(&repo, &args));
            let theirs = ok(restic(&repo, &args));
            let a: serde_json::Value = serde_json::from_slice(&ours.stdout).unwrap();
            let b: serde_json::Value = serde_json::from_slice(&theirs.stdout).unwrap();
            assert_eq!(a, b, "{name}: {args:?}");
        }
    }
}
