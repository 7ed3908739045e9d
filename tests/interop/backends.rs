//! Remote backends (issue 4): hbk and restic on one S3 bucket (moto) and
//! one REST server (`rclone serve restic`), both ways; the backend
//! conformance suite (`hbk_backend::testsuite`) on both; faults injected
//! by a proxy.

use std::process::Output;

use hbk_backend::{testsuite, Options, RetryPolicy};
use hbk_repo::{FileType, Id};
use hbk_tests::compare::assert_same_tree;
use hbk_tests::drivers::{describe, json_summary, ok};
use hbk_tests::faults::{FaultProxy, Mode};
use hbk_tests::servers::{Remote, RestServer, S3Server};

use crate::restore::reference_options;
use crate::{edge_tree, restored, tempdir};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// hbk writes, both tools read: init, backup, restore, check on hbk's
/// side; `check --read-data` and restore on restic's.
fn hbk_writes_both_read(remote: &Remote) {
    let (src, _) = edge_tree();
    ok(remote.hbk(&["init"]));
    let out = ok(remote.hbk(&["backup", "--json", src.to_str().unwrap()]));
    assert!(json_summary(&out)["data_blobs"].as_u64().unwrap() > 0);
    let dir = tempdir();
    let t = dir.path().join("hbk");
    ok(remote.hbk(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--verify",
    ]));
    assert_same_tree(src, &restored(&t, src), reference_options());
    ok(remote.hbk(&["check", "--read-data"]));
    ok(remote.restic(&["check", "--read-data"]));
    let t = dir.path().join("restic");
    ok(remote.restic(&["restore", "latest", "--target", t.to_str().unwrap()]));
    assert_same_tree(src, &restored(&t, src), reference_options());
}

/// restic writes, hbk reads and restores.
fn restic_writes_hbk_reads(remote: &Remote) {
    let (src, _) = edge_tree();
    ok(remote.restic(&["init"]));
    ok(remote.restic(&["backup", "-q", src.to_str().unwrap()]));
    let out = ok(remote.hbk(&["snapshots", "--json"]));
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps.as_array().map(Vec::len), Some(1), "{snaps}");
    ok(remote.hbk(&["check", "--read-data"]));
    let dir = tempdir();
    let t = dir.path().join("hbk");
    ok(remote.hbk(&[
        "restore",
        "latest",
        "--target",
        t.to_str().unwrap(),
        "--verify",
    ]));
    assert_same_tree(src, &restored(&t, src), reference_options());
}

#[test]
fn s3_hbk_and_restic_share_a_bucket() {
    let s3 = S3Server::start();
    hbk_writes_both_read(&Remote::new(s3.url(), s3.env()));
}

#[test]
fn s3_restic_repository_is_read_by_hbk() {
    let s3 = S3Server::start();
    // A prefix inside the bucket, as restic allows.
    let url = format!("{}/some/prefix", s3.url());
    restic_writes_hbk_reads(&Remote::new(url, s3.env()));
}

#[test]
fn rest_hbk_and_restic_share_a_server_with_basic_auth() {
    let rest = RestServer::start_with(Some(("hbk", "p@ss:w0rd")), false);
    hbk_writes_both_read(&Remote::new(rest.url(), rest.env()));
}

#[test]
fn rest_restic_repository_is_read_by_hbk() {
    let rest = RestServer::start();
    restic_writes_hbk_reads(&Remote::new(rest.url(), rest.env()));
}

#[test]
fn s3_init_creates_a_missing_bucket() {
    let s3 = S3Server::start();
    let url = format!("s3:http://127.0.0.1:{}/not-yet-there", s3.port());
    let remote = Remote::new(url, s3.env());
    ok(remote.hbk(&["init"]));
    ok(remote.restic(&["check"]));
    let again = remote.hbk(&["init"]);
    assert!(!again.status.success(), "second init: {}", describe(&again));
}

#[test]
fn rest_secrets_stay_out_of_output() {
    let rest = RestServer::start_with(Some(("alice", "TopSecret123")), false);
    let remote = Remote::new(rest.url(), rest.env());
    let out = ok(remote.hbk(&["init"]));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!all.contains("TopSecret123"), "{all}");
    // A wrong password fails at once (no retries of a 401) and says why.
    let wrong = remote.location.replace("TopSecret123", "wrong");
    let remote = Remote::new(wrong, vec![]);
    let start = std::time::Instant::now();
    let out = remote.hbk(&["-v", "snapshots"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("retrying"), "{err}");
    assert!(!err.contains("wrong@") && !err.contains(":wrong"), "{err}");
    assert!(start.elapsed().as_secs() < 20);
}

