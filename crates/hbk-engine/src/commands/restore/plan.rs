//! The restore plan: what to create, and which blobs of which packs go to
//! which file offsets.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use hbk_repo::blob::{check_blob_id, open_blob_in_place, BlobError};
use hbk_repo::{BlobLocation, BlobType, FileType, Id, IndexedRepository, NodeType};
use rayon::prelude::*;

use super::node::RestoreNode;
use super::{apply, ItemError, Overwrite, RestoreOptions, RestoreStats, XattrFilter};
use crate::filter::Selection;
use crate::pack_range::{cut, entry_end};
use crate::progress::{Progress, RestoreAction, RestoredItem};
use crate::walk::join;
use crate::Result;

/// Reads of one pack are merged when the gap between wanted blobs is at
/// most this many bytes…
const MAX_GAP: u64 = 256 * 1024;
/// …and as long as one buffered read stays below this size…
const MAX_READ: u64 = 8 * 1024 * 1024;
/// …or one streamed read (a whole pack of the default size and more is
/// one request: memory does not grow with it).
const MAX_STREAM: u64 = 256 * 1024 * 1024;
/// Blobs larger than this are not streamed (the chunker makes at most
/// 8 MiB; a larger length comes from a damaged index).
const MAX_BLOB: u64 = 64 * 1024 * 1024;
/// Largest blob buffer a restore worker keeps between blobs (most chunks
/// are smaller; see [`PackReader::shed`]). Blobs that fit, sealed and
/// plain, are opened two at a time (their ids hashed together: 1.94 GB/s
/// a core on the SHA unit, 1.62 for one message alone), so pairing takes
/// no memory of its own; larger ones alone.
const KEPT_BUFFER: usize = 4 << 20;
/// Files a worker keeps open at once.
const MAX_OPEN_FILES: usize = 64;

/// One node to restore, at a path relative to the target.
struct Item {
    rel: Box<Path>,
    node: RestoreNode,
    /// For a hardlink seen before: the item it links to.
    link_to: Option<u32>,
    /// Whether the node was selected (unselected parent directories are
    /// created but get no metadata).
    selected: bool,
    /// For a file whose whole content lies in one pack: the worker of
    /// that pack creates it, writes it and applies its metadata, all
    /// through one descriptor. Other files are created beforehand and
    /// get their metadata at the end.
    owned: bool,
    /// Set once the file's metadata was applied while it was written.
    metadata_done: AtomicBool,
    /// An existing file whose content is kept (`overwrite` if-changed,
    /// size and mtime equal): only its metadata is applied.
    content_kept: bool,
    /// Something stood at the item's place, which restore replaces
    /// (known when the overwrite rule or an item listing looked).
    replaces: bool,
}

/// A snapshot item the overwrite rule leaves as it stands at the target.
struct Kept {
    rel: Box<Path>,
    /// A file's size; `None` for other nodes.
    size: Option<u64>,
}

/// Where one blob is wanted.
struct Target {
    item: u32,
    offset: u64,
}

/// One blob to read from a pack, and every place it goes to.
struct BlobJob {
    id: Id,
    loc: BlobLocation,
    /// Where the blob goes; most blobs go to one place, kept inline
    /// (a heap list per blob was a tenth of a restore's memory).
    first: Target,
    /// Further places, for blobs several files (or one file twice) hold;
    /// boxed, as most blobs have none (8 bytes a job instead of 24).
    #[allow(
        clippy::box_collection,
        reason = "a thin pointer: most jobs have no list"
    )]
    more: Option<Box<Vec<Target>>>,
}

impl BlobJob {
    /// A job for a blob going to `first`.
    fn new(id: Id, loc: BlobLocation, first: Target) -> BlobJob {
        BlobJob {
            id,
            loc,
            first,
            more: None,
        }
    }

    /// Every place the blob goes to.
    fn targets(&self) -> impl Iterator<Item = &Target> {
        std::iter::once(&self.first).chain(self.more.iter().flat_map(|m| m.iter()))
    }
}

/// Where the job of each blob planned so far is (pack number in the
/// plan's list, job number in the pack's list), found by the first eight
/// bytes of the blob's id: 16 bytes an entry where the whole id took 40,
/// the largest table of a plan for many small files. Ids are SHA-256
/// hashes, so a prefix that an earlier, different blob already holds is a
/// rare event, and such a blob is kept by its whole id.
#[derive(Default)]
struct PlannedJobs {
    by_prefix: HashMap<u64, (u32, u32)>,
    by_id: HashMap<Id, (u32, u32)>,
}

/// The jobs of a plan, by pack.
type PackJobs = Vec<(Id, Vec<BlobJob>)>;

impl PlannedJobs {
    fn prefix(id: &Id) -> u64 {
        let [a, b, c, d, e, f, g, h, ..] = id.0;
        u64::from_le_bytes([a, b, c, d, e, f, g, h])
    }

    fn job(packs: &mut PackJobs, (p, j): (u32, u32)) -> Option<&mut BlobJob> {
        packs.get_mut(p as usize)?.1.get_mut(j as usize)
    }

