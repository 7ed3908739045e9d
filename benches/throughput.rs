//! The timing loop of the micro-benchmarks (`cargo bench -p hbk-repo`,
//! `cargo bench -p hbk-chunker`), shared by path so that neither crate
//! needs a benchmarking framework: each case runs for about a second,
//! and the best of five rounds is printed as throughput, which is the
//! figure least disturbed by whatever else the machine runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` (which processes `bytes` bytes per call) repeatedly and
/// prints `name` with the best rate seen, in MiB/s.
pub fn report<T>(name: &str, bytes: u64, mut f: impl FnMut() -> T) {
    // Calibrate: how many calls fill about 200 ms.
    let once = {
        let t = Instant::now();
        black_box(f());
        t.elapsed().max(Duration::from_nanos(1))
    };
    let calls = (Duration::from_millis(200).as_nanos() / once.as_nanos()).clamp(1, 1_000_000);
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..calls {
            black_box(f());
        }
        best = best.min(t.elapsed() / calls as u32);
    }
    let mib_s = bytes as f64 / (1 << 20) as f64 / best.as_secs_f64();
    println!("{name:<32} {mib_s:>10.1} MiB/s  ({best:?} per call)");
}
