//! The streaming boundary finder every chunker implements.

/// A streaming content-defined boundary finder.
pub trait FindCut {
    /// Scans the next bytes of the stream. `Some(n)`: the first `n` bytes of
    /// `buf` complete the current chunk, and the scanner has started the next
    /// one (continue with `&buf[n..]`). `None`: all of `buf` belongs to the
    /// current chunk. At the end of the stream, the bytes fed since the last
    /// boundary, if any, form the final chunk.
    ///
    /// `n` may be `0` for some implementations ([`crate::FastCdcChunker`]); the
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
