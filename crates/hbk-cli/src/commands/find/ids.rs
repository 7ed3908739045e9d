//! `find --blob/--tree/--pack`: where objects occur, by id.

use super::args::FindArgs;
use crate::exit;
use crate::global::GlobalOpts;
use crate::output::human_time;
use anyhow::Result;
use hbk_engine::commands::find::{find_ids, pack_blobs, IdSearch, IdSet};
use hbk_repo::{mode, BlobType, Id, IndexedRepository, Node, SnapshotFile};
use serde_json::{json, Map, Value};
use std::io::Write;

/// A match as restic's `find --json` prints it: the node's fields with
/// `path` and `permissions` first, without name, inode, attributes,
/// device, content and subtree.
pub(super) fn match_json(path: &[u8], node: &Node) -> Value {
    let mut m = Map::new();
    m.insert("path".into(), json!(String::from_utf8_lossy(path)));
    m.insert("permissions".into(), json!(mode::to_string(node.mode)));
    if let Ok(Value::Object(fields)) = serde_json::to_value(node) {
        for (k, v) in fields {
            let hidden = matches!(
                k.as_str(),
                "name" | "inode" | "extended_attributes" | "device" | "content" | "subtree"
            );
            if !hidden {
                m.insert(k, v);
            }
        }
    }
    Value::Object(m)
}

/// `--blob`, `--tree`, `--pack`: objects by id, in restic 0.14's forms.
pub(super) fn run_ids(
    g: &GlobalOpts,
    a: &FindArgs,
    repo: &IndexedRepository,
    snapshots: &[(Id, SnapshotFile)],
) -> Result<i32> {
    let ids: Vec<String> = a.patterns.iter().map(|p| p.to_lowercase()).collect();
    let mut search = IdSearch::default();
    if a.blob {
        search.blobs = IdSet::new(ids.clone());
    } else if a.tree {
        search.trees = IdSet::new(ids.clone());
    } else {
        search.blobs = IdSet::new(pack_blobs(repo, &ids)?.iter().map(Id::to_hex));
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut objects = Vec::new();
    let mut found = std::collections::BTreeSet::new();
    for (sid, sn) in snapshots {
        let mut lines = Vec::new();
        find_ids(repo, &sn.tree, &mut search, &mut |o| {
            found.insert((o.kind, o.id));
            let kind = if o.kind == BlobType::Tree {
                "tree"
            } else {
                "blob"
            };
            let path = String::from_utf8_lossy(&o.path).into_owned();
            if g.json {
                let mut m = Map::new();
                m.insert("object_type".into(), json!(kind));
                m.insert("id".into(), json!(o.id.to_hex()));
                m.insert("path".into(), json!(path));
                if let Some(t) = o.parent_tree {
                    m.insert("parent_tree".into(), json!(t.to_hex()));
                }
                m.insert("snapshot".into(), json!(sid.to_hex()));
                m.insert(
                    "time".into(),
                    serde_json::to_value(sn.time).unwrap_or(Value::Null),
                );
                objects.push(Value::Object(m));
                return;
            }
            lines.push(format!("Found {kind} {}", o.id));
            match o.parent_tree {
                Some(t) => {
                    lines.push(format!(" ... in file {path}"));
                    lines.push(format!("     (tree {t})"));
                }
                None => lines.push(format!(" ... path {path}")),
            }
            lines.push(format!(
                " ... in snapshot {} ({})",
                sid.short(),
                human_time(&sn.time)
            ));
        })?;
        for l in lines {
            writeln!(out, "{l}")?;
        }
    }
    if g.json {
        writeln!(out, "{}", Value::Array(objects))?;
    }
    if a.show_pack_id && !a.pack {
        // restic lists the ids as given; a blob found by its short id is
        // shown by its full id.
        let mut listed: Vec<(BlobType, String)> = Vec::new();
        if a.blob {
            for given in &ids {
                let full = found
                    .iter()
                    .find(|(k, id)| *k == BlobType::Data && id.short() == *given)
                    .map(|(_, id)| id.to_hex());
                listed.push((BlobType::Data, full.unwrap_or_else(|| given.clone())));
            }
        } else {
            listed.extend(ids.iter().map(|i| (BlobType::Tree, i.clone())));
        }
        for (kind, given) in &listed {
            writeln!(out, "{}", pack_of(repo, *kind, given))?;
        }
    }
    out.flush()?;
    Ok(exit::OK)
}

/// restic's `--show-pack-id` line(s) for one id as given.
pub(super) fn pack_of(repo: &IndexedRepository, kind: BlobType, given: &str) -> String {
    let id: Id = match given.parse() {
        Ok(id) => id,
        Err(_) => {
            return format!(
                "Note: cannot find pack for object '{given}', unable to parse ID: invalid length for hash"
            )
        }
    };
    let Some(loc) = repo.index().get(kind, &id) else {
        return format!("Object {} not found in the index", id.short());
    };
    let t = if kind == BlobType::Tree {
        "tree"
    } else {
        "data"
    };
    let mut desc = format!(
        "<Blob ({t}) {}, offset {}, length {}",
        id.short(),
        loc.offset,
        loc.length
    );
    if let Some(u) = loc.uncompressed_length {
        desc.push_str(&format!(", uncompressed length {u}"));
    }
    format!(
        "Object belongs to pack {}\n ... Pack {}: {desc}>",
        loc.pack,
        loc.pack.short()
    )
}
