//! `hbk-scale-repo`: writes the scale benchmark's repository (see the
//! library documentation) and prints what it wrote as one JSON line.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use hbk_repo::KdfParams;
use hbk_scale_repo::{generate, Layout};

/// Writes a restic repository whose index holds many tiny data blobs.
#[derive(Parser)]
struct Args {
    /// Directory of the new repository (must not hold one yet).
    #[arg(long)]
    repo: PathBuf,
    /// File whose first line is the password.
    #[arg(long)]
    password_file: PathBuf,
    /// Data blobs in the index.
    #[arg(long, default_value_t = Layout::default().blobs)]
    blobs: u64,
    /// Blobs per pack.
    #[arg(long, default_value_t = Layout::default().blobs_per_pack)]
    blobs_per_pack: u64,
    /// Packs per index file.
    #[arg(long, default_value_t = Layout::default().packs_per_index)]
    packs_per_index: u64,
    /// Store data blobs uncompressed.
    #[arg(long)]
    uncompressed: bool,
    /// Seed of the blob contents.
    #[arg(long, default_value_t = Layout::default().seed)]
    seed: u64,
    /// Cheap key derivation (tests only).
    #[arg(long)]
    insecure_kdf: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.password_file)
        .with_context(|| format!("reading {}", args.password_file.display()))?;
    let password = text.lines().next().unwrap_or_default();
    let layout = Layout {
        blobs: args.blobs,
        blobs_per_pack: args.blobs_per_pack,
        packs_per_index: args.packs_per_index,
        compress: !args.uncompressed,
        seed: args.seed,
    };
    let kdf = match args.insecure_kdf {
        true => KdfParams::INSECURE_FOR_TESTS,
        false => KdfParams::RESTIC_DEFAULT,
    };
    let started = std::time::Instant::now();
    let backend = Arc::new(hbk_backend::LocalBackend::new(&args.repo));
    let s = generate(backend, password.as_bytes(), kdf, &layout)
        .with_context(|| format!("writing {}", args.repo.display()))?;
    println!(
        "{{\"data_blobs\":{},\"packs\":{},\"pack_bytes\":{},\"index_files\":{},\"snapshot\":\"{}\",\"seconds\":{:.1}}}",
        s.data_blobs,
        s.packs,
        s.pack_bytes,
        s.index_files,
        s.snapshot,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
