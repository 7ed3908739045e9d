//! Creating restored nodes on disk and applying their metadata.

use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use hbk_repo::{mode, NodeType};
use nix::sys::stat::{Mode, SFlag};

use super::node::RestoreNode;

/// Removes whatever non-directory is at `path`, so that a symlink left
/// there can never redirect a write outside the target.
fn clear(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => fs::remove_file(path),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Creates the node at `path` (its parent is created if missing): a
/// directory, a file of its final size (its blocks allocated when
/// `allocate`, see [`preallocate`], else all holes), a symlink, a fifo or
/// a device. Parents normally exist already (the plan lists a directory
/// before its entries), so they are only looked at when creation fails.
pub fn create(path: &Path, node: &RestoreNode, allocate: bool) -> io::Result<()> {
    with_parent(path, || create_in_existing_parent(path, node, allocate))
}

/// Files from this size up get their blocks when they are created: below
/// it the extra call costs more than it saves (new files written whole on
/// ext4: 64 KiB ones 3% slower with it, 256 KiB ones 5% faster, 1 MiB
/// ones 11%).
const PREALLOCATE_MIN: u64 = 256 << 10;

/// Allocates the blocks of `file`, new and empty, for its final `size`
/// in one call and gives it that size; whether it did. A restore writes
/// each large file in many pieces, several at once: allocated up front,
/// ext4 maps each piece's blocks instead of reserving them one by one as
/// each write arrives (a sixth of a restore's system time), and the file
/// lies in fewer, longer extents (restic preallocates as well). Refused
/// (a file system without `fallocate`, too little space, a small file):
/// nothing is allocated and the caller sizes the file as a hole.
fn preallocate(file: &fs::File, size: u64) -> bool {
    use nix::fcntl::{fallocate, FallocateFlags};
    use std::os::fd::AsRawFd;
    match i64::try_from(size) {
        Ok(len) if size >= PREALLOCATE_MIN => {
            fallocate(file.as_raw_fd(), FallocateFlags::empty(), 0, len).is_ok()
        }
        _ => false,
    }
}

/// Runs `make` (which creates `path`); when it fails because the parent
/// is missing, creates the parent and runs it again.
fn with_parent<T>(path: &Path, make: impl Fn() -> io::Result<T>) -> io::Result<T> {
    match make() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            make()
        }
        other => other,
    }
}

/// Creates a new, empty regular file with `mode` (the umask applies) for
/// writing, replacing whatever non-directory is at `path` (so a symlink
/// left there can never redirect the write). In a fresh target this is
/// one `open`.
fn new_file(path: &Path, mode: u32) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let open = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
    };
    match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            clear(path)?;
            open()
        }
        other => other,
    }
}

/// Creates `node`'s regular file at `path` for writing (see [`new_file`];
/// its parent is created if missing), with `node`'s permission bits (the
/// descriptor can write whatever they say), so [`file_metadata`] usually
/// has no `chmod` to make.
pub fn create_file(path: &Path, node: &RestoreNode, allocate: bool) -> io::Result<fs::File> {
    let file = with_parent(path, || new_file(path, creation_mode(node)))?;
    if allocate {
        preallocate(&file, node.size);
    }
    Ok(file)
}

/// The mode a file is created with: its own permission bits, or owner
/// read-write while extended attributes are still to be set (setting them
/// needs write permission on the file, whatever the descriptor allows).
fn creation_mode(node: &RestoreNode) -> u32 {
    if node.xattrs().is_empty() {
        mode::unix_permissions(node.mode) & 0o777
    } else {
        0o600
    }
}

fn create_in_existing_parent(path: &Path, node: &RestoreNode, allocate: bool) -> io::Result<()> {
    match &node.kind {
        NodeType::Dir => {
            if fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
                fs::remove_file(path)?;
            }
            match fs::create_dir(path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
                other => other,
            }
        }
        NodeType::File => {
            let file = new_file(path, 0o666)?;
            if allocate && preallocate(&file, node.size) {
                return Ok(());
            }
            file.set_len(node.size)
        }
        NodeType::Symlink => {
            clear(path)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(node.link_target()), path)
        }
        NodeType::Fifo => {
            clear(path)?;
            nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)).map_err(nix_err)
        }
        NodeType::Dev | NodeType::CharDev => {
            clear(path)?;
            let kind = if node.kind == NodeType::Dev {
                SFlag::S_IFBLK
            } else {
                SFlag::S_IFCHR
            };
            nix::sys::stat::mknod(path, kind, Mode::from_bits_truncate(0o600), node.device())
                .map_err(nix_err)
        }
        other => Err(io::Error::other(format!(
            "cannot restore node type {:?}",
            other.as_str()
        ))),
    }
}

/// Applies owner, extended attributes, permissions and times to an open
/// regular file through its descriptor (no path lookups), in the order
/// [`metadata`] uses.
///
/// Owner and mode are read back first and only changed when they differ,
/// which for a file just made by [`create_file`] is rare: each change
/// costs an inode update.
pub fn file_metadata(file: &fs::File, node: &RestoreNode, owners: bool) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    use xattr::FileExt;
    let stat = file.metadata()?;
    let wrong_owner = stat.uid() != node.uid || stat.gid() != node.gid;
    if owners && wrong_owner {
        std::os::unix::fs::fchown(file, Some(node.uid), Some(node.gid))?;
    }
    set_xattrs(node, |name, value| file.set_xattr(name, value))?;
    let permissions = mode::unix_permissions(node.mode);
    // chown clears set-id bits: then the mode is set again in any case.
    if (owners && wrong_owner) || stat.mode() & 0o7777 != permissions {
        file.set_permissions(fs::Permissions::from_mode(permissions))?;
    }
    filetime::set_file_handle_times(file, Some(node.atime()), Some(node.mtime()))
}

/// Sets `node`'s extended attributes with `set`; a file system without
/// them is not an error.
fn set_xattrs(node: &RestoreNode, set: impl Fn(&str, &[u8]) -> io::Result<()>) -> io::Result<()> {
    for xa in node.xattrs() {
        match set(&xa.name, &xa.value) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("setting xattr {}: {e}", xa.name),
                ))
            }
        }
    }
    Ok(())
}

/// Applies owner, extended attributes, permissions and times, in that order
/// (chown clears set-id bits, and xattrs need write access).
pub fn metadata(path: &Path, node: &RestoreNode, owners: bool) -> io::Result<()> {
    let is_link = node.kind == NodeType::Symlink;
    if owners {
        std::os::unix::fs::lchown(path, Some(node.uid), Some(node.gid))?;
    }
    if !is_link {
        set_xattrs(node, |name, value| xattr::set(path, name, value))?;
        let perms = fs::Permissions::from_mode(mode::unix_permissions(node.mode));
        fs::set_permissions(path, perms)?;
    }
    filetime::set_symlink_file_times(path, node.atime(), node.mtime())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn large_files_get_all_their_blocks_small_ones_none() {
        let dir = tempfile::tempdir().unwrap();
        for (size, whole) in [
            (PREALLOCATE_MIN - 1, false),
            (PREALLOCATE_MIN, true),
            (5 << 20, true),
        ] {
            let path = dir.path().join(format!("f{size}"));
            let file = new_file(&path, 0o600).unwrap();
            assert_eq!(preallocate(&file, size), whole, "{size} bytes");
            let m = file.metadata().unwrap();
            if whole {
                assert_eq!(m.len(), size);
                assert!(m.blocks() * 512 >= size, "{size}: {} blocks", m.blocks());
            } else {
                assert_eq!((m.len(), m.blocks()), (0, 0), "{size} bytes");
            }
        }
    }
}
