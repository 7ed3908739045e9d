//! `hbk plan` end to end against the Proxmox VE + PBS emulator (real
//! Proxmox is not reachable from CI): two VMs and a container, a fake PBS
//! datastore tree, local repositories and a "USB" repository on a tmpfs
//! the test mounts (the tests run as root; a failed mount fails the test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use hbk_tests::drivers::{describe, hbk_binary, ok, restic, Repo};
use hbk_tests::proxmox_emulator::{
    state::TaskEnd, Api, Emulator, PBS_SECRET, PBS_TOKEN_ID, PVE_SECRET, PVE_TOKEN_ID,
};
use hbk_tests::servers::{Remote, S3Server};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::tempdir;

const DAY1: &str = "2026-11-27T03:00:00Z";
const DAY2: &str = "2026-11-28T03:00:00Z";
const DAY3: &str = "2026-11-29T03:00:00Z";

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        use nix::mount::{mount, MsFlags};
        std::fs::create_dir_all(at).unwrap();
        mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            MsFlags::empty(),
            Some("size=256m"),
        )
        .unwrap_or_else(|e| {
            panic!(
                "mounting a tmpfs at {} (tests run as root): {e}",
                at.display()
            )
        });
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// CRC-32 (IEEE), bit by bit: written apart from hbk's table-driven one
/// so the fixture does not share its mistakes.
fn crc32_bitwise(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// A chunk file as PBS writes one (proxmox-backup's `DataBlob`): the
/// magic of an uncompressed or a zstd-compressed blob, the CRC-32 of the
/// payload (little endian), the payload; named by the SHA-256 of `body`.
fn pbs_chunk(body: &[u8], compress: bool) -> (String, Vec<u8>) {
    const PLAIN: [u8; 8] = [66, 171, 56, 7, 190, 131, 112, 161];
    const ZSTD: [u8; 8] = [49, 185, 88, 66, 111, 182, 163, 127];
    let (magic, payload) = if compress {
        (ZSTD, zstd::bulk::compress(body, 1).unwrap())
    } else {
        (PLAIN, body.to_vec())
    };
    let mut raw = magic.to_vec();
    raw.extend_from_slice(&crc32_bitwise(&payload).to_le_bytes());
    raw.extend_from_slice(&payload);
    (hex::encode(Sha256::digest(body)), raw)
}

/// Writes a PBS-like datastore: `.chunks/XXXX/<sha256>` chunk files in
/// PBS's format (half of them compressed) and `vm/ID/TIME/` +
/// `ct/ID/TIME/` snapshot dirs whose index files list their chunks.
fn make_datastore(root: &Path) {
    std::fs::create_dir_all(root.join(".chunks")).unwrap();
    std::fs::write(root.join(".lock"), b"").unwrap();
    std::fs::write(root.join(".gc-status"), br#"{"removed-chunks":0}"#).unwrap();
    let mut n = 0u32;
    for (group, id, archive) in [
        ("vm", 100, "drive-scsi0.img.fidx"),
        ("vm", 101, "drive-scsi0.img.fidx"),
        ("ct", 200, "root.pxar.didx"),
    ] {
        let snap = root.join(format!("{group}/{id}/2026-11-26T03:00:02Z"));
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::write(root.join(format!("{group}/{id}/owner")), "root@pam\n").unwrap();
        let mut index = Vec::new();
        for _ in 0..6 {
            n += 1;
            let body: Vec<u8> = (0..20_000u32)
                .map(|i| (i.wrapping_mul(n) % 251) as u8)
                .collect();
            let (digest, raw) = pbs_chunk(&body, n.is_multiple_of(2));
            let dir = root.join(".chunks").join(&digest[..4]);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(&digest), &raw).unwrap();
            index.extend_from_slice(digest.as_bytes());
            index.push(b'\n');
        }
        std::fs::write(snap.join(archive), &index).unwrap();
        std::fs::write(
            snap.join("index.json.blob"),
            format!("{{\"files\":[\"{archive}\"]}}"),
        )
        .unwrap();
    }
}

struct Fixture {
    dir: tempfile::TempDir,
    emu: Emulator,
    local: Repo,
    usb: Repo,
    _usb_mount: Option<Tmpfs>,
}

impl Fixture {
    /// Emulator with guests 100, 101 (VMs) and 200 (container), a
    /// datastore, a Docker-host source, the local repository and the USB
    /// repository (on a tmpfs when `mount_usb`).
    fn new(mount_usb: bool) -> Fixture {
        let dir = tempdir();
        let root = dir.path();
        let emu = Emulator::start();
        emu.set_task_duration(Duration::from_millis(200));
        emu.add_guest(100, "qemu", "pve1", "web");
        emu.add_guest(101, "qemu", "pve2", "db");
        emu.add_guest(200, "lxc", "pve1", "dns");
        emu.add_snapshot(100, "before-upgrade");
        make_datastore(&root.join("pbs"));
        emu.state()
            .add_datastore("store1", root.join("pbs").to_str().unwrap());
        let docker = root.join("docker");
        std::fs::create_dir_all(docker.join("compose")).unwrap();
        std::fs::create_dir_all(docker.join("data/app")).unwrap();
        std::fs::write(docker.join("compose/docker-compose.yml"), "services: {}\n").unwrap();
        for i in 0..12 {
            let body: Vec<u8> = (0..(3000 * (i + 1)))
                .map(|x| (x % 97) as u8 + i as u8)
                .collect();
            std::fs::write(docker.join(format!("data/app/file-{i}.bin")), body).unwrap();
        }
        std::fs::create_dir_all(root.join("local")).unwrap();
        let local = Repo::new(&root.join("local"));
        ok(restic(&local, &["init"]));
        let usb_dir = root.join("usb");
        let mount = mount_usb.then(|| Tmpfs::mount(&usb_dir));
        std::fs::create_dir_all(&usb_dir).unwrap();
        let usb = Repo {
            path: usb_dir.join("repo"),
            password_file: root.join("usb.password"),
        };
        std::fs::write(&usb.password_file, "usb-password\n").unwrap();
        if mount_usb {
            ok(restic(&usb, &["init"]));
        }
        std::fs::write(root.join("pve.secret"), format!("{PVE_SECRET}\n")).unwrap();
        std::fs::write(root.join("pbs.secret"), PBS_SECRET).unwrap();
        Fixture {
            dir,
            emu,
            local,
            usb,
            _usb_mount: mount,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The plan text; `extra` is appended verbatim, `targets` are copy
    /// targets (`usb`), `pve_secret` overrides the token secret file.
    fn plan(&self, targets: &[&str], keep: u32, pve_secret_file: &Path, extra: &str) -> PathBuf {
        let root = self.root();
        let targets_toml = targets
            .iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let usb_section = if targets.contains(&"usb") {
            format!(
                r#"
[repositories.usb]
url = "{}"
password = {{ command = "cat {}" }}
require_mount = true
retention = {{ keep_last = 2, prune = false }}
"#,
                self.usb.path.display(),
                self.usb.password_file.display()
            )
        } else {
            String::new()
        };
        let text = format!(
            r#"name = "homelab"
state_dir = "{root}/state"
primary = "local"
copy_targets = [{targets_toml}]

[repositories.local]
url = "{local}"
password = {{ file = "{local_pw}" }}
min_free = "1M"
retention = {{ keep_last = 2, prune = false }}
{usb_section}
[proxmox]
guests = [100, 101, 200]
snapshot_prefix = "hbk"
keep = {keep}

[proxmox.api]
url = "{pve_url}"
token_id = "{PVE_TOKEN_ID}"
token_secret = {{ file = "{pve_secret}" }}
fingerprint = "{fp}"
poll_interval = "50ms"
task_timeout = "20s"

[pbs]
datastore = "store1"
path = "{root}/pbs"
quiesce = "read-only"
drain_timeout = "20s"

[pbs.api]
url = "{pbs_url}"
token_id = "{PBS_TOKEN_ID}"
token_secret = {{ command = "cat {root}/pbs.secret" }}
fingerprint = "{fp}"
poll_interval = "50ms"

[[sources]]
name = "docker"
paths = ["{root}/docker"]
hooks = {{ before = ["touch {root}/hook-before"], after = ["touch {root}/hook-after"], on_failure = ["touch {root}/hook-failed"] }}

[drill]
every_days = 7
files = 5
read_data_subset = "50%"

[report]
prometheus = "{root}/textfile/hbk.prom"
{extra}"#,
            root = root.display(),
            local = self.local.path.display(),
            local_pw = self.local.password_file.display(),
            pve_url = self.emu.pve_url,
            pbs_url = self.emu.pbs_url,
            pve_secret = pve_secret_file.display(),
            fp = self.emu.fingerprint,
        );
        let p = root.join("plan.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn default_plan(&self, targets: &[&str]) -> PathBuf {
        self.plan(targets, 2, &self.root().join("pve.secret"), "")
    }

    fn status(&self) -> Value {
        let b = std::fs::read(self.root().join("state/status.json")).expect("status.json written");
        serde_json::from_slice(&b).unwrap()
    }

    fn prom(&self) -> String {
        std::fs::read_to_string(self.root().join("textfile/hbk.prom"))
            .expect("prometheus file written")
    }
}

fn plan_cmd(args: &[&str], now: &str) -> Command {
    let mut c = Command::new(hbk_binary());
    c.args(args)
        .env("HBK_PLAN_NOW", now)
        .env_remove("RESTIC_REPOSITORY")
        .env_remove("RESTIC_PASSWORD")
        .stdin(Stdio::null());
    c
}

fn run_plan(plan: &Path, now: &str, extra: &[&str]) -> Output {
    let mut args = vec!["plan", "run"];
    args.extend_from_slice(extra);
    args.push(plan.to_str().unwrap());
    plan_cmd(&args, now).output().unwrap()
}

fn step<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {status:#}"))
}

fn step_status(status: &Value, name: &str) -> String {
    step(status, name)["status"].as_str().unwrap().to_string()
}

fn snapshots_tagged(repo: &Repo, tag: &str) -> Vec<Value> {
    let out = ok(restic(repo, &["snapshots", "--json", "--tag", tag]));
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn ts(s: &Value) -> SystemTime {
    let t = chrono::DateTime::parse_from_rfc3339(s["started"].as_str().unwrap()).unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_nanos(t.timestamp_nanos_opt().unwrap() as u64)
}

#[test]
fn plan_run_end_to_end() {
    let fx = Fixture::new(true);
    // The off-site copy: a bucket on the loopback S3 server.
    let s3 = S3Server::start();
    let offsite = Remote::new(s3.url(), s3.env());
    ok(offsite.hbk(&["init"]));
    let extra = format!(
        "\n[repositories.offsite]\nurl = \"{}\"\npassword = {{ file = \"{}\" }}\nretention = {{ keep_last = 2, prune = false }}\n",
        offsite.location,
        offsite.password_file().display()
    );
    let plan = fx.plan(
        &["usb", "offsite"],
        2,
        &fx.root().join("pve.secret"),
        &extra,
    );
    let mut cmd = plan_cmd(&["plan", "run", plan.to_str().unwrap()], DAY1);
    cmd.envs(s3.env());
    let out = cmd.output().unwrap();
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let st = fx.status();
    assert_eq!(st["ok"], true, "{text}");
    for name in [
        "preflight:repo:local",
        "preflight:repo:usb",
        "preflight:repo:offsite",
        "preflight:pve",
        "preflight:pbs",
        "snapshot:qemu/100",
        "snapshot:qemu/101",
        "snapshot:lxc/200",
        "rotate:qemu/100",
        "pbs:quiesce",
        "backup:pbs-datastore",
        "pbs:release",
        "hook:before:docker",
        "backup:docker",
        "hook:after:docker",
        "copy:usb",
        "copy:offsite",
        "forget:local",
        "forget:usb",
        "drill:local",
        "drill:usb",
        "drill:offsite",
    ] {
        assert_eq!(step_status(&st, name), "ok", "{name}: {text}");
    }
    assert!(fx.root().join("hook-before").exists() && fx.root().join("hook-after").exists());
    assert!(!fx.root().join("hook-failed").exists());

    // Snapshots on every guest, the foreign one untouched.
    for id in [100, 101, 200] {
        assert!(
            fx.emu
                .snapshots(id)
                .contains(&"hbk-20261127-030000".to_string()),
            "{id}"
        );
    }
    assert!(fx
        .emu
        .snapshots(100)
        .contains(&"before-upgrade".to_string()));

    // The documented order of API calls.
    let calls = fx.emu.calls();
    let lines: Vec<String> = calls
        .iter()
        .map(|c| format!("{:?} {}", c.api, c.line()))
        .collect();
    let pos = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no call {needle} in {lines:#?}"))
    };
    let order = [
        "Pve GET /version",
        "Pbs GET /version",
        "Pve GET /cluster/resources",
        "Pve POST /nodes/pve1/qemu/100/snapshot",
        "Pve GET /nodes/pve1/tasks/UPID:pve1:",
        "Pve GET /nodes/pve1/qemu/100/snapshot",
        "Pve POST /nodes/pve2/qemu/101/snapshot",
        "Pve POST /nodes/pve1/lxc/200/snapshot",
        "Pbs PUT /config/datastore/store1",
        "Pbs GET /admin/datastore/store1/active-operations",
        "Pbs GET /config/datastore/store1",
    ];
    for w in order.windows(2) {
        assert!(
            pos(w[0]) < pos(w[1]),
            "{} before {}: {lines:#?}",
            w[0],
            w[1]
        );
    }
    // Every snapshot task was waited on before the next guest's snapshot.
    let posts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("Pve POST") && l.ends_with("/snapshot"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(posts.len(), 3);
    for w in posts.windows(2) {
        assert!(
            lines[w[0]..w[1]].iter().any(|l| l.contains("/tasks/UPID:")),
            "{lines:#?}"
        );
    }
    let puts: Vec<_> = calls
        .iter()
        .filter(|c| c.api == Api::Pbs && c.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "set and clear: {lines:#?}");
    assert!(puts[0].params["maintenance-mode"].starts_with("type=read-only"));
    assert_eq!(puts[1].params["delete"], "maintenance-mode");

    // Maintenance mode on exactly while the datastore was read.
    let history = fx.emu.state().datastores["store1"].history.clone();
    assert_eq!(history.len(), 2);
    assert!(history[0].1.is_some() && history[1].1.is_none());
    let read = step(&st, "backup:pbs-datastore");
    let began = ts(read);
    let ended = began + Duration::from_secs_f64(read["duration_secs"].as_f64().unwrap());
    assert!(
        history[0].0 <= began && ended <= history[1].0,
        "read outside the window"
    );
    assert!(fx.emu.state().datastores["store1"].maintenance.is_none());

    // The primary holds both sources, restic checks it, and the PBS
    // datastore comes back byte for byte.
    assert_eq!(snapshots_tagged(&fx.local, "plan-homelab,docker").len(), 1);
    assert_eq!(
        snapshots_tagged(&fx.local, "plan-homelab,pbs-datastore").len(),
        1
    );
    ok(restic(&fx.local, &["check", "--read-data"]));
    // The copy on the USB disk holds both snapshots too, re-encrypted with
    // its own key, and restic accepts it.
    for tag in ["plan-homelab,docker", "plan-homelab,pbs-datastore"] {
        let copies = snapshots_tagged(&fx.usb, tag);
        assert_eq!(copies.len(), 1, "{tag}");
        assert!(copies[0]["original"].is_string(), "{tag}: not a copy");
    }
    ok(restic(&fx.usb, &["check", "--read-data"]));
    // And so does the off-site bucket.
    let out = ok(offsite.restic(&["snapshots", "--json"]));
    let copies: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(copies.len(), 2, "{}", describe(&out));
    assert!(copies.iter().all(|c| c["original"].is_string()));
    ok(offsite.restic(&["check", "--read-data"]));
    let target = fx.root().join("restored");
    ok(restic(
        &fx.local,
        &[
            "restore",
            "latest",
            "--tag",
            "pbs-datastore",
            "--target",
            target.to_str().unwrap(),
        ],
    ));
    let back = target.join(fx.root().join("pbs").strip_prefix("/").unwrap());
    let diff = hbk_tests::compare::compare_trees(
        &fx.root().join("pbs"),
        &back,
        hbk_tests::compare::CompareOptions::all(),
    );
    assert!(diff.is_empty(), "{diff:?}");

    // Reports.
    let local = &st["repositories"]["local"];
    assert_eq!(local["drill"]["ok"], true, "{local}");
    assert!(local["drill"]["files"].as_u64().unwrap() > 0);
    assert!(local["bytes_added"].as_u64().unwrap() > 0);
    assert_eq!(local["snapshot_age_secs"], 0);
    let prom = fx.prom();
    assert!(
        prom.contains("hbk_plan_success{plan=\"homelab\"} 1"),
        "{prom}"
    );
    assert!(
        prom.contains("hbk_plan_drill_success{plan=\"homelab\",repository=\"local\"} 1"),
        "{prom}"
    );
    assert!(prom.contains(
        "hbk_plan_step_success{plan=\"homelab\",step=\"backup:pbs-datastore\",kind=\"backup\"} 1"
    ));
    assert!(
        prom.contains("hbk_plan_step_success{plan=\"homelab\",step=\"copy:usb\",kind=\"copy\"} 1")
    );
    assert!(prom.contains(
        "hbk_plan_repository_snapshot_age_seconds{plan=\"homelab\",repository=\"local\"} 0"
    ));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("FAILED"));
}

#[test]
fn plan_second_day_rotates_and_applies_retention() {
    let fx = Fixture::new(false);
    let plan = fx.default_plan(&[]);
    for (i, day) in [DAY1, DAY2, DAY3].iter().enumerate() {
        let out = run_plan(&plan, day, &[]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "day {}: {}",
            i + 1,
            describe(&out)
        );
    }
    for id in [100, 101, 200] {
        let mut want = vec![
            "hbk-20261128-030000".to_string(),
            "hbk-20261129-030000".to_string(),
        ];
        if id == 100 {
            want.insert(0, "before-upgrade".into());
        }
        assert_eq!(fx.emu.snapshots(id), want, "guest {id}");
    }
    // Day 3 deleted exactly day 1's snapshot on each guest.
    let deletes: Vec<String> = fx
        .emu
        .calls()
        .iter()
        .filter(|c| c.method == "DELETE")
        .map(|c| c.path.clone())
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert!(deletes
        .iter()
        .all(|p| p.ends_with("/snapshot/hbk-20261127-030000")));
    // keep_last = 2 per source in the repository.
    assert_eq!(snapshots_tagged(&fx.local, "plan-homelab,docker").len(), 2);
    assert_eq!(
        snapshots_tagged(&fx.local, "plan-homelab,pbs-datastore").len(),
        2
    );
    ok(restic(&fx.local, &["check"]));
    let st = fx.status();
    assert_eq!(st["ok"], true);
    assert_eq!(st["time"], DAY3);
    assert_eq!(st["last_success"], DAY3);
    // Drills run on day 1 only (every 7 days); the result is kept.
    assert_eq!(st["repositories"]["local"]["drill"]["time"], DAY1);
    assert!(st["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["kind"] != "drill"));
    let prom = fx.prom();
    assert!(
        prom.contains("hbk_plan_success{plan=\"homelab\"} 1"),
        "{prom}"
    );
    // plan drill forces one now.
    let out = plan_cmd(&["plan", "drill", plan.to_str().unwrap()], DAY3)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(fx.status()["repositories"]["local"]["drill"]["time"], DAY3);
    let status = plan_cmd(&["plan", "status", plan.to_str().unwrap()], DAY3)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", describe(&status));

    // Every pack of the local copy damaged: the drill cannot even read a
    // tree. That failure replaces the passing drill everywhere.
    for (pack, _) in hbk_tests::drivers::packs(&fx.local) {
        let len = std::fs::metadata(&pack).unwrap().len() as usize;
        let writable = std::os::unix::fs::PermissionsExt::from_mode(0o600);
        std::fs::set_permissions(&pack, writable).unwrap();
        std::fs::write(&pack, vec![0x5a; len]).unwrap();
    }
    const LATER: &str = "2026-11-29T05:00:00Z";
    let out = plan_cmd(&["plan", "drill", plan.to_str().unwrap()], LATER)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let drill = fx.status()["repositories"]["local"]["drill"].clone();
    assert_eq!(drill["ok"], false, "{drill}");
    assert_eq!(drill["time"], LATER, "{drill}");
    assert!(!drill["message"].as_str().unwrap().is_empty(), "{drill}");
    let prom = fx.prom();
    assert!(
        prom.contains("hbk_plan_drill_success{plan=\"homelab\",repository=\"local\"} 0"),
        "{prom}"
    );
    let history = std::fs::read_to_string(fx.root().join("state/drills.jsonl")).unwrap();
    let last_local = history
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["repository"] == "local")
        .unwrap();
    assert_eq!(last_local["status"], "failed", "{history}");
}

fn repo_files(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut m = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let md = e.metadata().unwrap();
            if md.is_dir() {
                stack.push(e.path());
            } else {
                m.insert(e.path(), md.len());
            }
        }
    }
    m
}

#[test]
fn plan_dry_run_changes_nothing() {
    let fx = Fixture::new(true);
    let plan = fx.default_plan(&["usb"]);
    // Day 1 for real, so that day 2's dry run has snapshots to rotate and
    // copy.
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    std::fs::remove_file(fx.root().join("hook-before")).unwrap();
    let calls_before = fx.emu.calls().len();
    let local_before = repo_files(&fx.local.path);
    let usb_before = repo_files(&fx.usb.path);
    let state_before = repo_files(&fx.root().join("state"));
    let status_before = std::fs::read(fx.root().join("state/status.json")).unwrap();
    let prom_before = fx.prom();
    let snaps_before: Vec<_> = [100, 101, 200]
        .iter()
        .map(|&id| fx.emu.snapshots(id))
        .collect();

    let out = run_plan(&plan, DAY2, &["--dry-run"]);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let calls = fx.emu.calls();
    assert!(calls.len() > calls_before, "the dry run reads the APIs");
    let writes: Vec<String> = calls[calls_before..]
        .iter()
        .filter(|c| c.is_write())
        .map(|c| c.line())
        .collect();
    assert!(writes.is_empty(), "dry run wrote: {writes:?}");
    assert_eq!(repo_files(&fx.local.path), local_before);
    assert_eq!(repo_files(&fx.usb.path), usb_before);
    assert_eq!(repo_files(&fx.root().join("state")), state_before);
    assert_eq!(
        std::fs::read(fx.root().join("state/status.json")).unwrap(),
        status_before
    );
    assert_eq!(fx.prom(), prom_before);
    let snaps_after: Vec<_> = [100, 101, 200]
        .iter()
        .map(|&id| fx.emu.snapshots(id))
        .collect();
    assert_eq!(snaps_after, snaps_before);
    assert!(!fx.root().join("hook-before").exists(), "hooks not run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("would create snapshot hbk-20261128-030000"),
        "{text}"
    );
    assert!(
        stdout.contains("would set maintenance mode read-only"),
        "{text}"
    );
    assert!(fx.emu.state().datastores["store1"].maintenance.is_none());
}

#[test]
fn plan_usb_not_mounted_fails_clearly_and_others_complete() {
    let fx = Fixture::new(false);
    let plan = fx.default_plan(&["usb"]);
    let out = run_plan(&plan, DAY1, &[]);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let st = fx.status();
    let pre = step(&st, "preflight:repo:usb");
    assert_eq!(pre["status"], "failed");
    assert!(
        pre["message"]
            .as_str()
            .unwrap()
            .contains("not on a mounted file system"),
        "{pre}"
    );
    let copy = step(&st, "copy:usb");
    assert_eq!(copy["status"], "failed");
    assert!(
        copy["message"]
            .as_str()
            .unwrap()
            .contains("is the USB disk mounted"),
        "{copy}"
    );
    assert_eq!(
        std::fs::read_dir(fx.root().join("usb")).unwrap().count(),
        0,
        "nothing written to the mount point"
    );
    for name in [
        "backup:docker",
        "backup:pbs-datastore",
        "forget:local",
        "drill:local",
    ] {
        assert_eq!(step_status(&st, name), "ok", "{name}: {text}");
    }
    assert_eq!(step_status(&st, "drill:usb"), "skipped");
    assert!(String::from_utf8_lossy(&out.stdout).contains("not on a mounted file system"));
}

#[test]
fn plan_task_error_is_reported_and_the_rest_runs() {
    let fx = Fixture::new(false);
    fx.emu.state().task_ends.insert(
        101,
        TaskEnd::Error("snapshot failed: storage 'local-zfs' is full".into()),
    );
    fx.emu.state().task_ends.insert(200, TaskEnd::Warnings(1));
    let plan = fx.default_plan(&[]);
    // The local repository asks for prune, which this build lacks.
    let text = std::fs::read_to_string(&plan).unwrap().replacen(
        "keep_last = 2, prune = false",
        "keep_last = 2, prune = true",
        1,
    );
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let st = fx.status();
    let s = step(&st, "snapshot:qemu/101");
    assert_eq!(s["status"], "failed");
    let message = s["message"].as_str().unwrap();
    assert!(message.contains("storage 'local-zfs' is full"), "{s}");
    // Said as what failed, never as "created".
    assert!(message.starts_with("creating snapshot hbk-"), "{s}");
    assert!(!message.contains("created"), "{s}");
    assert_eq!(step_status(&st, "rotate:qemu/101"), "skipped");
    let w = step(&st, "snapshot:lxc/200");
    assert_eq!(w["status"], "warning");
    assert!(w["message"].as_str().unwrap().contains("WARNINGS: 1"));
    for name in [
        "snapshot:qemu/100",
        "backup:pbs-datastore",
        "pbs:release",
        "backup:docker",
        "drill:local",
    ] {
        assert_eq!(step_status(&st, name), "ok", "{name}: {text}");
    }
    assert_eq!(step_status(&st, "prune:local"), "ok", "{text}");
    assert!(!fx.emu.snapshots(101).iter().any(|n| n.starts_with("hbk-")));
    assert!(fx
        .emu
        .snapshots(200)
        .contains(&"hbk-20261127-030000".to_string()));
}

#[test]
fn plan_locked_guest_is_reported_and_others_go_on() {
    let fx = Fixture::new(false);
    fx.emu.state().guests.get_mut(&100).unwrap().lock = Some("backup".into());
    let plan = fx.default_plan(&[]);
    // A failing before-hook too: the backup is skipped, on_failure runs,
    // after does not (before did not succeed).
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "before = [\"touch ",
        "before = [\"echo 'db would not stop' >&2; exit 3\", \"touch ",
    );
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let st = fx.status();
    let s = step(&st, "snapshot:qemu/100");
    assert_eq!(s["status"], "failed");
    assert!(
        s["message"].as_str().unwrap().contains("locked (backup)"),
        "{s}"
    );
    assert_eq!(step_status(&st, "snapshot:qemu/101"), "ok");
    assert_eq!(step_status(&st, "snapshot:lxc/200"), "ok");
    let hook = step(&st, "hook:before:docker");
    assert_eq!(hook["status"], "failed");
    assert!(
        hook["message"]
            .as_str()
            .unwrap()
            .contains("db would not stop"),
        "{hook}"
    );
    assert_eq!(step_status(&st, "backup:docker"), "skipped");
    assert_eq!(step_status(&st, "hook:on_failure:docker"), "ok");
    assert!(fx.root().join("hook-failed").exists());
    assert!(!fx.root().join("hook-before").exists() && !fx.root().join("hook-after").exists());
}

#[test]
fn plan_wrong_token_is_a_clear_auth_error_without_retries() {
    let fx = Fixture::new(false);
    let wrong = fx.root().join("wrong.secret");
    std::fs::write(&wrong, "00000000-0000-0000-0000-000000000000").unwrap();
    let plan = fx.plan(&[], 2, &wrong, "");
    let out = run_plan(&plan, DAY1, &[]);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let st = fx.status();
    let pre = step(&st, "preflight:pve");
    assert_eq!(pre["status"], "failed");
    let msg = pre["message"].as_str().unwrap();
    assert!(
        msg.contains("authentication failed (HTTP 401)") && msg.contains("token"),
        "{msg}"
    );
    assert!(
        !msg.contains("0000-0000"),
        "the secret is never printed: {msg}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("00000000-0000"));
    let pve_calls = fx.emu.calls().iter().filter(|c| c.api == Api::Pve).count();
    assert_eq!(pve_calls, 1, "one refused call, no retries");
    // PBS and the file backups still ran.
    for name in ["backup:pbs-datastore", "backup:docker"] {
        assert_eq!(step_status(&st, name), "ok", "{name}: {text}");
    }
}

#[test]
fn plan_sigterm_clears_maintenance_mode() {
    let fx = Fixture::new(false);
    {
        // A writer that never finishes: the run waits in maintenance mode.
        let mut s = fx.emu.state();
        let ds = s.datastores.get_mut("store1").unwrap();
        ds.write = 1;
        ds.drain_after = None;
    }
    let plan = fx.default_plan(&[]);
    let mut child = plan_cmd(&["plan", "run", plan.to_str().unwrap()], DAY1)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while fx.emu.state().datastores["store1"].maintenance.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "maintenance mode never set"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let s = fx.emu.state();
    let ds = &s.datastores["store1"];
    assert!(ds.maintenance.is_none(), "maintenance mode left on");
    assert_eq!(ds.history.last().map(|h| h.1.is_none()), Some(true));
}

#[test]
fn plan_drain_timeout_clears_maintenance_and_skips_the_read() {
    let fx = Fixture::new(false);
    {
        let mut s = fx.emu.state();
        let ds = s.datastores.get_mut("store1").unwrap();
        ds.write = 2;
        ds.drain_after = None;
    }
    let plan = fx.plan(&[], 2, &fx.root().join("pve.secret"), "");
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("drain_timeout = \"20s\"", "drain_timeout = \"1s\"");
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let st = fx.status();
    assert_eq!(step_status(&st, "pbs:quiesce"), "failed");
    assert_eq!(step_status(&st, "backup:pbs-datastore"), "skipped");
    assert_eq!(step_status(&st, "pbs:release"), "ok");
    assert!(fx.emu.state().datastores["store1"].maintenance.is_none());
    assert_eq!(step_status(&st, "backup:docker"), "ok");
}

#[test]
fn plan_validate_show_and_timer() {
    let fx = Fixture::new(false);
    let plan = fx.default_plan(&[]);
    let p = plan.to_str().unwrap();
    let out = plan_cmd(&["plan", "validate", p], DAY1).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let out = plan_cmd(&["plan", "show", p], DAY1).output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("set datastore store1 to maintenance mode read-only"),
        "{shown}"
    );
    assert!(fx.emu.calls().is_empty(), "show contacts nothing");
    let out = plan_cmd(&["plan", "install-timer", "--print", p], DAY1)
        .output()
        .unwrap();
    let units = String::from_utf8_lossy(&out.stdout);
    assert!(
        units.contains("hbk-plan-homelab.timer") && units.contains("OnCalendar=*-*-* 03:00:00"),
        "{units}"
    );
    assert!(units.contains("hbk-plan-homelab-drill.service"), "{units}");
    let bad = fx.root().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&plan)
            .unwrap()
            .replace("snapshot_prefix = \"hbk\"", "snapshot_prefix = \"9x.y\""),
    )
    .unwrap();
    let out = plan_cmd(&["plan", "validate", bad.to_str().unwrap()], DAY1)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("proxmox.snapshot_prefix"),
        "{}",
        describe(&out)
    );
}

