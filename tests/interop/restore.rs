//! Repositories written by the real restic, read by hbk (issue: core part 1).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hbk_tests::compare::{assert_same_tree, compare_trees, CompareOptions};
use hbk_tests::drivers::{describe, hbk, ok, packs, restic, Repo};

use crate::{edge_tree, restored, tempdir};

/// What restic 0.14 itself reproduces on a round trip; hbk is held to the
/// same standard (see `restic_round_trip_is_the_reference`).
pub fn reference_options() -> CompareOptions {
    let (_, info) = edge_tree();
    CompareOptions {
        owners: info.owners,
        xattrs: info.xattrs,
        ..CompareOptions::all()
    }
}

/// A restic-made repository of the edge tree, per format version, built
/// once and never modified (tests that damage it work on a copy).
fn restic_repo(version: u32) -> &'static Repo {
    static REPOS: [OnceLock<Repo>; 2] = [OnceLock::new(), OnceLock::new()];
    REPOS[version as usize - 1].get_or_init(|| {
        let dir = tempdir().keep();
        let repo = Repo::new(&dir);
        let (src, _) = edge_tree();
        ok(restic(
            &repo,
            &["init", "--repository-version", &version.to_string()],
        ));
        ok(restic(&repo, &["backup", "-q", src.to_str().unwrap()]));
        repo
    })
}

fn copy_repo(repo: &Repo, dir: &Path) -> Repo {
    let copy = Repo::new(dir);
    hbk_tests::copy_dir(&repo.path, &copy.path);
    copy
}

