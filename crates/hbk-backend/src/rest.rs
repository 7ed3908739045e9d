//! A repository behind restic's REST protocol (`rest-server`,
//! `rclone serve restic`), over blocking reqwest (the same HTTP and TLS
//! stack `object_store` uses).
//!
//! Protocol: `POST /?create=true` creates the repository; files are
//! `/config` and `/{keys,snapshots,index,locks,data}/ID` (no `data/XX/`
//! level on the wire), read with `GET` (with `Range`), stored with
//! `POST`, checked with `HEAD` and deleted with `DELETE`. Listings ask
//! for version 2 (`Accept: application/vnd.x.restic.rest.v2`, names with
//! sizes) and fall back to version 1 (names only; sizes by `HEAD`).
//!
//! Uploads carry a `Content-Length`, so a body cut on the way fails the
//! request instead of being stored short, and rest-server verifies the
//! SHA-256 of every upload unless started with `--no-verify-upload`; no
//! request is spent asking for the stored size afterwards (restic does
//! not either).

use std::time::Duration;

use hbk_repo::{Backend, BackendError, BackendResult, FileType, Id};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, RANGE};
use reqwest::StatusCode;

use crate::layout;
use crate::limit::Limiter;
use crate::location::RestLocation;
use crate::options::Options;
use crate::rest_listing::{parse_listing, Listing};
use crate::Error;

const V2: &str = "application/vnd.x.restic.rest.v2";

/// A repository on a REST server.
pub struct RestBackend {
    client: Client,
    base: url::Url,
    user: Option<String>,
    password: Option<String>,
    location: String,
    limiter: Limiter,
}

impl std::fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not derived: the password must not appear.
        f.debug_struct("RestBackend")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// Runs blocking HTTP work off any tokio runtime thread: blocking reqwest
/// must not run (or be dropped) inside a runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        f()
    }
}

/// Bytes reserved up front for a ranged read at most; a longer body grows
/// the buffer as it arrives.
const MAX_RESERVE: usize = 64 << 20;

/// A response body read as it arrives; reads and the drop run off any
/// tokio runtime (see [`off_runtime`]).
struct BodyReader(Option<Response>);

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.as_mut() {
            Some(resp) => off_runtime(|| resp.read(buf)),
            None => Ok(0),
        }
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        if let Some(resp) = self.0.take() {
            off_runtime(move || drop(resp));
        }
    }
}

impl RestBackend {
    /// A backend for `loc` (no request is made).
    pub fn open(
        loc: &RestLocation,
        options: &Options,
        display: String,
    ) -> Result<RestBackend, Error> {
        // The client's I/O thread starts here and inherits the blocked
        // SIGPIPE. Blocking reqwest applies its timeout to each wait
        // separately (sending and the answer's head, then every read of
        // the body), so it is the stuck-request timeout: a slow transfer
        // that keeps moving is never cut, a silent one is.
        let stuck = options.stuck_request_timeout();
        let http = options.http();
        let open_err = |reason: String| Error::Open {
            location: display.clone(),
            reason,
        };
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(stuck)
            .tls_danger_accept_invalid_certs(http.insecure_tls);
        if !http.ca_certs.is_empty() {
            let certs = http
                .ca_certs
                .iter()
                .map(|pem| reqwest::Certificate::from_pem_bundle(pem))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| open_err(format!("reading the CA certificates: {e}")))?;
            builder = builder.tls_certs_only(certs.into_iter().flatten());
        }
        if let Some(pem) = &http.client_cert {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|e| open_err(format!("reading the TLS client certificate: {e}")))?;
            builder = builder.identity(identity);
        }
        if let Some(agent) = &http.user_agent {
            builder = builder.user_agent(agent.as_str());
        }
        let client = off_runtime(|| crate::sigpipe::blocked(|| builder.build()))
            .map_err(|e| open_err(e.to_string()))?;
        Ok(RestBackend {
            client,
            base: loc.url.clone(),
            user: loc.user.clone(),
            password: loc.password.clone(),
            location: display,
            limiter: Limiter::new(options.get_count("rest.connections", 5)?),
        })
    }

    fn url(&self, rel: &str) -> BackendResult<url::Url> {
        self.base.join(rel).map_err(|e| BackendError::Other {
            what: format!("{}{rel}", self.location),
            message: e.to_string(),
        })
    }

    /// The path of a file on the wire: restic's layout without the
    /// `data/XX/` level.
    fn rel(t: FileType, id: &Id) -> String {
        match t {
            FileType::Pack => format!("data/{}", id.to_hex()),
            _ => layout::relative_path(t, id),
        }
    }

    fn what(&self, rel: &str) -> String {
        format!("{}{rel}", self.location)
    }

    /// Sends a request with authentication, under the connection limit.
    fn send(
        &self,
        rel: &str,
        build: impl FnOnce(&Client, url::Url) -> RequestBuilder + Send,
    ) -> BackendResult<Response> {
        let url = self.url(rel)?;
        let _permit = self.limiter.acquire();
        off_runtime(|| {
            let mut req = build(&self.client, url);
            if let Some(user) = &self.user {
                req = req.basic_auth(user, self.password.as_ref());
            }
            req.send()
        })
        .map_err(|e| transport(self.what(rel), &e))
    }

    /// Turns a non-success status into the matching error.
    fn check(&self, rel: &str, method: &str, resp: Response) -> BackendResult<Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = off_runtime(|| resp.text().unwrap_or_default());
        Err(status_error(self.what(rel), method, status, &body))
    }

    /// Sends a ranged GET; the answer is checked (a server that ignores
    /// `Range` answers 200 with the whole file).
    fn get_range(&self, rel: &str, offset: u64, length: u64) -> BackendResult<Response> {
        let last = offset
            .checked_add(length.saturating_sub(1))
            .ok_or_else(|| BackendError::Other {
                what: self.what(rel),
                message: format!("range {offset}+{length} overflows"),
            })?;
        let resp = self.send(rel, |c, u| {
            c.get(u).header(RANGE, format!("bytes={offset}-{last}"))
        })?;
        if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE {
            return Err(BackendError::ShortRead {
                what: self.what(rel),
                offset,
                length,
                got: 0,
            });
        }
        self.check(rel, "GET", resp)
    }

    fn head_size(&self, rel: &str) -> BackendResult<u64> {
        let resp = self.send(rel, |c, u| c.head(u))?;
        let resp = self.check(rel, "HEAD", resp)?;
        resp.headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| BackendError::Other {
                what: self.what(rel),
                message: "HEAD answer without a Content-Length".into(),
            })
    }

    fn body(&self, rel: &str, resp: Response) -> BackendResult<Vec<u8>> {
        off_runtime(|| resp.bytes())
            .map(|b| b.to_vec())
            .map_err(|e| transport(self.what(rel), &e))
    }
}

