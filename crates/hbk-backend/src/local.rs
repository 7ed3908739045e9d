//! A repository in a local directory.
//!
//! Every file is written to a temporary name and renamed into place (a
//! pack written piece by piece is first an unnamed file, linked to that
//! temporary name once complete; see [`FileSink`]). A
//! file other than a pack is made durable (its data and its directory
//! entry synced) before `write` returns. Packs are made durable in
//! groups: writing one starts its write-back and returns, and the packs
//! written so far are synced before the next file that is not a pack is
//! written. Only index files, snapshots and the repository's other files
//! refer to packs, so every pack they name is durable before they are,
//! as when each pack was synced on its own; a crash can only lose packs
//! nothing refers to yet. Waiting for one pack's sync at a time kept a
//! backup's workers off the CPU for a third of a local backup.

use std::collections::{BTreeSet, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hbk_repo::{Backend, BackendError, BackendResult, FileSink, FileType, Id};

use crate::layout;

/// Read buffer of a streamed range: small blobs are served from it, so a
/// pack of tiny blobs is read in a few large reads.
const STREAM_BUFFER: usize = 256 * 1024;

/// Pack files kept open for ranged reads: reading a pack's blobs one by
/// one (trees during a backup or a listing) then costs one `pread` each
/// instead of a path lookup, an open, a stat and a close.
const OPEN_PACKS: usize = 32;

/// A repository stored in a directory, laid out as restic lays it out.
/// Clones share the packs still to be synced and the open packs.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    root: PathBuf,
    unsynced: Arc<UnsyncedPacks>,
    open_packs: Arc<Mutex<HashMap<Id, Arc<OpenPack>>>>,
}

/// A pack file open for reading, with its size when opened (packs never
/// change once written; one rewritten or removed through this backend is
/// closed here).
#[derive(Debug)]
struct OpenPack {
    file: File,
    size: u64,
}

/// Packs written and renamed into place whose sync is still to come.
#[derive(Debug, Default)]
struct UnsyncedPacks {
    paths: Mutex<Vec<PathBuf>>,
    /// Held while syncing, so that a writer of another file waits for a
    /// sync that is under way.
    syncing: Mutex<()>,
}

impl LocalBackend {
    /// A backend rooted at `root` (nothing is touched until used).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBackend {
            root: root.into(),
            unsynced: Arc::default(),
            open_packs: Arc::default(),
        }
    }

    /// A pack file, open for reading (from the open packs when there).
    fn open_pack(&self, id: &Id, path: &Path) -> BackendResult<Arc<OpenPack>> {
        let packs = || lock(&self.open_packs);
        if let Some(open) = packs().get(id) {
            return Ok(Arc::clone(open));
        }
        let file = File::open(path).map_err(|e| self.io_err(path, e))?;
        let size = file.metadata().map_err(|e| self.io_err(path, e))?.len();
        let open = Arc::new(OpenPack { file, size });
        let mut packs = packs();
        if packs.len() >= OPEN_PACKS {
            packs.clear();
        }
        packs.insert(*id, Arc::clone(&open));
        Ok(open)
    }

    /// Closes a pack that is removed or rewritten.
    fn close_pack(&self, t: FileType, id: &Id) {
        if t == FileType::Pack {
            lock(&self.open_packs).remove(id);
        }
    }

    /// Makes every pack written so far durable: its data and the
    /// directory entries naming it.
    pub fn sync_packs(&self) -> BackendResult<()> {
        let _syncing = lock(&self.unsynced.syncing);
        let paths = std::mem::take(&mut *lock(&self.unsynced.paths));
        let synced = (|| {
            let mut dirs = BTreeSet::new();
            for path in &paths {
                match File::open(path).and_then(|f| f.sync_all()) {
                    Ok(()) => {}
                    // Removed since (nothing can name it).
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.io_err(path, e)),
                }
                dirs.extend(path.parent());
            }
            for dir in dirs {
                sync_dir(dir).map_err(|e| self.io_err(dir, e))?;
            }
            Ok(())
        })();
        if synced.is_err() {
            // Tried again before the next file that may name them.
            lock(&self.unsynced.paths).extend(paths);
        }
        synced
    }

    /// The repository directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, t: FileType, id: &Id) -> PathBuf {
        self.root.join(layout::relative_path(t, id))
    }

    /// Stores the file `id` of type `t`: `make` creates it at a temporary
    /// name next to its final one, where it is then renamed (replacing a
    /// file there) and made read-only. A file other than a pack is made
    /// durable with its directory entry; a pack joins the packs synced
    /// before the next such file.
    fn place(
        &self,
        t: FileType,
        id: &Id,
        make: impl FnOnce(&Path) -> io::Result<()>,
    ) -> BackendResult<()> {
        let pack = t == FileType::Pack;
        self.close_pack(t, id);
        let final_path = self.path(t, id);
        let dir = final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(|e| self.io_err(&dir, e))?;
        }
        let name = final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!("{name}-tmp-{:016x}", rand::random::<u64>()));
        let result = (|| {
            make(&tmp)?;
            fs::rename(&tmp, &final_path)?;
            if !pack {
                sync_dir(&dir)?;
            }
            fs::set_permissions(&final_path, fs::Permissions::from_mode(0o400))
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.io_err(&final_path, e));
        }
        if pack {
            lock(&self.unsynced.paths).push(final_path);
        }
        Ok(())
    }

    fn io_err(&self, what: &Path, e: io::Error) -> BackendError {
        let what = what.display().to_string();
        if e.kind() == io::ErrorKind::NotFound {
            BackendError::NotFound { what }
        } else {
            BackendError::Io { what, source: e }
        }
    }

    fn list_dir(&self, dir: &Path, out: &mut Vec<(Id, u64)>) -> BackendResult<()> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(self.io_err(dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| self.io_err(dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(layout::parse_name) else {
                continue;
            };
            let meta = entry
                .metadata()
                .map_err(|e| self.io_err(&entry.path(), e))?;
            if meta.is_file() {
                out.push((id, meta.len()));
            }
        }
        Ok(())
    }
}

