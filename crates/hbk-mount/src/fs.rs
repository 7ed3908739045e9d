//! The FUSE file system: inodes for the layout's directories and for the
//! nodes of every snapshot tree, attributes as the trees store them, and
//! file contents read lazily through the index with a bounded blob cache.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyData, ReplyDirectory, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyXattr, Request,
};
use hbk_engine::snapshots::{list_snapshots, SnapshotFilter};
use hbk_repo::mode::unix_permissions;
use hbk_repo::{BlobType, GoTime, Id, IndexedRepository, Node, NodeType, Repository, SnapshotFile};

use crate::cache::BlobCache;
use crate::layout::Layout;
use crate::template::SnapshotFacts;

/// How long the kernel may keep what it learnt of a snapshot's contents
/// (they never change).
const CONTENT_TTL: Duration = Duration::from_secs(60);
/// How long it may keep the layout's directories (new snapshots appear).
const LAYOUT_TTL: Duration = Duration::from_secs(1);
/// Trees kept parsed; beyond this the cache starts over.
const MAX_TREES: usize = 4096;

/// What `hbk mount` shows and how.
#[derive(Debug, Clone)]
pub struct MountConfig {
    /// Path templates (restic's `--path-template`).
    pub path_templates: Vec<String>,
    /// Time template for `%T` (`--time-template`).
    pub time_template: String,
    /// Which snapshots (`--host`, `--tag`, `--path`).
    pub filter: SnapshotFilter,
    /// Show root as the owner of everything (`--owner-root`).
    pub owner_root: bool,
    /// Byte budget of the blob cache.
    pub cache_bytes: usize,
    /// The snapshot list is read again at most this often, when a layout
    /// directory is listed or looked up in.
    pub refresh: Duration,
}

/// What an inode is.
#[derive(Debug, Clone)]
enum Entry {
    /// A path of the layout (directory, snapshot root or `latest` link).
    Layout(String),
    /// A node inside a snapshot.
    Node(Arc<Node>, u64),
}

/// An open file: its blobs and where each starts.
struct OpenFile {
    content: Vec<Id>,
    starts: Vec<u64>,
    size: u64,
}

/// Keys that give an inode the same number every time.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Layout(String),
    Child(u64, Vec<u8>),
    /// A hard-linked file: snapshot root, device, inode.
    Hardlink(u64, u64, u64),
}

/// The mounted repository.
pub struct SnapshotFs {
    cfg: MountConfig,
    repo: Repository,
    indexed: IndexedRepository,
    snapshots: Vec<(Id, SnapshotFile)>,
    layout: Layout,
    checked: Instant,
    started: SystemTime,
    inodes: HashMap<u64, Entry>,
    keys: HashMap<Key, u64>,
    next_ino: u64,
    trees: HashMap<Id, Arc<Vec<Node>>>,
    blobs: BlobCache,
    open: HashMap<u64, OpenFile>,
    next_fh: u64,
}

fn build_layout(cfg: &MountConfig, list: &[(Id, SnapshotFile)]) -> Layout {
    let ids: Vec<(String, String)> = list
        .iter()
        .map(|(id, _)| (id.short(), id.to_hex()))
        .collect();
    let f: Vec<SnapshotFacts<'_>> = list
        .iter()
        .zip(&ids)
        .map(|((_, sn), (short, full))| SnapshotFacts {
            short_id: short,
            id: full,
            user: &sn.username,
            host: &sn.hostname,
            tags: &sn.tags,
            time: sn.time.0,
        })
        .collect();
    Layout::build(&f, &cfg.path_templates, &cfg.time_template)
}

/// The snapshots `filter` selects, by time, then id.
fn load_snapshots(
    repo: &Repository,
    filter: &SnapshotFilter,
) -> hbk_engine::Result<Vec<(Id, SnapshotFile)>> {
    let mut list = list_snapshots(repo, filter)?;
    list.sort_by_key(|(id, sn)| (sn.time.0, *id));
    Ok(list)
}

