//! Running work on a bounded thread pool.

/// Runs `f` on a rayon pool of `threads` threads (at least one), so its
/// parallel iterators use at most that many; if no pool can be built, `f`
/// runs on the global pool instead.
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
