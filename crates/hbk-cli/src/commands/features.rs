//! `hbk features` and `RESTIC_FEATURES`: restic 0.19's feature flags, with
//! the state each has in hbk.
//!
//! hbk has no experimental behaviour to switch, so every flag is fixed:
//! either always on (`stable`) or always off (`deprecated`), whichever
//! describes what hbk does. Setting one in `RESTIC_FEATURES` (or
//! `HBK_FEATURES`) only warns, as restic warns for fixed flags; an
//! unknown flag or a value that is not a boolean is an error.

use anyhow::{bail, Result};
use clap::Args;

use crate::exit;
use crate::global::GlobalOpts;

/// `features`.
#[derive(Args, Debug)]
pub struct FeaturesArgs {}

/// Whether a flag is fixed on or off in hbk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Always enabled.
    Stable,
    /// Always disabled.
    Deprecated,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Stable => "stable",
            Kind::Deprecated => "deprecated",
        }
    }
}

/// restic 0.19's flags: name, state in hbk, what that means in hbk.
const FLAGS: [(&str, Kind, &str); 7] = [
    (
        "backend-error-redesign",
        Kind::Stable,
        "requests that make no progress end after --stuck-request-timeout and are retried",
    ),
    (
        "deprecate-legacy-index",
        Kind::Deprecated,
        "the index format of restic 0.1.0 is still read",
    ),
    (
        "deprecate-s3-legacy-layout",
        Kind::Stable,
        "S3 repositories use the default layout only",
    ),
    (
        "device-id-for-hardlinks",
        Kind::Deprecated,
        "the device id of every file is stored, as restic does by default",
    ),
    (
        "explicit-s3-anonymous-auth",
        Kind::Deprecated,
        "without credentials, requests to a non-AWS S3 server are anonymous",
    ),
    (
        "safe-forget-keep-tags",
        Kind::Stable,
        "forget refuses to delete every snapshot of a group, e.g. for --keep-tag with a tag no snapshot has",
    ),
    (
        "s3-restore",
        Kind::Deprecated,
        "objects in cold S3 storage classes are not restored",
    ),
];

/// The table `features` prints.
fn table() -> String {
    let rows: Vec<[&str; 4]> = FLAGS
        .iter()
        .map(|(name, kind, text)| {
            let default = match kind {
                Kind::Stable => "true",
                Kind::Deprecated => "false",
            };
            [*name, kind.name(), default, *text]
        })
        .collect();
    let header = ["Name", "Type", "Default", "Description"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: &[&str; 4]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = String::from("All Feature Flags:\n");
    out += &line(&header);
    out += &"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    out.push('\n');
    for row in &rows {
        out += &line(row);
    }
    out
}

/// Checks a `RESTIC_FEATURES` value (`a=true,b=false`, `a` meaning
/// `a=true`); returns the warnings restic would print.
fn check(spec: &str) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once('=').unwrap_or((item, "true"));
        if !matches!(
            value.to_ascii_lowercase().as_str(),
            "1" | "t" | "true" | "0" | "f" | "false"
        ) {
            bail!("failed to parse value {value:?} for feature flag {name}");
        }
        let Some((_, kind, _)) = FLAGS.iter().find(|(n, _, _)| *n == name) else {
            bail!("unknown feature flag {name:?}");
        };
        let state = match kind {
            Kind::Stable => "enabled",
            Kind::Deprecated => "disabled",
        };
        warnings.push(format!(
            "feature flag {name:?} is always {state} in hbk and will be removed in a future release"
        ));
    }
    Ok(warnings)
}

/// Reads `HBK_FEATURES`/`RESTIC_FEATURES` before any command runs:
/// prints a warning per flag set, fails on unknown flags.
pub fn apply_environment() -> Result<()> {
    if let Some(spec) = crate::environment::env("FEATURES") {
        for w in check(&spec)? {
            eprintln!("Warning: {w}");
        }
    }
    Ok(())
}

/// Prints the flags.
pub fn run(_g: &GlobalOpts, _a: FeaturesArgs) -> Result<i32> {
    print!("{}", table());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_every_flag_in_aligned_columns() {
        let text = table();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "All Feature Flags:");
        assert!(lines[1].starts_with("Name "), "{}", lines[1]);
        assert!(lines[2].chars().all(|c| c == '-'));
        assert_eq!(lines.len(), 3 + FLAGS.len());
        let column = lines[1].find("Type").unwrap();
        for ((name, kind, _), line) in FLAGS.iter().zip(&lines[3..]) {
            assert!(line.starts_with(name), "{line}");
            assert_eq!(line.find(kind.name()), Some(column), "{line}");
        }
    }

    #[test]
    fn environment_values_are_checked() {
        assert_eq!(check("").unwrap(), Vec::<String>::new());
        let w = check("safe-forget-keep-tags, s3-restore=false").unwrap();
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("always enabled"), "{w:?}");
        assert!(w[1].contains("always disabled"), "{w:?}");
        let e = check("no-such-flag=true").unwrap_err();
        assert!(e.to_string().contains("unknown feature flag"), "{e}");
        let e = check("s3-restore=maybe").unwrap_err();
        assert!(e.to_string().contains("failed to parse value"), "{e}");
    }
}
