//! The CI-sized fuzz run on the stable toolchain: every target's body
//! (the code cargo-fuzz runs) on each committed seed, then on random
//! mutations of the seeds — bit flips, overwritten bytes, truncations,
//! insertions, splices of two seeds — for a fixed budget per target. No
//! coverage guidance (that is `scripts/fuzz.sh`, nightly), but every
//! target's invariants are exercised on every CI run without building
//! libFuzzer. A failing input is written to
//! `target/fuzz-smoke/TARGET-crash` for `cargo fuzz run TARGET FILE`.
//!
//! `HBK_FUZZ_SMOKE_MUTATIONS` sets the mutations per target (default
//! 20,000); the seed of the random choices is printed and can be set with
//! `HBK_FUZZ_SMOKE_SEED`.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use hbk_fuzz::targets::ALL;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// One random change of `input`, drawing bytes from `other` for splices.
fn mutate(rng: &mut StdRng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        let len = out.len();
        match rng.gen_range(0..6) {
            0 if len > 0 => {
                let at = rng.gen_range(0..len);
                out[at] ^= 1 << rng.gen_range(0..8);
            }
            1 if len > 0 => {
                let at = rng.gen_range(0..len);
                let end = (at + rng.gen_range(1..=16)).min(len);
                for b in &mut out[at..end] {
                    *b = rng.gen();
                }
            }
            2 if len > 0 => out.truncate(rng.gen_range(0..len)),
            3 => {
                let at = rng.gen_range(0..=len);
                let bytes: Vec<u8> = (0..rng.gen_range(1..=8)).map(|_| rng.gen()).collect();
                out.splice(at..at, bytes);
            }
            4 if !other.is_empty() => {
                let at = rng.gen_range(0..=len);
                let from = rng.gen_range(0..other.len());
                let to = rng.gen_range(from..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..to]);
            }
            _ if len > 0 => {
                // An interesting byte: a boundary value at a random place.
                let at = rng.gen_range(0..len);
                out[at] = [0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'{', b'0'][rng.gen_range(0..8)];
            }
            _ => out.push(rng.gen()),
        }
    }
    out
}

/// Runs `body` on `input`; on a panic, keeps the input and fails.
fn run_one(target: &str, body: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| body(input))).is_err() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-smoke");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{target}-crash"));
        std::fs::write(&file, input).unwrap();
        panic!(
            "fuzz target {target} failed on the input kept in {}",
            file.display()
        );
    }
}

#[test]
fn every_target_survives_its_seeds_and_their_mutations() {
    let mutations: usize = std::env::var("HBK_FUZZ_SMOKE_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let seed: u64 = std::env::var("HBK_FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("HBK_FUZZ_SMOKE_SEED={seed}");
    for (k, (target, body)) in ALL.into_iter().enumerate() {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "no seeds for {target}");
        for s in &seeds {
            run_one(target, body, s);
        }
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(k as u64));
        for _ in 0..mutations {
            let a = &seeds[rng.gen_range(0..seeds.len())];
            let b = &seeds[rng.gen_range(0..seeds.len())];
            run_one(target, body, &mutate(&mut rng, a, b));
        }
    }
}
