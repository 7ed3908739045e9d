//! The one error type of this crate.

use crate::{BlobType, FileType, Id};

/// Why a backend call failed. Backends classify their own errors so that
/// callers (and later a retry layer) can tell a missing object from a fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The object (or the repository) does not exist.
    #[error("{what} does not exist")]
    NotFound {
        /// The object, named by backend location and path.
        what: String,
    },
    /// The object exists already and the backend does not overwrite.
    #[error("{what} already exists")]
    AlreadyExists {
        /// The object.
        what: String,
    },
    /// An I/O error that is not expected to go away by retrying.
    #[error("{what}: {source}")]
    Io {
        /// The object or operation.
        what: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A fault that may go away when retried (timeouts, 5xx, resets).
    #[error("{what}: {message} (transient)")]
    Transient {
        /// The object or operation.
        what: String,
        /// What the backend said.
        message: String,
    },
    /// The object is shorter than a read of it needs: a truncated or
    /// damaged file (the index or header says more bytes are there).
    #[error("{what} is shorter than expected (truncated?): reading {length} bytes at offset {offset} found only {got}")]
    ShortRead {
        /// The object.
        what: String,
        /// Where the read started.
        offset: u64,
        /// How many bytes it wanted.
        length: u64,
        /// How many bytes were there.
        got: u64,
    },
    /// Any other permanent failure reported by the backend.
    #[error("{what}: {message}")]
    Other {
        /// The object or operation.
        what: String,
        /// What the backend said.
        message: String,
    },
}

impl BackendError {
    /// Whether this error says the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }

    /// Whether a retry may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient { .. })
    }
}

/// Errors of the repository layer: format, crypto and backend failures with
/// the object they concern.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No key file opens with the given password.
    #[error("wrong password or no key found")]
    WrongPassword,
    /// The location holds no repository (no config file).
    #[error("repository does not exist: unable to open config file at {location}")]
    RepositoryNotFound {
        /// The repository location.
        location: String,
    },
    /// A backend operation failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A stored object failed authentication, hashing or decoding.
    #[error("{} is damaged: {reason}", damaged_object(*file_type, id))]
    Corrupt {
        /// The kind of object.
        file_type: FileType,
        /// Its id (all zero for the config).
        id: Id,
        /// What was wrong.
        reason: String,
    },
    /// A blob failed authentication, decompression or hashing.
    #[error("{blob_type} blob {id} in pack {pack} is damaged: {reason}")]
    CorruptBlob {
        /// The blob's type.
        blob_type: BlobType,
        /// The blob's id.
        id: Id,
        /// The pack holding it.
        pack: Id,
        /// What was wrong.
        reason: String,
    },
    /// A blob the repository should have is not in the index.
    #[error("{blob_type} blob {id} not found in index")]
    BlobNotFound {
        /// The blob's type.
        blob_type: BlobType,
        /// The blob's id.
        id: Id,
    },
    /// Bytes that do not follow the format (pack header, JSON, …).
    #[error("invalid {what}: {reason}")]
    Format {
        /// What was being parsed.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The repository has a version this build does not understand.
    #[error("unsupported repository version {0} (supported: 1, 2)")]
    UnsupportedVersion(u32),
    /// A document could not be serialized; nothing was written.
    #[error("cannot serialize {what}: {reason}")]
    Serialize {
        /// The kind of document.
        what: &'static str,
        /// Why the serializer refused it.
        reason: String,
    },
    /// A local-only operation failed (e.g. a password command).
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::Serialize`] for a `what` document.
    pub fn serialize(what: &'static str, reason: impl std::fmt::Display) -> Error {
        Error::Serialize {
            what,
            reason: reason.to_string(),
        }
    }

    /// A [`Error::Format`] with a formatted reason.
    pub fn format(what: &'static str, reason: impl std::fmt::Display) -> Error {
        Error::Format {
            what,
            reason: reason.to_string(),
        }
    }
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// All messages of an error and its sources on one line, joined with
/// `: `; a source whose message is already part of the text is not
/// repeated. Libraries report errors of HTTP clients and the like this way,
/// because their `Display` alone often says only "error sending request".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

/// How a damaged object is named: the config by its name alone (its id is
/// all zero), everything else by type and id.
fn damaged_object(file_type: FileType, id: &Id) -> String {
    match file_type {
        FileType::Config => "the repository config".into(),
        _ => format!("{file_type} {id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_config_is_named_without_its_all_zero_id() {
        let e = Error::Corrupt {
            file_type: FileType::Config,
            id: Id::default(),
            reason: "ciphertext verification failed".into(),
        };
        assert_eq!(
            e.to_string(),
            "the repository config is damaged: ciphertext verification failed"
        );
        let id = Id::hash(b"k");
        let e = Error::Corrupt {
            file_type: FileType::Key,
            id,
            reason: "bad".into(),
        };
        assert_eq!(e.to_string(), format!("key {id} is damaged: bad"));
    }
}