#[test]
fn plan_pbs_api_down_skips_the_capture_and_the_rest_runs() {
    let fx = Fixture::new(false);
    fx.emu.state().pbs_down = true;
    let plan = fx.default_plan(&[]);
    let out = run_plan(&plan, DAY1, &[]);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let st = fx.status();
    let pre = step(&st, "preflight:pbs");
    assert_eq!(pre["status"], "failed");
    assert!(
        pre["message"]
            .as_str()
            .unwrap()
            .contains("PBS API at https://127.0.0.1"),
        "{pre}"
    );
    assert_eq!(step_status(&st, "pbs:quiesce"), "skipped");
    for name in ["snapshot:qemu/100", "backup:docker"] {
        assert_eq!(step_status(&st, name), "ok", "{name}: {text}");
    }
    // The drill notices that the datastore was never captured.
    let drill = step(&st, "drill:local");
    assert_eq!(drill["status"], "failed");
    assert!(drill["message"]
        .as_str()
        .unwrap()
        .contains("no snapshot tagged plan-homelab,pbs-datastore"));
    // A missing snapshot is no damage: nothing to heal, nothing read.
    let steps = st["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["kind"] != "heal"), "{st}");
    assert_eq!(st["repositories"]["local"]["drill"]["damage"], false);
    assert!(fx.emu.state().datastores["store1"].history.is_empty());
}

#[test]
fn plan_task_that_never_ends_times_out() {
    let fx = Fixture::new(false);
    fx.emu.state().task_ends.insert(100, TaskEnd::Hang);
    let plan = fx.default_plan(&[]);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("task_timeout = \"20s\"", "task_timeout = \"1s\"");
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let st = fx.status();
    let s = step(&st, "snapshot:qemu/100");
    assert_eq!(s["status"], "failed");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("still running after 1 s"),
        "{s}"
    );
    assert_eq!(step_status(&st, "snapshot:qemu/101"), "ok");
}

