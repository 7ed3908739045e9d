//! A repository in an S3 bucket (AWS, MinIO, Garage, moto, …), on
//! `object_store`'s `AmazonS3`.
//!
//! Objects are laid out exactly as restic lays them out under the
//! location's prefix (`config`, `keys/ID`, `snapshots/ID`, `index/ID`,
//! `locks/ID`, `data/XX/ID`), so restic and hbk share one bucket.
//!
//! The [`Backend`] trait is synchronous; this backend owns a private
//! tokio runtime and blocks on it. It is never entered from a runtime
//! thread: a caller that is itself inside a runtime gets a scoped helper
//! thread instead, because blocking a runtime's worker would deadlock.
//!
//! Uploads are signed with the SHA-256 of their payload (SigV4 signed
//! payloads), which the server checks before it stores an object, so a
//! body damaged or cut on the way is refused rather than stored; no
//! request is spent asking for the stored size afterwards (restic does
//! not either). A pack is named by the SHA-256 of its bytes, so its
//! upload is signed with its id ([`PackPuts`]) instead of hashing the
//! body a second time. Packs above [`MULTIPART_THRESHOLD`] go up in
//! multipart uploads.

use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt;
use hbk_repo::{error_chain, Backend, BackendError, BackendResult, FileType, Id};
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer};
use object_store::client::{
    HttpClient, HttpConnector, HttpRequest, HttpRequestBody, ReqwestConnector,
};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutMode,
    PutMultipartOptions, PutOptions, PutPayload, RetryConfig,
};
use reqwest::header::HeaderValue;

use crate::layout;
use crate::limit::Limiter;
use crate::location::S3Location;
use crate::options::Options;
use crate::Error;

/// Packs at least this large are uploaded in parts.
pub const MULTIPART_THRESHOLD: usize = 32 * 1024 * 1024;
/// Size of one part of a multipart upload (S3's minimum is 5 MiB).
pub const PART_SIZE: usize = 16 * 1024 * 1024;

/// A repository in an S3 bucket.
pub struct S3Backend {
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
    prefix: String,
    location: String,
    storage_class: Option<String>,
    limiter: Limiter,
    create_bucket: Option<BucketCreation>,
    pack_puts: Option<PackPuts>,
}

/// Uploads of packs signed with the pack's id as the payload's SHA-256.
///
/// `object_store` hashes every body it signs; a pack's id already is the
/// SHA-256 of its bytes, so hashing it again cost a sixth of a backup's
/// CPU over S3. The request is the one `object_store` would send (same
/// URL, client settings and SigV4 signature, with `x-amz-content-sha256`
/// set to the id), and the server still refuses a body that does not
/// match it. `None` where the store adds to or signs its requests in
/// other ways (anonymous access, S3 Express sessions, additional
/// checksums, server-side encryption or requester-pays headers): packs
/// then go through `object_store`.
struct PackPuts {
    client: HttpClient,
    region: String,
}

impl PackPuts {
    /// The signed pack uploads for a store built from `builder` with the
    /// client settings `client`, if its requests carry nothing else.
    fn for_store(
        builder: &AmazonS3Builder,
        client: &ClientOptions,
        region: &str,
    ) -> object_store::Result<Option<PackPuts>> {
        let set = |key: AmazonS3ConfigKey| builder.get_config_value(&key);
        let flag = |key: AmazonS3ConfigKey| set(key).is_some_and(|v| v == "true");
        // The encryption keys by name: their enum is not exported.
        let encrypted = [
            "aws_server_side_encryption",
            "aws_sse_kms_key_id",
            "aws_sse_bucket_key_enabled",
            "aws_sse_customer_key_base64",
        ]
        .into_iter()
        .filter_map(|name| name.parse().ok())
        .any(|k| set(k).is_some());
        if flag(AmazonS3ConfigKey::SkipSignature)
            || flag(AmazonS3ConfigKey::S3Express)
            || flag(AmazonS3ConfigKey::RequestPayer)
            || set(AmazonS3ConfigKey::Checksum).is_some()
            || encrypted
        {
            return Ok(None);
        }
        Ok(Some(PackPuts {
            client: ReqwestConnector::default().connect(client)?,
            region: region.to_string(),
        }))
    }
}

