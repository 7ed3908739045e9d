//! Repositories written by hbk, read by the real restic, and dedup between
//! the two (issue: core part 2).

use std::path::Path;

use hbk_tests::compare::assert_same_tree;
use hbk_tests::drivers::{describe, hbk, hbk_command, json_summary, ok, restic, Repo};

use crate::restore::reference_options;
use crate::{edge_tree, restored, tempdir};

fn hbk_repo(dir: &Path, version: u32) -> Repo {
    let repo = Repo::new(dir);
    ok(hbk(
        &repo,
        &["init", "--repository-version", &version.to_string()],
    ));
    repo
}

#[test]
fn restic_accepts_and_restores_hbk_backups() {
    let (src, _) = edge_tree();
    for version in [1, 2] {
        let dir = tempdir();
        let repo = hbk_repo(dir.path(), version);
        let out = ok(hbk(&repo, &["backup", "--json", src.to_str().unwrap()]));
        let s = json_summary(&out);
        assert!(s["data_blobs"].as_u64().unwrap() > 0, "{s}");
        ok(restic(&repo, &["check", "--read-data"]));
        let t = dir.path().join("restic-restore");
        ok(restic(
            &repo,
            &["restore", "latest", "--target", t.to_str().unwrap()],
        ));
        assert_same_tree(src, &restored(&t, src), reference_options());
        // restic's own backup of the same tree finds every chunk present.
        let out = ok(restic(
            &repo,
            &["backup", "--force", "--json", src.to_str().unwrap()],
        ));
        let s = json_summary(&out);
        assert_eq!(
            s["data_blobs"], 0,
            "restic added data blobs to an hbk backup: {s}"
        );
        // And hbk reads restic's snapshot back.
        let t = dir.path().join("hbk-restore");
        ok(hbk(
            &repo,
            &["restore", "latest", "--target", t.to_str().unwrap()],
        ));
        assert_same_tree(src, &restored(&t, src), reference_options());
    }
}

#[test]
fn hbk_deduplicates_against_restic_backups() {
    let (src, _) = edge_tree();
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init"]));
    ok(restic(&repo, &["backup", "-q", src.to_str().unwrap()]));
    let out = ok(hbk(
        &repo,
        &["backup", "--force", "--json", src.to_str().unwrap()],
    ));
    let s = json_summary(&out);
    assert_eq!(
        s["data_blobs"], 0,
        "hbk added data blobs to a restic backup: {s}"
    );
    ok(restic(&repo, &["check"]));
}

fn small_tree(root: &Path) {
    std::fs::create_dir_all(root.join("d")).unwrap();
    for i in 0..50 {
        std::fs::write(
            root.join(format!("d/f{i}")),
            format!("file {i}").repeat(100),
        )
        .unwrap();
    }
    std::fs::write(root.join("big"), vec![7u8; 3 << 20]).unwrap();
}

#[test]
fn unchanged_files_are_not_read_again() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    let repo = hbk_repo(dir.path(), 2);
    let arg = src.to_str().unwrap();
    let first = json_summary(&ok(hbk(&repo, &["backup", "--json", arg])));
    assert_eq!(first["files_new"], 51);
    let second = json_summary(&ok(hbk(&repo, &["backup", "--json", arg])));
    assert_eq!(second["total_bytes_read"], 0, "{second}");
    assert_eq!(second["files_unmodified"], 51, "{second}");
    assert_eq!(second["data_blobs"], 0);
    // The source's own trees (src, d) are unchanged. Its ancestors (/tmp,
    // …) count too, as restic counts them; their trees may change when
    // other tests create files there.
    let ancestors = src.ancestors().count() as u64 - 2;
    let unmodified = second["dirs_unmodified"].as_u64().unwrap();
    let changed = second["dirs_changed"].as_u64().unwrap();
    assert!(unmodified >= 2, "{second}");
    assert_eq!(unmodified + changed, 2 + ancestors, "{second}");
    assert_eq!(second["parent"], first["snapshot_id"]);
    std::fs::write(src.join("d/f7"), "changed content").unwrap();
    let third = json_summary(&ok(hbk(&repo, &["backup", "--json", arg])));
    assert_eq!(third["files_changed"], 1, "{third}");
    assert_eq!(third["total_bytes_read"], 15, "{third}");
    // --force reads everything again, but stores nothing new.
    let forced = json_summary(&ok(hbk(&repo, &["backup", "--json", "--force", arg])));
    assert_eq!(forced["files_new"], 51, "{forced}");
    assert_eq!(forced["data_blobs"], 0);
    ok(restic(&repo, &["check", "--read-data"]));
}

