//! restic 0.17–0.19's backup inputs and options (issue 13):
//! `--stdin-from-command`, `--files-from-verbatim`, `--files-from-raw`,
//! `--with-atime` and `--group-by`, checked through restic's view of the
//! snapshots hbk writes.

use std::os::unix::ffi::OsStrExt;

use rand::SeedableRng;
use std::process::Command;

use hbk_tests::drivers::{
    describe, hbk, hbk_command, json_summary, ok, restic, snapshot_ids, Repo,
};
use serde_json::Value;

use crate::tempdir;

/// The paths restic lists in the latest snapshot.
fn listed(repo: &Repo) -> Vec<String> {
    let out = ok(restic(repo, &["ls", "--json", "latest"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["path"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn stdin_from_command_stores_output_and_a_failure_writes_nothing() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let out = ok(hbk(
        &repo,
        &[
            "backup",
            "--stdin-filename",
            "dump.sql",
            "--stdin-from-command",
            "--",
            "sh",
            "-c",
            "printf 'CREATE TABLE t;\\n'; printf 'INSERT 1;\\n'",
        ],
    ));
    assert!(describe(&out).contains("snapshot"), "{}", describe(&out));
    let dumped = ok(restic(&repo, &["dump", "latest", "/dump.sql"]));
    assert_eq!(dumped.stdout, b"CREATE TABLE t;\nINSERT 1;\n");
    assert_eq!(snapshot_ids(&repo).len(), 1);

    let failed = hbk(
        &repo,
        &[
            "backup",
            "--stdin-from-command",
            "--",
            "sh",
            "-c",
            "printf partial; exit 7",
        ],
    );
    assert_eq!(failed.status.code(), Some(1), "{}", describe(&failed));
    assert!(
        describe(&failed).contains("exit status: 7"),
        "{}",
        describe(&failed)
    );
    assert_eq!(
        snapshot_ids(&repo).len(),
        1,
        "a failed command wrote a snapshot"
    );
    ok(restic(&repo, &["check"]));

    let none = hbk(&repo, &["backup", "--stdin-from-command"]);
    assert_eq!(none.status.code(), Some(1), "{}", describe(&none));
}

#[test]
fn files_from_verbatim_and_raw_take_names_as_written() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let names: [&[u8]; 4] = [
        b" leading space",
        b"#not a comment",
        b"new\nline",
        b"latin1-\xe9",
    ];
    for n in names {
        std::fs::write(src.join(std::ffi::OsStr::from_bytes(n)), n).unwrap();
    }
    let full = |n: &[u8]| {
        let mut p = src.as_os_str().as_bytes().to_vec();
        p.push(b'/');
        p.extend_from_slice(n);
        p
    };
    // Lines as written: a leading blank and a leading '#' are part of the name.
    let verbatim = dir.path().join("verbatim");
    std::fs::write(&verbatim, [full(names[0]), full(names[1])].join(&b'\n')).unwrap();
    // NUL-separated: a newline inside a name is fine.
    let raw = dir.path().join("raw");
    let mut raw_bytes = [full(names[2]), full(names[3])].join(&0u8);
    raw_bytes.push(0);
    std::fs::write(&raw, raw_bytes).unwrap();

    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    ok(hbk(
        &repo,
        &[
            "backup",
            "--files-from-verbatim",
            verbatim.to_str().unwrap(),
            "--files-from-raw",
            raw.to_str().unwrap(),
        ],
    ));
    let paths = listed(&repo);
    for n in [names[0], names[1], names[2]] {
        let want = String::from_utf8_lossy(&full(n)).into_owned();
        assert!(paths.contains(&want), "{want:?} not in {paths:?}");
    }
    assert!(paths.iter().any(|p| p.contains("latin1-")), "{paths:?}");
    ok(restic(&repo, &["check", "--read-data"]));

    // From standard input.
    let mut cmd = hbk_command(&repo, &["backup", "--files-from-raw", "-"]);
    cmd.stdin(std::process::Stdio::piped());
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&full(names[1]))
        .unwrap();
    let out = ok(child.wait_with_output().unwrap());
    assert!(describe(&out).contains("snapshot"), "{}", describe(&out));
    let paths = listed(&repo);
    assert!(
        paths.iter().any(|p| p.ends_with("#not a comment")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.ends_with("leading space")),
        "{paths:?}"
    );
}

#[test]
fn with_atime_stores_access_times_and_group_by_picks_the_parent() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let file = src.join("f");
    std::fs::write(&file, "content").unwrap();
    let touch = |args: &[&str]| {
        let status = Command::new("touch")
            .args(args)
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
    };
    touch(&["-m", "-d", "2020-06-01 12:00:00"]);
    touch(&["-a", "-d", "2001-02-03 04:05:06"]);
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let s = src.to_str().unwrap();
    let atime_of = |repo: &Repo| -> (String, String) {
        let out = ok(restic(repo, &["ls", "--json", "latest"]));
        let node = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["name"] == "f")
            .unwrap();
        (
            node["atime"].as_str().unwrap().into(),
            node["mtime"].as_str().unwrap().into(),
        )
    };
    ok(hbk(&repo, &["backup", "--host", "a", s]));
    let (atime, mtime) = atime_of(&repo);
    assert_eq!(atime, mtime, "without --with-atime the mtime stands in");
    touch(&["-a", "-d", "2001-02-03 04:05:06"]);
    ok(hbk(&repo, &["backup", "--host", "a", "--with-atime", s]));
    let (atime, _) = atime_of(&repo);
    assert!(atime.starts_with("2001-02-03T04:05:06"), "{atime}");

    // A new host: no parent by default; with --group-by paths, another
    // host's snapshot of the same paths.
    let summary = |host: &str, args: &[&str]| {
        let mut all = vec!["backup", "--json", "--host", host];
        all.extend(args);
        all.push(s);
        json_summary(&ok(hbk(&repo, &all)))
    };
    assert_eq!(summary("b", &[])["files_unmodified"], 0);
    let grouped = summary("c", &["--group-by", "paths"]);
    assert_eq!(grouped["files_unmodified"], 1, "{grouped}");
    let bad = hbk(&repo, &["backup", "--group-by", "colour", s]);
    assert_eq!(bad.status.code(), Some(1), "{}", describe(&bad));
}

/// `RESTIC_PROGRESS_FPS` sets how often `--json` status messages come
/// (restic's default, and hbk's, is once a second).
#[test]
fn progress_fps_sets_how_often_status_is_printed() {
    let dir = tempdir();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut noise = vec![0u8; 1_500_000];
    rand::RngCore::fill_bytes(&mut rand::rngs::StdRng::seed_from_u64(7), &mut noise);
    std::fs::write(src.join("big"), noise).unwrap();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    // About two seconds at 768 KiB/s.
    let mut cmd = hbk_command(
        &repo,
        &[
            "--json",
            "--limit-upload",
            "768",
            "backup",
            src.to_str().unwrap(),
        ],
    );
    cmd.env("RESTIC_PROGRESS_FPS", "10");
    let out = ok(cmd.output().unwrap());
    let statuses = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"message_type\":\"status\""))
        .count();
    assert!(
        statuses >= 8,
        "{statuses} status messages: {}",
        describe(&out)
    );
}
