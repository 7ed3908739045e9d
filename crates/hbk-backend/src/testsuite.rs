//! The backend conformance suite: checks that a [`Backend`] keeps the
//! trait's contract, so every backend (local, cached, retrying, memory,
//! S3, REST) is held to the same rules by the same code. Enabled by the
//! `testsuite` feature; meant for tests of this crate, the interop tests
//! on live servers and embedders writing their own backend.
//!
//! Every check takes a fresh backend holding no repository (nothing
//! created, nothing written) and panics, naming the rule, when the
//! backend breaks it. [`run`] runs them all, each on its own backend.
//!
//! ```
//! use std::sync::Arc;
//! use hbk_backend::{testsuite, MemoryBackend};
//!
//! testsuite::run(&|| Arc::new(MemoryBackend::new()));
//! ```

use std::sync::Arc;

use hbk_repo::{Backend, BackendError, FileType, Id};

/// Size of the object [`large_object`] writes: above the S3 backend's
/// multipart threshold, so S3 uploads it in parts.
pub const LARGE_OBJECT: usize = 40 << 20;

/// Every file type but the config.
const TYPES: [FileType; 5] = FileType::DIRS;

/// One conformance check.
type Check = fn(&dyn Backend);

/// Runs every check, each on a backend `fresh` makes for it.
pub fn run(fresh: &dyn Fn() -> Arc<dyn Backend>) {
    let checks: [(&str, Check); 10] = [
        ("create", create_refuses_an_existing_config),
        ("config", config_ignores_the_id),
        ("every file type", write_read_list_remove_every_type),
        ("ranges", ranged_reads),
        ("missing objects", missing_objects_are_not_found),
        ("empty files", empty_files),
        ("overwrite", rewriting_the_same_bytes),
        ("large object", large_object),
        ("concurrency", concurrent_writes),
        ("discard", discard_accepts_a_missing_file),
    ];
    for (name, check) in checks {
        let backend = fresh();
        tracing::debug!(check = name, location = %backend.location(), "conformance check");
        check(backend.as_ref());
    }
}

fn unwrap<T>(what: &str, r: Result<T, BackendError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("{what}: {e}"),
    }
}

fn sorted(mut v: Vec<(Id, u64)>) -> Vec<(Id, u64)> {
    v.sort();
    v
}

/// `create` succeeds on an empty location, lists no config, and fails
/// with "already exists" once a config is stored.
pub fn create_refuses_an_existing_config(b: &dyn Backend) {
    unwrap("create on an empty location", b.create());
    assert!(
        unwrap("list config", b.list(FileType::Config)).is_empty(),
        "a new repository lists a config"
    );
    unwrap(
        "write config",
        b.write(FileType::Config, &Id::default(), b"cfg"),
    );
    match b.create() {
        Err(BackendError::AlreadyExists { .. }) => {}
        Err(e) => panic!("create over an existing config: wrong error kind: {e}"),
        Ok(()) => panic!("create over an existing config succeeded"),
    }
    assert_eq!(
        unwrap("read config", b.read_full(FileType::Config, &Id::default())),
        b"cfg",
        "create over an existing config changed it"
    );
}

/// There is one config: its id is ignored when writing, reading,
/// listing (the zero id) and removing.
pub fn config_ignores_the_id(b: &dyn Backend) {
    unwrap("create", b.create());
    unwrap(
        "write config",
        b.write(FileType::Config, &Id::hash(b"a"), b"config"),
    );
    assert_eq!(
        unwrap(
            "read config",
            b.read_full(FileType::Config, &Id::hash(b"b"))
        ),
        b"config"
    );
    assert_eq!(
        unwrap("list config", b.list(FileType::Config)),
        vec![(Id::default(), 6)],
        "the config lists under the zero id with its size"
    );
    assert_eq!(
        unwrap(
            "ranged config read",
            b.read_range(FileType::Config, &Id::default(), 2, 3)
        ),
        b"nfi"
    );
    unwrap("remove config", b.remove(FileType::Config, &Id::hash(b"c")));
    assert!(unwrap("list config", b.list(FileType::Config)).is_empty());
}

