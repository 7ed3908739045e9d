//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in a plan, named for its meaning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plan file could not be read.
    #[error("reading plan file {path}: {source}")]
    ReadPlan {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The plan file is not valid TOML or has unknown or mistyped fields.
    #[error("plan file {path}: {message}")]
    ParsePlan {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The plan parsed but does not make sense; every problem is listed.
    #[error("invalid plan: {}", .0.join("; "))]
    InvalidPlan(Vec<String>),
    /// A secret could not be resolved. The message never holds the value.
    #[error("secret {name}: {message}")]
    Secret {
        /// Where the secret is used (e.g. `repositories.usb.password`).
        name: String,
        /// What went wrong.
        message: String,
    },
    /// The API refused the token (HTTP 401). Not retried.
    #[error("{api} API at {url}: authentication failed (HTTP 401); check the token id and secret")]
    ApiAuth {
        /// `PVE` or `PBS`.
        api: &'static str,
        /// The request URL (no secrets in it).
        url: String,
    },
    /// The API could not be reached (connection, TLS, timeout).
    #[error("{api} API at {url}: {message}")]
    ApiUnreachable {
        /// `PVE` or `PBS`.
        api: &'static str,
        /// The request URL.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The API answered with an error status.
    #[error("{api} API {method} {path}: HTTP {status}: {message}")]
    ApiStatus {
        /// `PVE` or `PBS`.
        api: &'static str,
        /// HTTP method.
        method: String,
        /// Path below `/api2/json`.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The error text the server sent, if any.
        message: String,
    },
    /// The API answered something that is not what the documentation says.
    #[error("{api} API {path}: unexpected answer: {message}")]
    ApiResponse {
        /// `PVE` or `PBS`.
        api: &'static str,
        /// Path below `/api2/json`.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A task ended with an error exit status.
    #[error("task {upid} failed: {exitstatus}")]
    TaskFailed {
        /// The task.
        upid: String,
        /// Its exit status (the error text).
        exitstatus: String,
    },
    /// A task did not stop in time.
    #[error("task {upid} still running after {seconds} s")]
    TaskTimeout {
        /// The task.
        upid: String,
        /// How long hbk waited.
        seconds: u64,
    },
    /// TLS settings could not be used (CA file, fingerprint).
    #[error("TLS: {0}")]
    Tls(String),
    /// Another run of this plan holds the plan lock.
    #[error("plan lock {path} is held by another run")]
    PlanLocked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An engine command failed.
    #[error(transparent)]
    Engine(#[from] hbk_engine::Error),
    /// A repository operation failed.
    #[error(transparent)]
    Repo(#[from] hbk_repo::Error),
    /// Anything else, with its explanation.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
