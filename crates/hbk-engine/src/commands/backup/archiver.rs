//! Walking the sources and turning them into trees and blobs.
//!
//! Directories are archived recursively; the entries of each directory are
//! processed in parallel on the backup's thread pool (rayon), and a large
//! file's chunks are hashed, compressed and encrypted in parallel batches.
//! Each directory's tree is saved once all its entries are done, so trees
//! are built bottom-up. A file unchanged since the parent snapshot (same
//! type, size, mtime, ctime and inode) reuses the parent's content list
//! without being read.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use hbk_backend::limit::Limiter;
use hbk_repo::{BlobSaver, BlobType, Id, IndexedRepository, Node, NodeType, Tree};
use rayon::prelude::*;

use super::dir_states::{self, DirState, DirStateLog, DirStates, Disposition};
use super::metadata::{node_from_metadata, NameCache};
use super::options::BackupOptions;
use super::prefetch::{list_dir, Listing};
use super::read_ahead::{self, OpenAhead};
use super::source_file::{open_noatime, SourceFile};
use super::targets::{VirtualEntry, VirtualRoot};
use crate::chunker::ChunkerFactory;
use crate::filter::{matches_any, Pattern};
use crate::progress::{BackedUpItem, ItemChange, Progress, Warning};
use crate::Result;

/// Chunks hashed and stored in one parallel batch hold at most this many
/// bytes, which bounds the memory a large file takes.
const BATCH_BYTES: usize = 2 << 20;
/// Room a batch buffer has beyond [`BATCH_BYTES`] for the chunk that
/// completes the batch (chunks average 1 MiB).
const BATCH_SLACK: usize = 2 << 20;

/// The smallest read buffer of a file (a file that grew since it was
/// stat'ed is still read whole, in more reads).
const MIN_READ_BUFFER: usize = 4096;

/// Counters reported in the summary.
#[derive(Default, Debug)]
pub struct Counters {
    /// Files not in the parent snapshot.
    pub files_new: AtomicU64,
    /// Files changed since the parent snapshot.
    pub files_changed: AtomicU64,
    /// Files unchanged since the parent (not read).
    pub files_unmodified: AtomicU64,
    /// Directories not in the parent.
    pub dirs_new: AtomicU64,
    /// Directories whose tree changed.
    pub dirs_changed: AtomicU64,
    /// Directories whose tree is the same.
    pub dirs_unmodified: AtomicU64,
    /// Files processed.
    pub total_files: AtomicU64,
    /// Bytes of processed files.
    pub total_bytes: AtomicU64,
    /// Bytes of file content actually read.
    pub bytes_read: AtomicU64,
}

/// State shared by the workers of one backup.
pub struct Archiver<'a> {
    /// The repository, for parent trees.
    pub repo: &'a IndexedRepository,
    /// Where blobs go.
    pub saver: BlobSaver<'a>,
    /// Options.
    pub opts: &'a BackupOptions,
    /// Compiled `--exclude` and `--iexclude` patterns.
    pub excludes: Vec<Pattern>,
    /// Makes a fresh chunker per file.
    pub chunkers: ChunkerFactory,
    /// User and group names.
    pub names: NameCache,
    /// Summary counters.
    pub counters: Counters,
    /// Problems with single items.
    pub warnings: Mutex<Vec<Warning>>,
    /// Progress sink.
    pub progress: &'a dyn Progress,
    /// Whether `progress` lists items ([`Progress::wants_items`], asked
    /// once): only then are items timed and reported.
    pub lists_items: bool,
    /// Bounds how many threads read file contents at once
    /// ([`BackupOptions::read_concurrency`]); `None`: unbounded.
    pub read_slots: Option<Limiter>,
    /// Buffers for the chunks of one read batch.
    pub batches: BatchBuffers,
    /// Files opened ahead of their reads and not yet read (the backup's
    /// `read_ahead` module caps them).
    pub open_ahead: AtomicUsize,
    /// The last backup's record of its directories, when one holds (see
    /// the backup's `dir_states` module).
    pub dir_states: Option<DirStates>,
    /// Where this backup records its directories; `None`: no record is
    /// kept (and none is used).
    pub dir_log: Option<DirStateLog>,
}

/// What storing blobs added to the repository: plaintext bytes of the
/// blobs that were new, and the bytes they take there.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// Plaintext bytes.
    pub plain: u64,
    /// Stored (encrypted, maybe compressed) bytes.
    pub stored: u64,
}

