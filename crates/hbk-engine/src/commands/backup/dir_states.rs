//! A local record of the directories the last backup saved, so that the
//! next backup can tell an unchanged directory without reading its tree
//! from the parent snapshot.
//!
//! A no-op backup of many small files spent half of its user CPU on the
//! parent snapshot's trees (decrypting, decompressing and parsing their
//! JSON, and comparing nodes) only to find every node equal to what
//! `lstat` gave. The
//! record keeps, for each directory a backup saved (by path and tree id),
//! a digest of its listing (each entry's name, how the backup treats it,
//! and the `lstat` fields a node is made of, with the user and group
//! names) and the tree ids of its subdirectories.
//! When the next backup lists the directory with the same digest and the
//! parent snapshot has the same tree there, every node would come out
//! equal to the parent's: the tree is the parent's, unless a subdirectory
//! changed, which the backup learns by going down with the recorded ids.
//!
//! The record is one file per set of backup sources in the repository's
//! directory of the local cache, written next to its final name and
//! renamed into place once the snapshot is saved. It is only a hint and
//! is used only while it holds:
//! - it was written under the same options that shape nodes, and the
//!   same rules of the local zone ([`fingerprint`]);
//! - every index file the repository had when it was written is still
//!   there. Blobs only leave a repository with the index files naming
//!   them (prune, index repair), so the content of an unchanged file is
//!   still stored, as the slow path checks blob by blob.
//!
//! A file that is unreadable, truncated or from another version is
//! ignored, as is any that fails these checks.

use std::fs::{File, Metadata};
use std::io::{BufWriter, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hbk_repo::Id;
use sha2::{Digest, Sha256};

use super::metadata::NameCache;
use super::options::BackupOptions;

/// Ends every record file: the format's name and version.
const MAGIC: &[u8; 8] = b"hbkdirs1";
/// A record file larger than this is not read (a million directories
/// with a few subdirectories each take about 150 MB).
const MAX_FILE_BYTES: u64 = 1 << 30;
/// Bytes of a zone file read for the fingerprint at most (zone files
/// take a few KiB).
const MAX_ZONE_FILE_BYTES: u64 = 1 << 20;
/// Bytes of one record before its subdirectories' ids: key, digest and
/// the count.
const RECORD_HEAD: usize = 32 + 32 + 4;

/// How a backup treats one entry of a directory it lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Becomes a node of the directory's tree.
    Included,
    /// Left out by an exclude rule (and reported as such).
    Excluded,
    /// Left out silently (a socket).
    Skipped,
}

/// What a directory's listing gives: its digest, how each entry (in name
/// order) is treated, and a digest of the included names (to check that
/// the saved tree has exactly those nodes before recording it).
pub struct DirState {
    /// The digest of the listing.
    pub digest: [u8; 32],
    /// Each entry's disposition, in the listing's (name) order.
    pub dispositions: Vec<Disposition>,
    /// How many entries are included.
    pub included: usize,
    /// How many included entries are directories.
    pub subdirs: usize,
    /// The digest of the included entries' names.
    pub names: [u8; 32],
}

/// Appends `bytes` with its length in front.
fn put(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    buf.extend_from_slice(bytes);
}

/// Appends a time's instant. The zone offset a node writes with it is the
/// local zone's at that instant, the same while the zone's rules are
/// ([`fingerprint`] holds them): looking it up per entry took a tenth of
/// a no-op backup's user time.
fn put_time(buf: &mut Vec<u8>, secs: i64, nanos: i64) {
    buf.extend_from_slice(&secs.to_le_bytes());
    buf.extend_from_slice(&nanos.to_le_bytes());
}

/// What the local zone's rules come from: `TZ` and `TZDIR`, and the zone
/// files they or `/etc/localtime` name.
fn zone_rules() -> Vec<u8> {
    let mut buf = Vec::new();
    let tz = std::env::var_os("TZ");
    let tzdir = std::env::var_os("TZDIR");
    for v in [&tz, &tzdir] {
        put(
            &mut buf,
            v.as_ref().map_or(b"-".as_slice(), |v| v.as_encoded_bytes()),
        );
    }
    let mut files = vec![PathBuf::from("/etc/localtime")];
    if let Some(tz) = &tz {
        let name = tz.to_string_lossy();
        let name = name.trim_start_matches(':');
        files.push(PathBuf::from(name));
        for dir in [tzdir.map(PathBuf::from), Some("/usr/share/zoneinfo".into())] {
            files.extend(dir.map(|d| d.join(name)));
        }
    }
    for f in files {
        put(&mut buf, &read_capped(&f, MAX_ZONE_FILE_BYTES));
    }
    buf
}

