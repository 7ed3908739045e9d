use super::*;
use crate::lock::WriteMode;
use crate::testutil::{exclusive, TestRepo};

fn store(t: &TestRepo, time: &str, host: &str, tags: &[&str]) -> Id {
    let json = serde_json::json!({
        "time": time,
        "tree": "0".repeat(64),
        "paths": ["/src"],
        "hostname": host,
        "tags": tags,
    });
    t.repo
        .save_unpacked(FileType::Snapshot, json.to_string().as_bytes())
        .unwrap()
}

fn remaining(t: &TestRepo) -> Vec<Id> {
    t.ids(FileType::Snapshot)
}

fn sorted(mut ids: Vec<Id>) -> Vec<Id> {
    ids.sort();
    ids
}

#[test]
fn policy_per_group_and_deletion() {
    let t = TestRepo::new(2);
    let a1 = store(&t, "2024-01-01T00:00:00Z", "a", &[]);
    let a2 = store(&t, "2024-01-02T00:00:00Z", "a", &["keep"]);
    let a3 = store(&t, "2024-01-03T00:00:00Z", "a", &[]);
    let b1 = store(&t, "2024-01-01T00:00:00Z", "b", &[]);
    let b2 = store(&t, "2024-01-05T00:00:00Z", "b", &[]);
    let mut opts = ForgetOptions {
        policy: KeepPolicy {
            last: Some(1),
            keep_tags: vec![parse_tag_list("keep")],
            ..KeepPolicy::default()
        },
        ..ForgetOptions::default()
    };
    let report = forget(&t.repo, WriteMode::DryRun, &opts).unwrap();
    assert_eq!(report.groups.len(), 2);
    let g = &report.groups[0];
    assert_eq!(g.key.hostname, "a");
    assert_eq!(g.key.paths, ["/src"]);
    assert_eq!(
        g.keep.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [a3, a2]
    );
    assert_eq!(g.reasons[1].matches, ["has tags [keep]"]);
    assert_eq!(g.remove.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [a1]);
    assert_eq!(report.removed, sorted(vec![a1, b1]));
    assert_eq!(remaining(&t).len(), 5, "a dry run deletes nothing");

    // Filters narrow what is considered at all.
    opts.filter.hosts = vec!["b".into()];
    let report = forget(&t.repo, WriteMode::DryRun, &opts).unwrap();
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.removed, [b1]);

    opts.filter = SnapshotFilter::default();
    let lock = exclusive(&t.repo);
    let report = forget(&t.repo, WriteMode::Locked(&lock), &opts).unwrap();
    drop(lock);
    assert_eq!(report.removed, sorted(vec![a1, b1]));
    assert_eq!(remaining(&t), sorted(vec![a2, a3, b2]));
    assert!(
        t.repo.list(FileType::Lock).unwrap().is_empty(),
        "lock released"
    );

    // Without grouping, one group holds everything.
    opts.group_by = "".parse().unwrap();
    let report = forget(&t.repo, WriteMode::DryRun, &opts).unwrap();
    assert_eq!(report.groups.len(), 1);
    assert_eq!(report.groups[0].key, GroupKey::default());
    assert_eq!(report.removed, [a3]);
}

#[test]
fn an_empty_policy_decides_nothing() {
    let t = TestRepo::new(1);
    store(&t, "2024-01-01T00:00:00Z", "a", &[]);
    let snapshots = list_snapshots(&t.repo, &SnapshotFilter::default()).unwrap();
    let report = decide(
        snapshots,
        &KeepPolicy::default(),
        GroupBy::default(),
        GoTime::now().0,
    );
    assert!(report.policy_empty);
    assert!(report.groups.is_empty());
    assert!(report.removed.is_empty());
    assert_eq!(remaining(&t).len(), 1);
}

