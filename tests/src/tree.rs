//! The edge-case source tree every interop test backs up and restores.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use filetime::FileTime;
use rand::{RngCore, SeedableRng};

/// What [`make_edge_case_tree`] managed to create on this machine.
#[derive(Debug, Clone, Copy)]
pub struct EdgeTree {
    /// Device nodes were created (needs root).
    pub devices: bool,
    /// Files were given other owners (needs root).
    pub owners: bool,
    /// The filesystem took user xattrs.
    pub xattrs: bool,
}

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

/// Writes random (incompressible) files `f0`, `f1`, … of `kib[i]` KiB
/// into `dir` (created if needed), from `seed`: data that neither
/// compresses nor deduplicates against anything else.
pub fn random_files(dir: &Path, seed: u64, kib: &[usize]) {
    fs::create_dir_all(dir).unwrap();
    for (i, k) in kib.iter().enumerate() {
        let seed = seed.wrapping_mul(1000).wrapping_add(i as u64);
        write(&dir.join(format!("f{i}")), &random_bytes(seed, k * 1024));
    }
}

/// Writes small files below `root` (parents created): each `(relative
/// path, content)`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        write(&root.join(name), body.as_bytes());
    }
}

fn write(path: &Path, data: &[u8]) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn set_mtime(path: &Path, secs: i64, nanos: u32) {
    let t = FileTime::from_unix_time(secs, nanos);
    filetime::set_symlink_file_times(path, t, t).unwrap();
}

