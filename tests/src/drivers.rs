//! Running the real `restic` and our `hbk` against one repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The password every test repository uses.
pub const PASSWORD: &str = "interop-password";

/// A repository with its password file, shared by both tools.
#[derive(Debug, Clone)]
pub struct Repo {
    /// Repository directory.
    pub path: PathBuf,
    /// File holding the password.
    pub password_file: PathBuf,
}

impl Repo {
    /// A repository at `dir/repo` (not created) with a password file beside it.
    pub fn new(dir: &Path) -> Repo {
        Self::with_password(dir, PASSWORD)
    }

    /// Like [`Repo::new`] with a given password.
    pub fn with_password(dir: &Path, password: &str) -> Repo {
        let password_file = dir.join("password");
        std::fs::write(&password_file, format!("{password}\n")).unwrap();
        Repo {
            path: dir.join("repo"),
            password_file,
        }
    }
}

/// Formats a command's output for assertion messages.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Panics with the output unless the command succeeded.
pub fn ok(out: Output) -> Output {
    assert!(out.status.success(), "command failed: {}", describe(&out));
    out
}

/// The `summary` message of a `--json` backup.
pub fn json_summary(out: &Output) -> serde_json::Value {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message_type"] == "summary")
        .unwrap_or_else(|| panic!("no summary in output: {}", describe(out)))
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

/// The real restic against `repo`, not yet run.
pub fn restic_command(repo: &Repo, args: &[&str]) -> Command {
    let cache = repo.path.with_extension("restic-cache");
    let mut cmd = Command::new("restic");
    cmd.arg("-r")
        .arg(&repo.path)
        .arg("--password-file")
        .arg(&repo.password_file)
        .arg("--cache-dir")
        .arg(&cache)
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD");
    cmd
}

/// The real restic.
pub fn restic(repo: &Repo, args: &[&str]) -> Output {
    let out = restic_command(repo, args).output();
    match out {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("restic not installed: run the README's test command (scripts/test.sh)")
        }
        other => other.unwrap(),
    }
}

/// The path of the `hbk` binary, built once per test run in the same
/// profile as the tests.
pub fn hbk_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-q", "-p", "hbk-cli", "--bin", "hbk"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if profile_dir.ends_with("release") {
            cmd.arg("--release");
        }
        ok(run(cmd));
        profile_dir.join("hbk")
    })
}

/// `hbk` with the repository and password of `repo`.
pub fn hbk_command(repo: &Repo, args: &[&str]) -> Command {
    let mut cmd = Command::new(hbk_binary());
    cmd.arg("-r")
        .arg(&repo.path)
        .arg("--password-file")
        .arg(&repo.password_file)
        .args(args)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD")
        .env_remove("HBK_REPOSITORY")
        .env_remove("HBK_PASSWORD");
    cmd
}

/// Runs `hbk` against `repo`.
pub fn hbk(repo: &Repo, args: &[&str]) -> Output {
    run(hbk_command(repo, args))
}

/// The id of the newest snapshot, as restic lists it.
pub fn latest_snapshot(repo: &Repo) -> String {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    list.iter()
        .max_by_key(|s| s["time"].as_str().unwrap_or("").to_string())
        .map(|s| s["id"].as_str().unwrap().to_string())
        .expect("no snapshot")
}

/// Every snapshot's id as restic lists them, oldest first.
pub fn snapshot_ids(repo: &Repo) -> Vec<String> {
    let out = ok(restic(repo, &["snapshots", "--json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut list: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["time"].as_str().unwrap().to_string(),
                s["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    list.sort();
    list.into_iter().map(|(_, id)| id).collect()
}

/// Files directly in `repo/data/*/`, with their sizes.
pub fn packs(repo: &Repo) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(repo.path.join("data")) {
        for d in dirs.flatten() {
            for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((f.path(), len));
            }
        }
    }
    out.sort();
    out
}
