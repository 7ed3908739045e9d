//! The removable-disk guard: `--require-mount` refuses, without writing a
//! byte, while the disk is not mounted, and works once a filesystem is
//! mounted there (a tmpfs mounted by the test, which runs as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use hbk_tests::drivers::{describe, hbk, ok, restic, Repo};

use crate::tempdir;

/// Every file below `dir` with its size, to prove nothing changed.
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                todo.push(e.path());
            }
            out.push((e.path(), m.len()));
        }
    }
    out.sort();
    out
}

/// A tmpfs mounted on a directory until dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "hbk-usb-test"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root: {}",
            describe(&out)
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

#[test]
fn require_mount_refuses_an_unmounted_disk_and_accepts_a_mounted_one() {
    let dir = tempdir();
    let usb = dir.path().join("usb");
    std::fs::create_dir(&usb).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("file"), b"precious").unwrap();
    let data_arg = data.to_str().unwrap();
    let repo = Repo {
        path: usb.join("repo"),
        password_file: dir.path().join("password"),
    };
    std::fs::write(&repo.password_file, "pw\n").unwrap();

    // Not mounted: init writes nothing.
    let explicit = format!("--require-mount={}", usb.display());
    for guard in [vec!["--require-mount"], vec![explicit.as_str()]] {
        let mut args = guard.clone();
        args.push("init");
        let out = hbk(&repo, &args);
        assert!(!out.status.success(), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("not a mounted filesystem"),
            "{}",
            describe(&out)
        );
        assert!(listing(&usb).is_empty(), "init wrote into the mount point");
    }

    // A repository left in the unmounted directory (a backup made without
    // the guard): backup with the guard refuses and changes nothing.
    ok(hbk(&repo, &["init"]));
    let before = listing(&usb);
    let out = hbk(&repo, &["--require-mount", "backup", data_arg]);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_eq!(listing(&usb), before, "backup touched the repository");
    std::fs::remove_dir_all(&repo.path).unwrap();

    // Mounted: both work, and restic agrees with the result.
    let _mounted = Tmpfs::mount(&usb);
    ok(hbk(&repo, &["--require-mount", "init"]));
    ok(hbk(&repo, &[explicit.as_str(), "backup", data_arg]));
    ok(restic(&repo, &["check"]));

    // The recorded repository id must match when one is expected.
    let out = ok(hbk(&repo, &["cat", "config"]));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = config["id"].as_str().unwrap().to_string();
    ok(hbk(
        &repo,
        &[
            "--require-mount",
            "--expect-repository-id",
            &id,
            "backup",
            data_arg,
        ],
    ));
    let before = listing(&usb);
    let other = "0".repeat(64);
    let out = hbk(
        &repo,
        &[
            "--require-mount",
            "--expect-repository-id",
            &other,
            "backup",
            data_arg,
        ],
    );
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected"),
        "{}",
        describe(&out)
    );
    assert_eq!(
        listing(&usb),
        before,
        "a backup into the wrong repository wrote something"
    );
}