/// Files of every type are stored, listed with their sizes (only under
/// their own type), read back whole and removed.
pub fn write_read_list_remove_every_type(b: &dyn Backend) {
    unwrap("create", b.create());
    let mut written = Vec::new();
    for (i, t) in TYPES.into_iter().enumerate() {
        let files: Vec<Vec<u8>> = (0..3)
            .map(|n| format!("{t} file {n} {}", "x".repeat(i * 7 + n)).into_bytes())
            .collect();
        for data in &files {
            unwrap(&format!("write {t}"), b.write(t, &Id::hash(data), data));
        }
        written.push((t, files));
    }
    for (t, files) in &written {
        let want = sorted(
            files
                .iter()
                .map(|d| (Id::hash(d), d.len() as u64))
                .collect(),
        );
        assert_eq!(
            sorted(unwrap(&format!("list {t}"), b.list(*t))),
            want,
            "listing of {t} files (ids and sizes)"
        );
        for d in files {
            assert_eq!(
                unwrap(&format!("read {t}"), b.read_full(*t, &Id::hash(d))),
                *d,
                "{t} read back"
            );
        }
    }
    for (t, files) in &written {
        for d in files {
            unwrap(&format!("remove {t}"), b.remove(*t, &Id::hash(d)));
        }
        assert!(
            unwrap(&format!("list {t}"), b.list(*t)).is_empty(),
            "{t} files listed after removal"
        );
        let gone = b.read_full(*t, &Id::hash(&files[0]));
        assert!(
            gone.as_ref().is_err_and(BackendError::is_not_found),
            "read of a removed {t} file: {gone:?}"
        );
    }
}

/// Ranged reads return exactly the bytes asked for; a range reaching
/// past the end is an error, never a short read.
pub fn ranged_reads(b: &dyn Backend) {
    unwrap("create", b.create());
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
    let id = Id::hash(&data);
    unwrap("write pack", b.write(FileType::Pack, &id, &data));
    let len = data.len() as u64;
    for (offset, length) in [(0, 1), (0, len), (1, len - 1), (4321, 1000), (len - 1, 1)] {
        let got = unwrap(
            &format!("read {length} bytes at {offset}"),
            b.read_range(FileType::Pack, &id, offset, length),
        );
        let (o, l) = (offset as usize, length as usize);
        assert!(
            got == data[o..o + l],
            "range {offset}+{length}: wrong bytes"
        );
        let meta = unwrap(
            "metadata range",
            b.read_metadata_range(FileType::Pack, &id, offset, length),
        );
        assert!(meta == data[o..o + l], "metadata range {offset}+{length}");
    }
    for (offset, length) in [(len - 10, 20), (len, 1), (len + 100, 5)] {
        let r = b.read_range(FileType::Pack, &id, offset, length);
        assert!(
            r.is_err(),
            "range {offset}+{length} past the end of {len} bytes: {:?}",
            r.map(|v| v.len())
        );
    }
}

/// Reading, ranged reading and removing a file that does not exist give
/// [`BackendError::NotFound`], for every type and the config; listing an
/// empty type gives nothing.
pub fn missing_objects_are_not_found(b: &dyn Backend) {
    unwrap("create", b.create());
    let missing = Id::hash(b"missing");
    for t in TYPES.into_iter().chain([FileType::Config]) {
        let full = b.read_full(t, &missing);
        assert!(
            full.as_ref().is_err_and(BackendError::is_not_found),
            "read of a missing {t}: {full:?}"
        );
        let range = b.read_range(t, &missing, 0, 1);
        assert!(
            range.as_ref().is_err_and(BackendError::is_not_found),
            "ranged read of a missing {t}: {range:?}"
        );
        let removed = b.remove(t, &missing);
        assert!(
            removed.as_ref().is_err_and(BackendError::is_not_found),
            "remove of a missing {t}: {removed:?}"
        );
        assert!(
            unwrap(&format!("list {t}"), b.list(t)).is_empty(),
            "an empty repository lists {t} files"
        );
    }
}

