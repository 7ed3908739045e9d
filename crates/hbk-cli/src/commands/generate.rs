//! `hbk generate`: shell completions and man pages, from the same
//! command-line definition the parser uses (restic 0.19's flags).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use clap_complete::Shell;

use crate::exit;
use crate::global::GlobalOpts;

/// `generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Write man pages to this directory (created if missing).
    #[arg(long = "man", value_name = "DIRECTORY")]
    pub man: Option<PathBuf>,
    /// Write the bash completion file (`-` for stdout).
    #[arg(long = "bash-completion", value_name = "FILE")]
    pub bash: Option<String>,
    /// Write the fish completion file (`-` for stdout).
    #[arg(long = "fish-completion", value_name = "FILE")]
    pub fish: Option<String>,
    /// Write the zsh completion file (`-` for stdout).
    #[arg(long = "zsh-completion", value_name = "FILE")]
    pub zsh: Option<String>,
    /// Write the PowerShell completion file (`-` for stdout).
    #[arg(long = "powershell-completion", value_name = "FILE")]
    pub powershell: Option<String>,
}

/// Writes one man page per command of `cli` (hbk's command line):
/// `hbk.1`, `hbk-backup.1`, `hbk-repair-packs.1`, …; returns the files
/// written.
pub(crate) fn write_man_pages(dir: &Path, cli: clap::Command) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    // Page `hbk-repair-packs.1`, synopsis `hbk repair packs`.
    let mut pending = vec![(String::from("hbk"), String::from("hbk"), cli)];
    while let Some((name, shown, cmd)) = pending.pop() {
        for sub in cmd.get_subcommands() {
            pending.push((
                format!("{name}-{}", sub.get_name()),
                format!("{shown} {}", sub.get_name()),
                sub.clone(),
            ));
        }
        let cmd = cmd.bin_name(shown);
        let page = clap_mangen::Man::new(cmd.clone().name(&name))
            .date("2026")
            .source(format!("hbk {}", env!("CARGO_PKG_VERSION")))
            .manual("hbk manual");
        let mut text = Vec::new();
        page.render(&mut text)?;
        let path = dir.join(format!("{name}.1"));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    written.sort();
    Ok(written)
}

/// Writes the completion script of `cli` for `shell` to `target` (`-`:
/// stdout).
fn write_completion(shell: Shell, target: &str, cli: &mut clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, cli, "hbk", &mut script);
    if target == "-" {
        std::io::stdout().write_all(&script)?;
    } else {
        std::fs::write(target, script).with_context(|| format!("writing {target}"))?;
    }
    Ok(())
}

/// Writes what was asked for, from `cli`, hbk's command line (the caller
/// builds it: this module does not depend on the definition it
/// describes).
pub fn run(g: &GlobalOpts, a: GenerateArgs, mut cli: clap::Command) -> Result<i32> {
    let shells = [
        (Shell::Bash, &a.bash),
        (Shell::Fish, &a.fish),
        (Shell::Zsh, &a.zsh),
        (Shell::PowerShell, &a.powershell),
    ];
    if shells
        .iter()
        .filter(|(_, f)| f.as_deref() == Some("-"))
        .count()
        > 1
    {
        bail!(
            "the generate command can generate shell completions to stdout for single shell only"
        );
    }
    if a.man.is_none() && shells.iter().all(|(_, f)| f.is_none()) {
        bail!("nothing to generate: give --man or a --*-completion flag");
    }
    if let Some(dir) = &a.man {
        if !g.quiet {
            eprintln!("writing man pages to directory {}", dir.display());
        }
        write_man_pages(dir, cli.clone())?;
    }
    for (shell, file) in shells {
        if let Some(file) = file {
            if !g.quiet && file != "-" {
                eprintln!("writing {shell} completion file to {file}");
            }
            write_completion(shell, file, &mut cli)?;
        }
    }
    Ok(exit::OK)
}