#[test]
fn plan_vzdump_runs_one_task_per_node() {
    let fx = Fixture::new(false);
    let plan = fx.default_plan(&[]);
    let text = std::fs::read_to_string(&plan).unwrap().replace(
        "keep = 2\n",
        "keep = 2\nvzdump = { storage = \"pbs-usb\" }\n",
    );
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let st = fx.status();
    assert_eq!(step_status(&st, "vzdump:pve1"), "ok");
    assert_eq!(step_status(&st, "vzdump:pve2"), "ok");
    let dumps: Vec<(String, String)> = fx
        .emu
        .calls()
        .iter()
        .filter(|c| c.path.ends_with("/vzdump"))
        .map(|c| (c.path.clone(), c.params["vmid"].clone()))
        .collect();
    assert_eq!(
        dumps,
        vec![
            ("/nodes/pve1/vzdump".to_string(), "100,200".to_string()),
            ("/nodes/pve2/vzdump".to_string(), "101".to_string()),
        ]
    );
    // Guests are unlocked once their vzdump task stopped.
    assert!(fx.emu.state().guests.values().all(|g| g.lock.is_none()));
}

#[test]
fn plan_tls_trusts_a_ca_file_and_refuses_a_wrong_pin() {
    let fx = Fixture::new(false);
    let plan = fx.default_plan(&[]);
    let ca = fx.root().join("ca.pem");
    std::fs::write(&ca, &fx.emu.cert_pem).unwrap();
    let wrong_pin = (0..32).map(|_| "ab").collect::<Vec<_>>().join(":");
    let text = std::fs::read_to_string(&plan).unwrap();
    // PVE through the CA file, PBS with a pin of some other certificate.
    let pinned = format!("fingerprint = \"{}\"", fx.emu.fingerprint);
    let (head, tail) = text.split_once(&pinned).unwrap();
    let tail = tail.replace(&pinned, &format!("fingerprint = \"{wrong_pin}\""));
    std::fs::write(&plan, format!("{head}ca_file = \"{}\"{tail}", ca.display())).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let st = fx.status();
    assert_eq!(
        step_status(&st, "preflight:pve"),
        "ok",
        "{}",
        describe(&out)
    );
    assert_eq!(step_status(&st, "snapshot:qemu/100"), "ok");
    let pbs = step(&st, "preflight:pbs");
    assert_eq!(pbs["status"], "failed");
    assert!(
        pbs["message"]
            .as_str()
            .unwrap()
            .contains("does not match the pinned one"),
        "{pbs}"
    );
    assert!(
        fx.emu.calls().iter().all(|c| c.api == Api::Pve),
        "no PBS request got through"
    );
}

