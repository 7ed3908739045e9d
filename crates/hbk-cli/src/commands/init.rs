//! `hbk init`.

use anyhow::{bail, Context, Result};
use clap::Args;
use hbk_engine::chunker::ChunkerKind;
use hbk_engine::commands::init::{init, InitOptions};

use crate::global::GlobalOpts;
use crate::{exit, password, repo};

/// `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Repository format version: 1, 2, stable or latest.
    #[arg(long = "repository-version", default_value = "stable")]
    pub repository_version: String,
    /// Copy the chunker polynomial from the repository given by --from-repo.
    #[arg(long = "copy-chunker-params")]
    pub copy_chunker_params: bool,
    /// The source repository for --copy-chunker-params.
    #[command(flatten)]
    pub from: crate::repo::FromRepoArgs,
    /// Chunker for new backups: rabin (restic's, the default) or fastcdc.
    #[arg(long, default_value = "rabin")]
    pub chunker: String,
}

/// Creates a repository.
pub fn run(g: &GlobalOpts, a: InitArgs) -> Result<i32> {
    let version = match a.repository_version.as_str() {
        "1" => 1,
        "2" | "stable" | "latest" => 2,
        other => bail!("invalid repository version {other:?}: expected 1, 2, stable or latest"),
    };
    let chunker = match a.chunker.as_str() {
        "rabin" => ChunkerKind::Rabin,
        "fastcdc" => ChunkerKind::FastCdc,
        other => bail!("invalid chunker {other:?}: expected rabin or fastcdc"),
    };
    let polynomial = if a.copy_chunker_params {
        let src = a
            .from
            .open(g)?
            .context("--copy-chunker-params needs --from-repo")?;
        Some(src.config().chunker_polynomial)
    } else {
        None
    };
    let location = password::repository(g)?;
    let backend = repo::spec(g, &location)?.guarded_backend()?;
    // Never print a REST password given in the location.
    let location = hbk_backend::location::redact(&location);
    let pw = password::password(g)?;
    let opts = InitOptions {
        version,
        polynomial,
        chunker,
        ..Default::default()
    };
    let r = init(backend, pw.as_bytes(), &opts)?;
    if g.json {
        println!(
            "{}",
            serde_json::json!({"message_type": "initialized", "id": r.config().id.to_hex(), "repository": location})
        );
    } else if !g.quiet {
        println!(
            "created restic repository {} at {location}\n\nPlease note that knowledge of your password is required to access\nthe repository. Losing your password means that your data is\nirrecoverably lost.",
            &r.config().id.to_hex()[..10]
        );
    }
    Ok(exit::OK)
}
