//! Exit codes, the same as restic's, so wrappers can tell failures apart.

/// Success.
pub const OK: i32 = 0;
/// Any failure without a more specific code.
pub const ERROR: i32 = 1;
/// The repository does not exist.
pub const NO_REPOSITORY: i32 = 10;
/// Locking the repository failed.
pub const LOCK_FAILED: i32 = 11;
/// Interrupted by a signal.
pub const INTERRUPTED: i32 = 130;
/// The password is wrong.
pub const WRONG_PASSWORD: i32 = 12;

fn repo_error(err: &anyhow::Error) -> Option<&hbk_repo::Error> {
    err.chain().find_map(|e| {
        e.downcast_ref::<hbk_repo::Error>().or_else(|| {
            match e.downcast_ref::<hbk_engine::Error>() {
                Some(hbk_engine::Error::Repo(r)) => Some(r),
                _ => None,
            }
        })
    })
}

/// The exit code for an error.
pub fn code_for(err: &anyhow::Error) -> i32 {
    if err.chain().any(|e| {
        matches!(
            e.downcast_ref::<hbk_engine::Error>(),
            Some(hbk_engine::Error::Locked(_))
        )
    }) {
        return LOCK_FAILED;
    }
    match repo_error(err) {
        Some(hbk_repo::Error::WrongPassword) => WRONG_PASSWORD,
        Some(hbk_repo::Error::RepositoryNotFound { .. }) => NO_REPOSITORY,
        _ => ERROR,
    }
}

/// A one-line message: the error and its causes, joined.
pub fn message(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let s = cause.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ").replace('\n', " ")
}
