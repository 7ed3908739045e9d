//! `forget`: on random snapshot histories and random policies, hbk keeps
//! and removes exactly the snapshots restic 0.14 keeps and removes, group
//! by group, with the same `--json` document (reasons and counters too).
//!
//! One repository serves every case: its snapshot files are deleted and
//! rewritten between cases (scrypt makes every process start cost about
//! half a second, so a repository per case would be slow).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use hbk_repo::{FileType, GoTime, Id, Repository, SnapshotFile};
use hbk_tests::drivers::{describe, hbk, ok, restic, Repo};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::tempdir;

/// How many random cases to run (`HBK_FORGET_CASES` overrides).
const CASES: u64 = 60;
/// The first seed (`HBK_FORGET_SEED` overrides, to explore others).
const SEED: u64 = 0x5eed_f06e;

const HOSTS: [&str; 3] = ["alpha", "beta", "gamma"];
const TAGS: [&str; 4] = ["daily", "manual", "keep", "x"];
/// Path sets; the second is stored unsorted, as restic may find it.
const PATH_SETS: [&[&str]; 2] = [&["/srv/data"], &["/home", "/etc"]];
/// Zone offsets in minutes east of UTC.
const OFFSETS: [i32; 12] = [0, 0, 60, 120, -300, -240, 330, 345, 540, -600, 780, -570];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open(repo: &Repo) -> Repository {
    let backend = hbk_backend::open(repo.path.to_str().unwrap()).unwrap();
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    Repository::open(backend, password.trim_end().as_bytes()).unwrap()
}

/// Replaces every snapshot file of the repository with `snapshots`.
fn rewrite_snapshots(r: &Repository, snapshots: &[SnapshotFile]) -> Vec<Id> {
    for (id, _) in r.list(FileType::Snapshot).unwrap() {
        r.backend().remove(FileType::Snapshot, &id).unwrap();
    }
    snapshots
        .iter()
        .map(|sn| {
            r.save_unpacked(FileType::Snapshot, &sn.to_json().unwrap())
                .unwrap()
        })
        .collect()
}

fn snapshot(time: GoTime, host: &str, paths: &[&str], tags: Vec<String>) -> SnapshotFile {
    let json = serde_json::json!({
        "time": time,
        "tree": Id::random(),
        "paths": paths,
        "hostname": host,
        "username": "backup",
        "tags": tags,
    });
    SnapshotFile::from_json(json.to_string().as_bytes()).unwrap()
}

/// 5 to 40 snapshots over several years, in clusters (so hours, days and
/// weeks hold several), with random zones, hosts, path sets and tags.
fn random_history(rng: &mut StdRng) -> Vec<SnapshotFile> {
    let now = GoTime::now().unix_seconds();
    let hosts = &HOSTS[..rng.gen_range(1..=HOSTS.len())];
    let path_sets = &PATH_SETS[..rng.gen_range(1..=PATH_SETS.len())];
    let future = rng.gen_bool(0.15);
    let count = rng.gen_range(5..=40);
    let mut t = now - rng.gen_range(0..4 * 365 * 86400);
    (0..count)
        .map(|_| {
            // Jump somewhere, or stay near the previous snapshot.
            t = match rng.gen_range(0..4) {
                0 => now - rng.gen_range(0..5 * 365 * 86400),
                1 => t + rng.gen_range(-30 * 86400..30 * 86400),
                2 => t + rng.gen_range(-3 * 86400..3 * 86400),
                _ => t + rng.gen_range(-7200..7200),
            };
            if future && rng.gen_bool(0.1) {
                t = now + rng.gen_range(60..60 * 86400);
            }
            let offset = OFFSETS.choose(rng).unwrap() * 60;
            let nanos = rng.gen_range(0..1_000_000_000);
            let time = GoTime::from_unix(t, nanos, offset).unwrap();
            let mut tags: Vec<String> = TAGS
                .iter()
                .filter(|_| rng.gen_bool(0.3))
                .map(|t| t.to_string())
                .collect();
            tags.shuffle(rng);
            snapshot(
                time,
                hosts.choose(rng).unwrap(),
                path_sets.choose(rng).unwrap(),
                tags,
            )
        })
        .collect()
}

