use std::sync::{Arc, Mutex};

use hbk_repo::{Backend, BlobType, FileType, Id, IndexPack};

use super::*;
use crate::progress::NoProgress;
use crate::testutil::{node_json, sample, tree_json, TestRepo};

fn run(repo: &Repository, read_data: ReadData) -> CheckReport {
    check(
        repo,
        &CheckOptions {
            read_data,
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap()
}

#[track_caller]
fn assert_clean(r: &CheckReport) {
    assert!(r.errors.is_empty(), "errors: {:#?}", r.errors);
    assert!(r.hints.is_empty(), "hints: {:#?}", r.hints);
    assert!(r.orphaned_packs.is_empty(), "{:?}", r.orphaned_packs);
}

/// Asserts that some error contains every one of `parts`.
#[track_caller]
fn assert_error(r: &CheckReport, parts: &[&str]) {
    assert!(
        r.errors
            .iter()
            .any(|e| parts.iter().all(|p| e.message.contains(p))),
        "no error contains {parts:?}; errors: {:#?}",
        r.errors
    );
}

#[test]
fn healthy_repositories_pass() {
    for version in [1, 2] {
        let s = sample(version);
        let repo = &s.t.repo;
        let compressed = s
            .data_pack
            .blobs
            .iter()
            .all(|b| b.uncompressed_length.is_some());
        assert_eq!(compressed, version == 2);

        let r = run(repo, ReadData::None);
        assert_clean(&r);
        let counts = (r.index_files, r.packs, r.snapshots, r.trees);
        assert_eq!(counts, (1, 2, 1, 2));
        assert_eq!((r.packs_read, r.bytes_read, r.blobs_read), (0, 0, 0));

        let r = run(repo, ReadData::All);
        assert_clean(&r);
        assert_eq!((r.packs_read, r.blobs_read), (2, 4));
        let total: u64 = repo
            .list(FileType::Pack)
            .unwrap()
            .iter()
            .map(|(_, s)| s)
            .sum();
        assert_eq!(r.bytes_read, total);

        let a = run(repo, ReadData::Subset { n: 1, m: 2 });
        let b = run(repo, ReadData::Subset { n: 2, m: 2 });
        assert_clean(&a);
        assert_clean(&b);
        assert_eq!(a.packs_read + b.packs_read, 2);
        let odd = |p: &IndexPack| usize::from(p.id.0[0] % 2 == 1);
        assert_eq!(b.packs_read, odd(&s.data_pack) + odd(&s.tree_pack));

        for (rd, n) in [
            (ReadData::Percent(50.0), 1),
            (ReadData::Percent(100.0), 2),
            (ReadData::Percent(0.1), 1),
            (ReadData::Size(1), 1),
            (ReadData::Size(u64::MAX), 2),
            (ReadData::Subset { n: 1, m: 1 }, 2),
        ] {
            let r = run(repo, rd);
            assert_clean(&r);
            assert_eq!(r.packs_read, n, "{rd:?}");
        }
    }
}

#[test]
fn flipped_byte_is_found_by_read_data() {
    for version in [1, 2] {
        let s = sample(version);
        let pack = s.data_pack.id;
        let mut bytes = s.t.pack_bytes(&pack);
        bytes[20] ^= 0x40; // inside the first blob's ciphertext
        s.t.replace_pack(&pack, &bytes);

        // The size is unchanged: only reading the data finds it.
        assert_clean(&run(&s.t.repo, ReadData::None));
        let r = run(&s.t.repo, ReadData::All);
        let hash = Id::hash(&bytes).to_hex();
        assert_error(
            &r,
            &[&format!(
                "pack {pack}: pack file is damaged: content hash is {hash}"
            )],
        );
        let blob = s.chunks[0].to_hex();
        assert_error(&r, &[&pack.to_hex(), &blob, "data blob", "damaged"]);
        assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);
        assert_eq!((r.packs_read, r.blobs_read), (2, 3));
    }
}

#[test]
fn read_packs_reads_exactly_the_packs_asked_for() {
    let s = sample(2);
    let data = s.data_pack.id;
    let mut bytes = s.t.pack_bytes(&data);
    bytes[20] ^= 0x40;
    s.t.replace_pack(&data, &bytes);
    let run_packs = |ids: Vec<Id>| {
        let opts = CheckOptions {
            read_packs: Some(ids),
            ..Default::default()
        };
        check(&s.t.repo, &opts, &NoProgress).unwrap()
    };
    let other =
        *s.t.repo
            .list(FileType::Pack)
            .unwrap()
            .iter()
            .map(|(id, _)| id)
            .find(|id| **id != data)
            .unwrap();
    let r = run_packs(vec![other]);
    assert_clean(&r);
    assert_eq!(r.packs_read, 1);
    let r = run_packs(vec![data, Id::random()]);
    assert_eq!(r.packs_read, 1, "an unknown id is not read");
    assert_eq!(r.damaged_packs(), vec![data]);
    assert_eq!(run_packs(Vec::new()).packs_read, 0);
}

#[test]
fn damaged_header_is_found_by_read_data() {
    let s = sample(2);
    let pack = s.tree_pack.id;
    let mut bytes = s.t.pack_bytes(&pack);
    let n = bytes.len();
    bytes[n - 10] ^= 1; // in the header's MAC
    s.t.replace_pack(&pack, &bytes);
    let r = run(&s.t.repo, ReadData::All);
    assert_error(&r, &[&pack.to_hex(), "content hash"]);
    assert_error(&r, &[&pack.to_hex(), "header"]);
    // The blobs the index points at are still checked, and are fine.
    assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);
    assert_eq!(r.blobs_read, 4);
}

