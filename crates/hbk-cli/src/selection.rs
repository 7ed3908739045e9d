//! Choosing snapshots and paths: the `--host/--tag/--path` filter flags
//! several commands share, `SNAPSHOT[:PATH]` arguments, and the include
//! and exclude pattern flags (with their case-insensitive and from-a-file
//! forms).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use hbk_engine::filter::PatternLists;
use hbk_engine::snapshots::SnapshotFilter;

/// Snapshot filters shared by several commands.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable).
    #[arg(long = "host", short = 'H')]
    pub host: Vec<String>,
    /// Only snapshots with these tags (`a,b` means both; repeatable: either).
    #[arg(long = "tag")]
    pub tag: Vec<String>,
    /// Only snapshots of exactly these paths (repeatable).
    #[arg(long = "path")]
    pub path: Vec<String>,
}

/// The engine's snapshot filter for the common `--host/--tag/--path` flags.
/// Without `--host`, the host of `HBK_HOST` or `RESTIC_HOST` if set, as
/// restic does.
pub fn filter(f: &FilterArgs) -> SnapshotFilter {
    let hosts = if f.host.is_empty() {
        crate::environment::env("HOST").into_iter().collect()
    } else {
        f.host.clone()
    };
    SnapshotFilter {
        hosts,
        tags: SnapshotFilter::tag_sets(&f.tag),
        paths: f.path.clone(),
    }
}

/// Splits `SNAPSHOT[:PATH]`.
pub fn split_snapshot_path(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((s, p)) => (s, Some(p)),
        None => (spec, None),
    }
}

/// A file's bytes; `-` is standard input.
fn read_input(f: &std::path::Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    if f == std::path::Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
    }
    Ok(bytes)
}

/// Reads patterns (or paths) from files (`-`: standard input), a line
/// each: surrounding blanks trimmed, empty lines and `#` comments skipped.
pub fn read_lines(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = String::from_utf8(read_input(f)?)
            .with_context(|| format!("{} is not UTF-8 text", f.display()))?;
        out.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(out)
}

/// Reads paths from files (`-`: standard input) split at `separator`,
/// byte for byte (names need not be UTF-8): restic's
/// `--files-from-verbatim` (lines) and `--files-from-raw` (NUL). Empty
/// entries are skipped.
pub fn read_paths(files: &[PathBuf], separator: u8) -> Result<Vec<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let mut out = Vec::new();
    for f in files {
        let bytes = read_input(f)?;
        out.extend(
            bytes
                .split(|b| *b == separator)
                .filter(|p| !p.is_empty())
                .map(|p| PathBuf::from(std::ffi::OsStr::from_bytes(p))),
        );
    }
    Ok(out)
}

/// restic's exclude flags: `--exclude`, `--iexclude` and their `-file`
/// forms.
#[derive(Args, Debug, Clone, Default)]
pub struct ExcludeArgs {
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
}

/// Patterns given as flags, then those read from the files.
fn flags_and_files(flags: &[String], files: &[PathBuf]) -> Result<Vec<String>> {
    let mut all = flags.to_vec();
    all.extend(read_lines(files)?);
    Ok(all)
}

impl ExcludeArgs {
    /// The exclude patterns, case-sensitive and not, files read.
    pub fn patterns(&self) -> Result<(Vec<String>, Vec<String>)> {
        Ok((
            flags_and_files(&self.exclude, &self.exclude_file)?,
            flags_and_files(&self.iexclude, &self.iexclude_file)?,
        ))
    }
}

/// restic's include flags (`restore`, `rewrite`): `--include`,
/// `--iinclude` and their `-file` forms.
#[derive(Args, Debug, Clone, Default)]
pub struct IncludeArgs {
    /// Include only paths matching a pattern (repeatable).
    #[arg(short, long)]
    pub include: Vec<String>,
    /// Include only paths matching a pattern, ignoring case (repeatable).
    #[arg(long)]
    pub iinclude: Vec<String>,
    /// Read include patterns from a file (repeatable).
    #[arg(long = "include-file")]
    pub include_file: Vec<PathBuf>,
    /// Read case-insensitive include patterns from a file (repeatable).
    #[arg(long = "iinclude-file")]
    pub iinclude_file: Vec<PathBuf>,
}

/// Every include and exclude pattern, files read.
pub fn pattern_lists(include: &IncludeArgs, exclude: &ExcludeArgs) -> Result<PatternLists> {
    let (exc, iexc) = exclude.patterns()?;
    Ok(PatternLists {
        include: flags_and_files(&include.include, &include.include_file)?,
        exclude: exc,
        iinclude: flags_and_files(&include.iinclude, &include.iinclude_file)?,
        iexclude: iexc,
    })
}

/// Parses a snapshot time as restic's `--time` and `--new-time` take it:
/// `2006-01-02 15:04:05`, local time.
pub fn parse_snapshot_time(s: &str) -> Result<hbk_repo::GoTime> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .with_context(|| format!("invalid time {s:?}: expected \"2006-01-02 15:04:05\""))?;
    let local = chrono::Local
        .from_local_datetime(&naive)
        .single()
        .with_context(|| format!("ambiguous local time {s:?}"))?;
    Ok(hbk_repo::GoTime(local.fixed_offset()))
}
