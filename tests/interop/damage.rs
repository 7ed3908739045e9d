//! The corruption matrix: every kind of repository file (data pack, tree
//! pack, index, snapshot, key, config) × every fault (bit flip, 16 bytes
//! overwritten, truncation, zero length, deletion), on v1 and v2
//! repositories. For each damaged copy: `hbk check --read-data` detects
//! what restic's does and names the object, `hbk restore` never exits 0
//! with different bytes, and nothing panics or hangs. restic 0.14's
//! `check --read-data` runs on the same copy for comparison.
//!
//! CI runs one seeded position per cell of a v2 repository, for bit flips
//! and truncations.
//! `HBK_DAMAGE_SEEDS=N` runs N positions per cell of both formats (the
//! long run), and `HBK_DAMAGE_REPORT=FILE` writes the matrix as a
//! Markdown table.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use hbk_tests::compare::{compare_trees, CompareOptions};
use hbk_tests::damage::{pick, run_bounded, Bounded, Fault, Object};
use hbk_tests::drivers::{hbk, hbk_command, ok, restic_command, Repo};
use rand::SeedableRng;

use crate::{restored, tempdir};

/// A command that takes longer than this on the small repository hangs.
const LIMIT: Duration = Duration::from_secs(180);

/// What one damaged copy gave.
struct Cell {
    version: u32,
    object: Object,
    fault: Fault,
    seed: u64,
    damage: String,
    hbk_check: Bounded,
    named: bool,
    restore: Bounded,
    restore_differs: Vec<String>,
    restic_check: Bounded,
}

impl Cell {
    fn hbk_detected(&self) -> bool {
        !self.hbk_check.hung && self.hbk_check.code != Some(0)
    }

    fn restic_detected(&self) -> bool {
        !self.restic_check.hung && self.restic_check.code != Some(0)
    }

    /// Problems the matrix does not allow, worded for the failure message.
    fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        for (what, b) in [
            ("hbk check", &self.hbk_check),
            ("hbk restore", &self.restore),
        ] {
            if b.hung {
                p.push(format!("{what} hung"));
            }
            if b.panicked() {
                p.push(format!("{what} panicked: {}", b.output));
            }
        }
        if self.restore.code == Some(0) && !self.restore_differs.is_empty() {
            p.push(format!(
                "restore exited 0 with different bytes: {:?}",
                self.restore_differs
            ));
        }
        if self.restic_detected() && !self.hbk_detected() {
            p.push(format!(
                "restic detected it, hbk check did not: {}",
                self.hbk_check.output
            ));
        }
        if self.hbk_detected() && !self.named {
            p.push(format!(
                "hbk check did not name the object: {}",
                self.hbk_check.output
            ));
        }
        p
    }
}

/// A small source: a file over several chunks, small files, a subdir.
fn source(root: &Path) {
    std::fs::create_dir_all(root.join("sub")).unwrap();
    let big: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), big).unwrap();
    for i in 0..20 {
        std::fs::write(
            root.join("sub").join(format!("f{i}")),
            format!("file {i}\n"),
        )
        .unwrap();
    }
}

fn damaged_cell(
    base: &Repo,
    src: &Path,
    version: u32,
    object: Object,
    fault: Fault,
    seed: u64,
) -> Cell {
    let dir = tempdir();
    let repo = Repo {
        path: dir.path().join("repo"),
        password_file: base.password_file.clone(),
    };
    hbk_tests::copy_dir(&base.path, &repo.path);
    let password = std::fs::read_to_string(&base.password_file).unwrap();
    let (file, name) = pick(&repo.path, password.trim_end(), object);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let damage = fault.apply(&file, &mut rng);

    let hbk_check = run_bounded(hbk_command(&repo, &["check", "--read-data"]), LIMIT);
    // A deleted file cannot be named by its id; what points at the loss
    // is: the config's or a key's absence, and packs no index lists.
    let word = match object {
        Object::Key => "key",
        Object::Config => "config",
        Object::Index => "not referenced in any index",
        _ => name.as_str(),
    };
    let named = hbk_check.output.contains(&name)
        || (fault == Fault::Delete || object == Object::Config) && hbk_check.output.contains(word);
    let target = dir.path().join("restored");
    let restore = run_bounded(
        hbk_command(
            &repo,
            &["restore", "latest", "--target", target.to_str().unwrap()],
        ),
        LIMIT,
    );
    let restore_differs = if restore.code == Some(0) {
        compare_trees(src, &restored(&target, src), CompareOptions::default())
    } else {
        Vec::new()
    };
    let restic_check = run_bounded(restic_command(&repo, &["check", "--read-data"]), LIMIT);
    eprintln!(
        "v{version} {} {}: hbk check {:.1?}, hbk restore {:.1?}, restic check {:.1?}",
        object.name(),
        fault.name(),
        hbk_check.took,
        restore.took,
        restic_check.took
    );
    Cell {
        version,
        object,
        fault,
        seed,
        damage,
        hbk_check,
        named,
        restore,
        restore_differs,
        restic_check,
    }
}

