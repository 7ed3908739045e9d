//! An iterator of owned chunks over any reader.

use std::io::{self, Read};

use crate::find_cut::FindCut;

/// Default read buffer size of [`Chunks`].
pub const DEFAULT_READ_BUFFER: usize = 1 << 20;

/// Where [`Chunks`]' read buffer starts: on a multiple of this, as reads
/// that bypass the page cache (`O_DIRECT`) need.
pub const READ_BUFFER_ALIGN: usize = 4096;

/// Iterator over the chunks of a reader, each an owned `Vec<u8>`.
///
/// Empty input gives no chunk; otherwise the bytes after the last boundary
/// form the final chunk. `ErrorKind::Interrupted` reads are retried; any
/// other read error is yielded once and ends the iteration.
pub struct Chunks<R, C> {
    reader: R,
    cutter: C,
    /// The read buffer is `buf[start..start + size]`, `start` being where
    /// `buf` reaches a [`READ_BUFFER_ALIGN`] boundary.
    buf: Box<[u8]>,
    start: usize,
    size: usize,
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
    /// Every read asks for the whole buffer; a buffer of several
    /// [`READ_BUFFER_ALIGN`] units also starts on such a boundary, so a
    /// reader bypassing the page cache gets aligned requests (small
    /// buffers, made per small file, are not padded for it).
    pub fn with_buffer_size(reader: R, mut cutter: C, size: usize) -> Self {
        cutter.reset();
        let size = size.max(1);
        let pad = if size > READ_BUFFER_ALIGN && size.is_multiple_of(READ_BUFFER_ALIGN) {
            READ_BUFFER_ALIGN - 1
        } else {
            0
        };
        let buf = vec![0; size + pad].into_boxed_slice();
        let start = buf.as_ptr().align_offset(READ_BUFFER_ALIGN).min(pad);
        Chunks {
            reader,
            cutter,
            buf,
            start,
            size,
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
        Ok(self.next_into(&mut chunk)?.map(|_| chunk))
    }

    /// Appends the next chunk to `out` and returns its length; `None` at
    /// the end. Lets a caller collect many chunks in one reused buffer
    /// instead of allocating each.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<Option<usize>> {
        let start = out.len();
        loop {
            if self.pos == self.filled {
                if self.eof {
                    let len = out.len() - start;
                    return Ok((len > 0).then_some(len));
                }
                self.pos = 0;
                self.filled = 0;
                let n = loop {
                    match self
                        .reader
                        .read(&mut self.buf[self.start..self.start + self.size])
                    {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            self.eof = true;
                            out.truncate(start);
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
            let avail = &self.buf[self.start + self.pos..self.start + self.filled];
            match self.cutter.find_cut(avail) {
                Some(n) => {
                    grow(out, n, self.reserve);
                    out.extend_from_slice(&avail[..n]);
                    self.pos += n;
                    return Ok(Some(out.len() - start));
                }
                None => {
                    grow(out, avail.len(), self.reserve);
                    out.extend_from_slice(avail);
                    self.pos = self.filled;
                }
            }
        }
    }
}

/// Makes room in `out` for `more` bytes, growing it by at least `step`
/// (the read size) and a quarter of what it holds, never by doubling: a
/// buffer gathering chunks (a backup's batch, ~2 MiB) that doubled for a
/// large last chunk stayed up to twice that chunk's size, and several
/// grown at once were a quarter of a backup's peak memory.
fn grow(out: &mut Vec<u8>, more: usize, step: usize) {
    if out.capacity() - out.len() < more {
        out.reserve_exact(more.max(step).max(out.len() / 4));
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
            .field("buffer", &self.size)
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cuts every `every` bytes.
    struct Every {
        every: usize,
        seen: usize,
    }

    impl FindCut for Every {
        fn find_cut(&mut self, buf: &[u8]) -> Option<usize> {
            let left = self.every - self.seen;
            if buf.len() >= left {
                self.seen = 0;
                Some(left)
            } else {
                self.seen += buf.len();
                None
            }
        }

        fn reset(&mut self) {
            self.seen = 0;
        }
    }

    /// Yields `data` in reads of at most `step` bytes and records where
    /// each read was asked to write and how much room it had.
    struct Recording<'a> {
        data: &'a [u8],
        step: usize,
        asked: Vec<(usize, usize)>,
    }

    impl Read for Recording<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.asked.push((buf.as_ptr() as usize, buf.len()));
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_buffer_of_whole_units_is_read_into_aligned_and_whole() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for (size, step) in [(1 << 20, usize::MAX), (8192, 5000), (4096, 100), (1000, 7)] {
            let reader = Recording {
                data: &data,
                step,
                asked: Vec::new(),
            };
            let mut chunks = Chunks::with_buffer_size(
                reader,
                Every {
                    every: 70_000,
                    seen: 0,
                },
                size,
            );
            let mut all = Vec::new();
            while chunks.next_into(&mut all).unwrap().is_some() {}
            assert_eq!(all, data, "size {size}");
            let (reader, _) = chunks.into_inner();
            assert!(reader.asked.iter().all(|&(_, len)| len == size));
            if size % READ_BUFFER_ALIGN == 0 && size > READ_BUFFER_ALIGN {
                assert!(reader
                    .asked
                    .iter()
                    .all(|&(at, _)| at % READ_BUFFER_ALIGN == 0));
            }
        }
    }

    #[test]
    fn a_gathering_buffer_grows_by_a_quarter_not_double() {
        // A batch of 2 MiB that a chunk of 7 MiB completes, read 1 MiB at
        // a time: the buffer ends near 9 MiB, not at 16 (doubling).
        let data = vec![7u8; 7 << 20];
        let mut chunks = Chunks::new(
            &data[..],
            Every {
                every: 7 << 20,
                seen: 0,
            },
        );
        let mut out = Vec::with_capacity(4 << 20);
        out.resize(2 << 20, 1);
        assert_eq!(chunks.next_into(&mut out).unwrap(), Some(7 << 20));
        assert_eq!(out.len(), 9 << 20);
        assert!(out.capacity() <= (10 << 20), "{}", out.capacity());
        // Growth stays geometric: a million one-byte steps reallocate a
        // few dozen times, not a million.
        let mut v = Vec::new();
        let mut grown = 0;
        for _ in 0..1_000_000 {
            let before = v.capacity();
            grow(&mut v, 1, 1);
            v.push(0u8);
            grown += usize::from(v.capacity() != before);
        }
        assert!(grown < 80, "{grown} reallocations");
    }
}
