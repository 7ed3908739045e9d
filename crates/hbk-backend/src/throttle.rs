//! Bandwidth limits (`--limit-upload`, `--limit-download`, as restic's, in
//! KiB/s): a [`ThrottledBackend`] paces the bytes of file bodies written
//! and read through it with a token bucket per direction, so that a
//! backup does not saturate a home uplink.
//!
//! One bucket serves all threads, so the limit holds for the total rate,
//! not per connection. The bucket starts full with a tenth of a second's
//! worth of bytes and may go into debt: a transfer takes its bytes at
//! once and waits until the debt is paid back at the limited rate. A
//! write waits before it is sent (its bytes leave when the rate allows);
//! a buffered ranged read waits before it is requested; a whole-file
//! read, whose size is not known beforehand, waits after it arrived. A
//! streamed read (restore's) is paced along the way: each piece read from
//! it takes its bytes, so a long stream flows at the limited rate and
//! what it carries arrives (and is written, and shown) steadily. Other
//! calls move whole files, so there the limit holds on average over a
//! file: a single pack still goes over the wire at the link's speed, and
//! the pauses between files bring the rate down to the limit.
//!
//! Listings, removals and the repository's creation are not paced (they
//! carry no file bodies). Unset limits add no wrapper at all.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use hbk_repo::{Backend, BackendResult, FileType, Id};

/// Bandwidth limits in KiB/s (1024 bytes per second); 0 is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound of the upload rate (bytes written), in KiB/s.
    pub upload_kib: u64,
    /// Upper bound of the download rate (bytes read), in KiB/s.
    pub download_kib: u64,
}

impl Limits {
    /// No limits.
    pub const NONE: Limits = Limits {
        upload_kib: 0,
        download_kib: 0,
    };

    /// Whether neither direction is limited (then no wrapper is added).
    pub fn is_unlimited(&self) -> bool {
        self.upload_kib == 0 && self.download_kib == 0
    }
}

/// A token bucket shared by all threads: `rate` bytes per second, at most
/// `burst` bytes saved up while idle.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    /// Bytes that may go out now; negative while in debt.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A bucket for `kib` KiB/s; `None` when unlimited.
    fn new(kib: u64) -> Option<Bucket> {
        if kib == 0 {
            return None;
        }
        let rate = kib.saturating_mul(1024) as f64;
        let burst = rate / 10.0;
        Some(Bucket {
            rate,
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                at: Instant::now(),
            }),
        })
    }

    /// Takes `bytes` from the bucket and returns how long the caller must
    /// wait before the debt this leaves is paid back.
    fn reserve(&self, bytes: u64) -> Duration {
        // A panic while holding the lock leaves consistent numbers.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(s.at).as_secs_f64();
        s.tokens = (s.tokens + elapsed * self.rate).min(self.burst);
        s.at = now;
        s.tokens -= bytes as f64;
        if s.tokens >= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(-s.tokens / self.rate).unwrap_or(Duration::MAX)
    }

    /// Takes `bytes` and sleeps until the rate allows them.
    fn take(&self, bytes: u64) {
        let wait = self.reserve(bytes);
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// Takes `bytes` from `bucket`, if there is one.
fn pace(bucket: &Option<Bucket>, bytes: u64) {
    if let Some(b) = bucket {
        b.take(bytes);
    }
}

/// A stream whose bytes are taken from a bucket as they are read.
struct Paced<'a> {
    inner: Box<dyn std::io::Read + Send + 'a>,
    bucket: &'a Bucket,
}

impl std::io::Read for Paced<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bucket.take(n as u64);
        Ok(n)
    }
}

/// A backend decorator that limits the upload and download rates of
/// file bodies (see the [module docs](self)).
#[derive(Debug)]
pub struct ThrottledBackend<B> {
    inner: B,
    upload: Option<Bucket>,
    download: Option<Bucket>,
}