    /// The job planned for `id`, if any.
    fn find<'p>(&self, id: &Id, packs: &'p mut PackJobs) -> Option<&'p mut BlobJob> {
        let slot = match self.by_prefix.get(&Self::prefix(id)) {
            None => return None,
            Some(&slot) if Self::job(packs, slot).is_some_and(|j| j.id == *id) => slot,
            Some(_) => *self.by_id.get(id)?,
        };
        Self::job(packs, slot)
    }

    /// Records that the job of `id` (not planned before) is at `slot`.
    fn insert(&mut self, id: &Id, slot: (u32, u32)) {
        match self.by_prefix.entry(Self::prefix(id)) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.by_id.insert(*id, slot);
            }
        }
    }
}

/// Everything a restore will do, built from the snapshot's trees.
pub struct RestorePlan {
    items: Vec<Item>,
    /// Each item's content ids, kept only to verify the restored files
    /// (empty otherwise).
    contents: Vec<Box<[Id]>>,
    packs: PackJobs,
    /// Errors found while planning (missing blobs, bad names).
    errors: Vec<ItemError>,
    bytes: u64,
    /// Snapshot paths left out because what exists at the target stays
    /// (`overwrite`); `delete` must not remove them.
    kept: Vec<Kept>,
    /// Existing files left as they were (or whose content was kept), and
    /// their bytes.
    skipped: (u64, u64),
    /// Files and other nodes left as they were, not in `items`.
    kept_counts: (u64, u64),
}

/// State of the walk that builds a plan.
struct Walk<'a> {
    repo: &'a IndexedRepository,
    selection: &'a Selection,
    /// Keep content ids in the plan (to verify the restored files).
    keep_content: bool,
    /// First item of each hardlinked inode seen.
    hardlinks: HashMap<(u64, u64), u32>,
    /// Blobs planned so far, where their job is: index of the pack in
    /// `packs`, of the job in its list.
    jobs: PlannedJobs,
    /// Index in `packs` of each pack planned so far.
    packs: HashMap<Id, usize>,
    /// The target and the overwrite rule, when existing files there are
    /// to be looked at (any rule but "always").
    existing: Option<(&'a Path, Overwrite)>,
    /// Which extended attributes to restore.
    xattrs: &'a XattrFilter,
    /// With ownership by name: the ids of the names seen so far.
    owners: Option<OwnerNames>,
}

/// This system's ids for user and group names, looked up once each.
#[derive(Default)]
struct OwnerNames {
    users: HashMap<String, Option<u32>>,
    groups: HashMap<String, Option<u32>>,
}

impl OwnerNames {
    /// Sets `node`'s owner and group from its names where this system
    /// knows them.
    fn apply(&mut self, node: &mut hbk_repo::Node) {
        let uid = |n: &str| {
            nix::unistd::User::from_name(n)
                .ok()
                .flatten()
                .map(|u| u.uid.as_raw())
        };
        let gid = |n: &str| {
            nix::unistd::Group::from_name(n)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw())
        };
        if let Some(id) = lookup(&mut self.users, &node.user, uid) {
            node.uid = id;
        }
        if let Some(id) = lookup(&mut self.groups, &node.group, gid) {
            node.gid = id;
        }
    }
}

/// The id of `name` (none for an empty name), found by `find` once per
/// name.
fn lookup(
    cache: &mut HashMap<String, Option<u32>>,
    name: &str,
    find: impl Fn(&str) -> Option<u32>,
) -> Option<u32> {
    if name.is_empty() {
        return None;
    }
    if let Some(id) = cache.get(name) {
        return *id;
    }
    let id = find(name);
    cache.insert(name.to_string(), id);
    id
}

impl Walk<'_> {
    /// A snapshot node adjusted as the options ask (owner by name,
    /// extended attributes filtered), made into what restore keeps.
    fn restore_node(&mut self, mut node: hbk_repo::Node) -> (RestoreNode, Vec<Id>) {
        if let Some(owners) = &mut self.owners {
            owners.apply(&mut node);
        }
        let xattrs = self.xattrs;
        node.extended_attributes
            .retain(|a| xattrs.keeps(a.name.as_bytes()));
        RestoreNode::new(node)
    }
}

/// What to do with one node, given what exists at its place.
enum AtTarget {
    /// Create it; `replaces`: something is there (that it replaces).
    Create { replaces: bool },
    /// Leave what is there alone.
    Skip,
    /// Keep the existing file's content, apply the node's metadata.
    KeepContent,
}

impl Walk<'_> {
    /// Decides for a non-directory node at `rel` by the overwrite rule.
    fn at_target(&self, rel: &Path, node: &RestoreNode) -> AtTarget {
        let Some((target, rule)) = self.existing else {
            return AtTarget::Create { replaces: false };
        };
        let Ok(meta) = fs::symlink_metadata(target.join(rel)) else {
            return AtTarget::Create { replaces: false };
        };
        let mtime = filetime::FileTime::from_last_modification_time(&meta);
        let replace = AtTarget::Create { replaces: true };
        match rule {
            Overwrite::Always => replace,
            Overwrite::Never => AtTarget::Skip,
            Overwrite::IfNewer if node.mtime() > mtime => replace,
            Overwrite::IfNewer => AtTarget::Skip,
            Overwrite::IfChanged
                if node.kind == NodeType::File
                    && meta.is_file()
                    && meta.len() == node.size
                    && node.mtime() == mtime =>
            {
                AtTarget::KeepContent
            }
            Overwrite::IfChanged => replace,
        }
    }
}

