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