/// The matrix as a Markdown table: per object and fault, cells detected
/// by hbk and by restic, over cells run.
fn report(cells: &[Cell]) -> String {
    let mut s = String::from(
        "| object | fault | runs | hbk check detected (named) | restic check detected | hbk restore exit 0 | wrong bytes restored |\n|---|---|---|---|---|---|---|\n",
    );
    for object in Object::ALL {
        for fault in Fault::ALL {
            let these: Vec<&Cell> = cells
                .iter()
                .filter(|c| c.object == object && c.fault == fault)
                .collect();
            let count = |f: &dyn Fn(&Cell) -> bool| these.iter().filter(|c| f(c)).count();
            s.push_str(&format!(
                "| {} | {} | {} | {} ({}) | {} | {} | {} |\n",
                object.name(),
                fault.name(),
                these.len(),
                count(&|c| c.hbk_detected()),
                count(&|c| c.hbk_detected() && c.named),
                count(&|c| c.restic_detected()),
                count(&|c| c.restore.code == Some(0)),
                count(&|c| c.restore.code == Some(0) && !c.restore_differs.is_empty()),
            ));
        }
    }
    s
}

#[test]
fn every_damaged_file_is_detected_named_and_never_restored_wrong() {
    // CI: one position per cell of a v2 repository, two faults; the long
    // run: both formats, every fault, HBK_DAMAGE_SEEDS positions per cell.
    let long: Option<u64> = std::env::var("HBK_DAMAGE_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok());
    let seeds = long.unwrap_or(1);
    let versions: &[u32] = if long.is_some() { &[1, 2] } else { &[2] };
    let dir = tempdir();
    let src = dir.path().join("src");
    source(&src);
    let mut bases = Vec::new();
    for &version in versions {
        let home = dir.path().join(format!("v{version}"));
        std::fs::create_dir(&home).unwrap();
        let base = Repo::new(&home);
        ok(hbk(
            &base,
            &["init", "--repository-version", &version.to_string()],
        ));
        ok(hbk(&base, &["backup", "-q", src.to_str().unwrap()]));
        bases.push((version, base));
    }
    let mut jobs = Vec::new();
    for (version, base) in &bases {
        for object in Object::ALL {
            for fault in Fault::ALL {
                // CI: the faults that reach the most code paths (a flipped
                // bit inside, a cut end); the long run: all of them.
                if long.is_none() && !matches!(fault, Fault::BitFlip | Fault::Truncate) {
                    continue;
                }
                for k in 0..seeds {
                    let seed = 0x6862_6b00 + k * 1000 + u64::from(*version);
                    jobs.push((*version, base, object, fault, seed));
                }
            }
        }
    }
    let jobs = Mutex::new(jobs);
    let cells = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some((version, base, object, fault, seed)) = jobs.lock().unwrap().pop() else {
                    break;
                };
                let cell = damaged_cell(base, &src, version, object, fault, seed);
                cells.lock().unwrap().push(cell);
            });
        }
    });
    let cells = cells.into_inner().unwrap();
    let table = report(&cells);
    println!("{table}");
    if let Ok(path) = std::env::var("HBK_DAMAGE_REPORT") {
        std::fs::write(path, &table).unwrap();
    }
    let problems: Vec<String> = cells
        .iter()
        .flat_map(|c| {
            c.problems().into_iter().map(move |p| {
                format!(
                    "v{} {} {} (seed {:#x}, {}): {p}",
                    c.version,
                    c.object.name(),
                    c.fault.name(),
                    c.seed,
                    c.damage
                )
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // A matrix that detects nothing would pass the checks above only if
    // restic detected nothing either: make sure the faults bite.
    let detected = cells.iter().filter(|c| c.hbk_detected()).count();
    assert!(
        detected * 10 >= cells.len() * 8,
        "only {detected} of {} detected",
        cells.len()
    );
}
