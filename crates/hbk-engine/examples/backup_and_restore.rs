//! Using hbk as a library: create a repository, back up a directory, list
//! snapshots and restore the latest one, without the CLI.
//!
//! ```sh
//! cargo run -p hbk-engine --example backup_and_restore -- SOURCE_DIR WORK_DIR
//! ```

use std::path::PathBuf;

use hbk_engine::commands::backup::{backup, BackupOptions};
use hbk_engine::commands::init::{init, InitOptions};
use hbk_engine::commands::restore::{restore, RestoreOptions};
use hbk_engine::lock::{LockKind, RepoLock, WriteMode};
use hbk_engine::progress::NoProgress;
use hbk_engine::snapshots::{find_snapshot, list_snapshots, SnapshotFilter};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(source), Some(work)) = (args.next(), args.next()) else {
        eprintln!("usage: backup_and_restore SOURCE_DIR WORK_DIR");
        std::process::exit(2);
    };
    let work = PathBuf::from(work);
    let password = b"example password";

    // Create the repository (a local directory here; any hbk backend works)
    // with restic's default key derivation, and load its (empty) index.
    let spec = hbk_backend::RepoSpec::new(&work.join("repo").to_string_lossy())?;
    let repo = init(spec.guarded_backend()?, password, &InitOptions::default())?.into_indexed()?;

    // Back up under a shared lock (released when dropped), as restic does.
    let lock = RepoLock::acquire(&repo, LockKind::Shared)?;
    let summary = backup(
        &repo,
        WriteMode::Locked(&lock),
        &[PathBuf::from(&source)],
        &BackupOptions::default(),
        &NoProgress,
    )?;
    println!(
        "snapshot {} saved: {} files, {} bytes added",
        summary.snapshot_id.as_deref().unwrap_or("-"),
        summary.total_files_processed,
        summary.data_added
    );

    // The same handle sees what the backup wrote: list and restore.
    for (id, sn) in list_snapshots(&repo, &SnapshotFilter::default())? {
        println!("{} {} {:?}", id.short(), sn.time, sn.paths);
    }
    let (_, latest) = find_snapshot(&repo, "latest", &SnapshotFilter::default())?;
    let target = work.join("restore");
    let stats = restore(
        &repo,
        &latest.tree,
        &target,
        &RestoreOptions::default(),
        &NoProgress,
    )?;
    println!("restored {} files into {}", stats.files, target.display());
    Ok(())
}
