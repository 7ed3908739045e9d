//! The command line: global options and one subcommand, spelled as
//! restic spells them (each command's arguments live in its module).

use clap::{Parser, Subcommand};

use crate::global::GlobalOpts;

/// hbk: fast, restic-compatible backups.
#[derive(Parser, Debug)]
#[command(name = "hbk", version, about, disable_help_subcommand = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository.
    Init(crate::commands::init::InitArgs),
    /// Back up files and directories.
    Backup(crate::commands::backup::BackupArgs),
    /// List snapshots.
    Snapshots(crate::commands::snapshots::SnapshotsArgs),
    /// List the files of a snapshot.
    Ls(crate::commands::ls::LsArgs),
    /// Print internal objects.
    Cat(crate::commands::cat::CatArgs),
    /// Manage keys (passwords).
    Key(crate::commands::key::KeyArgs),
    /// Restore a snapshot into a directory.
    Restore(crate::commands::restore::RestoreArgs),
    /// Check the repository for errors.
    Check(crate::commands::check::CheckArgs),
    /// Remove snapshots according to a policy.
    Forget(crate::commands::forget::ForgetArgs),
    /// Remove stale locks.
    Unlock(crate::commands::unlock::UnlockArgs),
    /// List objects of one type, one id a line.
    List(crate::commands::list::ListArgs),
    /// Remove data that no snapshot needs.
    Prune(crate::commands::prune::PruneArgs),
    /// Copy snapshots from another repository.
    Copy(crate::commands::copy::CopyArgs),
    /// Show differences between two snapshots.
    Diff(crate::commands::diff::DiffArgs),
    /// Find files and directories in snapshots.
    Find(crate::commands::find::FindArgs),
    /// Count sizes and files of snapshots.
    Stats(crate::commands::stats::StatsArgs),
    /// Add, remove or set snapshot tags.
    Tag(crate::commands::tag::TagArgs),
    /// Print a file, or a directory as tar, from a snapshot.
    Dump(crate::commands::dump::DumpArgs),
    /// Repair the index or snapshots.
    Repair(crate::commands::repair::RepairArgs),
    /// Rewrite snapshots to exclude files or change metadata.
    Rewrite(crate::commands::rewrite::RewriteArgs),
    /// Build a new index from the packs (restic 0.14's name for `repair index`).
    RebuildIndex(crate::commands::repair::IndexArgs),
    /// Run a backup plan (Proxmox snapshots, PBS capture, copies, drills).
    Plan(crate::commands::plan::PlanArgs),
    /// List or clean up the local caches of remote repositories.
    Cache(crate::commands::cache::CacheArgs),
    /// Print the extended options `-o` accepts.
    Options(crate::commands::options::OptionsArgs),
    /// Save a snapshot of the trees no snapshot references.
    Recover(crate::commands::recover::RecoverArgs),
    /// List or apply repository migrations (upgrade_repo_v2).
    Migrate(crate::commands::migrate::MigrateArgs),
    /// Mount the repository read-only (FUSE): every snapshot as a
    /// directory.
    #[cfg(feature = "mount")]
    Mount(crate::commands::mount::MountArgs),
    /// Print version information.
    Version(crate::commands::version::VersionArgs),
    /// Print the feature flags restic 0.19 knows and their state in hbk.
    Features(crate::commands::features::FeaturesArgs),
    /// Write shell completions and man pages.
    Generate(crate::commands::generate::GenerateArgs),
}

/// The command line with restic's `--verbose=N` (which sets the level, as
/// `-v` given N times does) spelled as N `--verbose` flags, the one form
/// of a counted flag the parser knows. Arguments after `--` stay as they
/// are; a level that is not a number is left for the parser to refuse.
pub fn with_verbose_levels<I>(args: I) -> Vec<std::ffi::OsString>
where
    I: IntoIterator<Item = std::ffi::OsString>,
{
    let mut out = Vec::new();
    let mut options = true;
    for arg in args {
        let level = arg
            .to_str()
            .filter(|_| options)
            .and_then(|a| a.strip_prefix("--verbose="))
            .and_then(|n| n.parse::<u8>().ok());
        match level {
            Some(n) => out.extend((0..n).map(|_| "--verbose".into())),
            None => {
                options &= arg != "--";
                out.push(arg);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;
    use crate::commands::generate::write_man_pages;

    #[test]
    fn a_man_page_per_command() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_man_pages(dir.path(), Cli::command()).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for want in [
            "hbk.1",
            "hbk-backup.1",
            "hbk-repair-packs.1",
            "hbk-key-list.1",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        let backup = std::fs::read_to_string(dir.path().join("hbk-backup.1")).unwrap();
        assert!(backup.contains(".TH hbk-backup"), "{backup}");
        assert!(backup.contains("skip\\-if\\-unchanged"), "flags are listed");
    }
}