/// The first `cap` bytes of the file at `path`; empty when it cannot be
/// read (`TZ` may name anything, a device too).
fn read_capped(path: &Path, cap: u64) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = File::open(path) {
        let _ = f.take(cap).read_to_end(&mut out);
    }
    out
}

/// The digest of the names of `names`, as [`DirState::names`].
pub fn names_digest<'n>(names: impl Iterator<Item = &'n [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for n in names {
        h.update((n.len() as u64).to_le_bytes());
        h.update(n);
    }
    h.finalize().into()
}

/// The state of the directory at `path` from its entries (sorted by name,
/// each with its `lstat` result and disposition). Every field a node
/// takes from `lstat` goes in, and more (a directory's size), so that an
/// equal digest means equal nodes.
pub fn dir_state(
    path: &Path,
    entries: &[(Vec<u8>, std::io::Result<Metadata>)],
    dispositions: Vec<Disposition>,
    names: &NameCache,
    with_atime: bool,
) -> Option<DirState> {
    if entries.len() != dispositions.len() {
        return None;
    }
    let mut buf = Vec::with_capacity(64 + entries.len() * 128);
    put(&mut buf, path.as_os_str().as_encoded_bytes());
    let (mut included, mut subdirs) = (0, 0);
    for ((name, meta), d) in entries.iter().zip(&dispositions) {
        let meta = meta.as_ref().ok()?;
        put(&mut buf, name);
        buf.push(*d as u8);
        if *d != Disposition::Included {
            continue;
        }
        included += 1;
        subdirs += usize::from(meta.is_dir());
        for v in [meta.mode(), meta.uid(), meta.gid()] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        names.user_into(meta.uid(), &mut buf);
        names.group_into(meta.gid(), &mut buf);
        for v in [
            meta.size(),
            meta.ino(),
            meta.dev(),
            meta.nlink(),
            meta.rdev(),
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        put_time(&mut buf, meta.mtime(), meta.mtime_nsec());
        put_time(&mut buf, meta.ctime(), meta.ctime_nsec());
        if with_atime {
            put_time(&mut buf, meta.atime(), meta.atime_nsec());
        }
    }
    let included_names = entries
        .iter()
        .zip(&dispositions)
        .filter(|(_, d)| **d == Disposition::Included)
        .map(|((n, _), _)| n.as_slice());
    Some(DirState {
        digest: Sha256::digest(&buf).into(),
        names: names_digest(included_names),
        included,
        dispositions,
        subdirs,
    })
}

/// A directory's key in the record: its path with the tree saved for it.
pub fn key(path: &Path, tree: &Id) -> [u8; 32] {
    let mut h = Sha256::new();
    let p = path.as_os_str().as_encoded_bytes();
    h.update((p.len() as u64).to_le_bytes());
    h.update(p);
    h.update(tree.0);
    h.finalize().into()
}

/// The options that shape nodes and which entries become nodes, and the
/// local zone's rules (which give the times' offsets): a record written
/// under others is not used.
pub fn fingerprint(opts: &BackupOptions) -> [u8; 32] {
    let mut buf = zone_rules();
    for list in [&opts.excludes, &opts.iexcludes, &opts.exclude_if_present] {
        buf.extend_from_slice(&(list.len() as u64).to_le_bytes());
        for s in list {
            put(&mut buf, s.as_bytes());
        }
    }
    let larger = opts
        .exclude_larger_than
        .map_or(u64::MAX, |l| l.min(u64::MAX - 1));
    buf.extend_from_slice(&larger.to_le_bytes());
    buf.extend([
        u8::from(opts.exclude_caches),
        u8::from(opts.one_file_system),
        u8::from(opts.with_atime),
    ]);
    Sha256::digest(&buf).into()
}

/// The record's file for a backup of `paths` (sorted) in `dir`.
pub fn file_for(dir: &Path, paths: &[String]) -> PathBuf {
    let mut h = Sha256::new();
    for p in paths {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest: [u8; 32] = h.finalize().into();
    let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!("dirs-{name}"))
}

/// One directory as recorded.
pub struct Recorded<'r> {
    /// The digest of its listing.
    pub digest: &'r [u8],
    children: &'r [u8],
}