fn random_duration(rng: &mut StdRng) -> String {
    let mut s = String::new();
    for (unit, max) in [('y', 3), ('m', 15), ('d', 60), ('h', 72)] {
        if rng.gen_bool(0.35) {
            s.push_str(&format!("{}{unit}", rng.gen_range(0..=max)));
        }
    }
    if s.is_empty() {
        s = format!("{}d", rng.gen_range(1..400));
    }
    if rng.gen_bool(0.03) {
        s.insert(0, '-');
    }
    s
}

/// Random `forget` arguments: keep rules, and sometimes grouping and
/// filters.
fn random_policy(rng: &mut StdRng, hosts_present: &BTreeSet<String>) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    for flag in [
        "--keep-last",
        "--keep-hourly",
        "--keep-daily",
        "--keep-weekly",
        "--keep-monthly",
        "--keep-yearly",
    ] {
        if rng.gen_bool(0.3) {
            let n = if rng.gen_bool(0.05) {
                rng.gen_range(-1..=0)
            } else {
                rng.gen_range(1..=6)
            };
            args.push(format!("{flag}={n}"));
        }
    }
    for flag in [
        "--keep-within",
        "--keep-within-hourly",
        "--keep-within-daily",
        "--keep-within-weekly",
        "--keep-within-monthly",
        "--keep-within-yearly",
    ] {
        if rng.gen_bool(0.15) {
            args.push(format!("{flag}={}", random_duration(rng)));
        }
    }
    if rng.gen_bool(0.25) {
        for _ in 0..rng.gen_range(1..=2) {
            let list = match rng.gen_range(0..5) {
                0 => String::new(),
                1 => format!(
                    "{},{}",
                    TAGS.choose(rng).unwrap(),
                    TAGS.choose(rng).unwrap()
                ),
                _ => TAGS.choose(rng).unwrap().to_string(),
            };
            args.push(format!("--keep-tag={list}"));
        }
    }
    if rng.gen_bool(0.3) {
        let g = [
            "",
            "host",
            "paths",
            "tags",
            "host,tags",
            "paths,tags",
            "host,paths,tags",
        ]
        .choose(rng)
        .unwrap();
        args.push(format!("--group-by={g}"));
    }
    if rng.gen_bool(0.2) {
        let hosts: Vec<&String> = hosts_present.iter().collect();
        args.push(format!("--host={}", hosts.choose(rng).unwrap()));
    }
    if rng.gen_bool(0.1) {
        args.push(format!("--tag={}", TAGS.choose(rng).unwrap()));
    }
    if rng.gen_bool(0.1) {
        // A whole path set: restic 0.14 accepts snapshots holding all the
        // given paths, hbk's filter the exact set; with whole, disjoint
        // sets the two agree.
        for p in *PATH_SETS.choose(rng).unwrap() {
            args.push(format!("--path={p}"));
        }
    }
    args
}

/// The groups of a `forget --json` output, keyed by (host, paths, tags);
/// no output at all means no groups.
fn groups(out: &Output) -> BTreeMap<String, serde_json::Value> {
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return BTreeMap::new();
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)));
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let key = format!("host={} paths={} tags={}", g["host"], g["paths"], g["tags"]);
            (key, g.clone())
        })
        .collect()
}

