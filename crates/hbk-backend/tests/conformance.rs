//! The backend conformance suite on the backends that need no server:
//! local directory, the metadata cache in front of one, the retry layer
//! and the memory backend. (S3 and REST run it in the interop tests.)

use std::sync::{Arc, Mutex};

use hbk_backend::{
    testsuite, CachedBackend, LocalBackend, MemoryBackend, RetryBackend, RetryPolicy,
};
use hbk_repo::{Backend, Id};

/// Keeps every temporary directory until the test ends.
struct Dirs(Mutex<Vec<tempfile::TempDir>>);

impl Dirs {
    fn new() -> Dirs {
        Dirs(Mutex::new(Vec::new()))
    }

    fn path(&self) -> std::path::PathBuf {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        self.0.lock().unwrap().push(dir);
        path
    }
}

#[test]
fn memory() {
    testsuite::run(&|| Arc::new(MemoryBackend::new()));
}

#[test]
fn local() {
    let dirs = Dirs::new();
    testsuite::run(&|| Arc::new(LocalBackend::new(dirs.path().join("repo"))));
}

#[test]
fn cached_local() {
    let dirs = Dirs::new();
    testsuite::run(&|| {
        let inner: Arc<dyn Backend> = Arc::new(LocalBackend::new(dirs.path().join("repo")));
        let cache = CachedBackend::new(inner, &dirs.path(), &Id::hash(b"repository")).unwrap();
        Arc::new(cache)
    });
}

#[test]
fn retry_memory() {
    let policy = RetryPolicy {
        max_attempts: 2,
        initial_delay: std::time::Duration::from_millis(1),
        max_delay: std::time::Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    testsuite::run(&|| {
        Arc::new(RetryBackend::new(
            MemoryBackend::new(),
            policy.clone(),
            None,
        ))
    });
}
