//! Finding the repository location and password, as restic does, with
//! `HBK_*` environment variables taking precedence over `RESTIC_*`.

use std::io::IsTerminal;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::environment::env;
use crate::global::GlobalOpts;

/// The repository location from `-r`, `--repository-file` or the
/// environment.
pub fn repository(g: &GlobalOpts) -> Result<String> {
    if let Some(r) = &g.repo {
        return Ok(r.clone());
    }
    let file = g
        .repository_file
        .clone()
        .or_else(|| env("REPOSITORY_FILE").map(Into::into));
    if let Some(f) = file {
        let s = std::fs::read_to_string(&f)
            .with_context(|| format!("reading repository file {}", f.display()))?;
        return Ok(s.trim_end_matches(['\r', '\n']).to_string());
    }
    if let Some(r) = env("REPOSITORY") {
        return Ok(r);
    }
    bail!("Please specify repository location (-r or --repository-file)")
}

/// The password from a file, a command, the environment or a prompt.
pub fn password(g: &GlobalOpts) -> Result<String> {
    password_from(g, "")
}

/// Like [`password`], with `prefix` before the environment variable names
/// (`FROM_` for the source repository of `init --copy-chunker-params`).
pub fn password_from(g: &GlobalOpts, prefix: &str) -> Result<String> {
    let file = g
        .password_file
        .clone()
        .or_else(|| env(&format!("{prefix}PASSWORD_FILE")).map(Into::into));
    let command = g
        .password_command
        .clone()
        .or_else(|| env(&format!("{prefix}PASSWORD_COMMAND")));
    if g.insecure_no_password {
        if file.is_some() || command.is_some() || env(&format!("{prefix}PASSWORD")).is_some() {
            bail!("--insecure-no-password must not be specified together with providing a password via a cli option or environment variable");
        }
        return Ok(String::new());
    }
    let pw = match (file, command) {
        (Some(_), Some(_)) => bail!("Password file and command are mutually exclusive"),
        (Some(f), None) => {
            let s = std::fs::read_to_string(&f)
                .with_context(|| format!("reading password file {}", f.display()))?;
            // restic uses the whole file with surrounding white space
            // trimmed, not just its first line.
            s.trim().to_string()
        }
        (None, Some(cmd)) => run_password_command(&cmd)?,
        (None, None) => match env(&format!("{prefix}PASSWORD")) {
            Some(p) => p,
            None if std::io::stdin().is_terminal() => {
                rpassword::prompt_password("enter password for repository: ")
                    .context("reading password from terminal")?
            }
            None => bail!("a password is required (use --password-file, --password-command or RESTIC_PASSWORD)"),
        },
    };
    if pw.is_empty() {
        bail!("an empty password is not allowed by default. Pass the flag `--insecure-no-password` to disable this check");
    }
    Ok(pw)
}

fn run_password_command(cmd: &str) -> Result<String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running password command")?;
    if !out.status.success() {
        bail!("password command failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
