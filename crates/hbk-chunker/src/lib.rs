//! Content-defined chunking for hbk.
//!
//! * [`RabinChunker`]: restic's chunker (`github.com/restic/chunker`), cut
//!   for cut identical, with the polynomial from the repository config
//!   ([`Polynomial`], format spec §6).
//! * [`FastCdcChunker`]: an opt-in, faster FastCDC chunker (not
//!   restic-compatible).
//! * [`Chunker`]: either of them, for callers that hold "the repository's
//!   chunker".
//!
//! All of them implement [`FindCut`]: a streaming scanner that is fed the
//! bytes of one file in buffers of any size and reports where chunks end,
//! carrying its state across calls, so that the cut points do not depend on
//! the buffer sizes. [`Chunks`] adapts any [`std::io::Read`] into an
//! iterator of owned chunks.
//!
//! The crate does no I/O of its own.

use std::io::{self, Read};

mod fastcdc;
mod polynomial;
mod rabin;

pub use crate::fastcdc::FastCdcChunker;
pub use crate::polynomial::{Polynomial, MAX_DERIVE_TRIES, RESTIC_DEGREE};
pub use crate::rabin::{RabinChunker, RabinTables, WINDOW_SIZE};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum ChunkerError {
    /// The random source failed or ran dry while deriving a polynomial.
    #[error("reading random bytes for the chunker polynomial: {0}")]
    Random(#[source] io::Error),
    /// No irreducible polynomial among the given number of candidates.
    #[error("no irreducible polynomial found after {0} candidates")]
    NoIrreduciblePolynomial(u32),
    /// The string is not a hexadecimal `u64`.
    #[error("invalid chunker polynomial {0:?}: expected hexadecimal digits without 0x")]
    InvalidHex(String),
    /// The Rabin tables need a polynomial of degree 8 to 56.
    #[error("chunker polynomial {0} has degree {1}, expected 8..=56")]
    UnsupportedDegree(Polynomial, i32),
    /// Chunk size parameters out of range.
    #[error("invalid chunk size parameters: {0}")]
    InvalidParameters(String),
}

/// A streaming content-defined boundary finder.
pub trait FindCut {
    /// Scans the next bytes of the stream. `Some(n)`: the first `n` bytes of
    /// `buf` complete the current chunk, and the scanner has started the next
    /// one (continue with `&buf[n..]`). `None`: all of `buf` belongs to the
    /// current chunk. At the end of the stream, the bytes fed since the last
    /// boundary, if any, form the final chunk.
    ///
    /// `n` may be `0` for some implementations ([`FastCdcChunker`]); the
    /// current chunk is never empty when a boundary is reported.
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize>;

    /// Drops the current chunk's state: the next byte starts a new chunk.
    fn reset(&mut self);

    /// Chunk lengths of `data` as one complete stream (the last chunk being
    /// the remainder). Resets the scanner before and after.
    fn chunk_lengths(&mut self, data: &[u8]) -> Vec<usize> {
        self.reset();
        let mut lengths = Vec::new();
        let mut start = 0;
        let mut pos = 0;
        while let Some(n) = self.find_cut(&data[pos..]) {
            pos += n;
            lengths.push(pos - start);
            start = pos;
        }
        if start < data.len() {
            lengths.push(data.len() - start);
        }
        self.reset();
        lengths
    }
}

impl<T: FindCut + ?Sized> FindCut for Box<T> {
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        (**self).find_cut(buf)
    }

    fn reset(&mut self) {
        (**self).reset();
    }
}

impl<T: FindCut + ?Sized> FindCut for &mut T {
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        (**self).find_cut(buf)
    }

    fn reset(&mut self) {
        (**self).reset();
    }
}

/// The chunker a repository uses: restic's Rabin chunker or FastCDC.
#[derive(Clone, Debug)]
pub enum Chunker {
    /// restic-compatible Rabin chunker.
    Rabin(RabinChunker),
    /// Opt-in FastCDC chunker.
    FastCdc(FastCdcChunker),
}

impl Chunker {
    /// Minimum chunk size of the underlying chunker.
    pub fn min_size(&self) -> usize {
        match self {
            Chunker::Rabin(c) => c.min_size(),
            Chunker::FastCdc(c) => c.min_size(),
        }
    }

    /// Maximum chunk size of the underlying chunker.
    pub fn max_size(&self) -> usize {
        match self {
            Chunker::Rabin(c) => c.max_size(),
            Chunker::FastCdc(c) => c.max_size(),
        }
    }

    /// Chunks of `reader`, read in buffers of 1 MiB.
    pub fn chunks<R: Read>(self, reader: R) -> Chunks<R, Chunker> {
        Chunks::new(reader, self)
    }
}

impl FindCut for Chunker {
    #[inline]
    fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
        match self {
            Chunker::Rabin(c) => c.find_cut(buf),
            Chunker::FastCdc(c) => c.find_cut(buf),
        }
    }

    fn reset(&mut self) {
        match self {
            Chunker::Rabin(c) => c.reset(),
            Chunker::FastCdc(c) => c.reset(),
        }
    }
}