/// What is needed to create a missing bucket on `init`.
struct BucketCreation {
    region: String,
}

impl std::fmt::Debug for S3Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the store holds credentials.
        f.debug_struct("S3Backend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Reads an `AWS_*` variable, or the file named by `AWS_*_FILE`.
fn env_or_file(name: &str) -> Result<Option<String>, Error> {
    if let Ok(v) = std::env::var(name) {
        if !v.is_empty() {
            return Ok(Some(v));
        }
    }
    let file_var = format!("{name}_FILE");
    match std::env::var_os(&file_var) {
        Some(path) if !path.is_empty() => {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::Credentials {
                // Names the variable, never the content.
                reason: format!("reading {file_var} ({}): {e}", path.to_string_lossy()),
            })?;
            Ok(Some(text.trim().to_string()))
        }
        _ => Ok(None),
    }
}

impl S3Backend {
    /// Opens (without any request) the bucket of `loc` with `options`
    /// and credentials from the `AWS_*` environment.
    pub fn open(loc: &S3Location, options: &Options, display: String) -> Result<S3Backend, Error> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&loc.bucket);
        for (var, key) in [
            ("AWS_ACCESS_KEY_ID", 0),
            ("AWS_SECRET_ACCESS_KEY", 1),
            ("AWS_SESSION_TOKEN", 2),
        ] {
            if let Some(v) = env_or_file(var)? {
                b = match key {
                    0 => b.with_access_key_id(v),
                    1 => b.with_secret_access_key(v),
                    _ => b.with_token(v),
                };
            }
        }
        let region = match options.get("s3.region") {
            Some(r) => r.to_string(),
            None => std::env::var("AWS_DEFAULT_REGION")
                .or_else(|_| std::env::var("AWS_REGION"))
                .unwrap_or_else(|_| "us-east-1".to_string()),
        };
        b = b.with_region(&region);
        let virtual_hosted = match options.get("s3.bucket-lookup").unwrap_or("auto") {
            "auto" => loc.is_aws(),
            "dns" => true,
            "path" => false,
            other => {
                return Err(Error::Option {
                    key: "s3.bucket-lookup".into(),
                    reason: format!("{other:?} is not one of auto, dns, path"),
                })
            }
        };
        b = b.with_virtual_hosted_style_request(virtual_hosted);
        let generic_aws = loc.host == "s3.amazonaws.com";
        if !generic_aws {
            let endpoint = if virtual_hosted {
                let scheme = if loc.https { "https" } else { "http" };
                format!("{scheme}://{}.{}", loc.bucket, loc.host)
            } else {
                loc.endpoint()
            };
            b = b.with_endpoint(endpoint);
        }
        // Plain http only when the location says so, whatever AWS_ALLOW_HTTP says.
        b = b.with_allow_http(!loc.https);
        let has_key = env_or_file("AWS_ACCESS_KEY_ID")?.is_some();
        let other_provider = [
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
        if !has_key && !other_provider && !loc.is_aws() {
            // No credentials for a non-AWS server: anonymous requests, as
            // restic makes them, rather than asking the EC2 metadata service.
            b = b.with_skip_signature(true);
        }
        // Retries are the RetryBackend's job, where they are visible.
        b = b.with_retry(RetryConfig {
            max_retries: 0,
            ..RetryConfig::default()
        });
        // A request that makes no progress for the stuck-request timeout
        // is abandoned (and retried); a whole request, however slow,
        // gets at least ten minutes.
        let stuck = options.stuck_request_timeout();
        let mut client = ClientOptions::new()
            .with_allow_http(!loc.https)
            .with_connect_timeout(Duration::from_secs(10))
            .with_read_timeout(stuck)
            .with_timeout(stuck.max(Duration::from_secs(600)));
        let http = options.http();
        let open_err = |reason: String| Error::Open {
            location: display.clone(),
            reason,
        };
        if http.client_cert.is_some() {
            return Err(open_err(
                "a TLS client certificate is supported for REST repositories only".into(),
            ));
        }
        for pem in &http.ca_certs {
            let certs = object_store::Certificate::from_pem_bundle(pem)
                .map_err(|e| open_err(format!("reading the CA certificates: {e}")))?;
            for cert in certs {
                client = client.with_root_certificate(cert);
            }
        }
        client = client.with_allow_invalid_certificates(http.insecure_tls);
        if let Some(agent) = &http.user_agent {
            let value = agent
                .parse()
                .map_err(|e| open_err(format!("invalid user agent {agent:?}: {e}")))?;
            client = client.with_user_agent(value);
        }
        let pack_puts = PackPuts::for_store(&b, &client, &region).map_err(|e| Error::Open {
            location: display.clone(),
            reason: e.to_string(),
        })?;
        b = b.with_client_options(client);
        let store = b.build().map_err(|e| Error::Open {
            location: display.clone(),
            reason: e.to_string(),
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("hbk-s3")
            .on_thread_start(crate::sigpipe::block_in_this_thread)
            .enable_all()
            .build()
            .map_err(|e| Error::Open {
                location: display.clone(),
                reason: format!("starting the I/O runtime: {e}"),
            })?;
        Ok(S3Backend {
            store,
            runtime,
            prefix: loc.prefix.clone(),
            location: display,
            storage_class: options.get("s3.storage-class").map(str::to_string),
            limiter: Limiter::new(options.get_count("s3.connections", 5)?),
            create_bucket: Some(BucketCreation { region }),
            pack_puts,
        })
    }

    /// Runs a future to completion from synchronous code.
    fn block_on<F>(&self, f: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let _permit = self.limiter.acquire();
        let run = || crate::sigpipe::blocked(|| self.runtime.block_on(f));
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| match s.spawn(run).join() {
                Ok(v) => v,
                Err(panic) => std::panic::resume_unwind(panic),
            })
        } else {
            run()
        }
    }

    /// Where the range `offset`+`length` of `key` ends; an overflow is
    /// an error.
    fn range_end(&self, key: &ObjectPath, offset: u64, length: u64) -> BackendResult<u64> {
        offset
            .checked_add(length)
            .ok_or_else(|| BackendError::Other {
                what: self.what(key),
                message: format!("range {offset}+{length} overflows"),
            })
    }

    fn key(&self, t: FileType, id: &Id) -> ObjectPath {
        self.key_str(&layout::relative_path(t, id))
    }

    fn key_str(&self, rel: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(rel)
        } else {
            ObjectPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn what(&self, key: &ObjectPath) -> String {
        format!("{}: {key}", self.location)
    }

    fn err(&self, key: &ObjectPath, e: object_store::Error) -> BackendError {
        classify(self.what(key), e)
    }

    /// `length` bytes at `offset` of `key`, cut from the whole object: for
    /// servers that answer a ranged GET with `200` and the whole object
    /// (or the range under the wrong status), which `object_store`
    /// refuses to read (`rclone serve s3` does this; restic copes).
    fn read_range_whole(
        &self,
        key: &ObjectPath,
        offset: u64,
        length: u64,
    ) -> BackendResult<Vec<u8>> {
        let whole = self
            .block_on(async { self.store.get(key).await?.bytes().await })
            .map_err(|e| self.err(key, e))?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = usize::try_from(length)
            .ok()
            .and_then(|l| start.checked_add(l));
        match end.and_then(|end| whole.get(start..end)) {
            Some(part) => Ok(part.to_vec()),
            None => Err(BackendError::ShortRead {
                what: self.what(key),
                offset,
                length,
                got: (whole.len() as u64).saturating_sub(offset),
            }),
        }
    }

    /// The stored size of an object.
    fn head_size(&self, key: &ObjectPath) -> BackendResult<u64> {
        self.block_on(self.store.head(key))
            .map(|m| m.size)
            .map_err(|e| self.err(key, e))
    }

    async fn put_multipart(
        &self,
        key: &ObjectPath,
        data: bytes::Bytes,
        attrs: Attributes,
    ) -> object_store::Result<()> {
        let opts = PutMultipartOptions {
            attributes: attrs,
            ..Default::default()
        };
        let mut upload = self.store.put_multipart_opts(key, opts).await?;
        for start in (0..data.len()).step_by(PART_SIZE) {
            let part = data.slice(start..data.len().min(start + PART_SIZE));
            if let Err(e) = upload.put_part(PutPayload::from(part)).await {
                let _ = upload.abort().await;
                return Err(e);
            }
        }
        match upload.complete().await {
            Ok(_) => Ok(()),
            Err(e) => {
                let _ = upload.abort().await;
                Err(e)
            }
        }
    }

    /// Uploads the pack `id` (`data`, whose SHA-256 `id` is) at `key`,
    /// signed with `id` as the payload's hash ([`PackPuts`]).
    async fn put_pack(
        &self,
        puts: &PackPuts,
        key: &ObjectPath,
        id: &Id,
        data: bytes::Bytes,
    ) -> BackendResult<()> {
        let what = self.what(key);
        let store_err = |e| classify(what.clone(), e);
        let credential = self
            .store
            .credentials()
            .get_credential()
            .await
            .map_err(store_err)?;
        // The object's URL as the store forms it, without the query of a
        // pre-signed request.
        let mut url = self
            .store
            .signed_url(reqwest::Method::PUT, key, Duration::from_secs(300))
            .await
            .map_err(store_err)?;
        url.set_query(None);
        let invalid = |message: String| BackendError::Other {
            what: what.clone(),
            message,
        };
        let mut request = HttpRequest::new(HttpRequestBody::from(data));
        *request.method_mut() = reqwest::Method::PUT;
        *request.uri_mut() = url
            .as_str()
            .parse()
            .map_err(|e| invalid(format!("object URL {url}: {e}")))?;
        if let Some(class) = &self.storage_class {
            let value = HeaderValue::from_str(class)
                .map_err(|e| invalid(format!("storage class {class:?}: {e}")))?;
            request.headers_mut().insert("x-amz-storage-class", value);
        }
        AwsAuthorizer::new(&credential, "s3", &puts.region)
            .try_authorize(&mut request, Some(&id.0))
            .map_err(store_err)?;
        let response = puts
            .client
            .execute(request)
            .await
            .map_err(|e| transport_err(what.clone(), &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.into_body().bytes().await.unwrap_or_default();
        Err(status_err(
            what.clone(),
            status.as_u16(),
            &String::from_utf8_lossy(&body),
        ))
    }

    /// Creates the bucket with a pre-signed `PUT`, as restic's `init`
    /// does when the bucket does not exist.
    fn create_bucket(&self, region: &str) -> BackendResult<()> {
        let root = ObjectPath::from("");
        let what = format!("{}: creating bucket", self.location);
        let fut = async {
            let url = self
                .store
                .signed_url(reqwest::Method::PUT, &root, Duration::from_secs(300))
                .await
                .map_err(|e| classify(what.clone(), e))?;
            // The signed URL of the empty path is the bucket URL plus `/`.
            let mut url = url;
            let path = url.path().trim_end_matches('/').to_string();
            url.set_path(&path);
            let body = if region == "us-east-1" {
                String::new()
            } else {
                format!(
                    "<CreateBucketConfiguration><LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
                )
            };
            let resp = reqwest::Client::new()
                .put(url)
                .header(reqwest::header::CONTENT_LENGTH, body.len())
                .body(body)
                .send()
                .await
                .map_err(|e| transport_err(what.clone(), &e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let text = resp.text().await.unwrap_or_default();
            if text.contains("BucketAlreadyOwnedByYou") {
                return Ok(());
            }
            Err(status_err(what.clone(), status.as_u16(), &text))
        };
        self.block_on(fut)
    }

    /// Whether the bucket exists: a one-key listing succeeds.
    fn bucket_exists(&self) -> BackendResult<bool> {
        let prefix = self.key_str("keys");
        let res = self.block_on(async {
            let mut s = self.store.list(Some(&prefix));
            s.try_next().await.map(|_| ())
        });
        match res {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => {
                let text = error_chain(&e);
                if text.contains("NoSuchBucket") {
                    Ok(false)
                } else {
                    Err(self.err(&prefix, e))
                }
            }
        }
    }
}

/// Whether `e` is `object_store` refusing a ranged GET's answer that
/// came with `200` instead of `206` (its error type is private; the
/// message is pinned by its own tests).
fn ignores_range(e: &object_store::Error) -> bool {
    error_chain(e).contains("non-partial response")
}

/// Whether an error chain shows a network fault worth retrying.
fn transient_transport(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            if matches!(
                h.kind(),
                K::Connect | K::Request | K::Timeout | K::Interrupted | K::Decode
            ) {
                return true;
            }
        }
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            if r.is_timeout() || r.is_connect() || r.is_request() || r.is_body() || r.is_decode() {
                return true;
            }
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionReset
                    | K::ConnectionAborted
                    | K::ConnectionRefused
                    | K::BrokenPipe
                    | K::TimedOut
                    | K::UnexpectedEof
            ) {
                return true;
            }
        }
        cur = c.source();
    }
    false
}

