//! Damaging repository files on purpose, for the corruption matrix: which
//! file of each kind to damage, the faults, and running a command with an
//! upper bound on its time so a hang is a finding rather than a stuck test.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hbk_repo::{BlobType, FileType, Id, Repository};
use rand::Rng;

use crate::drivers::Repo;

/// The kinds of repository file the matrix damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// A pack holding data blobs.
    DataPack,
    /// A pack holding tree blobs.
    TreePack,
    /// An index file.
    Index,
    /// A snapshot file.
    Snapshot,
    /// A key file (the repository's only one).
    Key,
    /// The config file.
    Config,
}

impl Object {
    /// Every kind, in the order the report lists them.
    pub const ALL: [Object; 6] = [
        Object::DataPack,
        Object::TreePack,
        Object::Index,
        Object::Snapshot,
        Object::Key,
        Object::Config,
    ];

    /// The name the report uses.
    pub fn name(self) -> &'static str {
        match self {
            Object::DataPack => "data pack",
            Object::TreePack => "tree pack",
            Object::Index => "index",
            Object::Snapshot => "snapshot",
            Object::Key => "key",
            Object::Config => "config",
        }
    }
}

/// The faults applied to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// One bit flipped at a random position.
    BitFlip,
    /// 16 bytes at a random position overwritten with random bytes.
    Overwrite16,
    /// Cut to a random shorter, non-zero length.
    Truncate,
    /// Cut to zero bytes.
    ZeroLength,
    /// Removed.
    Delete,
}

impl Fault {
    /// Every fault, in the order the report lists them.
    pub const ALL: [Fault; 5] = [
        Fault::BitFlip,
        Fault::Overwrite16,
        Fault::Truncate,
        Fault::ZeroLength,
        Fault::Delete,
    ];

    /// The name the report uses.
    pub fn name(self) -> &'static str {
        match self {
            Fault::BitFlip => "bit flip",
            Fault::Overwrite16 => "16 bytes overwritten",
            Fault::Truncate => "truncated",
            Fault::ZeroLength => "zero length",
            Fault::Delete => "deleted",
        }
    }

    /// Applies the fault to `file`; returns a description (position).
    pub fn apply(self, file: &Path, rng: &mut impl Rng) -> String {
        let mut bytes = std::fs::read(file).unwrap();
        let len = bytes.len();
        assert!(len > 1, "{} is too small to damage", file.display());
        let what = match self {
            Fault::BitFlip => {
                let at = rng.gen_range(0..len);
                let bit = rng.gen_range(0..8);
                bytes[at] ^= 1 << bit;
                format!("bit {bit} of byte {at} of {len}")
            }
            Fault::Overwrite16 => {
                let at = rng.gen_range(0..len.saturating_sub(16).max(1));
                let end = (at + 16).min(len);
                // Random bytes that differ from the old ones, so the file
                // really changes.
                for b in &mut bytes[at..end] {
                    *b ^= rng.gen_range(1..=255u8);
                }
                format!("bytes {at}..{end} of {len}")
            }
            Fault::Truncate => {
                let to = rng.gen_range(1..len);
                bytes.truncate(to);
                format!("{len} → {to} bytes")
            }
            Fault::ZeroLength => {
                bytes.clear();
                format!("{len} → 0 bytes")
            }
            Fault::Delete => {
                std::fs::remove_file(file).unwrap();
                return "removed".into();
            }
        };
        std::fs::write(file, &bytes).unwrap();
        what
    }
}

/// The file of kind `object` the matrix damages in the local repository
/// at `repo` (opened with `password`), and the name a report of that
/// file must contain.
pub fn pick(repo: &Path, password: &str, object: Object) -> (PathBuf, String) {
    let backend = Arc::new(hbk_backend::LocalBackend::new(repo));
    let opened = Repository::open(backend, password.as_bytes()).unwrap();
    let first = |t: FileType| -> Id {
        let mut ids: Vec<Id> = opened
            .list(t)
            .unwrap()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        *ids.first()
            .unwrap_or_else(|| panic!("no {t} in {}", repo.display()))
    };
    let file = |dir: &str, id: &Id| {
        let hex = id.to_hex();
        (repo.join(dir).join(&hex), hex)
    };
    match object {
        Object::DataPack | Object::TreePack => {
            let want = match object {
                Object::DataPack => BlobType::Data,
                _ => BlobType::Tree,
            };
            let index = opened.load_index_file(&first(FileType::Index)).unwrap();
            let pack = index
                .packs
                .iter()
                .find(|p| p.blobs.iter().any(|b| b.blob_type == want))
                .unwrap_or_else(|| panic!("no pack with {want} blobs"));
            let hex = pack.id.to_hex();
            (repo.join("data").join(&hex[..2]).join(&hex), hex)
        }
        Object::Index => file("index", &first(FileType::Index)),
        Object::Snapshot => file("snapshots", &first(FileType::Snapshot)),
        Object::Key => file("keys", &first(FileType::Key)),
        Object::Config => (repo.join("config"), "config".into()),
    }
}

/// What a command did within its time bound.
#[derive(Debug)]
pub struct Bounded {
    /// The exit code; `None` when it was killed (a hang) or died by a signal.
    pub code: Option<i32>,
    /// Whether it ran past the bound and was killed.
    pub hung: bool,
    /// stdout and stderr, together.
    pub output: String,
    /// How long it ran.
    pub took: Duration,
}

impl Bounded {
    /// Whether the command panicked (Rust's exit code or message).
    pub fn panicked(&self) -> bool {
        self.code == Some(101) || self.output.contains("panicked at")
    }
}

/// Runs `cmd`, killing it after `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Bounded {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    // Drain both pipes while waiting, so a chatty command cannot block.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let (code, hung) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status.code(), false);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::from_utf8_lossy(&out.join().unwrap()).into_owned();
    output.push_str(&String::from_utf8_lossy(&err.join().unwrap()));
    Bounded {
        code,
        hung,
        output,
        took: started.elapsed(),
    }
}

/// The pack holding data blob `blob`, and the blob's offset in it.
pub fn locate(repo: &Repo, blob: &Id) -> (Id, u64) {
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let backend = Arc::new(hbk_backend::LocalBackend::new(&repo.path));
    let opened = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    for (_, file) in opened.index_files().unwrap() {
        for pack in file.packs {
            if let Some(b) = pack
                .blobs
                .iter()
                .find(|b| b.blob_type == BlobType::Data && b.id == *blob)
            {
                return (pack.id, b.offset);
            }
        }
    }
    panic!("blob {blob} is in no index");
}

/// The file of pack `pack` in `repo`.
pub fn pack_file(repo: &Repo, pack: &Id) -> std::path::PathBuf {
    let hex = pack.to_hex();
    repo.path.join("data").join(&hex[..2]).join(&hex)
}

/// Flips one byte in the middle of the blob holding the content of the
/// (small) source file `source`; returns the pack file and its damaged
/// bytes.
pub fn flip_blob_of(repo: &Repo, source: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let content = std::fs::read(source).unwrap();
    let (pack, offset) = locate(repo, &Id::hash(&content));
    let path = pack_file(repo, &pack);
    let writable = std::os::unix::fs::PermissionsExt::from_mode(0o600);
    std::fs::set_permissions(&path, writable).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset as usize + 20] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}
