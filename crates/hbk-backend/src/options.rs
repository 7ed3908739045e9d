//! Backend options given as `-o key=value`, named as restic names them,
//! and the hooks (retry policy and observer) a front end passes to the
//! backends.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::retry::{RetryObserver, RetryPolicy};
use crate::Error;

/// Options for opening a backend: restic-style `key=value` pairs and
/// hooks. Unknown keys are an error when the backend is opened, so a typo
/// never silently falls back to a default.
#[derive(Clone, Default)]
pub struct Options {
    values: BTreeMap<String, String>,
    on_retry: Option<RetryObserver>,
    retry: Option<RetryPolicy>,
    stuck_request_timeout: Option<Duration>,
    http: HttpOptions,
}

/// How HTTPS backends (REST, S3) talk to their server: restic's
/// `--cacert`, `--tls-client-cert`, `--insecure-tls` and
/// `--http-user-agent`. Certificates are PEM text the front end read.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// Root certificates to trust instead of the system's (REST) or in
    /// addition to them (S3).
    pub ca_certs: Vec<Vec<u8>>,
    /// A client certificate and its private key, in one PEM text (REST
    /// only: the S3 client cannot present one).
    pub client_cert: Option<Vec<u8>>,
    /// Accept any server certificate.
    pub insecure_tls: bool,
    /// The `User-Agent` header to send instead of hbk's.
    pub user_agent: Option<String>,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("ca_certs", &self.ca_certs.len())
            .field("client_cert", &self.client_cert.is_some())
            .field("insecure_tls", &self.insecure_tls)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// How long a request may go without progress before it counts as stuck
/// and is retried: restic's `--stuck-request-timeout` default.
pub const DEFAULT_STUCK_REQUEST_TIMEOUT: Duration = Duration::from_secs(5 * 60);

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("values", &self.values)
            .field("on_retry", &self.on_retry.is_some())
            .field("retry", &self.retry)
            .field("stuck_request_timeout", &self.stuck_request_timeout)
            .field("http", &self.http)
            .finish()
    }
}

/// Every key a backend understands, with a short description.
pub const KNOWN_KEYS: &[(&str, &str)] = &[
    (
        "s3.region",
        "region of the bucket (default: AWS_DEFAULT_REGION, AWS_REGION or us-east-1)",
    ),
    (
        "s3.bucket-lookup",
        "auto, dns or path: virtual-hosted or path-style bucket addressing",
    ),
    (
        "s3.storage-class",
        "storage class of data packs, e.g. STANDARD_IA (metadata stays STANDARD)",
    ),
    ("s3.connections", "concurrent S3 requests (default 5)"),
    ("rest.connections", "concurrent REST requests (default 5)"),
    (
        "retry.max-attempts",
        "attempts per operation before giving up (default 8)",
    ),
    (
        "retry.initial-delay-ms",
        "first backoff delay in milliseconds (default 500)",
    ),
];

impl Options {
    /// No options.
    pub fn new() -> Options {
        Options::default()
    }

    /// Parses `key=value` strings as given to `-o`.
    pub fn parse<S: AsRef<str>>(pairs: &[S]) -> Result<Options, Error> {
        let mut o = Options::new();
        for p in pairs {
            let p = p.as_ref();
            let Some((k, v)) = p.split_once('=') else {
                return Err(Error::Option {
                    key: p.to_string(),
                    reason: "expected key=value".into(),
                });
            };
            o.set(k.trim(), v.trim())?;
        }
        Ok(o)
    }

    /// Sets one option; unknown keys are rejected.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        if !KNOWN_KEYS.iter().any(|(k, _)| *k == key) {
            let known: Vec<&str> = KNOWN_KEYS.iter().map(|(k, _)| *k).collect();
            return Err(Error::Option {
                key: key.to_string(),
                reason: format!("unknown option (known: {})", known.join(", ")),
            });
        }
        self.values.insert(key.to_string(), value.to_string());
        Ok(())
    }

    /// A raw value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// A positive integer value, or `default`.
    pub fn get_count(&self, key: &str, default: usize) -> Result<usize, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(Error::Option {
                    key: key.to_string(),
                    reason: format!("{v:?} is not a positive integer"),
                }),
            },
        }
    }

    /// Installs a callback told about every retry.
    pub fn with_retry_observer(mut self, f: RetryObserver) -> Options {
        self.on_retry = Some(f);
        self
    }

    /// Overrides the retry policy (tests use short delays).
    pub fn with_retry_policy(mut self, p: RetryPolicy) -> Options {
        self.retry = Some(p);
        self
    }

    /// Sets how long a request may wait for an answer, or between two
    /// reads of its body, before it is abandoned as stuck (and retried):
    /// `--stuck-request-timeout`.
    pub fn with_stuck_request_timeout(mut self, timeout: Duration) -> Options {
        self.stuck_request_timeout = Some(timeout);
        self
    }

    /// Sets how HTTPS backends talk to their server.
    pub fn with_http(mut self, http: HttpOptions) -> Options {
        self.http = http;
        self
    }

    /// How HTTPS backends talk to their server.
    pub fn http(&self) -> &HttpOptions {
        &self.http
    }

    /// The stuck-request timeout: the one set, or
    /// [`DEFAULT_STUCK_REQUEST_TIMEOUT`].
    pub fn stuck_request_timeout(&self) -> Duration {
        self.stuck_request_timeout
            .unwrap_or(DEFAULT_STUCK_REQUEST_TIMEOUT)
    }

    /// The retry callback, if any.
    pub fn retry_observer(&self) -> Option<&RetryObserver> {
        self.on_retry.as_ref()
    }

    /// The retry policy: the one set, adjusted by `retry.*` keys.
    pub fn retry_policy(&self) -> Result<RetryPolicy, Error> {
        let mut p = self.retry.clone().unwrap_or_default();
        if self.get("retry.max-attempts").is_some() {
            p.max_attempts = self.get_count("retry.max-attempts", 1)? as u32;
        }
        if self.get("retry.initial-delay-ms").is_some() {
            p.initial_delay =
                Duration::from_millis(self.get_count("retry.initial-delay-ms", 1)? as u64);
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_validate() {
        let o = Options::parse(&["s3.region=eu-west-1", "s3.connections = 8"]).unwrap();
        assert_eq!(o.get("s3.region"), Some("eu-west-1"));
        assert_eq!(o.get_count("s3.connections", 5).unwrap(), 8);
        assert_eq!(o.get_count("rest.connections", 5).unwrap(), 5);
        assert!(Options::parse(&["s3.regoin=x"]).is_err());
        assert!(Options::parse(&["s3.region"]).is_err());
        let o = Options::parse(&["s3.connections=0"]).unwrap();
        assert!(o.get_count("s3.connections", 5).is_err());
        let o = Options::parse(&["retry.max-attempts=2"]).unwrap();
        assert_eq!(o.retry_policy().unwrap().max_attempts, 2);
    }
}
