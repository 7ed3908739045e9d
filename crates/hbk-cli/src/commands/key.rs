//! `hbk key`.

use anyhow::Result;
use hbk_repo::{FileType, KeyFile};
use serde_json::json;

use crate::cli::{GlobalOpts, KeyArgs, KeyCommand};
use crate::output::table;
use crate::{exit, repo};

/// Key management.
pub fn run(g: &GlobalOpts, a: KeyArgs) -> Result<i32> {
    match a.command {
        KeyCommand::List => list(g),
    }
}

fn list(g: &GlobalOpts) -> Result<i32> {
    let repo = repo::open(g)?;
    let mut keys = Vec::new();
    for (id, _) in repo.list(FileType::Key)? {
        let kf = KeyFile::from_json(&repo.load_raw(FileType::Key, &id)?)?;
        keys.push((id, kf));
    }
    keys.sort_by_key(|k| k.1.created);
    if g.json {
        let arr: Vec<_> = keys
            .iter()
            .map(|(id, k)| {
                json!({
                    "current": *id == repo.key_id(),
                    "id": id.short(),
                    "userName": k.username,
                    "hostName": k.hostname,
                    "created": k.created.map(|t| crate::output::human_time(&t)).unwrap_or_default(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string(&arr)?);
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|(id, k)| {
            let mark = if *id == repo.key_id() { "*" } else { " " };
            vec![
                format!("{mark}{}", id.short()),
                k.username.clone(),
                k.hostname.clone(),
                k.created
                    .map(|t| crate::output::human_time(&t))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&[" ID", "User", "Host", "Created"], &rows, "");
    Ok(exit::OK)
}