fn target(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

#[test]
fn restic_round_trip_is_the_reference() {
    let (src, _) = edge_tree();
    for version in [1, 2] {
        let repo = restic_repo(version);
        let dir = tempdir();
        let t = target(dir.path(), "restic");
        ok(restic(
            repo,
            &["restore", "latest", "--target", t.to_str().unwrap()],
        ));
        assert_same_tree(src, &restored(&t, src), reference_options());
    }
}

#[test]
fn hbk_restores_restic_repositories_exactly() {
    let (src, _) = edge_tree();
    for version in [1, 2] {
        let repo = restic_repo(version);
        let dir = tempdir();
        let t = target(dir.path(), "hbk");
        let out = ok(hbk(
            repo,
            &[
                "restore",
                "latest",
                "--target",
                t.to_str().unwrap(),
                "--verify",
            ],
        ));
        assert!(String::from_utf8_lossy(&out.stdout).contains("verified"));
        assert_same_tree(src, &restored(&t, src), reference_options());
        ok(hbk(repo, &["check", "--read-data"]));
    }
}

#[test]
fn flipped_byte_in_a_pack_is_found_and_named() {
    let dir = tempdir();
    let repo = copy_repo(restic_repo(2), dir.path());
    let (pack, len) = packs(&repo).into_iter().max_by_key(|(_, l)| *l).unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[(len / 2) as usize] ^= 0x40;
    std::fs::write(&pack, bytes).unwrap();
    let name = pack.file_name().unwrap().to_str().unwrap().to_string();
    // Structure alone does not read pack contents.
    let out = hbk(&repo, &["check", "--read-data"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&name), "pack {name} not named: {text}");
}

#[test]
fn damaged_blob_fails_only_its_file() {
    let (src, _) = edge_tree();
    let dir = tempdir();
    let repo = copy_repo(restic_repo(1), dir.path());
    // The 20 MiB file's chunks fill the largest packs; damage the first
    // blob of the largest pack (offset 100 is inside it).
    let (pack, _) = packs(&repo).into_iter().max_by_key(|(_, l)| *l).unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&pack, bytes).unwrap();
    let t = target(dir.path(), "t");
    let out = hbk(
        &repo,
        &["restore", "latest", "--target", t.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    // Each damaged file is named on its own line.
    let named: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("ignoring error for "))
        .filter_map(|l| l.split(": ").next())
        .collect();
    assert!(!named.is_empty() && named.len() <= 4, "{err}");
    // Everything else came back exactly. (A named file may still match
    // when the damaged chunk was all zeros: restore pre-sizes files.)
    let diffs = compare_trees(
        src,
        &restored(&t, src),
        CompareOptions {
            mtimes: false,
            ..reference_options()
        },
    );
    for d in &diffs {
        let file = d.split(':').next().unwrap();
        assert!(
            named.iter().any(|n| n.ends_with(file)),
            "{file} differs but was not named in: {err}"
        );
    }
}

#[test]
fn wrong_password_and_missing_repository_exit_codes() {
    let dir = tempdir();
    let repo = copy_repo(restic_repo(2), dir.path());
    std::fs::write(&repo.password_file, "wrong\n").unwrap();
    let out = hbk(&repo, &["snapshots"]);
    assert_eq!(out.status.code(), Some(12), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line expected: {err}");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let missing = Repo::new(&elsewhere);
    let out = hbk(&missing, &["restore", "latest", "--target", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(10), "{}", describe(&out));
}

#[test]
fn include_exclude_and_subpath() {
    let (src, _) = edge_tree();
    let repo = restic_repo(2);
    let dir = tempdir();
    // Only the `links` directory.
    let t = target(dir.path(), "inc");
    let pattern = format!("{}/links", src.display());
    ok(hbk(
        repo,
        &[
            "restore",
            "latest",
            "--target",
            t.to_str().unwrap(),
            "--include",
            &pattern,
        ],
    ));
    let r = restored(&t, src);
    assert!(r.join("links/relative").symlink_metadata().is_ok());
    assert!(!r.join("sizes").exists() && !r.join("many").exists());
    // Everything but `many`.
    let t = target(dir.path(), "exc");
    ok(hbk(
        repo,
        &[
            "restore",
            "latest",
            "--target",
            t.to_str().unwrap(),
            "--exclude",
            "many",
        ],
    ));
    let r = restored(&t, src);
    assert!(!r.join("many").exists());
    assert!(r.join("sizes/one").exists());
    // A directory's contents straight into the target.
    let t = target(dir.path(), "sub");
    let spec = format!("latest:{}/dup", src.display());
    ok(hbk(
        repo,
        &["restore", &spec, "--target", t.to_str().unwrap()],
    ));
    assert_eq!(
        std::fs::read(t.join("a/copy1")).unwrap(),
        std::fs::read(src.join("dup/a/copy1")).unwrap()
    );
    // Dry run writes nothing.
    let t = target(dir.path(), "dry");
    ok(hbk(
        repo,
        &[
            "restore",
            "latest",
            "--target",
            t.to_str().unwrap(),
            "--dry-run",
        ],
    ));
    assert!(!t.exists());
}

#[test]
fn sparse_restore_leaves_holes() {
    use std::os::unix::fs::MetadataExt;
    let (src, _) = edge_tree();
    let repo = restic_repo(2);
    let dir = tempdir();
    let t = target(dir.path(), "sparse");
    ok(hbk(
        repo,
        &[
            "restore",
            "latest",
            "--target",
            t.to_str().unwrap(),
            "--sparse",
            "--verify",
        ],
    ));
    let r = restored(&t, src);
    for f in ["big/sparse.img", "big/zeros3m.bin"] {
        assert_eq!(
            std::fs::read(src.join(f)).unwrap(),
            std::fs::read(r.join(f)).unwrap(),
            "{f}"
        );
        let m = std::fs::metadata(r.join(f)).unwrap();
        assert!(
            m.blocks() * 512 < m.len() / 2,
            "{f} is not sparse: {} blocks",
            m.blocks()
        );
    }
}

/// restic 0.17+'s `--include-xattr`/`--exclude-xattr` choose the extended
/// attributes restored, and `--ownership-by-name` takes owners from the
/// recorded names (a snapshot whose uid disagrees with its user name
/// `root` is made by hand).
#[test]
fn restore_filters_xattrs_and_takes_owners_by_name() {
    use hbk_repo::{BlobSaver, BlobType, FileType, Id, IndexedRepository, Repository};
    use std::os::unix::fs::MetadataExt;
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let f = src.join("f");
    std::fs::write(&f, "attributes").unwrap();
    let xattrs = xattr::set(&f, "user.keep", b"1").is_ok();
    if xattrs {
        xattr::set(&f, "user.drop", b"2").unwrap();
    }
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));

    let restore = |name: &str, flags: &[&str]| {
        let t = dir.path().join(name);
        let mut args = vec!["restore", "latest", "--target", t.to_str().unwrap()];
        args.extend(flags);
        ok(hbk(&repo, &args));
        restored(&t, &src).join("f")
    };
    if xattrs {
        let names = |p: &Path| -> Vec<String> {
            let mut v: Vec<String> = xattr::list(p)
                .unwrap()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| n.starts_with("user."))
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&restore("all", &[])), ["user.drop", "user.keep"]);
        assert_eq!(
            names(&restore("excl", &["--exclude-xattr", "user.drop"])),
            ["user.keep"]
        );
        assert_eq!(
            names(&restore("incl", &["--include-xattr", "user.k*"])),
            ["user.keep"]
        );
    }
    let both = hbk(
        &repo,
        &[
            "restore",
            "latest",
            "--target",
            "/nowhere",
            "--include-xattr",
            "a",
            "--exclude-xattr",
            "b",
        ],
    );
    assert_eq!(both.status.code(), Some(1), "{}", describe(&both));

    if !hbk_tests::is_root() {
        return;
    }
    // The file's node says user "root" but uid 4242.
    fn set_uid(repo: &IndexedRepository, saver: &BlobSaver, tree: Id, name: &[u8], uid: u32) -> Id {
        let mut t = repo.tree(&tree).unwrap();
        for n in &mut t.nodes {
            if n.name == name {
                n.uid = uid;
            }
            if let Some(sub) = n.subtree {
                n.subtree = Some(set_uid(repo, saver, sub, name, uid));
            }
        }
        saver
            .save(BlobType::Tree, &t.to_go_json().unwrap())
            .unwrap()
    }
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let backend = std::sync::Arc::new(hbk_backend::LocalBackend::new(&repo.path));
    let opened = Repository::open(backend, password.trim_end().as_bytes())
        .unwrap()
        .into_indexed()
        .unwrap();
    let (_, mut sn) = opened.snapshots().unwrap().pop().unwrap();
    let saver = BlobSaver::new(&opened, opened.index(), 16 << 20, None, false);
    sn.tree = set_uid(&opened, &saver, sn.tree, b"f", 4242);
    saver.flush().unwrap();
    sn.time = hbk_repo::GoTime::now();
    opened
        .save_unpacked(FileType::Snapshot, &sn.to_json().unwrap())
        .unwrap();
    let by_id = restore("by-id", &[]);
    assert_eq!(std::fs::metadata(&by_id).unwrap().uid(), 4242);
    let by_name = restore("by-name", &["--ownership-by-name"]);
    assert_eq!(std::fs::metadata(&by_name).unwrap().uid(), 0);
    ok(restic(&repo, &["check"]));
}