#[test]
fn rest_append_only_server_refusing_deletes_is_reported() {
    let rest = RestServer::start_with(None, true);
    let remote = Remote::new(rest.url(), rest.env());
    let dir = tempdir();
    std::fs::write(dir.path().join("f"), b"hello").unwrap();
    ok(remote.hbk(&["init"]));
    ok(remote.hbk(&["backup", dir.path().to_str().unwrap()]));
    let out = ok(remote.hbk(&["snapshots", "--json"]));
    let snaps: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = snaps[0]["id"].as_str().unwrap().to_string();
    let out = remote.hbk(&["forget", &id]);
    assert!(!out.status.success(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("append-only"), "{err}");
}

fn fast_options() -> Options {
    Options::new().with_retry_policy(RetryPolicy {
        max_attempts: 3,
        initial_delay: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(100),
        ..RetryPolicy::default()
    })
}

/// The conformance suite on moto, each check in a new bucket under a
/// prefix, with a storage class for packs.
#[test]
fn s3_backend_conformance() {
    let s3 = S3Server::start();
    for (k, v) in s3.env() {
        std::env::set_var(k, v);
    }
    let opts = Options::parse(&["s3.storage-class=STANDARD_IA", "s3.connections=2"])
        .unwrap()
        .with_retry_policy(fast_options().retry_policy().unwrap());
    let url = || format!("{}/repo", s3.url());
    testsuite::run(&|| hbk_backend::open_with(&url(), &opts).unwrap());
    // restic's layout: everything under the prefix, packs in data/XX/.
    let bucket = s3.new_bucket();
    let b = hbk_backend::open_with(
        &format!("s3:http://127.0.0.1:{}/{bucket}/repo", s3.port()),
        &opts,
    )
    .unwrap();
    b.create().unwrap();
    b.write(FileType::Pack, &Id::hash(b"pack"), b"pack")
        .unwrap();
    b.write(FileType::Config, &Id::default(), b"cfg").unwrap();
    let (_, listing) =
        hbk_tests::servers::http(s3.port(), "GET", &format!("/{bucket}?list-type=2")).unwrap();
    assert!(listing.contains("<Key>repo/config</Key>"), "{listing}");
    assert!(listing.contains("<Key>repo/data/"), "{listing}");
}

/// The conformance suite on `rclone serve restic` with basic auth, each
/// check in a new repository; the password never shows in the location.
#[test]
fn rest_backend_conformance() {
    let rest = RestServer::start_with(Some(("u", "secret")), false);
    testsuite::run(&|| {
        let b = hbk_backend::open_with(&rest.url(), &fast_options()).unwrap();
        assert!(!b.location().contains("secret"), "{}", b.location());
        b
    });
}

/// Backs up through a proxy failing 10% of requests: the backup
/// completes, the retries show under `-v`, and both tools check it.
fn backup_with_faults(through: &Remote, direct: &Remote, proxy: &FaultProxy) {
    let (src, _) = edge_tree();
    ok(direct.hbk(&["init"]));
    proxy.set_mode(Mode::Flaky(0.10));
    let out = through.hbk(&[
        "-v",
        "-o",
        "retry.initial-delay-ms=50",
        "backup",
        src.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "backup with faults: {}",
        describe(&out)
    );
    assert!(
        proxy.injected() > 0,
        "no faults injected in {} requests",
        proxy.requests()
    );
    assert!(stderr(&out).contains("retrying"), "{}", describe(&out));
    proxy.set_mode(Mode::Pass);
    ok(direct.hbk(&["check", "--read-data"]));
    ok(direct.restic(&["check", "--read-data"]));
    let dir = tempdir();
    let t = dir.path().join("r");
    ok(through.hbk(&["restore", "latest", "--target", t.to_str().unwrap()]));
    assert_same_tree(src, &restored(&t, src), reference_options());
}

/// The server goes away in the middle of a backup: hbk gives up with a
/// clear message; once it is back, a new backup completes and checks pass.
fn server_down_mid_backup(through: &Remote, direct: &Remote, proxy: &FaultProxy) {
    let (src, _) = edge_tree();
    ok(direct.hbk(&["init"]));
    proxy.set_mode(Mode::RefuseAfterUploads(2));
    let out = through.hbk(&[
        "-v",
        "-o",
        "retry.max-attempts=3",
        "-o",
        "retry.initial-delay-ms=50",
        "backup",
        src.to_str().unwrap(),
    ]);
    assert!(
        !out.status.success(),
        "backup with the server down: {}",
        describe(&out)
    );
    assert_eq!(proxy.mode(), Mode::Refuse, "the server never went down");
    let err = stderr(&out);
    let fatal = err
        .lines()
        .find(|l| l.starts_with("Fatal:"))
        .unwrap_or_else(|| panic!("no Fatal: line: {}", describe(&out)));
    assert!(fatal.contains("giving up after 3 attempts"), "{fatal}");
    assert!(
        fatal.contains("127.0.0.1"),
        "error does not name the backend: {fatal}"
    );
    proxy.set_mode(Mode::Pass);
    ok(through.hbk(&["backup", src.to_str().unwrap()]));
    ok(direct.hbk(&["check", "--read-data"]));
    ok(direct.restic(&["unlock"]));
    ok(direct.restic(&["check", "--read-data"]));
}

fn s3_pair() -> (S3Server, FaultProxy, Remote, Remote) {
    s3_pair_on(S3Server::start())
}

/// A fresh bucket on `s3` with a pass-through proxy in front: the server,
/// the proxy, the repository directly and through the proxy.
pub(crate) fn s3_pair_on(s3: S3Server) -> (S3Server, FaultProxy, Remote, Remote) {
    let bucket = s3.new_bucket();
    let proxy = FaultProxy::start(s3.port(), Mode::Pass);
    let direct = Remote::new(
        format!("s3:http://127.0.0.1:{}/{bucket}", s3.port()),
        s3.env(),
    );
    let through = Remote::new(
        format!("s3:http://127.0.0.1:{}/{bucket}", proxy.port()),
        s3.env(),
    );
    (s3, proxy, direct, through)
}

/// A REST server with a pass-through proxy in front: the server, the
/// proxy, a fresh repository directly and through the proxy.
pub(crate) fn rest_pair() -> (RestServer, FaultProxy, Remote, Remote) {
    let rest = RestServer::start();
    let proxy = FaultProxy::start(rest.port(), Mode::Pass);
    let direct_url = rest.url();
    let through_url = direct_url.replace(
        &format!(":{}/", rest.port()),
        &format!(":{}/", proxy.port()),
    );
    let direct = Remote::new(direct_url, rest.env());
    let through = Remote::new(through_url, rest.env());
    (rest, proxy, direct, through)
}

#[test]
fn s3_backup_completes_with_ten_percent_faults() {
    let (_s3, proxy, direct, through) = s3_pair();
    backup_with_faults(&through, &direct, &proxy);
}

#[test]
fn rest_backup_completes_with_ten_percent_faults() {
    let (_rest, proxy, direct, through) = rest_pair();
    backup_with_faults(&through, &direct, &proxy);
}

#[test]
fn s3_server_down_mid_backup_then_recovers() {
    let (_s3, proxy, direct, through) = s3_pair();
    server_down_mid_backup(&through, &direct, &proxy);
}

#[test]
fn rest_server_down_mid_backup_then_recovers() {
    let (_rest, proxy, direct, through) = rest_pair();
    server_down_mid_backup(&through, &direct, &proxy);
}

/// Every upload that signs its payload carries its body's SHA-256, which
/// AWS and MinIO check (moto and `rclone serve s3` do not; the proxy
/// checks it here): packs are signed with their id, the rest with the
/// hash `object_store` computes.
#[test]
fn s3_uploads_are_signed_with_their_payload_hash() {
    let (_s3, proxy, direct, through) = s3_pair();
    proxy.set_mode(Mode::CheckPayloads);
    let (src, _) = edge_tree();
    ok(through.hbk(&["init"]));
    ok(through.hbk(&["backup", src.to_str().unwrap()]));
    assert_eq!(proxy.payload_mismatches(), 0);
    assert!(
        proxy.checked_uploads() > 0,
        "no pack upload signed its payload: {:?}",
        proxy.request_lines()
    );
    ok(direct.restic(&["check", "--read-data"]));
}

#[test]
fn s3_second_read_fetches_no_metadata() {
    let (_s3, proxy, direct, through) = s3_pair();
    let (src, _) = edge_tree();
    ok(direct.restic(&["init"]));
    ok(direct.restic(&["backup", "-q", src.to_str().unwrap()]));
    let metadata_gets = |lines: Vec<String>| {
        lines
            .into_iter()
            .filter(|l| {
                l.starts_with("GET ") && (l.contains("/index/") || l.contains("/snapshots/"))
            })
            .filter(|l| !l.contains("list-type") && !l.contains("prefix="))
            .count()
    };
    ok(through.hbk(&["ls", "latest"]));
    let first = metadata_gets(proxy.request_lines());
    assert!(first >= 2, "first run read {first} index/snapshot files");
    proxy.clear_request_lines();
    ok(through.hbk(&["ls", "latest"]));
    ok(through.hbk(&["snapshots"]));
    let lines = proxy.request_lines();
    assert_eq!(metadata_gets(lines.clone()), 0, "{lines:#?}");
    // --no-cache goes to the server again.
    proxy.clear_request_lines();
    ok(through.hbk(&["--no-cache", "ls", "latest"]));
    assert!(metadata_gets(proxy.request_lines()) >= 2);
}
