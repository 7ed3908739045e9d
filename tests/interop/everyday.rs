//! The everyday commands against restic 0.14 on one history of backups
//! (two by restic, one by hbk, two hosts): `stats` (every mode), `find`,
//! `diff` print what restic prints; `tag` leaves snapshots restic reads
//! and checks; `dump` gives back the files; `repair index` after the index
//! is lost leaves a repository restic checks and restores.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{describe, hbk, ok, restic, snapshot_ids, Repo};
use serde_json::Value;

use crate::{restored, tempdir};

/// A repository with three snapshots of `src` (oldest first).
struct History {
    _dir: tempfile::TempDir,
    repo: Repo,
    src: PathBuf,
    ids: Vec<String>,
}

/// Deterministic bytes that the chunker cuts into several blobs.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn write(path: &Path, data: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

/// Backs up three states of a small tree: restic, then hbk (host
/// `other`), then restic again, into a repository of format 2.
fn history() -> History {
    history_v("2")
}

/// [`history`] in a repository of format `version`.
fn history_v(version: &str) -> History {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    let src = dir.path().join("src");
    write(&src.join("docs/readme.txt"), b"read me\n");
    write(&src.join("docs/Notes.md"), b"# notes\n");
    write(&src.join("data/big.bin"), &noise(3 << 20, 1));
    write(&src.join("data/copy1"), b"same bytes");
    write(&src.join("data/copy2"), b"same bytes");
    write(&src.join("empty"), b"");
    std::fs::hard_link(src.join("data/copy1"), src.join("hardlink")).unwrap();
    std::os::unix::fs::symlink("docs/readme.txt", src.join("link")).unwrap();
    std::fs::create_dir_all(src.join("deep/a/b/c")).unwrap();
    write(&src.join("deep/a/b/c/leaf.txt"), b"leaf");
    let s = src.to_str().unwrap();
    ok(restic(&repo, &["init", "--repository-version", version]));
    ok(restic(&repo, &["backup", "-q", "--tag", "first", s]));

    write(&src.join("docs/readme.txt"), b"read me again\n");
    std::fs::remove_file(src.join("data/copy2")).unwrap();
    write(&src.join("new/added.txt"), b"added");
    std::fs::set_permissions(src.join("empty"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::remove_file(src.join("link")).unwrap();
    std::fs::create_dir(src.join("link")).unwrap();
    ok(hbk(&repo, &["backup", "-q", "--host", "other", s]));

    let mut big = noise(3 << 20, 1);
    big[2 << 20] ^= 0xff;
    write(&src.join("data/big.bin"), &big);
    std::fs::remove_dir_all(src.join("deep/a")).unwrap();
    ok(restic(&repo, &["backup", "-q", "--tag", "third", s]));
    let ids = snapshot_ids(&repo);
    assert_eq!(ids.len(), 3);
    History {
        _dir: dir,
        repo,
        src,
        ids,
    }
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)))
}

fn text(out: Output) -> String {
    String::from_utf8_lossy(&ok(out).stdout).into_owned()
}

/// Runs the same arguments through both tools; both must succeed.
fn both(repo: &Repo, args: &[&str]) -> (Output, Output) {
    (ok(restic(repo, args)), ok(hbk(repo, args)))
}

#[test]
fn stats_equal_restics_in_every_mode() {
    let h = history();
    let (first, second) = (&h.ids[0][..8], &h.ids[1][..8]);
    let selections: [&[&str]; 5] = [
        &[],
        &["latest"],
        &[first, second],
        &["--host", "other"],
        &["--tag", "first,third"],
    ];
    for mode in [
        "restore-size",
        "files-by-contents",
        "raw-data",
        "blobs-per-file",
    ] {
        for sel in selections {
            let mut args = vec!["stats", "--json", "--mode", mode];
            args.extend_from_slice(sel);
            let (r, o) = both(&h.repo, &args);
            assert_eq!(json(&o), json(&r), "stats {args:?}");
        }
        let (r, o) = both(&h.repo, &["stats", "--mode", mode]);
        assert_eq!(text(o), text(r), "stats --mode {mode} (text)");
    }
}

#[test]
fn stats_and_diff_equal_restics_on_format_1() {
    let h = history_v("1");
    for mode in [
        "restore-size",
        "files-by-contents",
        "raw-data",
        "blobs-per-file",
    ] {
        let (r, o) = both(&h.repo, &["stats", "--json", "--mode", mode]);
        assert_eq!(json(&o), json(&r), "stats --mode {mode}");
    }
    let (a, b) = (&h.ids[0][..8], &h.ids[2][..8]);
    let (r, o) = both(&h.repo, &["diff", a, b]);
    assert_eq!(text(o), text(r), "diff {a} {b}");
}