/// Locks `m`; a thread that panicked holding it left consistent data
/// (lists of paths and files), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes `path`'s directory entry durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Starts writing `file`'s dirty pages to the disk without waiting, so
/// that its later sync finds little left to do.
#[allow(unsafe_code)]
fn start_write_back(file: &File) {
    // SAFETY: sync_file_range only reads the descriptor number, which
    // `file` keeps open for the call; it touches no memory of ours.
    let _ = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
}

/// A pack written piece by piece into an unnamed file of the repository's
/// `data` directory (`O_TMPFILE`): nothing of it shows in the repository,
/// and nothing is left of it when the process dies, until it is linked
/// under its name; the pieces go around the page cache as whole packs do
/// ([`crate::direct_io`]).
struct PackSink {
    backend: LocalBackend,
    file: File,
}

impl FileSink for PackSink {
    fn append(&mut self, data: &[u8]) -> BackendResult<()> {
        crate::direct_io::write_all(&mut self.file, data).map_err(|source| BackendError::Io {
            what: format!("new pack in {}", self.backend.root.join("data").display()),
            source,
        })
    }

    fn commit(self: Box<Self>, id: &Id) -> BackendResult<()> {
        start_write_back(&self.file);
        let fd = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        self.backend
            .place(FileType::Pack, id, |tmp| link_unnamed(&fd, tmp))
    }
}

/// A new file without a name in `dir`, open for reading and writing
/// (`O_TMPFILE`): it goes away with its last descriptor unless it is
/// linked into a directory.
pub(crate) fn unnamed_file(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir)
}

