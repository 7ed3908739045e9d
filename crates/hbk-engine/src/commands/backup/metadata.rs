//! Nodes from the local filesystem: `lstat` results turned into the node
//! fields restic records, with user and group names looked up once.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Mutex;

use chrono::TimeZone;
use hbk_repo::{mode, ExtendedAttribute, GoTime, Node, NodeType};

/// Caches uid → user name and gid → group name lookups.
#[derive(Default)]
pub struct NameCache {
    users: Mutex<HashMap<u32, String>>,
    groups: Mutex<HashMap<u32, String>>,
}

impl NameCache {
    /// The user name of `uid`, or empty when unknown.
    pub fn user(&self, uid: u32) -> String {
        self.with_user(uid, str::to_string)
    }

    /// The group name of `gid`, or empty when unknown.
    pub fn group(&self, gid: u32) -> String {
        self.with_group(gid, str::to_string)
    }

    /// Appends the user name of `uid` to `out`, its length in front.
    pub fn user_into(&self, uid: u32, out: &mut Vec<u8>) {
        self.with_user(uid, |n| put_name(n, out));
    }

    /// Appends the group name of `gid` to `out`, its length in front.
    pub fn group_into(&self, gid: u32, out: &mut Vec<u8>) {
        self.with_group(gid, |n| put_name(n, out));
    }

    fn with_user<R>(&self, uid: u32, f: impl FnOnce(&str) -> R) -> R {
        let resolve = |uid: u32| {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map(|u| u.name)
        };
        with_name(&self.users, uid, resolve, f)
    }

    fn with_group<R>(&self, gid: u32, f: impl FnOnce(&str) -> R) -> R {
        let resolve = |gid: u32| {
            nix::unistd::Group::from_gid(gid.into())
                .ok()
                .flatten()
                .map(|g| g.name)
        };
        with_name(&self.groups, gid, resolve, f)
    }
}

/// `f` of the name of `id` in `names`, looked up with `resolve` the first
/// time (empty when unknown).
fn with_name<R>(
    names: &Mutex<HashMap<u32, String>>,
    id: u32,
    resolve: impl FnOnce(u32) -> Option<String>,
    f: impl FnOnce(&str) -> R,
) -> R {
    let mut m = names.lock().unwrap_or_else(|p| p.into_inner());
    f(m.entry(id)
        .or_insert_with(|| resolve(id).unwrap_or_default()))
}

fn put_name(name: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(name.len() as u64).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
}

/// A timestamp in the local zone, as restic records times.
pub fn local_time(secs: i64, nanos: i64) -> GoTime {
    let nanos = nanos.clamp(0, 999_999_999) as u32;
    chrono::Local
        .timestamp_opt(secs, nanos)
        .single()
        .map(|t| GoTime(t.fixed_offset()))
        .unwrap_or_default()
        .clamp_year()
}

fn node_type(meta: &Metadata) -> NodeType {
    let ft = meta.file_type();
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        NodeType::Dir
    } else if ft.is_symlink() {
        NodeType::Symlink
    } else if ft.is_file() {
        NodeType::File
    } else if ft.is_block_device() {
        NodeType::Dev
    } else if ft.is_char_device() {
        NodeType::CharDev
    } else if ft.is_fifo() {
        NodeType::Fifo
    } else if ft.is_socket() {
        NodeType::Socket
    } else {
        NodeType::Irregular
    }
}

/// The node for `path` (named `name`) from its `lstat` metadata. File
/// content and directory subtrees are filled in later; problems reading
/// the link target or xattrs are returned as warnings.
///
/// `previous` is the same entry in the parent snapshot, when its ctime can
/// be trusted: if type, inode, device and ctime are all unchanged, the
/// link target and extended attributes cannot have changed either (each
/// change sets the ctime), so they are copied instead of read again.
pub fn node_from_metadata(
    path: &Path,
    name: &[u8],
    meta: &Metadata,
    names: &NameCache,
    previous: Option<&Node>,
) -> (Node, Vec<String>) {
    let mut warnings = Vec::new();
    let t = node_type(meta);
    let mtime = local_time(meta.mtime(), meta.mtime_nsec());
    let mut node = Node {
        mode: mode::from_unix(meta.mode()),
        mtime,
        atime: mtime,
        ctime: local_time(meta.ctime(), meta.ctime_nsec()),
        uid: meta.uid(),
        gid: meta.gid(),
        user: names.user(meta.uid()),
        group: names.group(meta.gid()),
        inode: meta.ino(),
        device_id: meta.dev(),
        ..Node::new(name.to_vec(), t.clone())
    };
    let unchanged = previous.filter(|p| {
        p.node_type == node.node_type
            && p.inode == node.inode
            && p.device_id == node.device_id
            && p.ctime.is_identical(&node.ctime)
    });
    if let Some(p) = unchanged {
        node.linktarget = p.linktarget.clone();
        node.linktarget_raw = p.linktarget_raw.clone();
        node.extended_attributes = p.extended_attributes.clone();
    }
    match t {
        NodeType::File => {
            node.size = meta.size();
            node.links = meta.nlink();
            node.content = Some(Vec::new());
        }
        NodeType::Symlink if unchanged.is_some() => node.links = meta.nlink(),
        NodeType::Symlink => {
            node.links = meta.nlink();
            match std::fs::read_link(path) {
                Ok(target) => {
                    let bytes = target.as_os_str().as_bytes();
                    node.linktarget = String::from_utf8_lossy(bytes).into_owned();
                    if std::str::from_utf8(bytes).is_err() {
                        node.linktarget_raw = bytes.to_vec();
                    }
                }
                Err(e) => warnings.push(format!("reading link target: {e}")),
            }
        }
        NodeType::Dev | NodeType::CharDev => {
            node.links = meta.nlink();
            node.device = meta.rdev();
        }
        _ => {}
    }
    if t != NodeType::Symlink && unchanged.is_none() {
        match read_xattrs(path) {
            Ok(x) => node.extended_attributes = x,
            Err(e) => warnings.push(format!("reading extended attributes: {e}")),
        }
    }
    (node, warnings)
}

fn read_xattrs(path: &Path) -> std::io::Result<Vec<ExtendedAttribute>> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        Err(e) if e.raw_os_error() == Some(libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = xattr::get(path, &name)? {
            out.push(ExtendedAttribute {
                name: name.to_string_lossy().into_owned(),
                value,
            });
        }
    }
    Ok(out)
}
