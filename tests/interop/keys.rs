//! `key add/remove/passwd/list`, `unlock` and `list`: hbk and restic 0.14
//! see the same keys, locks and objects, and each opens with the
//! passwords the other added.
//!
//! Every open runs scrypt (about half a second), so each test opens as
//! few times as it can.

use std::collections::BTreeSet;
use std::path::Path;

use hbk_repo::{FileType, GoTime, Id, LockFile, Repository};
use hbk_tests::drivers::{describe, hbk, ok, restic, Repo};
use serde_json::Value;

use crate::tempdir;

/// The same repository opened with another password (kept in `dir/name`).
fn with_password(repo: &Repo, dir: &Path, name: &str, password: &str) -> Repo {
    let password_file = dir.join(name);
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    Repo {
        path: repo.path.clone(),
        password_file,
    }
}

/// Output lines as a set.
fn lines(out: &std::process::Output) -> BTreeSet<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `key list --json` as a set of its objects, each as compact JSON.
fn key_list(out: &std::process::Output) -> BTreeSet<String> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("key list --json: {e}: {}", describe(out)));
    v.as_array()
        .unwrap()
        .iter()
        .map(|k| k.to_string())
        .collect()
}

/// The short id of the key marked (or not) `current` in `key list --json`.
fn key_ids(out: &std::process::Output, current: bool) -> Vec<String> {
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|k| k["current"] == current)
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_fails(out: &std::process::Output, what: &str) {
    assert!(!out.status.success(), "{what} succeeded: {}", describe(out));
}