impl Recorded<'_> {
    /// The tree ids of its subdirectories, in name order.
    pub fn children(&self) -> Vec<Id> {
        self.children
            .chunks_exact(32)
            .filter_map(|c| c.try_into().ok().map(Id))
            .collect()
    }

    /// How many subdirectories it had.
    pub fn subdirs(&self) -> usize {
        self.children.len() / 32
    }
}

/// A record file as read: its records by key.
pub struct DirStates {
    bytes: Vec<u8>,
    /// Each record's key and offset, sorted by key.
    keys: Vec<([u8; 32], usize)>,
}

impl DirStates {
    /// Reads the record at `file` if it holds: written under options with
    /// `fingerprint`, and every index file it names is among `index_files`
    /// (sorted). `None` otherwise, or when it cannot be read.
    pub fn load(file: &Path, fingerprint: &[u8; 32], index_files: &[Id]) -> Option<DirStates> {
        let len = std::fs::metadata(file).ok()?.len();
        if len > MAX_FILE_BYTES {
            return None;
        }
        Self::parse(std::fs::read(file).ok()?, fingerprint, index_files)
    }

    /// [`DirStates::load`] on the file's bytes.
    pub fn parse(bytes: Vec<u8>, fingerprint: &[u8; 32], index_files: &[Id]) -> Option<DirStates> {
        let trailer = Trailer::parse(&bytes)?;
        let all_there = trailer
            .index_files
            .iter()
            .all(|id| index_files.binary_search(id).is_ok());
        if trailer.fingerprint != *fingerprint || !all_there {
            return None;
        }
        let records = bytes.get(..trailer.records_len)?;
        let mut keys = Vec::new();
        let mut at = 0;
        while at < records.len() {
            let head = records.get(at..at.checked_add(RECORD_HEAD)?)?;
            let (key, rest) = head.split_first_chunk::<32>()?;
            let subdirs = u32_at(rest, 32)? as usize;
            let end = (at + RECORD_HEAD).checked_add(subdirs.checked_mul(32)?)?;
            if end > records.len() {
                return None;
            }
            keys.push((*key, at + 32));
            at = end;
        }
        keys.sort_unstable_by_key(|k| k.0);
        Some(DirStates { bytes, keys })
    }

    /// The keys of the recorded directories, in order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.keys.iter().map(|(k, _)| k)
    }

    /// The record of `key`, if any.
    pub fn get(&self, key: &[u8; 32]) -> Option<Recorded<'_>> {
        let i = self.keys.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        let at = self.keys.get(i)?.1;
        let digest = self.bytes.get(at..at + 32)?;
        let subdirs = u32_at(&self.bytes, at + 32)? as usize;
        let start = at + 36;
        let children = self.bytes.get(start..start + subdirs * 32)?;
        Some(Recorded { digest, children })
    }

    /// How many directories are recorded.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no directory is recorded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The end of a record file: under what it was written and where its
/// records end.
pub struct Trailer {
    /// The [`fingerprint`] of the options it was written under.
    pub fingerprint: [u8; 32],
    /// The index files it depends on.
    pub index_files: Vec<Id>,
    /// The length of the records in front of the trailer.
    records_len: usize,
}

impl Trailer {
    /// The trailer of a record file's `bytes`: the fingerprint, the count
    /// and ids of the index files, the records' length and the magic
    /// bytes that name the format.
    pub fn parse(bytes: &[u8]) -> Option<Trailer> {
        let end = bytes.len().checked_sub(16)?;
        if bytes.get(end + 8..)? != MAGIC {
            return None;
        }
        let records_len = usize::try_from(u64_at(bytes, end)?).ok()?;
        let trailer = bytes.get(records_len..end)?;
        let (fingerprint, rest) = trailer.split_first_chunk::<32>()?;
        let (count, ids) = rest.split_first_chunk::<4>()?;
        if ids.len() != (u32::from_le_bytes(*count) as usize).checked_mul(32)? {
            return None;
        }
        let index_files = ids
            .chunks_exact(32)
            .filter_map(|c| c.try_into().ok().map(Id))
            .collect();
        Some(Trailer {
            fingerprint: *fingerprint,
            index_files,
            records_len,
        })
    }
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at.checked_add(4)?)?
        .try_into()
        .ok()
        .map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    bytes
        .get(at..at.checked_add(8)?)?
        .try_into()
        .ok()
        .map(u64::from_le_bytes)
}