fn transport(what: String, e: &reqwest::Error) -> BackendError {
    let message = hbk_repo::error_chain(e);
    // Every transport failure (refused, reset, timed out, cut short) may
    // go away; a wrong URL or TLS setup fails the same way each attempt
    // and runs out of retries with this message.
    if e.is_builder() {
        BackendError::Other { what, message }
    } else {
        BackendError::Transient { what, message }
    }
}

fn status_error(what: String, method: &str, status: StatusCode, body: &str) -> BackendError {
    let body: String = body.trim().chars().take(200).collect();
    let code = status.as_u16();
    match code {
        404 => BackendError::NotFound { what },
        401 => BackendError::Other {
            what,
            message: "authentication failed (HTTP 401): check the user and password in the rest: URL".into(),
        },
        403 if method == "DELETE" => BackendError::Other {
            what,
            message: "the server refused to delete (HTTP 403 Forbidden); it is probably an append-only server (rest-server --append-only), which keeps every file".into(),
        },
        403 if method == "POST" => BackendError::Other {
            what,
            message: "the server refused the upload (HTTP 403 Forbidden): the file may exist already on an append-only server, or access is denied".into(),
        },
        408 | 429 | 500..=599 => BackendError::Transient {
            what,
            message: format!("{method} answered {status} {body}"),
        },
        _ => BackendError::Other {
            what,
            message: format!("{method} answered {status} {body}"),
        },
    }
}

impl Backend for RestBackend {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn create(&self) -> BackendResult<()> {
        match self.head_size("config") {
            Ok(_) => {
                return Err(BackendError::AlreadyExists {
                    what: self.what("config"),
                })
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e),
        }
        let resp = self.send("?create=true", |c, u| c.post(u))?;
        self.check("?create=true", "POST", resp).map(|_| ())
    }

    fn list(&self, t: FileType) -> BackendResult<Vec<(Id, u64)>> {
        if t == FileType::Config {
            return match self.head_size("config") {
                Ok(size) => Ok(vec![(Id::default(), size)]),
                Err(e) if e.is_not_found() => Ok(vec![]),
                Err(e) => Err(e),
            };
        }
        let rel = format!("{}/", t.dir_name());
        let resp = self.send(&rel, |c, u| c.get(u).header(ACCEPT, V2))?;
        let resp = match self.check(&rel, "GET", resp) {
            Ok(r) => r,
            Err(e) if e.is_not_found() => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let v2 = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(V2));
        let body = self.body(&rel, resp)?;
        let bad = |e: serde_json::Error| BackendError::Other {
            what: self.what(&rel),
            message: format!("invalid listing: {e}"),
        };
        match parse_listing(&body, v2).map_err(bad)? {
            Listing::Sized(entries) => Ok(entries),
            Listing::Names(ids) => {
                let mut out = Vec::new();
                for id in ids {
                    out.push((id, self.head_size(&Self::rel(t, &id))?));
                }
                Ok(out)
            }
        }
    }

    fn read_full(&self, t: FileType, id: &Id) -> BackendResult<Vec<u8>> {
        let rel = Self::rel(t, id);
        let resp = self.send(&rel, |c, u| c.get(u))?;
        let resp = self.check(&rel, "GET", resp)?;
        self.body(&rel, resp)
    }