/// `find --json` groups keyed by snapshot (restic's order follows its
/// listing, not time).
fn find_groups(out: &Output) -> BTreeMap<String, Value> {
    json(out)
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["snapshot"].as_str().unwrap().to_string(), g.clone()))
        .collect()
}

#[test]
fn find_equals_restics() {
    let h = history();
    let cases: [&[&str]; 9] = [
        &["readme.txt"],
        &["*.txt", "copy?"],
        &["docs"],
        &["/data/*"],
        &["notes.md", "--ignore-case"],
        &["NOTES.MD", "-i"],
        &["link"],
        &["nothing-matches"],
        &["leaf.txt", "--host", "other"],
    ];
    for case in cases {
        let mut args = vec!["find", "--json"];
        args.extend_from_slice(case);
        let (r, o) = both(&h.repo, &args);
        assert_eq!(find_groups(&o), find_groups(&r), "find {args:?}");
    }
    // Text, on one snapshot so that the order is fixed.
    let last = &h.ids[2][..8];
    for case in [
        &["*.txt"][..],
        &["-l", "data"],
        &["--newest", "2001-01-01", "*"],
    ] {
        let mut args = vec!["find", "-s", last];
        args.extend_from_slice(case);
        let (r, o) = both(&h.repo, &args);
        assert_eq!(text(o), text(r), "find {args:?}");
    }
    // restic 0.17+: snapshots newest first, oldest first with --reverse;
    // --human-readable sizes in the long form.
    let order = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["find", "--json"];
        all.extend_from_slice(args);
        json(&ok(hbk(&h.repo, &all)))
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["snapshot"].as_str().unwrap().to_string())
            .collect()
    };
    let newest_first: Vec<String> = h.ids.iter().rev().cloned().collect();
    assert_eq!(order(&["readme.txt"]), newest_first);
    assert_eq!(order(&["--reverse", "readme.txt"]), h.ids);
    let long = text(hbk(
        &h.repo,
        &["find", "-s", last, "-l", "--human-readable", "big.bin"],
    ));
    assert!(long.contains("3.000 MiB"), "{long}");
}

