//! `hbk version [--json]`: which restic command line hbk follows, and
//! hbk's own version and build.
//!
//! Wrappers (resticprofile, backrest, scripts) run `restic version` to
//! decide which flags they may pass, and compare the number they read
//! with a minimum; so the number printed where restic prints its own is
//! the restic release whose command line hbk follows, and hbk's version
//! comes after it (and as `hbk_version` in the JSON, a field restic does
//! not have and parsers ignore).

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::exit;
use crate::global::GlobalOpts;

/// The restic release whose commands, flags and JSON hbk follows
/// (docs/compatibility.md lists where it does not yet).
pub const RESTIC_CLI_VERSION: &str = "0.19.1";

/// `version`.
#[derive(Args, Debug)]
pub struct VersionArgs {}

/// The compiler hbk was built with (`rustc --version`, from the build
/// script), in the place restic names its Go version.
fn compiler() -> &'static str {
    env!("HBK_RUSTC_VERSION")
}

/// Go's name of the operating system (`GOOS`).
fn go_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        os => os,
    }
}

/// Go's name of the processor architecture (`GOARCH`).
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64",
        "loongarch64" => "loong64",
        arch => arch,
    }
}

/// The text line: restic's shape, hbk's version after the number.
fn text() -> String {
    format!(
        "restic {RESTIC_CLI_VERSION} (hbk {}) compiled with {} on {}/{}",
        env!("CARGO_PKG_VERSION"),
        compiler(),
        go_os(),
        go_arch()
    )
}

/// Prints the version, as restic's `version` does.
pub fn run(g: &GlobalOpts, _a: VersionArgs) -> Result<i32> {
    if g.json {
        let v = json!({
            "message_type": "version",
            "version": RESTIC_CLI_VERSION,
            "go_version": compiler(),
            "go_os": go_os(),
            "go_arch": go_arch(),
            "hbk_version": env!("CARGO_PKG_VERSION"),
        });
        println!("{v}");
    } else {
        println!("{}", text());
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_starts_as_restics_does() {
        let t = text();
        assert!(
            t.starts_with(&format!("restic {RESTIC_CLI_VERSION} (hbk ")),
            "{t}"
        );
        assert!(t.contains(" compiled with rustc "), "{t}");
        assert!(!go_arch().is_empty() && !go_os().is_empty());
    }
}
