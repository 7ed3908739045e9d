//! One repository, local or remote, driven through `hbk` and `restic`
//! alike, so a test can run the same steps on every backend.

use std::process::{Command, Output};

use crate::drivers::{self, Repo};
use crate::servers::Remote;

/// A repository on the local file system or behind a test server.
pub enum Target {
    /// A directory on this machine.
    Local(Repo),
    /// An S3 or REST location (the server must outlive the target).
    Remote(Remote),
}

impl Target {
    /// `hbk` with this repository and `args`, not yet run.
    pub fn hbk_command(&self, args: &[&str]) -> Command {
        match self {
            Target::Local(r) => drivers::hbk_command(r, args),
            Target::Remote(r) => r.hbk_command(args),
        }
    }

    /// Runs `hbk`.
    pub fn hbk(&self, args: &[&str]) -> Output {
        let mut cmd = self.hbk_command(args);
        cmd.stdin(std::process::Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
    }

    /// Runs the real `restic`.
    pub fn restic(&self, args: &[&str]) -> Output {
        match self {
            Target::Local(r) => drivers::restic(r, args),
            Target::Remote(r) => r.restic(args),
        }
    }
}