/// Builds the tree under `root` (created if needed). Content is
/// deterministic; about 60 MiB in all.
pub fn make_edge_case_tree(root: &Path) -> EdgeTree {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    fs::create_dir_all(root).unwrap();
    let f = |p: &str| root.join(p);

    // Sizes around the chunker's limits, and empty files.
    write(&f("sizes/empty"), b"");
    write(&f("sizes/one"), b"1");
    for (i, len) in [
        512 * KIB - 1,
        512 * KIB,
        512 * KIB + 1,
        8 * MIB - 1,
        8 * MIB,
        8 * MIB + 1,
    ]
    .into_iter()
    .enumerate()
    {
        write(
            &f(&format!("sizes/s{len}")),
            &random_bytes(10 + i as u64, len),
        );
    }
    let random20 = random_bytes(1, 20 * MIB);
    write(&f("big/random20m.bin"), &random20);
    write(&f("big/zeros3m.bin"), &vec![0u8; 3 * MIB]);
    {
        let mut sparse = File::create(f("big/sparse.img")).unwrap();
        sparse.set_len(10 * MIB as u64).unwrap();
        sparse.seek(SeekFrom::Start(5 * MIB as u64)).unwrap();
        sparse.write_all(b"in the middle of nowhere").unwrap();
    }
    // Duplicated content.
    let dup = random_bytes(2, 2 * MIB);
    write(&f("dup/a/copy1"), &dup);
    write(&f("dup/b/copy2"), &dup);
    write(&f("dup/part-of-random"), &random20[3 * MIB..6 * MIB]);

    // Names.
    for name in [
        "ünïcödé ✓.txt",
        "with space",
        "new\nline",
        "quote\"back\\slash<>&",
        "tab\tname",
        "-leading-dash",
    ] {
        write(&f(&format!("names/{name}")), name.as_bytes());
    }
    let long = "L".repeat(255);
    write(&f(&format!("names/{long}")), b"long name");
    let bad = root
        .join("names")
        .join(OsStr::from_bytes(b"latin1-\xe9t\xe9"));
    fs::write(&bad, b"not utf-8 name").unwrap();

    // Deep path, many files, empty directories.
    let mut deep = f("deep");
    for i in 0..60 {
        deep.push(format!("d{i}"));
    }
    write(&deep.join("bottom.txt"), b"60 levels down");
    for i in 0..3000 {
        write(
            &f(&format!("many/file{i:04}")),
            format!("small file {i}\n").as_bytes(),
        );
    }
    fs::create_dir_all(f("empty/dir/inside")).unwrap();

    // Links.
    fs::create_dir_all(f("links")).unwrap();
    symlink("../sizes/one", f("links/relative")).unwrap();
    symlink("/etc/hostname", f("links/absolute")).unwrap();
    symlink("does/not/exist", f("links/dangling")).unwrap();
    write(&f("hard/one"), b"hardlinked content");
    fs::create_dir_all(f("hard/sub")).unwrap();
    fs::hard_link(f("hard/one"), f("hard/two")).unwrap();
    fs::hard_link(f("hard/one"), f("hard/sub/three")).unwrap();

    // Special files.
    fs::create_dir_all(f("special")).unwrap();
    nix::unistd::mkfifo(
        &f("special/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o640),
    )
    .unwrap();
    let root_user = crate::is_root();
    let mut devices = false;
    if root_user {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let m = Mode::from_bits_truncate(0o640);
        devices = mknod(&f("special/null-like"), SFlag::S_IFCHR, m, makedev(1, 3)).is_ok()
            && mknod(&f("special/loop-like"), SFlag::S_IFBLK, m, makedev(7, 0)).is_ok();
    }

    // Modes and owners.
    write(&f("modes/setuid"), b"#!/bin/sh\n");
    chmod(&f("modes/setuid"), 0o4755);
    write(&f("modes/setgid"), b"g");
    chmod(&f("modes/setgid"), 0o2750);
    write(&f("modes/none"), b"no permissions");
    chmod(&f("modes/none"), 0o000);
    write(&f("modes/readonly"), b"r");
    chmod(&f("modes/readonly"), 0o444);
    fs::create_dir_all(f("modes/sticky")).unwrap();
    chmod(&f("modes/sticky"), 0o1777);
    fs::create_dir_all(f("modes/closed/inner")).unwrap();
    write(&f("modes/closed/inner/file"), b"inside a read-only dir");
    let mut owners = false;
    if root_user {
        let ids = Some(nix::unistd::Uid::from_raw(1234));
        let gid = Some(nix::unistd::Gid::from_raw(5678));
        write(&f("owners/other"), b"owned by 1234:5678");
        nix::unistd::chown(&f("owners/other"), ids, gid).unwrap();
        fs::create_dir_all(f("owners/dir")).unwrap();
        nix::unistd::chown(&f("owners/dir"), ids, gid).unwrap();
        symlink("other", f("owners/link")).unwrap();
        std::os::unix::fs::lchown(f("owners/link"), Some(1234), Some(5678)).unwrap();
        owners = true;
    }

    // Extended attributes, where the filesystem takes them.
    write(&f("xattr/file"), b"has xattrs");
    fs::create_dir_all(f("xattr/dir")).unwrap();
    let xattrs = xattr::set(f("xattr/file"), "user.comment", b"hello xattr").is_ok()
        && xattr::set(f("xattr/file"), "user.binary", &[0, 1, 2, 255]).is_ok()
        && xattr::set(f("xattr/dir"), "user.dir", b"on a directory").is_ok();

    // Times: nanoseconds, the epoch, far future. Directories last and
    // deepest first, so creating children does not disturb them.
    set_mtime(&f("sizes/one"), 1_600_000_000, 123_456_789);
    set_mtime(&f("names/with space"), 0, 1);
    set_mtime(&f("big/zeros3m.bin"), 4_102_444_800, 999_999_999);
    set_mtime(&f("links/relative"), 1_500_000_000, 42);
    let mut dirs = Vec::new();
    collect_dirs(root, &mut dirs);
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for (i, d) in dirs.iter().enumerate() {
        set_mtime(
            d,
            1_700_000_000 + i as i64,
            (i as u32 * 7919) % 1_000_000_000,
        );
    }
    chmod(&f("modes/closed"), 0o555);
    set_mtime(&f("modes/closed"), 1_650_000_000, 5);
    EdgeTree {
        devices,
        owners,
        xattrs,
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    out.push(dir.to_path_buf());
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            collect_dirs(&e.path(), out);
        }
    }
}