/// Whether a stored name is safe to create inside the target.
fn safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

fn rel_path(path: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(path.strip_prefix(b"/").unwrap_or(path)))
}

fn rel_box(path: &[u8]) -> Box<Path> {
    rel_path(path).into_boxed_path()
}

impl RestorePlan {
    /// Walks `tree` and plans the restore of what `selection` selects
    /// into `target`, as `opts` asks: content ids kept to verify, files
    /// already at the target looked at by the overwrite rule (or, to
    /// list what is replaced, with `look`), extended attributes filtered,
    /// owners taken by name.
    pub fn build(
        repo: &IndexedRepository,
        tree: &Id,
        selection: &Selection,
        target: &Path,
        opts: &RestoreOptions,
        look: bool,
    ) -> Result<RestorePlan> {
        let keep_content = opts.verify;
        let existing =
            (look || opts.overwrite != Overwrite::Always).then_some((target, opts.overwrite));
        let mut plan = RestorePlan {
            items: Vec::new(),
            contents: Vec::new(),
            packs: Vec::new(),
            errors: Vec::new(),
            bytes: 0,
            kept: Vec::new(),
            skipped: (0, 0),
            kept_counts: (0, 0),
        };
        let mut walk = Walk {
            repo,
            selection,
            keep_content,
            hardlinks: HashMap::new(),
            jobs: PlannedJobs::default(),
            packs: HashMap::new(),
            existing,
            xattrs: &opts.xattrs,
            owners: opts.ownership_by_name.then(OwnerNames::default),
        };
        plan.collect(&mut walk, tree, b"/")?;
        for (_, list) in &mut plan.packs {
            list.sort_unstable_by_key(|j| j.loc.offset);
        }
        Ok(plan)
    }

    fn collect(&mut self, walk: &mut Walk<'_>, tree: &Id, prefix: &[u8]) -> Result<()> {
        let t = walk.repo.tree(tree)?;
        for node in t.nodes {
            let path = join(prefix, &node.name);
            if !safe_name(&node.name) {
                self.errors.push(ItemError {
                    path: rel_path(&path),
                    message: "unsafe file name in snapshot, skipped".into(),
                });
                continue;
            }
            let (selected, descend) = walk.selection.decide(&path);
            if node.node_type == NodeType::Dir {
                if !selected && !descend {
                    continue;
                }
                let subtree = node.subtree;
                if walk.keep_content {
                    self.contents.push(Box::default());
                }
                let at = self.items.len();
                self.items.push(Item {
                    rel: rel_box(&path),
                    node: walk.restore_node(node).0,
                    link_to: None,
                    selected,
                    owned: false,
                    metadata_done: AtomicBool::new(false),
                    content_kept: false,
                    replaces: false,
                });
                if let Some(sub) = subtree {
                    self.collect(walk, &sub, &path)?;
                }
                if !selected && self.items.len() == at + 1 {
                    // Walked only because something below might match,
                    // and nothing did: no empty directory for it, as in
                    // restic.
                    self.items.pop();
                    if walk.keep_content {
                        self.contents.pop();
                    }
                }
                continue;
            }
            if !selected || node.node_type == NodeType::Socket {
                continue;
            }
            let index = self.items.len();
            let Ok(index32) = u32::try_from(index) else {
                return Err(crate::Error::invalid(
                    "snapshot",
                    "more than 4 billion entries to restore",
                ));
            };
            let mut link_to = None;
            if node.node_type == NodeType::File && node.links > 1 && node.inode != 0 {
                let key = (node.device_id, node.inode);
                match walk.hardlinks.get(&key) {
                    Some(first) => link_to = Some(*first),
                    None => {
                        walk.hardlinks.insert(key, index32);
                    }
                }
            }
            let rel = rel_box(&path);
            let (node, content) = walk.restore_node(node);
            let decision = walk.at_target(&rel, &node);
            if !matches!(decision, AtTarget::Create { .. }) {
                self.skipped.0 += 1;
                if node.kind == NodeType::File {
                    self.skipped.1 += node.size;
                }
            }
            if matches!(decision, AtTarget::Skip) {
                // Counted as restored items, though left as they are.
                match node.kind {
                    NodeType::File => self.kept_counts.0 += 1,
                    _ => self.kept_counts.1 += 1,
                }
                let size = (node.kind == NodeType::File).then_some(node.size);
                self.kept.push(Kept { rel, size });
                continue;
            }
            let content_kept = matches!(decision, AtTarget::KeepContent);
            let replaces = matches!(decision, AtTarget::Create { replaces: true });
            let owned = node.kind == NodeType::File
                && link_to.is_none()
                && !content_kept
                && self.plan_file(walk, index32, &rel, &content);
            if walk.keep_content {
                self.contents.push(content.into_boxed_slice());
            }
            self.items.push(Item {
                rel,
                node,
                link_to,
                selected,
                owned,
                metadata_done: AtomicBool::new(false),
                content_kept,
                replaces,
            });
        }
        Ok(())
    }

