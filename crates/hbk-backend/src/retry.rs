//! [`RetryBackend`]: retries transient backend errors with exponential
//! backoff and jitter, for every backend.
//!
//! Only errors the backend classified as transient
//! ([`BackendError::is_transient`]: timeouts, resets, 5xx) are
//! retried; "not found", authentication and other 4xx
//! answers fail at once. When the attempts run out, the error names the
//! operation, the object and the backend location.
//!
//! Retrying is safe because every object is content-addressed (or, for
//! locks and the config, written whole): a repeated write stores the same
//! bytes. A remove whose first attempt may have reached the server counts
//! a later "not found" as success; a write likewise accepts "already
//! exists" after a transient failure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hbk_repo::{Backend, BackendError, BackendResult, FileType, Id};
use rand::Rng;

/// What the retry layer reports before it waits and tries again.
#[derive(Debug, Clone)]
pub struct RetryEvent {
    /// The backend's location (no secrets).
    pub location: String,
    /// The operation and object, e.g. `write pack 1a2b…`.
    pub operation: String,
    /// The error that will be retried.
    pub error: String,
    /// Which retry this is (1 for the first).
    pub attempt: u32,
    /// How long the layer waits before the retry.
    pub delay: Duration,
}

/// A callback told about every retry (the CLI prints them under `-v`).
pub type RetryObserver = Arc<dyn Fn(&RetryEvent) + Send + Sync>;

/// How often and how long to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per operation, the first included (1: no retries).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled for each further one.
    pub initial_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first
    /// attempt: attempts that each wait long (a server that accepts and
    /// never answers, cut off by the stuck-request timeout) still end in
    /// bounded time.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts from 0.5 s doubling to at most 15 s: about a minute
    /// and a half of backoff before giving up, which outlasts a brief
    /// network outage or a server restart; and no retry after 15 minutes
    /// (restic's limit too).
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(15),
            max_elapsed: Duration::from_secs(15 * 60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based), with "equal
    /// jitter": a random point in the upper half of the backoff, so that
    /// many threads failing together do not retry in lockstep.
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        let full = exp.min(self.max_delay);
        let half = full / 2;
        let jitter = rand::thread_rng().gen_range(0..=half.as_millis() as u64);
        half + Duration::from_millis(jitter)
    }
}

/// A backend decorator that retries transient errors.
pub struct RetryBackend<B> {
    inner: B,
    policy: RetryPolicy,
    observer: Option<RetryObserver>,
}