#[test]
fn missing_pack_is_an_error() {
    let s = sample(1);
    let pack = s.tree_pack.id;
    s.t.backend.remove(FileType::Pack, &pack).unwrap();
    let r = run(&s.t.repo, ReadData::None);
    assert_error(&r, &[&format!("pack {pack}: does not exist")]);
    // The root tree cannot be read, so the walk stops there.
    assert_error(
        &r,
        &[
            &format!("tree {}", s.root),
            &s.snapshot.to_hex(),
            &pack.to_hex(),
        ],
    );
    assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);

    let r = run(&s.t.repo, ReadData::All);
    assert_eq!(r.packs_read, 1);
    assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);
}

#[test]
fn blob_missing_from_index_is_an_error() {
    let s = sample(2);
    let ghost = Id::hash(b"stored nowhere");
    let tree = tree_json(&[node_json("g", "file", &[s.chunks[0], ghost], None)]);
    let tree_id = Id::hash(&tree);
    let p = s.t.write_pack(&[(BlobType::Tree, &tree)], true);
    s.t.write_index(&[p]);
    s.t.write_snapshot(tree_id);
    let r = run(&s.t.repo, ReadData::None);
    assert_eq!(
        messages(&r),
        [format!(
            "tree {tree_id}, file \"/g\": blob {ghost} not found in index"
        )]
    );
    assert_eq!((r.snapshots, r.trees, r.index_files), (2, 3, 2));

    // A tree id used as file content is not a data blob.
    let tree2 = tree_json(&[node_json("h", "file", &[s.subtree], None)]);
    let p = s.t.write_pack(&[(BlobType::Tree, &tree2)], true);
    s.t.write_index(&[p]);
    s.t.write_snapshot(Id::hash(&tree2));
    let r = run(&s.t.repo, ReadData::None);
    assert_error(&r, &[&s.subtree.to_hex(), "not found in index", "\"/h\""]);
}

#[test]
fn truncated_pack_has_the_wrong_size() {
    let s = sample(1);
    let pack = s.data_pack.id;
    let bytes = s.t.pack_bytes(&pack);
    let n = bytes.len();
    s.t.replace_pack(&pack, &bytes[..n - 1]);
    let r = run(&s.t.repo, ReadData::None);
    assert_eq!(
        messages(&r),
        [format!(
            "pack {pack}: unexpected file size: got {}, expected {n}",
            n - 1
        )]
    );
    let r = run(&s.t.repo, ReadData::All);
    assert_error(&r, &[&pack.to_hex(), "content hash"]);
    assert_error(&r, &[&pack.to_hex(), "header"]);
    assert_eq!(r.errors[0].kind, FindingKind::SizeMismatch);
    assert_eq!(r.errors[0].pack(), Some(&pack));
}

