//! `hbk mount`: the repository's snapshots as a read-only FUSE file
//! system, as `restic mount` lays them out; served until Ctrl-C, SIGTERM
//! or `umount`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use clap::Args;
use hbk_mount::template::{DEFAULT_PATH_TEMPLATES, DEFAULT_TIME_TEMPLATE};
use hbk_mount::{Access, MountConfig};

use crate::global::GlobalOpts;
use crate::selection::{filter, FilterArgs};
use crate::{exit, repo};

/// `mount`.
#[derive(Args, Debug)]
pub struct MountArgs {
    /// The directory to mount on.
    pub mountpoint: PathBuf,
    /// Use root as the owner of every file and directory.
    #[arg(long = "owner-root")]
    pub owner_root: bool,
    /// Let other users read the mount (non-root needs `user_allow_other`
    /// in /etc/fuse.conf).
    #[arg(long = "allow-other")]
    pub allow_other: bool,
    /// With `--allow-other`: ignore Unix permissions, every user reads
    /// every file.
    #[arg(long = "no-default-permissions")]
    pub no_default_permissions: bool,
    /// Snapshot filters.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Template for path names (repeatable): `%i` short id, `%I` id, `%u`
    /// user, `%h` host, `%t` tags, `%T` time.
    #[arg(long = "path-template", value_name = "template")]
    pub path_templates: Vec<String>,
    /// Go time layout for `%T` (e.g. `2006-01-02_15-04-05`).
    #[arg(long = "time-template", alias = "snapshot-template", value_name = "template", default_value = DEFAULT_TIME_TEMPLATE)]
    pub time_template: String,
    /// Memory for decoded file data, in MiB (reads of huge files stay
    /// within it).
    #[arg(long = "blob-cache", value_name = "MiB", default_value_t = 32)]
    pub blob_cache: usize,
}

/// Refuses a mount point inside a local repository, or a repository
/// inside the mount point: reading the repository through its own mount
/// would deadlock the FUSE server (restic refuses the same).
fn refuse_overlap(g: &GlobalOpts, mountpoint: &Path) -> Result<()> {
    let location = crate::password::repository(g)?;
    let Ok(loc) = hbk_backend::location::parse(&location) else {
        return Ok(());
    };
    let Some(repo_dir) = loc.local_path() else {
        return Ok(());
    };
    let (Ok(r), Ok(m)) = (
        std::fs::canonicalize(repo_dir),
        std::fs::canonicalize(mountpoint),
    ) else {
        return Ok(());
    };
    if m.starts_with(&r) || r.starts_with(&m) {
        bail!(
            "mountpoint {} overlaps the local repository {}; refusing to mount to avoid deadlocking the FUSE server",
            m.display(),
            r.display()
        );
    }
    Ok(())
}

/// Runs `mount`.
pub fn run(g: &GlobalOpts, a: MountArgs) -> Result<i32> {
    if a.time_template.is_empty() {
        bail!("time template string cannot be empty");
    }
    if a.time_template.starts_with('/') || a.time_template.ends_with('/') {
        bail!("time template string cannot start or end with '/'");
    }
    hbk_mount::session::check_mountpoint(&a.mountpoint)?;
    refuse_overlap(g, &a.mountpoint)?;
    let (repo, _lock) = repo::open_read(g)?;
    let path_templates = if a.path_templates.is_empty() {
        DEFAULT_PATH_TEMPLATES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        a.path_templates
    };
    let cfg = MountConfig {
        path_templates,
        time_template: a.time_template,
        filter: filter(&a.filter),
        owner_root: a.owner_root,
        cache_bytes: a.blob_cache.max(1).saturating_mul(1 << 20),
        refresh: Duration::from_secs(3),
    };
    let access = Access {
        allow_other: a.allow_other,
        no_default_permissions: a.no_default_permissions,
    };
    let mounted = hbk_mount::mount(repo, &a.mountpoint, cfg, access)?;
    // Ctrl-C and SIGTERM unmount before the process exits (the signal
    // handler runs the registered cleanups).
    let at = a.mountpoint.clone();
    let cleanup = hbk_plan::interrupt::register(move || {
        if let Err(e) = hbk_mount::unmount(&at) {
            eprintln!("{e}");
        }
    });
    if !g.quiet {
        eprintln!("Now serving the repository at {}", a.mountpoint.display());
        eprintln!("Use another terminal or tool to browse the contents of this folder.");
        eprintln!("When finished, quit with Ctrl-c here or umount the mountpoint.");
    }
    mounted.wait();
    hbk_plan::interrupt::unregister(cleanup);
    Ok(exit::OK)
}
