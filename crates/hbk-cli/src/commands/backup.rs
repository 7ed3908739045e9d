//! `hbk backup`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use hbk_engine::commands::backup::orphans::adopt_orphan_packs;
use hbk_engine::commands::backup::{
    backup, backup_stdin, BackupOptions, BackupSummary, CompressionMode,
};
use hbk_engine::lock::{LockKind, RepoLock};
use hbk_engine::size::parse_size;
use hbk_engine::snapshots::{find_snapshot, SnapshotFilter};
use hbk_repo::GoTime;
use serde_json::Value;

use crate::global::GlobalOpts;
use crate::{exit, progress, repo};

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up.
    pub paths: Vec<PathBuf>,
    /// Tags for the new snapshot (`a,b`; repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Host name to record.
    #[arg(short = 'H', long)]
    pub host: Option<String>,
    /// Snapshot time (`2006-01-02 15:04:05`, local time).
    #[arg(long)]
    pub time: Option<String>,
    /// Parent snapshot (default: latest with the same host and paths).
    #[arg(long)]
    pub parent: Option<String>,
    /// Read all files, ignoring the parent snapshot.
    #[arg(short, long)]
    pub force: bool,
    /// Exclude a pattern (repeatable).
    #[arg(short, long)]
    pub exclude: Vec<String>,
    /// Exclude a pattern, ignoring case (repeatable).
    #[arg(long)]
    pub iexclude: Vec<String>,
    /// Read exclude patterns from a file (repeatable).
    #[arg(long = "exclude-file")]
    pub exclude_file: Vec<PathBuf>,
    /// Read case-insensitive exclude patterns from a file (repeatable).
    #[arg(long = "iexclude-file")]
    pub iexclude_file: Vec<PathBuf>,
    /// Exclude directories containing this file (`NAME[:HEADER]`, repeatable).
    #[arg(long = "exclude-if-present")]
    pub exclude_if_present: Vec<String>,
    /// Exclude directories marked with a CACHEDIR.TAG.
    #[arg(long = "exclude-caches")]
    pub exclude_caches: bool,
    /// Exclude files larger than this (e.g. 500M, 2G).
    #[arg(long = "exclude-larger-than")]
    pub exclude_larger_than: Option<String>,
    /// Do not cross filesystem boundaries.
    #[arg(short = 'x', long = "one-file-system")]
    pub one_file_system: bool,
    /// Read the paths to back up from a file, one per line (repeatable).
    #[arg(long = "files-from")]
    pub files_from: Vec<PathBuf>,
    /// Back up standard input as one file.
    #[arg(long)]
    pub stdin: bool,
    /// File name for --stdin.
    #[arg(long = "stdin-filename", default_value = "stdin")]
    pub stdin_filename: String,
    /// Do not write anything, only show what would be done.
    #[arg(short = 'n', long = "dry-run")]
    pub dry_run: bool,
    /// Do not compare ctimes when detecting changes.
    #[arg(long = "ignore-ctime")]
    pub ignore_ctime: bool,
    /// Do not compare inodes when detecting changes.
    #[arg(long = "ignore-inode")]
    pub ignore_inode: bool,
    /// Worker threads (default: twice the number of cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Exit code when the snapshot was saved but some files could not be read.
const INCOMPLETE: i32 = 3;

fn read_lines(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(out)
}

fn parse_time(s: &str) -> Result<GoTime> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("invalid time {s:?}: expected \"2006-01-02 15:04:05\""))?;
    let local = chrono::Local
        .from_local_datetime(&naive)
        .single()
        .with_context(|| format!("ambiguous local time {s:?}"))?;
    Ok(GoTime(local.fixed_offset()))
}

pub(crate) fn compression(g: &GlobalOpts) -> Result<CompressionMode> {
    Ok(match g.compression.as_str() {
        "auto" => CompressionMode::Auto,
        "off" => CompressionMode::Off,
        "max" => CompressionMode::Max,
        other => bail!("invalid compression mode {other:?}: expected auto, off or max"),
    })
}

fn print_summary(g: &GlobalOpts, s: &BackupSummary, dry_run: bool) {
    if g.json {
        let mut v = serde_json::json!({"message_type": "summary"});
        if let (Value::Object(m), Ok(Value::Object(rest))) = (&mut v, serde_json::to_value(s)) {
            m.extend(rest);
        }
        println!("{v}");
        return;
    }
    if g.quiet {
        return;
    }
    let mib = |b: u64| format!("{:.3} MiB", b as f64 / (1 << 20) as f64);
    println!(
        "\nFiles:       {:5} new, {:5} changed, {:5} unmodified",
        s.files_new, s.files_changed, s.files_unmodified
    );
    println!(
        "Dirs:        {:5} new, {:5} changed, {:5} unmodified",
        s.dirs_new, s.dirs_changed, s.dirs_unmodified
    );
    println!(
        "Added to the repository: {} ({} stored)\n",
        mib(s.data_added),
        mib(s.data_added_packed)
    );
    println!(
        "processed {} files, {} in {:.1}s",
        s.total_files_processed,
        mib(s.total_bytes_processed),
        s.total_duration
    );
    match &s.snapshot_id {
        Some(id) => println!("snapshot {} saved", &id[..8]),
        None if dry_run => println!("dry run: no snapshot saved"),
        None => {}
    }
}

/// Backs up paths (or stdin) into a new snapshot.
pub fn run(g: &GlobalOpts, a: BackupArgs) -> Result<i32> {
    let mut paths = a.paths.clone();
    paths.extend(read_lines(&a.files_from)?.into_iter().map(PathBuf::from));
    if a.stdin && !paths.is_empty() {
        bail!("--stdin cannot be combined with paths");
    }
    if !a.stdin && paths.is_empty() {
        bail!("nothing to back up, please specify target files/dirs");
    }
    let mut excludes = a.exclude.clone();
    excludes.extend(read_lines(&a.exclude_file)?);
    let mut iexcludes = a.iexclude.clone();
    iexcludes.extend(read_lines(&a.iexclude_file)?);
    let pack_size = match g.pack_size {
        Some(m) if !(4..=128).contains(&m) => bail!("--pack-size must be between 4 and 128 MiB"),
        Some(m) => m << 20,
        None => 16 << 20,
    };
    let repo = repo::open_indexed(g)?;
    let _lock = if a.dry_run {
        None
    } else {
        Some(RepoLock::acquire(&repo, LockKind::Shared)?)
    };
    if !a.dry_run {
        adopt_orphan_packs(&repo)?;
    }
    let parent = match &a.parent {
        Some(p) => Some(find_snapshot(&repo, p, &SnapshotFilter::default())?.0),
        None => None,
    };
    let opts = BackupOptions {
        tags: a
            .tag
            .iter()
            .flat_map(|t| t.split(','))
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        host: a.host.clone(),
        time: a.time.as_deref().map(parse_time).transpose()?,
        parent,
        force: a.force,
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
        dry_run: a.dry_run,
        compression: compression(g)?,
        ignore_ctime: a.ignore_ctime,
        ignore_inode: a.ignore_inode,
        pack_size,
        threads: a.threads.unwrap_or(0),
    };
    let (progress, reporter) = progress::start(progress::mode(g.json, g.quiet));
    let summary = if a.stdin {
        backup_stdin(
            &repo,
            std::io::stdin().lock(),
            &a.stdin_filename,
            &opts,
            &progress,
        )
    } else {
        backup(&repo, &paths, &opts, &progress)
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
