//! `hbk key`: list, add, remove and change passwords, as restic 0.14 does.
//!
//! Locks as restic 0.14 takes them: shared for `list` and `add`, exclusive
//! for `remove` and `passwd`.

use std::io::{BufRead, IsTerminal};

use anyhow::{bail, Context, Result};
use hbk_engine::commands::key::{add_key, change_password, remove_key, NewKeyOptions};
use hbk_repo::FileType;
use serde_json::json;

use crate::global::GlobalOpts;
use crate::output::table;
use crate::{exit, repo};
use hbk_engine::lock::LockKind;

mod args;

pub use args::*;

/// Key management.
pub fn run(g: &GlobalOpts, a: KeyArgs) -> Result<i32> {
    match a.command {
        KeyCommand::List => list(g),
        KeyCommand::Add(a) => add(g, a),
        KeyCommand::Remove(a) => remove(g, a),
        KeyCommand::Passwd(a) => passwd(g, a),
    }
}

fn list(g: &GlobalOpts) -> Result<i32> {
    let (repo, _lock) = repo::open_read(g)?;
    let mut keys = Vec::new();
    for (id, _) in repo.list(FileType::Key)? {
        let kf = repo.load_key_file(&id)?.file;
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

fn options(a: &NewKeyArgs) -> NewKeyOptions {
    NewKeyOptions {
        username: a.user.clone(),
        hostname: a.host.clone(),
        allow_empty_password: a.new_insecure_no_password,
        ..Default::default()
    }
}

fn add(g: &GlobalOpts, a: NewKeyArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let lock = crate::repo::lock(g, &repo, LockKind::Shared)?;
    let pw = new_password(g, &a)?;
    let id =
        add_key(&repo, &lock, pw.as_bytes(), &options(&a)).context("creating new key failed")?;
    if !g.quiet {
        println!("saved new key as {id}");
    }
    Ok(exit::OK)
}

fn remove(g: &GlobalOpts, a: RemoveKeyArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let id = match hbk_engine::snapshots::find_id(&repo, FileType::Key, &a.id) {
        Ok(id) if repo.list(FileType::Key)?.iter().any(|(k, _)| *k == id) => id,
        Ok(_) | Err(hbk_engine::Error::SnapshotNotFound(_)) => {
            // restic prints these two without "Fatal:".
            eprintln!("no matching ID found for prefix {:?}", a.id);
            return Ok(exit::ERROR);
        }
        Err(hbk_engine::Error::AmbiguousSnapshot(_)) => {
            eprintln!("multiple IDs with prefix {:?} found", a.id);
            return Ok(exit::ERROR);
        }
        Err(e) => return Err(e.into()),
    };
    remove_key(&repo, &lock, &id)?;
    if !g.quiet {
        println!("removed key {id}");
    }
    Ok(exit::OK)
}

fn passwd(g: &GlobalOpts, a: NewKeyArgs) -> Result<i32> {
    let repo = repo::open(g)?;
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let pw = new_password(g, &a)?;
    let id = change_password(&repo, &lock, pw.as_bytes(), &options(&a))?;
    if !g.quiet {
        println!("saved new key as {id}");
    }
    Ok(exit::OK)
}

/// The new password, as restic 0.14 reads it: the whole file with
/// surrounding white space trimmed; else, on a terminal, typed twice;
/// else the first line of standard input.
fn new_password(g: &GlobalOpts, a: &NewKeyArgs) -> Result<String> {
    if a.new_insecure_no_password {
        return Ok(String::new());
    }
    let pw = match a.new_password_file.as_deref() {
        Some(f) => match std::fs::read(f) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bail!("{} does not exist", f.display())
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", f.display())),
        },
        None if std::io::stdin().is_terminal() => {
            let first = rpassword::prompt_password("enter new password: ")
                .context("reading password from terminal")?;
            let again = rpassword::prompt_password("enter password again: ")
                .context("reading password from terminal")?;
            if first != again {
                bail!("passwords do not match");
            }
            first
        }
        None => {
            if !g.quiet {
                println!("reading repository password from stdin");
            }
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if pw.is_empty() {
        bail!("an empty password is not a password");
    }
    Ok(pw)
}
