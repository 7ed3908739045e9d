//! `hbk backup`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use hbk_engine::commands::backup::command_input::CommandOutput;
use hbk_engine::commands::backup::orphans::open_for_backup;
use hbk_engine::commands::backup::prefetch::MetadataPrefetch;
use hbk_engine::commands::backup::{backup, backup_stdin, BackupOptions, CompressionMode};
use hbk_engine::lock::WriteMode;
use hbk_engine::size::parse_size;
use hbk_engine::snapshots::{find_snapshot, SnapshotFilter};

use crate::global::GlobalOpts;
use crate::{exit, progress, repo};
use summary::print_summary;

mod summary;

mod args;

pub use args::*;

/// Exit code when the snapshot was saved but some files could not be read.
const INCOMPLETE: i32 = 3;

/// Threads reading the sources' metadata ahead (many requests in flight
/// is what a cold cache on an SSD or a virtual disk needs).
const PREFETCH_THREADS: usize = 8;

/// `--compression`, else `HBK_COMPRESSION` or `RESTIC_COMPRESSION`, else
/// `auto`.
pub(crate) fn compression(g: &GlobalOpts) -> Result<CompressionMode> {
    let mode = g
        .compression
        .clone()
        .or_else(|| crate::environment::env("COMPRESSION"))
        .unwrap_or_else(|| "auto".into());
    Ok(mode.parse()?)
}

/// `--read-concurrency`, else `HBK_READ_CONCURRENCY` or
/// `RESTIC_READ_CONCURRENCY`, else the engine's default.
fn read_concurrency(flag: Option<usize>) -> Result<usize> {
    match (flag, crate::environment::env("READ_CONCURRENCY")) {
        (Some(n), _) => Ok(n),
        (None, Some(v)) => v
            .trim()
            .parse()
            .with_context(|| format!("invalid READ_CONCURRENCY {v:?}: expected a whole number")),
        (None, None) => Ok(BackupOptions::default().read_concurrency),
    }
}

/// Backs up paths (or stdin) into a new snapshot.
pub fn run(g: &GlobalOpts, a: BackupArgs) -> Result<i32> {
    let from_files = !a.files_from.is_empty()
        || !a.files_from_verbatim.is_empty()
        || !a.files_from_raw.is_empty();
    if a.stdin && a.stdin_from_command {
        bail!("--stdin and --stdin-from-command cannot be used together");
    }
    let from_stdin = a.stdin || a.stdin_from_command;
    if from_stdin && from_files {
        bail!("--stdin and --files-from cannot be used together");
    }
    if a.stdin && !a.paths.is_empty() {
        bail!("--stdin was specified and files/dirs were listed as arguments");
    }
    if a.stdin_from_command && a.paths.is_empty() {
        bail!("--stdin-from-command needs a command to run as arguments");
    }
    let mut paths = Vec::new();
    if !a.stdin_from_command {
        paths = a.paths.clone();
        paths.extend(
            crate::selection::read_lines(&a.files_from)?
                .into_iter()
                .map(PathBuf::from),
        );
        paths.extend(crate::selection::read_paths(&a.files_from_verbatim, b'\n')?);
        paths.extend(crate::selection::read_paths(&a.files_from_raw, 0)?);
        if !a.stdin && paths.is_empty() {
            bail!("nothing to back up, please specify target files/dirs");
        }
    }
    let (excludes, iexcludes) = a.excludes.patterns()?;
    let pack_size = match g.pack_size_mib()? {
        Some(m) if !(4..=128).contains(&m) => bail!("--pack-size must be between 4 and 128 MiB"),
        Some(m) => m << 20,
        None => 16 << 20,
    };
    // The sources' metadata is read ahead while the repository opens.
    let prefetch = (!from_stdin).then(|| MetadataPrefetch::start(&paths, PREFETCH_THREADS));
    let lock_wait = g.retry_lock.unwrap_or_default();
    let (opened, local_state) = repo::open_with_local_state(g)?;
    let (repo, lock) = open_for_backup(opened, a.dry_run, lock_wait)?;
    let mode = lock.as_ref().map_or(WriteMode::DryRun, WriteMode::Locked);
    let parent = match &a.parent {
        Some(p) => Some(find_snapshot(&repo, p, &SnapshotFilter::default())?.0),
        None => None,
    };
    let progress_mode = progress::mode(g.json, g.quiet);
    let verbosity = progress::verbosity(g.quiet, g.verbose);
    let opts = BackupOptions {
        tags: a
            .tag
            .iter()
            .flat_map(|t| t.split(','))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        host: a.host.clone().or_else(|| crate::environment::env("HOST")),
        time: a
            .time
            .as_deref()
            .map(crate::selection::parse_snapshot_time)
            .transpose()?,
        parent,
        force: a.force,
        skip_if_unchanged: a.skip_if_unchanged,
        excludes,
        iexcludes,
        exclude_if_present: a.exclude_if_present.clone(),
        exclude_caches: a.exclude_caches,
        exclude_larger_than: a
            .exclude_larger_than
            .as_deref()
            .map(parse_size)
            .transpose()?,
        one_file_system: a.one_file_system,
        compression: compression(g)?,
        ignore_ctime: a.ignore_ctime,
        ignore_inode: a.ignore_inode,
        pack_size,
        threads: a.threads.unwrap_or(0),
        // The scan's totals are shown by progress and by `-v`.
        no_scan: a.no_scan || (progress_mode == progress::Mode::Quiet && verbosity < 2),
        read_concurrency: read_concurrency(a.read_concurrency)?,
        with_atime: a.with_atime,
        group_by: a
            .group_by
            .parse()
            .map_err(crate::flags::invalid_flag("--group-by"))?,
        listings: prefetch.as_ref().map(MetadataPrefetch::listings),
        local_state,
    };
    let (progress, reporter) = progress::start(progress::Job::Backup, progress_mode, verbosity);
    let summary = if a.stdin_from_command {
        let argv: Vec<std::ffi::OsString> =
            a.paths.iter().map(|p| p.clone().into_os_string()).collect();
        let output = CommandOutput::spawn(&argv)?;
        backup_stdin(&repo, mode, output, &a.stdin_filename, &opts, &progress)
            .map_err(crate::flags::invalid_flag("--stdin-filename"))
    } else if a.stdin {
        backup_stdin(
            &repo,
            mode,
            std::io::stdin(),
            &a.stdin_filename,
            &opts,
            &progress,
        )
        .map_err(crate::flags::invalid_flag("--stdin-filename"))
    } else {
        backup(&repo, mode, &paths, &opts, &progress).map_err(Into::into)
    };
    drop(reporter);
    let summary = summary?;
    print_summary(g, &summary, a.dry_run);
    if !summary.warnings.is_empty() {
        if !g.json {
            eprintln!("Warning: at least one source file could not be read");
        }
        return Ok(INCOMPLETE);
    }
    Ok(exit::OK)
}
