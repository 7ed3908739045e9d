//! The options every command takes.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Global options (environment: `HBK_*` or `RESTIC_*`).
#[derive(Args, Debug, Clone)]
pub struct GlobalOpts {
    /// Repository to use (env: HBK_REPOSITORY, RESTIC_REPOSITORY).
    #[arg(short = 'r', long = "repo", global = true)]
    pub repo: Option<String>,
    /// File holding the repository location (env: HBK_REPOSITORY_FILE, RESTIC_REPOSITORY_FILE).
    #[arg(long = "repository-file", global = true)]
    pub repository_file: Option<PathBuf>,
    /// File to read the password from (env: HBK_PASSWORD_FILE, RESTIC_PASSWORD_FILE).
    #[arg(short = 'p', long = "password-file", global = true)]
    pub password_file: Option<PathBuf>,
    /// Shell command printing the password (env: HBK_PASSWORD_COMMAND, RESTIC_PASSWORD_COMMAND).
    #[arg(long = "password-command", global = true)]
    pub password_command: Option<String>,
    /// Use an empty password for the repository (must be given for
    /// repositories without one; no password may be given with it).
    #[arg(long = "insecure-no-password", global = true)]
    pub insecure_no_password: bool,
    /// Trust the root certificates in this PEM file instead of the
    /// system's, for HTTPS repositories (repeatable; env: HBK_CACERT,
    /// RESTIC_CACERT).
    #[arg(long, global = true, value_name = "file")]
    pub cacert: Vec<PathBuf>,
    /// Present this TLS client certificate (one PEM file holding the
    /// certificate and its key) to a REST server (env:
    /// HBK_TLS_CLIENT_CERT, RESTIC_TLS_CLIENT_CERT).
    #[arg(long = "tls-client-cert", global = true, value_name = "file")]
    pub tls_client_cert: Option<PathBuf>,
    /// Skip the verification of the server's TLS certificate (insecure).
    #[arg(long = "insecure-tls", global = true)]
    pub insecure_tls: bool,
    /// Send this User-Agent header to HTTP servers.
    #[arg(long = "http-user-agent", global = true, value_name = "value")]
    pub http_user_agent: Option<String>,
    /// Take no lock (read-only repositories; with prune and forget only
    /// together with --dry-run).
    #[arg(long = "no-lock", global = true)]
    pub no_lock: bool,
    /// After the command, remove the caches of repositories unused for 30
    /// days (opening a remote repository's cache always does).
    #[arg(long = "cleanup-cache", global = true)]
    pub cleanup_cache: bool,
    /// Accepted for restic's sake: hbk has no extra verification of
    /// uploads to skip (every blob is read back only by `check`).
    #[arg(long = "no-extra-verify", global = true)]
    pub no_extra_verify: bool,
    /// Try the key with this id (or id prefix) first (env: HBK_KEY_HINT,
    /// RESTIC_KEY_HINT).
    #[arg(long = "key-hint", global = true, value_name = "key")]
    pub key_hint: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Be more verbose (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Do not use the local metadata cache of remote repositories.
    #[arg(long = "no-cache", global = true)]
    pub no_cache: bool,
    /// Where to cache remote repositories' metadata (env: HBK_CACHE_DIR;
    /// default: $XDG_CACHE_HOME/hbk).
    #[arg(long = "cache-dir", global = true, value_name = "dir")]
    pub cache_dir: Option<PathBuf>,
    /// Limit uploads to a maximum rate in KiB/s (default: unlimited).
    #[arg(
        long = "limit-upload",
        global = true,
        value_name = "KiB/s",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub limit_upload: u64,
    /// Limit downloads to a maximum rate in KiB/s (default: unlimited).
    #[arg(
        long = "limit-download",
        global = true,
        value_name = "KiB/s",
        default_value_t = 0,
        hide_default_value = true
    )]
    pub limit_download: u64,
    /// Compression of new data: auto, off, fastest, better or max (env:
    /// HBK_COMPRESSION, RESTIC_COMPRESSION; default: auto).
    #[arg(long, global = true)]
    pub compression: Option<String>,
    /// Target pack size in MiB, 4 to 128 (env: HBK_PACK_SIZE,
    /// RESTIC_PACK_SIZE; default: 16).
    #[arg(long = "pack-size", global = true)]
    pub pack_size: Option<u64>,
    /// Backend option KEY=VALUE, repeatable (s3.region, s3.bucket-lookup,
    /// s3.storage-class, s3.connections, rest.connections, retry.max-attempts,
    /// retry.initial-delay-ms).
    #[arg(short = 'o', long = "option", global = true, value_name = "KEY=VALUE")]
    pub options: Vec<String>,
    /// Refuse to touch a local repository unless it is on a mounted disk:
    /// the given mount point, or else the repository directory or its
    /// parent must be a mount point (env: HBK_REQUIRE_MOUNT).
    #[arg(long = "require-mount", global = true, value_name = "mount point", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub require_mount: Option<String>,
    /// Refuse to use the repository unless its id is this one (the id
    /// recorded for a removable disk; env: HBK_EXPECT_REPOSITORY_ID).
    #[arg(long = "expect-repository-id", global = true, value_name = "id")]
    pub expect_repository_id: Option<String>,
    /// How long a backend request may make no progress before it is
    /// abandoned and retried, as a Go duration (default: 5m0s).
    #[arg(
        long = "stuck-request-timeout",
        global = true,
        value_name = "duration",
        value_parser = parse_duration
    )]
    pub stuck_request_timeout: Option<Duration>,
    /// Wait this long for another process's lock to go before failing, as
    /// a Go duration (default: fail at once).
    #[arg(
        long = "retry-lock",
        global = true,
        value_name = "duration",
        value_parser = parse_duration
    )]
    pub retry_lock: Option<Duration>,
}