fn ids(list: &serde_json::Value) -> BTreeSet<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn forget_decides_like_restic() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let r = open(&repo);
    let cases = env_u64("HBK_FORGET_CASES", CASES);
    let seed = env_u64("HBK_FORGET_SEED", SEED);
    let mut removed_any = 0;
    let mut refused = 0;
    for case in 0..cases {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(case));
        let history = random_history(&mut rng);
        rewrite_snapshots(&r, &history);
        let hosts: BTreeSet<String> = history.iter().map(|s| s.hostname.clone()).collect();
        let policy = random_policy(&mut rng, &hosts);
        let mut args: Vec<&str> = vec!["forget", "--dry-run", "--json"];
        args.extend(policy.iter().map(String::as_str));
        // Both only read (restic's exclusive lock does not stop hbk's dry
        // run, which takes none), so run them side by side.
        let mut restic_args = vec!["--no-cache"];
        restic_args.extend(&args);
        let (theirs, ours) = std::thread::scope(|s| {
            let t = s.spawn(|| restic(&repo, &restic_args));
            let o = hbk(&repo, &args);
            (t.join().unwrap(), o)
        });
        let what = format!("case {case} (seed {seed}): forget {}", policy.join(" "));
        let theirs = ok(theirs);
        let a = groups(&theirs);
        // restic 0.19 (which hbk follows) refuses what 0.14 still did: a
        // policy keeping nothing of some group, and no policy at all.
        let keeps_nothing = a.values().any(|g| ids(&g["keep"]).is_empty());
        let removes_nothing = a.values().all(|g| ids(&g["remove"]).is_empty());
        if !ours.status.success() {
            let err = String::from_utf8_lossy(&ours.stderr);
            assert_eq!(ours.status.code(), Some(1), "{what}: {err}");
            if err.contains("refusing to delete last snapshot") {
                assert!(
                    keeps_nothing,
                    "{what}: refused, restic kept some of each group: {err}"
                );
            } else {
                assert!(err.contains("no policy was specified"), "{what}: {err}");
                assert!(
                    removes_nothing,
                    "{what}: hbk saw no policy, restic removed some"
                );
            }
            refused += 1;
            continue;
        }
        assert!(
            !keeps_nothing,
            "{what}: hbk did not refuse to empty a group"
        );
        let b = groups(&ours);
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{what}: groups differ"
        );
        for (key, g) in &a {
            let h = &b[key];
            assert_eq!(ids(&g["keep"]), ids(&h["keep"]), "{what}: kept in {key}");
            assert_eq!(
                ids(&g["remove"]),
                ids(&h["remove"]),
                "{what}: removed in {key}"
            );
            removed_any += ids(&g["remove"]).len();
            assert_eq!(g, h, "{what}: JSON of group {key}");
        }
    }
    assert!(removed_any > 0, "no case removed anything");
    assert!(refused < cases / 2, "{refused} of {cases} cases refused");
}

#[test]
fn forget_deletes_and_restic_agrees() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    let r = open(&repo);
    let base = GoTime::now().unix_seconds() - 86400 * 30;
    let history: Vec<SnapshotFile> = (0..6)
        .map(|i| {
            let time = GoTime::from_unix(base + i * 3600, 0, 3600).unwrap();
            snapshot(time, "alpha", &["/srv/data"], vec![])
        })
        .collect();
    let written = rewrite_snapshots(&r, &history);
    let out = ok(hbk(&repo, &["forget", "--keep-last", "2"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("keep 2 snapshots:"), "{text}");
    assert!(text.contains("remove 4 snapshots:"), "{text}");
    let listed = |repo: &Repo| -> BTreeSet<String> {
        let out = ok(restic(repo, &["--no-cache", "snapshots", "--json"]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ids(&v)
    };
    let newest: BTreeSet<String> = written[4..].iter().map(Id::to_hex).collect();
    assert_eq!(listed(&repo), newest);
    assert!(
        r.list(FileType::Lock).unwrap().is_empty(),
        "lock left behind"
    );

    // By id prefix: the snapshot goes, the other stays.
    let prefix = &written[5].to_hex()[..10];
    let out = ok(hbk(&repo, &["forget", prefix]));
    assert!(out.stderr.is_empty(), "{}", describe(&out));
    assert_eq!(listed(&repo), [written[4].to_hex()].into_iter().collect());

    // A policy that would keep nothing of a group is refused, and so is
    // no policy at all (restic 0.19): nothing removed.
    for args in [
        &["forget", "--keep-tag", "none"][..],
        &["forget", "--prune"],
    ] {
        let out = hbk(&repo, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", describe(&out));
    }
    assert_eq!(listed(&repo), [written[4].to_hex()].into_iter().collect());

    // Removing all takes --unsafe-allow-remove-all and a filter. With
    // --prune, the removal is followed by a prune under the same lock
    // (nothing to prune here: the snapshots point at no stored data).
    let out = ok(hbk(
        &repo,
        &[
            "forget",
            "--unsafe-allow-remove-all",
            "--host",
            "alpha",
            "--prune",
        ],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("running prune"), "{}", describe(&out));
    assert!(listed(&repo).is_empty());
    assert!(
        r.list(FileType::Lock).unwrap().is_empty(),
        "lock left behind"
    );
}