impl<B: Backend> RetryBackend<B> {
    /// Wraps `inner` with `policy`; `observer` hears of every retry.
    pub fn new(inner: B, policy: RetryPolicy, observer: Option<RetryObserver>) -> Self {
        RetryBackend {
            inner,
            policy,
            observer,
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn run<T>(
        &self,
        operation: impl Fn() -> String,
        mut attempt_fn: impl FnMut(bool) -> BackendResult<T>,
    ) -> BackendResult<T> {
        let mut retried = false;
        let mut attempt = 1;
        let start = Instant::now();
        loop {
            match attempt_fn(retried) {
                Ok(v) => return Ok(v),
                Err(e)
                    if e.is_transient()
                        && attempt < self.policy.max_attempts
                        && start.elapsed() < self.policy.max_elapsed =>
                {
                    let delay = self.policy.delay(attempt);
                    if let Some(obs) = &self.observer {
                        obs(&RetryEvent {
                            location: self.inner.location(),
                            operation: operation(),
                            error: e.to_string(),
                            attempt,
                            delay,
                        });
                    }
                    tracing::debug!(operation = %operation(), error = %e, attempt, "retrying");
                    std::thread::sleep(delay);
                    retried = true;
                    attempt += 1;
                }
                Err(e) if e.is_transient() => {
                    return Err(BackendError::Other {
                        what: format!("{} on {}", operation(), self.inner.location()),
                        message: format!(
                            "giving up after {attempt} attempts in {:.0} s: {e}",
                            start.elapsed().as_secs_f64()
                        ),
                    })
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn describe(op: &str, t: FileType, id: &Id) -> String {
    match t {
        FileType::Config => format!("{op} config"),
        _ => format!("{op} {t} {}", id.to_hex()),
    }
}

impl<B: Backend> Backend for RetryBackend<B> {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn lists_writes_at_once(&self) -> bool {
        self.inner.lists_writes_at_once()
    }

    fn packs_in_flight(&self) -> usize {
        self.inner.packs_in_flight()
    }

    fn create(&self) -> BackendResult<()> {
        self.run(|| "create repository".into(), |_| self.inner.create())
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        self.run(|| format!("list {t} files"), |_| self.inner.list(t))
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        self.run(|| describe("read", t, id), |_| self.inner.read_full(t, id))
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        self.run(
            || describe("read", t, id),
            |_| self.inner.read_range(t, id, offset, length),
        )
    }

    /// Opening the stream is retried; an error part-way through is the
    /// caller's to handle (restore reads the rest again with
    /// [`Backend::read_range`], which is retried).
    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        self.run(
            || describe("read", t, id),
            |_| self.inner.read_range_stream(t, id, offset, length),
        )
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.run(
            || describe("write", t, id),
            |retried| match self.inner.write(t, id, data) {
                Err(BackendError::AlreadyExists { .. }) if retried => Ok(()),
                other => other,
            },
        )
    }

    fn write_bytes(&self, t: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        self.run(
            || describe("write", t, id),
            |retried| match self.inner.write_bytes(t, id, data.clone()) {
                Err(BackendError::AlreadyExists { .. }) if retried => Ok(()),
                other => other,
            },
        )
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.run(
            || describe("remove", t, id),
            |retried| match self.inner.remove(t, id) {
                Err(e) if retried && e.is_not_found() => Ok(()),
                other => other,
            },
        )
    }

    fn discard(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.run(|| describe("remove", t, id), |_| self.inner.discard(t, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::{Arc, Mutex};

    /// Fails the first `fail` calls of every operation with `err`.
    struct Flaky {
        fail: u32,
        calls: AtomicU32,
        err: fn() -> BackendError,
    }

    impl Flaky {
        fn step(&self) -> BackendResult<()> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail {
                Err((self.err)())
            } else {
                Ok(())
            }
        }
    }

    impl Backend for Flaky {
        fn location(&self) -> String {
            "flaky:".into()
        }
        fn create(&self) -> BackendResult<()> {
            self.step()
        }
        fn list(&self, _: FileType) -> BackendResult<Vec<(Id, u64)>> {
            self.step().map(|_| vec![])
        }
        fn read_full(&self, _: FileType, _: &Id) -> BackendResult<Vec<u8>> {
            self.step().map(|_| b"x".to_vec())
        }
        fn read_range(&self, _: FileType, _: &Id, _: u64, _: u64) -> BackendResult<Vec<u8>> {
            self.step().map(|_| b"x".to_vec())
        }
        fn write(&self, _: FileType, _: &Id, _: &[u8]) -> BackendResult<()> {
            self.step()
        }
        fn remove(&self, _: FileType, _: &Id) -> BackendResult<()> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail {
                Err((self.err)())
            } else {
                Err(BackendError::NotFound { what: "x".into() })
            }
        }
    }

    fn transient() -> BackendError {
        BackendError::Transient {
            what: "x".into(),
            message: "500 Internal Server Error".into(),
        }
    }

    fn fast(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            initial_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_elapsed: Duration::from_secs(60),
        }
    }

    fn flaky(fail: u32, err: fn() -> BackendError) -> Flaky {
        Flaky {
            fail,
            calls: AtomicU32::new(0),
            err,
        }
    }

    #[test]
    fn transient_errors_are_retried_and_reported() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let obs: RetryObserver = Arc::new(move |e: &RetryEvent| {
            s.lock().unwrap().push((e.attempt, e.operation.clone()))
        });
        let b = RetryBackend::new(flaky(2, transient), fast(5), Some(obs));
        let id = Id::hash(b"p");
        b.write(FileType::Pack, &id, b"data").unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].0, 2);
        assert_eq!(seen[0].1, format!("write pack {}", id.to_hex()));
    }

    #[test]
    fn gives_up_with_object_and_location() {
        let b = RetryBackend::new(flaky(10, transient), fast(3), None);
        let id = Id::hash(b"p");
        let err = b.read_full(FileType::Index, &id).unwrap_err().to_string();
        assert!(
            err.contains(&format!("read index {}", id.to_hex())),
            "{err}"
        );
        assert!(err.contains("flaky:"), "{err}");
        assert!(err.contains("after 3 attempts"), "{err}");
        assert_eq!(b.inner().calls.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        let b = RetryBackend::new(
            flaky(10, || BackendError::Other {
                what: "x".into(),
                message: "403 Forbidden".into(),
            }),
            fast(5),
            None,
        );
        assert!(b.list(FileType::Snapshot).is_err());
        assert_eq!(b.inner().calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn remove_after_a_lost_answer_succeeds() {
        let b = RetryBackend::new(flaky(1, transient), fast(3), None);
        b.remove(FileType::Lock, &Id::hash(b"l")).unwrap();
        let b = RetryBackend::new(flaky(0, transient), fast(3), None);
        assert!(b
            .remove(FileType::Lock, &Id::hash(b"l"))
            .unwrap_err()
            .is_not_found());
    }

    #[test]
    fn no_retry_starts_after_max_elapsed() {
        let policy = RetryPolicy {
            max_elapsed: Duration::from_millis(30),
            ..fast(1000)
        };
        let b = RetryBackend::new(flaky(u32::MAX, transient), policy, None);
        let started = Instant::now();
        let err = b.list(FileType::Snapshot).unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "{err}");
        assert!(err.contains("giving up after"), "{err}");
        let calls = b.inner().calls.load(Ordering::SeqCst);
        assert!((2..1000).contains(&calls), "{calls} attempts");
    }

    #[test]
    fn delays_grow_and_stay_bounded() {
        let p = RetryPolicy::default();
        for retry in 1..20 {
            let d = p.delay(retry);
            assert!(d <= p.max_delay, "{d:?}");
        }
        assert!(p.delay(1) >= Duration::from_millis(250));
        assert!(p.delay(4) >= Duration::from_secs(2));
    }
}