fn system_time(t: &GoTime) -> SystemTime {
    let secs = t.0.timestamp();
    let nanos = t.0.timestamp_subsec_nanos();
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

fn file_type(t: &NodeType) -> FileType {
    match t {
        NodeType::Dir => FileType::Directory,
        NodeType::Symlink => FileType::Symlink,
        NodeType::Dev => FileType::BlockDevice,
        NodeType::CharDev => FileType::CharDevice,
        NodeType::Fifo => FileType::NamedPipe,
        NodeType::Socket => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

impl SnapshotFs {
    /// Opens the file system over `repo` (its index is loaded here).
    pub fn new(repo: Repository, cfg: MountConfig) -> hbk_engine::Result<SnapshotFs> {
        let snapshots = load_snapshots(&repo, &cfg.filter)?;
        let indexed = repo.clone().into_indexed()?;
        let layout = build_layout(&cfg, &snapshots);
        let mut fs = SnapshotFs {
            blobs: BlobCache::new(cfg.cache_bytes),
            cfg,
            repo,
            indexed,
            snapshots,
            layout,
            checked: Instant::now(),
            started: SystemTime::now(),
            inodes: HashMap::new(),
            keys: HashMap::new(),
            next_ino: 2,
            trees: HashMap::new(),
            open: HashMap::new(),
            next_fh: 1,
        };
        fs.inodes
            .insert(fuser::FUSE_ROOT_ID, Entry::Layout(String::new()));
        fs.keys
            .insert(Key::Layout(String::new()), fuser::FUSE_ROOT_ID);
        Ok(fs)
    }

    /// Reads the snapshot list again when it is older than the refresh
    /// interval; a changed list reloads the index and the layout.
    fn refresh(&mut self) {
        if self.checked.elapsed() < self.cfg.refresh {
            return;
        }
        self.checked = Instant::now();
        let Ok(list) = load_snapshots(&self.repo, &self.cfg.filter) else {
            return;
        };
        let same = list.len() == self.snapshots.len()
            && list.iter().zip(&self.snapshots).all(|(a, b)| a.0 == b.0);
        if same {
            return;
        }
        if let Ok(indexed) = self.repo.clone().into_indexed() {
            self.indexed = indexed;
            self.layout = build_layout(&self.cfg, &list);
            self.snapshots = list;
        }
    }

    fn ino_for(&mut self, key: Key, entry: Entry) -> u64 {
        if let Some(ino) = self.keys.get(&key) {
            self.inodes.insert(*ino, entry);
            return *ino;
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.keys.insert(key, ino);
        self.inodes.insert(ino, entry);
        ino
    }

    fn tree(&mut self, id: &Id) -> Option<Arc<Vec<Node>>> {
        if let Some(t) = self.trees.get(id) {
            return Some(t.clone());
        }
        let tree = self.indexed.tree(id).ok()?;
        if self.trees.len() >= MAX_TREES {
            self.trees.clear();
        }
        let nodes = Arc::new(tree.nodes);
        self.trees.insert(*id, nodes.clone());
        Some(nodes)
    }

    /// The tree a directory inode lists, and the snapshot root its nodes
    /// belong to; `None` for layout directories.
    fn dir_tree(&self, ino: u64) -> Option<(Id, u64)> {
        match self.inodes.get(&ino)? {
            Entry::Node(n, root) => n.subtree.map(|t| (t, *root)),
            Entry::Layout(path) => {
                let meta = self.layout.entries.get(path)?;
                if meta.link.is_some() {
                    return None;
                }
                let i = meta.snapshot?;
                self.snapshots.get(i).map(|(_, sn)| (sn.tree, ino))
            }
        }
    }

    fn attr(&self, ino: u64) -> Option<(FileAttr, Duration)> {
        let entry = self.inodes.get(&ino)?;
        let uid_gid = |uid: u32, gid: u32| {
            if self.cfg.owner_root {
                (0, 0)
            } else {
                (uid, gid)
            }
        };
        let base =
            |kind: FileType, perm: u16, size: u64, time: SystemTime, (uid, gid): (u32, u32)| {
                FileAttr {
                    ino,
                    size,
                    blocks: size.div_ceil(512),
                    atime: time,
                    mtime: time,
                    ctime: time,
                    crtime: time,
                    kind,
                    perm,
                    nlink: if kind == FileType::Directory { 2 } else { 1 },
                    uid,
                    gid,
                    rdev: 0,
                    blksize: 4096,
                    flags: 0,
                }
            };
        match entry {
            Entry::Layout(path) => {
                let meta = self.layout.entries.get(path)?;
                let sn = meta.snapshot.and_then(|i| self.snapshots.get(i));
                let a = match (&meta.link, sn) {
                    (Some(target), Some((_, sn))) => base(
                        FileType::Symlink,
                        0o777,
                        target.len() as u64,
                        system_time(&sn.time),
                        uid_gid(sn.uid, sn.gid),
                    ),
                    (None, Some((_, sn))) => base(
                        FileType::Directory,
                        0o555,
                        0,
                        system_time(&sn.time),
                        uid_gid(sn.uid, sn.gid),
                    ),
                    _ => base(FileType::Directory, 0o555, 0, self.started, uid_gid(0, 0)),
                };
                Some((a, LAYOUT_TTL))
            }
            Entry::Node(n, _) => {
                let kind = file_type(&n.node_type);
                let size = match n.node_type {
                    NodeType::File => n.size,
                    NodeType::Symlink => n.link_target().len() as u64,
                    _ => 0,
                };
                let mut a = base(kind, 0, size, system_time(&n.mtime), uid_gid(n.uid, n.gid));
                a.perm = (unix_permissions(n.mode) & 0o7777) as u16;
                a.atime = system_time(&n.atime);
                a.ctime = system_time(&n.ctime);
                if n.node_type == NodeType::File {
                    a.nlink = u32::try_from(n.links.max(1)).unwrap_or(u32::MAX);
                }
                a.rdev = n.device as u32;
                Some((a, CONTENT_TTL))
            }
        }
    }

    /// The entries of directory `ino` as (inode, kind, name), after `.`
    /// and `..`.
    fn children(&mut self, ino: u64) -> Option<Vec<(u64, FileType, Vec<u8>)>> {
        if let Some((tree, root)) = self.dir_tree(ino) {
            let nodes = self.tree(&tree)?;
            let mut out = Vec::with_capacity(nodes.len());
            for n in nodes.iter() {
                let ino = self.node_ino(ino, root, n);
                out.push((ino, file_type(&n.node_type), n.name.clone()));
            }
            return Some(out);
        }
        let Entry::Layout(path) = self.inodes.get(&ino)?.clone() else {
            return None;
        };
        self.refresh();
        let meta = self.layout.entries.get(&path)?.clone();
        let mut out = Vec::new();
        for name in &meta.children {
            let child = format!("{path}/{name}");
            let kind = match self.layout.entries.get(&child) {
                Some(m) if m.link.is_some() => FileType::Symlink,
                _ => FileType::Directory,
            };
            let ino = self.ino_for(Key::Layout(child.clone()), Entry::Layout(child));
            out.push((ino, kind, name.as_bytes().to_vec()));
        }
        Some(out)
    }

    fn node_ino(&mut self, parent: u64, root: u64, n: &Node) -> u64 {
        let key = if n.node_type == NodeType::File && n.links > 1 {
            Key::Hardlink(root, n.device_id, n.inode)
        } else {
            Key::Child(parent, n.name.clone())
        };
        self.ino_for(key, Entry::Node(Arc::new(n.clone()), root))
    }

    fn open_file(&self, ino: u64) -> Result<OpenFile, i32> {
        let Some(Entry::Node(n, _)) = self.inodes.get(&ino) else {
            return Err(libc::EISDIR);
        };
        if n.node_type != NodeType::File {
            return Err(libc::EINVAL);
        }
        let content = n.content.clone().unwrap_or_default();
        let mut starts = Vec::with_capacity(content.len());
        let mut at = 0u64;
        for id in &content {
            starts.push(at);
            let loc = self
                .indexed
                .index()
                .get(BlobType::Data, id)
                .ok_or(libc::EIO)?;
            at += loc.data_length();
        }
        Ok(OpenFile {
            content,
            starts,
            size: at,
        })
    }

    fn blob(&mut self, id: &Id) -> Result<Arc<Vec<u8>>, i32> {
        if let Some(b) = self.blobs.get(id) {
            return Ok(b);
        }
        let data = self.indexed.blob(BlobType::Data, id).map_err(|e| {
            eprintln!("hbk mount: reading blob {}: {e}", id.short());
            libc::EIO
        })?;
        let data = Arc::new(data);
        self.blobs.put(*id, data.clone());
        Ok(data)
    }

    fn read_range(&mut self, fh: u64, offset: u64, size: usize) -> Result<Vec<u8>, i32> {
        let f = self.open.get(&fh).ok_or(libc::EBADF)?;
        if offset >= f.size {
            return Ok(Vec::new());
        }
        let want = (size as u64).min(f.size - offset) as usize;
        let i = f.starts.partition_point(|s| *s <= offset).saturating_sub(1);
        let plan: Vec<(Id, u64)> = f.content[i..]
            .iter()
            .zip(&f.starts[i..])
            .map(|(id, s)| (*id, *s))
            .collect();
        let mut out = Vec::with_capacity(want);
        for (id, start) in plan {
            if out.len() >= want {
                break;
            }
            let blob = self.blob(&id)?;
            let from = (offset + out.len() as u64).saturating_sub(start) as usize;
            let Some(bytes) = blob.get(from..) else {
                return Err(libc::EIO);
            };
            let n = bytes.len().min(want - out.len());
            out.extend_from_slice(&bytes[..n]);
        }
        Ok(out)
    }

    fn xattrs(&self, ino: u64) -> &[hbk_repo::ExtendedAttribute] {
        match self.inodes.get(&ino) {
            Some(Entry::Node(n, _)) => &n.extended_attributes,
            _ => &[],
        }
    }
}

/// Answers an xattr request: the size when `size` is 0, else the bytes
/// when they fit.
fn reply_xattr(reply: ReplyXattr, size: u32, bytes: &[u8]) {
    if size == 0 {
        reply.size(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
    } else if bytes.len() > size as usize {
        reply.error(libc::ERANGE);
    } else {
        reply.data(bytes);
    }
}

impl Filesystem for SnapshotFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        let _ = config.set_max_readahead(1 << 20);
        Ok(())
    }

    fn lookup(&mut self, _req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let found = match self.dir_tree(parent) {
            // Trees keep their nodes sorted by name.
            Some((tree, root)) => self.tree(&tree).and_then(|nodes| {
                let at = nodes
                    .binary_search_by(|n| n.name.as_slice().cmp(name.as_bytes()))
                    .ok()?;
                Some(self.node_ino(parent, root, &nodes[at]))
            }),
            None => self.children(parent).and_then(|c| {
                c.into_iter()
                    .find(|(_, _, n)| n.as_slice() == name.as_bytes())
                    .map(|(ino, _, _)| ino)
            }),
        };
        match found.and_then(|ino| self.attr(ino)) {
            Some((a, ttl)) => reply.entry(&ttl, &a, 0),
            None => reply.error(libc::ENOENT),
        }
    }

    fn getattr(&mut self, _req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        match self.attr(ino) {
            Some((a, ttl)) => reply.attr(&ttl, &a),
            None => reply.error(libc::ENOENT),
        }
    }

    fn readlink(&mut self, _req: &Request<'_>, ino: u64, reply: ReplyData) {
        match self.inodes.get(&ino) {
            Some(Entry::Node(n, _)) if n.node_type == NodeType::Symlink => {
                reply.data(n.link_target())
            }
            Some(Entry::Layout(path)) => {
                match self.layout.entries.get(path).and_then(|m| m.link.as_ref()) {
                    Some(target) => reply.data(target.as_bytes()),
                    None => reply.error(libc::EINVAL),
                }
            }
            _ => reply.error(libc::EINVAL),
        }
    }

    fn open(&mut self, _req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return reply.error(libc::EROFS);
        }
        match self.open_file(ino) {
            Ok(f) => {
                let fh = self.next_fh;
                self.next_fh += 1;
                self.open.insert(fh, f);
                reply.opened(fh, fuser::consts::FOPEN_KEEP_CACHE);
            }
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock: Option<u64>,
        reply: ReplyData,
    ) {
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(libc::EINVAL);
        };
        match self.read_range(fh, offset, size as usize) {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    fn release(
        &mut self,
        _req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: fuser::ReplyEmpty,
    ) {
        self.open.remove(&fh);
        reply.ok();
    }

    fn readdir(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        _fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        let Some(children) = self.children(ino) else {
            return reply.error(libc::ENOTDIR);
        };
        let dots = [
            (ino, FileType::Directory, b".".to_vec()),
            (ino, FileType::Directory, b"..".to_vec()),
        ];
        let all = dots.into_iter().chain(children);
        for (i, (child, kind, name)) in all.enumerate().skip(usize::try_from(offset).unwrap_or(0)) {
            if reply.add(child, (i + 1) as i64, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&mut self, _req: &Request<'_>, _ino: u64, reply: ReplyStatfs) {
        reply.statfs(0, 0, 0, 0, 0, 4096, 255, 4096);
    }

    fn getxattr(
        &mut self,
        _req: &Request<'_>,
        ino: u64,
        name: &OsStr,
        size: u32,
        reply: ReplyXattr,
    ) {
        let found = self
            .xattrs(ino)
            .iter()
            .find(|x| x.name.as_bytes() == name.as_bytes());
        match found {
            Some(x) => reply_xattr(reply, size, &x.value),
            None => reply.error(libc::ENODATA),
        }
    }

    fn listxattr(&mut self, _req: &Request<'_>, ino: u64, size: u32, reply: ReplyXattr) {
        let mut names = Vec::new();
        for x in self.xattrs(ino) {
            names.extend_from_slice(x.name.as_bytes());
            names.push(0);
        }
        reply_xattr(reply, size, &names);
    }
}