/// A copy target that keeps less than the primary is offered only what
/// its retention keeps: one snapshot per source each day, never the older
/// ones it forgot the day before (which it used to be sent again).
#[test]
fn plan_copy_target_gets_only_what_its_retention_keeps() {
    let fx = Fixture::new(false);
    std::fs::create_dir_all(fx.root().join("archive")).unwrap();
    let archive = Repo::new(&fx.root().join("archive"));
    ok(restic(&archive, &["init"]));
    let extra = format!(
        "\n[repositories.archive]\nurl = \"{}\"\npassword = {{ file = \"{}\" }}\nretention = {{ keep_last = 1, prune = false }}\n",
        archive.path.display(),
        archive.password_file.display()
    );
    let plan = fx.plan(&["archive"], 2, &fx.root().join("pve.secret"), &extra);
    for day in [DAY1, DAY2, DAY3] {
        let out = run_plan(&plan, day, &[]);
        assert_eq!(out.status.code(), Some(0), "{day}: {}", describe(&out));
        let st = fx.status();
        let copy = step(&st, "copy:archive");
        // Two sources (docker and the PBS datastore): their newest.
        assert_eq!(
            copy["message"].as_str().unwrap().split(' ').next(),
            Some("2"),
            "{day}: {copy}"
        );
    }
    for source in ["docker", "pbs-datastore"] {
        let tag = format!("plan-homelab,{source}");
        assert_eq!(snapshots_tagged(&archive, &tag).len(), 1, "{source}");
        assert_eq!(snapshots_tagged(&fx.local, &tag).len(), 2, "{source}");
    }
    ok(restic(&archive, &["check"]));
}

