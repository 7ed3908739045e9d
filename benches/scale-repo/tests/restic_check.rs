//! A generated repository is a real one: restic 0.14 checks every byte of
//! it, and hbk's streamed index load agrees with the generic parser on it.

use std::process::Command;
use std::sync::Arc;

use hbk_repo::{BlobType, Index, KdfParams, Repository};
use hbk_scale_repo::{generate, Layout};

const PASSWORD: &str = "scale";

#[test]
fn restic_checks_all_data_and_hbk_loads_the_same_index_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let layout = Layout {
        blobs: 20_000,
        blobs_per_pack: 3_000,
        packs_per_index: 2,
        ..Layout::default()
    };
    let backend = Arc::new(hbk_backend::LocalBackend::new(&repo));
    let summary = generate(
        backend.clone(),
        PASSWORD.as_bytes(),
        KdfParams::INSECURE_FOR_TESTS,
        &layout,
    )
    .unwrap();
    // 7 packs of data (the last one partial), 4 index files, one tree pack.
    assert_eq!(
        (summary.data_blobs, summary.packs, summary.index_files),
        (20_000, 8, 4)
    );

    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let restic = |args: &[&str]| {
        let out = Command::new("restic")
            .arg("-r")
            .arg(&repo)
            .arg("--password-file")
            .arg(&password_file)
            .arg("--no-cache")
            .args(args)
            .env_remove("RESTIC_REPOSITORY")
            .env_remove("RESTIC_PASSWORD")
            .output()
            .expect("restic 0.14 must be installed (scripts/test.sh installs it)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "restic {args:?} failed:\n{text}");
        text
    };
    let check = restic(&["check", "--read-data"]);
    assert!(check.contains("no errors were found"), "{check}");
    let ls = restic(&["ls", "latest"]);
    assert!(ls.contains("/blob-0"), "{ls}");

    let opened = Repository::open(backend, PASSWORD.as_bytes()).unwrap();
    let files = opened.index_files().unwrap();
    let generic = Index::from_files(files.iter().map(|(_, f)| f));
    let streamed = opened.load_index().unwrap();
    assert_eq!(streamed.len(BlobType::Data), 20_000);
    assert_eq!(streamed.len(BlobType::Tree), 1);
    assert_eq!(streamed.packs(), generic.packs());
    for (_, file) in &files {
        for pack in &file.packs {
            for b in &pack.blobs {
                let got = streamed.get(b.blob_type, &b.id);
                assert_eq!(got, generic.get(b.blob_type, &b.id));
                assert_eq!(got.map(|l| (l.pack, l.offset)), Some((pack.id, b.offset)));
            }
        }
    }
    let indexed = opened.into_indexed().unwrap();
    let snapshot = indexed.snapshots().unwrap();
    let tree = indexed.tree(&snapshot[0].1.tree).unwrap();
    let content = tree.nodes[0].content.clone().unwrap();
    let mut expected = Vec::new();
    hbk_scale_repo::content::blob_content(layout.seed, 0, &mut expected);
    assert_eq!(indexed.blob(BlobType::Data, &content[0]).unwrap(), expected);
}