/// The record a backup writes as it saves directories; it replaces the
/// last one only on [`DirStateLog::commit`], and is removed if dropped
/// before. Records added after the commit are dropped.
pub struct DirStateLog {
    /// The file being written (next to `target`) and the bytes written; `None` once a write failed.
    out: Mutex<Option<(BufWriter<File>, u64)>>,
    /// The [`fingerprint`] of the backup's options, written at the end.
    fingerprint: [u8; 32],
    temp: PathBuf,
    target: PathBuf,
}

impl DirStateLog {
    /// Starts a record that will replace `target`, for a backup whose
    /// options have `fingerprint`; `None` when its directory or file
    /// cannot be made (the backup goes on without).
    pub fn create(target: &Path, fingerprint: [u8; 32]) -> Option<DirStateLog> {
        let dir = target.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        let name = target.file_name()?.to_string_lossy();
        let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&temp).ok()?;
        Some(DirStateLog {
            out: Mutex::new(Some((BufWriter::with_capacity(1 << 16, file), 0))),
            fingerprint,
            temp,
            target: target.to_path_buf(),
        })
    }

    /// Records the directory of `key` with its listing's `digest` and its
    /// subdirectories' trees.
    pub fn add(&self, key: &[u8; 32], digest: &[u8], children: &[Id]) {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let Some((w, len)) = out.as_mut() else {
            return;
        };
        let count = u32::try_from(children.len()).unwrap_or(u32::MAX);
        let mut write = || -> std::io::Result<()> {
            w.write_all(key)?;
            w.write_all(digest)?;
            w.write_all(&count.to_le_bytes())?;
            for c in children.iter().take(count as usize) {
                w.write_all(&c.0)?;
            }
            Ok(())
        };
        match write() {
            Ok(()) => *len += (RECORD_HEAD + 32 * count as usize) as u64,
            Err(_) => *out = None,
        }
    }

    /// Ends the record with the `fingerprint` of the backup's options and
    /// the repository's index files after the backup, and puts it in
    /// place of the last one.
    pub fn commit(&self, index_files: &[Id]) -> std::io::Result<()> {
        let out = self
            .out
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| std::io::Error::other("a write of the record failed"))?;
        let (mut w, len) = out;
        w.write_all(&self.fingerprint)?;
        let count = u32::try_from(index_files.len()).map_err(std::io::Error::other)?;
        w.write_all(&count.to_le_bytes())?;
        for id in index_files {
            w.write_all(&id.0)?;
        }
        w.write_all(&len.to_le_bytes())?;
        w.write_all(MAGIC)?;
        w.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&self.temp, &self.target)
    }
}

impl Drop for DirStateLog {
    fn drop(&mut self) {
        // Renamed on commit; otherwise the partial record goes.
        let _ = std::fs::remove_file(&self.temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<Id> {
        (0..n).map(|i| Id::hash(&[i])).collect()
    }

    fn write(dir: &Path, records: &[([u8; 32], [u8; 32], Vec<Id>)], index: &[Id]) -> PathBuf {
        let target = dir.join("sub/dirs-test");
        let log = DirStateLog::create(&target, [7; 32]).unwrap();
        for (k, d, c) in records {
            log.add(k, d, c);
        }
        log.commit(index).unwrap();
        target
    }

    #[test]
    fn records_read_back_while_their_index_files_are_there() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = ids(3);
        index.sort();
        let records = vec![
            ([1; 32], [2; 32], ids(2)),
            ([3; 32], [4; 32], Vec::new()),
            ([0; 32], [5; 32], ids(1)),
        ];
        let file = write(dir.path(), &records, &index[..2]);
        let states = DirStates::load(&file, &[7; 32], &index).unwrap();
        assert_eq!(states.len(), 3);
        for (k, d, c) in &records {
            let r = states.get(k).unwrap();
            assert_eq!(r.digest, d);
            assert_eq!(r.children(), *c);
            assert_eq!(r.subdirs(), c.len());
        }
        assert!(states.get(&[9; 32]).is_none());
        // Other options, or an index file gone: not used.
        assert!(DirStates::load(&file, &[8; 32], &index).is_none());
        assert!(DirStates::load(&file, &[7; 32], &index[1..]).is_none());
        // No temporary file is left next to it.
        let left: Vec<_> = std::fs::read_dir(file.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("dirs-test")]);
    }