/// The HTTP status a message reports (`… status code: 503 …`), if any.
fn status_in(text: &str) -> Option<u16> {
    let i = text.find("status code: ")?;
    text[i + 13..].get(..3)?.parse().ok()
}

fn status_err(what: String, status: u16, body: &str) -> BackendError {
    let message = format!(
        "HTTP {status}: {}",
        body.chars().take(300).collect::<String>()
    );
    if status >= 500 || status == 429 || status == 408 {
        BackendError::Transient { what, message }
    } else if status == 401 || status == 403 {
        access_denied(what, &message)
    } else if status == 404 {
        BackendError::NotFound { what }
    } else {
        BackendError::Other { what, message }
    }
}

/// A request the server refused for its credentials (401 or 403).
fn access_denied(what: String, detail: &str) -> BackendError {
    BackendError::Other {
        what,
        message: format!("access denied (check the AWS_* credentials): {detail}"),
    }
}

/// A request that got no response: transient when the network failed.
fn transport_err(what: String, e: &(dyn std::error::Error + 'static)) -> BackendError {
    let message = error_chain(e);
    if transient_transport(e) {
        BackendError::Transient { what, message }
    } else {
        BackendError::Other { what, message }
    }
}

/// Maps an `object_store` error to the backend's classes: missing,
/// existing, transient (5xx, throttling, network) or permanent.
fn classify(what: String, e: object_store::Error) -> BackendError {
    use object_store::Error as E;
    match e {
        E::NotFound { .. } => BackendError::NotFound { what },
        E::AlreadyExists { .. } | E::Precondition { .. } => BackendError::AlreadyExists { what },
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            access_denied(what, &error_chain(&e))
        }
        other => {
            let message = error_chain(&other);
            let status = status_in(&message);
            let transient = transient_transport(&other)
                || status.is_some_and(|s| s >= 500 || s == 429 || s == 408)
                || message.contains("InternalError")
                || message.contains("SlowDown");
            if transient {
                BackendError::Transient { what, message }
            } else {
                BackendError::Other { what, message }
            }
        }
    }
}