/// Backups that take unchanged directories from hbk's record of them (in
/// the cache directory) write the trees a backup without the record
/// writes, and restic checks and restores them.
#[test]
fn the_record_of_directories_changes_no_snapshot() {
    let dir = tempdir();
    let src = dir.path().join("src");
    for d in ["a/b/c", "a/d", "e"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    for (i, f) in ["a/1", "a/b/2", "a/b/c/3", "a/b/c/4", "a/d/5", "e/6", "7"]
        .iter()
        .enumerate()
    {
        std::fs::write(src.join(f), format!("file {i} ").repeat(i * 100 + 1)).unwrap();
    }
    let repo = hbk_repo(dir.path(), 2);
    let cache = dir.path().join("cache");
    let cache_arg = cache.to_str().unwrap();
    let arg = src.to_str().unwrap();
    let backup = |extra: &[&str]| {
        let mut args = vec!["--cache-dir", cache_arg, "backup", "--json", arg];
        args.extend_from_slice(extra);
        json_summary(&ok(hbk(&repo, &args)))
    };
    // The source's tree, not the snapshot's root: that one changes with
    // /tmp, where other tests write.
    let tree = |summary: &serde_json::Value| {
        let id = summary["snapshot_id"].as_str().unwrap();
        ok(hbk(&repo, &["cat", "tree", &format!("{id}:{arg}")])).stdout
    };
    backup(&[]);
    let records = |cache: &Path| {
        walkdir(cache)
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("dirs-")
            })
            .count()
    };
    assert_eq!(records(&cache), 1);
    let second = backup(&[]);
    assert_eq!(second["files_unmodified"], 7, "{second}");
    assert_eq!(second["total_bytes_read"], 0, "{second}");

    std::fs::write(src.join("a/b/c/3"), "changed").unwrap();
    std::fs::write(src.join("a/d/new"), "new").unwrap();
    std::fs::remove_file(src.join("e/6")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(src.join("7"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let third = backup(&[]);
    let parent = second["snapshot_id"].as_str().unwrap();
    let slow = json_summary(&ok(hbk(
        &repo,
        &["--no-cache", "backup", "--json", "--parent", parent, arg],
    )));
    assert_eq!(tree(&third), tree(&slow));
    for field in [
        "files_new",
        "files_changed",
        "files_unmodified",
        "dirs_changed",
    ] {
        assert_eq!(third[field], slow[field], "{field}: {third} {slow}");
    }
    assert_eq!(third["files_new"], 1, "{third}");
    assert_eq!(third["files_changed"], 2, "{third}");
    let fourth = backup(&[]);
    assert_eq!(tree(&fourth), tree(&third));
    assert_eq!(fourth["files_unmodified"], 7, "{fourth}");

    ok(restic(&repo, &["check", "--read-data"]));
    let t = dir.path().join("restic-restore");
    ok(restic(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    ));
    assert_same_tree(&src, &restored(&t, &src), reference_options());
}

/// Every file below `root`.
fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[test]
fn unreadable_file_is_a_warning_and_exit_3() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    let secret = src.join("d/secret");
    std::fs::write(&secret, "nobody may read this").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let repo = hbk_repo(dir.path(), 2);
    let mut cmd = hbk_command(&repo, &["backup", "--json", src.to_str().unwrap()]);
    if hbk_tests::is_root() {
        // Root reads anything: run as nobody, who can use the repository
        // but not the secret file.
        chown_tree(dir.path(), 65534);
        std::os::unix::fs::chown(&secret, Some(0), Some(0)).unwrap();
        let mut wrapped = std::process::Command::new("setpriv");
        wrapped
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(cmd.get_program())
            .args(cmd.get_args());
        cmd = wrapped;
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    // restic prints errors on standard error, as JSON under --json.
    let errors = String::from_utf8_lossy(&out.stderr);
    let error: serde_json::Value = errors
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON error: {errors}"));
    assert_eq!(error["message_type"], "error", "{error}");
    assert!(
        error["item"].as_str().unwrap().ends_with("d/secret"),
        "{error}"
    );
    let summary = json_summary(&out);
    assert!(summary["snapshot_id"].is_string());
    let ls = ok(hbk(&repo, &["ls", "latest"]));
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(listing.contains("/d/f1"), "{listing}");
    assert!(!listing.contains("secret"), "{listing}");
}

#[test]
fn missing_sources_are_skipped_and_all_missing_is_refused() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    let missing = dir.path().join("does/not/exist");
    let repo = hbk_repo(dir.path(), 2);
    // Every source missing: restic's refusal (exit 1), and no snapshot,
    // so a keep-last policy cannot lose a real one to an empty one.
    let out = hbk(&repo, &["backup", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("all source directories/files do not exist"),
        "{err}"
    );
    assert!(
        err.contains("does/not/exist"),
        "the argument is named: {err}"
    );
    let listed = ok(hbk(&repo, &["snapshots", "--json"]));
    assert_eq!(String::from_utf8_lossy(&listed.stdout).trim(), "[]");
    // A present and a missing source: the snapshot of the present one, and
    // exit 3 as restic 0.19 (0.14 exited 0).
    let out = hbk(
        &repo,
        &[
            "backup",
            "--json",
            src.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let summary = json_summary(&out);
    assert!(summary["snapshot_id"].is_string(), "{summary}");
    ok(restic(&repo, &["check"]));
    let listed = ok(restic(&repo, &["snapshots", "--json"]));
    let snaps: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(
        snaps[0]["paths"],
        serde_json::json!([src.to_str().unwrap()])
    );
}

fn chown_tree(path: &Path, id: u32) {
    std::os::unix::fs::lchown(path, Some(id), Some(id)).unwrap();
    if path.is_dir() && !path.is_symlink() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), id);
        }
    }
}

