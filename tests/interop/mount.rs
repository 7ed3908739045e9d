//! `hbk mount` on a real FUSE mount (the tests run as root with
//! /dev/fuse; they fail, not skip, without it): the edge-case tree backed
//! up by restic and by hbk reads back through the mount identical in
//! bytes and metadata, random ranges of a large file match, a snapshot
//! made while mounted appears, and SIGTERM leaves no mount behind.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use hbk_tests::compare::assert_same_tree;
use hbk_tests::drivers::{hbk, hbk_command, ok, restic, Repo};
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::restore::reference_options;
use crate::{edge_tree, restored, tempdir};

/// A running `hbk mount`; killed and unmounted when dropped.
struct Mount {
    child: Child,
    at: PathBuf,
}

impl Mount {
    fn start(repo: &Repo, at: &Path, extra: &[&str]) -> Mount {
        std::fs::create_dir_all(at).unwrap();
        let mut args = vec!["mount"];
        args.extend_from_slice(extra);
        args.push(at.to_str().unwrap());
        let child = hbk_command(repo, &args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let m = Mount {
            child,
            at: at.to_path_buf(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !is_mounted(at) {
            assert!(
                Instant::now() < deadline,
                "no FUSE mount at {}",
                at.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        m
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = nix::mount::umount2(&self.at, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Whether /proc/self/mounts lists a FUSE mount at `at`.
fn is_mounted(at: &Path) -> bool {
    let at = std::fs::canonicalize(at).unwrap_or(at.to_path_buf());
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| {
            let mut f = l.split(' ');
            let (_, point, kind) = (f.next(), f.next(), f.next());
            point == at.to_str() && kind.is_some_and(|k| k.starts_with("fuse"))
        })
}

fn snapshot_ids(repo: &Repo) -> Vec<String> {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["short_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn mount_reads_restic_and_hbk_snapshots_back_identically() {
    let (src, _) = edge_tree();
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(restic(&repo, &["init", "--repository-version", "2"]));
    ok(restic(
        &repo,
        &["backup", "--tag", "by-restic", src.to_str().unwrap()],
    ));
    ok(hbk(
        &repo,
        &[
            "backup",
            "--force",
            "--tag",
            "by-hbk",
            src.to_str().unwrap(),
        ],
    ));
    let ids = snapshot_ids(&repo);
    assert_eq!(ids.len(), 2);
    let mnt = dir.path().join("mnt");
    let m = Mount::start(&repo, &mnt, &[]);
    for id in &ids {
        assert_same_tree(
            src,
            &restored(&mnt.join("ids").join(id), src),
            reference_options(),
        );
    }
    // restic's layout: times with `latest`, hosts, tags.
    let names = |p: &str| {
        let mut v: Vec<String> = std::fs::read_dir(mnt.join(p))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(""), ["hosts", "ids", "snapshots", "tags"]);
    assert_eq!(names("tags"), ["by-hbk", "by-restic"]);
    assert_eq!(names("snapshots").len(), 3, "two times and latest");
    let latest = std::fs::read_link(mnt.join("snapshots/latest")).unwrap();
    assert!(names("snapshots").contains(&latest.to_str().unwrap().to_string()));
    assert_same_tree(
        src,
        &restored(&mnt.join("tags/by-hbk/latest"), src),
        reference_options(),
    );
    // Read-only.
    assert!(std::fs::write(mnt.join("ids").join(&ids[0]).join("x"), b"x").is_err());
    drop(m);
    assert!(!is_mounted(&mnt));

    // Filters and --owner-root: only hbk's snapshot, everything root's.
    let m = Mount::start(&repo, &mnt, &["--tag", "by-hbk", "--owner-root"]);
    assert_eq!(names("ids").len(), 1);
    let mut owners = std::collections::BTreeSet::new();
    let mut stack = vec![mnt.join("ids")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            owners.insert((
                std::os::unix::fs::MetadataExt::uid(&meta),
                std::os::unix::fs::MetadataExt::gid(&meta),
            ));
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert_eq!(owners.into_iter().collect::<Vec<_>>(), [(0, 0)]);
    drop(m);
}

/// Random ranges of a large file read through the mount match the
/// source; a snapshot made while mounted appears; SIGTERM unmounts.
#[test]
fn mount_serves_ranges_sees_new_snapshots_and_unmounts_on_sigterm() {
    let dir = tempdir();
    let src = dir.path().join("big");
    std::fs::create_dir_all(&src).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut data = vec![0u8; 48 << 20];
    rng.fill(&mut data[..]);
    std::fs::write(src.join("image.raw"), &data).unwrap();
    std::fs::create_dir_all(dir.path().join("repo")).unwrap();
    let repo = Repo::new(&dir.path().join("repo"));
    ok(hbk(&repo, &["init"]));
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let mnt = dir.path().join("mnt");
    let mut m = Mount::start(
        &repo,
        &mnt,
        &[
            "--path-template",
            "by-time/%T",
            "--time-template",
            "2006-01-02_15-04-05",
            "--blob-cache",
            "8",
        ],
    );
    let times: Vec<String> = std::fs::read_dir(mnt.join("by-time"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(times.len(), 2, "one time and latest: {times:?}");
    let file = restored(&mnt.join("by-time/latest"), &src).join("image.raw");
    let mut f = std::fs::File::open(&file).unwrap();
    assert_eq!(f.metadata().unwrap().len(), data.len() as u64);
    for _ in 0..200 {
        let at = rng.gen_range(0..data.len());
        let len = rng.gen_range(1..300_000).min(data.len() - at);
        let mut buf = vec![0u8; len];
        f.seek(SeekFrom::Start(at as u64)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(buf == data[at..at + len], "bytes {at}..{} differ", at + len);
    }
    let mut whole = Vec::new();
    std::fs::File::open(&file)
        .unwrap()
        .read_to_end(&mut whole)
        .unwrap();
    assert!(whole == data, "a sequential read matches");

    // A new snapshot shows up without remounting.
    std::fs::write(src.join("new.txt"), b"new").unwrap();
    ok(hbk(&repo, &["backup", src.to_str().unwrap()]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = std::fs::read_dir(mnt.join("by-time")).unwrap().count();
        if n == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "the new snapshot did not appear");
        std::thread::sleep(Duration::from_millis(250));
    }
    let new = restored(&mnt.join("by-time/latest"), &src).join("new.txt");
    assert_eq!(std::fs::read(new).unwrap(), b"new");

    // SIGTERM: unmounted, nothing left behind.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(m.child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = m.child.wait().unwrap();
    assert!(!is_mounted(&mnt), "still mounted after SIGTERM ({status})");
    assert!(std::fs::read_dir(&mnt).unwrap().next().is_none());
}

/// A mount point inside the repository is refused; one whose FUSE
/// process died is named as stale, with the command that clears it.
#[test]
fn mount_names_a_stale_mount() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    ok(hbk(&repo, &["init"]));
    // Inside the repository: refused (reading it through the mount would
    // deadlock).
    let inside = repo.path.join("data");
    let out = hbk(&repo, &["mount", inside.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("overlaps the local repository"), "{text}");

    let mnt = dir.path().join("mnt");
    let mut m = Mount::start(&repo, &mnt, &[]);
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    let out = hbk(&repo, &["mount", mnt.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("stale FUSE mount") && text.contains("fusermount -u"),
        "{text}"
    );
}