    /// Plans where each content blob of the file `item` goes. Returns
    /// whether the file is owned by one pack: it has content, all of it in
    /// that pack, and every blob was found.
    fn plan_file(&mut self, walk: &mut Walk<'_>, item: u32, rel: &Path, content: &[Id]) -> bool {
        let mut offset = 0u64;
        let mut only_pack: Option<Id> = None;
        let mut owned = !content.is_empty();
        for id in content {
            let Some(loc) = walk.repo.index().get(BlobType::Data, id) else {
                self.errors.push(ItemError {
                    path: rel.to_path_buf(),
                    message: format!("data blob {id} not found in index"),
                });
                owned = false;
                break;
            };
            if let Err(e) = entry_end(id, &loc) {
                self.errors.push(ItemError {
                    path: rel.to_path_buf(),
                    message: e.to_string(),
                });
                owned = false;
                break;
            }
            owned &= *only_pack.get_or_insert(loc.pack) == loc.pack;
            let target = Target { item, offset };
            offset = offset.saturating_add(loc.data_length());
            let planned = walk.jobs.find(id, &mut self.packs);
            match planned {
                Some(job) => job.more.get_or_insert_with(Box::default).push(target),
                None => {
                    let p = *walk.packs.entry(loc.pack).or_insert_with(|| {
                        self.packs.push((loc.pack, Vec::new()));
                        self.packs.len() - 1
                    });
                    let Some((_, list)) = self.packs.get_mut(p) else {
                        continue;
                    };
                    let slot = (p as u32, list.len() as u32);
                    list.push(BlobJob::new(*id, loc, target));
                    walk.jobs.insert(id, slot);
                }
            }
        }
        self.bytes = self.bytes.saturating_add(offset);
        owned
    }

    /// Counts of what the plan restores.
    pub fn stats(&self) -> RestoreStats {
        let mut s = RestoreStats {
            bytes: self.bytes,
            files: self.kept_counts.0,
            others: self.kept_counts.1,
            files_skipped: self.skipped.0,
            bytes_skipped: self.skipped.1,
            ..Default::default()
        };
        for item in self.items.iter().filter(|i| i.selected) {
            match item.node.kind {
                NodeType::Dir => s.dirs += 1,
                NodeType::File => s.files += 1,
                _ => s.others += 1,
            }
        }
        s
    }

    /// Reports item `i` done, when the front end lists items.
    fn report(&self, i: usize, progress: &dyn Progress) {
        let Some(item) = self.items.get(i).filter(|it| it.selected) else {
            return;
        };
        if !progress.wants_items() {
            return;
        }
        let action = match (item.content_kept, item.replaces) {
            (true, _) => RestoreAction::Unchanged,
            (false, true) => RestoreAction::Updated,
            (false, false) => RestoreAction::Restored,
        };
        let is_file = item.node.kind == NodeType::File;
        progress.restored(&RestoredItem {
            path: &item.rel,
            is_file,
            action,
            size: if is_file && item.link_to.is_none() {
                item.node.size
            } else {
                0
            },
        });
    }

    /// Reports what the overwrite rule leaves as it stands, when the
    /// front end lists items.
    pub fn report_kept(&self, progress: &dyn Progress) {
        if !progress.wants_items() {
            return;
        }
        for k in &self.kept {
            progress.restored(&RestoredItem {
                path: &k.rel,
                is_file: k.size.is_some(),
                action: RestoreAction::Unchanged,
                size: k.size.unwrap_or(0),
            });
        }
    }

    /// Reports every item as a restore would (a dry run), when the front
    /// end lists items.
    pub fn report_all(&self, progress: &dyn Progress) {
        self.report_kept(progress);
        for i in 0..self.items.len() {
            self.report(i, progress);
        }
    }

    fn error(&self, item: usize, message: impl Into<String>) -> ItemError {
        ItemError {
            path: self.items[item].rel.to_path_buf(),
            message: message.into(),
        }
    }

    /// Creates every directory and every empty file, link and special file;
    /// files are given their blocks unless the restore is `sparse`.
    pub fn create_nodes(&mut self, target: &Path, sparse: bool) -> Vec<ItemError> {
        let mut errors = std::mem::take(&mut self.errors);
        for (i, item) in self.items.iter().enumerate() {
            if item.link_to.is_some() || item.owned || item.content_kept {
                continue;
            }
            let path = target.join(&item.rel);
            if let Err(e) = apply::create(&path, &item.node, !sparse) {
                errors.push(self.error(i, e.to_string()));
            }
        }
        errors
    }