#[test]
fn stdin_backup_and_copy_chunker_params() {
    let dir = tempdir();
    let repo = hbk_repo(dir.path(), 2);
    let data: Vec<u8> = (0..5_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let mut child = hbk_command(
        &repo,
        &[
            "backup",
            "--stdin",
            "--stdin-filename",
            "dump.sql",
            "--json",
        ],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &data).unwrap();
    let out = child.wait_with_output().unwrap();
    ok(out);
    let dump = ok(restic(&repo, &["dump", "latest", "/dump.sql"]));
    assert_eq!(dump.stdout, data);

    // A second repository with the same chunker polynomial.
    let dir2 = tempdir();
    let repo2 = Repo::new(dir2.path());
    let from_repo = repo.path.to_str().unwrap().to_string();
    let from_pw = repo.password_file.to_str().unwrap().to_string();
    ok(hbk(
        &repo2,
        &[
            "init",
            "--copy-chunker-params",
            "--from-repo",
            &from_repo,
            "--from-password-file",
            &from_pw,
        ],
    ));
    let cfg = |r: &Repo| {
        let out = ok(restic(r, &["cat", "config"]));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["chunker_polynomial"]
            .clone()
    };
    assert_eq!(cfg(&repo), cfg(&repo2));
}

#[test]
fn exclusive_lock_refuses_backup_with_exit_11() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    let repo = hbk_repo(dir.path(), 2);
    // restic holds an exclusive lock while `check` runs; plant one the
    // same way restic writes it, from another host so it is not stale.
    hbk_tests::locks::plant_exclusive_lock(&repo);
    let out = hbk(&repo, &["backup", src.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(11), "{}", describe(&out));
    // restic agrees the repository is locked.
    assert!(!restic(&repo, &["backup", src.to_str().unwrap()])
        .status
        .success());
    ok(restic(&repo, &["unlock", "--remove-all"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
}

/// restic 0.14 stores symlink targets as (lossy) UTF-8 only; hbk also
/// writes `linktarget_raw` (restic ≥ 0.16), so its own round trip keeps
/// every byte.
#[test]
fn non_utf8_symlink_target_round_trips_through_hbk() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let target = std::ffi::OsStr::from_bytes(b"non-utf8-\xff");
    std::os::unix::fs::symlink(target, src.join("link")).unwrap();
    let repo = hbk_repo(dir.path(), 2);
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let t = dir.path().join("t");
    ok(hbk(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    ));
    let back = std::fs::read_link(restored(&t, &src).join("link")).unwrap();
    assert_eq!(back.as_os_str().as_bytes(), b"non-utf8-\xff");
    ok(restic(&repo, &["check", "--read-data"]));
}

#[test]
fn backup_flags_select_and_label_like_restic() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    std::fs::create_dir_all(src.join("cache")).unwrap();
    std::fs::write(
        src.join("cache/CACHEDIR.TAG"),
        "Signature: 8a477f597d28d172789f06886806bc55\n",
    )
    .unwrap();
    std::fs::create_dir_all(src.join("skipme")).unwrap();
    std::fs::write(src.join("skipme/.nobackup"), "").unwrap();
    std::fs::write(src.join("d/notes.TMP"), "temporary").unwrap();
    std::fs::write(src.join("d/drop.log"), "log").unwrap();
    let excludes = dir.path().join("excludes");
    std::fs::write(&excludes, "# comment\n*.log\n").unwrap();
    let list = dir.path().join("files");
    std::fs::write(&list, format!("{}\n", src.display())).unwrap();
    let repo = hbk_repo(dir.path(), 2);
    let args = [
        "--compression",
        "off",
        "backup",
        "--json",
        "--files-from",
        list.to_str().unwrap(),
        "--iexclude",
        "*.tmp",
        "--exclude-file",
        excludes.to_str().unwrap(),
        "--exclude-if-present",
        ".nobackup",
        "--exclude-caches",
        "--exclude-larger-than",
        "1M",
        "--tag",
        "a,b",
        "--host",
        "elsewhere",
        "--time",
        "2021-03-04 05:06:07",
    ];
    // A dry run writes no snapshot and no pack.
    let mut dry: Vec<&str> = args.to_vec();
    dry.push("--dry-run");
    ok(hbk(&repo, &dry));
    assert!(hbk_tests::drivers::packs(&repo).is_empty());
    ok(hbk(&repo, &args));
    let ls = ok(restic(&repo, &["ls", "latest"]));
    let listing = String::from_utf8_lossy(&ls.stdout).to_string();
    assert!(listing.contains("/d/f1\n"), "{listing}");
    for gone in ["notes.TMP", "drop.log", "/cache", "/skipme", "/big"] {
        assert!(
            !listing.contains(gone),
            "{gone} was not excluded: {listing}"
        );
    }
    let snaps = ok(restic(&repo, &["snapshots", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&snaps.stdout).unwrap();
    let sn = &v[0];
    assert_eq!(sn["hostname"], "elsewhere");
    assert_eq!(sn["tags"], serde_json::json!(["a", "b"]));
    assert!(
        sn["time"]
            .as_str()
            .unwrap()
            .starts_with("2021-03-04T05:06:07"),
        "{sn}"
    );
    assert_eq!(sn["paths"], serde_json::json!([src.to_str().unwrap()]));
    ok(restic(&repo, &["check", "--read-data"]));
}

#[test]
fn fastcdc_repositories_are_read_by_restic() {
    let dir = tempdir();
    let src = dir.path().join("src");
    small_tree(&src);
    std::fs::write(
        src.join("random"),
        (0..6_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init", "--chunker", "fastcdc"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    ok(restic(&repo, &["check", "--read-data"]));
    let t = dir.path().join("t");
    ok(restic(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    ));
    assert_same_tree(&src, &restored(&t, &src), reference_options());
    let cfg = ok(hbk(&repo, &["cat", "config"]));
    let v: serde_json::Value = serde_json::from_slice(&cfg.stdout).unwrap();
    assert_eq!(v["chunker"], "fastcdc");
}
