//! Reading a large source file around the page cache.
//!
//! A backup reads each file once. Through the page cache the kernel copies
//! every byte from its cache into the chunker's buffer (a ninth of the CPU
//! time of a backup of large files on a two-core machine) and fills the
//! cache with data nobody reads again, pushing out what the machine's
//! services keep there. Files of at least [`DIRECT_MIN`] bytes are read
//! with `O_DIRECT` instead: the device writes straight into the chunker's
//! aligned buffer. Anything that refuses this — a file system without
//! direct I/O, a request that is not aligned, the short read at the end of
//! a file — turns the descriptor back to ordinary reads, which go on from
//! the same offset, so the bytes read never depend on the mode.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use hbk_backend::direct_io::set_direct;
use hbk_chunker::{DEFAULT_READ_BUFFER, READ_BUFFER_ALIGN};

/// Files this large or larger are read with direct I/O: the chunker reads
/// them in whole aligned buffers of this size.
pub const DIRECT_MIN: u64 = DEFAULT_READ_BUFFER as u64;

/// A source file opened for reading, bypassing the page cache while the
/// reads allow it.
#[derive(Debug)]
pub struct SourceFile {
    file: File,
    direct: bool,
}

impl SourceFile {
    /// Wraps `file`, `size` bytes long; a large one is switched to direct
    /// reads when its file system accepts them.
    pub fn new(file: File, size: u64) -> SourceFile {
        let direct = size >= DIRECT_MIN && set_direct(&file, true).is_ok();
        SourceFile { file, direct }
    }

    /// Whether reads currently bypass the page cache.
    #[cfg(test)]
    fn is_direct(&self) -> bool {
        self.direct
    }

    fn stop_direct(&mut self) {
        if self.direct {
            // A descriptor that cannot go back keeps reading directly and
            // reports what those reads give.
            self.direct = set_direct(&self.file, false).is_err();
        }
    }
}

impl Read for SourceFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.direct {
            let aligned = (buf.as_ptr() as usize | buf.len()).is_multiple_of(READ_BUFFER_ALIGN);
            if aligned {
                match self.file.read(buf) {
                    // A short read ends on an unaligned offset.
                    Ok(n) if !n.is_multiple_of(READ_BUFFER_ALIGN) => {
                        self.stop_direct();
                        return Ok(n);
                    }
                    Ok(n) => return Ok(n),
                    // Refused (EINVAL on a file system that takes the flag
                    // but not the request) or failed: a failed read moves
                    // no offset, so the cached read below asks again, and
                    // its error, if any, is the one reported.
                    Err(_) => {}
                }
            }
            self.stop_direct();
        }
        self.file.read(buf)
    }
}

/// Opens `path` for reading without updating its access time when the
/// process may (it owns the file or is privileged).
pub fn open_noatime(path: &Path) -> std::io::Result<File> {
    let mut o = std::fs::OpenOptions::new();
    o.read(true);
    match o.clone().custom_flags(libc::O_NOATIME).open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => o.open(path),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Never cuts: the whole file is one chunk.
    struct Whole;

    impl hbk_chunker::FindCut for Whole {
        fn find_cut(&mut self, _: &[u8]) -> Option<usize> {
            None
        }

        fn reset(&mut self) {}
    }

    /// The file's bytes as the archiver's chunk stream reads them.
    fn chunk_all(path: &std::path::Path, size: u64) -> Vec<u8> {
        let f = SourceFile::new(File::open(path).unwrap(), size);
        let mut chunks = hbk_chunker::Chunks::with_buffer_size(f, Whole, DEFAULT_READ_BUFFER);
        let mut all = Vec::new();
        while chunks.next_into(&mut all).unwrap().is_some() {}
        all
    }

    #[test]
    fn reads_every_byte_of_files_ending_anywhere() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            DIRECT_MIN - 1,
            DIRECT_MIN,
            DIRECT_MIN + 1,
            3 * DIRECT_MIN + 4095,
            5 << 20,
        ] {
            let data: Vec<u8> = (0..len)
                .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
                .collect();
            let path = dir.path().join(format!("f{len}"));
            File::create(&path).unwrap().write_all(&data).unwrap();
            assert!(chunk_all(&path, len) == data, "{len} bytes");
        }
    }

    #[test]
    fn a_small_file_is_read_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        assert!(!SourceFile::new(File::open(&path).unwrap(), 1).is_direct());
    }

    #[test]
    fn an_unaligned_request_reads_on_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(3 << 20)).map(|i: u32| (i % 253) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mut f = SourceFile::new(File::open(&path).unwrap(), data.len() as u64);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 10_000];
        loop {
            let n = f.read(&mut buf[1..]).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[1..1 + n]);
        }
        assert!(!f.is_direct());
        assert!(out == data);
    }
}