/// A response body read as it arrives, one chunk at a time, on the
/// backend's runtime.
struct BodyReader<'a> {
    backend: &'a S3Backend,
    body: futures::stream::BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl std::io::Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.backend.block_on(self.body.try_next()) {
                Ok(Some(next)) => self.chunk = next,
                Ok(None) => return Ok(0),
                Err(e) => return Err(std::io::Error::other(error_chain(&e))),
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        buf[..n].copy_from_slice(&head);
        Ok(n)
    }
}

impl Backend for S3Backend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn create(&self) -> BackendResult<()> {
        if let Some(c) = &self.create_bucket {
            if !self.bucket_exists()? {
                self.create_bucket(&c.region)?;
            }
        }
        let config = self.key(FileType::Config, &Id::default());
        match self.head_size(&config) {
            Ok(_) => Err(BackendError::AlreadyExists {
                what: self.what(&config),
            }),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        if t == FileType::Config {
            let key = self.key(t, &Id::default());
            return match self.head_size(&key) {
                Ok(size) => Ok(vec![(Id::default(), size)]),
                Err(e) if e.is_not_found() => Ok(vec![]),
                Err(e) => Err(e),
            };
        }
        let prefix = self.key_str(t.dir_name());
        let metas: Vec<object_store::ObjectMeta> = self
            .block_on(self.store.list(Some(&prefix)).try_collect())
            .map_err(|e| self.err(&prefix, e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let id = m.location.filename().and_then(layout::parse_name)?;
                Some((id, m.size))
            })
            .collect())
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        let key = self.key(t, id);
        self.block_on(async {
            let r = self.store.get(&key).await?;
            r.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(|e| self.err(&key, e))
    }

    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        let key = self.key(t, id);
        let end = self.range_end(&key, offset, length)?;
        let bytes = match self.block_on(self.store.get_range(&key, offset..end)) {
            Ok(bytes) => bytes,
            Err(e) if ignores_range(&e) => return self.read_range_whole(&key, offset, length),
            Err(e) => return Err(self.err(&key, e)),
        };
        if bytes.len() as u64 != length {
            return Err(BackendError::ShortRead {
                what: self.what(&key),
                offset,
                length,
                got: bytes.len() as u64,
            });
        }
        Ok(bytes.to_vec())
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        let key = self.key(t, id);
        if length == 0 {
            return Ok(Box::new(std::io::empty()));
        }
        let end = self.range_end(&key, offset, length)?;
        let opts = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(offset..end)),
            ..Default::default()
        };
        let result = match self.block_on(self.store.get_opts(&key, opts)) {
            Ok(result) => result,
            Err(e) if ignores_range(&e) => {
                let bytes = self.read_range_whole(&key, offset, length)?;
                return Ok(Box::new(std::io::Cursor::new(bytes)));
            }
            Err(e) => return Err(self.err(&key, e)),
        };
        Ok(Box::new(BodyReader {
            backend: self,
            body: result.into_stream(),
            chunk: bytes::Bytes::new(),
        }))
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.write_bytes(t, id, bytes::Bytes::copy_from_slice(data))
    }

    fn write_bytes(&self, t: FileType, id: &Id, data: bytes::Bytes) -> BackendResult<()> {
        let key = self.key(t, id);
        let mut attrs = Attributes::new();
        if let (FileType::Pack, Some(class)) = (t, &self.storage_class) {
            attrs.insert(Attribute::StorageClass, class.clone().into());
        }
        let res = if data.len() >= MULTIPART_THRESHOLD {
            self.block_on(self.put_multipart(&key, data, attrs))
        } else if let (FileType::Pack, Some(puts)) = (t, &self.pack_puts) {
            debug_assert_eq!(Id::hash(&data), *id, "a pack's id is the hash of its bytes");
            return self.block_on(self.put_pack(puts, &key, id, data));
        } else {
            let opts = PutOptions {
                mode: PutMode::Overwrite,
                attributes: attrs,
                ..Default::default()
            };
            self.block_on(self.store.put_opts(&key, PutPayload::from(data), opts))
                .map(|_| ())
        };
        res.map_err(|e| self.err(&key, e))
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        let key = self.key(t, id);
        // S3 deletes are idempotent; the trait reports a missing file.
        self.head_size(&key)?;
        self.discard(t, id)
    }

    fn discard(&self, t: FileType, id: &Id) -> BackendResult<()> {
        let key = self.key(t, id);
        self.block_on(self.store.delete(&key))
            .map_err(|e| self.err(&key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        assert_eq!(
            status_in("Server returned non-2xx status code: 503 Service Unavailable: "),
            Some(503)
        );
        assert_eq!(status_in("no status"), None);
        assert!(status_err("x".into(), 500, "").is_transient());
        assert!(status_err("x".into(), 429, "").is_transient());
        assert!(!status_err("x".into(), 403, "").is_transient());
        assert!(status_err("x".into(), 404, "").is_not_found());
    }
}