impl From<RabinChunker> for Chunker {
    fn from(c: RabinChunker) -> Self {
        Chunker::Rabin(c)
    }
}

impl From<FastCdcChunker> for Chunker {
    fn from(c: FastCdcChunker) -> Self {
        Chunker::FastCdc(c)
    }
}

/// Default read buffer size of [`Chunks`].
pub const DEFAULT_READ_BUFFER: usize = 1 << 20;

/// Iterator over the chunks of a reader, each an owned `Vec<u8>`.
///
/// Empty input gives no chunk; otherwise the bytes after the last boundary
/// form the final chunk. `ErrorKind::Interrupted` reads are retried; any
/// other read error is yielded once and ends the iteration.
pub struct Chunks<R, C> {
    reader: R,
    cutter: C,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
    eof: bool,
    /// Capacity to reserve for a fresh chunk.
    reserve: usize,
}

impl<R: Read, C: FindCut> Chunks<R, C> {
    /// Chunks `reader` with `cutter` (whose state is reset first), reading
    /// [`DEFAULT_READ_BUFFER`] bytes at a time.
    pub fn new(reader: R, cutter: C) -> Self {
        Self::with_buffer_size(reader, cutter, DEFAULT_READ_BUFFER)
    }

    /// Like [`Chunks::new`] with a read buffer of `size` bytes (at least 1).
    pub fn with_buffer_size(reader: R, mut cutter: C, size: usize) -> Self {
        cutter.reset();
        Chunks {
            reader,
            cutter,
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            eof: false,
            reserve: size.max(1),
        }
    }

    /// Gives back the reader and the scanner.
    pub fn into_inner(self) -> (R, C) {
        (self.reader, self.cutter)
    }

    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut chunk = Vec::new();
        loop {
            if self.pos == self.filled {
                if self.eof {
                    return Ok((!chunk.is_empty()).then_some(chunk));
                }
                self.pos = 0;
                self.filled = 0;
                let n = loop {
                    match self.reader.read(&mut self.buf) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.eof = true;
                            return Err(e);
                        }
                    }
                };
                if n == 0 {
                    self.eof = true;
                    continue;
                }
                self.filled = n;
            }
            let avail = &self.buf[self.pos..self.filled];
            match self.cutter.find_cut(avail) {
                Some(n) => {
                    chunk.extend_from_slice(&avail[..n]);
                    self.pos += n;
                    return Ok(Some(chunk));
                }
                None => {
                    if chunk.capacity() == 0 {
                        chunk.reserve(self.reserve.max(avail.len()));
                    }
                    chunk.extend_from_slice(avail);
                    self.pos = self.filled;
                }
            }
        }
    }
}

impl<R: Read, C: FindCut> Iterator for Chunks<R, C> {
    type Item = io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

impl<R, C: std::fmt::Debug> std::fmt::Debug for Chunks<R, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chunks")
            .field("cutter", &self.cutter)
            .field("buffer", &self.buf.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes per call and sometimes
    /// `Interrupted`.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls == 5 {
                self.calls = 0;
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("boom"))
        }
    }

    fn data(n: usize) -> Vec<u8> {
        let mut x = 0x9e3779b97f4a7c15u64;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    fn chunkers() -> Vec<Chunker> {
        vec![
            RabinChunker::new(Polynomial(0x3DA3358B4DC173))
                .unwrap()
                .with_sizes(1024, 16384, 9)
                .unwrap()
                .into(),
            FastCdcChunker::new(1024, 2048, 16384).unwrap().into(),
        ]
    }

    #[test]
    fn chunks_adaptor_matches_chunk_lengths() {
        let input = data(300_000);
        for mut c in chunkers() {
            let expected = c.chunk_lengths(&input);
            assert!(expected.len() > 10);
            for (step, bufsize) in [(1000, 777), (7, 4096), (100_000, 1 << 20)] {
                let reader = Trickle {
                    data: &input,
                    step,
                    calls: 0,
                };
                let chunks: Vec<Vec<u8>> = Chunks::with_buffer_size(reader, c.clone(), bufsize)
                    .collect::<io::Result<_>>()
                    .unwrap();
                let lens: Vec<usize> = chunks.iter().map(Vec::len).collect();
                assert_eq!(lens, expected);
                assert_eq!(chunks.concat(), input);
            }
        }
    }

    #[test]
    fn chunkers_are_send_and_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<RabinChunker>();
        check::<FastCdcChunker>();
        check::<Chunker>();
        check::<std::sync::Arc<RabinTables>>();
    }

    #[test]
    fn chunks_adaptor_edge_cases() {
        for c in chunkers() {
            assert_eq!(c.clone().chunks(&[][..]).count(), 0);
            let one: Vec<_> = c.clone().chunks(&[5u8][..]).map(Result::unwrap).collect();
            assert_eq!(one, vec![vec![5u8]]);
            let mut failing = c.chunks(Failing);
            assert!(failing.next().unwrap().is_err());
            assert!(failing.next().is_none());
        }
    }
}
