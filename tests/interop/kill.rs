//! Kill campaign (issue #12, item 2): `kill -9` at seeded random moments
//! of backup, copy, tag, forget --prune, prune, repair index and repair
//! snapshots, on local, S3 (moto) and REST (`rclone serve restic`)
//! repositories. After each kill: the killed process's lock is stale and
//! restic 0.14 wants it gone before its exclusive check (`restic unlock`
//! removes it), `restic check --read-data` passes, every snapshot taken
//! before the series is still there with the same tree (check has just
//! read every blob those trees reach), and the same command run again
//! completes. At the end the first snapshot is restored by restic and
//! compared with its source.
//!
//! Each command is first run uncut on the same kind of state to measure
//! how long it takes; the kill moments are spread over that duration.
//!
//! CI runs one kill per command on a local repository, of backup on S3
//! and of forget --prune on REST; `HBK_KILL_RUNS=N` runs N kills of every command on
//! every backend (the long variant, docs/reliability.md), and
//! `HBK_KILL_SEED` repeats a run.

use std::path::{Path, PathBuf};

use hbk_tests::compare::{assert_same_tree, CompareOptions};
use hbk_tests::drivers::{describe, hbk, json_summary, ok, Repo};
use hbk_tests::kill::{env_count, kill_times, run_and_kill_at, seeded_rng, timed, Ending};
use hbk_tests::servers::{Remote, RestServer, S3Server};
use hbk_tests::target::Target;
use hbk_tests::tree::random_files;
use rand::rngs::StdRng;
use rand::Rng;

use crate::{restored, tempdir};

const MIB: u64 = 1 << 20;

/// One command the campaign kills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Backup,
    Copy,
    Tag,
    ForgetPrune,
    Prune,
    RepairIndex,
    RepairSnapshots,
}

/// Every command, in an order where each finds work left by the ones
/// before (tag needs snapshots; forget --prune removes them).
const ALL: [Step; 7] = [
    Step::Backup,
    Step::Copy,
    Step::Tag,
    Step::ForgetPrune,
    Step::Prune,
    Step::RepairIndex,
    Step::RepairSnapshots,
];

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::Backup => "backup",
            Step::Copy => "copy",
            Step::Tag => "tag",
            Step::ForgetPrune => "forget --prune",
            Step::Prune => "prune",
            Step::RepairIndex => "repair index",
            Step::RepairSnapshots => "repair snapshots",
        }
    }
}

/// What happened to one command on one backend.
#[derive(Default)]
struct Row {
    /// Kill attempts.
    runs: u32,
    /// Attempts where the kill landed before the command ended.
    killed: u32,
    /// Landed kills after which everything held.
    clean: u32,
    failures: Vec<String>,
}

/// The state of a campaign on one backend.
struct Campaign {
    backend: &'static str,
    target: Target,
    rng: StdRng,
    work: tempfile::TempDir,
    /// The local repository `copy` copies from.
    source: Repo,
    /// The first snapshot's source directory.
    base: PathBuf,
    /// (id, tree) of the snapshots taken before any kill.
    keep: Vec<(String, String)>,
    next: u32,
    rows: Vec<(Step, Row)>,
}

impl Campaign {
    fn new(backend: &'static str, target: Target) -> Campaign {
        let rng = seeded_rng(&format!("kill campaign on {backend}"));
        let work = tempdir();
        let source = Repo::new(&subdir(work.path(), "source"));
        ok(hbk(&source, &["init"]));
        let mut c = Campaign {
            backend,
            target,
            rng,
            work,
            source,
            base: PathBuf::new(),
            keep: Vec::new(),
            next: 0,
            rows: Vec::new(),
        };
        ok(c.target.hbk(&["init"]));
        c.base = c.dataset();
        let base = c.base.to_str().unwrap().to_string();
        ok(c.target
            .hbk(&["--pack-size", "4", "backup", "-q", "--tag", "keep", &base]));
        ok(c.target.restic(&["backup", "-q", "--tag", "keep", &base]));
        c.keep = c.snapshots_tagged("keep");
        assert_eq!(c.keep.len(), 2);
        c
    }