impl Added {
    fn add(self, other: Added) -> Added {
        Added {
            plain: self.plain + other.plain,
            stored: self.stored + other.stored,
        }
    }
}

/// A file's content as stored: its blob ids, its size, and what it added.
#[derive(Debug, Default)]
pub struct Content {
    /// The content blobs, in order.
    pub ids: Vec<Id>,
    /// Bytes read.
    pub size: u64,
    /// What the new blobs among them added.
    pub added: Added,
}

/// A directory's tree in the parent snapshot, with its id.
struct ParentTree {
    id: Id,
    tree: Tree,
}

/// Whether `fresh` (sorted by name) encodes to exactly the bytes of the
/// parent tree holding `old`: equal nodes, and times written with equal
/// offsets too (`GoTime`'s equality compares instants only).
fn same_nodes(old: &[Node], fresh: &[Node]) -> bool {
    let same_times = |a: &Node, b: &Node| {
        a.mtime.is_identical(&b.mtime)
            && a.atime.is_identical(&b.atime)
            && a.ctime.is_identical(&b.ctime)
    };
    old == fresh && old.iter().zip(fresh).all(|(a, b)| same_times(a, b))
}

/// The subdirectories' trees of a directory whose `nodes` were made from
/// a listing with `state`, if they are exactly its included entries (an
/// entry that failed is missing, and such a directory is not recorded).
fn recorded_subtrees(state: &DirState, nodes: &[Node]) -> Option<Vec<Id>> {
    (nodes.len() == state.included
        && dir_states::names_digest(nodes.iter().map(|n| n.name.as_slice())) == state.names)
        .then(|| {
            nodes
                .iter()
                .filter(|n| n.node_type == NodeType::Dir)
                .filter_map(|n| n.subtree)
                .collect()
        })
}

fn find_in<'t>(tree: Option<&'t Tree>, name: &[u8]) -> Option<&'t Node> {
    let nodes = &tree?.nodes;
    nodes
        .binary_search_by(|n| n.name.as_slice().cmp(name))
        .ok()
        .map(|i| &nodes[i])
}

impl<'a> Archiver<'a> {
    /// An entry's node from its metadata ([`node_from_metadata`]), with
    /// its access time when the options ask for it.
    fn node(
        &self,
        path: &Path,
        name: &[u8],
        meta: &Metadata,
        previous: Option<&Node>,
    ) -> (Node, Vec<String>) {
        let (mut node, warnings) = node_from_metadata(path, name, meta, &self.names, previous);
        if self.opts.with_atime {
            node.atime = super::metadata::local_time(meta.atime(), meta.atime_nsec());
        }
        (node, warnings)
    }

