//! Planting lock files as another restic process would leave them.

use hbk_repo::{FileType, GoTime, LockFile, Repository};

use crate::drivers::Repo;

/// Writes a fresh exclusive lock held by a process on another host.
pub fn plant_exclusive_lock(repo: &Repo) {
    let backend = hbk_backend::open(repo.path.to_str().unwrap()).unwrap();
    let password = std::fs::read_to_string(&repo.password_file).unwrap();
    let r = Repository::open(backend, password.trim_end().as_bytes()).unwrap();
    let lock = LockFile {
        time: GoTime::now(),
        exclusive: true,
        hostname: "some-other-host".into(),
        username: "restic".into(),
        pid: 4242,
        uid: 0,
        gid: 0,
        extra: Default::default(),
    };
    r.save_unpacked(FileType::Lock, &lock.to_json().unwrap())
        .unwrap();
}