    #[test]
    fn a_log_dropped_before_commit_leaves_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), &[([1; 32], [2; 32], ids(1))], &[]);
        let log = DirStateLog::create(&file, [7; 32]).unwrap();
        log.add(&[5; 32], &[6; 32], &[]);
        drop(log);
        let states = DirStates::load(&file, &[7; 32], &[]).unwrap();
        assert!(states.get(&[1; 32]).is_some());
        assert!(states.get(&[5; 32]).is_none());
        assert_eq!(
            std::fs::read_dir(file.parent().unwrap()).unwrap().count(),
            1
        );
    }

    #[test]
    fn damaged_records_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), &[([1; 32], [2; 32], ids(3))], &ids(1));
        let bytes = std::fs::read(&file).unwrap();
        let mut index = ids(1);
        index.sort();
        assert!(DirStates::parse(bytes.clone(), &[7; 32], &index).is_some());
        for cut in 0..bytes.len() {
            assert!(DirStates::parse(bytes[..cut].to_vec(), &[7; 32], &index).is_none());
        }
        // A subdirectory count running past the records.
        let mut long = bytes.clone();
        long[64..68].copy_from_slice(&1000u32.to_le_bytes());
        assert!(DirStates::parse(long, &[7; 32], &index).is_none());
    }

    #[test]
    fn the_fingerprint_follows_the_options_that_shape_nodes() {
        let base = BackupOptions::default();
        let same = fingerprint(&BackupOptions::default());
        assert_eq!(fingerprint(&base), same);
        let changed = [
            BackupOptions {
                excludes: vec!["*.tmp".into()],
                ..BackupOptions::default()
            },
            BackupOptions {
                iexcludes: vec!["*.tmp".into()],
                ..BackupOptions::default()
            },
            BackupOptions {
                exclude_if_present: vec![".nobackup".into()],
                ..BackupOptions::default()
            },
            BackupOptions {
                exclude_larger_than: Some(1 << 20),
                ..BackupOptions::default()
            },
            BackupOptions {
                exclude_caches: true,
                ..BackupOptions::default()
            },
            BackupOptions {
                one_file_system: true,
                ..BackupOptions::default()
            },
            BackupOptions {
                with_atime: true,
                ..BackupOptions::default()
            },
        ];
        let mut seen = vec![same];
        for opts in &changed {
            let f = fingerprint(opts);
            assert!(!seen.contains(&f));
            seen.push(f);
        }
        // Options that do not shape nodes leave it as it is.
        let tagged = BackupOptions {
            tags: vec!["t".into()],
            threads: 3,
            ..BackupOptions::default()
        };
        assert_eq!(fingerprint(&tagged), same);
    }

    #[test]
    fn the_digest_follows_every_node_field_and_the_dispositions() {
        let dir = tempfile::tempdir().unwrap();
        let names = NameCache::default();
        std::fs::write(dir.path().join("a"), b"one").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        let list = || -> Vec<(Vec<u8>, std::io::Result<Metadata>)> {
            ["a", "d"]
                .iter()
                .map(|n| {
                    let m = std::fs::symlink_metadata(dir.path().join(n));
                    (n.as_bytes().to_vec(), m)
                })
                .collect()
        };
        let all = || vec![Disposition::Included; 2];
        let state = |e: &[_], d| dir_state(dir.path(), e, d, &names, false).unwrap();
        let first = state(&list(), all());
        assert_eq!(first.subdirs, 1);
        assert_eq!(first.digest, state(&list(), all()).digest);
        // Another path, another disposition, atime asked for: all differ.
        let other = dir_state(Path::new("/elsewhere"), &list(), all(), &names, false).unwrap();
        assert_ne!(first.digest, other.digest);
        let excluded = state(&list(), vec![Disposition::Included, Disposition::Excluded]);
        assert_ne!(first.digest, excluded.digest);
        assert_ne!(first.names, excluded.names);
        assert_eq!(excluded.subdirs, 0);
        let atime = dir_state(dir.path(), &list(), all(), &names, true).unwrap();
        assert_ne!(first.digest, atime.digest);
        // A change of mode changes the ctime too, and the digest.
        std::thread::sleep(std::time::Duration::from_millis(20));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path().join("a"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        assert_ne!(first.digest, state(&list(), all()).digest);
        // An entry that could not be stat'ed: no state.
        let mut broken = list();
        broken[0].1 = Err(std::io::Error::other("gone"));
        assert!(dir_state(dir.path(), &broken, all(), &names, false).is_none());
    }
}
