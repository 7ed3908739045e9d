//! Reading and writing around the page cache (`O_DIRECT`), for data
//! written or read once: [`write_all`] for pack files, [`set_direct`] for
//! the backup's reads of large source files.
//!
//! A backup writes each pack once and reads it back only on a restore,
//! usually much later. Through the page cache the kernel copies every byte
//! into its cache, keeps the pages dirty until write-back and accounts for
//! them all along (over a tenth of the CPU time of a backup of large files
//! on a two-core machine), and the cache fills with data nobody reads soon.
//! [`write_all`] copies a pack through a small aligned buffer into writes
//! with `O_DIRECT` instead; the last partial block, and everything after
//! anything refuses direct I/O (a file system without it, a short write),
//! goes through the cache as before, from the same offset. The file is
//! synced before anything names it either way: direct writes do not reach
//! the device's own cache's stable storage by themselves.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsRawFd;

use nix::fcntl::{fcntl, FcntlArg, OFlag};

/// Alignment of direct writes: buffer address, length and file offset.
const ALIGN: usize = 4096;

/// Bytes copied and written at a time.
const PIECE: usize = 512 << 10;

/// Data shorter than this is written through the cache.
const DIRECT_MIN: usize = 64 << 10;

thread_local! {
    /// Each writing thread's aligned staging buffer (allocated once).
    static STAGING: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes all of `data` to `file` (open for writing at offset 0), as much
/// of it as the file system takes with direct I/O.
pub fn write_all(file: &mut File, data: &[u8]) -> io::Result<()> {
    let whole = data.len() / ALIGN * ALIGN;
    let mut done = 0;
    if data.len() >= DIRECT_MIN && set_direct(file, true).is_ok() {
        done = STAGING.with(|cell| {
            let mut staging = cell.borrow_mut();
            if staging.is_empty() {
                staging.resize(PIECE + ALIGN - 1, 0);
            }
            let start = staging.as_ptr().align_offset(ALIGN).min(ALIGN - 1);
            let room = &mut staging[start..start + PIECE];
            write_direct(file, data, whole, room)
        });
        // Back to cached writes for what is left; a descriptor that
        // cannot go back makes that write fail, and the error is reported.
        let _ = set_direct(file, false);
    }
    file.write_all(data.get(done..).unwrap_or_default())
}

/// Writes `data[..whole]` through `room` with direct I/O as far as the
/// file takes it; returns how many bytes were written.
fn write_direct(file: &mut File, data: &[u8], whole: usize, room: &mut [u8]) -> usize {
    let mut done = 0;
    while done < whole {
        let n = (whole - done).min(room.len());
        let (Some(piece), Some(src)) = (room.get_mut(..n), data.get(done..done + n)) else {
            break;
        };
        piece.copy_from_slice(src);
        match file.write(piece) {
            Ok(k) if k > 0 => {
                done += k;
                if k % ALIGN != 0 {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Refused or failed: nothing was written by this call; the
            // cached write goes on from here and reports a real error.
            _ => break,
        }
    }
    done
}

/// Turns `O_DIRECT` on or off for `file`'s open file description; an
/// error when its file system refuses direct I/O.
pub fn set_direct(file: &File, on: bool) -> nix::Result<()> {
    let fd = file.as_raw_fd();
    let mut flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    flags.set(OFlag::O_DIRECT, on);
    fcntl(fd, FcntlArg::F_SETFL(flags)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_byte_of_any_length() {
        let dir = tempfile::tempdir().unwrap();
        for len in [
            0,
            1,
            4095,
            DIRECT_MIN - 1,
            DIRECT_MIN,
            PIECE,
            PIECE + 1,
            3 * PIECE + 4097,
            16 << 20,
        ] {
            let data: Vec<u8> = (0..len as u64)
                .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8)
                .collect();
            let path = dir.path().join(format!("p{len}"));
            let mut f = File::create(&path).unwrap();
            write_all(&mut f, &data).unwrap();
            f.sync_all().unwrap();
            drop(f);
            assert!(std::fs::read(&path).unwrap() == data, "{len} bytes");
        }
    }

    #[test]
    fn the_descriptor_is_left_for_cached_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = File::create(dir.path().join("p")).unwrap();
        write_all(&mut f, &vec![7u8; 1 << 20]).unwrap();
        let flags = OFlag::from_bits_truncate(fcntl(f.as_raw_fd(), FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_DIRECT));
        // An unaligned write after it works.
        f.write_all(b"tail").unwrap();
    }
}