impl GlobalOpts {
    /// `--pack-size`, else `HBK_PACK_SIZE` or `RESTIC_PACK_SIZE` (MiB).
    pub fn pack_size_mib(&self) -> anyhow::Result<Option<u64>> {
        match (self.pack_size, crate::environment::env("PACK_SIZE")) {
            (Some(m), _) => Ok(Some(m)),
            (None, Some(v)) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| anyhow::anyhow!("invalid RESTIC_PACK_SIZE {v:?}: expected MiB")),
            (None, None) => Ok(None),
        }
    }
}

/// Parses a duration flag with the engine's one duration parser.
fn parse_duration(s: &str) -> Result<Duration, String> {
    hbk_engine::duration::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::cli::Cli;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["hbk"].iter().chain(args))
    }

    #[test]
    fn verbose_takes_restics_level_form() {
        let parse_levels = |args: &[&str]| {
            let argv = ["hbk"].iter().chain(args).map(std::ffi::OsString::from);
            Cli::try_parse_from(crate::cli::with_verbose_levels(argv)).map(|c| c.global.verbose)
        };
        assert_eq!(parse_levels(&["snapshots", "--verbose=2"]).unwrap(), 2);
        assert_eq!(parse_levels(&["snapshots", "-vv"]).unwrap(), 2);
        assert_eq!(parse_levels(&["snapshots", "--verbose=0"]).unwrap(), 0);
        assert!(parse_levels(&["snapshots", "--verbose=lots"]).is_err());
        // After `--` it is a path, not a flag.
        let argv = ["hbk", "backup", "--", "--verbose=2"].map(std::ffi::OsString::from);
        assert_eq!(crate::cli::with_verbose_levels(argv).len(), 4);
    }

    #[test]
    fn stuck_request_timeout_takes_go_durations() {
        let cli = parse(&["snapshots"]).unwrap();
        assert_eq!(cli.global.stuck_request_timeout, None);
        let cli = parse(&["snapshots", "--stuck-request-timeout", "1m30s"]).unwrap();
        assert_eq!(
            cli.global.stuck_request_timeout,
            Some(std::time::Duration::from_secs(90))
        );
        let e = parse(&["snapshots", "--stuck-request-timeout=90"]).unwrap_err();
        assert!(e.to_string().contains("--stuck-request-timeout"), "{e}");
    }

    #[test]
    fn bandwidth_limits_are_whole_kib_per_second() {
        let cli = parse(&["snapshots"]).unwrap();
        assert_eq!((cli.global.limit_upload, cli.global.limit_download), (0, 0));
        // Global: before or after the command.
        let cli = parse(&[
            "--limit-upload",
            "512",
            "snapshots",
            "--limit-download=2048",
        ])
        .unwrap();
        assert_eq!(cli.global.limit_upload, 512);
        assert_eq!(cli.global.limit_download, 2048);
        for bad in ["abc", "1.5", "-1", "512KiB", ""] {
            let e = parse(&["snapshots", &format!("--limit-upload={bad}")]).unwrap_err();
            let text = e.to_string();
            assert!(text.contains("--limit-upload"), "{bad}: {text}");
            // A usage error (main exits 1 for it, as restic does), as for
            // every other malformed flag value.
            assert!(e.use_stderr(), "{bad}");
        }
    }
}
