//! One module per command; each parses its arguments, calls the engine and
//! prints.

pub(crate) mod backup;
pub(crate) mod cache;
pub(crate) mod cat;
pub(crate) mod check;
pub(crate) mod copy;
pub(crate) mod diff;
pub(crate) mod dump;
pub(crate) mod features;
pub(crate) mod find;
pub(crate) mod forget;
pub(crate) mod generate;
pub(crate) mod init;
pub(crate) mod key;
pub(crate) mod list;
pub(crate) mod ls;
pub(crate) mod migrate;
#[cfg(feature = "mount")]
pub(crate) mod mount;
pub(crate) mod options;
pub(crate) mod plan;
pub(crate) mod prune;
pub(crate) mod recover;
pub(crate) mod repair;
pub(crate) mod restore;
pub(crate) mod rewrite;
pub(crate) mod snapshots;
pub(crate) mod stats;
pub(crate) mod tag;
pub(crate) mod unlock;
pub(crate) mod version;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// Runs the command; returns the exit code.
pub fn run(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    features::apply_environment()?;
    let code = run_command(g, cli.command)?;
    if g.cleanup_cache {
        let cleaned = cache::cleanup_after_command(g)?;
        if code == crate::exit::OK {
            return Ok(cleaned);
        }
    }
    Ok(code)
}

/// Runs one command.
fn run_command(g: &crate::global::GlobalOpts, command: Command) -> Result<i32> {
    match command {
        Command::Init(a) => init::run(g, a),
        Command::Backup(a) => backup::run(g, a),
        Command::Snapshots(a) => snapshots::run(g, a),
        Command::Ls(a) => ls::run(g, a),
        Command::Cat(a) => cat::run(g, a),
        Command::Key(a) => key::run(g, a),
        Command::Restore(a) => restore::run(g, a),
        Command::Check(a) => check::run(g, a),
        Command::Forget(a) => forget::run(g, a),
        Command::Unlock(a) => unlock::run(g, a),
        Command::List(a) => list::run(g, a),
        Command::Prune(a) => prune::run(g, a),
        Command::Copy(a) => copy::run(g, a),
        Command::Diff(a) => diff::run(g, a),
        Command::Find(a) => find::run(g, a),
        Command::Stats(a) => stats::run(g, a),
        Command::Tag(a) => tag::run(g, a),
        Command::Dump(a) => dump::run(g, a),
        Command::Repair(a) => repair::run(g, a),
        Command::Rewrite(a) => rewrite::run(g, a),
        Command::RebuildIndex(a) => repair::run_index(g, a),
        Command::Plan(a) => plan::run_cmd(g, a),
        Command::Cache(a) => cache::run(g, a),
        Command::Options(a) => options::run(g, a),
        Command::Version(a) => version::run(g, a),
        Command::Features(a) => features::run(g, a),
        Command::Generate(a) => {
            generate::run(g, a, <crate::cli::Cli as clap::CommandFactory>::command())
        }
        Command::Migrate(a) => migrate::run(g, a),
        #[cfg(feature = "mount")]
        Command::Mount(a) => mount::run(g, a),
        Command::Recover(a) => recover::run(g, a),
    }
}