/// Whether an unnamed file can be given a name: through its
/// `/proc/self/fd` path, so only where `/proc` is mounted (a container may
/// lack it; packs are then written whole).
fn can_link_unnamed() -> bool {
    static CAN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *CAN.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// Gives the unnamed file open as `fd` (its `/proc/self/fd` path) the
/// name `to`.
#[allow(unsafe_code)]
fn link_unnamed(fd: &str, to: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let from = CString::new(fd)?;
    let to = CString::new(to.as_os_str().as_bytes())?;
    // SAFETY: both arguments are NUL-terminated strings that live for the
    // call; linkat reads them and touches no other memory of ours.
    let linked = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    match linked {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

impl Backend for LocalBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn create(&self) -> BackendResult<()> {
        let config = self.path(FileType::Config, &Id::default());
        match fs::symlink_metadata(&config) {
            Ok(_) => {
                return Err(BackendError::AlreadyExists {
                    what: config.display().to_string(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io_err(&config, e)),
        }
        let mkdir = |p: &Path| {
            fs::create_dir_all(p).map_err(|e| self.io_err(p, e))?;
            fs::set_permissions(p, fs::Permissions::from_mode(0o700)).map_err(|e| self.io_err(p, e))
        };
        mkdir(&self.root)?;
        for t in FileType::DIRS {
            mkdir(&self.root.join(t.dir_name()))?;
        }
        for i in 0..=255u8 {
            mkdir(&self.root.join("data").join(format!("{i:02x}")))?;
        }
        Ok(())
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        let mut out = Vec::new();
        match t {
            FileType::Config => {
                if let Ok(m) = fs::metadata(self.root.join("config")) {
                    out.push((Id::default(), m.len()));
                }
            }
            FileType::Pack => {
                let data = self.root.join("data");
                let subdirs = match fs::read_dir(&data) {
                    Ok(e) => e,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                    Err(e) => return Err(self.io_err(&data, e)),
                };
                for sub in subdirs {
                    let sub = sub.map_err(|e| self.io_err(&data, e))?;
                    if sub.file_type().map(|f| f.is_dir()).unwrap_or(false) {
                        self.list_dir(&sub.path(), &mut out)?;
                    }
                }
            }
            _ => self.list_dir(&self.root.join(t.dir_name()), &mut out)?,
        }
        Ok(out)
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        let p = self.path(t, id);
        fs::read(&p).map_err(|e| self.io_err(&p, e))
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        let p = self.path(t, id);
        let len = usize::try_from(length).map_err(|_| BackendError::Other {
            what: p.display().to_string(),
            message: format!("range of {length} bytes too large"),
        })?;
        let (pack, plain);
        let (f, size) = match t {
            FileType::Pack => {
                pack = self.open_pack(id, &p)?;
                (&pack.file, pack.size)
            }
            _ => {
                plain = File::open(&p).map_err(|e| self.io_err(&p, e))?;
                let size = plain.metadata().map_err(|e| self.io_err(&p, e))?.len();
                (&plain, size)
            }
        };
        // The length comes from an index entry: refuse a range past the end
        // of the file before allocating for it.
        if !matches!(offset.checked_add(length), Some(end) if end <= size) {
            return Err(BackendError::ShortRead {
                what: p.display().to_string(),
                offset,
                length,
                got: size.saturating_sub(offset),
            });
        }
        let mut buf = vec![0u8; len];
        f.read_exact_at(&mut buf, offset)
            .map_err(|e| self.io_err(&p, e))?;
        Ok(buf)
    }

    /// A directory listing shows a renamed file at once, to every process.
    fn lists_writes_at_once(&self) -> bool {
        true
    }

    /// One: a pack is written here in less time than the next one takes
    /// to fill (about 20 against 45 ms in a backup of large files).
    fn packs_in_flight(&self) -> usize {
        1
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        use std::io::{Read, Seek, SeekFrom};
        let p = self.path(t, id);
        let mut f = File::open(&p).map_err(|e| self.io_err(&p, e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| self.io_err(&p, e))?;
        let reader = std::io::BufReader::with_capacity(STREAM_BUFFER, f.take(length));
        Ok(Box::new(reader))
    }

    fn file_sink(&self, t: FileType) -> BackendResult<Option<Box<dyn FileSink>>> {
        if t != FileType::Pack || !can_link_unnamed() {
            return Ok(None);
        }
        Ok(match unnamed_file(&self.root.join("data")) {
            Ok(file) => Some(Box::new(PackSink {
                backend: self.clone(),
                file,
            })),
            // A file system without unnamed files (or no data directory
            // yet): the pack is written whole.
            Err(_) => None,
        })
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        let pack = t == FileType::Pack;
        if !pack {
            // It may name packs: they go first.
            self.sync_packs()?;
        }
        self.place(t, id, |tmp| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(tmp)?;
            if pack {
                crate::direct_io::write_all(&mut f, data)?;
                start_write_back(&f);
            } else {
                f.write_all(data)?;
                f.sync_all()?;
            }
            Ok(())
        })
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        self.close_pack(t, id);
        let p = self.path(t, id);
        fs::remove_file(&p).map_err(|e| self.io_err(&p, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unsynced(b: &LocalBackend) -> usize {
        b.unsynced.paths.lock().unwrap().len()
    }

    #[test]
    fn open_packs_are_reused_and_closed_when_removed() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        let ids: Vec<Id> = (0..OPEN_PACKS as u32 + 5)
            .map(|i| Id::hash(&i.to_le_bytes()))
            .collect();
        for id in &ids {
            b.write(FileType::Pack, id, b"0123456789").unwrap();
            assert_eq!(b.read_range(FileType::Pack, id, 2, 3).unwrap(), b"234");
        }
        // Bounded, whatever was read.
        assert!(b.open_packs.lock().unwrap().len() <= OPEN_PACKS);
        let id = ids[ids.len() - 1];
        assert!(b.open_packs.lock().unwrap().contains_key(&id));
        // Past the end is refused from an open pack too.
        assert!(b.read_range(FileType::Pack, &id, 8, 3).is_err());
        b.remove(FileType::Pack, &id).unwrap();
        assert!(matches!(
            b.read_range(FileType::Pack, &id, 0, 1),
            Err(BackendError::NotFound { .. })
        ));
        // Written again: read from the new file.
        b.write(FileType::Pack, &id, b"abcdefghij").unwrap();
        assert_eq!(b.read_range(FileType::Pack, &id, 2, 3).unwrap(), b"cde");
    }

    /// Every file under `dir`, recursively.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap().flatten() {
            match e.file_type().unwrap().is_dir() {
                true => out.extend(files(&e.path())),
                false => out.push(e.path()),
            }
        }
        out
    }

    #[test]
    fn a_pack_written_piece_by_piece_shows_only_once_committed() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        let data = dir.path().join("repo/data");
        let before = files(&data).len();
        let bytes: Vec<u8> = (0..(3 << 20) + 777u32).map(|i| (i % 253) as u8).collect();
        let id = Id::hash(&bytes);
        let mut sink = b.file_sink(FileType::Pack).unwrap().expect("a sink");
        for piece in bytes.chunks(1 << 20) {
            sink.append(piece).unwrap();
        }
        // Written, but nowhere in the repository yet.
        assert_eq!(files(&data).len(), before);
        assert!(b.list(FileType::Pack).unwrap().is_empty());
        sink.commit(&id).unwrap();
        assert_eq!(b.list(FileType::Pack).unwrap(), [(id, bytes.len() as u64)]);
        assert!(b.read_full(FileType::Pack, &id).unwrap() == bytes);
        let path = b.path(FileType::Pack, &id);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o400);
        assert_eq!(unsynced(&b), 1);
        assert_eq!(files(&data).len(), before + 1);

        // One given up leaves nothing behind.
        let mut sink = b.file_sink(FileType::Pack).unwrap().expect("a sink");
        sink.append(&bytes).unwrap();
        drop(sink);
        assert_eq!(files(&data).len(), before + 1);
        // Other files are written whole.
        assert!(b.file_sink(FileType::Index).unwrap().is_none());
    }

    #[test]
    fn packs_are_synced_before_any_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        let packs: Vec<Id> = (0..3u8).map(|i| Id::hash(&[i])).collect();
        for id in &packs {
            b.write(FileType::Pack, id, b"pack bytes").unwrap();
        }
        // Clones share what is still to be synced.
        assert_eq!(unsynced(&b.clone()), 3);
        // A pack removed meanwhile is not an error.
        b.remove(FileType::Pack, &packs[0]).unwrap();
        b.write(FileType::Index, &Id::hash(b"index"), b"names the packs")
            .unwrap();
        assert_eq!(unsynced(&b), 0);
        assert_eq!(b.list(FileType::Pack).unwrap().len(), 2);
        assert_eq!(
            b.read_full(FileType::Pack, &packs[1]).unwrap(),
            b"pack bytes"
        );
    }

    #[test]
    fn write_list_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let b = LocalBackend::new(dir.path().join("repo"));
        b.create().unwrap();
        let id = Id::hash(b"pack");
        b.write(FileType::Pack, &id, b"0123456789").unwrap();
        assert_eq!(b.list(FileType::Pack).unwrap(), vec![(id, 10)]);
        assert_eq!(b.read_range(FileType::Pack, &id, 2, 3).unwrap(), b"234");
        assert!(b.read_range(FileType::Pack, &id, 8, 3).is_err());
        assert_eq!(b.read_full(FileType::Pack, &id).unwrap().len(), 10);
        fs::write(dir.path().join("repo/data/00/junk-tmp-1"), b"x").unwrap();
        assert_eq!(b.list(FileType::Pack).unwrap().len(), 1);
        b.remove(FileType::Pack, &id).unwrap();
        assert!(b.read_full(FileType::Pack, &id).unwrap_err().is_not_found());
        assert!(b.list(FileType::Index).unwrap().is_empty());
    }
}