/// A flipped byte in a pack of the USB copy (issue 14): the next drill
/// fails, the heal step takes the damaged blobs from the local copy, and
/// afterwards restic reads every byte of the USB copy back and it
/// restores what the local copy restores.
#[test]
fn plan_heals_a_damaged_copy_from_a_healthy_one() {
    let fx = Fixture::new(true);
    let plan = fx.default_plan(&["usb"]);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("read_data_subset = \"50%\"", "read_data_subset = \"100%\"");
    std::fs::write(&plan, text).unwrap();
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(fx.status()["repositories"]["usb"]["drill"]["ok"], true);

    // The largest pack of the USB copy, one byte flipped in its middle.
    let (pack, len) = hbk_tests::drivers::packs(&fx.usb)
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[len as usize / 2] ^= 0x01;
    let writable = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&pack, writable).unwrap();
    std::fs::write(&pack, &bytes).unwrap();

    let out = plan_cmd(&["plan", "drill", plan.to_str().unwrap()], DAY2)
        .output()
        .unwrap();
    let text = describe(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    let st = fx.status();
    assert_eq!(step_status(&st, "drill:usb"), "failed", "{text}");
    let heal = step(&st, "heal:usb");
    assert_eq!(heal["status"], "ok", "{heal}");
    let message = heal["message"].as_str().unwrap();
    assert!(message.contains("of them from local"), "{heal}");
    assert!(
        !message.contains(" 0 of them"),
        "a blob came from the local copy: {heal}"
    );
    assert!(
        std::fs::read_dir(fx.root().join("state/heal/usb"))
            .unwrap()
            .count()
            > 0,
        "a copy of the damaged pack is kept"
    );
    ok(restic(&fx.usb, &["check", "--read-data"]));
    for (name, repo) in [("local", &fx.local), ("usb", &fx.usb)] {
        let target = fx.root().join(format!("restored-{name}"));
        ok(restic(
            repo,
            &[
                "restore",
                "latest",
                "--tag",
                "plan-homelab,docker",
                "--target",
                target.to_str().unwrap(),
            ],
        ));
    }
    let differs = hbk_tests::compare::compare_trees(
        &fx.root().join("restored-local"),
        &fx.root().join("restored-usb"),
        hbk_tests::compare::CompareOptions::all(),
    );
    assert!(differs.is_empty(), "{differs:?}");
    // The next drill passes.
    let out = plan_cmd(&["plan", "drill", plan.to_str().unwrap()], DAY3)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(fx.status()["repositories"]["usb"]["drill"]["ok"], true);

    // The same blob damaged in every copy: the heal names the file.
    let victim = fx.root().join("docker/data/app/file-5.bin");
    for repo in [&fx.local, &fx.usb] {
        hbk_tests::damage::flip_blob_of(repo, &victim);
    }
    let out = plan_cmd(&["plan", "drill", plan.to_str().unwrap()], DAY3)
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let st = fx.status();
    let heal = step(&st, "heal:usb");
    assert_eq!(heal["status"], "failed", "{heal}");
    let message = heal["message"].as_str().unwrap();
    assert!(message.contains("no copy holds what these used"), "{heal}");
    assert!(message.contains(&victim.display().to_string()), "{heal}");
}