    /// Reads every needed pack once and writes its blobs to their files;
    /// files owned by a pack are also finished (metadata applied) by it.
    pub fn write_contents(
        &self,
        repo: &IndexedRepository,
        target: &Path,
        opts: &RestoreOptions,
        owners: bool,
        progress: &dyn Progress,
    ) -> Vec<ItemError> {
        let errors = Mutex::new(Vec::new());
        let next = AtomicUsize::new(0);
        // Each worker takes the next pack until none is left, with blob
        // buffers that live as long as the worker: buffers made per pack
        // (or per piece of work, as rayon's `for_each_init` makes them)
        // were freed and trimmed back to the system, and every blob's
        // pages faulted in and were zeroed again.
        let work = || {
            // Reserved once at the size most blobs fit in (pages are only
            // taken as blobs fill them): grown blob by blob, each move left
            // the old block behind in the thread's heap, resident, and
            // copied the new one. A larger blob grows its buffer for itself
            // alone ([`PackReader::shed`]). Huge pages where whole ones fit:
            // every byte restored passes through these buffers several
            // times (read, authenticated, decrypted, hashed, written).
            let buffer = || {
                let mut v = Vec::with_capacity(KEPT_BUFFER);
                hbk_crypto::memory::huge_pages(&mut v);
                v
            };
            let mut sealed = [buffer(), buffer()];
            let mut plain = [buffer(), buffer()];
            while let Some((pack, jobs)) = self.packs.get(next.fetch_add(1, Ordering::Relaxed)) {
                let mut reader = PackReader {
                    plan: self,
                    repo,
                    pack,
                    progress,
                    errors: &errors,
                    files: OpenFiles {
                        plan: self,
                        target,
                        progress,
                        owners,
                        sparse: opts.sparse,
                        open: HashMap::new(),
                        unfinished: HashMap::new(),
                    },
                    sealed,
                    plain,
                };
                for run in read_runs(jobs, MAX_STREAM) {
                    reader.stream(run);
                }
                reader.files.close_all();
                (sealed, plain) = (reader.sealed, reader.plain);
            }
        };
        let run = || rayon::broadcast(|_| work());
        crate::pool::install(opts.workers, run);
        errors.into_inner().unwrap_or_default()
    }

    /// Removes directories (with all they hold) where the snapshot has a
    /// non-directory, so it can be created (`delete`).
    pub fn clear_replaced_dirs(&self, target: &Path) -> Vec<ItemError> {
        let mut errors = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            if item.node.kind == NodeType::Dir {
                continue;
            }
            let path = target.join(&item.rel);
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                if let Err(e) = fs::remove_dir_all(&path) {
                    errors.push(self.error(i, format!("removing directory in the way: {e}")));
                }
            }
        }
        errors
    }

    /// Deletes (or, in a `dry_run`, only lists) what the restored
    /// directories hold that the snapshot does not, as far as `selection`
    /// selects it; returns what went, relative to `target`.
    pub fn delete_extra(
        &self,
        target: &Path,
        selection: &Selection,
        dry_run: bool,
    ) -> (Vec<PathBuf>, Vec<ItemError>) {
        let known: std::collections::HashSet<&Path> = self
            .items
            .iter()
            .map(|i| &*i.rel)
            .chain(self.kept.iter().map(|k| &*k.rel))
            .collect();
        let dirs = std::iter::once(Path::new("")).chain(
            self.items
                .iter()
                .filter(|i| i.node.kind == NodeType::Dir)
                .map(|i| &*i.rel),
        );
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for dir in dirs {
            let Ok(entries) = fs::read_dir(target.join(dir)) else {
                continue;
            };
            let mut extra: Vec<PathBuf> = entries
                .flatten()
                .map(|e| dir.join(e.file_name()))
                .filter(|rel| !known.contains(rel.as_path()))
                .filter(|rel| {
                    let mut snapshot_path = b"/".to_vec();
                    snapshot_path.extend_from_slice(rel.as_os_str().as_bytes());
                    selection.decide(&snapshot_path).0
                })
                .collect();
            extra.sort();
            for rel in extra {
                let path = target.join(&rel);
                let removed = match (dry_run, fs::symlink_metadata(&path)) {
                    (true, _) => Ok(()),
                    (false, Ok(m)) if m.is_dir() => fs::remove_dir_all(&path),
                    (false, _) => fs::remove_file(&path),
                };
                match removed {
                    Ok(()) => deleted.push(rel),
                    Err(e) => errors.push(ItemError {
                        path: rel,
                        message: format!("deleting: {e}"),
                    }),
                }
            }
        }
        (deleted, errors)
    }

    /// Creates the second and later names of hardlinked files.
    pub fn link_hardlinks(&self, target: &Path, progress: &dyn Progress) -> Vec<ItemError> {
        let mut errors = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            if let Some(first) = item.link_to {
                let path = target.join(&item.rel);
                let _ = fs::remove_file(&path);
                match fs::hard_link(target.join(&self.items[first as usize].rel), &path) {
                    Ok(()) => self.report(i, progress),
                    Err(e) => errors.push(self.error(i, format!("creating hardlink: {e}"))),
                }
            }
        }
        errors
    }

    /// Applies owners, xattrs, modes and times: non-directories first, then
    /// directories from the deepest up.
    pub fn apply_metadata(
        &self,
        target: &Path,
        owners: bool,
        progress: &dyn Progress,
    ) -> Vec<ItemError> {
        let mut errors = Vec::new();
        let mut dirs = Vec::new();
        for (i, item) in self.items.iter().enumerate() {
            if !item.selected
                || item.link_to.is_some()
                || item.metadata_done.load(Ordering::Relaxed)
            {
                continue;
            }
            if item.node.kind == NodeType::Dir {
                dirs.push(i);
                continue;
            }
            match apply::metadata(&target.join(&item.rel), &item.node, owners) {
                Ok(()) => self.report(i, progress),
                Err(e) => errors.push(self.error(i, e.to_string())),
            }
        }
        dirs.sort_by_key(|&i| std::cmp::Reverse(self.items[i].rel.components().count()));
        for i in dirs {
            let item = &self.items[i];
            match apply::metadata(&target.join(&item.rel), &item.node, owners) {
                Ok(()) => self.report(i, progress),
                Err(e) => errors.push(self.error(i, e.to_string())),
            }
        }
        errors
    }

    /// Reads every restored file back and checks each blob's hash.
    pub fn verify(
        &self,
        repo: &IndexedRepository,
        target: &Path,
        workers: usize,
    ) -> (u64, Vec<ItemError>) {
        let check = |i: usize| -> std::result::Result<(), String> {
            let item = &self.items[i];
            let mut f = File::open(target.join(&item.rel)).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            for id in self.contents.get(i).into_iter().flat_map(|c| c.iter()) {
                let loc = repo
                    .index()
                    .get(BlobType::Data, id)
                    .ok_or_else(|| format!("data blob {id} not found in index"))?;
                buf.resize(loc.data_length() as usize, 0);
                f.read_exact(&mut buf).map_err(|e| format!("verify: {e}"))?;
                if Id::hash(&buf) != *id {
                    return Err(format!("verify: content differs from blob {id}"));
                }
            }
            let mut rest = [0u8; 1];
            if f.read(&mut rest).map_err(|e| e.to_string())? != 0 {
                return Err("verify: file is longer than in the snapshot".into());
            }
            Ok(())
        };
        let files: Vec<usize> = (0..self.items.len())
            .filter(|&i| {
                self.items[i].node.kind == NodeType::File && self.items[i].link_to.is_none()
            })
            .collect();
        let run = || {
            files
                .par_iter()
                .map(|&i| check(i).map_err(|m| self.error(i, m)))
                .collect::<Vec<_>>()
        };
        let results = crate::pool::install(workers, run);
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        (ok, results.into_iter().filter_map(|r| r.err()).collect())
    }
}