#[test]
fn orphaned_and_duplicate_packs() {
    let s = sample(2);
    let orphan = s.t.write_pack(&[(BlobType::Data, b"orphan")], false);
    let second = s.t.write_index(std::slice::from_ref(&s.data_pack));
    let r = run(&s.t.repo, ReadData::All);
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    assert_eq!(r.orphaned_packs, [orphan.id]);
    assert_eq!(r.packs_read, 2, "orphans are not read");
    assert_eq!(r.hints.len(), 1);
    let hint = &r.hints[0];
    for part in [s.data_pack.id.to_hex(), s.index.to_hex(), second.to_hex()] {
        assert!(hint.contains(&part), "{hint}");
    }
    assert!(hint.contains("contained in several indexes"));

    let mut partial = s.data_pack.clone();
    partial.blobs.pop();
    s.t.write_index(&[partial]);
    let r = run(&s.t.repo, ReadData::None);
    assert_error(&r, &[&s.data_pack.id.to_hex(), "different blobs"]);
}

#[test]
fn damaged_index_files_are_errors_and_the_rest_is_used() {
    let s = sample(1);
    let not_json =
        s.t.repo
            .save_unpacked(FileType::Index, b"{not json")
            .unwrap();
    let junk = b"junk that does not decrypt, but is long enough to try".to_vec();
    let junk_id = Id::hash(&junk);
    s.t.backend.write(FileType::Index, &junk_id, &junk).unwrap();
    let misnamed = Id::hash(b"another name");
    s.t.backend
        .write(FileType::Index, &misnamed, &junk)
        .unwrap();
    let r = run(&s.t.repo, ReadData::All);
    assert_eq!(r.errors.len(), 3, "{:#?}", r.errors);
    for id in [not_json, junk_id, misnamed] {
        assert_error(&r, &[&format!("index {id}")]);
    }
    assert_eq!(
        (r.index_files, r.packs, r.trees, r.packs_read),
        (1, 2, 2, 2)
    );
}

#[test]
fn gaps_and_header_mismatches() {
    let t = TestRepo::new(2);
    let p = t.write_pack(
        &[
            (BlobType::Data, b"first blob"),
            (BlobType::Data, b"second blob"),
        ],
        true,
    );
    let mut gap = p.clone();
    gap.blobs[1].offset += 1;
    t.write_index(&[gap]);
    let r = run(&t.repo, ReadData::None);
    assert_error(&r, &[&format!("pack {}: gaps/overlapping blobs", p.id)]);
    assert_eq!(r.errors.len(), 1, "{:#?}", r.errors);
    let r = run(&t.repo, ReadData::All);
    assert_error(
        &r,
        &[
            &p.id.to_hex(),
            &p.blobs[1].id.to_hex(),
            "pack header",
            "index",
        ],
    );

    let t = TestRepo::new(2);
    let p = t.write_pack(
        &[(BlobType::Data, b"a blob"), (BlobType::Data, b"one more")],
        true,
    );
    let mut wrong = p.clone();
    wrong.blobs[0].uncompressed_length = Some(1000);
    wrong.blobs[1].blob_type = BlobType::Tree;
    t.write_index(&[wrong]);
    let r = run(&t.repo, ReadData::None);
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    assert_eq!(r.hints.len(), 1, "mixed pack: {:#?}", r.hints);
    let r = run(&t.repo, ReadData::All);
    assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);
    assert_error(
        &r,
        &[
            &p.id.to_hex(),
            &p.blobs[0].id.to_hex(),
            "uncompressed length 1000",
        ],
    );
    assert_error(&r, &[&p.id.to_hex(), &p.blobs[1].id.to_hex(), "tree blob"]);
}

