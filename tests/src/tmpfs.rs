//! A small tmpfs mounted for one test (the tests run as root), to fill a
//! file system on purpose; unmounted when dropped.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// A mounted tmpfs of a fixed size.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB on `dir` (created if missing).
    pub fn mount(dir: &Path, mib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let data = format!("size={mib}m,mode=0700");
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(data.as_str()),
        )
        .unwrap_or_else(|e| panic!("mounting a {mib} MiB tmpfs on {}: {e}", dir.display()));
        Tmpfs {
            dir: dir.to_path_buf(),
        }
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Fills the file system up to the last `leave` bytes with a file
    /// named `name`, returned so the test can free the space again.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let st = nix::sys::statvfs::statvfs(&self.dir).unwrap();
        let free = st.blocks_available() * st.fragment_size();
        let len = free.saturating_sub(leave);
        let path = self.dir.join(name);
        let f = std::fs::File::create(&path).unwrap();
        // Written, not just set_len: a tmpfs counts only pages in use.
        let chunk = vec![0xa5u8; 1 << 20];
        let mut left = len;
        let mut w = std::io::BufWriter::new(f);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut w, &chunk[..n]).unwrap();
            left -= n as u64;
        }
        std::io::Write::flush(&mut w).unwrap();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily, so a process still holding a file cannot keep it up.
        let _ = umount2(&self.dir, MntFlags::MNT_DETACH);
    }
}
