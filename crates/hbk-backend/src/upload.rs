//! The check after a pack upload to a remote backend: the server must
//! report the size that was sent. A truncated upload (a proxy cutting the
//! body, a server running out of space) would otherwise only show at the
//! next `check --read-data`; reported as transient, the retry layer sends
//! the pack again.

use hbk_repo::{BackendError, BackendResult, FileType};

/// Checks a finished upload of `sent` bytes. Only packs are checked (they
/// are large and written once); `stored_size` asks the server for the
/// stored size and `what` names the object for the error.
pub(crate) fn verify_stored_size(
    file_type: FileType,
    sent: usize,
    stored_size: impl FnOnce() -> BackendResult<u64>,
    what: impl FnOnce() -> String,
) -> BackendResult<()> {
    if file_type != FileType::Pack {
        return Ok(());
    }
    let stored = stored_size()?;
    if stored == sent as u64 {
        return Ok(());
    }
    Err(BackendError::Transient {
        what: what(),
        message: format!("upload check failed: stored {stored} bytes, sent {sent}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_short_pack_fails_and_is_transient() {
        let what = || "pack".to_string();
        assert!(verify_stored_size(FileType::Pack, 10, || Ok(10), what).is_ok());
        let e = verify_stored_size(FileType::Pack, 10, || Ok(7), what).unwrap_err();
        assert!(e.is_transient(), "{e}");
        assert!(e.to_string().contains("stored 7 bytes, sent 10"), "{e}");
        let never = || -> BackendResult<u64> { panic!("asked for the size of an index") };
        assert!(verify_stored_size(FileType::Index, 10, never, what).is_ok());
    }
}