#[test]
fn added_key_works_in_both_tools_and_removal_agrees() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let second = with_password(&repo, dir.path(), "second", "second password");
    let out = ok(hbk(
        &repo,
        &[
            "key",
            "add",
            "--new-password-file",
            second.password_file.to_str().unwrap(),
            "--user",
            "alice",
            "--host",
            "box",
        ],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    let new_id = text
        .trim()
        .strip_prefix("saved new key as ")
        .unwrap_or_else(|| panic!("unexpected output: {text}"))
        .to_string();
    assert!(new_id.parse::<Id>().is_ok(), "{new_id}");

    for r in [&repo, &second] {
        ok(hbk(r, &["snapshots"]));
        ok(restic(r, &["snapshots"]));
    }

    let ours = ok(hbk(&second, &["key", "list", "--json"]));
    let theirs = ok(restic(&second, &["key", "list", "--json"]));
    assert_eq!(key_list(&ours), key_list(&theirs));
    assert_eq!(key_ids(&ours, true), vec![new_id[..8].to_string()]);
    assert!(key_list(&ours)
        .iter()
        .any(|k| k.contains(r#""userName":"alice""#) && k.contains(r#""hostName":"box""#)));

    // The key in use is refused (named by a unique prefix).
    let current = key_ids(&ours, true).remove(0);
    let out = hbk(&second, &["key", "remove", &current]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("refusing to remove key currently used to access repository"),
        "{}",
        describe(&out)
    );

    // Removing the other key works; restic agrees it is gone.
    let out = ok(hbk(&repo, &["key", "remove", &current]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("removed key {new_id}")
    );
    let theirs = ok(restic(&repo, &["key", "list", "--json"]));
    assert_eq!(key_ids(&theirs, false), Vec::<String>::new());
    assert_eq!(key_ids(&theirs, true).len(), 1);
}

#[test]
fn passwd_replaces_the_password() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let new = with_password(&repo, dir.path(), "new", "a new password");
    let out = ok(hbk(
        &repo,
        &[
            "key",
            "passwd",
            "--new-password-file",
            new.password_file.to_str().unwrap(),
        ],
    ));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("saved new key as "));

    let out = hbk(&repo, &["snapshots"]);
    assert_eq!(out.status.code(), Some(12), "{}", describe(&out));
    assert_fails(&restic(&repo, &["snapshots"]), "restic, old password");
    ok(hbk(&new, &["snapshots"]));
    let theirs = ok(restic(&new, &["key", "list", "--json"]));
    assert_eq!(key_ids(&theirs, true).len(), 1);
    assert!(key_ids(&theirs, false).is_empty());
    // No new password given: stdin is not a terminal and empty.
    let out = hbk(&new, &["key", "add"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("an empty password is not a password"),
        "{}",
        describe(&out)
    );
}

#[test]
fn key_added_by_restic_opens_in_hbk() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let other = with_password(&repo, dir.path(), "other", "restic's password");
    ok(restic(
        &repo,
        &[
            "key",
            "add",
            "--new-password-file",
            other.password_file.to_str().unwrap(),
            "--user",
            "bob",
            "--host",
            "elsewhere",
        ],
    ));
    let ours = ok(hbk(&other, &["key", "list", "--json"]));
    assert_eq!(key_list(&ours).len(), 2);
    let current = key_ids(&ours, true);
    assert!(key_list(&ours)
        .iter()
        .any(|k| k.contains(r#""current":true"#) && k.contains(r#""userName":"bob""#)));
    assert_eq!(current.len(), 1);
    ok(hbk(&other, &["snapshots"]));
}

/// The host name as restic records it in locks.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim_end()
        .to_string()
}

/// A pid that no longer runs: a child already waited for.
fn dead_pid() -> i64 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    i64::from(pid)
}

/// Plants two shared locks as other restic processes would leave them: a
/// stale one (this host, a process that is gone) and a fresh one from
/// another host. Returns their ids.
fn plant_locks(repo: &Repo) -> (Id, Id) {
    let backend = hbk_backend::open(repo.path.to_str().unwrap()).unwrap();
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let r = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    let lock = |hostname: String, pid: i64| LockFile {
        time: GoTime::now(),
        exclusive: false,
        hostname,
        username: "restic".into(),
        pid,
        uid: 0,
        gid: 0,
        extra: Default::default(),
    };
    let stale = r
        .save_unpacked(
            FileType::Lock,
            &lock(this_host(), dead_pid()).to_json().unwrap(),
        )
        .unwrap();
    let fresh = r
        .save_unpacked(
            FileType::Lock,
            &lock("some-other-host".into(), 4242).to_json().unwrap(),
        )
        .unwrap();
    (stale, fresh)
}

#[test]
fn unlock_removes_stale_locks_and_remove_all_everything() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let (stale, fresh) = plant_locks(&repo);
    let both: BTreeSet<String> = [stale.to_string(), fresh.to_string()].into();
    assert_eq!(lines(&ok(restic(&repo, &["list", "locks"]))), both);

    let out = ok(hbk(&repo, &["unlock"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "successfully removed locks\n"
    );
    let left: BTreeSet<String> = [fresh.to_string()].into();
    assert_eq!(lines(&ok(restic(&repo, &["list", "locks"]))), left);
    assert_eq!(lines(&ok(hbk(&repo, &["list", "locks"]))), left);

    ok(hbk(&repo, &["unlock", "--remove-all"]));
    assert!(lines(&ok(restic(&repo, &["list", "locks"]))).is_empty());
}

#[test]
fn list_prints_what_restic_lists() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    // A snapshot, index and pack from each tool.
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), b"listed by both tools\n").unwrap();
    ok(hbk(&repo, &["-q", "backup", src.to_str().unwrap()]));
    std::fs::write(src.join("g"), b"added by restic\n").unwrap();
    ok(restic(&repo, &["-q", "backup", src.to_str().unwrap()]));

    for kind in ["packs", "index", "snapshots", "keys", "blobs"] {
        let ours = lines(&ok(hbk(&repo, &["list", kind])));
        let theirs = lines(&ok(restic(&repo, &["list", kind])));
        assert!(!ours.is_empty(), "{kind}: nothing listed");
        assert_eq!(ours, theirs, "list {kind}");
    }
    let out = hbk(&repo, &["list", "nonsense"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// The only key file of `repo`.
fn only_key(repo: &Repo) -> std::path::PathBuf {
    let keys: Vec<_> = std::fs::read_dir(repo.path.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.into_iter().next().unwrap()
}

#[test]
fn key_file_that_no_longer_matches_its_name_warns_and_opens() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("f"), "kept").unwrap();
    ok(hbk(&repo, &["backup", "-q", src.to_str().unwrap()]));
    // Reformat the key file: its MAC still verifies, its hash is no
    // longer its name. restic opens such a repository; hbk warns and goes
    // on, and check names the key.
    let key = only_key(&repo);
    let mut text = std::fs::read(&key).unwrap();
    text.extend_from_slice(b"\n\n");
    std::fs::write(&key, &text).unwrap();
    ok(restic(&repo, &["snapshots"]));
    let target = dir.path().join("restored");
    let out = ok(hbk(
        &repo,
        &["restore", "latest", "--target", target.to_str().unwrap()],
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    let name = key.file_name().unwrap().to_str().unwrap();
    assert!(
        err.contains("Warning: key file") && err.contains(name),
        "{err}"
    );
    assert_eq!(
        std::fs::read(target.join(src.strip_prefix("/").unwrap()).join("f")).unwrap(),
        b"kept"
    );
    let listed = ok(hbk(&repo, &["key", "list", "--json"]));
    assert_eq!(key_ids(&listed, true).len(), 1, "{}", describe(&listed));
    let check = hbk(&repo, &["check"]);
    assert_eq!(check.status.code(), Some(1), "{}", describe(&check));
    let report = describe(&check);
    assert!(
        report.contains(&format!("key {name}: content does not match its name")),
        "{report}"
    );

    // A bit flipped inside the key's sealed data: the MAC fails, so the
    // key is damaged, and hbk says so instead of "wrong password".
    let mut v: Value = serde_json::from_slice(&std::fs::read(&key).unwrap()).unwrap();
    let data = v["data"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        if data.starts_with('A') { "B" } else { "A" },
        &data[1..]
    );
    v["data"] = Value::String(flipped);
    std::fs::write(&key, serde_json::to_vec(&v).unwrap()).unwrap();
    let out = hbk(&repo, &["snapshots"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(name) && err.contains("damaged"), "{err}");
}

/// `--insecure-no-password` (restic 0.17+): a repository with an empty
/// password is made and opened only with the flag, never with a password
/// given alongside; `key add --new-insecure-no-password` adds such a key.
#[test]
fn insecure_no_password_is_explicit() {
    use hbk_tests::drivers::hbk_binary;
    let dir = tempdir();
    let repo_path = dir.path().join("repo");
    let run = |args: &[&str]| {
        std::process::Command::new(hbk_binary())
            .arg("-r")
            .arg(&repo_path)
            .args(args)
            .env_remove("RESTIC_PASSWORD")
            .env_remove("RESTIC_PASSWORD_FILE")
            .env_remove("HBK_PASSWORD")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    ok(run(&["--insecure-no-password", "init"]));
    let src = dir.path().join("f");
    std::fs::write(&src, "x").unwrap();
    ok(run(&[
        "--insecure-no-password",
        "backup",
        src.to_str().unwrap(),
    ]));
    let without = run(&["snapshots"]);
    assert_eq!(without.status.code(), Some(1), "{}", describe(&without));
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret").unwrap();
    let both = run(&[
        "--insecure-no-password",
        "--password-file",
        pw.to_str().unwrap(),
        "snapshots",
    ]);
    assert_eq!(both.status.code(), Some(1), "{}", describe(&both));
    assert!(
        describe(&both).contains("must not be specified together"),
        "{}",
        describe(&both)
    );
    // A second key with a password opens it the usual way; then an
    // empty-password key can be added from it.
    ok(run(&[
        "--insecure-no-password",
        "key",
        "add",
        "--new-password-file",
        pw.to_str().unwrap(),
    ]));
    ok(run(&["--password-file", pw.to_str().unwrap(), "snapshots"]));
    let empty = run(&[
        "--password-file",
        pw.to_str().unwrap(),
        "key",
        "add",
        "--new-insecure-no-password",
    ]);
    ok(empty);
    let keys = ok(run(&["--insecure-no-password", "key", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_slice(&keys.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    // --key-hint (and RESTIC_KEY_HINT) name the key to try first; the one
    // in use is marked in the listing.
    let current = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = ok(run(&[
        "--insecure-no-password",
        "--key-hint",
        &current[..8],
        "key",
        "list",
        "--json",
    ]));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again, list);
}
