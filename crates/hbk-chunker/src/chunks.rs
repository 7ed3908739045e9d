//! An iterator of owned chunks over any reader.

use std::io::{self, Read};

use crate::find_cut::FindCut;

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
                    match self.reader.read(&mut self.buf) {
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
            let avail = &self.buf[self.pos..self.filled];
            match self.cutter.find_cut(avail) {
                Some(n) => {
                    out.extend_from_slice(&avail[..n]);
                    self.pos += n;
                    return Ok(Some(out.len() - start));
                }
                None => {
                    if out.capacity() - out.len() < avail.len() {
                        out.reserve(self.reserve.max(avail.len()));
                    }
                    out.extend_from_slice(avail);
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
