//! The top of a snapshot's tree: how backup targets are placed in it.
//! Every path in the result is absolute, so exclude patterns see absolute
//! paths as they do in restic.
//!
//! Like restic, an absolute target keeps its whole path (`/srv/data`
//! becomes `srv` → `data`, with the intermediate directories recorded from
//! the real ones), a relative target keeps its relative path without `.`
//! and `..` parts, and a target that is the current directory puts its
//! contents at the root. Two targets with the same name get `-1`, `-2`, …
//! suffixes.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// One entry of the virtual top of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualEntry {
    /// A backup target, archived in full.
    Target(PathBuf),
    /// An intermediate directory leading to targets; its metadata comes
    /// from `path`.
    Dir {
        /// The real directory.
        path: PathBuf,
        /// What lies below it.
        children: BTreeMap<Vec<u8>, VirtualEntry>,
    },
}

/// The top of the tree: either one target whose contents form the root,
/// or a directory of virtual entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualRoot {
    /// The root tree is this directory's contents.
    Target(PathBuf),
    /// The root tree holds these entries.
    Entries(BTreeMap<Vec<u8>, VirtualEntry>),
}

/// Normalises a path lexically: no `.`, no duplicate separators, `..`
/// folded where possible.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() && !p.is_absolute() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// The absolute, cleaned form of a target, as stored in the snapshot.
pub fn absolute(p: &Path) -> Result<PathBuf> {
    if p.is_absolute() {
        return Ok(clean(p));
    }
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    Ok(clean(&cwd.join(p)))
}

/// Splits `targets` into those that exist and those that do not, keeping
/// their order. Like restic, a missing target is skipped with a warning
/// and a backup with no target left is refused, so it never writes an
/// empty snapshot that could push real ones out of a `keep-last` policy.
/// Only "not found" counts as missing: a target that cannot be examined
/// for another reason (permissions) stays, and the archiver reports it.
pub fn split_missing(targets: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    targets.iter().cloned().partition(|t| {
        !matches!(std::fs::symlink_metadata(t), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
    })
}

/// Builds the virtual root for `targets` (as given by the user).
pub fn build(targets: &[PathBuf]) -> Result<VirtualRoot> {
    if targets.is_empty() {
        return Err(Error::invalid(
            "paths",
            "nothing to back up: no paths given",
        ));
    }
    let mut root: BTreeMap<Vec<u8>, VirtualEntry> = BTreeMap::new();
    for t in targets {
        let cleaned = clean(t);
        let comps: Vec<&OsStr> = cleaned
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        if comps.is_empty() {
            if targets.len() > 1 {
                return Err(Error::invalid(
                    "paths",
                    format!("{} cannot be combined with other targets", t.display()),
                ));
            }
            return Ok(VirtualRoot::Target(absolute(&cleaned)?));
        }
        insert(&mut root, &cleaned, &comps)?;
    }
    Ok(VirtualRoot::Entries(root))
}

fn insert(map: &mut BTreeMap<Vec<u8>, VirtualEntry>, full: &Path, comps: &[&OsStr]) -> Result<()> {
    let mut map = map;
    let mut prefix = if full.is_absolute() {
        PathBuf::from("/")
    } else {
        // Keep leading `..` parts so intermediate directories resolve.
        full.components()
            .take_while(|c| matches!(c, Component::ParentDir))
            .collect()
    };
    for (i, name) in comps.iter().enumerate() {
        prefix.push(name);
        let key = name.as_bytes().to_vec();
        if i + 1 == comps.len() {
            let mut unique = key.clone();
            let mut n = 0;
            while map.contains_key(&unique) {
                if map.get(&unique) == Some(&VirtualEntry::Target(absolute(&prefix)?)) {
                    return Ok(());
                }
                n += 1;
                unique = [key.as_slice(), format!("-{n}").as_bytes()].concat();
            }
            map.insert(unique, VirtualEntry::Target(absolute(&prefix)?));
            return Ok(());
        }
        let dir_path = absolute(&prefix)?;
        let entry = map.entry(key.clone()).or_insert_with(|| VirtualEntry::Dir {
            path: dir_path,
            children: BTreeMap::new(),
        });
        match entry {
            VirtualEntry::Dir { children, .. } => map = children,
            // A target already covers this directory: the deeper one is
            // inside it and is archived with it.
            VirtualEntry::Target(_) => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let r = build(&["/srv/data".into(), "/srv/other".into()]).unwrap();
        let VirtualRoot::Entries(m) = r else { panic!() };
        let VirtualEntry::Dir { path, children } = &m[&b"srv".to_vec()] else {
            panic!()
        };
        assert_eq!(path, Path::new("/srv"));
        assert_eq!(children.len(), 2);
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            build(&[".".into()]).unwrap(),
            VirtualRoot::Target(cwd.clone())
        );
        let r = build(&["a/x".into(), "b/x".into()]).unwrap();
        let VirtualRoot::Entries(m) = r else { panic!() };
        assert_eq!(m.len(), 2);
        let r = build(&["../q".into()]).unwrap();
        let VirtualRoot::Entries(m) = r else { panic!() };
        assert_eq!(
            m[&b"q".to_vec()],
            VirtualEntry::Target(clean(&cwd.join("../q")))
        );
        assert_eq!(clean(Path::new("/a/./b/../c//")), PathBuf::from("/a/c"));
    }
}
