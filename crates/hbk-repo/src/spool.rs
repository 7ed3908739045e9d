//! Writing a pack out while it is built: the thread that adds a blob
//! copies it into a piece of [`PIECE`] bytes, and a helper thread hashes
//! full pieces (the pack's id is the hash of all its bytes) and appends
//! them to the backend's [`FileSink`]. The pack is never whole in memory,
//! and the adding threads, which hold the saver's pack lock, do not hash
//! it; they wait for the disk only when it is [`QUEUED`] pieces behind.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use crate::pack::PackOutput;
use crate::{BackendError, BackendResult, FileSink, Id};

/// Bytes handed to the helper at a time.
const PIECE: usize = 1 << 20;
/// Full pieces waiting for the helper; a thread putting bytes waits when
/// this many are queued (the disk is slower than packing, for a while).
const QUEUED: usize = 2;

/// A pack's bytes on their way to a [`FileSink`].
pub(crate) struct Spool {
    /// The piece being filled.
    piece: Vec<u8>,
    to_helper: Option<SyncSender<Vec<u8>>>,
    /// Pieces the helper is done with, for reuse.
    spare: Receiver<Vec<u8>>,
    helper: Option<JoinHandle<Written>>,
}

/// What the helper did: the hash of every byte it was given, the sink
/// they went to, and the first error writing them.
struct Written {
    hasher: Sha256,
    sink: Box<dyn FileSink>,
    error: Option<BackendError>,
}

impl Spool {
    /// A spool writing to `sink`, with its helper thread started.
    pub(crate) fn new(sink: Box<dyn FileSink>) -> std::io::Result<Spool> {
        let (to_helper, pieces) = sync_channel::<Vec<u8>>(QUEUED);
        let (give_back, spare) = sync_channel::<Vec<u8>>(QUEUED + 2);
        let helper = std::thread::Builder::new()
            .name("hbk-pack-writer".into())
            .spawn(move || {
                let mut w = Written {
                    hasher: Sha256::new(),
                    sink,
                    error: None,
                };
                for mut piece in pieces {
                    w.hasher.update(&piece);
                    if w.error.is_none() {
                        w.error = w.sink.append(&piece).err();
                    }
                    piece.clear();
                    let _ = give_back.try_send(piece);
                }
                w
            })?;
        Ok(Spool {
            piece: Vec::with_capacity(PIECE),
            to_helper: Some(to_helper),
            spare,
            helper: Some(helper),
        })
    }

    /// Hands the piece being filled to the helper and starts another.
    fn hand_over(&mut self) {
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PIECE));
        let full = std::mem::replace(&mut self.piece, next);
        self.send(full);
    }

    /// Queues `piece` for the helper.
    fn send(&mut self, piece: Vec<u8>) {
        // A helper that is gone panicked; `finish` reports it.
        if self
            .to_helper
            .as_ref()
            .is_some_and(|h| h.send(piece).is_err())
        {
            self.to_helper = None;
        }
    }

    /// Hands over what is left and waits for the helper: the pack's id
    /// and the sink holding all its bytes, or the first error writing.
    pub(crate) fn finish(mut self) -> BackendResult<(Id, Box<dyn FileSink>)> {
        let last = std::mem::take(&mut self.piece);
        if !last.is_empty() {
            self.send(last);
        }
        self.to_helper = None;
        let Some(helper) = self.helper.take() else {
            return Err(BackendError::Other {
                what: "pack writer".into(),
                message: "finished twice".into(),
            });
        };
        // A panic of the helper goes on here, as if it had written here.
        let written = helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match written.error {
            Some(e) => Err(e),
            None => Ok((Id(written.hasher.finalize().into()), written.sink)),
        }
    }
}

impl PackOutput for Spool {
    fn put(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = PIECE.saturating_sub(self.piece.len()).max(1);
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.piece.extend_from_slice(now);
            bytes = rest;
            if self.piece.len() >= PIECE {
                self.hand_over();
            }
        }
    }
}

impl Drop for Spool {
    /// A pack given up (its backup failed): the helper ends, and its sink
    /// goes with what it wrote.
    fn drop(&mut self) {
        self.to_helper = None;
        if let Some(helper) = self.helper.take() {
            let _ = helper.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A sink keeping what it got in shared memory, failing appends after
    /// `fail_after` bytes.
    struct Kept {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: usize,
    }

    impl FileSink for Kept {
        fn append(&mut self, data: &[u8]) -> BackendResult<()> {
            let mut b = self.bytes.lock().unwrap();
            if b.len() + data.len() > self.fail_after {
                return Err(BackendError::Other {
                    what: "sink".into(),
                    message: "disk full".into(),
                });
            }
            b.extend_from_slice(data);
            Ok(())
        }
        fn commit(self: Box<Self>, _id: &Id) -> BackendResult<()> {
            Ok(())
        }
    }

    fn spool(fail_after: usize) -> (Spool, Arc<Mutex<Vec<u8>>>) {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Kept {
            bytes: Arc::clone(&bytes),
            fail_after,
        };
        (Spool::new(Box::new(sink)).unwrap(), bytes)
    }

    #[test]
    fn every_byte_arrives_in_order_and_the_id_is_their_hash() {
        let data: Vec<u8> = (0..5 * PIECE + 12345).map(|i| (i % 251) as u8).collect();
        for cuts in [vec![data.len()], vec![1, PIECE - 1, 2, 3 * PIECE, 7]] {
            let (mut s, bytes) = spool(usize::MAX);
            let mut rest = &data[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*cut).min(rest.len()));
                s.put(now);
                rest = later;
            }
            let (id, _sink) = s.finish().unwrap();
            assert_eq!(id, Id::hash(&data));
            assert!(*bytes.lock().unwrap() == data);
        }
    }

    #[test]
    fn a_write_error_is_reported_at_the_end() {
        let (mut s, _) = spool(PIECE + 10);
        s.put(&vec![1; 3 * PIECE]);
        let err = s.finish().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("disk full")));
    }

    #[test]
    fn an_empty_pack_hashes_nothing() {
        let (s, bytes) = spool(usize::MAX);
        let (id, _) = s.finish().unwrap();
        assert_eq!(id, Id::hash(b""));
        assert!(bytes.lock().unwrap().is_empty());
    }
}
