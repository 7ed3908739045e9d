//! Clients of the Proxmox VE and Proxmox Backup Server REST APIs.
//!
//! Both speak JSON under `/api2/json`, wrap every answer in
//! `{"data": …}`, authenticate API tokens with one header (PVE:
//! `PVEAPIToken=USER@REALM!TOKEN=SECRET`, PBS:
//! `PBSAPIToken=USER@REALM!TOKEN:SECRET`) and run long work as tasks
//! named by a UPID whose status is polled until it stops. [`ApiClient`]
//! holds what they share; [`pve::PveClient`] and [`pbs::PbsClient`] add
//! the endpoints the plan uses.
//!
//! A 401 is never retried: the client remembers it and fails every later
//! call at once, so a wrong token costs one request, not a storm.

pub mod pbs;
pub mod pve;
pub mod task;
pub mod tls;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hbk_repo::error_chain;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::Value;

use crate::config::ApiConfig;
use crate::secret::Secret;
use crate::{Error, Result};

use task::{TaskOutcome, TaskStatus, Upid};

/// Which API a client talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// Proxmox VE (port 8006).
    Pve,
    /// Proxmox Backup Server (port 8007).
    Pbs,
}

impl ApiKind {
    /// `PVE` or `PBS`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            ApiKind::Pve => "PVE",
            ApiKind::Pbs => "PBS",
        }
    }

    /// The `Authorization` header value for a token.
    pub fn auth_header(self, token_id: &str, secret: &Secret) -> Secret {
        match self {
            ApiKind::Pve => Secret::new(format!("PVEAPIToken={token_id}={}", secret.expose())),
            ApiKind::Pbs => Secret::new(format!("PBSAPIToken={token_id}:{}", secret.expose())),
        }
    }
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`), which a strict proxy in front of
/// the API may not decode.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment (UPIDs, snapshot names).
pub fn seg(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// The shared part of both clients: HTTP, auth, envelopes, tasks.
#[derive(Clone)]
pub struct ApiClient {
    kind: ApiKind,
    base: String,
    auth: Secret,
    http: Client,
    poll: Duration,
    task_timeout: Duration,
    auth_failed: Arc<AtomicBool>,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("kind", &self.kind)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client for `cfg`, authenticating with `secret`.
    pub fn new(kind: ApiKind, cfg: &ApiConfig, secret: &Secret) -> Result<ApiClient> {
        let mut builder = Client::builder()
            .timeout(cfg.request_timeout.0)
            .connect_timeout(Duration::from_secs(15));
        if let Some(fp) = &cfg.fingerprint {
            builder = builder.tls_backend_preconfigured(tls::pinned_config(fp)?);
        } else if let Some(ca) = &cfg.ca_file {
            let pem = std::fs::read(ca).map_err(|e| Error::io(ca, e))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Tls(format!("{}: {e}", ca.display())))?;
            builder = builder.tls_certs_only(certs);
        }
        let http = builder.build().map_err(|e| Error::Tls(e.to_string()))?;
        Ok(ApiClient {
            kind,
            base: format!("{}/api2/json", cfg.url.trim_end_matches('/')),
            auth: kind.auth_header(&cfg.token_id, secret),
            http,
            poll: cfg.poll_interval.0,
            task_timeout: cfg.task_timeout.0,
            auth_failed: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Which API this is.
    pub fn kind(&self) -> ApiKind {
        self.kind
    }

    /// Whether the server refused the token earlier in this run.
    pub fn auth_failed(&self) -> bool {
        self.auth_failed.load(Ordering::SeqCst)
    }

    /// `GET /version`: the release, which also proves the token works.
    pub fn version(&self) -> Result<String> {
        let v = self.get("/version", &[])?;
        Ok(v.get("version")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_string())
    }

    /// `GET path?query` → `data`.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.call(Method::GET, path, |r| r.query(query))
    }

    /// `POST path` with a form body → `data`.
    pub fn post(&self, path: &str, form: &[(&str, String)]) -> Result<Value> {
        self.call(Method::POST, path, |r| r.form(form))
    }

    /// `PUT path` with a form body → `data`.
    pub fn put(&self, path: &str, form: &[(&str, String)]) -> Result<Value> {
        self.call(Method::PUT, path, |r| r.form(form))
    }

    /// `DELETE path?query` → `data`.
    pub fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.call(Method::DELETE, path, |r| r.query(query))
    }

    fn call(
        &self,
        method: Method,
        path: &str,
        add: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let api = self.kind.label();
        if self.auth_failed() {
            return Err(Error::ApiAuth { api, url });
        }
        let req = self
            .http
            .request(method.clone(), &url)
            .header(reqwest::header::AUTHORIZATION, self.auth.expose());
        let resp = add(req).send().map_err(|e| Error::ApiUnreachable {
            api,
            url: url.clone(),
            message: error_chain(&e),
        })?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            self.auth_failed.store(true, Ordering::SeqCst);
            return Err(Error::ApiAuth { api, url });
        }
        let body: Value = resp.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .map(|m| m.trim().to_string())
                .or_else(|| body.get("errors").map(Value::to_string))
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
            return Err(Error::ApiStatus {
                api,
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                message,
            });
        }
        match body {
            Value::Object(mut m) if m.contains_key("data") => {
                Ok(m.remove("data").unwrap_or(Value::Null))
            }
            _ => Err(Error::ApiResponse {
                api,
                path: path.to_string(),
                message: "no {\"data\": …} envelope".into(),
            }),
        }
    }

    /// Reads a UPID from a method's `data`.
    pub fn upid(&self, path: &str, data: &Value) -> Result<Upid> {
        data.as_str()
            .and_then(Upid::parse)
            .ok_or_else(|| Error::ApiResponse {
                api: self.kind.label(),
                path: path.to_string(),
                message: format!("expected a UPID, got {data}"),
            })
    }

    /// Polls a task's status until it stops (or the task timeout passes)
    /// and classifies its exit status.
    pub fn wait_task(&self, upid: &Upid) -> Result<TaskOutcome> {
        let node = match self.kind {
            ApiKind::Pve => upid.node.as_str(),
            ApiKind::Pbs => "localhost",
        };
        let path = format!("/nodes/{}/tasks/{}/status", seg(node), seg(&upid.raw));
        let start = Instant::now();
        loop {
            let data = self.get(&path, &[])?;
            let st: TaskStatus = serde_json::from_value(data).map_err(|e| Error::ApiResponse {
                api: self.kind.label(),
                path: path.clone(),
                message: e.to_string(),
            })?;
            if st.status == "stopped" {
                let exit = st.exitstatus.unwrap_or_else(|| "unknown".into());
                return Ok(TaskOutcome::from_exitstatus(&exit));
            }
            if start.elapsed() >= self.task_timeout {
                return Err(Error::TaskTimeout {
                    upid: upid.raw.clone(),
                    seconds: self.task_timeout.as_secs(),
                });
            }
            std::thread::sleep(self.poll);
        }
    }

    /// Runs a task to its end: an error exit status becomes
    /// [`Error::TaskFailed`]; `OK` and `WARNINGS: n` are returned.
    pub fn finish_task(&self, upid: &Upid) -> Result<TaskOutcome> {
        match self.wait_task(upid)? {
            TaskOutcome::Failed(exitstatus) => Err(Error::TaskFailed {
                upid: upid.raw.clone(),
                exitstatus,
            }),
            ok => Ok(ok),
        }
    }
}

#[cfg(test)]
mod segment_tests {
    use super::seg;

    #[test]
    fn path_segments_keep_unreserved_characters() {
        assert_eq!(seg("hbk-20261127_030000.v~1"), "hbk-20261127_030000.v~1");
        assert_eq!(
            seg("UPID:pve1:0000A1B2:00C3D4E5:6734F2A1:qmsnapshot:100:root@pam!hbk:"),
            "UPID%3Apve1%3A0000A1B2%3A00C3D4E5%3A6734F2A1%3Aqmsnapshot%3A100%3Aroot%40pam%21hbk%3A"
        );
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("é"), "%C3%A9");
    }
}