/// Where a job's bytes end in its pack. Jobs are planned only when
/// [`entry_end`] accepts them, so the sum does not overflow; saturating
/// keeps this total anyway.
fn job_end(job: &BlobJob) -> u64 {
    job.loc.offset.saturating_add(u64::from(job.loc.length))
}

/// Where the bytes of a run end: the furthest end of any of its jobs (an
/// earlier entry may reach past a later one when the index is damaged).
fn run_end(run: &[BlobJob]) -> u64 {
    run.iter().map(job_end).max().unwrap_or(0)
}

/// Splits a pack's sorted jobs into runs that are read with one request,
/// each spanning at most `max_read` bytes.
fn read_runs(jobs: &[BlobJob], max_read: u64) -> impl Iterator<Item = &[BlobJob]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = jobs.get(start)?.loc.offset;
        let mut reach = jobs.get(start).map_or(first, job_end);
        let mut end = start + 1;
        while let Some(next) = jobs.get(end) {
            let gap = next.loc.offset.saturating_sub(reach);
            let span = job_end(next).max(reach).saturating_sub(first);
            if gap > MAX_GAP || span > max_read {
                break;
            }
            reach = reach.max(job_end(next));
            end += 1;
        }
        let run = jobs.get(start..end)?;
        start = end;
        Some(run)
    })
}

/// One worker's reading of one pack: blobs are read, decrypted, checked
/// and written to every place that wants them.
struct PackReader<'p> {
    plan: &'p RestorePlan,
    repo: &'p IndexedRepository,
    pack: &'p Id,
    progress: &'p dyn Progress,
    errors: &'p Mutex<Vec<ItemError>>,
    files: OpenFiles<'p>,
    /// The sealed bytes of the blobs being read, two at a time (reused).
    sealed: [Vec<u8>; 2],
    /// Compressed blobs' plaintext (reused).
    plain: [Vec<u8>; 2],
}