    /// The range read through [`Backend::read_range_stream`], so both
    /// handle a server that ignores `Range` the same way.
    fn read_range(&self, t: FileType, id: &Id, offset: u64, length: u64) -> BackendResult<Vec<u8>> {
        use std::io::Read;
        let rel = Self::rel(t, id);
        let mut stream = self.read_range_stream(t, id, offset, length)?;
        // The length comes from an index entry: reserve at most a bound.
        let reserve = usize::try_from(length)
            .unwrap_or(usize::MAX)
            .min(MAX_RESERVE);
        let mut body = Vec::with_capacity(reserve);
        stream
            .read_to_end(&mut body)
            .map_err(|e| BackendError::Transient {
                what: self.what(&rel),
                message: e.to_string(),
            })?;
        if body.len() as u64 != length {
            return Err(BackendError::ShortRead {
                what: self.what(&rel),
                offset,
                length,
                got: body.len() as u64,
            });
        }
        Ok(body)
    }

    fn read_range_stream(
        &self,
        t: FileType,
        id: &Id,
        offset: u64,
        length: u64,
    ) -> BackendResult<Box<dyn std::io::Read + Send + '_>> {
        use std::io::Read;
        let rel = Self::rel(t, id);
        if length == 0 {
            return Ok(Box::new(std::io::empty()));
        }
        let resp = self.get_range(&rel, offset, length)?;
        let full = resp.status() == StatusCode::OK;
        let body = BodyReader(Some(resp));
        if full {
            // A server that ignores Range sends the whole file: skip to
            // the offset.
            let mut whole = body.take(offset.saturating_add(length));
            let skipped = std::io::copy(&mut (&mut whole).take(offset), &mut std::io::sink())
                .map_err(|e| BackendError::Transient {
                    what: self.what(&rel),
                    message: e.to_string(),
                })?;
            if skipped != offset {
                return Err(BackendError::ShortRead {
                    what: self.what(&rel),
                    offset,
                    length,
                    got: 0,
                });
            }
            return Ok(Box::new(whole));
        }
        Ok(Box::new(body.take(length)))
    }

    fn write(&self, t: FileType, id: &Id, data: &[u8]) -> BackendResult<()> {
        self.write_bytes(t, id, bytes::Bytes::copy_from_slice(data))
    }

    fn write_bytes(&self, t: FileType, id: &Id, payload: bytes::Bytes) -> BackendResult<()> {
        let rel = Self::rel(t, id);
        let resp = self.send(&rel, move |c, u| {
            c.post(u)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(payload)
        })?;
        self.check(&rel, "POST", resp).map(|_| ())
    }

    fn remove(&self, t: FileType, id: &Id) -> BackendResult<()> {
        let rel = Self::rel(t, id);
        let resp = self.send(&rel, |c, u| c.delete(u))?;
        self.check(&rel, "DELETE", resp).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let s = |c: u16, m: &str| status_error("x".into(), m, StatusCode::from_u16(c).unwrap(), "");
        assert!(s(404, "GET").is_not_found());
        assert!(s(503, "GET").is_transient());
        assert!(!s(401, "GET").is_transient());
        let del = s(403, "DELETE").to_string();
        assert!(del.contains("append-only"), "{del}");
        assert!(!s(400, "POST").is_transient());
    }

    /// A server speaking only version 1 of the listing: the backend falls
    /// back to names plus a HEAD per file for the size.
    #[test]
    fn v1_listing_falls_back_to_head() {
        use std::io::{BufRead, BufReader, Write};
        let id = Id::hash(b"key");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hex = id.to_hex();
        let server = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    if h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let resp = if line.starts_with("GET /repo/keys/ ") {
                    let body = format!("[\"{hex}\",\"not-an-id\"]");
                    format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: close\r\n\r\n".to_string()
                };
                s.write_all(resp.as_bytes()).unwrap();
                seen.push(line.trim().to_string());
            }
            seen
        });
        let loc = crate::location::parse(&format!("rest:http://127.0.0.1:{port}/repo/")).unwrap();
        let crate::Location::Rest(loc) = loc else {
            panic!()
        };
        let b = RestBackend::open(&loc, &Options::new(), "test".into()).unwrap();
        assert_eq!(b.list(FileType::Key).unwrap(), vec![(id, 42)]);
        let seen = server.join().unwrap();
        assert_eq!(seen[1], format!("HEAD /repo/keys/{} HTTP/1.1", id.to_hex()));
    }

    #[test]
    fn wire_paths() {
        let id = Id::hash(b"x");
        assert_eq!(
            RestBackend::rel(FileType::Pack, &id),
            format!("data/{}", id.to_hex())
        );
        assert_eq!(
            RestBackend::rel(FileType::Index, &id),
            format!("index/{}", id.to_hex())
        );
        assert_eq!(RestBackend::rel(FileType::Config, &id), "config");
    }
}
