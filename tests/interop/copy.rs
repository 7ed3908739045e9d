//! `copy` between repositories with different keys: restic restores the
//! copies exactly, a second copy transfers nothing, and a target whose
//! chunker parameters were copied deduplicates against the source's data.

use hbk_tests::compare::assert_same_tree;
use hbk_tests::drivers::{describe, hbk, hbk_command, json_summary, ok, packs, restic, Repo};

use crate::restore::reference_options;
use crate::{edge_tree, restored, tempdir};

fn snapshot_list(repo: &Repo) -> Vec<serde_json::Value> {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn copy_local_to_local_with_another_password() {
    let (src_tree, _) = edge_tree();
    let arg = src_tree.to_str().unwrap();
    let dir = tempdir();
    let src = Repo::new(&subdir(dir.path(), "a"));
    let dst = Repo::with_password(&subdir(dir.path(), "b"), "another password");
    ok(restic(&src, &["init"]));
    ok(restic(&src, &["backup", "-q", "--tag", "first", arg]));
    ok(hbk(&src, &["backup", "-q", "--tag", "second", arg]));

    let from = |cmd: &mut std::process::Command| {
        cmd.arg("--from-repo")
            .arg(&src.path)
            .arg("--from-password-file")
            .arg(&src.password_file);
    };
    let mut init = hbk_command(&dst, &["init", "--copy-chunker-params"]);
    from(&mut init);
    ok(init.output().unwrap());

    let mut cmd = hbk_command(&dst, &["copy"]);
    from(&mut cmd);
    let out = ok(cmd.output().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" saved").count(), 2, "{text}");

    ok(restic(&dst, &["check", "--read-data"]));
    let copies = snapshot_list(&dst);
    let originals = snapshot_list(&src);
    assert_eq!(copies.len(), 2);
    for copy in &copies {
        let original = copy["original"].as_str().expect("no original field");
        let from_src = originals.iter().find(|s| s["id"] == original).unwrap();
        assert_eq!(copy["tree"], from_src["tree"]);
        assert_eq!(copy["tags"], from_src["tags"]);
        let t = dir.path().join(format!("restore-{}", &original[..8]));
        ok(restic(
            &dst,
            &[
                "restore",
                copy["id"].as_str().unwrap(),
                "--target",
                t.to_str().unwrap(),
            ],
        ));
        assert_same_tree(src_tree, &restored(&t, src_tree), reference_options());
    }

    // A second copy transfers nothing and saves no snapshot.
    let before = packs(&dst);
    let mut cmd = hbk_command(&dst, &["copy", "--json"]);
    from(&mut cmd);
    let out = ok(cmd.output().unwrap());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("snapshot_skipped").count(),
        2,
        "{}",
        describe(&out)
    );
    assert_eq!(packs(&dst), before);
    assert_eq!(snapshot_list(&dst).len(), 2);

    // The chunker parameters were copied: backing the same data up into
    // the target adds no data blob.
    let out = ok(hbk(&dst, &["backup", "--force", "--json", arg]));
    assert_eq!(json_summary(&out)["data_blobs"], 0, "{}", describe(&out));
    let out = ok(restic(&dst, &["backup", "--force", "--json", arg]));
    assert_eq!(json_summary(&out)["data_blobs"], 0, "{}", describe(&out));
}

/// `dir/name`, created.
fn subdir(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn copy_local_to_s3() {
    use hbk_tests::servers::{Remote, S3Server};
    let (src_tree, _) = edge_tree();
    let arg = src_tree.to_str().unwrap();
    let dir = tempdir();
    let src = Repo::new(&subdir(dir.path(), "local"));
    ok(hbk(&src, &["init"]));
    ok(hbk(&src, &["backup", "-q", arg]));

    let s3 = S3Server::start();
    let dst = Remote::new(s3.url(), s3.env());
    let from = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--from-repo",
            src.path.to_str().unwrap(),
            "--from-password-file",
            src.password_file.to_str().unwrap(),
        ]);
        ok(dst.hbk(&all))
    };
    from(&["init", "--copy-chunker-params"]);
    let out = from(&["copy"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(" saved"),
        "{}",
        describe(&out)
    );

    ok(dst.restic(&["check", "--read-data"]));
    let t = dir.path().join("from-s3");
    ok(dst.restic(&["restore", "latest", "--target", t.to_str().unwrap()]));
    assert_same_tree(src_tree, &restored(&t, src_tree), reference_options());

    // Nothing new on a second copy.
    let packs =
        |r: &Remote| String::from_utf8_lossy(&ok(r.restic(&["list", "packs"])).stdout).into_owned();
    let before = packs(&dst);
    let out = from(&["copy"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("skipping snapshot"),
        "{}",
        describe(&out)
    );
    assert_eq!(packs(&dst), before);
}
