//! Running work on a bounded thread pool, and taking what a thread
//! returned.

/// What a joined thread returned (`handle.join()` of a scoped or a plain
/// thread); its panic goes on in the caller, as if the work had run there.
pub fn joined<T>(result: std::thread::Result<T>) -> T {
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

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