impl PackReader<'_> {
    /// Records `message` for every file that wanted `job`'s blob.
    fn fail(&self, job: &BlobJob, message: String) {
        for t in job.targets() {
            self.record(t.item, message.clone());
        }
    }

    /// Records a problem with item `item`.
    fn record(&self, item: u32, message: String) {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.plan.error(item as usize, message));
    }

    /// Reads `run` with one streamed request, blob by blob, so memory
    /// stays at one blob whatever the run's size. Runs whose entries
    /// overlap or are implausibly large (a damaged index), and the rest
    /// of a run whose stream broke, are read with bounded, retried
    /// buffered reads instead.
    fn stream(&mut self, run: &[BlobJob]) {
        let (Some(first), true) = (run.first(), streamable(run)) else {
            return self.buffered(run);
        };
        let start = first.loc.offset;
        let length = run_end(run).saturating_sub(start);
        let backend = self.repo.backend();
        let mut stream = match backend.read_range_stream(FileType::Pack, self.pack, start, length) {
            Ok(s) => s,
            Err(e) => {
                for job in run {
                    self.fail(job, format!("reading pack {}: {e}", self.pack));
                }
                return;
            }
        };
        // Blobs that fit the kept buffers two at a time, so that their
        // ids are hashed together; larger ones one at a time, so that a
        // worker holds at most two large buffers.
        let mut pos = start;
        let mut rest = run;
        while !rest.is_empty() {
            let at = rest;
            let pair = matches!(rest, [a, b, ..] if paired(a) && paired(b));
            let (jobs, tail) = rest.split_at(if pair { 2 } else { 1 });
            rest = tail;
            let mut sealed = std::mem::take(&mut self.sealed);
            let mut plain = std::mem::take(&mut self.plain);
            let key = self.repo.key();
            match read_and_open(
                stream.as_mut(),
                &mut pos,
                key,
                jobs,
                &mut sealed,
                &mut plain,
            ) {
                Some(opened) => self.deliver_opened(jobs, opened),
                None => {
                    (self.sealed, self.plain) = (sealed, plain);
                    drop(stream);
                    return self.buffered(at);
                }
            }
            (self.sealed, self.plain) = (sealed, plain);
            self.shed();
        }
    }

    /// Lets go of the buffers a blob of more than [`KEPT_BUFFER`] bytes
    /// grew: kept, every worker's buffers would soon all be as large as
    /// the largest blob (a restore's peak went from 97 to 112 MB), while
    /// freed they go back to the system at once (the allocator maps
    /// blocks this large on their own).
    fn shed(&mut self) {
        for buf in self.sealed.iter_mut().chain(self.plain.iter_mut()) {
            if buf.capacity() > KEPT_BUFFER {
                *buf = Vec::new();
            }
        }
    }

    /// Reads `run` in buffered pieces of at most [`MAX_READ`] bytes.
    fn buffered(&mut self, run: &[BlobJob]) {
        for piece in read_runs(run, MAX_READ) {
            let Some(first) = piece.first() else {
                continue;
            };
            let start = first.loc.offset;
            let length = run_end(piece).saturating_sub(start);
            let mut buf =
                match self
                    .repo
                    .backend()
                    .read_range(FileType::Pack, self.pack, start, length)
                {
                    Ok(b) => b,
                    Err(e) => {
                        for job in piece {
                            self.fail(job, format!("reading pack {}: {e}", self.pack));
                        }
                        continue;
                    }
                };
            let ranges = cut(start, buf.len(), piece.iter().map(|j| (&j.id, &j.loc)));
            for (job, range) in piece.iter().zip(ranges) {
                let sealed = match range {
                    Ok(r) => buf.get_mut(r),
                    Err(e) => {
                        self.fail(job, e.to_string());
                        continue;
                    }
                };
                match sealed {
                    Some(sealed) => self.deliver(job, sealed),
                    None => self.fail(
                        job,
                        format!("data blob {} lies outside pack {}", job.id, self.pack),
                    ),
                }
            }
            self.shed();
        }
    }

    /// Decrypts and checks one blob and writes it to all its places.
    fn deliver(&mut self, job: &BlobJob, sealed: &mut [u8]) {
        let key = self.repo.key();
        let [mut plain, other] = std::mem::take(&mut self.plain);
        let ulen = job.loc.uncompressed_length;
        let opened = open_blob_in_place(key, ulen, sealed, &mut plain);
        self.deliver_opened(std::slice::from_ref(job), vec![opened]);
        self.plain = [plain, other];
    }

    /// Checks and writes opened blobs (one or two), the ids of two hashed
    /// together.
    fn deliver_opened(&mut self, jobs: &[BlobJob], opened: Opened<'_>) {
        let paired = match opened.as_slice() {
            [Ok(x), Ok(y)] => {
                let (i, j) = Id::hash_pair(x, y);
                [Some(i), Some(j)]
            }
            _ => [None, None],
        };
        for ((job, blob), id) in jobs.iter().zip(opened).zip(paired) {
            let id = |data: &[u8]| id.unwrap_or_else(|| Id::hash(data));
            self.write_checked(job, blob.map(|data| (data, id(data))));
        }
    }

    /// Writes an opened blob, with the hash of its plaintext, to all its
    /// places once the hash is its id, or records why it cannot be.
    fn write_checked(
        &mut self,
        job: &BlobJob,
        opened: std::result::Result<(&[u8], Id), BlobError>,
    ) {
        let checked =
            opened.and_then(|(data, actual)| check_blob_id(&job.id, actual).map(|()| data));
        match checked {
            Ok(data) => self.write_blob(job, data),
            Err(e) => {
                let pack = self.pack;
                self.fail(job, format!("data blob {} in pack {pack}: {e}", job.id));
            }
        }
    }

    /// Writes a checked blob's plaintext to all its places.
    fn write_blob(&mut self, job: &BlobJob, data: &[u8]) {
        let hole = self.files.sparse && data.iter().all(|b| *b == 0);
        let len = data.len() as u64;
        for t in job.targets() {
            let bytes = if hole { None } else { Some(data) };
            if let Err(e) = self.files.write(t.item as usize, bytes, t.offset) {
                self.record(t.item, e.to_string());
                continue;
            }
            self.progress.bytes_done(len);
        }
    }
}