/// `discard` deletes a file that is there and accepts one that is not
/// (where `remove` reports it missing).
pub fn discard_accepts_a_missing_file(b: &dyn Backend) {
    unwrap("create", b.create());
    let id = Id::hash(b"lock");
    unwrap("write", b.write(FileType::Lock, &id, b"lock"));
    unwrap("discard", b.discard(FileType::Lock, &id));
    assert!(
        unwrap("list", b.list(FileType::Lock)).is_empty(),
        "a discarded file is still listed"
    );
    unwrap("discard of a missing file", b.discard(FileType::Lock, &id));
    let removed = b.remove(FileType::Lock, &id);
    assert!(
        removed.as_ref().is_err_and(BackendError::is_not_found),
        "remove of a discarded file: {removed:?}"
    );
}

/// An empty file is stored, listed with size 0 and read back empty.
pub fn empty_files(b: &dyn Backend) {
    unwrap("create", b.create());
    let id = Id::hash(b"");
    unwrap("write empty", b.write(FileType::Snapshot, &id, b""));
    assert_eq!(
        unwrap("list", b.list(FileType::Snapshot)),
        vec![(id, 0)],
        "an empty file lists with size 0"
    );
    assert!(unwrap("read empty", b.read_full(FileType::Snapshot, &id)).is_empty());
    unwrap("remove empty", b.remove(FileType::Snapshot, &id));
}

/// Writing a file that exists with the same bytes (a retried upload:
/// every name is the hash of its content) succeeds or says "already
/// exists", and leaves the file whole and listed once.
pub fn rewriting_the_same_bytes(b: &dyn Backend) {
    unwrap("create", b.create());
    let data = b"index file".to_vec();
    let id = Id::hash(&data);
    unwrap("write", b.write(FileType::Index, &id, &data));
    match b.write(FileType::Index, &id, &data) {
        Ok(()) | Err(BackendError::AlreadyExists { .. }) => {}
        Err(e) => panic!("writing the same file again: {e}"),
    }
    assert_eq!(unwrap("read", b.read_full(FileType::Index, &id)), data);
    assert_eq!(
        unwrap("list", b.list(FileType::Index)),
        vec![(id, data.len() as u64)],
        "a rewritten file lists once"
    );
}

/// A pack of [`LARGE_OBJECT`] bytes, written as shared bytes the way the
/// saver writes packs, round-trips, whole and in ranges far into it.
pub fn large_object(b: &dyn Backend) {
    unwrap("create", b.create());
    let big: Vec<u8> = (0..LARGE_OBJECT as u32).map(|i| (i % 251) as u8).collect();
    let id = Id::hash(&big);
    let shared = bytes::Bytes::from(big.clone());
    unwrap(
        "write a large pack",
        b.write_bytes(FileType::Pack, &id, shared),
    );
    assert_eq!(
        unwrap("list packs", b.list(FileType::Pack)),
        vec![(id, big.len() as u64)]
    );
    let off = LARGE_OBJECT - (7 << 20) + 7;
    let got = unwrap(
        "ranged read deep in a large pack",
        b.read_range(FileType::Pack, &id, off as u64, 1000),
    );
    assert!(
        got == big[off..off + 1000],
        "wrong bytes deep in a large pack"
    );
    let whole = unwrap("read a large pack", b.read_full(FileType::Pack, &id));
    assert!(whole == big, "a large pack read back differs");
}

/// Writes and reads from several threads at once all land.
pub fn concurrent_writes(b: &dyn Backend) {
    unwrap("create", b.create());
    let files: Vec<Vec<u8>> = (0..16u32)
        .map(|i| format!("lock {i}").into_bytes())
        .collect();
    std::thread::scope(|s| {
        for chunk in files.chunks(4) {
            s.spawn(move || {
                for d in chunk {
                    unwrap("concurrent write", b.write(FileType::Lock, &Id::hash(d), d));
                    assert_eq!(
                        unwrap("concurrent read", b.read_full(FileType::Lock, &Id::hash(d))),
                        *d
                    );
                }
            });
        }
    });
    let want = sorted(
        files
            .iter()
            .map(|d| (Id::hash(d), d.len() as u64))
            .collect(),
    );
    assert_eq!(sorted(unwrap("list locks", b.list(FileType::Lock))), want);
}