/// Every restore path of docs/runbook.md drilled (issue 14): the PBS
/// datastore restored from the S3 copy with every chunk verified (and a
/// PBS verify job), a full restore from it timed as the RTO, and a
/// rollback drill per guest that clones, starts, waits for the guest
/// agent and destroys, never touching the original. Then a clone that
/// fails to start, a damaged PBS chunk, and an RPO threshold turn the
/// status red.
#[test]
fn plan_drills_every_restore_path() {
    let fx = Fixture::new(false);
    fx.emu.set_agent(100, true);
    let s3 = S3Server::start();
    let offsite = Remote::new(s3.url(), s3.env());
    ok(offsite.hbk(&["init"]));
    let extra = format!(
        r#"
[repositories.offsite]
url = "{}"
password = {{ file = "{}" }}
max_rpo = "26h"
max_rto = "1h"

[drill.full]
every_days = 30

[drill.pbs]
verify_job = true

[drill.rollback]
guests = [100, 200]
start_timeout = "10s"
"#,
        offsite.location,
        offsite.password_file().display()
    );
    let plan = fx.plan(&["offsite"], 2, &fx.root().join("pve.secret"), &extra);
    let plan_s = plan.to_str().unwrap();
    let run = |args: &[&str], now: &str| {
        let mut c = plan_cmd(args, now);
        c.envs(s3.env());
        c.output().unwrap()
    };
    let out = run(&["plan", "run", plan_s], DAY1);
    let text = describe(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let st = fx.status();
    let pbs = step(&st, "drill-pbs:offsite");
    assert_eq!(pbs["status"], "ok", "{pbs}");
    assert!(
        pbs["message"]
            .as_str()
            .unwrap()
            .contains("18 chunk files verified"),
        "{pbs}"
    );
    assert_eq!(step_status(&st, "pbs-verify:store1"), "ok");
    assert!(
        fx.emu
            .calls()
            .iter()
            .any(|c| c.api == Api::Pbs && c.line() == "POST /admin/datastore/store1/verify"),
        "the verify job went through the PBS API"
    );
    let full = step(&st, "drill-full:offsite");
    assert_eq!(full["status"], "ok", "{full}");
    assert!(
        full["message"]
            .as_str()
            .unwrap()
            .contains("every file matches its content hashes"),
        "{full}"
    );
    let offsite_state = &st["repositories"]["offsite"];
    assert!(offsite_state["rto_secs"].as_f64().unwrap() > 0.0, "{st:#}");
    assert!(
        offsite_state["full_drill"]["bytes_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(offsite_state.get("alerts").is_none(), "{offsite_state}");
    let vm = step(&st, "drill-rollback:qemu/100");
    assert_eq!(vm["status"], "ok", "{vm}");
    assert!(
        vm["message"]
            .as_str()
            .unwrap()
            .contains("guest agent answering"),
        "{vm}"
    );
    assert_eq!(step_status(&st, "drill-rollback:lxc/200"), "ok");
    assert_eq!(st["drills"]["rollback"]["ok"], true);
    assert_eq!(st["drills"]["pbs"]["ok"], true);
    let prom = fx.prom();
    for line in [
        "hbk_plan_drill_kind_success{plan=\"homelab\",kind=\"rollback\"} 1",
        "hbk_plan_drill_kind_success{plan=\"homelab\",kind=\"pbs\"} 1",
        "hbk_plan_full_drill_success{plan=\"homelab\",repository=\"offsite\"} 1",
        "hbk_plan_repository_alerts{plan=\"homelab\",repository=\"offsite\"} 0",
        "hbk_plan_repository_max_rto_seconds{plan=\"homelab\",repository=\"offsite\"} 3600",
    ] {
        assert!(prom.contains(line), "{line} missing in\n{prom}");
    }
    assert!(
        prom.contains("hbk_plan_repository_rto_seconds{plan=\"homelab\",repository=\"offsite\"}")
    );
    let out = run(&["plan", "status", plan_s], DAY1);
    assert_eq!(out.status.code(), Some(0), "green: {}", describe(&out));

    // The rollback drill in order, on clones only: clone (the one call
    // naming the original), start, state, agent ping, stop, destroy.
    let calls = fx.emu.calls();
    let writes: Vec<String> = calls
        .iter()
        .filter(|c| c.api == Api::Pve && c.is_write())
        .map(|c| c.line())
        .filter(|l| !l.contains("/snapshot"))
        .collect();
    let clone_at = writes
        .iter()
        .position(|l| l == "POST /nodes/pve1/qemu/100/clone")
        .unwrap_or_else(|| panic!("no clone of 100 in {writes:#?}"));
    let clone_call = calls
        .iter()
        .find(|c| c.line() == "POST /nodes/pve1/qemu/100/clone")
        .unwrap();
    assert!(clone_call.params["snapname"].starts_with("hbk-"));
    assert_eq!(clone_call.params["full"], "1");
    let newid = &clone_call.params["newid"];
    let scratch = format!("/nodes/pve1/qemu/{newid}");
    assert_eq!(
        writes[clone_at + 1..clone_at + 5],
        [
            format!("POST {scratch}/status/start"),
            format!("POST {scratch}/agent/ping"),
            format!("POST {scratch}/status/stop"),
            format!("DELETE {scratch}"),
        ],
        "{writes:#?}"
    );
    let lines: Vec<String> = calls.iter().map(|c| c.line()).collect();
    let pos = |l: &str| {
        lines
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} not in {lines:#?}"))
    };
    assert!(
        pos(&format!("POST {scratch}/status/start"))
            < pos(&format!("GET {scratch}/status/current"))
    );
    assert!(
        calls
            .iter()
            .filter(|c| c.is_write() && c.path.starts_with("/nodes/pve1/qemu/100"))
            .all(|c| c.path.ends_with("/clone") || c.path.contains("/snapshot")),
        "the original is never written to but for the clone call"
    );
    assert_eq!(fx.emu.guest_ids(), [100, 101, 200], "the clones are gone");
    assert!(fx.emu.state().guests[&100].running);

    // A clone that fails to start is reported and cleaned up.
    fx.emu.fail_clone_start(200, "startup for container failed");
    let before = fx.emu.calls().len();
    let out = run(&["plan", "drill", plan_s], DAY2);
    assert_ne!(out.status.code(), Some(0), "{}", describe(&out));
    let st = fx.status();
    let ct = step(&st, "drill-rollback:lxc/200");
    assert_eq!(ct["status"], "failed", "{ct}");
    let m = ct["message"].as_str().unwrap();
    assert!(
        m.contains("failed to start") && m.contains("clone destroyed"),
        "{ct}"
    );
    assert_eq!(st["drills"]["rollback"]["ok"], false);
    assert_eq!(
        fx.emu.guest_ids(),
        [100, 101, 200],
        "the failed clone is gone"
    );
    assert!(
        fx.emu.calls()[before..]
            .iter()
            .all(|c| !(c.is_write() && c.path.starts_with("/nodes/pve1/lxc/200/snapshot"))),
        "a drill takes no snapshot"
    );
    assert!(fx
        .prom()
        .contains("hbk_plan_drill_kind_success{plan=\"homelab\",kind=\"rollback\"} 0"));
    let out = run(&["plan", "status", plan_s], DAY2);
    assert_eq!(out.status.code(), Some(1), "red: {}", describe(&out));
    fx.emu.state().clone_start_errors.clear();

    // One flipped byte in a PBS chunk (bit rot in the datastore, captured
    // by the next run): the PBS drill fails and names the chunk.
    let chunks = fx.root().join("pbs/.chunks");
    let dir = std::fs::read_dir(&chunks)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let chunk = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let name = chunk.file_name().unwrap().to_str().unwrap().to_string();
    let mut raw = std::fs::read(&chunk).unwrap();
    let last = raw.len() - 1;
    raw[last] ^= 0x20;
    std::fs::write(&chunk, &raw).unwrap();
    let out = run(&["plan", "run", plan_s], DAY3);
    let out2 = run(&["plan", "drill", plan_s], DAY3);
    let st = fx.status();
    let pbs = step(&st, "drill-pbs:offsite");
    assert_eq!(
        pbs["status"],
        "failed",
        "{pbs}\n{}\n{}",
        describe(&out),
        describe(&out2)
    );
    let m = pbs["message"].as_str().unwrap();
    assert!(m.contains(&format!("chunk {name}: CRC-32")), "{pbs}");
    assert!(m.starts_with("1 of 18 chunk files damaged"), "{pbs}");
    assert_eq!(st["drills"]["pbs"]["ok"], false);
}

/// The scrub rotation (issue 14): with a two-day window each daily run
/// reads a share of the packs, every pack is verified within the window,
/// and a pack damaged on the USB copy is found by the scrub when its turn
/// comes and healed from the local copy.
#[test]
fn plan_scrub_rotates_through_every_pack_and_heals_what_it_finds() {
    let fx = Fixture::new(true);
    let extra = "\n[scrub]\nwithin_days = 2\n";
    let plan = fx.plan(&["usb"], 2, &fx.root().join("pve.secret"), extra);
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let st = fx.status();
    let first = &st["repositories"]["usb"]["scrub"];
    let packs = first["packs"].as_u64().unwrap();
    assert!(packs >= 2, "{first}");
    assert_eq!(first["verified_now"], packs.div_ceil(2), "{first}");
    assert_eq!(first["overdue"], 0, "{first}");
    let out = run_plan(&plan, DAY2, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let st = fx.status();
    // New packs go first; what is left of day one's is due on day three,
    // still within the window.
    let usb = &st["repositories"]["usb"]["scrub"];
    assert_eq!(usb["overdue"], 0, "{usb}");
    let n = usb["packs"].as_u64().unwrap();
    assert_eq!(usb["verified_now"], n.div_ceil(2), "{usb}");
    assert!(usb["verified_within"].as_u64().unwrap() >= n - 1, "{usb}");
    assert!(fx
        .prom()
        .contains("hbk_plan_scrub_overdue_packs{plan=\"homelab\",repository=\"usb\"} 0\n"));

    // Damage a pack the scrub verified on day one: its window runs out on
    // day three, so that run reads it.
    let state: Value =
        serde_json::from_slice(&std::fs::read(fx.root().join("state/scrub/usb.json")).unwrap())
            .unwrap();
    let day1 = state["packs"]
        .as_object()
        .unwrap()
        .iter()
        .find(|(_, p)| p["verified"] == "2026-11-27T03:00:00Z")
        .map(|(id, _)| id.clone())
        .expect("a pack verified on day one");
    let pack = fx.usb.path.join("data").join(&day1[..2]).join(&day1);
    let mut bytes = std::fs::read(&pack).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::set_permissions(&pack, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(&pack, &bytes).unwrap();
    let out = run_plan(&plan, DAY3, &[]);
    let text = describe(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    let st = fx.status();
    let scrub = step(&st, "scrub:usb");
    assert_eq!(scrub["status"], "failed", "{scrub}");
    assert!(
        scrub["message"].as_str().unwrap().contains(&day1),
        "{scrub}"
    );
    let heal = step(&st, "heal:usb");
    assert_eq!(heal["status"], "ok", "{heal}");
    assert!(
        heal["message"].as_str().unwrap().contains("from local"),
        "{heal}"
    );
    ok(restic(&fx.usb, &["check", "--read-data"]));
}

/// Notifications (issue 16): start, success, failure and drill failure
/// reach a webhook, ntfy, Gotify, healthchecks-style pings and email over
/// SMTP with STARTTLS, with payloads that say what failed and where to
/// look; a receiver that never answers costs at most its timeout and
/// never fails the run.
#[test]
fn plan_notifies_every_event_and_survives_a_dead_receiver() {
    use hbk_tests::sink::{HttpSink, SmtpSink};
    let fx = Fixture::new(false);
    let sink = HttpSink::start(false);
    let dead = HttpSink::start(true);
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (fx.root().join("smtp.crt"), fx.root().join("smtp.key"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let smtp = SmtpSink::start(fx.root(), Some((&cert, &key)));
    let extra = format!(
        r#"
[[notify]]
kind = "webhook"
url = "{s}/hook"
on = ["start", "success", "failure", "drill_failure"]

[[notify]]
kind = "ntfy"
url = "{s}/ntfy/hbk"

[[notify]]
kind = "gotify"
url = "{s}/gotify"
token = {{ env = "HBK_TEST_GOTIFY" }}
on = ["success", "failure"]

[[notify]]
kind = "healthchecks"
url = "{s}/ping/abc"
on = ["start", "success", "failure"]

[[notify]]
kind = "email"
to = ["ops@example.org"]
from = "hbk@example.org"
on = ["success", "failure", "drill_failure"]
smtp = {{ host = "localhost", port = {port}, ca_file = "{cert}" }}

[[notify]]
kind = "webhook"
url = "{dead}/never"
on = ["success"]
timeout = "1s"
"#,
        s = sink.url,
        dead = dead.url,
        port = smtp.port,
        cert = cert.display()
    );
    let plan = fx.plan(&[], 2, &fx.root().join("pve.secret"), &extra);
    let text = std::fs::read_to_string(&plan)
        .unwrap()
        .replace("read_data_subset = \"50%\"", "read_data_subset = \"100%\"");
    std::fs::write(&plan, text).unwrap();
    let run = |args: &[&str], now: &str| {
        let mut c = plan_cmd(args, now);
        c.env("HBK_TEST_GOTIFY", "gotify-app-token");
        c.arg(plan.to_str().unwrap());
        c.output().unwrap()
    };
    let paths = |sink: &HttpSink| -> Vec<String> {
        sink.received()
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    };

    // Success.
    let out = run(&["plan", "run"], DAY1);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(
        paths(&sink),
        [
            "POST /hook",
            "POST /ping/abc/start",
            "POST /hook",
            "POST /gotify/message",
            "POST /ping/abc",
        ]
    );
    let got = sink.received();
    let hook: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(
        (
            hook["plan"].as_str(),
            hook["event"].as_str(),
            hook["ok"].as_bool()
        ),
        (Some("homelab"), Some("success"), Some(true))
    );
    assert!(
        hook["message"]
            .as_str()
            .unwrap()
            .contains("every step held"),
        "{hook}"
    );
    assert_eq!(got[3].header("x-gotify-key"), Some("gotify-app-token"));
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("Subject: [hbk] plan homelab: every step held"),
        "{}",
        mails[0]
    );
    let st = fx.status();
    let dead_step = st["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "notify:5:webhook:success")
        .unwrap();
    assert_eq!(dead_step["status"], "warning", "{dead_step}");
    assert!(
        dead_step["duration_secs"].as_f64().unwrap() < 1.8,
        "{dead_step}"
    );
    assert_eq!(st["ok"], true, "a dead receiver fails nothing");

    // Failure: a source path is gone.
    sink.clear();
    std::fs::rename(fx.root().join("docker"), fx.root().join("docker.away")).unwrap();
    let out = run(&["plan", "run"], DAY2);
    assert_ne!(out.status.code(), Some(0));
    std::fs::rename(fx.root().join("docker.away"), fx.root().join("docker")).unwrap();
    assert_eq!(
        paths(&sink),
        [
            "POST /hook",
            "POST /ping/abc/start",
            "POST /hook",
            "POST /ntfy/hbk",
            "POST /gotify/message",
            "POST /ping/abc/fail",
        ]
    );
    let got = sink.received();
    let hook: Value = serde_json::from_slice(&got[2].body).unwrap();
    assert_eq!(
        (hook["event"].as_str(), hook["ok"].as_bool()),
        (Some("failure"), Some(false))
    );
    let message = hook["message"].as_str().unwrap();
    assert!(
        message.contains("preflight:sources") && message.contains("hbk plan status"),
        "{message}"
    );
    assert_eq!(hook["failed_steps"][0]["name"], "preflight:sources");
    assert_eq!(got[3].header("priority"), Some("5"));
    assert!(String::from_utf8_lossy(&got[3].body).contains("missing source paths"));
    assert!(String::from_utf8_lossy(&got[5].body).contains("FAILED"));
    assert!(smtp
        .messages()
        .iter()
        .any(|m| m.contains("Subject: [hbk] plan homelab: FAILED")));

    // A drill that fails: drill_failure too.
    sink.clear();
    let (pack, len) = hbk_tests::drivers::packs(&fx.local)
        .into_iter()
        .max_by_key(|(_, len)| *len)
        .unwrap();
    let mut bytes = std::fs::read(&pack).unwrap();
    bytes[len as usize / 2] ^= 0x01;
    std::fs::set_permissions(&pack, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    std::fs::write(&pack, &bytes).unwrap();
    let out = run(&["plan", "drill"], DAY3);
    assert_ne!(out.status.code(), Some(0));
    let events: Vec<String> = sink
        .received()
        .iter()
        .filter(|r| r.path == "/hook")
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(events, ["start", "failure", "drill_failure"]);
    assert!(
        paths(&sink)
            .iter()
            .filter(|p| *p == "POST /ntfy/hbk")
            .count()
            == 2
    );
    assert!(smtp.messages().iter().any(|m| m
        .contains("Subject: [hbk] plan homelab: restore drill FAILED")
        && m.contains("drill:local")));
}

/// The status page (issue 16) in a real headless Chromium: after two
/// emulator runs, the second with the USB disk unplugged, the dashboard
/// shows three repositories with the USB copy red, the history plot has a
/// point per run, and a file downloaded through the snapshot browser has
/// the source's hash; no console errors; screenshots kept under
/// target/test-artifacts. Authentication: required beyond loopback, and
/// a password or token lets a client in.
#[test]
fn plan_status_page_in_a_browser() {
    let fx = Fixture::new(true);
    std::fs::create_dir_all(fx.root().join("archive")).unwrap();
    let archive = Repo::new(&fx.root().join("archive"));
    ok(restic(&archive, &["init"]));
    let extra = format!(
        "\n[repositories.archive]\nurl = \"{}\"\npassword = {{ file = \"{}\" }}\n\n[serve]\npassword = {{ file = \"{}\" }}\n",
        archive.path.display(),
        archive.password_file.display(),
        archive.password_file.display(),
    );
    let plan = fx.plan(
        &["usb", "archive"],
        2,
        &fx.root().join("pve.secret"),
        &extra,
    );
    let out = run_plan(&plan, DAY1, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    nix::mount::umount2(&fx.root().join("usb"), nix::mount::MntFlags::MNT_DETACH).unwrap();
    let out = run_plan(&plan, DAY2, &[]);
    assert_ne!(out.status.code(), Some(0));

    // Beyond loopback without a password: refused.
    let open_plan = fx.root().join("open.toml");
    let text = std::fs::read_to_string(&plan).unwrap();
    let without = text.split("\n[serve]").next().unwrap().to_string();
    std::fs::write(&open_plan, &without).unwrap();
    let out = plan_cmd(
        &[
            "plan",
            "serve",
            "--listen",
            "0.0.0.0:0",
            open_plan.to_str().unwrap(),
        ],
        DAY2,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs serve.password"));

    let port = hbk_tests::servers::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let serve = |p: &Path| {
        plan_cmd(
            &[
                "plan",
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                p.to_str().unwrap(),
            ],
            DAY2,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
    };
    let get = |path: &str, auth: Option<&str>| -> (u16, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let code = r
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, r)
    };
    let wait_up = || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "plan serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut child = serve(&plan);
    wait_up();
    assert_eq!(get("/healthz", None).0, 200);
    assert_eq!(get("/", None).0, 401);
    let pw = std::fs::read_to_string(&archive.password_file).unwrap();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("hbk:{}", pw.trim()).as_bytes())
    );
    let (code, page) = get("/", Some(&basic));
    assert_eq!(code, 200);
    assert!(!page.contains(pw.trim()), "a secret on the page");
    let (code, metrics) = get("/metrics", Some(&basic));
    assert_eq!(code, 200);
    assert!(metrics.contains("hbk_plan_repository_success{plan=\"homelab\",repository=\"usb\"} 0"));
    child.kill().unwrap();
    child.wait().unwrap();

    // The browser, on the loopback page without a password.
    let mut child = serve(&open_plan);
    wait_up();
    let source = fx.root().join("docker/data/app/file-3.bin");
    let sha = hex::encode(Sha256::digest(std::fs::read(&source).unwrap()));
    let dirs: Vec<String> = source
        .parent()
        .unwrap()
        .components()
        .skip(1)
        .map(|c| c.as_os_str().to_str().unwrap().to_string())
        .collect();
    let expect = serde_json::json!({
        "repositories": 3, "red": ["usb"], "runs": 2, "repo": "local",
        "dirs": dirs, "file": "file-3.bin", "sha256": sha,
        "source": fx.root().join("docker").to_str().unwrap(),
    });
    let artifacts =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts/status-page");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser/status_page.py");
    let out = Command::new(hbk_tests::servers::venv().join("bin/python"))
        .arg(script)
        .arg(&base)
        .arg(&artifacts)
        .arg(fx.root().join("downloads"))
        .arg(expect.to_string())
        .output()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(artifacts.join("dashboard.png").exists());
}