/// Reads `job`'s sealed bytes from `stream`, which is at `pos` in the
/// pack, into the start of `buf`, skipping the gap before them. `buf` is
/// not shortened for a smaller blob, so a reused buffer is not cleared
/// again for every blob (one grown above [`KEPT_BUFFER`] is let go after
/// its blob, [`PackReader::shed`]).
fn read_blob(
    stream: &mut (dyn Read + Send + '_),
    pos: &mut u64,
    job: &BlobJob,
    buf: &mut Vec<u8>,
) -> std::io::Result<()> {
    let gap = job.loc.offset.saturating_sub(*pos);
    let len = sealed_len(job);
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let skipped = std::io::copy(&mut (&mut *stream).take(gap), &mut std::io::sink())?;
    if skipped != gap {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    stream.read_exact(&mut buf[..len])?;
    *pos = job_end(job);
    Ok(())
}

/// Blobs read and opened together: each one's plaintext, or why it
/// could not be opened.
type Opened<'b> = Vec<std::result::Result<&'b [u8], BlobError>>;

/// Reads `jobs`' blobs (one or two) from `stream`, each opened
/// (authenticated, decrypted, decompressed) right after it is read, while
/// its bytes are still in the cache: reading the second first pushed the
/// first out of it. `None` when the stream fails.
fn read_and_open<'b>(
    stream: &mut (dyn Read + Send + '_),
    pos: &mut u64,
    key: &hbk_repo::Key,
    jobs: &[BlobJob],
    sealed: &'b mut [Vec<u8>; 2],
    plain: &'b mut [Vec<u8>; 2],
) -> Option<Opened<'b>> {
    let mut opened = Vec::with_capacity(jobs.len());
    for ((job, s), p) in jobs.iter().zip(sealed.iter_mut()).zip(plain.iter_mut()) {
        read_blob(stream, pos, job, s).ok()?;
        let ulen = job.loc.uncompressed_length;
        opened.push(open_blob_in_place(key, ulen, filled(s, job), p));
    }
    Some(opened)
}

/// Whether `job`'s blob is small enough to be opened with another one.
fn paired(job: &BlobJob) -> bool {
    let plain = job.loc.uncompressed_length.map_or(0, |n| n.get() as usize);
    sealed_len(job).max(plain) <= KEPT_BUFFER
}

/// How many sealed bytes `job`'s blob takes in its pack.
fn sealed_len(job: &BlobJob) -> usize {
    job.loc.length as usize
}

/// The part of `buf` that [`read_blob`] filled with `job`'s sealed bytes.
fn filled<'b>(buf: &'b mut [u8], job: &BlobJob) -> &'b mut [u8] {
    let len = sealed_len(job).min(buf.len());
    &mut buf[..len]
}

/// Whether a run can be read as one stream: entries in order without
/// overlaps, each of a plausible size.
fn streamable(run: &[BlobJob]) -> bool {
    run.iter().all(|j| u64::from(j.loc.length) <= MAX_BLOB)
        && run
            .windows(2)
            .all(|w| matches!(w, [a, b] if job_end(a) <= b.loc.offset))
}

/// The files one pack worker has open. An owned file (see [`Item::owned`])
/// is created at its first blob and finished at its last: metadata applied
/// through the descriptor, then closed. Other files were created before
/// and are opened for writing only.
struct OpenFiles<'p> {
    plan: &'p RestorePlan,
    target: &'p Path,
    progress: &'p dyn Progress,
    owners: bool,
    sparse: bool,
    /// Open descriptors, at most [`MAX_OPEN_FILES`].
    open: HashMap<usize, File>,
    /// Owned files created by this worker and not finished yet, with the
    /// number of blob writes still to come.
    unfinished: HashMap<usize, usize>,
}

impl OpenFiles<'_> {
    /// Writes `data` (`None`: an all-zero blob left as a hole) at `offset`
    /// of item `item`'s file.
    fn write(&mut self, item: usize, data: Option<&[u8]>, offset: u64) -> std::io::Result<()> {
        let it = &self.plan.items[item];
        let file = match self.open.entry(item) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let path = self.target.join(&it.rel);
                let file = if it.owned && !self.unfinished.contains_key(&item) {
                    let file = apply::create_file(&path, &it.node, !self.sparse)?;
                    self.unfinished.insert(item, it.node.blobs as usize);
                    file
                } else {
                    OpenOptions::new().write(true).open(&path)?
                };
                v.insert(file)
            }
        };
        if let Some(data) = data {
            file.write_all_at(data, offset)?;
        }
        if let Some(left) = self.unfinished.get_mut(&item) {
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.unfinished.remove(&item);
                if let Some(file) = self.open.remove(&item) {
                    if self.sparse {
                        file.set_len(it.node.size)?;
                    }
                    apply::file_metadata(&file, &it.node, self.owners)?;
                    it.metadata_done.store(true, Ordering::Relaxed);
                    self.plan.report(item, self.progress);
                }
            }
        }
        if self.open.len() > MAX_OPEN_FILES {
            self.close_all();
        }
        Ok(())
    }

    /// Closes every open file. An owned file not finished yet (a blob of
    /// it failed, or it is evicted to bound the open descriptors) gets its
    /// final size now, so it looks as pre-created files do; its metadata
    /// is applied at the end of the restore, with the other files.
    fn close_all(&mut self) {
        for (item, file) in self.open.drain() {
            if self.unfinished.contains_key(&item) {
                let _ = file.set_len(self.plan.items[item].node.size);
            }
        }
    }
}

#[cfg(test)]
mod tests;
