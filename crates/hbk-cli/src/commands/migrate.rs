//! `hbk migrate`: list or apply repository migrations (restic's
//! `upgrade_repo_v2`).

use anyhow::Result;
use clap::Args;
use hbk_engine::commands::migrate::{applicable, upgrade_repo_v2, UPGRADE_REPO_V2};
use hbk_engine::lock::LockKind;

use crate::global::GlobalOpts;
use crate::{exit, repo};

/// `migrate`.
#[derive(Args, Debug)]
pub struct MigrateArgs {
    /// Migrations to apply (none: list the ones that apply).
    pub names: Vec<String>,
    /// Apply a migration even when its check says it does not apply.
    #[arg(short, long)]
    pub force: bool,
}

/// Lists or applies migrations.
pub fn run(g: &GlobalOpts, a: MigrateArgs) -> Result<i32> {
    let mut repo = repo::open(g)?;
    let lock = crate::repo::lock(g, &repo, LockKind::Exclusive)?;
    let candidates = applicable(&repo);
    if a.names.is_empty() {
        println!("available migrations:");
        let open: Vec<_> = candidates.iter().filter(|(_, why)| why.is_none()).collect();
        for (m, _) in &open {
            println!("  {}\t{}", m.name, m.description);
        }
        if open.is_empty() {
            println!("no migrations found");
        }
        return Ok(exit::OK);
    }
    let mut first_error = None;
    for name in &a.names {
        let Some((m, refusal)) = candidates.iter().find(|(m, _)| m.name == name) else {
            eprintln!("unknown migration {name}");
            continue;
        };
        if let Some(why) = refusal {
            if !a.force {
                eprintln!(
                    "migration {} cannot be applied: {why}\nIf you want to apply this migration anyway, re-run with option --force",
                    m.name
                );
                continue;
            }
            eprintln!("check for migration {} failed, continuing anyway", m.name);
        }
        if !g.quiet {
            println!("checking repository integrity...");
            println!("applying migration {}...", m.name);
        }
        debug_assert_eq!(m.name, UPGRADE_REPO_V2);
        let backup_dir = std::env::temp_dir().join(format!(
            "hbk-migrate-upgrade-repo-v2-{}",
            std::process::id()
        ));
        match upgrade_repo_v2(repo.clone(), &lock, &backup_dir) {
            Ok(upgraded) => {
                repo = upgraded;
                let _ = std::fs::remove_dir(&backup_dir);
                if !g.quiet {
                    println!("migration {}: success", m.name);
                }
            }
            Err(e) => {
                eprintln!("migration {} failed: {e}", m.name);
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(exit::OK),
    }
}