/// `find --json --blob/--tree/--pack` objects, sorted (restic's order
/// follows its snapshot listing).
fn find_objects(out: &Output) -> Vec<String> {
    let mut v: Vec<String> = json(out)
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn find_by_id_equals_restics() {
    let h = history();
    let src = h.src.to_str().unwrap();
    let tree = |path: &str| -> Value {
        json(&ok(hbk(
            &h.repo,
            &["cat", "tree", &format!("{}:{src}{path}", &h.ids[0])],
        )))
    };
    let node = |t: &Value, name: &str| -> Value {
        t["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap()
            .clone()
    };
    let subtree = node(&tree(""), "docs")["subtree"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = node(&tree("/docs"), "Notes.md")["content"][0]
        .as_str()
        .unwrap()
        .to_string();
    let cases: [&[&str]; 5] = [
        &["--blob", &blob],
        &["--blob", &blob[..8]],
        &["--tree", &subtree[..8]],
        &["--tree", &subtree, "--blob"],
        &["--blob", &blob[..8], &blob[8..16]],
    ];
    for case in cases {
        let mut args = vec!["find", "--json"];
        args.extend_from_slice(case);
        let (r, o) = (restic(&h.repo, &args), hbk(&h.repo, &args));
        assert_eq!(
            r.status.success(),
            o.status.success(),
            "{args:?}: {}",
            describe(&o)
        );
        if r.status.success() {
            assert_eq!(find_objects(&o), find_objects(&r), "find {args:?}");
        }
    }
    for (pack, _) in hbk_tests::drivers::packs(&h.repo) {
        let name = pack.file_name().unwrap().to_str().unwrap().to_string();
        let args = ["find", "--json", "--pack", &name[..8]];
        let (r, o) = both(&h.repo, &args);
        assert_eq!(find_objects(&o), find_objects(&r), "find {args:?}");
    }
    let one = &h.ids[1][..8];
    for case in [
        &["--blob", &blob][..],
        &["--tree", &subtree, "--show-pack-id"],
        &["--blob", &blob[..8], "--show-pack-id"],
        &["--tree", &subtree[..8], "--show-pack-id"],
    ] {
        let mut args = vec!["find", "-s", one];
        args.extend_from_slice(case);
        let (r, o) = both(&h.repo, &args);
        assert_eq!(text(o), text(r), "find {args:?}");
    }
}

#[test]
fn diff_equals_restics() {
    let h = history();
    let ids: Vec<&str> = h.ids.iter().map(|i| &i[..8]).collect();
    for (a, b) in [(0, 1), (1, 2), (0, 2), (2, 0)] {
        for extra in [
            &[][..],
            &["--metadata"],
            &["--json"],
            &["--json", "--metadata"],
        ] {
            let mut args = vec!["diff", ids[a], ids[b]];
            args.extend_from_slice(extra);
            let (r, o) = both(&h.repo, &args);
            assert_eq!(text(o), text(r), "{args:?}");
        }
    }
}

fn tags_of(repo: &Repo) -> Vec<(Vec<String>, Option<String>)> {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    let mut v: Vec<(String, Vec<String>, Option<String>)> = json(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let tags = s["tags"]
                .as_array()
                .map(|t| t.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                .unwrap_or_default();
            let original = s["original"].as_str().map(str::to_string);
            (s["time"].as_str().unwrap().to_string(), tags, original)
        })
        .collect();
    v.sort();
    v.into_iter().map(|(_, t, o)| (t, o)).collect()
}

#[test]
fn tag_changes_what_restic_sees() {
    let h = history();
    let before = snapshot_ids(&h.repo);
    let out = ok(hbk(&h.repo, &["tag", "--add", "x,y", "--host", "other"]));
    assert!(text(out).contains("modified tags on 1 snapshots"));
    ok(hbk(&h.repo, &["tag", "--remove", "first", &h.ids[0][..8]]));
    ok(hbk(&h.repo, &["tag", "--set", "only", "--tag", "third"]));
    let tags = tags_of(&h.repo);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(tags[0], (s(&[]), Some(before[0].clone())));
    assert_eq!(tags[1], (s(&["x", "y"]), Some(before[1].clone())));
    assert_eq!(tags[2], (s(&["only"]), Some(before[2].clone())));
    // Nothing to change: no new snapshot.
    let out = ok(hbk(&h.repo, &["tag", "--add", "x", "--host", "other"]));
    assert!(text(out).contains("no snapshots were modified"));
    // restic's own tag on top of hbk's keeps `original`.
    ok(restic(&h.repo, &["tag", "--add", "z", "--tag", "only"]));
    assert_eq!(
        tags_of(&h.repo)[2],
        (s(&["only", "z"]), Some(before[2].clone()))
    );
    ok(restic(&h.repo, &["check"]));
    // Bad usage fails without touching anything.
    assert!(!hbk(&h.repo, &["tag", "--set", "a", "--add", "b"])
        .status
        .success());
    assert!(!hbk(&h.repo, &["tag"]).status.success());
    assert_eq!(snapshot_ids(&h.repo).len(), 3);
    // Another process's exclusive lock: exit 11, nothing changed.
    let files = || {
        let mut v: Vec<_> = std::fs::read_dir(h.repo.path.join("snapshots"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let ids = files();
    hbk_tests::locks::plant_exclusive_lock(&h.repo);
    let locked = hbk(&h.repo, &["tag", "--add", "w"]);
    assert_eq!(locked.status.code(), Some(11), "{}", describe(&locked));
    let locked = hbk(&h.repo, &["repair", "snapshots"]);
    assert_eq!(locked.status.code(), Some(11), "{}", describe(&locked));
    assert_eq!(files(), ids);
}

#[test]
fn dump_gives_back_files_and_trees() {
    let h = history();
    let src = h.src.to_str().unwrap();
    let file = format!("{src}/data/big.bin");
    let out = ok(hbk(&h.repo, &["dump", "latest", &file]));
    assert_eq!(out.stdout, std::fs::read(&file).unwrap());
    // SNAPSHOT:SUBPATH, as restore takes it.
    let out = ok(hbk(
        &h.repo,
        &["dump", &format!("latest:{src}"), "docs/readme.txt"],
    ));
    assert_eq!(out.stdout, b"read me again\n");
    // --target writes a file instead (restic 0.18+); a missing path
    // creates nothing.
    let into = h.repo.path.parent().unwrap().join("dumped.bin");
    let out = ok(hbk(
        &h.repo,
        &["dump", "--target", into.to_str().unwrap(), "latest", &file],
    ));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read(&into).unwrap() == std::fs::read(&file).unwrap());
    let nowhere = h.repo.path.parent().unwrap().join("nothing.bin");
    let missing = hbk(
        &h.repo,
        &[
            "dump",
            "-t",
            nowhere.to_str().unwrap(),
            "latest",
            "/no/such/file",
        ],
    );
    assert_ne!(missing.status.code(), Some(0));
    assert!(!nowhere.exists());

    let dir = tempdir();
    for (tool, tar) in [
        ("hbk", ok(hbk(&h.repo, &["dump", "latest", src]))),
        ("restic", ok(restic(&h.repo, &["dump", "latest", src]))),
    ] {
        let archive = dir.path().join(format!("{tool}.tar"));
        std::fs::write(&archive, &tar.stdout).unwrap();
        let target = dir.path().join(tool);
        std::fs::create_dir(&target).unwrap();
        let status = std::process::Command::new("tar")
            .arg("-xf")
            .arg(&archive)
            .arg("-C")
            .arg(&target)
            .status()
            .unwrap();
        assert!(status.success(), "{tool}: tar -x failed");
    }
    let opts = CompareOptions {
        owners: true,
        mtimes: false,
        xattrs: false,
        modes: true,
        hardlinks: false,
    };
    assert_same_tree(&h.src, &restored(&dir.path().join("hbk"), &h.src), opts);
    // The same entries as restic's tar, to the second (restic rounds
    // modification times to the nearest second).
    let list = |name: &str| {
        let out = std::process::Command::new("tar")
            .arg("--full-time")
            .arg("-tvf")
            .arg(dir.path().join(name))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(list("hbk.tar"), list("restic.tar"));
    let missing = hbk(&h.repo, &["dump", "latest", "/no/such/file"]);
    assert_eq!(missing.status.code(), Some(1), "{}", describe(&missing));
}

fn index_files(repo: &Repo) -> Vec<PathBuf> {
    std::fs::read_dir(repo.path.join("index"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

#[test]
fn repair_index_rebuilds_a_lost_index() {
    let h = history();
    let old = index_files(&h.repo);
    for f in &old {
        std::fs::remove_file(f).unwrap();
    }
    let out = ok(hbk(&h.repo, &["repair", "index"]));
    assert!(text(out).contains("done"));
    ok(restic(&h.repo, &["check", "--read-data"]));
    let target = tempdir();
    ok(restic(
        &h.repo,
        &[
            "restore",
            "latest",
            "--target",
            target.path().to_str().unwrap(),
        ],
    ));
    assert_same_tree(
        &h.src,
        &restored(target.path(), &h.src),
        CompareOptions::all(),
    );
    // restic 0.14's name, reading every pack: the index is replaced.
    let before = index_files(&h.repo);
    ok(hbk(&h.repo, &["rebuild-index", "--read-all-packs"]));
    let after = index_files(&h.repo);
    assert!(after.iter().all(|f| !before.contains(f)));
    ok(restic(&h.repo, &["check"]));
    assert_eq!(
        text(hbk(&h.repo, &["stats", "--json", "--mode", "raw-data"])),
        text(restic(&h.repo, &["stats", "--json", "--mode", "raw-data"]))
    );
}

#[test]
fn repair_snapshots_cuts_lost_data() {
    let h = history();
    // Lose the pack holding the big file's chunks: the largest pack.
    let (pack, _) = hbk_tests::drivers::packs(&h.repo)
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap();
    std::fs::remove_file(&pack).unwrap();
    ok(hbk(&h.repo, &["repair", "index"]));
    let dry = text(hbk(&h.repo, &["repair", "snapshots", "--dry-run"]));
    assert!(dry.contains("removed missing content"), "{dry}");
    assert!(dry.contains("would modify"), "{dry}");
    assert_eq!(snapshot_ids(&h.repo), h.ids);
    ok(hbk(&h.repo, &["repair", "snapshots", "--forget"]));
    let after = snapshot_ids(&h.repo);
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|id| !h.ids.contains(id)));
    let check = restic(&h.repo, &["check", "--read-data"]);
    assert!(check.status.success(), "{}", describe(&check));
    let again = text(hbk(&h.repo, &["repair", "snapshots"]));
    assert!(again.contains("no snapshots were modified"), "{again}");
}