impl<B: Backend> ThrottledBackend<B> {
    /// Wraps `inner` with `limits`.
    pub fn new(inner: B, limits: Limits) -> Self {
        ThrottledBackend {
            inner,
            upload: Bucket::new(limits.upload_kib),
            download: Bucket::new(limits.download_kib),
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: Backend> Backend for ThrottledBackend<B> {
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
        self.inner.create()
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        self.inner.list(t)
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        let data = self.inner.read_full(t, id)?;
        pace(&self.download, data.len() as u64);
        Ok(data)
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        pace(&self.download, length);
        self.inner.read_range(t, id, offset, length)
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        let inner = self.inner.read_range_stream(t, id, offset, length)?;
        Ok(match &self.download {
            Some(bucket) => Box::new(Paced { inner, bucket }),
            None => inner,
        })
    }

    fn read_metadata_range(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>> {
        pace(&self.download, length);
        self.inner.read_metadata_range(t, id, offset, length)
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        pace(&self.upload, data.len() as u64);
        self.inner.write(t, id, data)
    }

    fn write_bytes(&self, t: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        pace(&self.upload, data.len() as u64);
        self.inner.write_bytes(t, id, data)
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.inner.remove(t, id)
    }

    fn discard(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.inner.discard(t, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryBackend;

    const KIB: usize = 1024;

    fn limited(upload_kib: u64, download_kib: u64) -> ThrottledBackend<MemoryBackend> {
        let b = ThrottledBackend::new(
            MemoryBackend::new(),
            Limits {
                upload_kib,
                download_kib,
            },
        );
        b.create().unwrap();
        b
    }

    /// Writes `n` files of `size` bytes from `threads` threads at once.
    fn write_files(b: &ThrottledBackend<MemoryBackend>, threads: usize, n: usize, size: usize) {
        std::thread::scope(|s| {
            for t in 0..threads {
                s.spawn(move || {
                    for i in 0..n {
                        let data = vec![(t * n + i) as u8; size];
                        b.write(FileType::Pack, &Id::hash(&data), &data).unwrap();
                    }
                });
            }
        });
    }

    // 400 KiB at 800 KiB/s: at least 0.5 s less the burst (0.1 s).
    #[test]
    fn uploads_from_many_threads_take_at_least_size_over_rate() {
        let b = limited(800, 0);
        let start = Instant::now();
        write_files(&b, 4, 5, 20 * KIB);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(380), "{took:?}");
        assert_eq!(b.list(FileType::Pack).unwrap().len(), 20);
        // Downloads are not limited by the upload limit.
        assert!(b.download.is_none());
    }

    // 20 × 20 KiB at 800 KiB/s, by whole and ranged reads: ≥ 0.5 s − 0.1 s.
    #[test]
    fn downloads_take_at_least_size_over_rate() {
        let b = limited(0, 800);
        assert!(b.upload.is_none());
        write_files(&b, 2, 10, 20 * KIB);
        let ids: Vec<Id> = b
            .list(FileType::Pack)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let start = Instant::now();
        std::thread::scope(|s| {
            for (i, id) in ids.iter().enumerate() {
                let b = &b;
                s.spawn(move || match i % 3 {
                    0 => assert_eq!(b.read_full(FileType::Pack, id).unwrap().len(), 20 * KIB),
                    1 => {
                        let got = b.read_range(FileType::Pack, id, 0, 20 * KIB as u64);
                        assert_eq!(got.unwrap().len(), 20 * KIB)
                    }
                    _ => {
                        let got = b.read_metadata_range(FileType::Pack, id, 0, 20 * KIB as u64);
                        assert_eq!(got.unwrap().len(), 20 * KIB)
                    }
                });
            }
        });
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(380), "{took:?}");
    }

    // A 200 KiB stream at 400 KiB/s: its first bytes come at once, the
    // rest along the way (about 0.25 s less the burst for half of it).
    #[test]
    fn a_stream_is_paced_as_it_is_read() {
        use std::io::Read;
        let b = limited(0, 400);
        let data = vec![7u8; 200 * KIB];
        let id = Id::hash(&data);
        b.write(FileType::Pack, &id, &data).unwrap();
        let start = Instant::now();
        let mut stream = b
            .read_range_stream(FileType::Pack, &id, 0, data.len() as u64)
            .unwrap();
        let mut first = vec![0u8; 16 * KIB];
        stream.read_exact(&mut first).unwrap();
        let early = start.elapsed();
        assert!(early < Duration::from_millis(150), "{early:?}");
        let mut half = vec![0u8; 100 * KIB - first.len()];
        stream.read_exact(&mut half).unwrap();
        let middle = start.elapsed();
        assert!(middle >= Duration::from_millis(130), "{middle:?}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        let took = start.elapsed();
        assert_eq!(first.len() + half.len() + rest.len(), data.len());
        assert!(took >= Duration::from_millis(380), "{took:?}");
    }

    #[test]
    fn the_bucket_saves_up_at_most_its_burst() {
        let b = Bucket::new(100).unwrap();
        // A tenth of a second's worth passes at once, even after idling.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(b.reserve(10 * KIB as u64), Duration::ZERO);
        // The next 100 KiB cost about a second.
        let wait = b.reserve(100 * KIB as u64);
        assert!(wait >= Duration::from_millis(900), "{wait:?}");
        assert!(Bucket::new(0).is_none());
        assert!(Limits::NONE.is_unlimited());
        // An absurd limit saturates instead of overflowing.
        assert_eq!(Bucket::new(u64::MAX).unwrap().reserve(1), Duration::ZERO);
    }
}
