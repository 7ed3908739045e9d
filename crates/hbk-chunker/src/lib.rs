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
mod chunker;
mod chunks;
mod error;
mod fastcdc;
mod find_cut;
mod polynomial;
mod rabin;

pub use crate::chunker::Chunker;
pub use crate::chunks::{Chunks, DEFAULT_READ_BUFFER, READ_BUFFER_ALIGN};
pub use crate::error::ChunkerError;
pub use crate::fastcdc::FastCdcChunker;
pub use crate::find_cut::FindCut;
pub use crate::polynomial::{Polynomial, MAX_DERIVE_TRIES, RESTIC_DEGREE};
pub use crate::rabin::{RabinChunker, RabinTables, WINDOW_SIZE};

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

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