    /// Records a problem with one source item: reported at once and
    /// counted in the summary (the backup then exits 3).
    pub(super) fn warn(&self, path: &Path, message: impl Into<String>) {
        let w = Warning {
            path: path.to_path_buf(),
            message: message.into(),
        };
        self.progress.warning(&w);
        self.warnings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    /// The parent snapshot's tree `id`, when it loads.
    fn parent_tree(&self, id: Option<Id>) -> Option<ParentTree> {
        let id = id?;
        let tree = self.repo.tree(&id).ok()?;
        Some(ParentTree { id, tree })
    }

    fn excluded(&self, path: &Path, meta: &Metadata) -> bool {
        let bytes = path.as_os_str().as_bytes();
        if matches_any(&self.excludes, bytes) {
            return true;
        }
        if let Some(limit) = self.opts.exclude_larger_than {
            if meta.is_file() && meta.len() > limit {
                return true;
            }
        }
        false
    }

    /// Whether the directory at `path` (`meta`) is left out: on another
    /// device than the source's (`dev`) with `--one-file-system`, or
    /// holding a file `--exclude-if-present` or `--exclude-caches` names.
    fn dir_left_out(&self, path: &Path, meta: &Metadata, dev: u64) -> bool {
        (self.opts.one_file_system && meta.dev() != dev) || self.dir_excluded_by_content(path)
    }

    fn dir_excluded_by_content(&self, path: &Path) -> bool {
        for spec in &self.opts.exclude_if_present {
            let (name, header) = match spec.split_once(':') {
                Some((n, h)) => (n, Some(h)),
                None => (spec.as_str(), None),
            };
            if has_file_with_header(&path.join(name), header) {
                return true;
            }
        }
        self.opts.exclude_caches
            && has_file_with_header(
                &path.join("CACHEDIR.TAG"),
                Some("Signature: 8a477f597d28d172789f06886806bc55"),
            )
    }

    /// Archives the virtual top of the tree; returns the root tree id.
    pub fn archive_root(&self, root: &VirtualRoot, parent_tree: Option<&Id>) -> Result<Id> {
        match root {
            VirtualRoot::Target(path) => {
                let meta = std::fs::metadata(path).map_err(|e| crate::Error::io(path, e))?;
                let dev = meta.dev();
                Ok(self
                    .archive_dir_contents(path, parent_tree.copied(), dev, dev)?
                    .0)
            }
            VirtualRoot::Entries(entries) => {
                let parent = self.parent_tree(parent_tree.copied());
                Ok(self
                    .archive_virtual(entries, parent.as_ref().map(|p| &p.tree))?
                    .0)
            }
        }
    }

    fn archive_virtual(
        &self,
        entries: &std::collections::BTreeMap<Vec<u8>, VirtualEntry>,
        parent: Option<&Tree>,
    ) -> Result<(Id, Added)> {
        let nodes = entries
            .par_iter()
            .map(|(name, entry)| -> Result<Option<Node>> {
                let prev = find_in(parent, name);
                match entry {
                    VirtualEntry::Target(path) => {
                        let dev = match std::fs::symlink_metadata(path) {
                            Ok(m) => m.dev(),
                            Err(e) => {
                                self.warn(path, e.to_string());
                                return Ok(None);
                            }
                        };
                        self.archive_path(path, name, prev, dev)
                    }
                    VirtualEntry::Dir { path, children } => {
                        let meta = match std::fs::symlink_metadata(path) {
                            Ok(m) => m,
                            Err(e) => {
                                self.warn(path, e.to_string());
                                return Ok(None);
                            }
                        };
                        let started = self.clock();
                        let (mut node, _) = self.node(path, name, &meta, None);
                        let old = prev.and_then(|p| p.subtree);
                        let sub = self.parent_tree(old);
                        let (id, added) =
                            self.archive_virtual(children, sub.as_ref().map(|p| &p.tree))?;
                        self.dir_done(path, old, id, added, started);
                        node.subtree = Some(id);
                        Ok(Some(node))
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?;
        self.save_tree(nodes.into_iter().flatten().collect())
    }

    /// Saves a tree of `nodes` (sorted here); returns its id and what it
    /// added (nothing when the same tree was stored already).
    pub fn save_tree(&self, mut nodes: Vec<Node>) -> Result<(Id, Added)> {
        let mut tree = Tree { nodes: Vec::new() };
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        tree.nodes = nodes;
        let json = tree.to_go_json()?;
        let id = Id::hash(&json);
        let stored = self.saver.save_with_id(BlobType::Tree, id, &json)?;
        let plain = if stored > 0 { json.len() as u64 } else { 0 };
        Ok((id, Added { plain, stored }))
    }

    /// When items are listed: now, the start of an item's work.
    pub(super) fn clock(&self) -> Option<Instant> {
        self.lists_items.then(Instant::now)
    }

    /// Counts a directory done (its tree `id`, the parent's `old`) and
    /// reports it when items are listed.
    fn dir_done(
        &self,
        path: &Path,
        old: Option<Id>,
        id: Id,
        tree: Added,
        started: Option<Instant>,
    ) {
        let (counter, change) = match old {
            None => (&self.counters.dirs_new, ItemChange::New),
            Some(old) if old == id => (&self.counters.dirs_unmodified, ItemChange::Unchanged),
            Some(_) => (&self.counters.dirs_changed, ItemChange::Modified),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.item_done(path, true, change, Added::default(), tree, started);
    }

    /// Reports an item done (`started` is set only when items are
    /// listed): what its content (`data`) and its tree added.
    fn item_done(
        &self,
        path: &Path,
        is_dir: bool,
        change: ItemChange,
        data: Added,
        tree: Added,
        started: Option<Instant>,
    ) {
        let Some(started) = started else {
            return;
        };
        self.progress.backed_up(&BackedUpItem {
            path,
            is_dir,
            change,
            duration: started.elapsed(),
            data_added: data.plain,
            data_stored: data.stored,
            tree_added: tree.plain,
            tree_stored: tree.stored,
        });
    }

    /// Reports standard input, stored as the file `/name`, done.
    pub(super) fn stdin_done(&self, name: &str, added: Added, started: Option<Instant>) {
        let path = Path::new("/").join(name);
        self.item_done(
            &path,
            false,
            ItemChange::New,
            added,
            Added::default(),
            started,
        );
    }

    /// Reports an entry an exclude rule left out (`meta`: its `lstat`
    /// result); an excluded directory is also left out of the prefetch's
    /// walk. Returns `None` for the caller to pass on.
    fn exclude(&self, path: &Path, meta: &Metadata) -> Option<Node> {
        if meta.is_dir() {
            if let Some(listings) = &self.opts.listings {
                listings.skip(path);
            }
        }
        if self.lists_items {
            self.progress.excluded(path);
        }
        None
    }

    /// Archives one filesystem entry named by its full path; `None` when
    /// it is excluded, vanished or unreadable (the latter two with a
    /// warning).
    fn archive_path(
        &self,
        path: &Path,
        name: &[u8],
        prev: Option<&Node>,
        dev: u64,
    ) -> Result<Option<Node>> {
        self.archive_entry(path, name, std::fs::symlink_metadata(path), None, prev, dev)
    }

    /// Archives one filesystem entry whose `lstat` result is `meta`;
    /// `file` is the file when it was opened ahead ([`read_ahead`]).
    fn archive_entry(
        &self,
        path: &Path,
        name: &[u8],
        meta: std::io::Result<Metadata>,
        file: Option<OpenAhead<'_>>,
        prev: Option<&Node>,
        dev: u64,
    ) -> Result<Option<Node>> {
        let meta = match meta {
            Ok(m) => m,
            Err(e) => {
                self.warn(path, e.to_string());
                return Ok(None);
            }
        };
        if self.excluded(path, &meta) {
            return Ok(self.exclude(path, &meta));
        }
        let started = self.clock();
        // With a trusted ctime, an unchanged ctime means unchanged xattrs
        // and link target: those are taken from the parent, not re-read.
        let same = prev.filter(|_| !self.opts.ignore_ctime);
        let (mut node, warnings) = self.node(path, name, &meta, same);
        for w in warnings {
            self.warn(path, w);
        }
        match node.node_type {
            NodeType::Dir => {
                if self.dir_left_out(path, &meta, dev) {
                    return Ok(self.exclude(path, &meta));
                }
                let parent = prev
                    .filter(|p| p.node_type == NodeType::Dir)
                    .and_then(|p| p.subtree);
                let (id, tree) = self.archive_dir_contents(path, parent, dev, meta.dev())?;
                self.dir_done(path, prev.and_then(|p| p.subtree), id, tree, started);
                node.subtree = Some(id);
            }
            NodeType::Socket => return Ok(None),
            _ => {}
        }
        if node.node_type == NodeType::File
            && !self.archive_file(path, &mut node, file, prev, started)?
        {
            return Ok(None);
        }
        Ok(Some(node))
    }

    /// Archives a directory's entries and saves its tree (returned with
    /// what it added); `parent` is its tree in the parent snapshot, `dev`
    /// the device of the backup's source, `own` the directory's. Its
    /// entries come from [`list_dir`], unless the prefetch lists the
    /// directory ([`BackupOptions::listings`]).
    /// When the last backup's record shows the listing unchanged, the
    /// parent's tree is not read ([`Archiver::archive_recorded_dir`]);
    /// otherwise, when every node comes out equal to the parent's, the
    /// parent's tree is reused without encoding it.
    fn archive_dir_contents(
        &self,
        path: &Path,
        parent: Option<Id>,
        dev: u64,
        own: u64,
    ) -> Result<(Id, Added)> {
        let listed = self.opts.listings.as_ref().and_then(|l| l.take(path, own));
        let mut complete = true;
        let mut entries: Listing = match listed {
            Some(listing) => listing,
            None => match list_dir(path, || true) {
                Ok(listed) => {
                    complete = listed.errors.is_empty();
                    for e in listed.errors {
                        self.warn(path, e.to_string());
                    }
                    listed.entries
                }
                Err(e) => {
                    complete = false;
                    self.warn(path, e.to_string());
                    Vec::new()
                }
            },
        };
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let state = (complete && self.dir_log.is_some())
            .then(|| self.dir_state(path, &entries, dev))
            .flatten();
        if let (Some(p), Some(state)) = (parent, &state) {
            if let Some(children) = self.recorded_children(path, &p, state) {
                return self.archive_recorded_dir(path, p, entries, state, children, dev);
            }
        }
        let parent = self.parent_tree(parent);
        let parent_tree = parent.as_ref().map(|p| &p.tree);
        let mut windows =
            read_ahead::windows(entries, |name| find_in(parent_tree, name), self.opts).into_iter();
        let mut current = windows.next();
        if let Some(w) = current.as_mut() {
            self.ask_ahead(path, w);
        }
        let mut nodes = Vec::new();
        while let Some(window) = current {
            current = windows.next();
            if let Some(w) = current.as_mut() {
                self.ask_ahead(path, w);
            }
            let done = window
                .into_par_iter()
                .map(|p| {
                    let child = path.join(OsStr::from_bytes(&p.name));
                    self.archive_entry(&child, &p.name, p.meta, p.file, p.prev, dev)
                })
                .collect::<Result<Vec<_>>>()?;
            nodes.extend(done.into_iter().flatten());
        }
        let children = state.as_ref().and_then(|s| recorded_subtrees(s, &nodes));
        let saved = match &parent {
            Some(p)
                if same_nodes(&p.tree.nodes, &nodes) && self.saver.has(BlobType::Tree, &p.id) =>
            {
                (p.id, Added::default())
            }
            _ => self.save_tree(nodes)?,
        };
        if let (Some(state), Some(children)) = (state, children) {
            self.record(path, &saved.0, &state, &children);
        }
        Ok(saved)
    }

    /// How each of a directory's entries (in `path`, on the source's
    /// device `dev`) is treated, as [`Archiver::archive_entry`] decides,
    /// and the digest of the listing; `None` when an entry could not be
    /// stat'ed.
    fn dir_state(&self, path: &Path, entries: &Listing, dev: u64) -> Option<DirState> {
        // The entry's path is joined only when a rule could use it.
        let rules = !self.excludes.is_empty() || self.opts.exclude_larger_than.is_some();
        let dir_rules = self.opts.one_file_system
            || !self.opts.exclude_if_present.is_empty()
            || self.opts.exclude_caches;
        let mut dispositions = Vec::with_capacity(entries.len());
        for (name, meta) in entries {
            let meta = meta.as_ref().ok()?;
            let child = || path.join(OsStr::from_bytes(name));
            let by_rule = rules && self.excluded(&child(), meta);
            let dir_left_out =
                || meta.is_dir() && dir_rules && self.dir_left_out(&child(), meta, dev);
            let d = if by_rule || dir_left_out() {
                Disposition::Excluded
            } else if meta.file_type().is_socket() {
                Disposition::Skipped
            } else {
                Disposition::Included
            };
            dispositions.push(d);
        }
        dir_states::dir_state(
            path,
            entries,
            dispositions,
            &self.names,
            self.opts.with_atime,
        )
    }

    /// The trees of the subdirectories the last backup recorded for the
    /// directory at `path` with tree `parent`, when it recorded the same
    /// listing and the tree is still stored.
    fn recorded_children(&self, path: &Path, parent: &Id, state: &DirState) -> Option<Vec<Id>> {
        let recorded = self
            .dir_states
            .as_ref()?
            .get(&dir_states::key(path, parent))?;
        (recorded.digest == state.digest
            && recorded.subdirs() == state.subdirs
            && self.saver.has(BlobType::Tree, parent))
        .then(|| recorded.children())
    }

    /// Records a directory saved as `tree` from a listing with `state`
    /// and with subdirectories' trees `children`.
    fn record(&self, path: &Path, tree: &Id, state: &DirState, children: &[Id]) {
        if let Some(log) = &self.dir_log {
            log.add(&dir_states::key(path, tree), &state.digest, children);
        }
    }

    /// Archives a directory whose listing the last backup recorded as it
    /// is now, for the parent's tree `parent`: its files are unchanged
    /// and not looked at, its subdirectories are archived with their
    /// recorded trees as parents. When they all come out unchanged, the
    /// tree is the parent's, unread; otherwise it is the parent's nodes
    /// with the new subtrees (each node made from `lstat` as the slow path
    /// makes it, which the unchanged listing makes equal to the parent's).
    fn archive_recorded_dir(
        &self,
        path: &Path,
        parent: Id,
        entries: Listing,
        state: &DirState,
        children: Vec<Id>,
        dev: u64,
    ) -> Result<(Id, Added)> {
        let mut included = Vec::new();
        for ((name, meta), d) in entries.into_iter().zip(&state.dispositions) {
            let Ok(meta) = meta else {
                continue;
            };
            let child = path.join(OsStr::from_bytes(&name));
            match d {
                Disposition::Excluded => {
                    self.exclude(&child, &meta);
                }
                Disposition::Skipped => {}
                Disposition::Included => included.push((name, child, meta)),
            }
        }
        let dirs: Vec<(&PathBuf, &Metadata, Id)> = included
            .iter()
            .filter(|(_, _, m)| m.is_dir())
            .zip(&children)
            .map(|((_, child, meta), old)| (child, meta, *old))
            .collect();
        let subtrees = dirs
            .into_par_iter()
            .map(|(child, meta, old)| {
                let started = self.clock();
                let (id, added) = self.archive_dir_contents(child, Some(old), dev, meta.dev())?;
                self.dir_done(child, Some(old), id, added, started);
                Ok(id)
            })
            .collect::<Result<Vec<Id>>>()?;
        if subtrees == children {
            for (_, child, meta) in included.iter().filter(|(_, _, m)| m.is_file()) {
                let started = self.clock();
                self.file_counted(meta.size());
                self.unchanged_file_done(child, meta.size(), started);
            }
            self.record(path, &parent, state, &children);
            return Ok((parent, Added::default()));
        }
        // A subdirectory changed: this tree is made anew, as the slow path
        // makes it (only the directories' work is already done). A parent
        // tree that cannot be read is no parent, as there.
        let tree = self.repo.tree(&parent).ok();
        let mut subtrees = subtrees.into_iter();
        let mut nodes = Vec::with_capacity(included.len());
        for (name, child, meta) in &included {
            let started = self.clock();
            let prev = find_in(tree.as_ref(), name);
            let same = prev.filter(|_| !self.opts.ignore_ctime);
            let (mut node, warnings) = self.node(child, name, meta, same);
            for w in warnings {
                self.warn(child, w);
            }
            let kept = match node.node_type {
                NodeType::Dir => {
                    node.subtree = subtrees.next();
                    true
                }
                NodeType::File => self.archive_file(child, &mut node, None, prev, started)?,
                _ => true,
            };
            if kept {
                nodes.push(node);
            }
        }
        let recorded = recorded_subtrees(state, &nodes);
        let saved = self.save_tree(nodes)?;
        if let Some(children) = recorded {
            self.record(path, &saved.0, state, &children);
        }
        Ok(saved)
    }

    /// Asks for the files of `window` (in `dir`) ahead of their reads,
    /// leaving out what the exclude rules leave out.
    fn ask_ahead<'s>(&'s self, dir: &Path, window: &mut [read_ahead::Pending<'s>]) {
        read_ahead::ask_ahead(dir, window, &self.open_ahead, |p, m| self.excluded(p, m));
    }

    fn unchanged(&self, prev: &Node, node: &Node) -> bool {
        prev.node_type == NodeType::File
            && prev.size == node.size
            && prev.mtime == node.mtime
            && (self.opts.ignore_ctime || prev.ctime == node.ctime)
            && (self.opts.ignore_inode || prev.inode == node.inode)
            && prev
                .content
                .as_ref()
                .is_some_and(|c| c.iter().all(|id| self.saver.has(BlobType::Data, id)))
    }

    /// Fills a file node's content; `false` when the file could not be
    /// read (a warning was recorded and the file is left out).
    fn archive_file(
        &self,
        path: &Path,
        node: &mut Node,
        file: Option<OpenAhead<'_>>,
        prev: Option<&Node>,
        started: Option<Instant>,
    ) -> Result<bool> {
        self.file_counted(node.size);
        if let Some(p) = prev.filter(|p| self.unchanged(p, node)) {
            node.content = p.content.clone();
            self.unchanged_file_done(path, node.size, started);
            return Ok(true);
        }
        self.progress.file_started(path);
        let added = match self.read_content(path, node.size, file) {
            Ok(Ok(content)) => {
                node.content = Some(content.ids);
                node.size = content.size;
                content.added
            }
            Ok(Err(e)) => {
                self.warn(path, e.to_string());
                return Ok(false);
            }
            Err(fatal) => return Err(fatal),
        };
        let (counter, change) = match prev {
            Some(_) => (&self.counters.files_changed, ItemChange::Modified),
            None => (&self.counters.files_new, ItemChange::New),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.progress.file_done(path, node.size, true);
        self.item_done(path, false, change, added, Added::default(), started);
        Ok(true)
    }

    /// Counts a file of `size` bytes processed.
    fn file_counted(&self, size: u64) {
        self.counters.total_files.fetch_add(1, Ordering::Relaxed);
        self.counters.total_bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Counts and reports an unchanged file (`size` bytes), not read.
    fn unchanged_file_done(&self, path: &Path, size: u64, started: Option<Instant>) {
        self.counters
            .files_unmodified
            .fetch_add(1, Ordering::Relaxed);
        self.progress.file_done(path, size, false);
        let nothing = Added::default();
        let unchanged = ItemChange::Unchanged;
        self.item_done(path, false, unchanged, nothing, nothing, started);
    }

    /// Reads, chunks and stores a file. The outer error is fatal (the
    /// repository failed); the inner one is a problem with this file.
    fn read_content(
        &self,
        path: &Path,
        size: u64,
        ahead: Option<OpenAhead<'_>>,
    ) -> Result<std::io::Result<Content>> {
        match ahead
            .and_then(OpenAhead::into_file)
            .map_or_else(|| open_noatime(path), Ok)
        {
            Ok(f) => self.read_sized(SourceFile::new(f, size), Some(size)),
            Err(e) => Ok(Err(e)),
        }
    }

    /// Chunks and stores everything `reader` yields; returns the content
    /// ids, the byte count and what was added. The outer error is fatal, the inner one a
    /// read error. A batch is read holding one of the read slots and
    /// stored after giving it back, so that a thread waiting for a slot
    /// never holds one (no deadlock on the pool) and storing goes on in
    /// parallel with the next reads.
    pub fn read_stream<R: Read + Send>(&self, reader: R) -> Result<std::io::Result<Content>> {
        self.read_sized(reader, None)
    }

    /// [`Archiver::read_stream`] of a source expected to hold `size_hint`
    /// bytes: a small file gets a read buffer of its size, not the
    /// default 1 MiB (allocating and clearing that per small file cost a
    /// third of a backup of many small files). A file of more than one
    /// batch is read and chunked ahead while the previous batch is hashed,
    /// compressed and stored, so a lone large file keeps every core busy.
    fn read_sized<R: Read + Send>(
        &self,
        reader: R,
        size_hint: Option<u64>,
    ) -> Result<std::io::Result<Content>> {
        let buffer = size_hint.map_or(hbk_chunker::DEFAULT_READ_BUFFER, |n| {
            usize::try_from(n.saturating_add(1))
                .unwrap_or(usize::MAX)
                .clamp(MIN_READ_BUFFER, hbk_chunker::DEFAULT_READ_BUFFER)
        });
        let mut stream =
            hbk_chunker::Chunks::with_buffer_size(reader, self.chunkers.make(), buffer);
        let mut content = Content::default();
        let mut current = Batch::new(self.batches.take());
        let mut ahead: Option<Batch> = None;
        let outcome = (|| -> Result<std::io::Result<()>> {
            let mut ended = match self.fill_batch(&mut stream, &mut current) {
                Ok(ended) => ended,
                Err(e) => return Ok(Err(e)),
            };
            while !current.ends.is_empty() {
                content.size += current.buf.len() as u64;
                if ended {
                    self.store_batch(&current, &mut content)?;
                    break;
                }
                if ahead.is_none() {
                    ahead = self.batches.take_ahead().map(Batch::new);
                }
                let filled = match ahead.as_mut() {
                    Some(next) => {
                        let (stored, filled) = rayon::join(
                            || self.store_batch(&current, &mut content),
                            || self.fill_batch(&mut stream, next),
                        );
                        stored?;
                        std::mem::swap(&mut current, next);
                        filled
                    }
                    None => {
                        self.store_batch(&current, &mut content)?;
                        self.fill_batch(&mut stream, &mut current)
                    }
                };
                match filled {
                    Ok(e) => ended = e,
                    Err(e) => return Ok(Err(e)),
                }
            }
            Ok(Ok(()))
        })();
        self.batches.give_back(current.buf);
        if let Some(b) = ahead {
            self.batches.give_back(b.buf);
        }
        outcome.map(|read| read.map(|()| content))
    }

    /// Reads the next batch of chunks (holding a read slot); returns
    /// whether the source ended.
    fn fill_batch<R: Read>(
        &self,
        stream: &mut hbk_chunker::Chunks<R, hbk_chunker::Chunker>,
        batch: &mut Batch,
    ) -> std::io::Result<bool> {
        batch.buf.clear();
        batch.ends.clear();
        let _reading = self.read_slots.as_ref().map(Limiter::acquire);
        let mut ended = false;
        while !ended && batch.buf.len() < BATCH_BYTES {
            match stream.next_into(&mut batch.buf)? {
                Some(_) => batch.ends.push(batch.buf.len()),
                None => ended = true,
            }
        }
        self.counters
            .bytes_read
            .fetch_add(batch.buf.len() as u64, Ordering::Relaxed);
        Ok(ended)
    }

    /// Hashes and stores a batch's chunks in parallel; appends their ids
    /// to `content` and counts what they added.
    fn store_batch(&self, batch: &Batch, content: &mut Content) -> Result<()> {
        let chunks: Vec<&[u8]> = std::iter::once(0)
            .chain(batch.ends.iter().copied())
            .zip(batch.ends.iter().copied())
            .filter_map(|(start, end)| batch.buf.get(start..end))
            .collect();
        // Ids are hashed two chunks at a time (on CPUs with the SHA
        // extensions that costs little more than one); the two are then
        // stored in parallel.
        let stored = chunks
            .par_chunks(2)
            .flat_map(|pair| pair.par_iter().zip(ids_of(pair)))
            .map(|(chunk, id)| {
                let stored = self.saver.save_with_id(BlobType::Data, id, chunk)?;
                self.progress.bytes_done(chunk.len() as u64);
                let plain = if stored > 0 { chunk.len() as u64 } else { 0 };
                Ok((id, Added { plain, stored }))
            })
            .collect::<Result<Vec<_>>>()?;
        for (id, added) in stored {
            content.ids.push(id);
            content.added = content.added.add(added);
        }
        Ok(())
    }
}

/// The ids of one or two chunks, two hashed at once.
fn ids_of(chunks: &[&[u8]]) -> Vec<Id> {
    match *chunks {
        [a, b] => {
            let (x, y) = Id::hash_pair(a, b);
            vec![x, y]
        }
        _ => chunks.iter().map(|c| Id::hash(c)).collect(),
    }
}

/// A batch of one file's chunks: their bytes one after another, and where
/// each ends.
struct Batch {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn new(buf: Vec<u8>) -> Batch {
        Batch {
            buf,
            ends: Vec::new(),
        }
    }
}

/// Batch buffers of finished reads, for the next reads: a file's chunks
/// are gathered in one buffer instead of one allocation each, and the
/// buffer goes to the next file.
#[derive(Default)]
pub struct BatchBuffers {
    kept: Mutex<Vec<Vec<u8>>>,
    /// Buffers taken and not given back.
    out: AtomicUsize,
}

impl BatchBuffers {
    /// Buffers kept; more are in use only while more files are read at
    /// once, and are freed after.
    const KEEP: usize = 4;

    /// A buffer with room for a batch and the chunk that ends it (a
    /// buffer growing by doubling would copy itself and end up twice as
    /// large).
    fn take(&self) -> Vec<u8> {
        self.out.fetch_add(1, Ordering::Relaxed);
        let kept = self.kept.lock().unwrap_or_else(|p| p.into_inner()).pop();
        kept.unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES + BATCH_SLACK))
    }

    /// A second buffer for a file, to read its next batch while the
    /// current one is stored, unless [`BatchBuffers::KEEP`] are out
    /// already: then enough files are read at once to keep the threads
    /// busy without reading ahead. A thread waiting for a batch of its
    /// file takes up another file meanwhile, so the files read at once
    /// outnumber the threads, and with two batches of up to 10 MiB each
    /// they were a third of a backup's peak memory.
    fn take_ahead(&self) -> Option<Vec<u8>> {
        (self.out.load(Ordering::Relaxed) < Self::KEEP).then(|| self.take())
    }

    fn give_back(&self, buffer: Vec<u8>) {
        self.out.fetch_sub(1, Ordering::Relaxed);
        let mut kept = self.kept.lock().unwrap_or_else(|p| p.into_inner());
        // A buffer a huge chunk grew is not kept for the next files.
        let capacity = buffer.capacity();
        if kept.len() < Self::KEEP && capacity > 0 && capacity <= BATCH_BYTES + BATCH_SLACK {
            kept.push(buffer);
        }
    }
}

fn has_file_with_header(path: &PathBuf, header: Option<&str>) -> bool {
    match header {
        None => std::fs::symlink_metadata(path).is_ok(),
        Some(h) => {
            let mut buf = vec![0u8; h.len()];
            File::open(path)
                .and_then(|mut f| f.read_exact(&mut buf))
                .is_ok()
                && buf == h.as_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_read_ahead_only_while_few_batches_are_out() {
        let batches = BatchBuffers::default();
        let mut out: Vec<Vec<u8>> = (0..2).map(|_| batches.take()).collect();
        out.extend(batches.take_ahead());
        out.extend(batches.take_ahead());
        assert_eq!(out.len(), BatchBuffers::KEEP);
        // Every further file reads without a second batch…
        assert!(batches.take_ahead().is_none());
        // …until a batch comes back.
        batches.give_back(out.pop().unwrap_or_default());
        assert!(batches.take_ahead().is_some());
    }
}
