//! Comparing two trees entry by entry: type, content, link target, mode,
//! owner, times, device numbers, xattrs and hardlink structure.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What to compare besides names, types and contents (the default:
/// nothing else).
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// uid and gid.
    pub owners: bool,
    /// mtimes (to the nanosecond).
    pub mtimes: bool,
    /// user xattrs.
    pub xattrs: bool,
    /// Permission bits, including set-id and sticky.
    pub modes: bool,
    /// Which entries share an inode.
    pub hardlinks: bool,
}

impl CompareOptions {
    /// Plain files a test wrote itself: contents, modes and mtimes.
    pub fn plain_files() -> Self {
        CompareOptions {
            modes: true,
            mtimes: true,
            ..Default::default()
        }
    }

    /// Compare everything.
    pub fn all() -> Self {
        CompareOptions {
            owners: true,
            mtimes: true,
            xattrs: true,
            modes: true,
            hardlinks: true,
        }
    }
}

#[derive(Debug, PartialEq)]
struct Entry {
    kind: &'static str,
    digest: String,
    link: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: (i64, i64),
    rdev: u64,
    xattrs: BTreeMap<String, Vec<u8>>,
    inode: (u64, u64),
}

fn scan(root: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    let path = root.join(rel);
    let m = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ft = m.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_char_device() {
        "chardev"
    } else if ft.is_block_device() {
        "blockdev"
    } else {
        "other"
    };
    let digest = if ft.is_file() {
        hex::encode(Sha256::digest(fs::read(&path).unwrap_or_default()))
    } else {
        String::new()
    };
    let link = if ft.is_symlink() {
        fs::read_link(&path)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec()
    } else {
        Vec::new()
    };
    let mut xattrs = BTreeMap::new();
    if !ft.is_symlink() {
        if let Ok(names) = xattr::list(&path) {
            for n in names {
                let name = n.to_string_lossy().into_owned();
                if name.starts_with("user.") {
                    xattrs.insert(
                        name,
                        xattr::get(&path, &n).ok().flatten().unwrap_or_default(),
                    );
                }
            }
        }
    }
    out.insert(
        rel.to_path_buf(),
        Entry {
            kind,
            digest,
            link,
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: (m.mtime(), m.mtime_nsec()),
            rdev: if ft.is_char_device() || ft.is_block_device() {
                m.rdev()
            } else {
                0
            },
            xattrs,
            inode: (m.dev(), m.ino()),
        },
    );
    if ft.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for n in names {
            scan(root, &rel.join(n), out);
        }
    }
}

/// Every difference between `expected` and `actual` (their roots' own
/// metadata excluded); empty when they are identical.
pub fn compare_trees(expected: &Path, actual: &Path, o: CompareOptions) -> Vec<String> {
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    scan(expected, Path::new(""), &mut a);
    scan(actual, Path::new(""), &mut b);
    a.remove(Path::new(""));
    b.remove(Path::new(""));
    let mut diffs = Vec::new();
    for (p, e) in &a {
        let Some(g) = b.get(p) else {
            diffs.push(format!("{}: missing", p.display()));
            continue;
        };
        let mut d = |what: &str, x: String, y: String| {
            if x != y {
                diffs.push(format!("{}: {what} {x} != {y}", p.display()));
            }
        };
        d("type", e.kind.into(), g.kind.into());
        d("content", e.digest.clone(), g.digest.clone());
        d("link", format!("{:?}", e.link), format!("{:?}", g.link));
        d("rdev", e.rdev.to_string(), g.rdev.to_string());
        if o.modes && e.kind != "symlink" {
            d("mode", format!("{:o}", e.mode), format!("{:o}", g.mode));
        }
        if o.owners {
            d(
                "owner",
                format!("{}:{}", e.uid, e.gid),
                format!("{}:{}", g.uid, g.gid),
            );
        }
        if o.mtimes {
            d("mtime", format!("{:?}", e.mtime), format!("{:?}", g.mtime));
        }
        if o.xattrs {
            d(
                "xattrs",
                format!("{:?}", e.xattrs),
                format!("{:?}", g.xattrs),
            );
        }
    }
    for p in b.keys() {
        if !a.contains_key(p) {
            diffs.push(format!("{}: unexpected", p.display()));
        }
    }
    if o.hardlinks {
        let groups = |t: &BTreeMap<PathBuf, Entry>| {
            let mut by_inode: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
            for (p, e) in t {
                if e.kind == "file" {
                    by_inode.entry(e.inode).or_default().push(p.clone());
                }
            }
            let mut g: Vec<Vec<PathBuf>> = by_inode.into_values().filter(|v| v.len() > 1).collect();
            g.sort();
            g
        };
        let (ga, gb) = (groups(&a), groups(&b));
        if ga != gb {
            diffs.push(format!("hardlink groups differ: {ga:?} != {gb:?}"));
        }
    }
    diffs
}

/// Panics with up to 50 differences if the trees differ.
pub fn assert_same_tree(expected: &Path, actual: &Path, o: CompareOptions) {
    let diffs = compare_trees(expected, actual, o);
    assert!(
        diffs.is_empty(),
        "{} differences between {} and {}:\n{}",
        diffs.len(),
        expected.display(),
        actual.display(),
        diffs
            .iter()
            .take(50)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
