//! "The repository's chunker": Rabin or FastCDC behind one type.

use std::io::Read;

use crate::chunks::Chunks;
use crate::fastcdc::FastCdcChunker;
use crate::find_cut::FindCut;
use crate::rabin::RabinChunker;

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