#[test]
fn explicit_ids_by_prefix_and_latest() {
    let t = TestRepo::new(2);
    let a = store(&t, "2024-01-01T00:00:00Z", "a", &[]);
    let b = store(&t, "2024-01-02T00:00:00Z", "b", &[]);
    let c = store(&t, "2024-01-03T00:00:00Z", "c", &[]);
    let lock = exclusive(&t.repo);
    let report = forget(
        &t.repo,
        WriteMode::Locked(&lock),
        &ForgetOptions {
            ids: vec![a.to_hex()[..8].to_string(), "latest".into(), "zz".into()],
            filter: SnapshotFilter {
                hosts: vec!["b".into()],
                ..SnapshotFilter::default()
            },
            // A policy is ignored when ids are given.
            policy: KeepPolicy {
                last: Some(10),
                ..KeepPolicy::default()
            },
            ..ForgetOptions::default()
        },
    )
    .unwrap();
    assert!(report.groups.is_empty());
    assert_eq!(report.removed, sorted(vec![a, b]));
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].starts_with("Ignoring \"zz\""));
    assert_eq!(remaining(&t), [c]);

    let report = forget(
        &t.repo,
        WriteMode::DryRun,
        &ForgetOptions {
            ids: vec![c.to_hex()],
            filter: SnapshotFilter {
                hosts: vec!["x".into()],
                ..SnapshotFilter::default()
            },
            ..ForgetOptions::default()
        },
    )
    .unwrap();
    assert_eq!(report.removed, [c]);
    assert_eq!(
        report.warnings,
        ["Ignoring filters as there are explicit snapshot ids given"]
    );
    assert_eq!(remaining(&t), [c]);
}

#[test]
fn decide_sorts_paths_and_reports_groups_in_key_order() {
    let mk = |host: &str, paths: &[&str], time: &str| {
        let json = serde_json::json!({
            "time": time, "tree": "0".repeat(64), "paths": paths, "hostname": host,
        })
        .to_string();
        (
            Id::hash(json.as_bytes()),
            SnapshotFile::from_json(json.as_bytes()).unwrap(),
        )
    };
    let list = vec![
        mk("z", &["/b", "/a"], "2024-01-01T00:00:00Z"),
        mk("y", &["/a", "/b"], "2024-01-02T00:00:00Z"),
        mk("z", &["/a", "/b"], "2024-01-03T00:00:00Z"),
    ];
    let policy = KeepPolicy {
        last: Some(1),
        ..KeepPolicy::default()
    };
    let now = GoTime::now().0;
    let r = decide(list, &policy, GroupBy::default(), now);
    assert_eq!(r.groups.len(), 2);
    assert_eq!(r.groups[0].key.hostname, "y");
    assert_eq!(r.groups[1].remove[0].1.paths, ["/a", "/b"]);
    assert_eq!(r.removed.len(), 1);
}

/// restic 0.19's safety rules: an empty policy is refused unless
/// `--unsafe-allow-remove-all` (which needs a filter) is given, and a
/// policy that keeps nothing of a group removes nothing.
#[test]
fn removing_everything_needs_the_unsafe_flag_and_a_filter() {
    let t = TestRepo::new(2);
    let a1 = store(&t, "2024-01-01T00:00:00Z", "a", &[]);
    let a2 = store(&t, "2024-01-02T00:00:00Z", "a", &[]);
    let b1 = store(&t, "2024-01-01T00:00:00Z", "b", &[]);
    let lock = exclusive(&t.repo);
    let run = |opts: ForgetOptions| forget(&t.repo, WriteMode::Locked(&lock), &opts);
    let err = run(ForgetOptions::default()).unwrap_err().to_string();
    assert!(err.contains("no policy was specified"), "{err}");
    let err = run(ForgetOptions {
        allow_remove_all: true,
        ..ForgetOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("unless a snapshot filter"), "{err}");
    let err = run(ForgetOptions {
        policy: KeepPolicy {
            keep_tags: vec![parse_tag_list("nonexistent")],
            ..KeepPolicy::default()
        },
        ..ForgetOptions::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("refusing to delete last snapshot of snapshot group \"host a"),
        "{err}"
    );
    assert_eq!(remaining(&t), sorted(vec![a1, a2, b1]));

    let report = run(ForgetOptions {
        allow_remove_all: true,
        filter: SnapshotFilter {
            hosts: vec!["a".into()],
            ..SnapshotFilter::default()
        },
        ..ForgetOptions::default()
    })
    .unwrap();
    assert_eq!(report.removed, sorted(vec![a1, a2]));
    assert_eq!(remaining(&t), [b1]);
}