#[test]
fn bad_nodes_are_errors() {
    let t = TestRepo::new(2);
    let data = t.write_pack(&[(BlobType::Data, b"x")], true);
    let chunk = data.blobs[0].id;
    let nodes = [
        node_json("", "symlink", &[], None),
        node_json("dev0", "irregular", &[], None),
        node_json("nil", "file", &[], None).replace(r#""content":[]"#, r#""content":null"#),
        node_json("nodir", "dir", &[], None),
        node_json("nullblob", "file", &[chunk, Id::default()], None),
        node_json("ok", "file", &[chunk], None),
        node_json("p", "fifo", &[], None),
        node_json("w", "whatever", &[], None),
    ];
    let tree = tree_json(&nodes);
    let tree_id = Id::hash(&tree);
    let tp = t.write_pack(&[(BlobType::Tree, &tree)], true);
    t.write_index(&[data, tp]);
    t.write_snapshot(tree_id);
    let r = run(&t.repo, ReadData::All);
    let tid = tree_id.to_hex();
    assert_error(&r, &[&tid, "empty name"]);
    assert_error(&r, &[&tid, "/dev0", "\"irregular\""]);
    assert_error(&r, &[&tid, "/nil", "content is null"]);
    assert_error(&r, &[&tid, "/nodir", "no subtree"]);
    assert_error(&r, &[&tid, "/nullblob", "blob 1 has a null id"]);
    assert_error(&r, &[&tid, "/w", "\"whatever\""]);
    assert_eq!(r.errors.len(), 6, "{:#?}", r.errors);
}

#[test]
fn snapshots_and_trees() {
    // An empty repository is fine.
    let t = TestRepo::new(1);
    let r = run(&t.repo, ReadData::All);
    assert_clean(&r);
    assert_eq!(
        (r.index_files, r.packs, r.snapshots, r.packs_read),
        (0, 0, 0, 0)
    );

    // A second snapshot of the same tree does not walk it again.
    let s = sample(1);
    s.t.write_snapshot(s.root);
    let r = run(&s.t.repo, ReadData::None);
    assert_clean(&r);
    assert_eq!((r.snapshots, r.trees), (2, 2));

    // A snapshot that does not decrypt, and one whose tree is missing.
    let junk = b"not a sealed snapshot, not at all".to_vec();
    let bad = Id::hash(&junk);
    s.t.backend.write(FileType::Snapshot, &bad, &junk).unwrap();
    let ghost = Id::hash(b"ghost tree");
    let lonely = s.t.write_snapshot(ghost);
    let r = run(&s.t.repo, ReadData::None);
    assert_error(&r, &[&format!("snapshot {bad}")]);
    assert_error(
        &r,
        &[&format!(
            "tree {ghost}: not found in index (referenced by snapshot {lonely} at \"/\")"
        )],
    );
    assert_eq!(r.errors.len(), 2, "{:#?}", r.errors);
    assert_eq!(r.snapshots, 3);
}

#[test]
fn damaged_tree_names_the_path_it_was_found_at() {
    let s = sample(1);
    let pack = s.tree_pack.id;
    let mut bytes = s.t.pack_bytes(&pack);
    bytes[40] ^= 1; // the subtree (first blob)
    s.t.replace_pack(&pack, &bytes);
    let r = run(&s.t.repo, ReadData::None);
    assert_error(
        &r,
        &[
            &format!("tree {}", s.subtree),
            &pack.to_hex(),
            &s.snapshot.to_hex(),
            "\"/d\"",
        ],
    );
    assert_eq!(r.errors.len(), 1, "{:#?}", r.errors);
}

/// Records phase events as (phase name, event).
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, &'static str)>>);

impl Recorder {
    fn push(&self, event: &'static str) {
        let mut v = self.0.lock().unwrap();
        let phase = v
            .iter()
            .rev()
            .find(|(_, e)| *e == "start")
            .map(|(p, _)| p.clone())
            .unwrap_or_default();
        v.push((phase, event));
    }
}

impl crate::progress::Progress for Recorder {
    fn phase_start(&self, phase: &str, _: Option<u64>) {
        self.0.lock().unwrap().push((phase.to_string(), "start"));
    }
    fn phase_advance(&self, items: u64) {
        for _ in 0..items {
            self.push("item");
        }
    }
    fn phase_finish(&self) {
        self.push("finish");
    }
}

#[test]
fn progress_reports_every_phase() {
    let s = sample(2);
    let seen = Recorder::default();
    let opts = CheckOptions {
        read_data: ReadData::All,
        ..Default::default()
    };
    let r = check(&s.t.repo, &opts, &seen).unwrap();
    assert_clean(&r);
    let seen = seen.0.lock().unwrap();
    let count = |phase: CheckPhase, event: &str| {
        seen.iter()
            .filter(|(p, e)| p == phase.name() && *e == event)
            .count()
    };
    for phase in [
        CheckPhase::LoadIndex,
        CheckPhase::Packs,
        CheckPhase::Snapshots,
        CheckPhase::Trees,
        CheckPhase::ReadData,
    ] {
        assert_eq!(count(phase, "start"), 1, "{phase:?}");
        assert_eq!(count(phase, "finish"), 1, "{phase:?}");
    }
    assert_eq!(count(CheckPhase::LoadIndex, "item"), 1);
    assert_eq!(count(CheckPhase::Packs, "item"), 2);
    assert_eq!(count(CheckPhase::Trees, "item"), 2);
    assert_eq!(count(CheckPhase::ReadData, "item"), 2);
}

#[test]
fn restic_repositories_pass() {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/restic-0.14");
    for name in ["repo-v1", "repo-v2"] {
        let dir = base.join(name);
        assert!(
            dir.join("config").exists(),
            "fixture {} missing",
            dir.display()
        );
        let backend: Arc<dyn Backend> = Arc::new(hbk_backend::LocalBackend::new(dir));
        let repo = Repository::open(backend, b"testpass").unwrap();
        let r = run(&repo, ReadData::All);
        assert_clean(&r);
        assert!(
            r.snapshots > 0 && r.trees > 0 && r.packs_read == r.packs,
            "{r:?}"
        );
    }
}

#[test]
fn parse_subsets() {
    let ok = |s: &str| s.parse::<ReadData>().unwrap();
    assert_eq!(ok("1/3"), ReadData::Subset { n: 1, m: 3 });
    assert_eq!(ok(" 2/2 "), ReadData::Subset { n: 2, m: 2 });
    assert_eq!(ok("256/256"), ReadData::Subset { n: 256, m: 256 });
    assert_eq!(ok("10%"), ReadData::Percent(10.0));
    assert_eq!(ok("0.5%"), ReadData::Percent(0.5));
    assert_eq!(ok("100%"), ReadData::Percent(100.0));
    assert_eq!(ok("5"), ReadData::Size(5));
    assert_eq!(ok("10k"), ReadData::Size(10 << 10));
    assert_eq!(ok("2M"), ReadData::Size(2 << 20));
    assert_eq!(ok("3g"), ReadData::Size(3 << 30));
    assert_eq!(ok("1T"), ReadData::Size(1 << 40));
    assert_eq!(
        parse_subset("7/9").unwrap(),
        ReadData::Subset { n: 7, m: 9 }
    );
    for bad in [
        "0/3",
        "4/3",
        "1/0",
        "1/300",
        "a/b",
        "1/",
        "/3",
        "-1/3",
        "1/2/3",
        "0%",
        "100.1%",
        "-5%",
        "%",
        "abc%",
        "nan%",
        "inf%",
        "1e1%",
        "0",
        "",
        "abc",
        "k",
        "1x",
        "1.5",
        "-3",
        "99999999999t",
    ] {
        let e = bad.parse::<ReadData>();
        assert!(e.is_err(), "{bad:?} parsed as {e:?}");
        assert!(e.unwrap_err().to_string().contains("invalid subset"));
    }
}

/// The messages of a report's findings, as `hbk check` prints them.
fn messages(r: &CheckReport) -> Vec<String> {
    r.errors.iter().map(ToString::to_string).collect()
}