    /// (id, tree) of the snapshots carrying `tag`, as restic lists them.
    fn snapshots_tagged(&self, tag: &str) -> Vec<(String, String)> {
        let out = ok(self.target.restic(&["snapshots", "--json", "--tag", tag]));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut list: Vec<(String, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["tree"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        list.sort();
        list
    }

    /// A fresh directory of random (incompressible) files, 12 MiB in all:
    /// three 4 MiB packs' worth, so kills land between pack writes.
    fn dataset(&mut self) -> PathBuf {
        self.next += 1;
        let dir = self.work.path().join(format!("data-{}", self.next));
        random_files(&dir, self.rng.gen(), &[3072, 1024, 2560, 512, 3072, 2048]);
        assert!(dir_size(&dir) >= 12 * MIB);
        dir
    }

    /// Backs `dir` up into the target with `tag`; returns the snapshot id.
    fn backup(&self, dir: &Path, tag: &str) -> String {
        let out = ok(self.target.hbk(&[
            "--pack-size",
            "4",
            "backup",
            "--json",
            "--tag",
            tag,
            dir.to_str().unwrap(),
        ]));
        json_summary(&out)["snapshot_id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Prepares the state `step` works on and returns its arguments.
    fn prepare(&mut self, step: Step) -> Vec<String> {
        let own = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match step {
            Step::Backup => {
                let d = self.dataset();
                own(&[
                    "--pack-size",
                    "4",
                    "backup",
                    "--tag",
                    "round",
                    d.to_str().unwrap(),
                ])
            }
            Step::Copy => {
                let d = self.dataset();
                let out = ok(hbk(
                    &self.source,
                    &["backup", "--json", "--tag", "round", d.to_str().unwrap()],
                ));
                let id = json_summary(&out)["snapshot_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                own(&[
                    "--pack-size",
                    "4",
                    "copy",
                    "--from-repo",
                    self.source.path.to_str().unwrap(),
                    "--from-password-file",
                    self.source.password_file.to_str().unwrap(),
                    &id,
                ])
            }
            Step::Tag => {
                self.next += 1;
                own(&["tag", "--tag", "round", "--add", &format!("t{}", self.next)])
            }
            Step::ForgetPrune => {
                // A full and a thinned backup of one directory: keeping
                // the last leaves half of each pack in use, so prune
                // repacks as well as deletes.
                let d = self.dataset();
                self.backup(&d, "round");
                thin(&d);
                self.backup(&d, "round");
                own(&[
                    "--pack-size",
                    "4",
                    "forget",
                    "--tag",
                    "round",
                    "--group-by",
                    "",
                    "--keep-last",
                    "1",
                    "--prune",
                    "--max-unused",
                    "0",
                ])
            }
            Step::Prune => {
                let d = self.dataset();
                let gone = self.backup(&d, "gone");
                thin(&d);
                self.backup(&d, "round");
                ok(self.target.hbk(&["forget", &gone]));
                own(&["--pack-size", "4", "prune", "--max-unused", "0"])
            }
            Step::RepairIndex => own(&["repair", "index", "--read-all-packs"]),
            Step::RepairSnapshots => own(&["repair", "snapshots"]),
        }
    }

    /// After a kill: what must hold, or why it does not.
    fn verify_after_kill(&self, args: &[&str]) -> Result<(), String> {
        let unlock = self.target.restic(&["unlock"]);
        if !unlock.status.success() {
            return Err(format!("restic unlock: {}", describe(&unlock)));
        }
        let check = self.target.restic(&["check", "--read-data"]);
        if !check.status.success() {
            return Err(format!("restic check --read-data: {}", describe(&check)));
        }
        let keep = self.snapshots_tagged("keep");
        if keep != self.keep {
            return Err(format!(
                "snapshots from before the kills changed: {:?} -> {keep:?}",
                self.keep
            ));
        }
        let rerun = self.target.hbk(args);
        if !rerun.status.success() {
            return Err(format!("rerun of hbk {args:?}: {}", describe(&rerun)));
        }
        Ok(())
    }

    /// Measures `step`, then kills it `runs` times, checking after each.
    fn run(&mut self, step: Step, runs: u32) {
        let args = self.prepare(step);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, duration) = timed(self.target.hbk_command(&args));
        ok(out);
        let mut row = Row::default();
        for planned in kill_times(&mut self.rng, duration, runs) {
            row.runs += 1;
            // A run can be faster than the measured one (warm caches,
            // less to do): when it ends before the kill, try again with
            // the moment halved, a few times.
            let mut at = planned;
            let mut ending;
            let mut args_used;
            let mut attempts = 0;
            loop {
                let args = self.prepare(step);
                args_used = args.clone();
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                ending = run_and_kill_at(self.target.hbk_command(&args), at);
                attempts += 1;
                match &ending {
                    Ending::Exited(status) => {
                        assert!(status.success(), "{} hbk {args:?}: {status}", self.backend);
                    }
                    Ending::Killed => break,
                }
                if attempts == 4 {
                    break;
                }
                at /= 2;
            }
            let args: Vec<&str> = args_used.iter().map(String::as_str).collect();
            match ending {
                Ending::Exited(_) => {}
                Ending::Killed => {
                    row.killed += 1;
                    let label = format!(
                        "{} on {}, killed at {at:?} of {duration:?}",
                        step.name(),
                        self.backend
                    );
                    eprintln!("{label}");
                    match self.verify_after_kill(&args) {
                        Ok(()) => row.clean += 1,
                        Err(e) => row.failures.push(format!("{label}: {e}")),
                    }
                }
            }
        }
        self.rows.push((step, row));
    }

    /// Final checks, the tally printed, and a failure if any run was not
    /// clean.
    fn finish(self) {
        ok(self.target.restic(&["unlock"]));
        ok(self.target.restic(&["check", "--read-data"]));
        let t = self.work.path().join("restore");
        let (first, _) = &self.keep[0];
        ok(self
            .target
            .restic(&["restore", first, "--target", t.to_str().unwrap()]));
        let options = CompareOptions {
            owners: false,
            xattrs: false,
            ..CompareOptions::all()
        };
        assert_same_tree(&self.base, &restored(&t, &self.base), options);
        eprintln!("| command | backend | runs | killed mid-way | clean |");
        for (step, row) in &self.rows {
            eprintln!(
                "| {} | {} | {} | {} | {} |",
                step.name(),
                self.backend,
                row.runs,
                row.killed,
                row.clean
            );
        }
        let failures: Vec<&String> = self.rows.iter().flat_map(|(_, r)| &r.failures).collect();
        assert!(
            failures.is_empty(),
            "not clean after a kill:\n{failures:#?}"
        );
        let killed: u32 = self.rows.iter().map(|(_, r)| r.killed).sum();
        let runs: u32 = self.rows.iter().map(|(_, r)| r.runs).sum();
        // Kill moments lie inside the measured duration, so most land;
        // one that comes after a faster rerun ended is not a failure.
        assert!(killed * 2 >= runs, "only {killed} of {runs} kills landed");
    }
}

/// Removes every other large file, so a later backup keeps half the data.
fn thin(dir: &Path) {
    for i in [1, 3, 5] {
        std::fs::remove_file(dir.join(format!("f{i}"))).unwrap();
    }
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn subdir(root: &Path, name: &str) -> PathBuf {
    let p = root.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The commands and kills per command for a backend: `ci` in CI, every
/// command `HBK_KILL_RUNS` times in the long variant.
fn plan(ci: &[Step]) -> (Vec<Step>, u32) {
    match env_count("HBK_KILL_RUNS", 0) {
        0 => (ci.to_vec(), 1),
        n => (ALL.to_vec(), n),
    }
}

fn campaign(backend: &'static str, target: Target, ci: &[Step]) {
    let (steps, runs) = plan(ci);
    let mut c = Campaign::new(backend, target);
    for step in steps {
        c.run(step, runs);
    }
    c.finish();
}

#[test]
fn kill_campaign_local() {
    let dir = tempdir();
    let repo = Repo::new(dir.path());
    campaign("local", Target::Local(repo), &ALL);
}

#[test]
fn kill_campaign_s3() {
    let s3 = S3Server::start();
    let remote = Remote::new(s3.url(), s3.env());
    campaign("s3", Target::Remote(remote), &[Step::Backup]);
}

#[test]
fn kill_campaign_rest() {
    let rest = RestServer::start();
    let remote = Remote::new(rest.url(), rest.env());
    campaign("rest", Target::Remote(remote), &[Step::ForgetPrune]);
}
