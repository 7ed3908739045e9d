//! Mounting, serving and unmounting: the mount point is checked first (a
//! stale FUSE mount left by a killed process is named with the command
//! that clears it), the file system is served on a background thread,
//! and the caller waits until it is unmounted — by `umount`, or by
//! [`unmount`] from a signal handler.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fuser::MountOption;
use hbk_repo::Repository;

use crate::fs::{MountConfig, SnapshotFs};
use crate::Error;

/// How the mount is offered to other users.
#[derive(Debug, Clone, Copy, Default)]
pub struct Access {
    /// Let other users in (`--allow-other`; needs `user_allow_other` in
    /// /etc/fuse.conf for non-root).
    pub allow_other: bool,
    /// With `allow_other`: no kernel permission checks, every user reads
    /// every file (`--no-default-permissions`).
    pub no_default_permissions: bool,
}

/// Checks that `mountpoint` is a directory hbk can mount on.
pub fn check_mountpoint(mountpoint: &Path) -> Result<(), Error> {
    match std::fs::metadata(mountpoint) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Mountpoint(format!(
            "{} is not a directory",
            mountpoint.display()
        ))),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            Err(Error::Stale(mountpoint.to_path_buf()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Mountpoint(format!(
            "{} does not exist",
            mountpoint.display()
        ))),
        Err(e) => Err(Error::Mountpoint(format!("{}: {e}", mountpoint.display()))),
    }
}

/// A served mount.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    mountpoint: PathBuf,
}

/// Mounts `repo` read-only at `mountpoint` and serves it in the
/// background.
pub fn mount(
    repo: Repository,
    mountpoint: &Path,
    cfg: MountConfig,
    access: Access,
) -> Result<Mounted, Error> {
    check_mountpoint(mountpoint)?;
    let id = repo.config().id.to_hex();
    let name = format!("hbk:{}", &id[..10]);
    let fs = SnapshotFs::new(repo, cfg)?;
    let mut options = vec![
        MountOption::RO,
        MountOption::FSName(name),
        MountOption::Subtype("hbk".into()),
        MountOption::NoDev,
        MountOption::NoSuid,
    ];
    if access.allow_other {
        options.push(MountOption::AllowOther);
        if !access.no_default_permissions {
            options.push(MountOption::DefaultPermissions);
        }
    }
    let session = fuser::spawn_mount2(fs, mountpoint, &options)
        .map_err(|e| Error::Mount(mountpoint.to_path_buf(), e.to_string()))?;
    Ok(Mounted {
        session: Some(session),
        mountpoint: mountpoint.to_path_buf(),
    })
}

impl Mounted {
    /// Waits until the file system is unmounted.
    pub fn wait(mut self) {
        while let Some(s) = &self.session {
            if s.guard.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Already unmounted: dropping the session only joins its thread.
        self.session.take();
    }

    /// The mount point.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }
}

/// Unmounts `mountpoint` (lazily, so busy files do not block it), as
/// root with umount(2), else through `fusermount3 -u -z` or `fusermount
/// -u -z`. Safe to call from a signal handler's thread.
pub fn unmount(mountpoint: &Path) -> Result<(), Error> {
    if nix::mount::umount2(mountpoint, nix::mount::MntFlags::MNT_DETACH).is_ok() {
        return Ok(());
    }
    for tool in ["fusermount3", "fusermount"] {
        let ok = std::process::Command::new(tool)
            .args(["-u", "-z"])
            .arg(mountpoint)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
    }
    Err(Error::Unmount(mountpoint.to_path_buf()))
}
